"""Red team: ``recondiff explore`` against a hostile or careless world (issue 17).

A compromised or spoofed LDAP server must not be able to crash recondiff with a
traceback (exit 3), hang it forever, make a truncated read look complete, or
poison the incremental high-water mark. The server here is a socket thread on
127.0.0.1 speaking just enough LDAP (bind, search, extended) to answer with
hand-crafted BER: a real server could not be made to send these bytes. Every
test in this file is one attack; ``xfail(strict=True)`` marks a hole the current
code has (the reason says what is wrong), the others prove an attack fails.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.errors import InputError
from recondiff.explore.sources import prune
from recondiff.ingest import ldap_read
from recondiff.ingest.ldap_read import LdapRead, Since, read_ldap

PAGED = "1.2.840.113556.1.4.319"
SECRET = "s3cret-Hunter2-pw"  # a password that must never show anywhere

# -- BER, just enough to write LDAP answers by hand -----------------------------------


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _length(len(content)) + content


def integer(n: int, tag: int = 0x02) -> bytes:
    return tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def octets(value: bytes | str) -> bytes:
    return tlv(0x04, value.encode() if isinstance(value, str) else value)


def seq(*parts: bytes) -> bytes:
    return tlv(0x30, b"".join(parts))


def message(mid: int, op: bytes, controls: bytes = b"") -> bytes:
    return seq(integer(mid), op, controls)


def result(tag: int, code: int = 0, text: str = "") -> bytes:
    """An LDAPResult: bind (0x61), search done (0x65), extended (0x78) response."""
    return tlv(tag, integer(code, 0x0A) + octets("") + octets(text))


def entry(mid: int, dn: bytes | str, attributes: Iterable[tuple[bytes | str, list[bytes]]]
          ) -> bytes:  # fmt: skip
    attrs = b"".join(
        seq(octets(name), tlv(0x31, b"".join(octets(v) for v in values)))
        for name, values in attributes
    )
    return message(mid, tlv(0x64, octets(dn) + tlv(0x30, attrs)))


def done(mid: int, code: int = 0, text: str = "", cookie: bytes | None = None) -> bytes:
    controls = b""
    if cookie is not None:
        value = seq(integer(0), octets(cookie))
        controls = tlv(0xA0, seq(octets(PAGED), octets(value)))
    return message(mid, result(0x65, code, text), controls)


def person(mid: int, name: str = "a", **extra: bytes) -> bytes:
    attributes = [("cn", [name.encode()])] + [(k, [v]) for k, v in extra.items()]
    return entry(mid, f"cn={name},o=x", attributes)


CLOSE = "close"
Answer = Callable[[int, int], Iterable[bytes | float | str]]
"""(message id, how many searches this server has seen) -> what to send: bytes,
a float (sleep that long) or CLOSE (drop the connection)."""


class Hostile:
    """A listening socket on 127.0.0.1 whose searches ``on_search`` answers."""

    def __init__(self, on_search: Answer, *, on_extended: Answer | None = None,
                 bind_refusal: str | None = None) -> None:  # fmt: skip
        self.on_search, self.on_extended, self.bind_refusal = on_search, on_extended, bind_refusal
        self.searches = 0
        self.ops: list[int] = []  # the protocolOp tag of each request
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"ldap://127.0.0.1:{self.sock.getsockname()[1]}"
        self.conns: list[socket.socket] = []
        self.closed = False
        threading.Thread(target=self._serve, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        for s in [self.sock, *self.conns]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()

    def _serve(self) -> None:
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self._handle, args=(c,), daemon=True).start()

    @staticmethod
    def _recv(c: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = c.recv(n - len(data))
            if not chunk:
                raise OSError("closed")
            data += chunk
        return data

    def _request(self, c: socket.socket) -> tuple[int, int]:
        head = self._recv(c, 2)
        size, extra = head[1], b""
        if size & 0x80:
            extra = self._recv(c, size & 0x7F)
            size = int.from_bytes(extra, "big")
        body = self._recv(c, size)
        self.requests.append(head + extra + body)
        mid = int.from_bytes(body[2 : 2 + body[1]], "big")
        return mid, body[2 + body[1]]

    def _handle(self, c: socket.socket) -> None:
        try:
            while not self.closed:
                mid, op = self._request(c)
                self.ops.append(op)
                if op == 0x42:  # unbind
                    break
                if op == 0x60:
                    code = 49 if self.bind_refusal is not None else 0
                    c.sendall(message(mid, result(0x61, code, self.bind_refusal or "")))
                    continue
                if op == 0x63:
                    self.searches += 1
                    answer = self.on_search(mid, self.searches)
                elif op == 0x77 and self.on_extended is not None:
                    answer = self.on_extended(mid, 0)
                else:
                    answer = [message(mid, result(0x78, 2, "unsupported"))]
                for chunk in answer:
                    if self.closed or chunk == CLOSE:
                        return
                    if isinstance(chunk, float):
                        time.sleep(chunk)
                    else:
                        assert isinstance(chunk, bytes)
                        c.sendall(chunk)
        except (OSError, IndexError):  # gone, or a TLS ClientHello read as a request
            pass
        finally:
            c.close()


@pytest.fixture
def hostile() -> Iterable[Callable[..., Hostile]]:
    servers: list[Hostile] = []

    def make(on_search: Answer, **kwargs: Any) -> Hostile:
        servers.append(Hostile(on_search, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def attempt(server: Hostile, out: Path, timeout: float = 5.0, **spec: Any) -> tuple[str, Any]:
    """read_ldap against ``server`` in a thread: ("ok", snapshot), ("error", exception)
    or ("hang", None) when it has not returned after ``timeout`` seconds (the server
    is then closed, so the thread ends)."""
    box: list[tuple[str, Any]] = []
    read = LdapRead(url=server.url, base="o=x", page_size=2, **spec)

    def go() -> None:
        try:
            box.append(("ok", read_ldap(read, out)))
        except BaseException as exc:  # the test judges it
            box.append(("error", exc))

    thread = threading.Thread(target=go, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        server.close()
        thread.join(10)
        return "hang", None
    return box[0]


def assert_one_line_and_nothing_left(outcome: tuple[str, Any], out: Path) -> str:
    kind, value = outcome
    assert kind == "error", outcome
    assert isinstance(value, InputError), repr(value)
    text = str(value)
    assert "\n" not in text
    assert not out.parent.exists() or os.listdir(out.parent) == [], os.listdir(out.parent)
    return text


def run_cli(*args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


# -- what the server sends: malformed BER ---------------------------------------------


def _deep(levels: int) -> bytes:
    inner = octets("x")
    for _ in range(levels):
        inner = tlv(0x30, inner)
    return inner


MALFORMED: dict[str, Answer] = {
    # an indefinite length (0x80): forbidden in LDAP (RFC 4511 5.1)
    "indefinite length": lambda m, n: [b"\x30\x80" + integer(m) + b"\x64\x00\x00\x00", done(m)],
    # bytes that are no LDAPMessage at all
    "not a message": lambda m, n: [b"\x05\x00" * 4, done(m)],
    # a protocolOp tag LDAP does not have
    "unknown operation": lambda m, n: [message(m, tlv(0x7F, b"abc")), done(m)],
    # attributes nested 3000 SEQUENCEs deep (ldap3's decoder recurses)
    "deep nesting": lambda m, n: [
        message(m, tlv(0x64, octets("cn=a,o=x") + tlv(0x30, _deep(3000)))),
        done(m),
    ],
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_message_is_one_line_not_a_traceback(
    hostile: Callable[..., Hostile], tmp_path: Path, case: str
) -> None:
    server = hostile(MALFORMED[case])
    out = tmp_path / "snap" / "out.parquet"
    assert_one_line_and_nothing_left(attempt(server, out), out)


def test_the_cli_exits_2_on_a_malformed_message(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile(MALFORMED["not a message"])
    out = tmp_path / "out.parquet"
    res = run_cli("explore", "--url", server.url, "--base", "o=x", "-q", "-o", str(out))
    assert res.exit_code == 2, res.stderr
    assert res.stderr.count("\n") == 1 and not out.exists()


def test_an_attribute_named_dn_cannot_forge_or_break_the_dn_column(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    def answer(m: int, n: int) -> list[bytes | float | str]:
        forged = entry(m, "cn=a,o=x", [("cn", [b"a"]), ("DN", [b"cn=admin,o=x"])])
        return [forged, person(m, "b"), done(m)]

    out = tmp_path / "snap" / "out.parquet"
    kind, value = attempt(hostile(answer), out)
    if kind == "error":
        assert_one_line_and_nothing_left((kind, value), out)
        return
    assert kind == "ok", (kind, value)
    assert pq.read_table(out).column("dn").to_pylist() == ["cn=a,o=x", "cn=b,o=x"]


def test_odd_but_decodable_entries_read_as_ingest_would(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """cn and CN in one entry are one column; a NUL in a value makes it base64; a
    message id that is not the search's is refused (not taken as an entry)."""

    def answer(m: int, n: int) -> list[bytes | float | str]:
        return [entry(m, "cn=a,o=x", [("cn", [b"a"]), ("CN", [b"b"]), ("sn", [b"x\x00y"])]),
                done(m)]  # fmt: skip

    out = tmp_path / "out.parquet"
    kind, snap = attempt(hostile(answer), out)
    assert kind == "ok", snap
    assert pq.read_table(out).to_pylist() == [{"dn": "cn=a,o=x", "cn": ["a", "b"], "sn": "eAB5"}]
    other = hostile(lambda m, n: [person(m + 7), done(m)])
    out = tmp_path / "other" / "out.parquet"
    text = assert_one_line_and_nothing_left(attempt(other, out), out)
    assert "unexpected message" in text


