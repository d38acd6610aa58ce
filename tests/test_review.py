"""`recondiff plan …` as a reviewer meets it: exact lines, exit codes, files written.

Plans are built here (:func:`build`), saved with ``plan.save_plan`` and driven
through the CLI. Every test runs in ``tmp_path`` (chdir) so error lines name
relative paths exactly as a user would type them.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from recondiff import review
from recondiff.cli.main import cli
from recondiff.cli.plan import plan_group
from recondiff.io import csvsafe
from recondiff.plan import file as plan_mod
from recondiff.plan import ledger
from tests.plans import unsigned

# ------------------------------------------------------------------ plan builder

SHA_CONFIG = "a" * 64
SHA_ENDPOINT = "b" * 64
SHA_REPOSITORY = "c" * 64
JDOE_DN = "CN=John Doe,OU=Staff,DC=example,DC=org"
ADMINS_DN = "CN=Domain Admins,OU=Groups,DC=example,DC=org"


def event(
    operation: str,
    key: str | None,
    *,
    target: str = "endpoint",
    response: str = "update_endpoint",
    dn: str | None = None,
    identity_key: str | None = None,
    changes: list[dict[str, Any]] | None = None,
    situation: str = "linked",
    rule: str | None = None,
    drift: list[dict[str, Any]] | None = None,
    alert: str | None = None,
    required: bool = True,
    member_of: dict[str, Any] | None = None,
    preconditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One event as the planner writes it; ``required`` → pending, else auto."""
    obj: dict[str, Any] = {"key": key, "dn": dn, "identity_key": identity_key}
    if member_of is not None:
        obj["member_of"] = member_of
    changes = changes or []
    reason: dict[str, Any] = {"situation": situation, "rule": rule}
    if drift is not None:
        reason["drift"] = drift
    return {
        "id": plan_mod.event_id(target, operation, obj, changes),
        "target": target,
        "operation": operation,
        "response": response,
        "object": obj,
        "changes": changes,
        "preconditions": preconditions or [],
        "reason": reason,
        "alert": alert,
        "approval": {
            "required": required,
            "state": "pending" if required else "auto",
            "by": None,
            "at": None,
            "comment": None,
        },
    }


