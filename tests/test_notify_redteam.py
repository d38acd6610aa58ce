"""Red team of issue 20 (notifications): an attacker who controls values in
the snapshots (account keys, attribute values) or a receiver's answers, and a
careless operator who writes a secret into recondiff.toml.

Everything goes through Apprise to real receivers on 127.0.0.1
(tests/notify_redteam_receivers.py); nothing of Apprise is mocked. The
tests under "holes" each failed on the first implementation (a trickling
receiver held the process open, a huge value silenced every target, secrets
written in the file in forms the check missed, a receiver's answer or a
client's quoting of the URL carried the secret into the reason, Markdown live
in a chat target, a '/' in a {secret} password); they pass since the fixes.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result

from recondiff.cli.main import cli
from recondiff.config.load import load_config
from recondiff.errors import ConfigError
from tests.conftest import ROOT
from tests.notify_redteam_receivers import (
    http_receiver,
    smtp_receiver,
    trickling_receiver,
)

MAIL = "from=recondiff@example.org&to=secops@example.org"
# every character a URL gives a meaning to, between fragments that can be looked for
SECRET = "Kq7Zr/Wm3Xp@Hv8Tn:Bd2Ly%Fs6Jc#Gt4Nk?Rw9Qe&Py5Mh+Ua3Vd=Ex7Cb"
HOSTILE = '=HYPERLINK("http://evil.example","x")<script>alert(1)</script>[x](http://evil)'


# The config both red-team files build on (tests/test_notify_redteam2.py too):
# an AD endpoint, its title drift a do-nothing case.
CONFIG = textwrap.dedent("""\
        [endpoint]
        name = "test-ad"
        snapshot = "endpoint.csv"
        key = "sAMAccountName"
        kind = "ad"

        [repository]
        name = "hr"
        snapshot = "repository.csv"
        key = "employee_id"
        link = "ad_account"

        [[attribute]]
        endpoint = "title"
        repository = "title"
        on_drift = "do_nothing"
        """)


def _dataset(tmp: Path, notify: str, *, title: str = "Manager", key: str = HOSTILE,
             extra: str = "", admin: str = "1") -> Path:
    """Two linked accounts (bob's title drifts, answered do_nothing) and one
    unmatched account, ``key``, with adminCount 1: an alert naming it."""
    tmp.mkdir(parents=True, exist_ok=True)
    rows = [["sAMAccountName", "mail", "title", "adminCount", "userAccountControl"],
            ["alice", "alice@example.org", "Engineer", "0", "512"],
            ["bob", "bob@example.org", title, "0", "512"],
            [key, "mallory@example.org", "x", admin, "512"]]
    (tmp / "endpoint.csv").write_text(
        "\n".join(",".join('"' + c.replace('"', '""') + '"' for c in r) for r in rows) + "\n",
        encoding="utf-8")
    (tmp / "repository.csv").write_text(
        "employee_id,ad_account,email,title\n1,alice,alice@example.org,Engineer\n"
        "2,bob,bob@example.org,Boss\n", encoding="utf-8")
    cfg = tmp / "recondiff.toml"
    cfg.write_text(CONFIG + extra + "\n" + textwrap.dedent(notify), encoding="utf-8")
    return cfg


def _cli(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    return result


def _compare(cfg: Path, out: Path, *extra: str, env: dict[str, str] | None = None,
             debug: bool = False) -> Result:
    first = ["--debug"] if debug else []
    return _cli(*first, "compare", "-c", str(cfg), "-o", str(out), *extra, env=env)


def _secret_spellings(user: str, secret: str) -> list[bytes]:
    """The secret as it could leak: raw, percent-encoded, and base64 in the
    forms HTTP Basic and SMTP AUTH PLAIN/LOGIN put it on the wire."""
    forms = [secret, quote(secret, safe=""), quote(secret, safe="/"), quote(secret)]
    texts = {f.encode() for f in forms}
    for raw in (f"{user}:{secret}", f"\0{user}\0{secret}", secret):
        texts.add(base64.b64encode(raw.encode()))
        texts.add(base64.b64encode(raw.encode()).rstrip(b"="))
    return sorted(texts)


def _leaks(blob: bytes, user: str, secret: str) -> list[bytes]:
    """The spellings of the secret in ``blob``, and any of its alphanumeric
    fragments of 5 or more (a secret said half-encoded, in any case)."""
    found = [s for s in _secret_spellings(user, secret) if s in blob]
    fragments = {f.lower().encode() for f in re.split(r"[^A-Za-z0-9]+", secret) if len(f) >= 5}
    return found + sorted(f for f in fragments if f in blob.lower())


def _all_outputs(out: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file())


# ---------------------------------------------------------------- holes


def test_a_trickling_receiver_does_not_hold_the_process(tmp_path: Path) -> None:
    with trickling_receiver() as port:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{port}/hook"
            on = ["always"]
            """)
        # the cap cut to 2 s (the module's constant, read at each call), so that
        # the test does not wait the real 30 s
        code = ("import sys, recondiff.notify.send as s; s.TIMEOUT_SECONDS = 2.0; "
                "from recondiff.cli.main import cli; sys.argv = ['recondiff'] + sys.argv[1:]; "
                "cli()")
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", code, "compare", "-q", "-c", str(cfg), "-o",
             str(tmp_path / "out")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, stderr = proc.communicate(timeout=12)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            pytest.fail(f"still running {time.monotonic() - start:.0f} s after the start "
                        "with a 2 s notification cap")
    assert proc.returncode == 1, stderr
    assert b"not sent" in stderr


