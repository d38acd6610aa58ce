"""`recondiff apply` against a real slapd (tests/slapd.py): no mocks.

Plans are written by hand with the small builder below (header per the
schema, events of every kind docs/plan.md describes), saved with
recondiff.plan.file.save_plan so their digest is right.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff import review
from recondiff.apply.event import EventOutcome
from recondiff.apply.journal import JournalError, default_journal
from recondiff.apply.transport import LdapError, LdapTarget
from recondiff.cli.main import cli
from recondiff.errors import InputError
from recondiff.plan.assertions import assertion_filter, escape_filter_value
from recondiff.plan.checks import SafetyError
from recondiff.plan.file import canonical, event_id, read_header
from tests.plans import apply_unsigned as apply_plan
from tests.plans import save_with_decisions, unsigned
from tests.slapd import Slapd, ldap_server

__all__ = ["ldap_server"]  # the fixture, imported so pytest finds it here

BASE = "dc=example,dc=org"
JDOE = f"uid=jdoe,ou=people,{BASE}"
ASMITH = f"uid=asmith,ou=people,{BASE}"
BWONG = f"uid=bwong,ou=people,{BASE}"
CDAVIS = f"uid=cdavis,ou=people,{BASE}"
ADMIN = f"uid=administrator,ou=people,{BASE}"
STAFF = f"cn=staff,ou=groups,{BASE}"
VPN = f"cn=vpn,ou=groups,{BASE}"
SHA = "0" * 64


# -- a plan builder --------------------------------------------------------------------


def change(op: str, attribute: str, *values: str) -> dict[str, Any]:
    return {"op": op, "attribute": attribute, "values": list(values)}


def pre(attribute: str, *values: str) -> dict[str, Any]:
    return {"attribute": attribute, "values": list(values)}


def event(
    operation: str,
    dn: str | None,
    changes: list[dict[str, Any]],
    preconditions: list[dict[str, Any]] | None = None,
    *,
    key: str | None = None,
    member_of: dict[str, Any] | None = None,
    state: str = "auto",
    target: str = "endpoint",
    response: str = "update_endpoint",
    situation: str = "linked",
) -> dict[str, Any]:
    if key is None and dn and member_of is None:
        key = dn.split(",")[0].split("=")[1]
    obj: dict[str, Any] = {"key": key, "dn": dn, "identity_key": None}
    if member_of is not None:
        obj["member_of"] = member_of
    required = state != "auto"
    return {
        "id": event_id(target, operation, obj, changes),
        "target": target,
        "operation": operation,
        "response": response,
        "object": obj,
        "changes": changes,
        "preconditions": preconditions or [],
        "reason": {"situation": situation, "rule": None},
        "alert": None,
        "approval": {
            "required": required,
            "state": state,
            "by": "cab" if state in ("approved", "rejected") else None,
            "at": "2026-11-23T13:00:00+00:00" if state in ("approved", "rejected") else None,
            "comment": None,
        },
    }


def modify_title(dn: str, old: str, new: str, **kw: Any) -> dict[str, Any]:
    return event(
        "modify",
        dn,
        [change("delete", "title", old), change("add", "title", new)],
        [pre("title", old)],
        **kw,
    )


def membership(op: str, group: str, account: str, **kw: Any) -> dict[str, Any]:
    key = account.split(",")[0].split("=")[1]
    return event(
        "modify",
        group,
        [change(op, "member", account)],
        [pre("member", account)] if op == "delete" else [],  # as the planner writes them
        key=group.split(",")[0].split("=")[1],
        member_of={"key": key, "dn": account},
        response="update_endpoint",
        **kw,
    )


def delete(dn: str, **kw: Any) -> dict[str, Any]:
    key = dn.split(",")[0].split("=")[1]
    return event(
        "delete", dn, [], [pre("uid", key), pre("employeeType", "active")], key=key, **kw
    )


def disable_attribute(dn: str, **kw: Any) -> dict[str, Any]:
    return event(
        "disable",
        dn,
        [change("replace", "employeeType", "disabled")],
        [pre("employeeType", "active")],
        response="disable_in_endpoint",
        **kw,
    )


def disable_openldap(dn: str, **kw: Any) -> dict[str, Any]:
    return event(
        "disable",
        dn,
        [change("add", "pwdAccountLockedTime", "000001010000Z")],
        [pre("pwdAccountLockedTime")],
        response="disable_in_endpoint",
        **kw,
    )


def add_person(uid: str, **kw: Any) -> dict[str, Any]:
    return event(
        "add",
        f"uid={uid},ou=people,{BASE}",
        [
            change("add", "objectClass", "inetOrgPerson"),
            change("add", "uid", uid),
            change("add", "cn", uid.title()),
            change("add", "sn", uid.title()),
            change("add", "title", "New Hire"),
        ],
        [],
        response="add_to_endpoint",
        situation="missing",
        **kw,
    )


def make_plan(
    events: list[dict[str, Any]],
    *,
    rows: int = 100,
    max_deletes: int = 10,
    max_delete_percent: float = 50.0,
    protected: tuple[str, ...] = ("Administrator", "krbtgt"),
    disable: dict[str, Any] | None = None,
    plan_id: str = "pl-0123456789abcdef",
) -> dict[str, Any]:
    return {
        "format": "recondiff-plan/2",
        "plan_id": plan_id,
        "created_at": "2026-11-23T13:00:00+00:00",
        "recondiff_version": "0.1.0",
        "config": {"path": "recondiff.toml", "sha256": SHA},
        "inputs": {
            "endpoint": {"path": "ldap.ldif", "rows": rows, "captured_at": "2026-11-23T12:00:00+00:00", "sha256": SHA},
            "repository": {"path": "ids.csv", "rows": rows, "captured_at": "2026-11-23T12:00:00+00:00", "sha256": SHA},
        },
        "endpoint": {
            "name": "test-ldap",
            "kind": "openldap",
            "key_attribute": "uid",
            "protected": list(protected),
            "disable": disable or {"method": "attribute", "attribute": "employeeType", "value": "disabled"},
        },
        "safety": {"max_deletes": max_deletes, "max_delete_percent": max_delete_percent},
        "counts": {},
        "attention": [],
        "events": events,
    }


def write_plan(path: Path, events: list[dict[str, Any]], **kw: Any) -> Path:
    save_with_decisions(make_plan(events, **kw), path)
    return path


def target(server: Slapd, **kw: Any) -> LdapTarget:
    """The test server over plain ldap:// to 127.0.0.1 (TLS: test_starttls_and_ldaps...)."""
    kw.setdefault("allow_plaintext", not kw.get("starttls"))
    return LdapTarget(server.url, server.admin_dn, server.password, **kw)


