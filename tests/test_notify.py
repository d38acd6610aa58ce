"""Notifications (issue 20, docs/notify.md) against real receivers on 127.0.0.1.

An aiosmtpd SMTP server (with AUTH where a secret is sent) and a
ThreadingHTTPServer taking Apprise's ``json://`` POSTs (tests/notify_receivers.py)
receive what ``recondiff compare`` and ``recondiff notify test`` send; nothing is
mocked between recondiff, Apprise and the sockets. The data is
tests/data/notify/ (its README.md lists what each run finds: 3 alerts, of which
two on hostile keys, 2 do-nothing cases, exit 1).

``compare`` runs in a subprocess (``python -m recondiff``): what a cron job sees,
stderr included (nothing of Apprise's logging may reach it), with the secret in
the environment of that process only. Delivery is synchronous, so once the
process has exited every message it sent is in the receivers: the tests read
them then, and never sleep.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from tests.notify_receivers import (
    SMTP_PASSWORD,
    HttpReceiver,
    Mail,
    Post,
    SmtpReceiver,
    closed_port,
    http_receiver,
    smtp_auth_server,
    smtp_server,
)

__all__ = ["http_receiver", "smtp_auth_server", "smtp_server"]  # fixtures, used by name

DATA = Path(__file__).parent / "data" / "notify"
PY = [sys.executable, "-m", "recondiff"]
ENV = "NOTIFY_SMTP_PASSWORD"
SECRET = SMTP_PASSWORD  # "s3cret-XYZ-123": grepped for in every output
HOOK_TOKEN_CORE = "hook-QRS-456"  # survives percent-encoding: grepped for
HOOK_TOKEN = f"{HOOK_TOKEN_CORE} /?&#"  # a token with characters a URL must encode
SITUATIONS = {
    "linked": 2, "correlated": 0, "collision": 0, "ambiguous": 0, "unmatched": 3,
    "missing": 1, "deleted_in_repository": 0, "excluded": 0, "duplicate_key": 2,
}
ALERT_TEXT = "privileged group granted outside the identity system"
SCRIPT_KEY = "<script>alert(1)</script>"
CRLF_KEY = "evil\r\nBcc: x@evil.example"
# What Apprise's mail plugin sets (checked on apprise 2.3): a value from the
# directory must not add one (no Bcc, no Cc, no second Subject)
APPRISE_HEADERS = {"content-type", "mime-version", "content-transfer-encoding", "x-application",
                   "subject", "from", "to", "message-id", "date"}


# --- helpers -------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a TOML basic string
    return "[" + ", ".join(toml_value(v) for v in value) + "]"


def target(url: str, **keys: Any) -> str:
    """One ``[[notify]]`` table."""
    lines = ["[[notify]]", f"url = {toml_value(url)}"]
    lines += [f"{k} = {toml_value(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n\n"


def case(folder: Path, notify: str = "", *, endpoint: str = "endpoint.csv",
         repository: str = "repository.csv", endpoint_text: str | None = None) -> Path:
    """tests/data/notify/ in ``folder``, the CSVs freshly written (captured now),
    the config with ``notify`` for its ``{notify}`` line. Returns the config."""
    folder.mkdir(parents=True, exist_ok=True)
    if endpoint_text is None:
        shutil.copyfile(DATA / endpoint, folder / "endpoint.csv")
    else:
        (folder / "endpoint.csv").write_bytes(endpoint_text.encode("utf-8"))
    shutil.copyfile(DATA / repository, folder / "repository.csv")
    config = folder / "recondiff.toml"
    template = (DATA / "recondiff.toml.in").read_text(encoding="utf-8")
    config.write_text(template.replace("{notify}", notify), encoding="utf-8")
    return config


def rd(*args: str | Path, env: dict[str, str] | None = None,
       cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``recondiff ARGS`` in a process of its own, with ``env`` added to a
    clean environment (no secret variable but those given)."""
    environ = {k: v for k, v in os.environ.items()
               if not k.startswith("NOTIFY_") and k != "RECONDIFF_DEBUG"}
    environ.update(env or {})
    return subprocess.run([*PY, *map(str, args)], capture_output=True, text=True, env=environ,
                          cwd=cwd, timeout=120, check=False)