def test_a_huge_directory_value_does_not_silence_the_alerts(tmp_path: Path) -> None:
    with http_receiver() as reviewers, http_receiver() as secops:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            name = "reviewers"
            url = "json://127.0.0.1:{reviewers.port}/review"
            on = ["do_nothing"]

            [[notify]]
            name = "secops"
            url = "json://127.0.0.1:{secops.port}/alerts"
            on = ["alerts"]
            """, title="A" * 200_000, key="mallory")
        result = _compare(cfg, tmp_path / "out", "-q")
        assert result.exit_code == 1, result.stderr
        assert len(secops.requests) == 1, result.stderr
        assert len(reviewers.requests) == 1, result.stderr
    notes = json.loads((tmp_path / "out" / "summary.json").read_text())["notifications"]
    assert [n["status"] for n in notes] == ["sent", "sent"]


@pytest.mark.parametrize("spelling", [
    pytest.param(f"?{MAIL};pass=hunter2", id="semicolon"),
    pytest.param(f"?{MAIL}#&pass=hunter2", id="fragment"),
    pytest.param(f"?{MAIL}&pass%20=hunter2", id="padded-key"),
])
def test_a_password_in_the_query_is_refused_however_spelt(tmp_path: Path,
                                                          spelling: str) -> None:
    with smtp_receiver() as smtp:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mailto://relay@127.0.0.1:{smtp.port}{spelling}"
            """)
        result = _cli("notify", "test", "-c", str(cfg))
        assert smtp.logins == []  # the file's password never reached a server
    assert result.exit_code == 2, result.stdout


@pytest.mark.parametrize("url", [
    pytest.param("json://127.0.0.1/hook?+Cookie=session%3Dhunter2", id="cookie-header"),
    pytest.param("json://127.0.0.1/hook?+Private-Token=hunter2", id="private-token-header"),
    pytest.param("json://127.0.0.1/hook?+X-Vault-Token=hunter2", id="vault-token-header"),
    pytest.param("spush://apikey?topic_auth_token=hunter2", id="plugin-private-arg"),
    pytest.param("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general",
                 id="slack-path-tokens"),
    pytest.param("discord://4174216298/JHMHI8qBe7bk2ZwO5U711o3dV_js", id="discord-token"),
    pytest.param("tgram://123456789:abcdefg_hijklmnop/12315544/", id="telegram-bot-token"),
])
def test_a_token_written_in_the_file_is_refused(tmp_path: Path, url: str) -> None:
    cfg = _dataset(tmp_path, f"""
        [[notify]]
        url = "{url}"
        """)
    with pytest.raises(ConfigError):
        load_config(cfg)