CONFIG = """\
[endpoint]
name = "test-ldap"
snapshot = "ldap.ldif"
key = "uid"
protected = ["Administrator", "krbtgt"]

[repository]
snapshot = "ids.csv"
key = "id"

[plan]  # no stricter than the plans below: their own limits decide
max_deletes = 1000
max_delete_percent = 100
max_value_removals = 1000
max_value_removal_percent = 100
max_membership_removals = 1000
max_membership_removal_percent = 100
max_modifies = 1000
max_modify_percent = 100
"""


def write_config(directory: Path, extra: str = "") -> Path:
    """A config for the plans make_plan writes (endpoint test-ldap), for --config."""
    text = CONFIG
    for line in extra.splitlines():  # "key = value" lines replace the [plan] defaults above
        name = line.split("=")[0].strip()
        text = "\n".join(
            line if old.split("=")[0].strip() == name else old for old in text.split("\n")
        )
        if line not in text:
            text += line + "\n"
    path = directory / "recondiff.toml"
    path.write_text(text, encoding="utf-8")
    return path


def journal_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def outcomes_by_id(result_outcomes: list[EventOutcome]) -> dict[str, str]:
    return {o.event_id: o.outcome for o in result_outcomes}


def every_kind() -> list[dict[str, Any]]:
    return [
        modify_title(JDOE, "Engineer", "Lead Engineer"),
        membership("add", STAFF, BWONG),
        membership("delete", VPN, ASMITH),
        delete(CDAVIS),
        disable_attribute(ASMITH),
        disable_openldap(BWONG),
        add_person("eve"),
    ]


# -- filters -------------------------------------------------------------------------


