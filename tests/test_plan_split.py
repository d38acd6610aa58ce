"""Auto changes do not wait for reviewed ones (issue 16, point 7; docs/plan.md).

An account's automatic attribute changes and its changes that need review are
two modify events, each atomic with its own preconditions. The tiny case in
tests/data/plan_split/ writes down the split it must give (README.md,
expected_events.json); the slapd test applies it: with nothing approved the
auto changes land and the reviewed one waits, untouched on the server; once
approved it applies, not stale.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from recondiff.apply.transport import LdapTarget
from recondiff.compare import compare
from recondiff.plan.file import event_id, load_plan
from recondiff.review import decide_file
from tests.conftest import ROOT, SampleRun, require_system
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd, available

CASE = ROOT / "tests" / "data" / "plan_split"
LDAPSEARCH = shutil.which("ldapsearch")
JDOE = "uid=jdoe,ou=people,dc=example,dc=org"
ASMITH = "uid=asmith,ou=people,dc=example,dc=org"


def _run_dir(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    for name in ("recondiff.toml", "identities.csv", "export.ldif"):
        shutil.copy(CASE / name, run / name)
    return run


def _projected(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The events as expected_events.json writes them."""
    return [
        {
            "key": e["object"]["key"],
            "response": e["response"],
            "state": e["approval"]["state"],
            "changes": [[c["op"], c["attribute"], c["values"]] for c in e["changes"]],
            "preconditions": [[p["attribute"], p["values"]] for p in e["preconditions"]],
        }
        for e in plan["events"]
    ]


def _expected() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        (CASE / "expected_events.json").read_text(encoding="utf-8")
    )
    return data


def _attributes(items: list[dict[str, Any]], uuid_attr: str | None) -> set[str]:
    return {i["attribute"].lower() for i in items} - {(uuid_attr or "").lower()}


def assert_split_is_safe(plan: dict[str, Any]) -> None:
    """Among each account's attribute modifies (memberships aside): an auto one
    carries no reviewed drift, a reviewed one is pending, and an auto and a
    reviewed one share no attribute, in their changes or their preconditions
    (the entry's UUID aside, which each asserts first when the export has it)."""
    uuid_attr = plan["endpoint"]["uuid_attribute"]
    by_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in plan["events"]:
        attribute_modify = e["operation"] == "modify" and "drift" in e["reason"]
        if e["target"] == "endpoint" and attribute_modify and "member_of" not in e["object"]:
            by_account[e["object"]["key"]].append(e)
    for key, events in by_account.items():
        for e in events:
            reviewed = any(d["response"] == "review" for d in e["reason"]["drift"])
            assert e["approval"]["required"] == reviewed, e["id"]
            if uuid_attr:
                assert e["preconditions"][0]["attribute"] == uuid_attr, e["id"]
        autos = [e for e in events if not e["approval"]["required"]]
        held = [e for e in events if e["approval"]["required"]]
        for a in autos:
            for r in held:
                assert a["id"] != r["id"]
                touched = [
                    _attributes(e["changes"], uuid_attr)
                    | _attributes(e["preconditions"], uuid_attr)
                    for e in (a, r)
                ]
                common = touched[0] & touched[1]
                assert not common, f"{key}: {a['id']} and {r['id']} both touch {common}"


