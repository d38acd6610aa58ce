"""Second red team of issue 20 (notifications): the first red team's fixes
(the child process, the URL check read as Apprise reads a URL, the scrubbed
reasons, Markdown-escaped values) and what nobody had looked at: the failure
message, the server's own words, signals mid-send.

Everything goes through Apprise to real receivers on 127.0.0.1 (aiosmtpd,
http.server: tests/notify_redteam_receivers.py); nothing of Apprise is mocked.
The tests under "holes" each failed on the code they were written against
(a secret sent in clear, a literal token beside a {secret} the plugin could
not parse, the failure message's Markdown, a mail server's words as the
reason, a secret with a line break, a child outliving a killed run, TLS
checks off in silence, a blank line on SIGTERM, choices refused as secrets,
bare links); they pass since the fixes. Those under "defences that hold"
passed from the start.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from recondiff.config.load import load_config
from recondiff.errors import ConfigError
from recondiff.notify.send import _scrub, _secret_forms
from tests.conftest import ROOT
from tests.notify_redteam_receivers import (
    free_port,
    http_receiver,
    smtp_receiver,
    trickling_receiver,
)
from tests.test_notify_redteam import CONFIG, _cli

MAIL = "from=recondiff@example.org&to=secops@example.org"
CHAT_VALUE = "@channel [click](http://evil.example/reset) **urgent**"


def _dataset(tmp: Path, notify: str, *, key: str = "mallory", number: str = "3",
             derived: bool = False) -> Path:
    """alice and bob linked (bob's title drifts), ``key`` unmatched with
    adminCount 1 (an alert naming it); with ``derived``, an endpoint_sql that
    casts employeeNumber, so that a ``number`` that is no integer fails the run
    (exit 2) with DuckDB's words, the value among them."""
    tmp.mkdir(parents=True, exist_ok=True)
    rows = [["sAMAccountName", "title", "adminCount", "userAccountControl", "employeeNumber"],
            ["alice", "Engineer", "0", "512", "1"], ["bob", "Manager", "0", "512", "2"],
            [key, "x", "1", "512", number]]
    (tmp / "endpoint.csv").write_text(
        "\n".join(",".join('"' + c.replace('"', '""') + '"' for c in r) for r in rows) + "\n",
        encoding="utf-8")
    (tmp / "repository.csv").write_text(
        "employee_id,ad_account,title\n1,alice,Engineer\n2,bob,Boss\n", encoding="utf-8")
    cast = textwrap.dedent("""
        [[attribute]]
        name = "number"
        endpoint_sql = "CAST(employeeNumber AS INTEGER)"
        repository = "employee_id"
        on_drift = "do_nothing"
        """) if derived else ""
    cfg = tmp / "recondiff.toml"
    cfg.write_text(CONFIG + cast + "\n" + textwrap.dedent(notify), encoding="utf-8")
    return cfg


def _url_config(tmp: Path, url: str, secret_env: str | None = "RD_SECRET") -> Path:
    env = f'secret_env = "{secret_env}"\n' if secret_env else ""
    return _dataset(tmp, f'[[notify]]\nurl = "{url}"\n{env}')


def _fragments(secret: str) -> list[str]:
    return [f for f in re.split(r"[^A-Za-z0-9]+", secret) if len(f) >= 5]


# ---------------------------------------------------------------- holes


@pytest.mark.parametrize("url", [
    # Kumulos: API key (a UUID) and server key, both private; the server key written in
    pytest.param("kumulos://{secret}/Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4zAb7c", id="kumulos"),
    # Threema Gateway: ID and secret, both private; the secret written in as the host
    pytest.param("threema://{secret}@Kq7Zr9Wm3XpHv8Tn/+15551234567", id="threema"),
    # Sinch: service plan ID and API token, both private; the plan ID written in
    pytest.param("sinch://0123456789abcdef0123456789abcdef:{secret}@15551234567/15557654321",
                 id="sinch"),
])
def test_a_placeholder_apprise_rejects_hides_no_literal_token(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError, match="private"):
        load_config(_url_config(tmp_path, url))


def test_a_failure_message_to_a_chat_target_is_no_markdown(tmp_path: Path) -> None:
    with http_receiver() as chat:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mmost://127.0.0.1:{chat.port}/{{secret}}"
            secret_env = "RD_MM_TOKEN"
            on = ["failure"]
            """, number=CHAT_VALUE, derived=True)
        result = _cli("compare", "-q", "-c", str(cfg), "-o", str(tmp_path / "out"),
                      env={"RD_MM_TOKEN": "a" * 26})
        assert result.exit_code == 2, result.stderr
        assert CHAT_VALUE in result.stderr  # the value is in the one-line error
        assert len(chat.requests) == 1, result.stderr
    text = json.loads(chat.requests[0]["body"])["text"]
    line = next(line for line in text.splitlines() if "evil.example" in line)
    assert "@channel" not in line and "[click](" not in line and "**urgent**" not in line


def test_a_mail_server_answer_is_not_the_reason(tmp_path: Path) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    secret = "Kq7Zr9Wm3XpHv8Tn"

    class Handler:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    def echo(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        password = bytes(data.password)
        # the credentials said back in a spelling no scrubbing can know, and a line of
        # the server's choosing for the operator's log and summary.json
        return AuthResult(success=False, handled=False,
                          message=f"535 5.7.8 {password[::-1].decode()} {password.hex()} "
                                  "notified secops: all clear")

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, authenticator=echo,
                            auth_require_tls=False)
    controller.start()
    try:
        cfg = _url_config(tmp_path, f"mailto://relay@127.0.0.1:{port}?{MAIL}")
        result = _cli("notify", "test", "-c", str(cfg), env={"RD_SECRET": secret})
    finally:
        controller.stop()
    assert result.exit_code == 1, result.stdout
    assert result.stdout.startswith("failed\t")
    assert "all clear" not in result.stdout
    assert secret[::-1] not in result.stdout and secret.encode().hex() not in result.stdout


def test_a_secret_with_a_line_break_is_not_said(tmp_path: Path) -> None:
    secret = "Kq7Zr9Wm3Xp\nHv8Tn2Bd4Ly"  # a value copied from a two-line file
    cfg = _url_config(tmp_path, f"json://127.0.0.1:{free_port()}/hook?+X-Api-Token={{secret}}")
    result = _cli("notify", "test", "-c", str(cfg), env={"RD_SECRET": secret})
    assert result.exit_code == 1
    said = result.stdout + result.stderr
    assert [f for f in _fragments(secret) if f in said] == []


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (ended, its parent not told yet)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _senders(mark: str) -> list[int]:
    """The delivery children (python -P -m recondiff.notify.child) whose
    environment holds ``mark``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if mark.encode() in environ and b"-m\0recondiff.notify.child" in cmdline:
            found.append(int(pid))
    return found


@contextmanager
def _compare_sending_to_a_trickler(tmp_path: Path, on: str = "always", number: str = "3",
                                   cap: float = 20.0) -> Iterator[tuple[subprocess.Popen[bytes],
                                                                        list[int], Path]]:
    """``recondiff compare`` in a process of its own (the cap cut to ``cap`` s) whose
    one target trickles forever; yields once its delivery child runs. Every
    child left is killed at the end."""
    mark = uuid.uuid4().hex
    with trickling_receiver() as port:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{port}/hook"
            on = ["{on}"]
            """, number=number, derived=number != "3")
        out = tmp_path / "out"
        code = (f"import sys, recondiff.notify.send as s; s.TIMEOUT_SECONDS = {cap}; "
                "from recondiff.cli.main import cli; sys.argv = ['recondiff'] + sys.argv[1:]; "
                "cli()")
        proc = subprocess.Popen([sys.executable, "-c", code, "compare", "-q", "-c", str(cfg),
                                 "-o", str(out)], cwd=ROOT, env={**os.environ, "RD_MARK": mark},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 30
            while not (children := _senders(mark)):
                assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                time.sleep(0.05)
            yield proc, children, out
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()
            for pid in _senders(mark):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.slow
def test_a_killed_run_leaves_no_sending_process(tmp_path: Path) -> None:
    with _compare_sending_to_a_trickler(tmp_path, cap=3.0) as (proc, children, _):
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 3 + 3 + 3  # the cap, the grace, a margin
        while any(Path(f"/proc/{pid}").exists() and
                  "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]
                  for pid in children):
            assert time.monotonic() < deadline, "the sending child outlived its deadline"
            time.sleep(0.2)


def test_a_url_in_a_value_is_no_link_in_a_chat_target(tmp_path: Path) -> None:
    with http_receiver() as chat:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mmost://127.0.0.1:{chat.port}/{{secret}}"
            secret_env = "RD_MM_TOKEN"
            on = ["alerts"]
            """, key=CHAT_VALUE)
        result = _cli("compare", "-q", "-c", str(cfg), "-o", str(tmp_path / "out"),
                      env={"RD_MM_TOKEN": "a" * 26})
        assert result.exit_code == 1, result.stderr
        assert len(chat.requests) == 1, result.stderr
    text = json.loads(chat.requests[0]["body"])["text"]
    line = next(line for line in text.splitlines() if "evil" in line)
    assert "http://evil.example" not in line