def compare(config: Path, out: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    return rd("compare", "-c", config, "-o", out, "-q", env=env, cwd=config.parent)


def summary_of(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return data


def csv_rows(data: bytes | str) -> list[list[str]]:
    text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    return list(csv.reader(io.StringIO(text, newline="")))


def plan_events(out: Path) -> list[str]:
    """plan.jsonl without its header line (which holds the run's own id and times)."""
    return (out / "plan.jsonl").read_text(encoding="utf-8").splitlines()[1:]


def assert_nowhere(secret: str, proc: subprocess.CompletedProcess[str], *folders: Path) -> None:
    """``secret`` is in no stream of ``proc`` and no file under ``folders``."""
    assert secret not in proc.stdout
    assert secret not in proc.stderr
    needle = secret.encode("utf-8")
    for folder in folders:
        for file in folder.rglob("*"):
            if file.is_file():
                assert needle not in file.read_bytes(), f"{secret!r} written to {file}"


def entries(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """summary.json's notifications by target label (file order kept)."""
    notes = summary["notifications"]
    assert isinstance(notes, list)
    return {n["target"]: n for n in notes}


def body_lines(text: str) -> list[str]:
    return re.split(r"\r\n|\r|\n", text)


def paths(posts: Sequence[Post]) -> dict[str, list[Post]]:
    out: dict[str, list[Post]] = {}
    for post in posts:
        out.setdefault(post.path, []).append(post)
    return out


def mentions_path(text: str, path: Path) -> bool:
    return str(path) in text or str(path.resolve()) in text


# --- the run without [[notify]]: what every run with it must equal ------------------


@dataclass
class Run:
    config: Path
    out: Path
    proc: subprocess.CompletedProcess[str]
    mails: list[Mail]
    posts: dict[str, list[Post]]
    logins: list[tuple[str, str]]

    @property
    def summary(self) -> dict[str, Any]:
        return summary_of(self.out)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("baseline")
    config = case(folder)
    proc = compare(config, folder / "out")
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    return Run(config, folder / "out", proc, [], {}, [])


def test_the_dataset_finds_what_its_readme_says(baseline: Run) -> None:
    summary = baseline.summary
    assert summary["situations"] == SITUATIONS
    assert summary["alerts"] == 3
    assert summary["plan"]["do_nothing"] == 2
    report = json.loads((baseline.out / "report.json").read_text(encoding="utf-8"))
    assert sorted(a["endpoint_key"] for a in report["alerts"]) == sorted(
        ["mallory", SCRIPT_KEY, CRLF_KEY])


def test_do_nothing_csv_is_written_on_every_run(baseline: Run) -> None:
    rows = csv_rows((baseline.out / "do_nothing.csv").read_bytes())
    assert len(rows) == 1 + 2  # a header and the two `dup` records
    assert all("dup" in row for row in rows[1:])
    assert "notifications" not in baseline.summary or baseline.summary["notifications"] == []


# --- one run, eight targets ------------------------------------------------------------


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """compare on the dataset with a target of each kind, every one reachable:
    mail with AUTH (the secret from the environment) on the default triggers and
    on do_nothing, JSON webhooks on each trigger, two that are not due."""
    smtp = SmtpReceiver(password=SECRET).start()
    http = HttpReceiver().start()
    try:
        notify = "".join([
            target(smtp.url(user="rd"), name="secops", secret_env=ENV),  # on: the default
            target(http.url("/always"), on=["always"]),  # label: the default
            target(smtp.url(user="rd", to="reviewers@example.org"), name="reviewers-mail",
                   on=["do_nothing"], secret_env=ENV),
            target(http.url("/do-nothing"), name="reviewers-hook", on=["do_nothing"]),
            target(http.url("/differences"), name="differences", on=["differences"]),
            target(http.url("/unmatched"), name="unmatched", on=["failure"],
                   situations=["unmatched"]),
            target(http.url("/collision"), name="collision", on=["failure"],
                   situations=["collision"]),
            target(http.url("/failure"), name="failure-only", on=["failure"]),
        ])
        folder = tmp_path_factory.mktemp("full")
        config = case(folder, notify)
        proc = compare(config, folder / "out", env={ENV: SECRET})
        yield Run(config, folder / "out", proc, smtp.messages, paths(http.posts),
                  list(smtp.logins))
    finally:
        smtp.stop()
        http.stop()


def mail_to(run: Run, address: str) -> Mail:
    mails = [m for m in run.mails if m.rcpt_tos == [address]]
    assert len(mails) == 1, [(m.rcpt_tos, m.message["Subject"]) for m in run.mails]
    return mails[0]


def test_notify_changes_neither_outputs_nor_exit_code(full_run: Run, baseline: Run) -> None:
    assert full_run.proc.returncode == baseline.proc.returncode == 1
    assert full_run.proc.stdout == baseline.proc.stdout
    for name in ("situations.csv", "drift.csv", "do_nothing.csv"):
        assert (full_run.out / name).read_bytes() == (baseline.out / name).read_bytes(), name
    assert plan_events(full_run.out) == plan_events(baseline.out)


def test_summary_lists_every_target_in_file_order(full_run: Run) -> None:
    summary = full_run.summary
    assert summary["alerts"] == 3
    assert summary["plan"]["do_nothing"] == 2
    notes = summary["notifications"]
    assert [(n["target"], n["status"]) for n in notes] == [
        ("secops", "sent"),
        ("#2 (json://127.0.0.1)", "sent"),
        ("reviewers-mail", "sent"),
        ("reviewers-hook", "sent"),
        ("differences", "sent"),
        ("unmatched", "sent"),
        ("collision", "not_due"),
        ("failure-only", "not_due"),
    ]
    by = entries(summary)
    assert by["secops"]["on"] == ["alerts"]
    assert by["#2 (json://127.0.0.1)"]["on"] == ["always"]
    assert by["reviewers-mail"]["on"] == ["do_nothing"]
    assert by["reviewers-hook"]["on"] == ["do_nothing"]
    assert by["differences"]["on"] == ["differences"]
    assert by["unmatched"]["on"] and all("unmatched" in t for t in by["unmatched"]["on"])
    assert by["collision"]["on"] == [] and by["failure-only"]["on"] == []
    for note in notes:
        assert set(note) >= {"target", "status", "on", "why"}
        if note["status"] == "sent":
            assert note["why"] is None


def test_each_due_target_gets_one_message_and_no_other_does(full_run: Run) -> None:
    assert sorted(m.rcpt_tos[0] for m in full_run.mails) == [
        "reviewers@example.org", "secops@example.org"]
    assert {p: len(v) for p, v in full_run.posts.items()} == {
        "/always": 1, "/do-nothing": 1, "/differences": 1, "/unmatched": 1}
    assert full_run.proc.stderr == ""  # all sent: no warning, and nothing of Apprise's


def test_smtp_auth_gets_the_secret_from_the_environment(full_run: Run) -> None:
    assert full_run.logins and set(full_run.logins) == {("rd", SECRET)}
    for mail in full_run.mails:
        assert mail.mail_from == "rd@example.org"


def test_the_secret_is_in_no_output(full_run: Run) -> None:
    assert_nowhere(SECRET, full_run.proc, full_run.out, full_run.config.parent)
    for post in [p for v in full_run.posts.values() for p in v]:
        assert SECRET.encode() not in post.raw


def test_mail_says_names_counts_alerts_and_where(full_run: Run) -> None:
    text = mail_to(full_run, "secops@example.org").text()
    assert "corp-ad" in text and "hr-system" in text
    for situation, count in SITUATIONS.items():
        if count:
            assert re.search(rf"{situation}\W+{count}\b", text) or re.search(
                rf"\b{count}\W+{situation}", text), f"no count for {situation} in:\n{text}"
    assert "mallory" in text and ALERT_TEXT in text
    assert mentions_path(text, full_run.out)


def test_hostile_keys_arrive_as_inert_text(full_run: Run) -> None:
    mail = mail_to(full_run, "secops@example.org")
    text = mail.text()
    assert SCRIPT_KEY in text  # as written, in the text/plain part
    for part in mail.message.walk():
        if part.get_content_type() == "text/html":
            assert "<script" not in str(part.get_content()).lower()
    # the CR LF key: still named, but it starts no line of its own
    assert "evil" in text
    assert not [line for line in body_lines(text) if line.lstrip().lower().startswith("bcc:")]
    for m in full_run.mails:
        names = [k.lower() for k in m.message]
        assert set(names) <= APPRISE_HEADERS, names
        assert len(names) == len(set(names)), names
        assert "\r" not in str(m.message["Subject"]) and "\n" not in str(m.message["Subject"])
        assert b"\nBcc:" not in m.raw and b"\nbcc:" not in m.raw.lower().split(b"\r\n\r\n")[0]
        assert len(m.rcpt_tos) == 1 and "evil" not in m.rcpt_tos[0]


def test_webhook_gets_the_summary_as_json(full_run: Run) -> None:
    post = full_run.posts["/always"][0]
    assert post.headers.get("Content-Type", "").startswith("application/json")
    assert {"title", "message", "type"} <= set(post.body)
    sent = json.loads(post.body["message"])
    assert sent["situations"] == full_run.summary["situations"] == SITUATIONS
    assert sent["alerts"] == 3


def test_do_nothing_cases_are_attached(full_run: Run) -> None:
    on_disk = (full_run.out / "do_nothing.csv").read_bytes()
    mail = mail_to(full_run, "reviewers@example.org")
    attached = [a for a in mail.attachments() if a.get_filename() == "do_nothing.csv"]
    assert len(attached) == 1
    payload = attached[0].get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert csv_rows(payload) == csv_rows(on_disk)
    hook = full_run.posts["/do-nothing"][0].body
    files = [a for a in hook.get("attachments") or [] if a["filename"] == "do_nothing.csv"]
    assert len(files) == 1
    assert csv_rows(base64.b64decode(files[0]["base64"])) == csv_rows(on_disk)
    # the secops mail (alerts, not do_nothing) carries no attachment
    assert mail_to(full_run, "secops@example.org").attachments() == []


# --- targets that fail ---------------------------------------------------------------------


def test_failing_targets_cost_the_run_nothing(tmp_path: Path, baseline: Run,
                                              smtp_server: SmtpReceiver) -> None:
    """A refused connection, an HTTP 500 (twice, once with the secret in the
    URL) and a missing secret: one warning line each, `failed` in summary.json, and the run's outputs and exit code exactly
    those of the run without [[notify]]."""
    broken = HttpReceiver(status=500).start()
    try:
        notify = "".join([
            target(f"mailto://rd@127.0.0.1:{closed_port()}?from=rd@example.org"
                   "&to=secops@example.org", name="relay-down", secret_env=ENV),
            target(broken.url("/hook"), name="hook-500", on=["always"]),
            target(smtp_server.url(user="rd"), name="no-secret", secret_env="NOTIFY_UNSET_PASSWORD"),
            # a token in the URL's path ({secret}), to a server whose error page
            # echoes the path: Apprise's error holds it; recondiff's line must not
            target(broken.url("/{secret}/hook"), name="token-500", on=["always"],
                   secret_env="NOTIFY_HOOK_TOKEN"),
        ])
        config = case(tmp_path / "case", notify)
        out = tmp_path / "out"
        proc = compare(config, out, env={ENV: SECRET, "NOTIFY_HOOK_TOKEN": HOOK_TOKEN})
        tried = sorted(p.path for p in broken.posts)
        assert len(tried) == 2 and tried[0] == "/hook"  # both were tried, the token filled in
        assert tried[1].startswith(f"/{HOOK_TOKEN_CORE}") and tried[1].endswith("/hook")
    finally:
        broken.stop()
    assert proc.returncode == baseline.proc.returncode
    assert proc.stdout == baseline.proc.stdout
    for name in ("situations.csv", "drift.csv", "do_nothing.csv"):
        assert (out / name).read_bytes() == (baseline.out / name).read_bytes(), name
    assert plan_events(out) == plan_events(baseline.out)
    lines = proc.stderr.splitlines()
    labels = ("relay-down", "hook-500", "no-secret", "token-500")
    assert len(lines) == 4, proc.stderr  # one per target, nothing of Apprise's
    for line, label in zip(lines, labels, strict=True):
        assert line.startswith(f"recondiff: warning: notify {label}: not sent: "), line
        assert len(line) > len(f"recondiff: warning: notify {label}: not sent: ")
    assert "NOTIFY_UNSET_PASSWORD" in lines[2]
    notes = summary_of(out)["notifications"]
    assert [(n["target"], n["status"]) for n in notes] == [(label, "failed") for label in labels]
    for note in notes:
        assert isinstance(note["why"], str) and note["why"]
        assert note["on"]
    assert smtp_server.messages == []  # no secret: nothing sent, not even without AUTH
    assert_nowhere(SECRET, proc, out, config.parent)
    assert_nowhere(HOOK_TOKEN_CORE, proc, out, config.parent)  # raw or percent-encoded
    # the error page's lines and escape stay inside the one line
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f]", proc.stderr), repr(proc.stderr)
    assert "forged line" not in proc.stderr or all(
        line.startswith("recondiff: warning: notify ") for line in lines)


def test_a_bug_in_the_notifications_costs_the_run_nothing(
        tmp_path: Path, baseline: Run, monkeypatch: pytest.MonkeyPatch,
        http_receiver: HttpReceiver) -> None:
    """The message cannot be built (a bug, here a monkeypatch): one warning line,
    the run's outputs and exit code as without [[notify]]. In-process."""
    import recondiff.notify.message as message

    def broken(*args: Any, **kwargs: Any) -> str:
        raise KeyError("boom")

    monkeypatch.setattr(message, "run_text", broken)
    config = case(tmp_path / "case", target(http_receiver.url("/always"), name="always",
                                            on=["always"]))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(out), "-q"],
                                env={"RECONDIFF_DEBUG": ""})
    assert result.exit_code == baseline.proc.returncode == 1, result.output
    assert result.stdout == baseline.proc.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("recondiff: warning: "), result.stderr
    for name in ("situations.csv", "drift.csv", "do_nothing.csv"):
        assert (out / name).read_bytes() == (baseline.out / name).read_bytes(), name
    assert summary_of(out)["situations"] == SITUATIONS