def test_an_error_on_a_later_page_leaves_no_snapshot(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """Page 1 is fine, page 2 ends with busy (51), or the server hangs up before
    its SearchResultDone: never a short snapshot that looks whole."""
    pages: dict[int, Callable[[int], list[bytes | str]]] = {
        1: lambda m: [person(m, "a"), person(m, "b"), done(m, cookie=b"c1")],
        2: lambda m: [person(m, "c"), done(m, 51, "busy")]}  # fmt: skip
    server = hostile(lambda m, n: pages[n](m))
    out = tmp_path / "snap" / "out.parquet"
    text = assert_one_line_and_nothing_left(attempt(server, out), out)
    assert "after 2 entries" in text and "busy" in text
    server = hostile(lambda m, n: [person(m, "a"), CLOSE])
    out = tmp_path / "snap2" / "out.parquet"
    assert "connection was lost" in assert_one_line_and_nothing_left(attempt(server, out), out)


# -- hangs --------------------------------------------------------------------------


def test_a_paged_cookie_that_repeats_ends_the_read(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile(lambda m, n: [person(m, f"p{n}"), done(m, cookie=b"same")])
    out = tmp_path / "snap" / "out.parquet"
    outcome = attempt(server, out, timeout=4.0)
    assert outcome[0] != "hang", f"still reading after {server.searches} pages"
    assert_one_line_and_nothing_left(outcome, out)


def test_a_server_trickling_one_byte_at_a_time_is_given_up_on(
    hostile: Callable[..., Hostile], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ldap_read, "RECEIVE_TIMEOUT", 1)

    def answer(m: int, n: int) -> Iterable[bytes | float | str]:
        yield b"\x30\x84\x00\x10\x00\x00"  # a message of 1 MiB...
        for _ in range(200):  # ...that comes one byte every half a second
            yield 0.5
            yield b"\x04"

    out = tmp_path / "snap" / "out.parquet"
    outcome = attempt(hostile(answer), out, timeout=5.0)  # 1 s of silence never happens
    assert outcome[0] != "hang", "still waiting for the trickle after 5 s"
    assert_one_line_and_nothing_left(outcome, out)


# -- the incremental high-water mark ------------------------------------------------------


def _explore_twice(server: Hostile, tmp_path: Path) -> tuple[Any, Any]:
    """A full explore, then --since-last, of ``server`` (the state in tmp_path)."""
    common = ["explore", "--url", server.url, "--base", "o=x", "-q"]
    first = run_cli(*common, "-o", str(tmp_path / "full.parquet"))
    assert first.exit_code == 0, first.stderr
    second = run_cli(*common, "--since-last", "-o", str(tmp_path / "delta.parquet"))
    return first, second


def _stamped(stamp: bytes) -> Answer:
    """Two entries: one honest modifyTimestamp, one the server chose."""
    return lambda m, n: [person(m, "a", modifyTimestamp=b"20261201000000Z"),
                         person(m, "b", modifyTimestamp=stamp), done(m)]  # fmt: skip


def test_a_high_water_mark_at_the_end_of_time_is_not_a_crash(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    _, second = _explore_twice(hostile(_stamped(b"99991231235959Z")), tmp_path)
    assert second.exit_code in (0, 2), second.stderr
    assert "internal error" not in second.stderr


def test_a_future_modify_timestamp_does_not_blind_later_incremental_runs(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile(_stamped(b"20991231235959Z"))
    _, second = _explore_twice(server, tmp_path)
    if second.exit_code == 2:  # refusing the mark, one line, is fine too
        assert second.stderr.count("\n") == 1
        return
    assert second.exit_code == 0, second.stderr
    last_search = [r for r in server.requests if b"modifyTimestamp" in r][-1]
    assert b"2099" not in last_search, "the delta read starts in 2099"


def test_a_garbage_modify_timestamp_is_one_line_not_a_filter(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """A stamp that is no time (with filter characters in it) is never sent back as
    a filter; --since-last says in one line that a full run is needed."""
    server = hostile(_stamped(b"zzz)(objectClass=*"))
    _, second = _explore_twice(server, tmp_path)
    assert second.exit_code == 2 and second.stderr.count("\n") == 1, second.stderr
    assert "not a time" in second.stderr and not (tmp_path / "delta.parquet").exists()
    assert server.searches == 1  # the second run never searched with it


def test_since_values_cannot_inject_into_the_filter(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """--since is parsed as a time (filter text is refused); a Since value is escaped;
    the incremental condition stays ANDed at the top of whatever filter the config has."""
    server = hostile(lambda m, n: [done(m)])
    res = run_cli("explore", "--url", server.url, "--base", "o=x", "-q", "--since",
                  "2026-01-01T00:00:00Z)(objectClass=*", "-o", str(tmp_path / "x.parquet"))  # fmt: skip
    assert res.exit_code == 2 and res.stderr.count("\n") == 1 and server.searches == 0
    for config_filter in ("uid=a)(cn=*", "(uid=a)(cn=b)"):
        out = tmp_path / "ok" / "out.parquet"
        since = Since("modifyTimestamp", "2026*)(|(a=b")
        kind, value = attempt(server, out, filter=config_filter, since=since)
        assert kind == "ok", value
        request = server.requests[-2]  # the search (the last is the unbind)
        # the filter, after attrsOnly FALSE: (&(uid=a)(cn=...)(modifyTimestamp>=...))
        at = request.index(b"\x01\x01\x00") + 3
        search_filter = request[at : at + 2 + request[at + 1]]
        assert search_filter[0] == 0xA0 and b"\xa1" not in search_filter  # an AND, no OR
        assert search_filter.endswith(b"\xa5\x1f\x04\x0fmodifyTimestamp\x04\x0c2026*)(|(a=b")


def test_pruning_removes_only_snapshots_recondiff_wrote(tmp_path: Path) -> None:
    folder = tmp_path / "snapshots"
    folder.mkdir()
    theirs = folder / "endpoint-20000101T000000Z.parquet"
    theirs.write_text("the auditor's notes, not a snapshot\n")
    link_target = tmp_path / "precious.parquet"
    link_target.write_bytes(b"PAR1")
    (folder / "endpoint-20000102T000000Z.parquet").symlink_to(link_target)
    for stamp in ("20261201T000000Z", "20261202T000000Z"):
        pq.write_table(
            pq.read_table(_tiny_snapshot(tmp_path)), folder / f"endpoint-{stamp}.parquet"
        )
    prune(folder, "endpoint", 1)
    assert link_target.exists() and (folder / "endpoint-20000102T000000Z.parquet").is_symlink()
    assert theirs.exists(), "a file recondiff did not write was deleted"


def _tiny_snapshot(tmp_path: Path) -> Path:
    import pyarrow as pa

    path = tmp_path / "tiny.parquet"
    if not path.exists():
        pq.write_table(pa.table({"dn": ["cn=a,o=x"]}), path)
    return path


# -- TLS and secrets ------------------------------------------------------------------------


def test_a_refused_starttls_never_falls_back_to_plain_text(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """The server refuses StartTLS, or says yes and then goes on in clear text: one
    line, and the bind (with the password) is never sent."""
    answers: dict[str, Answer] = {
        "refused": lambda m, n: [message(m, result(0x78, 2, "no TLS here"))],
        "yes, then plain": lambda m, n: [message(m, result(0x78, 0))],  # then reads a ClientHello
    }
    for name, on_extended in answers.items():
        server = hostile(lambda m, n: [done(m)], on_extended=on_extended)
        out = tmp_path / name / "out.parquet"
        outcome = attempt(server, out, start_tls=True, bind_dn="cn=svc,o=x", password=SECRET)
        text = assert_one_line_and_nothing_left(outcome, out)
        assert 0x60 not in server.ops, f"{name}: the bind went out in clear text"
        assert SECRET not in text


def test_a_ca_file_that_is_a_directory_or_garbage_is_one_line(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    garbage = tmp_path / "ca.pem"
    garbage.write_text(
        "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"
    )
    yes = lambda m, n: [message(m, result(0x78, 0))]  # noqa: E731 - StartTLS accepted
    for ca in (tmp_path, garbage, tmp_path / "missing.pem"):
        server = hostile(lambda m, n: [done(m)], on_extended=yes)
        out = tmp_path / f"o-{ca.name}" / "out.parquet"
        outcome = attempt(server, out, start_tls=True, ca_file=ca, bind_dn="cn=s,o=x",
                          password=SECRET)  # fmt: skip
        assert_one_line_and_nothing_left(outcome, out)
        assert 0x60 not in server.ops


def test_a_server_echoing_the_password_does_not_put_it_on_stderr(
    hostile: Callable[..., Hostile], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bind refusal or a search error whose text holds the password: scrubbed; an
    internal error with --debug (a traceback) does not show it either."""
    monkeypatch.setenv("RT_PW", SECRET)
    common = ["--base", "o=x", "-q", "--bind-dn", "cn=svc,o=x", "--password-env", "RT_PW"]
    refusing = hostile(lambda m, n: [done(m)], bind_refusal=f"wrong password {SECRET}")
    res = run_cli("explore", "--url", refusing.url, *common, "-o", str(tmp_path / "a.parquet"))
    assert res.exit_code == 2 and "***" in res.stderr and SECRET not in res.stderr
    failing = hostile(lambda m, n: [person(m), done(m, 80, f"cannot use {SECRET}")])
    res = run_cli("explore", "--url", failing.url, *common, "-o", str(tmp_path / "b.parquet"))
    assert res.exit_code == 2 and SECRET not in res.stderr + res.stdout
    crashing = hostile(MALFORMED["not a message"])
    res = run_cli("--debug", "explore", "--url", crashing.url, *common,
                  "-o", str(tmp_path / "c.parquet"))  # fmt: skip
    assert res.exit_code != 0 and SECRET not in res.stderr + res.stdout
    assert sorted(os.listdir(tmp_path)) == []


def _within(seconds: float, call: Callable[[], Any]) -> Any:
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert box, f"still running after {seconds} s"
    return box[0]


def test_a_password_file_that_is_a_fifo_or_dev_zero_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "pw.fifo"
    os.mkfifo(fifo)
    zero = tmp_path / "pw.zero"
    zero.symlink_to("/dev/zero")
    for path in (fifo, zero):
        args = ["explore", "--url", "ldap://127.0.0.1:1", "--base", "o=x", "-q", "--bind-dn",
                "cn=s,o=x", "--password-file", str(path), "-o", str(tmp_path / "o" / "x.parquet")]  # fmt: skip
        res = _within(10, functools.partial(run_cli, *args))
        assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
        assert "not a small plain file" in res.stderr


# -- where the snapshot goes ------------------------------------------------------------------


def test_the_output_path_a_directory_a_symlink_or_under_a_file(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """-o an existing directory: one line, the directory as it was; -o a symlink:
    the link is replaced, the file it pointed to is untouched; -o under a file: one line."""
    server = hostile(lambda m, n: [person(m), done(m)])
    common = ["explore", "--url", server.url, "--base", "o=x", "-q"]
    folder = tmp_path / "existing"
    (folder / "inside").mkdir(parents=True)
    res = run_cli(*common, "-o", str(folder))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert os.listdir(folder) == ["inside"]
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep me")
    link = tmp_path / "link.parquet"
    link.symlink_to(target)
    res = run_cli(*common, "-o", str(link))
    assert res.exit_code == 0, res.stderr
    assert target.read_text() == "keep me" and not link.is_symlink()
    assert pq.read_table(link).column("dn").to_pylist() == ["cn=a,o=x"]
    res = run_cli(*common, "-o", str(target / "x.parquet"))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr


def test_the_size_limit_holds_when_the_server_ignores_it(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile(lambda m, n: [*(person(m, f"p{i}") for i in range(5)), done(m)])
    out = tmp_path / "snap" / "out.parquet"
    text = assert_one_line_and_nothing_left(attempt(server, out, size_limit=2), out)
    assert "size limit" in text


def _loop_config(run: Path, url: str) -> Path:
    from tests.conftest import ROOT

    loop = ROOT / "tests" / "data" / "loop"
    text = (loop / "recondiff.toml").read_text(encoding="utf-8")
    text = text.replace('snapshot = "directory-export.ldif"\n', "")
    source = f'\n[endpoint.source]\nurl = "{url}"\nbase = "o=x"\npage_size = 2\n'
    text = text.replace("\n[repository]\n", source + "\n[repository]\n")
    run.mkdir(parents=True)
    (run / "recondiff.toml").write_text(text, encoding="utf-8")
    (run / "identities.csv").write_bytes((loop / "identities.csv").read_bytes())
    return run / "recondiff.toml"


def test_compare_against_a_server_failing_mid_read_leaves_outdir_as_it_was(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """compare explores first: a read cut short (an error on page 2) is exit 2, one
    line, no snapshot kept, no summary, no OUTDIR created."""
    pages: dict[int, Callable[[int], list[bytes | str]]] = {
        1: lambda m: [person(m, "a"), person(m, "b"), done(m, cookie=b"c1")],
        2: lambda m: [person(m, "c"), CLOSE]}  # fmt: skip
    server = hostile(lambda m, n: pages[n](m))
    config = _loop_config(tmp_path / "run", server.url)
    out = tmp_path / "out"
    res = run_cli("compare", "-c", str(config), "-o", str(out))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert not out.exists(), sorted(str(p) for p in out.rglob("*"))


def test_verification_off_is_said_even_with_quiet(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile(lambda m, n: [done(m)])
    url = server.url.replace("ldap://", "ldaps://")  # no TLS there: the handshake fails
    res = run_cli("explore", "--url", url, "--base", "o=x", "-q", "--insecure-skip-tls-verify",
                  "-o", str(tmp_path / "x.parquet"))  # fmt: skip
    assert res.exit_code == 2 and "verification is OFF" in res.stderr, res.stderr
    assert os.listdir(tmp_path) == []


def test_two_compares_at_once_into_one_outdir_keep_their_own_snapshots(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    from recondiff.config.load import load_config
    from recondiff.explore.sources import explore_sources
    from recondiff.history import History, history_path
    from recondiff.ingest.snapshot import file_sha256

    def answer(m: int, n: int) -> list[bytes | float | str]:
        if n == 1:  # the first run's read is slow: the second starts and ends meanwhile
            return [0.8, person(m, "first"), done(m)]
        return [person(m, "second"), done(m)]

    server = hostile(answer)
    cfg = load_config(_loop_config(tmp_path / "run", server.url))
    out = tmp_path / "out"
    results: list[Any] = []
    time.sleep(1.05 - time.time() % 1)  # both names are chosen early in the same second
    first = threading.Thread(
        target=lambda: results.append(explore_sources(cfg, out, History(history_path(out, None))))
    )
    first.start()
    time.sleep(0.2)
    second = explore_sources(cfg, out, History(history_path(out, None)))
    first.join(10)
    paths = [s.explored[0].info for s in (results[0], second)]
    assert paths[0].path != paths[1].path, "both runs wrote the same snapshot name"
    for info in paths:
        assert file_sha256(info.path) == info.sha256


def _loop_people() -> list[tuple[str, dict[str, list[bytes]]]]:
    """The people of tests/data/loop/directory.ldif (plain LDIF: no base64, no folding)."""
    from tests.conftest import ROOT

    text = (ROOT / "tests" / "data" / "loop" / "directory.ldif").read_text(encoding="utf-8")
    people = []
    for block in text.split("\n\n"):
        lines = [line for line in block.splitlines() if line and not line.startswith("#")]
        if not lines or not lines[0].startswith("dn: uid="):
            continue
        attributes: dict[str, list[bytes]] = {}
        for line in lines[1:]:
            name, value = line.split(": ", 1)
            attributes.setdefault(name, []).append(value.encode())
        attributes["memberOf"] = [b"cn=staff,ou=groups,dc=example,dc=org"]
        people.append((lines[0][4:], attributes))
    return people


def test_attribute_names_a_directory_chooses_do_not_reach_sql_or_break_compare(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """A server adds attributes nobody asked for, named like SQL, quotes, a newline,
    or a column compare might use itself: compare runs as it does without them."""
    evil = ['x"); DROP TABLE endpoint; --', "x'y", "a\nb", "_key", "rowid", "Ω"]
    results = {}
    people = _loop_people()
    for name, extra in (("plain", []), ("evil", [(e, [b"v"]) for e in evil])):

        def answer(m: int, n: int, extra: Any = extra) -> list[bytes]:
            return [entry(m, dn, [*a.items(), *extra]) for dn, a in people] + [done(m)]

        server = hostile(answer)
        run = tmp_path / name
        res = run_cli("compare", "-c", str(_loop_config(run / "cfg", server.url)), "-o",
                      str(run / "out"))  # fmt: skip
        assert res.exit_code == 1, res.stderr
        summary = (run / "out" / "summary.json").read_text(encoding="utf-8")
        results[name] = json.loads(summary)["situations"]
    assert results["evil"] == results["plain"]


def test_a_snapshots_path_that_is_a_file_is_refused_and_kept(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    server = hostile(lambda m, n: [done(m)])
    out = tmp_path / "out"
    out.mkdir()
    (out / "snapshots").write_text("mine")
    res = run_cli("compare", "-c", str(_loop_config(tmp_path / "cfg", server.url)), "-o", str(out))
    assert res.exit_code == 2 and res.stderr.count("\n") == 1, res.stderr
    assert (out / "snapshots").read_text() == "mine" and os.listdir(out) == ["snapshots"]
    assert server.searches == 0


def test_a_time_limit_exceeded_is_one_line_not_a_short_snapshot(
    hostile: Callable[..., Hostile], tmp_path: Path
) -> None:
    """timeLimitExceeded (3) after some entries: slapd's limits are whole seconds and
    a search of the test directory never lasts one, so a server sends it here. The
    entries before it must not pass for a whole directory (issue 17 point 1)."""
    server = hostile(lambda m, n: [person(m, "a"), person(m, "b"), done(m, 3, "time limit")])
    out = tmp_path / "snap" / "out.parquet"
    text = assert_one_line_and_nothing_left(attempt(server, out, time_limit=1), out)
    assert "time limit" in text.lower(), text