@pytest.mark.parametrize("url", [
    "ntfys://ntfy.example.org/alerts?auth=token&token={secret}",
    f"mailtos://rd@mail.example.org?{MAIL}&pgp=yes&pgpkey=/etc/recondiff/secops.pub.asc",
    "mqtts://rd@mqtt.example.org/recondiff/alerts?session=no",
])
def test_a_documented_non_secret_argument_is_accepted(tmp_path: Path, url: str) -> None:
    """(Was a hole: a query key judged by its name alone refused Apprise's own
    choices, ntfy ?auth=token, mqtt ?session=no, and a public key's path.) The
    PGP and MQTT forms need a key file and paho-mqtt, which this machine lacks:
    for them, only that they are not refused as a secret."""
    try:
        assert load_config(_url_config(tmp_path, url)).notify
    except ConfigError as exc:
        assert "ntfy" not in url and "holds a secret" not in str(exc), exc


@pytest.mark.parametrize("url", [
    f"mailto://relay@mail.example.org?{MAIL}",  # AUTH PLAIN over port 25, no TLS
    "json://relay@hooks.example.org/recondiff",  # Basic credentials over HTTP
    "json://hooks.example.org/recondiff?token={secret}",  # docs/notify.md's own example
    "mmost://chat.example.org/{secret}",
])
def test_a_secret_is_not_sent_in_clear_to_another_host(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError):
        load_config(_url_config(tmp_path, url))