def build(
    events: list[dict[str, Any]], attention: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A complete plan (header per the schema) around ``events``, finalised."""
    plan: dict[str, Any] = {
        "format": plan_mod.PLAN_FORMAT,
        "plan_id": plan_mod.plan_id(SHA_CONFIG, SHA_ENDPOINT, SHA_REPOSITORY),
        "created_at": "2026-11-23T13:00:00+00:00",
        "recondiff_version": "0.1.0",
        "config": {"path": "recondiff.toml", "sha256": SHA_CONFIG},
        "inputs": {
            "endpoint": {
                "path": "snapshots/ad.parquet",
                "rows": 120,
                "captured_at": "2026-11-23T08:00:00+00:00",
                "sha256": SHA_ENDPOINT,
            },
            "repository": {
                "path": "snapshots/ids.parquet",
                "rows": 118,
                "captured_at": "2026-11-23T07:30:00+00:00",
                "sha256": SHA_REPOSITORY,
            },
        },
        "endpoint": {
            "name": "larkspur-ad",
            "kind": "ad",
            "key_attribute": "sAMAccountName",
            "protected": ["krbtgt", "Administrator"],
            "disable": {"method": "ad", "attribute": None, "value": None},
        },
        "safety": {"max_deletes": 50, "max_delete_percent": 5.0},
        "counts": {},
        "attention": attention or [],
        "events": events,
    }
    return plan_mod.finalise(plan)


# The standard plan: 4 pending (one alert, one repository), 2 auto (one repository).
TITLE = event(
    "modify",
    "jdoe",
    response="review",
    dn=JDOE_DN,
    identity_key="100042",
    rule="link",
    changes=[
        {"op": "delete", "attribute": "title", "values": ["Engineer"]},
        {"op": "add", "attribute": "title", "values": ["Senior Engineer"]},
    ],
    drift=[
        {
            "attribute": "title",
            "kind": "changed",
            "endpoint_value": "Engineer",
            "repository_value": "Senior Engineer",
            "response": "review",
        }
    ],
)
ADMINS = event(
    "modify",
    "jdoe",
    response="review",
    dn=ADMINS_DN,
    identity_key="100042",
    member_of={"key": "jdoe", "dn": JDOE_DN},
    rule="link",
    changes=[{"op": "add", "attribute": "member", "values": [JDOE_DN]}],
    drift=[
        {
            "attribute": "memberOf",
            "kind": "added",
            "endpoint_value": None,
            "repository_value": ADMINS_DN,
            "response": "review",
        }
    ],
    alert="privileged group",
)
DISABLE = event(
    "disable",
    "asmith",
    response="reject",
    dn="CN=Alice Smith,OU=Staff,DC=example,DC=org",
    situation="unmatched",
    changes=[{"op": "replace", "attribute": "userAccountControl", "values": ["514"]}],
)
MAIL = event(
    "modify",
    "bwayne",
    dn="CN=Bruce Wayne,OU=Staff,DC=example,DC=org",
    identity_key="100050",
    rule="link",
    required=False,
    changes=[{"op": "replace", "attribute": "mail", "values": ["bw@example.org"]}],
)
LINK = event(
    "link",
    "cking",
    target="repository",
    response="link",
    identity_key="100077",
    situation="correlated",
    rule="email",
    required=False,
    changes=[{"op": "add", "attribute": "ad_account", "values": ["cking"]}],
)
PHONE = event(
    "modify",
    "jdoe",
    target="repository",
    response="update_repository",
    identity_key="100042",
    rule="link",
    changes=[{"op": "replace", "attribute": "telephoneNumber", "values": ["+1 555 0100"]}],
    preconditions=[{"attribute": "telephonenumber", "values": ["+1 555 0199"]}],
)
ATTENTION = [{"situation": "ambiguous", "endpoint_key": "jsmith", "candidates": ["100101", "100102"]}]


def standard() -> dict[str, Any]:
    return build(
        [json.loads(json.dumps(e)) for e in (TITLE, ADMINS, DISABLE, MAIL, LINK, PHONE)], ATTENTION
    )


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def plan_path(here: Path) -> Path:
    path = Path("plan.jsonl")
    plan_mod.save_plan(standard(), path)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, unsigned(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def approval(path: Path, event_id: str) -> dict[str, Any]:
    plan = plan_mod.load_plan(path)
    found: dict[str, Any] = next(e for e in plan["events"] if e["id"] == event_id)["approval"]
    return found


def read_sheet(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


# ------------------------------------------------------------------ show


def test_show_prints_the_summary(plan_path: Path) -> None:
    code, out, err = run("plan", "show", str(plan_path))
    digest = plan_mod.load_plan(plan_path)["digest"]
    assert (code, err) == (0, "")
    assert out.splitlines() == [
        f"plan        {plan_mod.plan_id(SHA_CONFIG, SHA_ENDPOINT, SHA_REPOSITORY)}",
        "created     2026-11-23T13:00:00+00:00",
        "recondiff   0.1.0",
        f"digest      {digest[:19]}",
        "config      recondiff.toml  sha256:aaaaaaaaaaaa",
        "endpoint    snapshots/ad.parquet  120 rows  captured 2026-11-23T08:00:00+00:00"
        "  sha256:bbbbbbbbbbbb",
        "repository  snapshots/ids.parquet  118 rows  captured 2026-11-23T07:30:00+00:00"
        "  sha256:cccccccccccc",
        "identity    none: the endpoint export has no entryUUID or objectGUID column, so apply"
        " cannot tell an entry deleted and re-created under the same DN from the one planned;"
        " export it (ldapsearch ... '*' entryUUID, or objectGUID on AD)",
        "events      6",
        "operation   disable 1, link 1, modify 4",
        "response    link 1, reject 1, review 2, update_endpoint 1, update_repository 1",
        "approval    auto 2, pending 4",
        "",
        "alerts (1)",
        f"  {ADMINS['id']}  jdoe  privileged group -- memberOf added: endpoint (none),"
        f' repository "{ADMINS_DN}"',
        "",
        "attention (1)",
        "  ambiguous  jsmith  candidates 100101, 100102",
        "",
        "pending (4)",
        f"  {TITLE['id']}  modify  jdoe  {JDOE_DN}  linked via link, review:"
        ' title changed: endpoint "Engineer", repository "Senior Engineer"',
        f"  {ADMINS['id']}  modify  jdoe  {ADMINS_DN}  linked via link, review:"
        f' memberOf added: endpoint (none), repository "{ADMINS_DN}"',
        f"  {DISABLE['id']}  disable  asmith  CN=Alice Smith,OU=Staff,DC=example,DC=org"
        "  unmatched, reject",
        f"  {PHONE['id']}  repository modify  identity 100042  linked via link, update_repository",
    ]


def test_show_lists_the_policy_conflicts(here: Path) -> None:
    """The identity policies' conflicts have no event: plan show says how many,
    lists those the header holds (control characters escaped) and where the rest are."""
    plan = build([json.loads(json.dumps(MAIL))])
    plan["policy_conflicts"] = {
        "total": 3,
        "file": "policy_conflicts.csv",
        "rows": [{"identity_key": "E01", "attribute": "department",
                  "policies": ["A", "B"], "values": ["Alpha\x1b[2J", "Beta"]}],
    }  # fmt: skip
    plan_mod.save_plan(plan_mod.finalise(plan), Path("plan.jsonl"))
    code, out, err = run("plan", "show", "plan.jsonl")
    assert code == 0, err
    lines = out.splitlines()
    at = lines.index(
        "policy conflicts (3) -- no event proposed; all in policy_conflicts.csv beside the plan"
    )
    assert lines[at + 1].startswith("  identity E01  department  policies A, B  values Alpha")
    assert "\x1b" not in out and "Beta" in lines[at + 1]
    assert lines[at + 2] == "  ... and 2 more in policy_conflicts.csv"
    code, out, _ = run("plan", "show", "--json", "plan.jsonl")
    assert json.loads(out)["policy_conflicts"]["total"] == 3
    # a plan without policies says nothing of them
    plan_mod.save_plan(build([json.loads(json.dumps(MAIL))]), Path("plain.jsonl"))
    assert "policy conflicts" not in run("plan", "show", "plain.jsonl")[1]


def test_show_escapes_control_characters(here: Path) -> None:
    hostile = event("delete", "evil\x1b[2J\nname", response="delete_from_endpoint", situation="unmatched")
    plan_mod.save_plan(build([hostile]), Path("plan.jsonl"))
    code, out, _ = run("plan", "show", "plan.jsonl")
    assert code == 0
    assert "\x1b" not in out
    assert f"  {hostile['id']}  delete  evil\\x1b[2J\\nname  unmatched, delete_from_endpoint" in (
        out.splitlines()
    )


def test_show_json(plan_path: Path) -> None:
    code, out, err = run("plan", "show", str(plan_path), "--json")
    assert (code, err) == (0, "")
    summary = json.loads(out)
    plan = plan_mod.load_plan(plan_path)
    assert summary["digest"] == plan["digest"]
    assert summary["counts"] == plan["counts"]
    assert summary["inputs"] == plan["inputs"]
    assert summary["attention"] == ATTENTION
    assert [a["id"] for a in summary["alerts"]] == [ADMINS["id"]]
    assert summary["alerts"][0]["alert"] == "privileged group"
    assert [p["id"] for p in summary["pending"]] == [
        TITLE["id"],
        ADMINS["id"],
        DISABLE["id"],
        PHONE["id"],
    ]
    assert summary["pending"][0]["summary"] == (
        'modify jdoe: delete title "Engineer"; add title "Senior Engineer"'
    )


# ------------------------------------------------------------------ approve / reject


def test_approve_by_id(plan_path: Path) -> None:
    before = plan_mod.load_plan(plan_path)["digest"]
    code, out, err = run(
        "plan", "approve", str(plan_path), "--event", TITLE["id"], "--event", DISABLE["id"],
        "--by", "J. Smith", "--comment", "CHG-1234",
    )  # fmt: skip
    assert (code, out, err) == (
        0,
        f"{TITLE['id']}\n{DISABLE['id']}\n",
        f"recondiff: approved 2 events in plan.jsonl; decisions head {head(plan_path)} (record"
        " it with the change: apply --decisions-head)\n",
    )
    after = plan_mod.load_plan(plan_path)  # schema and digest still check
    assert after["digest"] == before  # the plan never changes: the decision is in its ledger
    assert len(ledger_lines(plan_path)) == 1
    got = approval(plan_path, TITLE["id"])
    assert (got["state"], got["by"], got["comment"]) == ("approved", "J. Smith", "CHG-1234")
    at = datetime.fromisoformat(got["at"])
    assert abs(datetime.now(UTC) - at) < timedelta(minutes=1)
    assert approval(plan_path, ADMINS["id"])["state"] == "pending"
    assert after["counts"]["by_approval"] == {"approved": 2, "auto": 2, "pending": 2}


def test_reject_all_keeps_earlier_decisions(plan_path: Path) -> None:
    run("plan", "approve", str(plan_path), "--event", TITLE["id"], "--by", "ann")
    code, out, err = run("plan", "reject", str(plan_path), "--all", "--by", "bob")
    assert code == 0
    assert out.splitlines() == [ADMINS["id"], DISABLE["id"], PHONE["id"]]
    assert err.startswith("recondiff: rejected 3 events in plan.jsonl; decisions head sha256:")
    assert approval(plan_path, TITLE["id"])["state"] == "approved"
    got = approval(plan_path, PHONE["id"])
    assert (got["state"], got["by"], got["comment"]) == ("rejected", "bob", None)
    assert approval(plan_path, MAIL["id"])["state"] == "auto"


def test_approve_all_with_nothing_pending_leaves_the_file(plan_path: Path) -> None:
    run("plan", "approve", str(plan_path), "--all", "--by", "ann")
    before = plan_path.read_bytes(), ledger_lines(plan_path)
    code, out, err = run("plan", "approve", str(plan_path), "--all", "--by", "ann")
    assert (code, out) == (0, "")
    assert err.startswith("recondiff: approved 0 events in plan.jsonl; decisions head sha256:")
    assert (plan_path.read_bytes(), ledger_lines(plan_path)) == before


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["--event", "ev-0000000000000000", "--by", "ann"],
            "recondiff: error: plan.jsonl: no event ev-0000000000000000 in this plan;"
            " recondiff plan show lists the event ids",
        ),
        (
            ["--event", TITLE["id"], "--event", "ev-nope", "--by", "ann"],
            "recondiff: error: plan.jsonl: no event ev-nope in this plan;"
            " recondiff plan show lists the event ids",
        ),
        (
            ["--event", MAIL["id"], "--by", "ann"],
            f"recondiff: error: plan.jsonl: event {MAIL['id']} needs no approval (it is 'auto');"
            " decide only events whose approval is required",
        ),
        (
            ["--event", TITLE["id"], "--all", "--by", "ann"],
            "recondiff: error: give --event ID (repeatable) or --all, not both"
            " (see 'recondiff plan approve --help')",
        ),
        (
            ["--by", "ann"],
            "recondiff: error: say which events: --event ID (repeatable), --all, or a selector"
            " (--response, --situation, --operation, --attribute, --account, --rule)"
            " (see 'recondiff plan approve --help')",
        ),
        (
            ["--all"],
            "recondiff: error: say who decides: --by NAME (or sign with --key FILE) "
            "(see 'recondiff plan approve --help')",
        ),
        (
            ["--all", "--by", " "],
            "recondiff: error: plan.jsonl: a decision needs the approver's name (--by NAME)",
        ),
    ],
)
def test_approve_refusals_leave_the_file(plan_path: Path, args: list[str], line: str) -> None:
    before = plan_path.read_bytes()
    code, out, err = run("plan", "approve", str(plan_path), *args)
    assert (code, out, err) == (2, "", line + "\n")
    assert plan_path.read_bytes() == before
    assert ledger_lines(plan_path) == []


# ------------------------------------------------------------------ export-decisions


def test_export_decisions_rows(plan_path: Path) -> None:
    run("plan", "reject", str(plan_path), "--event", DISABLE["id"], "--by", "ann", "--comment", "keep")
    plan = plan_mod.load_plan(plan_path)
    code, out, err = run("plan", "export-decisions", str(plan_path), "-o", "decisions.csv")
    assert (code, out, err) == (0, "", "recondiff: wrote 4 events to decisions.csv\n")
    raw = Path("decisions.csv").read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw and raw.count(b"\n") == 5  # LF line ends (docs/outputs.md)
    rows = read_sheet(Path("decisions.csv"))
    assert rows[0] == list(review.DECISION_COLUMNS) == [
        "plan_id", "plan_digest", "decisions_head", "event_id", "target", "operation",
        "response", "endpoint_key", "dn", "identity_key", "alert", "summary", "state",
        "decision", "by", "comment", "owner_candidates", "owner",
    ]  # fmt: skip
    head = [plan["plan_id"], plan["digest"], ledger_lines(plan_path)[-1]["hash"]]
    assert rows[1:] == [
        [*head, TITLE["id"], "endpoint", "modify", "review", "jdoe", JDOE_DN, "100042", "",
         'modify jdoe: delete title "Engineer"; add title "Senior Engineer"',
         "pending", "", "", "", "", ""],
        [*head, ADMINS["id"], "endpoint", "modify", "review", "jdoe", ADMINS_DN, "100042",
         "privileged group",
         f'modify group {ADMINS_DN} (member jdoe): add member "{JDOE_DN}"',
         "pending", "", "", "", "", ""],
        [*head, DISABLE["id"], "endpoint", "disable", "reject", "asmith",
         "CN=Alice Smith,OU=Staff,DC=example,DC=org", "", "",
         'disable asmith: replace userAccountControl "514"',
         "rejected", "rejected", "ann", "keep", "", ""],
        [*head, PHONE["id"], "repository", "modify", "update_repository", "jdoe", "", "100042",
         "", "modify identity 100042: replace telephoneNumber \"+1 555 0100\"",
         "pending", "", "", "", "", ""],
    ]  # fmt: skip


def test_export_decisions_bom(plan_path: Path) -> None:
    code, _, _ = run("plan", "export-decisions", str(plan_path), "-o", "d.csv", "--bom")
    assert code == 0
    raw = Path("d.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfplan_id,plan_digest,decisions_head,event_id,")
    assert raw.count(b"\xef\xbb\xbf") == 1


def test_feed_bom_on_request_only(plan_path: Path) -> None:
    """plan feed takes --bom as export-decisions does (docs/outputs.md)."""
    assert run("plan", "feed", str(plan_path), "-o", "plain")[0] == 0
    assert run("plan", "feed", str(plan_path), "-o", "bom", "--bom")[0] == 0
    assert Path("plain/repository_changes.csv").read_bytes().startswith(b"event_id,")
    raw = Path("bom/repository_changes.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfevent_id,") and raw.count(b"\xef\xbb\xbf") == 1
    assert not Path("bom/repository_changes.jsonl").read_bytes().startswith(b"\xef")


# ------------------------------------------------------------------ import-decisions


def edit_sheet(
    source: Path,
    target: Path,
    edits: dict[str, dict[str, str]],
    *,
    order: list[str] | None = None,
    bom: bool = False,
    lineterminator: str = "\r\n",
    drop: tuple[str, ...] = (),
) -> None:
    """Rewrite a decisions sheet as a spreadsheet would: set cells by event id,
    maybe reorder or drop columns, BOM or not, CRLF or LF."""
    rows = read_sheet(source)
    header, body = rows[0], [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    for row in body:
        row.update(edits.get(row["event_id"], {}))
    columns = [c for c in (order or header) if c not in drop]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator=lineterminator)
    writer.writerow(columns)
    for row in body:
        writer.writerow([row[c] for c in columns])
    target.write_bytes((("\ufeff" if bom else "") + buffer.getvalue()).encode("utf-8"))


def test_decisions_round_trip(plan_path: Path) -> None:
    run("plan", "export-decisions", str(plan_path), "-o", "decisions.csv", "--bom")
    before = plan_mod.load_plan(plan_path)["digest"]
    order = list(reversed(review.DECISION_COLUMNS))
    edit_sheet(
        Path("decisions.csv"),
        Path("edited.csv"),
        {
            TITLE["id"]: {"decision": "Approve", "by": "ann", "comment": "CHG-1"},
            ADMINS["id"]: {"decision": " REJECTED ", "comment": "'=not now"},
            PHONE["id"]: {"decision": "approved", "by": "'@carol"},
        },
        order=order,
        bom=True,
    )
    code, out, err = run("plan", "import-decisions", str(plan_path), "edited.csv", "--by", "board")
    assert code == 0
    assert out.splitlines() == [
        f"{TITLE['id']}\tapproved",
        f"{ADMINS['id']}\trejected",
        f"{PHONE['id']}\tapproved",
    ]
    assert err == (
        "recondiff: 3 decisions applied to plan.jsonl; 0 already in the plan, 1 left blank\n"
    )
    after = plan_mod.load_plan(plan_path)
    assert after["digest"] == before  # the plan is as compare wrote it
    # one ledger line per (decision, by, comment) of the sheet, in the sheet's order
    assert [(x["decision"], x["by"], x["selector"]) for x in ledger_lines(plan_path)] == [
        ("approved", "ann", "sheet edited.csv"),
        ("rejected", "board", "sheet edited.csv"),
        ("approved", "@carol", "sheet edited.csv"),
    ]
    got = {e["id"]: e["approval"] for e in after["events"]}
    assert (got[TITLE["id"]]["state"], got[TITLE["id"]]["by"], got[TITLE["id"]]["comment"]) == (
        "approved", "ann", "CHG-1",
    )  # fmt: skip
    assert (got[ADMINS["id"]]["by"], got[ADMINS["id"]]["comment"]) == ("board", "=not now")
    assert (got[PHONE["id"]]["state"], got[PHONE["id"]]["by"]) == ("approved", "@carol")
    assert got[DISABLE["id"]] == DISABLE["approval"]
    assert got[TITLE["id"]]["at"] == got[ADMINS["id"]]["at"]  # one import, one time
    assert abs(datetime.now(UTC) - datetime.fromisoformat(got[TITLE["id"]]["at"])) < timedelta(
        minutes=1
    )

    # Exported again, the decisions come back prefilled; importing that sheet
    # unchanged decides nothing and leaves the file (and the decision times).
    run("plan", "export-decisions", str(plan_path), "-o", "again.csv")
    rows = read_sheet(Path("again.csv"))
    assert [r[13:16] for r in rows[1:]] == [
        ["approved", "ann", "CHG-1"],
        ["rejected", "board", "'=not now"],
        ["", "", ""],
        ["approved", "'@carol", ""],
    ]
    same = plan_path.read_bytes(), ledger_lines(plan_path)
    code, out, err = run("plan", "import-decisions", str(plan_path), "again.csv")
    assert (code, out) == (0, "")
    assert err == "recondiff: 0 decisions applied to plan.jsonl; 3 already in the plan, 1 left blank\n"
    assert (plan_path.read_bytes(), ledger_lines(plan_path)) == same


def test_import_tolerates_lf_and_semicolons(plan_path: Path) -> None:
    run("plan", "export-decisions", str(plan_path), "-o", "d.csv")
    rows = read_sheet(Path("d.csv"))
    for row in rows[1:]:
        if row[3] == DISABLE["id"]:
            row[13:16] = ["reject", "dan", "no; not now"]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=";", lineterminator="\n").writerows(rows)
    Path("semi.csv").write_text(buffer.getvalue(), encoding="utf-8")
    code, out, _ = run("plan", "import-decisions", str(plan_path), "semi.csv")
    assert (code, out) == (0, f"{DISABLE['id']}\trejected\n")
    assert approval(plan_path, DISABLE["id"])["comment"] == "no; not now"


def test_import_refused_after_a_decision_since_the_export(plan_path: Path) -> None:
    """The sheet carries the ledger's head at export: a decision made since (here on
    another event) refuses the whole sheet, so a stale sheet never overturns it."""
    exported = plan_mod.load_plan(plan_path)["digest"]  # no decision yet: the head is the digest
    run("plan", "export-decisions", str(plan_path), "-o", "decisions.csv")
    run("plan", "approve", str(plan_path), "--event", PHONE["id"], "--by", "ann")
    now = ledger_lines(plan_path)[-1]["hash"]
    edit_sheet(Path("decisions.csv"), Path("edited.csv"), {TITLE["id"]: {"decision": "approved", "by": "x"}})
    before = plan_path.read_bytes(), ledger_lines(plan_path)
    code, out, err = run("plan", "import-decisions", str(plan_path), "edited.csv")
    assert (code, out) == (2, "")
    assert err == (
        "recondiff: error: edited.csv: row 2, column decisions_head: decisions were made since"
        f" the export (the sheet has {exported[:19]}, the ledger is now at {now[:19]}); export"
        " the decisions again with recondiff plan export-decisions and carry them over\n"
    )
    assert (plan_path.read_bytes(), ledger_lines(plan_path)) == before


def test_import_refused_for_another_plan(plan_path: Path, tmp_path: Path) -> None:
    run("plan", "export-decisions", str(plan_path), "-o", "decisions.csv")
    rows = read_sheet(Path("decisions.csv"))
    for row in rows[1:]:
        row[1] = "sha256:" + "1" * 64
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    Path("other.csv").write_text(buffer.getvalue(), encoding="utf-8")
    code, out, err = run("plan", "import-decisions", str(plan_path), "other.csv")
    assert (code, out) == (2, "")
    assert "column plan_digest: the sheet is for another plan" in err
    assert ledger_lines(plan_path) == []


def _sheet_with(plan_path: Path, edits: dict[str, dict[str, str]], **options: Any) -> None:
    run("plan", "export-decisions", str(plan_path), "-o", "decisions.csv")
    edit_sheet(Path("decisions.csv"), Path("edited.csv"), edits, **options)


@pytest.mark.parametrize(
    ("edits", "options", "line"),
    [
        (
            {TITLE["id"]: {"event_id": "ev-ffffffffffffffff", "decision": "approved", "by": "a"}},
            {},
            "edited.csv: row 2, column event_id: no event ev-ffffffffffffffff in plan.jsonl;"
            " export a fresh sheet with recondiff plan export-decisions",
        ),
        (
            {ADMINS["id"]: {"decision": "maybe", "by": "a"}},
            {},
            "edited.csv: row 3, column decision: 'maybe' is not a decision;"
            " write approved or rejected, or leave it blank",
        ),
        (
            {DISABLE["id"]: {"decision": "approved"}},
            {},
            "edited.csv: row 4, column by: a decision needs the approver's name;"
            " fill the by column or pass --by NAME",
        ),
        (
            {PHONE["id"]: {"event_id": MAIL["id"], "decision": "approved", "by": "a"}},
            {},
            f"edited.csv: row 5, column decision: event {MAIL['id']} needs no approval"
            " (it is 'auto'); clear the decision or remove the row",
        ),
        (
            {PHONE["id"]: {"event_id": TITLE["id"]}},
            {},
            f"edited.csv: row 5, column event_id: event {TITLE['id']} is also on row 2;"
            " keep one row per event",
        ),
        (
            {TITLE["id"]: {"event_id": "", "decision": "approved", "by": "a"}},
            {},
            "edited.csv: row 2, column event_id: blank; every row needs the id of its event"
            " (ev-…) as exported",
        ),
        (
            {TITLE["id"]: {"plan_id": "pl-0000000000000000"}},
            {},
            "edited.csv: row 2, column plan_id: the sheet is for plan pl-0000000000000000,"
            f" not {plan_mod.plan_id(SHA_CONFIG, SHA_ENDPOINT, SHA_REPOSITORY)} (plan.jsonl);"
            " export the decisions of this plan",
        ),
        (
            {},
            {"drop": ("plan_digest", "decision")},
            "edited.csv: missing columns plan_digest, decision;"
            " export a fresh sheet with recondiff plan export-decisions",
        ),
    ],
)
def test_import_refusals_leave_the_plan(
    plan_path: Path, edits: dict[str, dict[str, str]], options: dict[str, Any], line: str
) -> None:
    _sheet_with(plan_path, edits, **options)
    before = plan_path.read_bytes()
    code, out, err = run("plan", "import-decisions", str(plan_path), "edited.csv")
    assert (code, out, err) == (2, "", f"recondiff: error: {line}\n")
    assert plan_path.read_bytes() == before


def test_import_refuses_a_file_that_is_not_utf8(plan_path: Path) -> None:
    Path("latin.csv").write_bytes("plan_digest,event_id,decision,by\r\nx,y,approved,Jos\xe9\r\n".encode("latin-1"))
    code, _, err = run("plan", "import-decisions", str(plan_path), "latin.csv")
    assert (code, err) == (
        2,
        "recondiff: error: latin.csv: line 2 is not UTF-8 (byte 50);"
        " save it as 'CSV UTF-8' and try again\n",
    )


def test_import_missing_sheet(plan_path: Path) -> None:
    code, _, err = run("plan", "import-decisions", str(plan_path), "nope.csv")
    assert (code, err) == (2, "recondiff: error: nope.csv: no such decisions sheet\n")


# ------------------------------------------------------------------ spreadsheet formula injection

HOSTILE = ["=cmd|' /C calc'!A0", "+1", "-1", "@SUM(1)", "\tx", "\rx", "'quoted"]


def hostile_plan() -> dict[str, Any]:
    events = []
    for i, value in enumerate(HOSTILE):
        events.append(
            event(
                "modify",
                value,
                target="repository" if i % 2 else "endpoint",
                response="update_repository" if i % 2 else "update_endpoint",
                dn=value,
                identity_key=value,
                alert=value,
                required=i % 3 != 0,
                changes=[{"op": "replace", "attribute": "title", "values": [value]}],
            )
        )
    return build(events)


def assert_safe(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(csvsafe.DANGEROUS), (cell, row)


def test_every_csv_is_neutralised(here: Path) -> None:
    plan = hostile_plan()
    plan_mod.save_plan(plan, Path("plan.jsonl"))
    ids = [e["id"] for e in plan["events"] if e["approval"]["required"]]
    for value, event_id in zip(HOSTILE, ids, strict=False):
        run("plan", "approve", "plan.jsonl", "--event", event_id, "--by", value, "--comment", value)
    run("plan", "export-decisions", "plan.jsonl", "-o", "decisions.csv")
    run("plan", "feed", "plan.jsonl", "-o", "feed")
    decisions = read_sheet(Path("decisions.csv"))
    feed = read_sheet(Path("feed/repository_changes.csv"))
    assert_safe(decisions)
    assert_safe(feed)
    # Exactly one quote in front, and only where needed: restore() gives the value back.
    keys = [csvsafe.restore(r[7]) for r in decisions[1:]]
    assert keys == [e["object"]["key"] for e in plan["events"] if e["approval"]["required"]]
    assert decisions[1][7] == "'+1" and decisions[1][14] == "'=cmd|' /C calc'!A0"
    assert [csvsafe.restore(r[4]) for r in feed[1:]] == ["+1", "@SUM(1)", "\rx"]
    # The hostile sheet still imports: the quotes come off, nothing changes.
    before = Path("plan.jsonl").read_bytes()
    code, out, err = run("plan", "import-decisions", "plan.jsonl", "decisions.csv")
    assert (code, out) == (0, "")
    assert err.startswith("recondiff: 0 decisions applied to plan.jsonl; 4 already in the plan")
    assert Path("plan.jsonl").read_bytes() == before


# ------------------------------------------------------------------ feed


def test_feed_writes_approved_and_auto_repository_changes(plan_path: Path) -> None:
    code, out, err = run("plan", "feed", str(plan_path), "-o", "feed")
    assert (code, out) == (0, "")
    assert err == (
        "recondiff: wrote 1 change of 1 event to feed/repository_changes.csv and"
        " repository_changes.jsonl; 1 pending or rejected left out\n"
    )
    assert read_sheet(Path("feed/repository_changes.csv")) == [
        list(review.FEED_COLUMNS),
        [LINK["id"], "link", "link", "100077", "cking", "ad_account", "add", '["cking"]', "auto",
         "correlated", ""],
    ]  # fmt: skip
    run("plan", "approve", str(plan_path), "--event", PHONE["id"], "--by", "ann")
    code, _, err = run("plan", "feed", str(plan_path), "-o", "feed")
    assert code == 0
    assert err.endswith("; 0 pending or rejected left out\n")
    rows = read_sheet(Path("feed/repository_changes.csv"))
    assert rows[2] == [PHONE["id"], "modify", "update_repository", "100042", "jdoe",
                       "telephoneNumber", "replace", '["+1 555 0100"]', "approved", "linked",
                       '["+1 555 0199"]']  # fmt: skip
    lines = Path("feed/repository_changes.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [
        {"event_id": LINK["id"], "operation": "link", "response": "link",
         "identity_key": "100077", "endpoint_key": "cking", "attribute": "ad_account",
         "op": "add", "values": ["cking"], "approval": "auto", "situation": "correlated",
         "expected_values": None},
        {"event_id": PHONE["id"], "operation": "modify", "response": "update_repository",
         "identity_key": "100042", "endpoint_key": "jdoe", "attribute": "telephoneNumber",
         "op": "replace", "values": ["+1 555 0100"], "approval": "approved",
         "situation": "linked", "expected_values": ["+1 555 0199"]},
    ]  # fmt: skip


def test_feed_event_without_changes_still_gives_a_row(here: Path) -> None:
    unlink = event(
        "unlink", "old", target="repository", response="unlink", identity_key="7",
        situation="missing", required=False,
    )  # fmt: skip
    plan_mod.save_plan(build([unlink]), Path("plan.jsonl"))
    run("plan", "feed", "plan.jsonl", "-o", "out")
    assert read_sheet(Path("out/repository_changes.csv"))[1] == [
        unlink["id"], "unlink", "unlink", "7", "old", "", "", "[]", "auto", "missing", "",
    ]  # fmt: skip


# ------------------------------------------------------------------ ldif


@pytest.fixture
def fake_ldif(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Stand in for recondiff.plan.ldif_export (another module's job): record the plan given."""
    seen: list[dict[str, Any]] = []
    module = types.ModuleType("recondiff.plan.ldif_export")

    def plan_to_ldif(plan: dict[str, Any], **_options: Any) -> str:
        seen.append(plan)
        return f"# plan {plan['plan_id']}\ndn: {JDOE_DN}\nchangetype: modify\n"

    module.plan_to_ldif = plan_to_ldif  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "recondiff.plan.ldif_export", module)
    return seen


