"""Real receivers on 127.0.0.1 for the notification tests (issue 20).

* :class:`SmtpReceiver`: aiosmtpd's ``Controller`` (its own thread and event
  loop) on a free port, optionally with AUTH (the authenticator records every
  ``(login, password)`` it is offered and accepts only the one password);
  every message is kept as an ``email.message.EmailMessage`` parsed with
  ``email.policy.default``, with the envelope's sender and recipients.
* :class:`HttpReceiver`: ``http.server.ThreadingHTTPServer`` in a thread; every
  POST is kept as (path, headers, body parsed as JSON); it answers 200, or with
  ``status = 500`` an error page of several lines that echoes the request path
  (as many servers' error pages do: a token in the path comes back in it) and
  holds a terminal escape and a forged ``recondiff: error:`` line.
* :func:`closed_port`: a port nothing listens on.

No mocks: Apprise talks to these over TCP as it would to a mail relay or a
webhook. Nothing sleeps for a fixed time: :meth:`wait` returns as soon as the
messages are in (and fails after ``timeout``).
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

HOST = "127.0.0.1"
SMTP_PASSWORD = "s3cret-XYZ-123"  # distinctive: the tests grep every output for it

# aiosmtpd logs (to "mail.log") a deprecation line per AUTH session; Python's
# last-resort handler would print it on the stderr of an in-process CLI run
_log = logging.getLogger("mail.log")
_log.addHandler(logging.NullHandler())
_log.propagate = False


def free_port() -> int:
    """A port free right now on 127.0.0.1 (aiosmtpd cannot take port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def closed_port() -> int:
    """A port nothing listens on: bound, read and closed (a connect is refused)."""
    return free_port()


class _Inbox:
    """A list filled by a server thread, and a wait for it to hold n items."""

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._cond = threading.Condition()

    def add(self, item: Any) -> None:
        with self._cond:
            self._items.append(item)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self._items)

    def wait(self, n: int, timeout: float) -> list[Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._items) >= n, timeout):
                raise AssertionError(
                    f"expected {n} message(s) within {timeout} s, got {len(self._items)}")
            return list(self._items)


# --- SMTP -----------------------------------------------------------------------------


@dataclass
class Mail:
    """One message as the SMTP server received it."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage

    def text(self) -> str:
        """The text/plain body (the first text/plain part)."""
        part = self.message.get_body(preferencelist=("plain",))
        assert part is not None, f"no text/plain part in {self.message.get_content_type()}"
        return cast(str, cast(EmailMessage, part).get_content())

    def content_types(self) -> list[str]:
        return [p.get_content_type() for p in self.message.walk()]

    def attachments(self) -> list[EmailMessage]:
        return list(self.message.iter_attachments())


@dataclass
class SmtpReceiver:
    """An SMTP server on 127.0.0.1; ``password`` set: AUTH offered, and only that
    password accepted (a client that does not log in is still served: the test
    checks :attr:`logins`)."""

    password: str | None = None
    port: int = 0
    logins: list[tuple[str, str]] = field(default_factory=list)
    _inbox: _Inbox = field(default_factory=_Inbox)
    _controller: Controller | None = None

    # the aiosmtpd handler
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        message = cast(EmailMessage, email.message_from_bytes(raw, policy=email.policy.default))
        self._inbox.add(Mail(str(envelope.mail_from), [str(r) for r in envelope.rcpt_tos],
                             raw, message))
        return "250 OK"

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        self.logins.append((login, password))
        return AuthResult(success=password == self.password)

    def start(self) -> SmtpReceiver:
        self.port = free_port()
        kwargs: dict[str, Any] = {}
        if self.password is not None:
            kwargs = {"authenticator": self._authenticate, "auth_require_tls": False}
        self._controller = Controller(self, hostname=HOST, port=self.port, **kwargs)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def messages(self) -> list[Mail]:
        return cast(list[Mail], self._inbox.snapshot())

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[Mail]:
        return cast(list[Mail], self._inbox.wait(n, timeout))

    def url(self, *, user: str | None = None, to: str = "secops@example.org",
            sender: str = "rd@example.org") -> str:
        """An Apprise mailto:// URL to this server (no password: secret_env gives it)."""
        who = f"{user}@" if user else ""
        return f"mailto://{who}{HOST}:{self.port}?from={sender}&to={to}"


@pytest.fixture
def smtp_server() -> Iterator[SmtpReceiver]:
    """An SMTP server on 127.0.0.1 without AUTH, stopped at teardown."""
    server = SmtpReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp_auth_server() -> Iterator[SmtpReceiver]:
    """An SMTP server offering AUTH that accepts only :data:`SMTP_PASSWORD`."""
    server = SmtpReceiver(password=SMTP_PASSWORD).start()
    try:
        yield server
    finally:
        server.stop()


# --- HTTP -----------------------------------------------------------------------------


@dataclass
class Post:
    """One POST as the HTTP server received it."""

    path: str
    headers: dict[str, str]
    raw: bytes
    body: Any  # the JSON, parsed (None when the body is not JSON)
    probe: Any = None  # what HttpReceiver.probe returned when the POST came in


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        receiver = self.server.receiver
        probe = receiver.probe() if receiver.probe is not None else None
        receiver._inbox.add(Post(self.path, dict(self.headers.items()), raw, body, probe))
        status = receiver.status
        self.send_response(status)
        self.send_header("Content-Type", "application/json" if status == 200 else "text/html")
        # an error page as servers write them: several lines, echoing the request
        # path (which may hold a token), with a terminal escape for good measure
        payload = b"{}" if status == 200 else (
            "<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n"
            f"<body>Cannot POST {self.path}\x1b[2J</body>\r\n"
            "recondiff: error: forged line\r\n</html>\r\n").encode()
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: HttpReceiver


@dataclass
class HttpReceiver:
    """An HTTP server on 127.0.0.1 that keeps every POST and answers ``status``."""

    status: int = 200
    probe: Callable[[], Any] | None = None  # called as each POST comes in (Post.probe)
    port: int = 0
    _inbox: _Inbox = field(default_factory=_Inbox)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def start(self) -> HttpReceiver:
        server = _Server((HOST, 0), _Handler)
        server.receiver = self
        self.port = int(server.server_address[1])
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="http-receiver", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def posts(self) -> list[Post]:
        return cast(list[Post], self._inbox.snapshot())

    def wait(self, n: int = 1, timeout: float = 10.0) -> list[Post]:
        return cast(list[Post], self._inbox.wait(n, timeout))

    def url(self, path: str = "/hook") -> str:
        """An Apprise json:// URL to this server."""
        return f"json://{HOST}:{self.port}{path}"


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """An HTTP server on 127.0.0.1 answering 200, stopped at teardown."""
    server = HttpReceiver().start()
    try:
        yield server
    finally:
        server.stop()