def test_filter_escaping_is_rfc4515() -> None:
    assert escape_filter_value("a*(b)\\") == "a\\2a\\28b\\29\\5c"
    assert escape_filter_value(" x ") == "\\20x\\20"
    assert escape_filter_value("é") == "\\c3\\a9"
    assert assertion_filter([pre("title", "Eng"), pre("mail")]) == "(&(title=Eng)(!(mail=*)))"
    assert assertion_filter([pre("title", "Eng")]) == "(title=Eng)"
    assert assertion_filter([]) is None


# -- applying ------------------------------------------------------------------------


def test_every_kind_is_applied(ldap_server: Slapd, tmp_path: Path) -> None:
    events = every_kind()
    plan = write_plan(tmp_path / "plan.jsonl", events)
    seen: list[EventOutcome] = []
    result = apply_plan(plan, target(ldap_server), after_event=seen.append)
    assert [o.outcome for o in result.outcomes] == ["applied"] * len(events), result.outcomes
    assert seen == result.outcomes
    assert result.exit_code == 0
    assert result.assertion_control
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]
    assert ldap_server.values(STAFF, "member") == [JDOE, ASMITH, BWONG]
    assert ldap_server.values(BWONG, "memberOf") == [STAFF]
    assert ASMITH not in ldap_server.values(VPN, "member")
    assert ldap_server.values(ASMITH, "memberOf") == [STAFF]  # memberOf followed the group
    assert ldap_server.entry(CDAVIS) is None
    assert CDAVIS not in ldap_server.values(VPN, "member")  # refint
    assert ldap_server.values(ASMITH, "employeeType") == ["disabled"]
    assert ldap_server.values(BWONG, "pwdAccountLockedTime") == ["000001010000Z"]
    assert ldap_server.values(f"uid=eve,ou=people,{BASE}", "title") == ["New Hire"]
    # The journal: started then applied, in plan order, with the plan's id and digest.
    lines = journal_lines(default_journal(plan))
    assert [(line["event"], line["outcome"]) for line in lines] == [
        (e["id"], o) for e in events for o in ("started", "applied")
    ]
    written = read_header(plan)
    assert {(line["plan"], line["digest"]) for line in lines} == {
        (written["plan_id"], written["digest"])
    }
    # A second run changes nothing and sends nothing: everything is in the journal.
    again = apply_plan(plan, target(ldap_server))
    assert all(o.previous and o.outcome == "applied" for o in again.outcomes)
    assert len(journal_lines(default_journal(plan))) == len(lines)


def test_changed_value_is_stale_and_untouched(ldap_server: Slapd, tmp_path: Path) -> None:
    ldap_server.modify(
        f"dn: {JDOE}\nchangetype: modify\nreplace: title\ntitle: Manager\n-\n"
    )
    stale = modify_title(JDOE, "Engineer", "Lead Engineer")
    member_again = membership("add", STAFF, JDOE)  # already a member: value-level 20
    fine = modify_title(ASMITH, "Analyst", "Senior Analyst")
    plan = write_plan(tmp_path / "plan.jsonl", [stale, member_again, fine])
    result = apply_plan(plan, target(ldap_server))
    by_id = {o.event_id: o for o in result.outcomes}
    assert by_id[stale["id"]].outcome == "stale"
    assert by_id[stale["id"]].result == 122
    assert "title is 'Manager' on the server, the plan expected 'Engineer'" in by_id[stale["id"]].message
    assert (by_id[member_again["id"]].outcome, by_id[member_again["id"]].result) == ("stale", 20)
    assert by_id[fine["id"]].outcome == "applied"
    assert result.exit_code == 1
    assert ldap_server.values(JDOE, "title") == ["Manager"]
    assert ldap_server.values(ASMITH, "title") == ["Senior Analyst"]
    # Stale is final: a re-run does not retry (nor force) it.
    ldap_server.modify(f"dn: {JDOE}\nchangetype: modify\nreplace: title\ntitle: Engineer\n-\n")
    again = apply_plan(plan, target(ldap_server))
    assert {o.event_id: (o.outcome, o.previous) for o in again.outcomes}[stale["id"]] == ("stale", True)
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