def test_ldif_to_a_file_and_stdout(plan_path: Path, fake_ldif: list[dict[str, Any]]) -> None:
    plan = plan_mod.load_plan(plan_path)
    expected = f"# plan {plan['plan_id']}\ndn: {JDOE_DN}\nchangetype: modify\n"
    code, out, err = run("plan", "ldif", str(plan_path), "-o", "changes.ldif")
    assert (code, out, err) == (0, "", "")
    assert Path("changes.ldif").read_text(encoding="utf-8") == expected
    assert fake_ldif == [plan]
    code, out, err = run("plan", "ldif", str(plan_path), "-o", "-")
    assert (code, out, err) == (0, expected, "")


def test_ldif_with_the_real_writer(plan_path: Path) -> None:
    from recondiff.plan.ldif_export import plan_to_ldif

    code, out, err = run("plan", "ldif", str(plan_path), "-o", "changes.ldif")
    assert (code, out, err) == (0, "", "")
    text = Path("changes.ldif").read_text(encoding="utf-8")
    assert text == plan_to_ldif(plan_mod.load_plan(plan_path))
    assert f"dn: {MAIL['object']['dn']}" in text.splitlines()  # auto: in
    assert f"dn: {JDOE_DN}" not in text.splitlines()  # pending: out


# ------------------------------------------------------------------ every command