def test_tls_verification_off_is_said(tmp_path: Path) -> None:
    cfg = _dataset(tmp_path, f"""
        [[notify]]
        url = "mailtos://relay@127.0.0.1:{free_port()}?{MAIL}&verify=no"
        secret_env = "RD_SECRET"
        on = ["always"]
        """)
    result = _cli("compare", "-q", "-c", str(cfg), "-o", str(tmp_path / "out"),
                  env={"RD_SECRET": "pw"})
    said = [line for line in result.stderr.splitlines()
            if "verif" in line.lower() and "not sent" not in line]
    assert said, result.stderr


# ------------------------------------------------- defences that hold


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_mid_send_ends_the_run_at_once_and_leaves_no_child(
        tmp_path: Path, sig: signal.Signals, code: int) -> None:
    with _compare_sending_to_a_trickler(tmp_path) as (proc, children, out):
        start = time.monotonic()
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=15)
        assert time.monotonic() - start < 5
        assert proc.returncode == code, stderr
        assert stderr.count(b"\n") == 1 and b"no output was half-written" in stderr
        # A signal that lands while the run is still inside Popen (after the
        # child's exec, before Popen returns) leaves the child unknown to the
        # run; it ends by itself at once, its stdin closed before its request
        # (python -P -m recondiff.notify.child reads it whole first): give it a
        # moment, but never the 30 s a sending child would live.
        deadline = time.monotonic() + 3
        while [pid for pid in children if _alive(pid)]:
            assert time.monotonic() < deadline, "a sending child outlived the run"
            time.sleep(0.05)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["situations"]["unmatched"] == 1  # the run's outputs are whole
    assert {"report.html", "situations.csv", "drift.csv", "plan.jsonl"} <= {
        p.name for p in out.iterdir()}


@pytest.mark.slow
def test_sigterm_during_the_failure_notification_is_143_and_one_line(tmp_path: Path) -> None:
    with _compare_sending_to_a_trickler(tmp_path, on="failure", number="x") as (proc, _, out):
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=15)
    assert proc.returncode == 143, stderr
    lines = stderr.decode().splitlines()
    assert lines[0].startswith("recondiff: error: ") and "'x'" in lines[0]
    assert lines[1:] == ["recondiff: terminated (SIGTERM); no output was half-written"]
    assert not out.exists() or not (out / "summary.json").exists()