# --- stale inputs and a run in sync ----------------------------------------------------


def test_stale_snapshot_is_said_everywhere_and_alerts(tmp_path: Path,
                                                      http_receiver: HttpReceiver) -> None:
    notify = "".join([
        target(http_receiver.url("/alerts"), name="alerts", on=["alerts"]),
        target(http_receiver.url("/differences"), name="differences", on=["differences"]),
    ])
    config = case(tmp_path / "case", notify, endpoint="endpoint-in-sync.csv",
                  repository="repository-in-sync.csv")
    old = time.time() - 400 * 24 * 3600  # its captured_at: 400 days ago
    os.utime(config.parent / "endpoint.csv", (old, old))
    out = tmp_path / "out"
    proc = compare(config, out)
    assert proc.returncode == 0, proc.stderr  # in sync: the staleness is no difference
    warnings = [line for line in proc.stderr.splitlines()
                if line.startswith("recondiff: warning: ")]
    assert any("endpoint snapshot" in w for w in warnings), proc.stderr
    summary = summary_of(out)
    assert any("endpoint snapshot" in w for w in summary["warnings"]), summary["warnings"]
    assert summary["alerts"] == 0  # report.json has none: only the staleness alerts
    assert [(n["target"], n["status"], n["on"]) for n in summary["notifications"]] == [
        ("alerts", "sent", ["alerts"]), ("differences", "not_due", [])]
    assert list(paths(http_receiver.posts)) == ["/alerts"]