def test_membership_events_keep_memberof_right(ldap_server: Slapd, tmp_path: Path) -> None:
    """slapd's memberof overlay applies a group modify's assertion to its own update of
    the member's memberOf, so membership events rely on value-level checks instead."""
    gone = membership("delete", VPN, JDOE)
    already_gone = membership("delete", STAFF, BWONG)  # bwong is not in staff: 16, stale
    guarded = event(  # a precondition the modify does not check by itself: searched first
        "modify", VPN, [change("add", "member", BWONG)], [pre("cn", "vpn"), pre("member", ASMITH)],
        member_of={"key": "bwong", "dn": BWONG},
    )
    unguarded = event(
        "modify", STAFF, [change("add", "member", CDAVIS)], [pre("cn", "not-staff")],
        member_of={"key": "cdavis", "dn": CDAVIS},
    )
    plan = write_plan(tmp_path / "plan.jsonl", [gone, already_gone, guarded, unguarded])
    result = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.result) for o in result.outcomes] == [
        ("applied", 0), ("stale", 16), ("applied", 0), ("stale", 122),
    ]
    assert result.outcomes[3].message.startswith("assertionFailed (122): checked with a search before sending")
    assert ldap_server.values(JDOE, "memberOf") == [STAFF]
    assert ldap_server.values(BWONG, "memberOf") == [VPN]
    assert ldap_server.values(CDAVIS, "memberOf") == [VPN]


def test_odd_values_round_trip_through_the_assertion(ldap_server: Slapd, tmp_path: Path) -> None:
    odd = " Lead (acting) * ü\\ "
    ldap_server.modify(
        f"dn: {JDOE}\nchangetype: modify\nreplace: title\ntitle:: "
        + __import__("base64").b64encode(odd.encode()).decode()
        + "\n-\n"
    )
    ev = modify_title(JDOE, odd, "Plain")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    dry = apply_plan(plan, target(ldap_server), dry_run=True)  # the same filter in a search
    assert [o.outcome for o in dry.outcomes] == ["would_apply"]
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"]
    assert ldap_server.values(JDOE, "title") == ["Plain"]


def test_deleted_entry_is_stale(ldap_server: Slapd, tmp_path: Path) -> None:
    ldap_server.modify(f"dn: {CDAVIS}\nchangetype: delete\n")
    ev = delete(CDAVIS)
    plan = write_plan(tmp_path / "plan.jsonl", [ev, add_person("bwong")])
    result = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.result) for o in result.outcomes] == [("stale", 32), ("stale", 68)]


def test_malformed_event_fails_without_stopping_the_run(ldap_server: Slapd, tmp_path: Path) -> None:
    classless = event("add", f"uid=nobody,ou=people,{BASE}", [change("add", "uid", "nobody")], situation="missing")
    schema_violation = event("modify", JDOE, [change("add", "noSuchAttributeType", "x")])
    fine = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [classless, schema_violation, fine])
    result = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.result) for o in result.outcomes] == [("failed", None), ("failed", 17), ("applied", 0)]
    assert result.outcomes[0].message == "not sent: objectClass attribute is mandatory"
    assert result.outcomes[1].message.startswith("undefinedAttributeType (17)")
    assert result.exit_code == 1


# -- crash and resume ------------------------------------------------------------------


def test_server_killed_mid_apply_then_rerun_applies_each_event_once(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    events = every_kind()
    plan = write_plan(tmp_path / "plan.jsonl", events)
    applied: list[str] = []

    def kill_after_second(outcome: EventOutcome) -> None:
        applied.append(outcome.event_id)
        if len(applied) == 2:
            ldap_server.kill()

    with pytest.raises(LdapError) as caught:
        apply_plan(plan, target(ldap_server), after_event=kill_after_second)
    message = str(caught.value)
    assert message.startswith(f"{ldap_server.url}: lost the connection (")
    assert message.endswith(f"re-run the same command to resume from the journal {default_journal(plan)}")
    assert events[2]["id"] in message
    journal = default_journal(plan)
    assert journal_lines(journal)[-1] == {**journal_lines(journal)[-1], "event": events[2]["id"], "outcome": "started"}

    ldap_server.restart()
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied"] * len(events)
    assert [o.previous for o in result.outcomes] == [True, True] + [False] * (len(events) - 2)
    finals = [(line["event"], line["outcome"]) for line in journal_lines(journal) if line["outcome"] != "started"]
    assert finals == [(e["id"], "applied") for e in events]  # once each, in order
    assert ldap_server.values(STAFF, "member") == [JDOE, ASMITH, BWONG]
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]
    assert ldap_server.entry(CDAVIS) is None


