"""Real local receivers for tests/test_notify_redteam.py: an SMTP server with
AUTH (aiosmtpd), an HTTP server whose answer the test chooses, and a TCP
server that answers a request one header line at a time, forever (a receiver
or a middlebox that trickles).

No mock of Apprise: recondiff sends through Apprise to these over 127.0.0.1.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Smtp:
    port: int
    logins: list[tuple[str, str]] = field(default_factory=list)  # (user, password) offered
    mails: list[Message] = field(default_factory=list)
    raw: list[bytes] = field(default_factory=list)


@contextmanager
def smtp_receiver(user: str = "relay", password: str | None = None) -> Iterator[Smtp]:
    """SMTP with AUTH on 127.0.0.1 (no TLS); accepts ``user`` with exactly
    ``password`` (any password when None); records every login offered."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    box = Smtp(port=free_port())

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            box.raw.append(envelope.original_content or envelope.content)
            box.mails.append(message_from_bytes(envelope.original_content or envelope.content))
            return "250 OK"

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str,
                      data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login, pw = data.login.decode("utf-8"), data.password.decode("utf-8")
        box.logins.append((login, pw))
        ok = login == user and (password is None or pw == password)
        return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 itself

    controller = Controller(Handler(), hostname="127.0.0.1", port=box.port,
                            authenticator=authenticator, auth_require_tls=False)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Http:
    port: int
    requests: list[dict[str, Any]] = field(default_factory=list)


Answer = Callable[[dict[str, Any]], tuple[int, bytes]]


@contextmanager
def http_receiver(answer: Answer | None = None) -> Iterator[Http]:
    """An HTTP server on 127.0.0.1 recording each POST (path, headers, body)
    and answering what ``answer`` says (default 200, empty)."""
    box = Http(port=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = {"path": self.path, "headers": dict(self.headers.items()),
                       "body": self.rfile.read(length)}
            box.requests.append(request)
            status, body = answer(request) if answer else (200, b"")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    box.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def trickling_receiver(every: float = 0.5) -> Iterator[int]:
    """A TCP server that reads a request and then answers one header line
    every ``every`` seconds, never ending the answer: no read ever times out."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            try:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 200 OK\r\n")
                while not stop.is_set():
                    time.sleep(every)
                    conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                pass

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        listener.close()