def test_snapshots_captured_far_apart_alert(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    """Both under max_age_hours (24) old, but 20 hours apart (max_apart_hours 12):
    one warning, and alerts targets hear of it."""
    config = case(tmp_path / "case", target(http_receiver.url("/alerts"), name="alerts",
                                            on=["alerts"]),
                  endpoint="endpoint-in-sync.csv", repository="repository-in-sync.csv")
    then = time.time() - 20 * 3600
    os.utime(config.parent / "repository.csv", (then, then))
    out = tmp_path / "out"
    proc = compare(config, out)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("recondiff: warning: "), proc.stderr
    summary = summary_of(out)
    assert len(summary["warnings"]) == 1
    assert [(n["target"], n["status"], n["on"]) for n in summary["notifications"]] == [
        ("alerts", "sent", ["alerts"])]
    assert [p.path for p in http_receiver.posts] == ["/alerts"]


def test_a_run_in_sync_sends_only_to_always(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    notify = "".join([
        target(http_receiver.url("/alerts"), name="alerts"),  # default: alerts, failure
        target(http_receiver.url("/differences"), name="differences", on=["differences"]),
        target(http_receiver.url("/do-nothing"), name="do-nothing", on=["do_nothing"]),
        target(http_receiver.url("/always"), name="always", on=["always"]),
    ])
    config = case(tmp_path / "case", notify, endpoint="endpoint-in-sync.csv",
                  repository="repository-in-sync.csv")
    out = tmp_path / "out"
    # what OUT holds when the message comes in: the outputs are published first
    http_receiver.probe = lambda: sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    proc = compare(config, out)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    published = {"summary.json", "situations.csv", "drift.csv", "report.html", "report.json",
                 "plan.jsonl", "do_nothing.csv"}
    assert published <= set(http_receiver.posts[0].probe), http_receiver.posts[0].probe
    summary = summary_of(out)
    assert summary["alerts"] == 0 and summary["plan"]["do_nothing"] == 0 and not summary["warnings"]
    assert [(n["target"], n["status"]) for n in summary["notifications"]] == [
        ("alerts", "not_due"), ("differences", "not_due"), ("do-nothing", "not_due"),
        ("always", "sent")]
    assert list(paths(http_receiver.posts)) == ["/always"]
    assert len(csv_rows((out / "do_nothing.csv").read_bytes())) == 1  # the header only
    message = json.loads(http_receiver.posts[0].body["message"])
    assert message["situations"]["linked"] == 1


# --- the attachment's cap -------------------------------------------------------------------


def test_a_big_do_nothing_list_is_capped_and_pointed_to(tmp_path: Path,
                                                        smtp_server: SmtpReceiver,
                                                        http_receiver: HttpReceiver) -> None:
    # a formula from the directory, twice (a do-nothing duplicate): it must reach
    # the reviewer's spreadsheet as text, in the file and in the attachment
    formula = '"=HYPERLINK(""http://evil.example/"",""open me"")",,,,512\r\n' * 2
    extra = formula + "".join(f"dup-{i:04d}-padding-padding-padding,,,,512\r\n" * 2
                              for i in range(200))
    endpoint = (DATA / "endpoint.csv").read_bytes().decode("utf-8") + extra
    notify = "".join([
        target(smtp_server.url(to="reviewers@example.org"), name="reviewers", on=["do_nothing"],
               max_attachment_kb=1),
        target(http_receiver.url("/do-nothing"), name="hook", on=["do_nothing"],
               max_attachment_kb=1),
    ])
    config = case(tmp_path / "case", notify, endpoint_text=endpoint)
    out = tmp_path / "out"
    proc = compare(config, out)
    assert proc.returncode == 1, proc.stderr
    summary = summary_of(out)
    assert summary["plan"]["do_nothing"] == 404
    full = csv_rows((out / "do_nothing.csv").read_bytes())
    assert len(full) == 1 + 404 and (out / "do_nothing.csv").stat().st_size > 1024
    assert [n["status"] for n in summary["notifications"]] == ["sent", "sent"]

    mail = smtp_server.wait(1)[0]
    attached = [a for a in mail.attachments() if a.get_filename() == "do_nothing.csv"]
    assert len(attached) == 1
    payload = attached[0].get_payload(decode=True)
    assert isinstance(payload, bytes) and 0 < len(payload) <= 1024
    rows = csv_rows(payload)
    assert rows[0] == full[0] and len(rows) > 1
    assert all(row in full[1:] for row in rows[1:])  # whole rows of the file, none cut
    shown = len(rows) - 1
    text = mail.text()
    assert re.search(rf"\b{shown}\b\D+\b404\b", text), text  # "N of 404 rows"
    assert mentions_path(text, out / "do_nothing.csv"), text

    hook = http_receiver.wait(1)[0].body
    files = [a for a in hook["attachments"] if a["filename"] == "do_nothing.csv"]
    assert len(files) == 1 and 0 < len(base64.b64decode(files[0]["base64"])) <= 1024

    assert any("HYPERLINK" in cell for row in full for cell in row)
    for table in (full, rows, csv_rows(base64.b64decode(files[0]["base64"]))):
        formulas = [c for row in table for c in row if c[:1] in ("=", "+", "-", "@")]
        assert formulas == [], formulas  # written '=HYPERLINK(...): text, not a formula


# --- a run that fails ------------------------------------------------------------------------


def test_a_failed_run_tells_failure_targets_after_its_error(tmp_path: Path,
                                                           smtp_server: SmtpReceiver,
                                                           http_receiver: HttpReceiver) -> None:
    notify = "".join([
        target(smtp_server.url(to="oncall@example.org"), name="oncall", on=["failure"]),
        target(http_receiver.url("/always"), name="always", on=["always"]),
        target(http_receiver.url("/alerts"), name="alerts", on=["alerts"]),
        target(http_receiver.url("/differences"), name="differences", on=["differences"]),
    ])
    config = case(tmp_path / "case", notify)
    (config.parent / "endpoint.csv").unlink()  # the config loads; the run cannot read it
    proc = compare(config, tmp_path / "out")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert lines and lines[0].startswith("recondiff: error: "), proc.stderr
    assert "endpoint.csv" in lines[0] and "Traceback" not in proc.stderr
    error = lines[0].removeprefix("recondiff: error: ")
    mail = smtp_server.wait(1)[0]
    assert error in mail.text()
    assert list(paths(http_receiver.posts)) == ["/always"]
    assert error in http_receiver.posts[0].body["message"]


def test_a_failed_run_whose_target_fails_too(tmp_path: Path) -> None:
    """The run's error first, then the target's warning; the exit code stays 2."""
    config = case(tmp_path / "case", target(
        f"mailto://rd@127.0.0.1:{closed_port()}?from=rd@example.org&to=oncall@example.org",
        name="oncall", on=["failure"], secret_env=ENV))
    (config.parent / "endpoint.csv").unlink()
    proc = compare(config, tmp_path / "out", env={ENV: SECRET})
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 2, proc.stderr
    assert lines[0].startswith("recondiff: error: ") and "endpoint.csv" in lines[0]
    assert lines[1].startswith("recondiff: warning: notify oncall: not sent: ")
    assert_nowhere(SECRET, proc, tmp_path)


def test_a_crash_exit_3_tells_failure_targets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              smtp_server: SmtpReceiver) -> None:
    """A step no input can make fail (as tests/test_exit_codes.py breaks it): exit 3,
    and the failure target still hears of it. In-process: the break is a monkeypatch."""
    import recondiff.engine.steps as steps

    render, load = steps.render, steps.load
    broken = "SELECT error('broken step')"
    monkeypatch.setattr(steps, "render", lambda name, **f: broken
                        if name == "results/sync_counts" else render(name, **f))
    monkeypatch.setattr(steps, "load", lambda name: broken
                        if name == "results/sync_counts" else load(name))
    config = case(tmp_path / "case", target(smtp_server.url(), name="oncall", on=["failure"]))
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(tmp_path / "out"),
                                      "-q"], env={"RECONDIFF_DEBUG": ""})
    assert result.exit_code == 3, result.output
    first = result.stderr.splitlines()[0]
    assert first.startswith("recondiff: internal error"), result.stderr
    mail = smtp_server.wait(1)[0]
    assert "broken step" in mail.text()