def test_event_sent_but_not_journalled_is_verified_not_resent(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """The process died after the server applied an event, before its `applied` line."""
    events = every_kind()
    plan = write_plan(tmp_path / "plan.jsonl", events)

    def interrupt_after_second(outcome: EventOutcome) -> None:
        if outcome.event_id == events[1]["id"]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        apply_plan(plan, target(ldap_server), after_event=interrupt_after_second)
    journal = default_journal(plan)
    lines = journal.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [json.loads(line)["outcome"] for line in lines] == ["started", "applied"] * 2
    # Drop event 2's `applied` line and leave a half-written one instead, as if
    # the process died after the server applied it, while journalling it.
    journal.write_text("".join(lines[:-1]) + '{"event": "ev-', encoding="utf-8")

    result = apply_plan(plan, target(ldap_server))
    by_id = {o.event_id: o for o in result.outcomes}
    assert by_id[events[1]["id"]].outcome == "applied"
    assert "already on the server" in by_id[events[1]["id"]].message
    assert [o.outcome for o in result.outcomes] == ["applied"] * len(events)
    assert ldap_server.values(STAFF, "member") == [JDOE, ASMITH, BWONG]
    finals = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines()]
    assert [(f["event"], f["outcome"]) for f in finals if f["outcome"] != "started"] == [
        (e["id"], "applied") for e in events
    ]


# -- safety ----------------------------------------------------------------------------


def test_mass_change_is_refused_unless_allowed(ldap_server: Slapd, tmp_path: Path) -> None:
    events = [delete(CDAVIS), disable_attribute(ASMITH), disable_openldap(BWONG)]
    plan = write_plan(tmp_path / "plan.jsonl", events, max_deletes=2)
    with pytest.raises(SafetyError) as caught:
        apply_plan(plan, target(ldap_server))
    assert str(caught.value) == (
        f"{plan}: the plan deletes or disables 3 accounts (3.0% of the endpoint's 100 rows), "
        "over its safety limits (max_deletes 2, max_delete_percent 50); review the plan, "
        "then allow it with --allow-mass-change 3"
    )
    with pytest.raises(SafetyError):
        apply_plan(plan, target(ldap_server), allow_mass_change=2)
    assert not default_journal(plan).exists()
    assert ldap_server.entry(CDAVIS) is not None
    result = apply_plan(plan, target(ldap_server), allow_mass_change=3)
    assert [o.outcome for o in result.outcomes] == ["applied"] * 3


def test_mass_change_percentage(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [delete(CDAVIS), disable_attribute(ASMITH)], rows=10, max_delete_percent=10.0)
    with pytest.raises(SafetyError, match=r"2 accounts \(20.0% of the endpoint's 10 rows\)"):
        apply_plan(plan, target(ldap_server))
    # Pending deletes do not count: only the events apply would run.
    pending = write_plan(tmp_path / "p2.json", [delete(CDAVIS, state="pending"), disable_attribute(ASMITH)], rows=10, max_delete_percent=10.0)
    assert [o.outcome for o in apply_plan(pending, target(ldap_server)).outcomes] == ["skipped", "applied"]


def test_protected_keys_are_never_touched(ldap_server: Slapd, tmp_path: Path) -> None:
    admin_delete = delete(ADMIN)  # key "administrator", protected as "Administrator"
    admin_membership = membership("add", STAFF, ADMIN)  # member_of.key is protected
    fine = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [admin_delete, admin_membership, fine])
    result = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.message) for o in result.outcomes] == [
        ("failed", "administrator is a protected account ([endpoint] protected); recondiff never changes it"),
        ("failed", "administrator is a protected account ([endpoint] protected); recondiff never changes it"),
        ("applied", f"modify {JDOE} (title)"),
    ]
    assert result.exit_code == 1
    assert ldap_server.entry(ADMIN) is not None
    assert ADMIN not in ldap_server.values(STAFF, "member")


def test_event_without_dn_is_refused(ldap_server: Slapd, tmp_path: Path) -> None:
    no_dn = event("modify", None, [change("replace", "title", "x")], key="jdoe")
    plan = write_plan(tmp_path / "plan.jsonl", [no_dn])
    result = apply_plan(plan, target(ldap_server))
    (only,) = result.outcomes
    assert only.outcome == "failed"
    assert only.message.startswith("the endpoint snapshot had no DN column (dn or distinguishedName)")