def test_a_receiver_echoing_the_request_does_not_leak_the_credentials(tmp_path: Path) -> None:
    def echo(request: dict[str, Any]) -> tuple[int, bytes]:
        return 401, f"bad credentials: {request['headers'].get('Authorization')}".encode()

    with http_receiver(echo) as hook:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://relay@127.0.0.1:{hook.port}/hook"
            secret_env = "RD_HOOK_SECRET"
            on = ["always"]
            """)
        result = _compare(cfg, tmp_path / "out", env={"RD_HOOK_SECRET": SECRET})
        assert len(hook.requests) == 1
    assert result.exit_code == 1
    assert "not sent" in result.stderr
    said = (result.stdout + result.stderr).encode() + _all_outputs(tmp_path / "out")
    assert _leaks(said, "relay", SECRET) == []


@pytest.mark.parametrize("where", ["/hook/{secret}", "/hook?-token={secret}"])
def test_a_refused_target_does_not_say_its_url(tmp_path: Path, where: str) -> None:
    secret = "Kq7Zr!Wm3Xp Hv8Tn"
    with http_receiver() as closed:
        pass  # a port nobody listens on any more
    cfg = _dataset(tmp_path, f"""
        [[notify]]
        url = "json://127.0.0.1:{closed.port}{where}"
        secret_env = "RD_HOOK_TOKEN"
        on = ["always"]
        """)
    result = _compare(cfg, tmp_path / "out", "-q", env={"RD_HOOK_TOKEN": secret})
    assert result.exit_code == 1
    assert "not sent" in result.stderr
    said = (result.stdout + result.stderr).encode() + _all_outputs(tmp_path / "out")
    assert _leaks(said, "relay", secret) == []


@pytest.mark.parametrize("where", [
    # (a '/' in the password: quoted whole in the user's part, config/notify._with_secret)
    pytest.param("relay:{secret}@", id="placeholder-as-password"),
    pytest.param("relay@", id="password-slot"),
])
def test_the_smtp_server_receives_exactly_the_secret(tmp_path: Path, where: str) -> None:
    secret = "Zq9/p@ss:w%rd#?&x+y=z/ab%2F"
    with smtp_receiver(password=secret) as smtp:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mailto://{where}127.0.0.1:{smtp.port}?{MAIL}"
            secret_env = "RD_SMTP_PASSWORD"
            """)
        result = _cli("notify", "test", "-c", str(cfg), env={"RD_SMTP_PASSWORD": secret})
        assert smtp.logins == [("relay", secret)], result.stdout
        assert len(smtp.mails) == 1
    assert result.exit_code == 0
    assert result.stdout.startswith("sent\t#1 (mailto://127.0.0.1)")


def test_a_directory_value_is_no_markdown_in_a_chat_target(tmp_path: Path) -> None:
    key = "@channel [click](http://evil.example) **urgent**"
    with http_receiver() as chat:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mmost://127.0.0.1:{chat.port}/{{secret}}"
            secret_env = "RD_MM_TOKEN"
            on = ["alerts"]
            """, key=key)
        result = _compare(cfg, tmp_path / "out", "-q", env={"RD_MM_TOKEN": "a" * 26})
        assert result.exit_code == 1, result.stderr
        assert len(chat.requests) == 1, result.stderr
    text = json.loads(chat.requests[0]["body"])["text"]
    assert "mallory" not in text  # (the key is the hostile one)
    line = next(line for line in text.splitlines() if "evil.example" in line)
    assert "[click](http://evil.example)" not in line
    assert "@channel" not in line and "**urgent**" not in line


# ------------------------------------------------- defences that hold


def test_stale_inputs_alone_are_an_alert_said_everywhere(tmp_path: Path) -> None:
    with http_receiver() as hook:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{hook.port}/hook"
            on = ["alerts"]
            """, key="mallory", admin="0")
        old = time.time() - 400 * 86400
        os.utime(tmp_path / "endpoint.csv", (old, old))
        result = _compare(cfg, tmp_path / "out", "-q")
        assert result.exit_code == 1, result.stderr
        assert len(hook.requests) == 1, result.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["alerts"] == 0
    assert any("endpoint snapshot is" in w for w in summary["warnings"])
    assert "recondiff: warning: the endpoint snapshot is" in result.stderr  # even with -q
    posted = json.loads(hook.requests[0]["body"])
    assert "stale inputs" in posted["title"] and posted["type"] == "warning"