# --- the config refuses secrets and unknown words ---------------------------------------------


GOOD = "json://127.0.0.1:9/hook"


@pytest.mark.parametrize(("table", "key", "secret"), [
    ({"url": "mailto://rd:hunter2-XYZ@127.0.0.1:25?from=a@example.org&to=b@example.org"},
     "url", "hunter2-XYZ"),
    ({"url": "json://127.0.0.1:9/hook?token=tok-XYZ-987"}, "url", "tok-XYZ-987"),
    ({"url": "mailto://127.0.0.1:25?from=a@example.org&to=b@example.org&pass=pw-XYZ-555"},
     "url", "pw-XYZ-555"),
    ({"url": "json://127.0.0.1:9/hook?+Authorization=Bearer-XYZ-777"}, "url", "Bearer-XYZ-777"),
    ({"url": GOOD, "on": ["alert"]}, "on", None),
    ({"url": GOOD, "on": ["alerts"], "situations": ["unmached"]}, "situations", None),
], ids=["password", "token", "pass", "header", "unknown-on", "unknown-situation"])
def test_config_refuses_at_load(tmp_path: Path, table: dict[str, Any], key: str,
                                secret: str | None) -> None:
    url = table.pop("url")
    config = case(tmp_path / "case", target(GOOD, name="first") + target(url, **table))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(out), "-q"])
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("recondiff: error: "), result.stderr
    assert f"[[notify]] #2 {key}" in lines[0]
    if secret:
        assert secret not in result.stderr
    assert not out.exists() or not any(out.iterdir())