def test_pending_rejected_and_repository_events_do_not_run(ldap_server: Slapd, tmp_path: Path) -> None:
    pending = modify_title(JDOE, "Engineer", "Pending", state="pending")
    rejected = modify_title(ASMITH, "Analyst", "Rejected", state="rejected")
    approved = modify_title(BWONG, "Designer", "Approved", state="approved")
    repo = event("modify", None, [change("replace", "title", "x")], key="1", target="repository")
    plan = write_plan(tmp_path / "plan.jsonl", [pending, rejected, approved, repo])
    result = apply_plan(plan, target(ldap_server))
    assert [(o.event_id, o.outcome, o.message) for o in result.outcomes] == [
        (pending["id"], "skipped", "pending approval"),
        (rejected["id"], "skipped", "rejected by cab"),
        (approved["id"], "applied", f"modify {BWONG} (title)"),
    ]
    assert result.exit_code == 0
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    assert ldap_server.values(ASMITH, "title") == ["Analyst"]
    assert ldap_server.values(BWONG, "title") == ["Approved"]
    skipped = [line["event"] for line in journal_lines(default_journal(plan)) if line["outcome"] == "skipped"]
    assert skipped == [pending["id"], rejected["id"]]
    apply_plan(plan, target(ldap_server))  # skipped lines are not repeated
    assert len(journal_lines(default_journal(plan))) == 4


# -- dry run, plan and journal checks ------------------------------------------------


def test_dry_run_changes_nothing_and_writes_no_journal(ldap_server: Slapd, tmp_path: Path) -> None:
    ldap_server.modify(f"dn: {ASMITH}\nchangetype: modify\nreplace: employeeType\nemployeeType: contractor\n-\n")
    events = every_kind()
    plan = write_plan(tmp_path / "plan.jsonl", events)
    before = {dn: ldap_server.entry(dn) for dn in (JDOE, ASMITH, BWONG, CDAVIS, STAFF, VPN)}
    result = apply_plan(plan, target(ldap_server), dry_run=True)
    assert [o.outcome for o in result.outcomes] == [
        "would_apply", "would_apply", "would_apply", "would_apply", "would_be_stale", "would_apply", "would_apply",
    ]
    assert "employeeType is 'contractor' on the server, the plan expected 'active'" in result.outcomes[4].message
    assert result.exit_code == 1
    assert not default_journal(plan).exists()
    assert {dn: ldap_server.entry(dn) for dn in before} == before
    assert ldap_server.entry(f"uid=eve,ou=people,{BASE}") is None