COMMANDS = [
    ["show"],
    ["show", "--json"],
    ["approve", "--all", "--by", "ann"],
    ["reject", "--event", "ev-0000000000000000", "--by", "ann"],
    ["export-decisions", "-o", "d.csv"],
    ["import-decisions", "d.csv"],
    ["feed", "-o", "feed"],
    ["ldif", "-o", "changes.ldif"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_hand_edited_plan_is_refused_by_every_command(
    plan_path: Path, command: list[str], fake_ldif: list[dict[str, Any]]
) -> None:
    Path("d.csv").write_text("plan_digest,decisions_head,event_id,decision\r\n", encoding="utf-8")
    lines = plan_path.read_bytes().splitlines(keepends=True)
    event = json.loads(lines[1])
    event["changes"][-1]["values"] = ["Mallory's choice"]  # a hand edit, schema-valid
    lines[1] = plan_mod.canonical(event) + b"\n"
    plan_path.write_bytes(b"".join(lines))
    before = plan_path.read_bytes()
    name, *options = command
    code, out, err = run("plan", name, str(plan_path), *options)
    assert (code, out) == (2, "")
    assert err == (
        "recondiff: error: plan.jsonl: the plan's content does not match its digest (edited by"
        " hand?); a plan never changes once written: decisions go to its ledger (recondiff plan"
        " approve, reject, accept, import-decisions); re-run recondiff compare for a fresh plan\n"
    )
    assert plan_path.read_bytes() == before
    assert not Path("changes.ldif").exists() and not Path("feed").exists()
    assert fake_ldif == []


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_missing_plan_is_one_line(
    here: Path, command: list[str], fake_ldif: list[dict[str, Any]]
) -> None:
    Path("d.csv").write_text("plan_digest,event_id,decision\r\n", encoding="utf-8")
    name, *options = command
    code, _, err = run("plan", name, "nope.json", *options)
    assert (code, err) == (
        2,
        "recondiff: error: nope.json: no such plan file; recondiff compare writes OUTDIR/plan.jsonl\n",
    )


@pytest.mark.parametrize("name", sorted(plan_group.commands))
def test_every_plan_command_has_an_example(name: str) -> None:
    command = plan_group.commands[name]
    assert isinstance(command, click.Command)
    assert "Example: recondiff plan " in (command.help or ""), name


def ledger_lines(plan_path: Path) -> list[dict[str, Any]]:
    """The plan's decisions ledger, each line with its hash (``hash``)."""
    path = ledger.ledger_path(plan_path)
    if not path.exists():
        return []
    raw = path.read_bytes().splitlines()
    return [json.loads(line) | {"hash": ledger.line_hash(line)} for line in raw]


def head(plan_path: Path) -> str:
    """The ledger's head as the decision commands print it (sha256: and 12 digits)."""
    return review.decisions_head(plan_path)[:19]