# --- recondiff notify test ------------------------------------------------------------------------


def test_notify_test_sends_to_every_target(tmp_path: Path, smtp_auth_server: SmtpReceiver,
                                           http_receiver: HttpReceiver) -> None:
    notify = (target(smtp_auth_server.url(user="rd"), name="secops", secret_env=ENV)
              + target(http_receiver.url("/hook")))
    config = case(tmp_path / "case", notify)
    proc = rd("notify", "test", "-c", config, env={ENV: SECRET})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "sent\tsecops\nsent\t#2 (json://127.0.0.1)\n"
    assert len(smtp_auth_server.wait(1)) == 1 and smtp_auth_server.logins == [("rd", SECRET)]
    assert [p.path for p in http_receiver.wait(1)] == ["/hook"]
    assert_nowhere(SECRET, proc, config.parent)


def test_a_password_with_url_characters_arrives_exact(tmp_path: Path) -> None:
    """secret_env's value goes into the URL's password slot: '@', ':', '/', '%',
    '+', ' ', '#', '?', '&' must arrive at the SMTP server as written."""
    password = "p@ss:w/rd%41+x y#?&=XYZ"
    server = SmtpReceiver(password=password).start()
    try:
        config = case(tmp_path / "case", target(server.url(user="rd"), name="secops",
                                                secret_env=ENV))
        proc = rd("notify", "test", "-c", config, env={ENV: password})
        assert server.logins == [("rd", password)]
        assert len(server.messages) == 1
    finally:
        server.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout == "sent\tsecops\n"
    assert_nowhere("rd%41+x", proc, config.parent)


