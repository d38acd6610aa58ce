"""[[notify]] without a receiver: what the config refuses and accepts, what a
target is called, how values and reasons are made safe, the capped CSV,
stale inputs said on stderr and in summary.json, and do_nothing.csv.

The deliveries to real receivers (SMTP, HTTP) are in tests/test_notify.py.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.config.load import load_config
from recondiff.config.notify import MissingSecret
from recondiff.errors import ConfigError
from recondiff.notify import due
from recondiff.notify.message import capped_csv, inert, run_title
from recondiff.notify.send import _scrub, _secret_forms

# A duplicate key (do_nothing by default), one drifted title whose on_drift is
# do_nothing, an unmatched account: expected below, by test.
MINI = """\
[endpoint]
name = "mini-ad"
snapshot = "ad.csv"
key = "sAMAccountName"

[repository]
name = "mini-hr"
snapshot = "ids.csv"
key = "employee_id"
link = "ad_account"

[[attribute]]
endpoint = "title"
repository = "title"
on_drift = "do_nothing"

[[attribute]]
endpoint = "department"
repository = "department"
"""
AD = ("sAMAccountName,title,department\n"
      "alice,Engineer,Sales\n"      # linked, title drifts (do_nothing), department drifts (review)
      "bob,Clerk,Ops\n"             # linked, in sync
      "dup,Clerk,Ops\n"             # duplicate_key (do_nothing by default) ...
      "DUP,Clerk,Ops\n"             # ... its copy
      "orphan,Clerk,Ops\n")         # unmatched (review)
IDS = ("employee_id,ad_account,title,department\n"
       "E1,alice,Manager,Marketing\n"
       "E2,bob,Clerk,Ops\n")


def write(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "ad.csv").write_text(AD, encoding="utf-8")
    (tmp_path / "ids.csv").write_text(IDS, encoding="utf-8")
    path = tmp_path / "recondiff.toml"
    path.write_text(MINI + extra, encoding="utf-8")
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)
    return result.exit_code, result.stdout, result.stderr


# --- the config -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ('url = "mailtos://rd:hunter2@mail.example.org"',
         "url: holds a password; the file must not"),
        ('url = "json://hooks.example.org/x?token=abc123"',
         "url: ?token= holds a secret"),
        ('url = "json://hooks.example.org/x?pass=abc123"',
         "url: ?pass= holds a secret"),
        ('url = "json://hooks.example.org/x?+Authorization=Bearer%20abc"',
         "url: ?authorization= holds a secret"),
        ('url = "json://hooks.example.org/x?token={secret}"\nsecret_env = "T"',
         "would send the secret to hooks.example.org without TLS"),
        ('url = "mailto://rd@mail.example.org?to=a@example.org"\nsecret_env = "T"',
         "would send the secret to mail.example.org without TLS"),
        ('url = "json://hooks.example.org/x?;pass=abc123"', "url: ?pass= holds a secret"),
        ('url = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"',
         "holds a part Apprise keeps private"),
        ('url = "json://hooks.example.org/x?token={secret}"',
         "says {secret} but no secret_env"),
        ('url = "json://hooks.example.org/x"\nsecret_env = "X"',
         "secret_env: the url has no user to give the password to"),
        ('url = "json://hooks.example.org/x"\nsecret_env = "1BAD"',
         "is not an environment variable name"),
        ('url = "nosuchservice://hooks.example.org/x"', "Apprise cannot send to it"),
        ('url = "hooks.example.org/x"', "is not an Apprise URL"),
        ('url = "json://hooks.example.org/x y"', "holds a space or a control character"),
        ('url = "json://hooks.example.org/x"\non = ["alert"]', "did you mean 'alerts'?"),
        ('url = "json://hooks.example.org/x"\non = []', "on: is empty"),
        ('url = "json://hooks.example.org/x"\nsituations = ["orphan"]', "is not a situation"),
        ('url = "json://hooks.example.org/x"\nmax_attachment_kb = 0', "must be a positive"),
        ('url = "json://hooks.example.org/x"\nname = "a\\nb"', "name: must be"),
        ('url = "json://hooks.example.org/x"\nto = "x"', "has unknown key 'to'"),
    ],
)
def test_a_mistake_or_a_secret_in_the_file_is_one_line_at_load(
    tmp_path: Path, table: str, expected: str
) -> None:
    path = write(tmp_path, f"\n[[notify]]\n{table}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message and "[[notify]] #1" in message
    assert "\n" not in message
    for secret in ("hunter2", "abc123", "Bearer"):
        assert secret not in message  # the refusal never repeats the secret


def test_notify_must_be_an_array_of_tables(tmp_path: Path) -> None:
    path = write(tmp_path, '\n[notify]\nurl = "json://hooks.example.org/x"\n')
    with pytest.raises(ConfigError, match=r"write \[\[notify\]\]"):
        load_config(path)


def test_labels_name_a_host_never_a_token(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[notify]]
url = "json://hooks.example.org/recondiff/T0KENPATH"
[[notify]]
url = "slack://{secret}"
secret_env = "SLACK_TOKENS"
[[notify]]
url = "discord://{secret}"
secret_env = "DISCORD_WEBHOOK"
[[notify]]
name = "secops"
url = "mailtos://rd@mail.example.org?to=secops@example.org"
secret_env = "SMTP_PW"
""")
    labels = [t.label for t in load_config(path).notify]
    assert labels == ["#1 (json://hooks.example.org)", "#2 (slack)", "#3 (discord)", "secops"]