def test_a_secret_is_nowhere_when_the_targets_fail(tmp_path: Path) -> None:
    """A wrong password (535), a refused port, a server's 500 and a bad URL
    after substitution, with --debug: the secret in no spelling on stdout,
    stderr or any file of OUT (history.duckdb included), and the exit code the
    reconciliation's."""
    def fail(request: dict[str, Any]) -> tuple[int, bytes]:
        return 500, b"upstream down"

    with smtp_receiver(password="another") as smtp, http_receiver(fail) as hook:
        refused = smtp.port + 1 if smtp.port < 65000 else smtp.port - 1
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mailto://relay@127.0.0.1:{smtp.port}?{MAIL}"
            secret_env = "RD_SECRET"
            on = ["always"]

            [[notify]]
            url = "json://relay@127.0.0.1:{hook.port}/hook/{{secret}}"
            secret_env = "RD_SECRET"
            on = ["always"]

            [[notify]]
            url = "json://relay@127.0.0.1:{refused}/hook"
            secret_env = "RD_SECRET"
            on = ["always"]

            [[notify]]
            url = "mailto://relay@127.0.0.1:{{secret}}?{MAIL}"
            secret_env = "RD_SECRET"
            on = ["always"]
            """)
        result = _compare(cfg, tmp_path / "out", env={"RD_SECRET": SECRET}, debug=True)
        assert set(smtp.logins) == {("relay", SECRET)}  # offered (PLAIN, LOGIN), refused
        assert len(hook.requests) == 1
    assert result.exit_code == 1
    notes = json.loads((tmp_path / "out" / "summary.json").read_text())["notifications"]
    assert [n["status"] for n in notes] == ["failed"] * 4
    warnings = [line for line in result.stderr.splitlines() if "not sent" in line]
    assert len(warnings) == 4
    assert all(line.startswith("recondiff: warning: notify #") for line in warnings)
    said = (result.stdout + result.stderr).encode() + _all_outputs(tmp_path / "out")
    assert _leaks(said, "relay", SECRET) == []
    assert b"apprise" not in result.stderr.lower().encode()


def test_notify_test_says_which_failed_without_the_secret(tmp_path: Path) -> None:
    with smtp_receiver(password="another") as smtp:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mailto://relay@127.0.0.1:{smtp.port}?{MAIL}"
            secret_env = "RD_SECRET"
            """)
        result = _cli("notify", "test", "-c", str(cfg), env={"RD_SECRET": SECRET})
    assert result.exit_code == 1
    assert result.stdout.startswith("failed\t#1 (mailto://127.0.0.1)\t")
    assert _leaks((result.stdout + result.stderr).encode(), "relay", SECRET) == []


def test_a_config_error_does_not_echo_a_secret(tmp_path: Path) -> None:
    cfg = _dataset(tmp_path, f"""
        [[notify]]
        url = "mailto://relay:{SECRET.replace('/', '%2F').replace('#', '%23')}@127.0.0.1?{MAIL}"
        """)
    result = _compare(cfg, tmp_path / "out")
    assert result.exit_code == 2
    assert "holds a password" in result.stderr
    assert "p@ss" not in result.stderr and "rd%23" not in result.stderr


HOSTILE_KEY = 'evil\r\nBcc: victim@example.org\u2028\u202egnp.exe<script>x</script>"'


def test_directory_values_reach_the_mail_inert(tmp_path: Path) -> None:
    with smtp_receiver() as smtp:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "mailto://relay@127.0.0.1:{smtp.port}?{MAIL}"
            secret_env = "RD_SECRET"
            on = ["alerts"]
            """, key=HOSTILE_KEY)
        result = _compare(cfg, tmp_path / "out", "-q", env={"RD_SECRET": "pw"})
        assert result.exit_code == 1, result.stderr
        assert len(smtp.mails) == 1, result.stderr
        mail, raw = smtp.mails[0], smtp.raw[0]
    # no header from a value: one recipient, a subject of counts only
    assert mail.get_all("Bcc") is None
    subject = str(mail["Subject"])
    assert "evil" not in subject and "script" not in subject
    assert subject.startswith("recondiff test-ad vs hr: 1 alert")
    parts = [(p.get_content_type(),
              p.get_payload(decode=True).decode(p.get_content_charset() or "utf-8"))
             for p in mail.walk() if not p.is_multipart()]
    assert parts and {kind for kind, _ in parts} <= {"text/plain", "text/html"}
    texts = [text for _, text in parts]
    for kind, text in parts:
        if kind == "text/html":
            assert "<script>" not in text  # escaped: text, never markup
        assert "\u202e" not in text and "\u2028" not in text
        assert "\r\nBcc" not in text and "\nBcc" not in text
    assert any("evil\\u000d\\u000aBcc" in t for t in texts)  # the account is named, inert
    assert "\u202e".encode() not in raw


def test_the_webhook_gets_the_counts_and_an_inert_capped_csv(tmp_path: Path) -> None:
    with http_receiver() as hook:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{hook.port}/hook"
            on = ["do_nothing"]
            max_attachment_kb = 1

            [situations]
            unmatched = "do_nothing"
            """, key=HOSTILE + "\n" + "B" * 1500, extra="[report]\ncsv_bom = true\n")
        result = _compare(cfg, tmp_path / "out", "-q")
        assert result.exit_code == 1, result.stderr
        assert len(hook.requests) == 1, result.stderr
    posted = json.loads(hook.requests[0]["body"])
    summary = json.loads(posted["message"])
    assert summary["situations"]["unmatched"] == 1
    assert summary["plan"]["do_nothing"] == 2  # bob's title, the unmatched account
    (attachment,) = posted["attachments"]
    csv_text = base64.b64decode(attachment["base64"]).decode("utf-8")
    # the unmatched account's row is 1.5 KB, over the 1 KB cap: bob's row only
    assert csv_text.splitlines()[0].lstrip("\ufeff").startswith("endpoint_key,")
    assert "bob" in csv_text and "HYPERLINK" not in csv_text
    full = (tmp_path / "out" / "do_nothing.csv").read_text(encoding="utf-8-sig")
    assert "\"'=HYPERLINK(" in full  # neutralised as in the other CSVs