def test_the_child_imports_nothing_from_the_run_directory(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """apprise.py, pickle.py, requests.py, smtplib.py and a recondiff/ package
    where the run starts, and a PYTHONSTARTUP file: none runs in the child."""
    run_dir = tmp_path / "run"
    (run_dir / "recondiff").mkdir(parents=True)
    marker = tmp_path / "hijacked"
    plant = f"open({str(marker)!r}, 'a').write(__name__ + '\\n')\n"
    for name in ("apprise.py", "pickle.py", "requests.py", "smtplib.py", "recondiff/__init__.py",
                 "startup.py"):
        (run_dir / name).write_text(plant, encoding="utf-8")
    monkeypatch.chdir(run_dir)
    monkeypatch.setenv("PYTHONSTARTUP", str(run_dir / "startup.py"))
    with smtp_receiver() as smtp:
        cfg = _url_config(tmp_path / "cfg", f"mailto://relay@127.0.0.1:{smtp.port}?{MAIL}")
        result = _cli("notify", "test", "-c", str(cfg), env={"RD_SECRET": "pw"})
        assert len(smtp.mails) == 1
    assert result.exit_code == 0, result.stdout
    assert not marker.exists(), marker.read_text()


@pytest.mark.parametrize("url", [
    "mailtos://secops@example.org?smtp=mail.example.org",  # the issue's own example
    f"mailtos://rd@mail.example.org?{MAIL}&cc=audit@example.org&bcc=log@example.org",
    "mailtos://mail.example.org?user=rd&pass={secret}&to=secops@example.org",
    "json://hooks.example.org/a/b/recondiff",
    "jsons://rd@hooks.example.org:8443/hook?+Content-Type=application/json",
    "ntfys://ntfy.example.org/alerts?token={secret}",
    "ntfys://{secret}@ntfy.example.org/alerts",
    "workflows://{secret}",
    "pover://{secret}",
    "gotifys://gotify.example.org/{secret}",
    "matrixs://rd@matrix.example.org/#secops",
    "rockets://rd@chat.example.org/#secops",
    "tgram://{secret}/12315544",
])
def test_common_urls_are_accepted(tmp_path: Path, url: str) -> None:
    user = "@" in re.split(r"[/?]", url.split("://", 1)[1], maxsplit=1)[0]
    secret_env = "RD_SECRET" if "{secret}" in url or user else None
    assert load_config(_url_config(tmp_path, url, secret_env)).notify


@pytest.mark.parametrize("url", [
    f"mailto://relay@127.0.0.1?{MAIL}&PASS=hunter2",  # case
    f"mailto://relay@127.0.0.1?{MAIL}&pa%73s=hunter2",  # a percent-encoded key
    f"mailto://relay@127.0.0.1?{MAIL}&pass=&pass=hunter2",  # the last one wins
    f"mailto://relay@127.0.0.1?{MAIL}&pass=hunter2&pass={{secret}}",
    "mailto:///relay:hunter2@127.0.0.1?to=secops@example.org",  # one slash more
    "json:///relay:hunter2@127.0.0.1/hook",
    "json://127.0.0.1/hook?%2BAuthorization=Basic%20cmVsYXk6aHVudGVyMg==",
    "json://127.0.0.1/hook?++Authorization=Bearer%20hunter2",
    "json://127.0.0.1/hook?+X%2DAPI%2DKEY=hunter2",
    "ntfys://tk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAA@ntfy.example.org/topic",
    "gotify://gotify.example.org/AbCdEfGhIjKlMnO",
    "workflows://prod.westus.logic.azure.com:443/wf123/sigAbCdEf123456",
    "pover://uQiRzpo4DXghDmr9QzzfQu27cmVRsG@{secret}",
    "slack://{secret}/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
])
def test_a_secret_written_in_the_url_is_refused(tmp_path: Path, url: str) -> None:
    secret_env = "RD_SECRET" if "{secret}" in url else None
    with pytest.raises(ConfigError):
        load_config(_url_config(tmp_path, url, secret_env))


def test_a_short_secret_spoils_the_reason_but_never_leaks() -> None:
    """A one-letter secret is replaced wherever the letter is: the reason is
    mangled (acceptable: a one-letter secret is no secret), still one line,
    and no spelling of it is left."""
    forms = _secret_forms("json://relay:a@127.0.0.1/hook", "a")
    why = _scrub("Connection refused to 127.0.0.1 (Basic cmVsYXk6YQ==, url: /hook?a=a)", forms)
    assert "a" not in why and "cmVsYXk6YQ" not in why and "\n" not in why
    assert why.startswith("Conn")


def test_the_failure_message_says_the_error_line_of_stderr(tmp_path: Path) -> None:
    """An input error that quotes a directory value: the JSON target's message
    holds stderr's error line exactly, and exactly one message is sent."""
    with http_receiver() as hook:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{hook.port}/hook"
            on = ["failure", "always"]
            """, number="12 monkeys", derived=True)
        result = _cli("compare", "-q", "-c", str(cfg), "-o", str(tmp_path / "out"))
        assert result.exit_code == 2
        assert len(hook.requests) == 1
    error = result.stderr.splitlines()[0].removeprefix("recondiff: error: ")
    assert "'12 monkeys'" in error
    message = json.loads(hook.requests[0]["body"])["message"]
    assert f"Error: {error}\n" in message