def test_the_secret_goes_where_the_url_says(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[notify]]
url = "mailtos://rd@mail.example.org?to=secops@example.org"
secret_env = "SMTP_PW"
[[notify]]
url = "jsons://hooks.example.org/x?token={secret}"
secret_env = "HOOK_TOKEN"
""")
    mail, hook = load_config(path).notify
    url, secret = mail.url_with_secret({"SMTP_PW": "p@ss:w/rd%#?"})
    assert url == "mailtos://rd:p%40ss%3Aw%2Frd%25%23%3F@mail.example.org?to=secops@example.org"
    assert secret == "p@ss:w/rd%#?"
    url, _ = hook.url_with_secret({"HOOK_TOKEN": "a b&c"})
    assert url == "jsons://hooks.example.org/x?token=a%20b%26c"
    with pytest.raises(MissingSecret, match="HOOK_TOKEN"):
        hook.url_with_secret({})
    assert mail.url == "mailtos://rd@mail.example.org?to=secops@example.org"  # never kept


# --- what is sent ---------------------------------------------------------------------


def test_directory_values_are_inert_text() -> None:
    assert inert("<script>alert(1)</script>") == '"<script>alert(1)</script>"'
    assert inert("evil\r\nBcc: x@evil.example") == '"evil\\u000d\\u000aBcc: x@evil.example"'
    assert inert("a\u2028b\u202ec\x00") == '"a\\u2028b\\u202ec\\u0000"'
    assert inert('say "hi"') == '"say \\"hi\\""'
    assert inert(None) == "-"
    long = inert("x" * 10_000)
    assert len(long) < 130 and long.endswith('…"')


def test_the_title_is_one_line_of_the_config_names() -> None:
    summary = {"run": {"endpoint": "ad\r\nBcc: x@evil", "repository": "hr"},
               "alerts": 1, "differences": 2}
    title = run_title(summary, stale=True)
    assert "\r" not in title and "\n" not in title
    assert title == "recondiff ad Bcc: x@evil vs hr: 1 alert, stale inputs, 2 differences"


def test_a_reason_is_scrubbed_of_the_url_and_the_secret() -> None:
    url = "mailtos://rd:p%40ss%3Aw%2Frd@mail.example.org?to=a@example.org"
    forms = _secret_forms(url, "p@ss:w/rd")
    why = _scrub(f"failed for {url}\nwith p@ss:w/rd and p%40ss%3Aw%2Frd", forms)
    assert why == "failed for *** with *** and ***"


def test_the_capped_csv_keeps_whole_rows(tmp_path: Path) -> None:
    source = tmp_path / "do_nothing.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["endpoint_key", "why"])
        for i in range(100):
            w.writerow([f"user{i:03}", "line one\nline two"])
    kept, total = capped_csv(source, tmp_path / "cut.csv", 400)
    assert total == 100 and 0 < kept < 100
    rows = list(csv.reader((tmp_path / "cut.csv").open(newline="", encoding="utf-8")))
    assert len(rows) == kept + 1 and rows[-1] == [f"user{kept - 1:03}", "line one\nline two"]
    assert (tmp_path / "cut.csv").stat().st_size <= 400
    assert capped_csv(source, tmp_path / "all.csv", 1 << 20) == (100, 100)


def test_due_follows_on_and_situations(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[notify]]
url = "json://hooks.example.org/a"
on = ["alerts", "differences", "do_nothing"]
situations = ["unmatched", "missing"]
[[notify]]
url = "json://hooks.example.org/b"
on = ["failure"]
""")
    every, failure_only = load_config(path).notify
    summary = {"alerts": 0, "plan": {"do_nothing": 2},
               "situations": {"unmatched": 1, "missing": 0}}
    assert due(every, summary, 1, stale=False) == ["differences", "do_nothing",
                                                   "situation unmatched"]
    assert due(every, summary | {"plan": {"do_nothing": 0}}, 0, stale=True) == [
        "alerts", "situation unmatched"]
    assert due(failure_only, summary, 1, stale=True) == []