def test_hand_edited_plan_is_refused(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    header, line = plan.read_bytes().splitlines()
    event = json.loads(line)
    event["changes"][1]["values"] = ["CEO"]
    plan.write_bytes(header + b"\n" + canonical(event) + b"\n")
    with pytest.raises(InputError, match="does not match its digest"):
        apply_plan(plan, target(ldap_server))
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


def test_journal_of_another_plan_is_refused(ldap_server: Slapd, tmp_path: Path) -> None:
    one = write_plan(tmp_path / "one.json", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    two = write_plan(
        tmp_path / "two.json",
        [modify_title(ASMITH, "Analyst", "Lead Analyst")],
        plan_id="pl-fedcba9876543210",
    )
    apply_plan(one, target(ldap_server))
    with pytest.raises(JournalError, match="this journal belongs to another plan"):
        apply_plan(two, target(ldap_server), journal_path=default_journal(one))
    assert ldap_server.values(ASMITH, "title") == ["Analyst"]


def test_events_approved_after_a_partial_apply_run_with_the_same_journal(
    ldap_server: Slapd, tmp_path: Path
) -> None:
    """The board approves in two sittings: the second apply runs only what is new,
    although approving changed the plan's digest."""

    first = modify_title(JDOE, "Engineer", "Lead Engineer", state="approved")
    later = modify_title(ASMITH, "Analyst", "Lead Analyst", state="pending")
    plan = write_plan(tmp_path / "plan.jsonl", [first, later])
    result = apply_plan(plan, target(ldap_server))
    assert [o.outcome for o in result.outcomes] == ["applied", "skipped"]

    review.decide_file(plan, [later["id"]], "approved", "cab")
    again = apply_plan(plan, target(ldap_server))
    assert [(o.outcome, o.previous) for o in again.outcomes] == [
        ("applied", True), ("applied", False)
    ]
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]  # not sent twice
    assert ldap_server.values(ASMITH, "title") == ["Lead Analyst"]


def test_a_journal_in_use_is_refused(ldap_server: Slapd, tmp_path: Path) -> None:
    from recondiff.apply.journal import Journal

    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    written = read_header(plan)
    holder = Journal(default_journal(plan), written["plan_id"], written["digest"])
    holder.open()
    try:
        with pytest.raises(JournalError, match="another recondiff apply is using this journal"):
            apply_plan(plan, target(ldap_server))
    finally:
        holder.close()
    assert ldap_server.values(JDOE, "title") == ["Engineer"]


# -- connection errors -----------------------------------------------------------------


def test_connection_errors_are_one_line(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    wrong = LdapTarget(ldap_server.url, ldap_server.admin_dn, "not-the-password", allow_plaintext=True)
    with pytest.raises(LdapError) as caught:
        apply_plan(plan, wrong)
    assert str(caught.value) == (
        f"{ldap_server.url}: bind as {ldap_server.admin_dn} failed (invalidCredentials (49))"
    )
    ldap_server.stop()
    with pytest.raises(LdapError) as caught:
        apply_plan(plan, target(ldap_server))
    assert str(caught.value).startswith(f"{ldap_server.url}: cannot connect (")
    assert "\n" not in str(caught.value)
    with pytest.raises(LdapError, match="not an LDAP URL"):
        apply_plan(plan, LdapTarget("http://x", "cn=a", "pw"))
    assert not default_journal(plan).exists()


# -- the command line --------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, unsigned(args), env=env, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def cli_args(server: Slapd, plan: Path, *extra: str) -> list[str]:
    config = plan.parent / "recondiff.toml"
    if not config.exists():
        write_config(plan.parent)
    return [
        "apply", str(plan), "--url", server.url, "--bind-dn", server.admin_dn,
        "--allow-plaintext", "--config", str(config), *extra,
    ]  # fmt: skip


def test_cli_applies_and_reports(ldap_server: Slapd, tmp_path: Path) -> None:
    ev = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    code, out, err = run_cli(*cli_args(ldap_server, plan, "--password-env", "RD_PW"), env={"RD_PW": ldap_server.password})
    assert code == 0, err
    assert out == f"{ev['id']}\tapplied\tmodify {JDOE} (title)\n"
    assert err == f"recondiff: applied 1 (journal {default_journal(plan)})\n"
    assert ldap_server.password not in out + err


def test_cli_stale_exits_1_and_password_file(ldap_server: Slapd, tmp_path: Path) -> None:
    ldap_server.modify(f"dn: {JDOE}\nchangetype: modify\nreplace: title\ntitle: Manager\n-\n")
    ev = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    secret = tmp_path / "pw"
    secret.write_text(ldap_server.password + "\n")
    journal = tmp_path / "j.jsonl"
    code, out, err = run_cli(*cli_args(ldap_server, plan, "--password-file", str(secret), "--journal", str(journal), "-q"))
    assert code == 1
    assert out.startswith(f"{ev['id']}\tstale\tassertionFailed (122)")
    assert err == ""
    assert journal.exists()


def test_cli_dry_run(ldap_server: Slapd, tmp_path: Path) -> None:
    ev = modify_title(JDOE, "Engineer", "Lead Engineer")
    plan = write_plan(tmp_path / "plan.jsonl", [ev])
    code, out, err = run_cli(*cli_args(ldap_server, plan, "--password-env", "RD_PW", "--dry-run"), env={"RD_PW": ldap_server.password})
    assert code == 0, err
    assert out == f"{ev['id']}\twould_apply\tmodify {JDOE} (title)\n"
    assert err == "recondiff: dry run, nothing written: would_apply 1\n"
    assert ldap_server.values(JDOE, "title") == ["Engineer"]
    assert not default_journal(plan).exists()


def test_cli_errors_are_one_line_exit_2(ldap_server: Slapd, tmp_path: Path) -> None:
    events = [delete(CDAVIS), disable_attribute(ASMITH)]
    plan = write_plan(tmp_path / "plan.jsonl", events, max_deletes=1)
    env = {"RD_PW": ldap_server.password}
    code, out, err = run_cli(*cli_args(ldap_server, plan, "--password-env", "RD_PW"), env=env)
    assert (code, out) == (2, "")
    assert err == (
        f"recondiff: error: {plan}: the plan deletes or disables 2 accounts (2.0% of the endpoint's "
        "100 rows), over its safety limits (max_deletes 1, max_delete_percent 50); review the plan, "
        "then allow it with --allow-mass-change 2\n"
    )
    code, out, err = run_cli(*cli_args(ldap_server, plan, "--password-env", "RD_PW", "--allow-mass-change", "2"), env=env)
    assert code == 0, err

    code, _, err = run_cli(*cli_args(ldap_server, plan, "--password-env", "NOPE_UNSET"), env={"NOPE_UNSET": ""})
    assert code == 2
    assert err == "recondiff: error: Invalid value for --password-env: the environment variable NOPE_UNSET is empty or not set (see 'recondiff apply --help')\n"
    code, _, err = run_cli(*cli_args(ldap_server, plan))
    assert code == 2
    assert err == "recondiff: error: give the bind password with --password-env VAR or --password-file F (see 'recondiff apply --help')\n"
    code, _, err = run_cli(*cli_args(ldap_server, plan, "--password", "x"))
    assert code == 2
    assert err.startswith("recondiff: error: No such option '--password'.")
    assert err.count("\n") == 1

    small = write_plan(tmp_path / "small.json", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    code, _, err = run_cli("apply", str(small), "--url", "ldap://127.0.0.1:1", "--bind-dn", "cn=x", "--password-env", "RD_PW", "--allow-plaintext", "--config", str(write_config(tmp_path)), env=env)
    assert code == 2
    assert err.startswith("recondiff: error: ldap://127.0.0.1:1: cannot connect (")
    assert err.count("\n") == 1
    assert ldap_server.password not in err


# -- TLS -------------------------------------------------------------------------------


@pytest.mark.system
def test_starttls_and_ldaps_verify_the_certificate(tmp_path: Path) -> None:
    from tests.conftest import require_system
    from tests.slapd import DIRECTORY, OPENSSL, available

    require_system("slapd (Debian packages slapd and ldap-utils)", available())
    require_system("openssl", OPENSSL is not None)
    with Slapd(tmp_path / "tls", tls=True) as server:
        server.load(DIRECTORY)
        plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
        assert server.ca_file is not None
        # The certificate is not trusted by the system: refused without --ca-file.
        with pytest.raises(LdapError) as caught:
            apply_plan(plan, target(server, starttls=True), dry_run=True)
        assert str(caught.value).startswith(f"{server.url}: cannot connect (")
        dry = apply_plan(plan, target(server, starttls=True, ca_file=server.ca_file), dry_run=True)
        assert [o.outcome for o in dry.outcomes] == ["would_apply"]
        over_ldaps = LdapTarget(server.ldaps_url, server.admin_dn, server.password, ca_file=server.ca_file)
        result = apply_plan(plan, over_ldaps)
        assert [o.outcome for o in result.outcomes] == ["applied"]
        assert server.values(JDOE, "title") == ["Lead Engineer"]
        with pytest.raises(LdapError, match="StartTLS is for ldap:// URLs"):
            apply_plan(plan, LdapTarget(server.ldaps_url, "cn=x", "pw", starttls=True))


def test_cli_progress_on_stderr_when_asked(ldap_server: Slapd, tmp_path: Path) -> None:
    plan = write_plan(tmp_path / "plan.jsonl", [modify_title(JDOE, "Engineer", "Lead Engineer")])
    env = {"RD_PW": ldap_server.password, "RECONDIFF_PROGRESS": "1"}
    code, out, err = run_cli(*cli_args(ldap_server, plan, "--password-env", "RD_PW"), env=env)
    assert code == 0
    lines = err.splitlines()
    assert lines[0].startswith("recondiff: [") and lines[0].endswith(
        "plan NOT signed; no decisions; decisions head " + read_header(plan)["digest"][:19] + "…"
    )
    assert lines[1].endswith(f"connecting to {ldap_server.url}…")
    assert lines[2].endswith("1 events to run, with the assertion control…")
    assert lines[-1] == f"recondiff: applied 1 (journal {default_journal(plan)})"
    assert out.count("\n") == 1