def test_the_tiny_case_splits_as_written_down(tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    compare(run / "recondiff.toml", run / "out")
    plan = load_plan(run / "out" / "plan.jsonl")
    assert _projected(plan) == _expected()
    # the id covers the changes: recomputed the documented way, and distinct
    ids = [e["id"] for e in plan["events"]]
    assert ids == [
        event_id(e["target"], e["operation"], e["object"], e["changes"]) for e in plan["events"]
    ]
    assert len(set(ids)) == len(ids)
    assert_split_is_safe(plan)
    # the same inputs give the same events in the same order
    compare(run / "recondiff.toml", run / "again")
    assert [e["id"] for e in load_plan(run / "again" / "plan.jsonl")["events"]] == ids


def test_the_sample_plan_splits_safely(sample_run: SampleRun) -> None:
    """slaurent's sn and displayName (update_endpoint) no longer wait for its mail
    and proxyAddresses (review)."""
    plan = load_plan(sample_run.out / "plan.jsonl")
    assert_split_is_safe(plan)
    slaurent = [
        (e["response"], e["approval"]["state"], sorted({c["attribute"] for c in e["changes"]}))
        for e in plan["events"]
        if e["object"]["key"] == "slaurent"
    ]
    assert slaurent == [
        ("update_endpoint", "auto", ["displayName", "sn"]),
        ("review", "pending", ["mail", "proxyAddresses"]),
    ]


# -- against slapd -------------------------------------------------------------------


@pytest.fixture
def server(tmp_path: Path) -> Any:
    require_system("slapd (Debian packages slapd and ldap-utils)", available() and bool(LDAPSEARCH))
    ldap = Slapd(tmp_path / "slapd")
    try:
        ldap.load(CASE / "directory.ldif")
        yield ldap
    finally:
        ldap.stop()


def _export(ldap: Slapd, out: Path) -> None:
    """The people with their entryUUID, as an operator would export them."""
    assert LDAPSEARCH
    result = subprocess.run(
        [LDAPSEARCH, "-LLL", "-x", "-o", "ldif-wrap=no", "-H", ldap.url, "-D", ldap.admin_dn,
         "-y", str(ldap.password_file), "-b", f"ou=people,{ldap.base}",
         "(objectClass=inetOrgPerson)", "*", "entryUUID"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out.write_text(result.stdout, encoding="utf-8")


def _without_uuids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        e | {"preconditions": [p for p in e["preconditions"] if p[0] != "entryUUID"]}
        for e in events
    ]


@pytest.mark.system
def test_auto_changes_apply_while_the_reviewed_one_waits(server: Slapd, tmp_path: Path) -> None:
    run = _run_dir(tmp_path)
    _export(server, run / "export.ldif")
    compare(run / "recondiff.toml", run / "out")
    plan_path = run / "out" / "plan.jsonl"
    plan = load_plan(plan_path)
    assert plan["endpoint"]["uuid_attribute"] == "entryUUID"
    assert _without_uuids(_projected(plan)) == _without_uuids(_expected())
    jdoe_uuid = server.values(JDOE, "entryUUID")
    for e in plan["events"]:  # every event asserts the entry it was planned for
        assert e["preconditions"][0]["attribute"] == "entryUUID"
    assert [e["preconditions"][0]["values"] for e in plan["events"][:2]] == [jdoe_uuid] * 2
    auto, review, other = (e["id"] for e in plan["events"])

    target = LdapTarget(server.url, server.admin_dn, server.password, allow_plaintext=True)
    allow = {"modifies": 3}  # two accounts: any modify is over the percentage default
    # nothing approved: the auto changes are applied, the reviewed one waits
    first = apply_plan(plan_path, target, allow=allow)
    assert [(o.event_id, o.outcome) for o in first.outcomes] == [
        (auto, "applied"), (review, "skipped"), (other, "applied"),
    ]  # fmt: skip
    assert server.values(JDOE, "sn") == ["Doe-Smith"]
    assert server.values(JDOE, "title") == ["Senior Engineer"]
    assert server.values(ASMITH, "title") == ["Lead Analyst"]
    assert server.values(JDOE, "mail") == ["jdoe@example.org"]  # still pending, unchanged
    assert sorted(server.values(JDOE, "telephoneNumber")) == ["555-0100", "900-0001"]
    assert load_plan(plan_path)["events"][1]["approval"]["state"] == "pending"

    # approved now: it applies, and is not stale (the auto one touched none of its attributes)
    decide_file(plan_path, [review], "approved", "change-board", "CHG-7")
    second = apply_plan(plan_path, target, allow=allow)
    outcomes = {o.event_id: o.outcome for o in second.outcomes}
    assert outcomes[review] == "applied", second.outcomes
    assert second.exit_code == 0
    assert server.values(JDOE, "mail") == ["john.doe-smith@example.org"]
    assert sorted(server.values(JDOE, "telephoneNumber")) == ["555-0100", "555-0199"]
    assert server.values(JDOE, "sn") == ["Doe-Smith"]