# --- stale inputs and do_nothing.csv, from a run ---------------------------------------


def test_stale_inputs_are_said_on_stderr_even_with_q_and_in_the_summary(tmp_path: Path) -> None:
    path = write(tmp_path)
    old = time.time() - 340 * 86400
    os.utime(tmp_path / "ad.csv", (old, old))  # a CSV export's capture time is its mtime
    code, _, err = run("compare", "-c", str(path), "-o", str(tmp_path / "out"), "-q")
    assert code == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    stale = [w for w in summary["warnings"] if "snapshot" in w]
    assert len(stale) == 2  # the endpoint's age, and the two 340 days apart
    assert stale[0].startswith("the endpoint snapshot is 340.0 days old")
    assert stale[1].startswith("the two snapshots were captured 340.0 days apart")
    for warning in stale:
        assert f"recondiff: warning: {warning}" in err.splitlines()
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    assert report["staleness"]["warnings"] == stale  # the page says the same words


def test_fresh_inputs_say_nothing(tmp_path: Path) -> None:
    path = write(tmp_path)
    code, _, err = run("compare", "-c", str(path), "-o", str(tmp_path / "out"), "-q")
    assert code == 1 and err == ""
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["warnings"] == [] and "notifications" not in summary


def test_do_nothing_csv_lists_the_cases_the_plan_leaves(tmp_path: Path) -> None:
    path = write(tmp_path)
    run("compare", "-c", str(path), "-o", str(tmp_path / "out"), "-q")
    rows = list(csv.DictReader((tmp_path / "out" / "do_nothing.csv").open(encoding="utf-8")))
    got = [(r["endpoint_key"], r["situation"], r["attribute"], r["why"]) for r in rows]
    assert got == [
        ("alice", "linked", "title", "drift of title: response do_nothing"),
        ("dup", "duplicate_key", "", "situation duplicate_key: response do_nothing"),
        ("DUP", "duplicate_key", "", "situation duplicate_key: response do_nothing"),
    ]
    summary = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert summary["plan"]["do_nothing"] == 3
    # alice's department drift is reviewed, not a do-nothing case; orphan is reviewed too
    plan = (tmp_path / "out" / "plan.jsonl").read_text(encoding="utf-8")
    assert '"department"' in plan and "orphan" in plan


def test_a_notify_test_without_targets_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("notify", "test", "-c", str(write(tmp_path)))
    assert code == 2 and "no [[notify]] table" in err