def test_the_failure_is_notified_once_and_the_outputs_stay(tmp_path: Path) -> None:
    with http_receiver() as hook:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{hook.port}/hook"
            on = ["failure"]
            """)
        out = tmp_path / "out"
        first = _compare(cfg, out, "-q")
        assert first.exit_code == 1 and hook.requests == []  # exit 1 is no failure
        before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
        (tmp_path / "repository.csv").write_text("employee_id,ad_account\n", encoding="utf-8")
        failed = _compare(cfg, out, "-q")
        assert failed.exit_code == 2
        assert len(hook.requests) == 1
        assert json.loads(hook.requests[0]["body"])["type"] == "failure"
        # another command's failure is not compare's
        assert _cli("plan", "show", str(tmp_path / "nothing.jsonl")).exit_code == 2
        assert len(hook.requests) == 1
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert failed.stderr.startswith("recondiff: error: ")


def test_summary_json_not_rewritable_after_the_run_keeps_the_exit_code(tmp_path: Path) -> None:
    """The receiver, as it is notified, puts a directory where summary.json
    is: the notifications cannot be recorded; one warning, and the exit code
    and the other outputs are the reconciliation's."""
    out = tmp_path / "out"

    def squat(request: dict[str, Any]) -> tuple[int, bytes]:
        (out / "summary.json").unlink()
        (out / "summary.json").mkdir()
        (out / "summary.json" / "x").write_text("x")
        return 200, b""

    with http_receiver(squat) as hook:
        cfg = _dataset(tmp_path, f"""
            [[notify]]
            url = "json://127.0.0.1:{hook.port}/hook"
            on = ["always"]
            """)
        result = _compare(cfg, out, "-q")
        assert len(hook.requests) == 1
    assert result.exit_code == 1, result.stderr
    said = [line for line in result.stderr.splitlines() if "summary.json" in line]
    assert len(said) == 1 and said[0].startswith("recondiff: warning: summary.json does not")
    assert "not sent" not in result.stderr  # it was sent
    assert result.stdout.splitlines()[4] == "unmatched\t1"


@pytest.mark.parametrize(("url", "label"), [
    ("jsons://relay@hooks.example.org/path/{secret}", "#1 (jsons://hooks.example.org)"),
    # (every part Apprise masks is {secret}: the Slack and Discord IDs too)
    ("slack://{secret}/#general", "#1 (slack)"),
    ("discord://{secret}", "#1 (discord)"),
    ("tgram://{secret}/12315544", "#1 (tgram)"),
    ("pushme://{secret}", "#1 (pushme)"),
    ("ntfys://{secret}@ntfy.example.org/topic", "#1 (ntfys://ntfy.example.org)"),
])
def test_a_target_label_names_no_token(tmp_path: Path, url: str, label: str) -> None:
    cfg = _dataset(tmp_path, f"""
        [[notify]]
        url = "{url}"
        secret_env = "RD_TOKEN"
        """)
    (target,) = load_config(cfg).notify
    assert target.label == label