def test_notify_test_says_which_failed(tmp_path: Path, http_receiver: HttpReceiver) -> None:
    notify = (target(http_receiver.url("/hook"), name="ok")
              + target(f"json://127.0.0.1:{closed_port()}/hook", name="down")
              + target(f"mailto://rd@127.0.0.1:{closed_port()}?from=rd@example.org"
                       "&to=secops@example.org", name="relay", secret_env=ENV)
              + target(http_receiver.url("/nosecret/{secret}"), name="nosecret",
                       secret_env="NOTIFY_UNSET_TOKEN"))
    config = case(tmp_path / "case", notify)
    proc = rd("notify", "test", "-c", config, env={ENV: SECRET})
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "sent\tok"
    assert [line.split("\t")[:2] for line in lines[1:]] == [
        ["failed", "down"], ["failed", "relay"], ["failed", "nosecret"]]
    assert all(len(line.split("\t")) == 3 and line.split("\t")[2] for line in lines[1:])
    assert "NOTIFY_UNSET_TOKEN" in lines[3]
    assert [p.path for p in http_receiver.wait(1)] == ["/hook"]
    assert_nowhere(SECRET, proc, config.parent)


def test_notify_test_config_error_is_exit_2(tmp_path: Path) -> None:
    config = case(tmp_path / "case", target(
        "mailto://rd:hunter2-XYZ@127.0.0.1:25?from=a@example.org&to=b@example.org"))
    proc = rd("notify", "test", "-c", config)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "[[notify]] #1 url" in proc.stderr and "hunter2-XYZ" not in proc.stderr
    assert len(proc.stderr.splitlines()) == 1


def test_notify_test_without_targets_is_exit_2(tmp_path: Path) -> None:
    proc = rd("notify", "test", "-c", case(tmp_path / "case"))
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert len(proc.stderr.splitlines()) == 1 and "[[notify]]" in proc.stderr
