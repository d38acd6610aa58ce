"""Plan checks for the policy cases of ``tests/cases/`` (issue 18): what the
plan proposes, or must not propose, because of the identity policies. The
tables of those cases are checked by tests/test_cases.py; this file reads
``plan.jsonl``, written by hand expectations like the cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recondiff.compare import compare
from tests.conftest import SampleRun

CASES = Path(__file__).parent / "cases"
GROUP = "CN={},OU=Groups,DC=example,DC=org"


def _run(case: Path, out: Path) -> tuple[int, list[dict[str, Any]]]:
    result = compare(case / "recondiff.toml", out)
    lines = (out / "plan.jsonl").read_text(encoding="utf-8").splitlines()
    return result.exit_code, [e for e in map(json.loads, lines) if e.get("id")]


def _about(events: list[dict[str, Any]], account: str, identity: str) -> list[dict[str, Any]]:
    """Events whose object is the account or the identity (a membership
    event names the account under ``member_of``)."""
    found = []
    for e in events:
        obj = e.get("object") or {}
        member = obj.get("member_of") or {}
        if account in (obj.get("key"), member.get("key")) or obj.get("identity_key") == identity:
            found.append(e)
    return found


def _added(event: dict[str, Any]) -> dict[str, list[str]]:
    """attribute (lower case) -> values the event adds or replaces."""
    out: dict[str, list[str]] = {}
    for change in event.get("changes") or []:
        if change.get("op") in ("add", "replace"):
            out.setdefault(change["attribute"].lower(), []).extend(change.get("values") or [])
    return out


def _after(event: dict[str, Any], attribute: str, before: list[str]) -> list[str]:
    """The values of ``attribute`` once the event's changes are applied, in
    order, to ``before`` (however the event spells them: add/delete or replace)."""
    values = list(before)
    for change in event.get("changes") or []:
        if change["attribute"].lower() != attribute.lower():
            continue
        given = change.get("values") or []
        if change["op"] == "replace":
            values = list(given)
        elif change["op"] == "delete":
            values = [v for v in values if v not in given] if given else []
        elif change["op"] == "add":
            values += [v for v in given if v not in values]
    return values


def _touched(event: dict[str, Any]) -> set[str]:
    return {c["attribute"].lower() for c in event.get("changes") or []}


def test_conflict_proposes_no_event_for_the_attribute(tmp_path: Path) -> None:
    """policy-conflict: office-lyon and remote-worker set alice's office to
    different values. Nothing in the plan changes her office, on either side,
    and no event carries either policy's value; the run still exits 1."""
    exit_code, events = _run(CASES / "policy-conflict", tmp_path / "out")
    assert exit_code == 1
    for e in _about(events, "alice", "E01"):
        assert not _touched(e) & {"physicaldeliveryofficename", "office"}, e
        text = json.dumps(e.get("changes"))
        assert "Lyon HQ" not in text and "Remote" not in text, e


def test_conflict_control_one_policy_gives_the_events(tmp_path: Path) -> None:
    """The same case without remote-worker: office-lyon alone sets alice's
    office to Lyon HQ, so the plan does hold an endpoint event writing it and a
    repository event recording it (the conflict test above is not vacuous)."""
    case = tmp_path / "case"
    shutil.copytree(CASES / "policy-conflict", case)
    toml = (case / "recondiff.toml").read_text(encoding="utf-8")
    start = toml.index('[[policy]]\nname = "remote-worker"')
    end = toml.index("[[attribute]]")
    (case / "recondiff.toml").write_text(toml[:start] + toml[end:], encoding="utf-8")
    _, events = _run(case, tmp_path / "out")
    mine = _about(events, "alice", "E01")
    endpoint = [e for e in mine if e["target"] == "endpoint"]
    repository = [e for e in mine if e["target"] == "repository"]
    assert any(_added(e).get("physicaldeliveryofficename") == ["Lyon HQ"] for e in endpoint), mine
    assert any("Lyon HQ" in _added(e).get("office", []) for e in repository), mine


def test_seed_recursion_1_feeds_the_department_not_the_group(tmp_path: Path) -> None:
    """policy-seed-recursion-1: the repository event of E01 records the new
    department and the applied list [role-manager], and nothing on groups (the
    group waits for the next sync); the endpoint event for alice's department
    says which policy expects it."""
    _, events = _run(CASES / "policy-seed-recursion-1", tmp_path / "out")
    mine = _about(events, "alice", "E01")
    repository = [e for e in mine if e["target"] == "repository"]
    assert len(repository) == 1, mine
    event = repository[0]
    assert _after(event, "department", ["Sales"]) == ["Management"], event
    assert _after(event, "applied_policies", []) == ["role-manager"], event
    assert "groups" not in _touched(event), event
    endpoint = [e for e in mine if e["target"] == "endpoint" and "department" in _touched(e)]
    assert len(endpoint) == 1, mine
    assert "role-manager" in json.dumps(endpoint[0]["reason"]), endpoint[0]
    assert not [e for e in events if "memberof" in _touched(e) or "member" in _touched(e)], events
    # bob: no policy applies, no event
    assert not _about(events, "bob", "E02")


def test_seed_recursion_3_feeds_both_effects(tmp_path: Path) -> None:
    """policy-seed-recursion-3: the repository event of E01 records the
    department, the cn=Managers grant and both policies as applied."""
    _, events = _run(CASES / "policy-seed-recursion-3", tmp_path / "out")
    repository = [e for e in _about(events, "alice", "E01") if e["target"] == "repository"]
    assert len(repository) == 1, events
    event = repository[0]
    staff, managers = (
        "cn=Staff,ou=Groups,dc=example,dc=com",
        "cn=Managers,ou=Groups,dc=example,dc=com",
    )
    assert _after(event, "department", ["Sales"]) == ["Management"], event
    assert sorted(_after(event, "groups", [staff])) == sorted([staff, managers]), event
    assert sorted(_after(event, "applied_policies", [])) == ["management-groups", "role-manager"]


def test_deallocation_feeds_the_removed_grant(tmp_path: Path) -> None:
    """policy-deallocation-keeps-shared-grant: anna's repository event removes
    GG-Finance and finance-staff, and leaves APP-SAP (still granted by
    sap-users) alone."""
    _, events = _run(CASES / "policy-deallocation-keeps-shared-grant", tmp_path / "out")
    repository = [e for e in _about(events, "anna", "E01") if e["target"] == "repository"]
    assert len(repository) == 1, events
    event = repository[0]
    staff, finance, sap = (
        f"CN={g},OU=Groups,DC=example,DC=com" for g in ("GG-Staff", "GG-Finance", "APP-SAP")
    )
    assert sorted(_after(event, "groups", [staff, finance, sap])) == sorted([staff, sap]), event
    assert _after(event, "applied_policies", ["finance-staff", "sap-users"]) == ["sap-users"], event


# ---------------------------------------------------------------- the sample
# sample_data/README.md, "Identity policies": written by hand from the rules.


def _sample_state(out: Path) -> dict[str, dict[str, list[str]]]:
    rows = duckdb.execute(
        "SELECT identity_key, applied_before, applied, allocated, deallocated, reallocated, pending "
        "FROM read_parquet($p)",
        {"p": str(out / "policies.parquet")},
    ).fetchall()
    names = ("applied_before", "applied", "allocated", "deallocated", "reallocated", "pending")
    return {r[0]: {n: sorted(v or []) for n, v in zip(names, r[1:], strict=True)} for r in rows}


def test_sample_policies_change_ines_and_bruno_only(sample_run: SampleRun) -> None:
    """Inès Robin (100152) took the role Purchasing Controller: pass 1 sets her
    department to Finance, pass 2 allocates finance-staff and deallocates
    operations-staff. Bruno Fontaine (100155) left: operations-staff is
    deallocated. Every other identity keeps its applied list, nothing pending."""
    state = _sample_state(sample_run.out)
    assert len(state) == 49  # the identities inside [repository] scope (not the two partners)
    assert state["100152"] == {
        "applied_before": ["operations-staff"],
        "applied": ["finance-staff", "role-purchasing-controller"],
        "allocated": ["finance-staff", "role-purchasing-controller"],
        "deallocated": ["operations-staff"],
        "reallocated": [],
        "pending": [],
    }
    assert state["100155"] == {
        "applied_before": ["operations-staff"],
        "applied": [],
        "allocated": [],
        "deallocated": ["operations-staff"],
        "reallocated": [],
        "pending": [],
    }
    for key, row in state.items():
        if key not in ("100152", "100155"):
            assert row["applied"] == row["applied_before"], (key, row)
            assert not (row["allocated"] or row["deallocated"] or row["pending"]), (key, row)


def test_sample_expected_state(sample_run: SampleRun) -> None:
    """expected.parquet: 5 Finance staff x 2 groups, 7 Operations staff x 2,
    and Inès's department and two groups; each value as the hub spells it
    (Marc Lambert's groups are upper case in the hub)."""
    rows = duckdb.execute(
        "SELECT identity_key, attribute, value, policy FROM read_parquet($p)",
        {"p": str(sample_run.out / "expected.parquet")},
    ).fetchall()
    assert len(rows) == 27, rows
    assert sorted(r for r in rows if r[0] == "100152") == [
        ("100152", "department", "Finance", "role-purchasing-controller"),
        ("100152", "groups", GROUP.format("APP-SAP-Users"), "finance-staff"),
        ("100152", "groups", GROUP.format("GG-Finance"), "finance-staff"),
    ]
    assert sorted(r for r in rows if r[0] == "100150") == [
        ("100150", "groups", "CN=APP-SAP-USERS, OU=GROUPS, DC=EXAMPLE, DC=ORG", "operations-staff"),
        ("100150", "groups", "CN=GG-OPERATIONS, OU=GROUPS, DC=EXAMPLE, DC=ORG", "operations-staff"),
    ]
    assert {r[3] for r in rows if r[0] == "100101"} == {"finance-staff"}
    assert not [r for r in rows if r[0] in ("100155", "100156", "100030")]


def test_sample_plan_feeds_the_policy_changes(sample_run: SampleRun) -> None:
    """The repository events (update_repository, auto) of Inès and Bruno
    carry the new values and applied lists; Inès's account gets her new
    department and title (auto) and the two group changes (review)."""
    lines = (sample_run.out / "plan.jsonl").read_text(encoding="utf-8").splitlines()
    events = [e for e in map(json.loads, lines) if e.get("id")]
    policy_events = [
        e for e in events if e["target"] == "repository" and e["operation"] == "modify"
    ]
    assert sorted(e["object"]["identity_key"] for e in policy_events) == ["100152", "100155"]
    for e in policy_events:
        assert (e["response"], e["approval"]["state"]) == ("update_repository", "auto"), e
    ines = next(e for e in policy_events if e["object"]["identity_key"] == "100152")
    all_staff, ops, sap, fin = (
        GROUP.format(g) for g in ("GG-All-Staff", "GG-Operations", "APP-SAP-Users", "GG-Finance")
    )
    assert _after(ines, "department", ["Operations"]) == ["Finance"], ines
    assert sorted(_after(ines, "groups", [all_staff, ops, sap])) == sorted([all_staff, sap, fin]), (
        ines
    )
    assert sorted(_after(ines, "applied_policies", ["operations-staff"])) == [
        "finance-staff",
        "role-purchasing-controller",
    ]
    bruno = next(e for e in policy_events if e["object"]["identity_key"] == "100155")
    assert _after(bruno, "groups", [all_staff, ops, sap]) == [all_staff], bruno
    assert _after(bruno, "applied_policies", ["operations-staff"]) == [], bruno
    irobin = _about(events, "irobin", "100152")
    auto = [e for e in irobin if e["target"] == "endpoint" and e["response"] == "update_endpoint"]
    assert len(auto) == 1 and _touched(auto[0]) == {"department", "title"}, irobin
    groups = sorted(
        (e["object"]["dn"], e["changes"][0]["op"]) for e in irobin if "member" in _touched(e)
    )
    assert groups == [(fin, "add"), (ops, "delete")], irobin


def test_a_snapshot_that_is_a_policy_output_is_refused(tmp_path: Path) -> None:
    """A repository snapshot kept where the run writes policies.parquet would be
    replaced by the run's own output: refused before anything is written, as
    for drift.parquet, and the snapshot is left as it was."""
    from recondiff.errors import ConfigError
    from recondiff.ingest.exports import ReadOptions, ingest

    case = tmp_path / "case"
    shutil.copytree(CASES / "policy-seed-recursion-1", case)
    out = case / "out"
    out.mkdir()
    for name in ("expected.parquet", "policies.parquet"):
        snapshot = out / name
        ingest(case / "repository.csv", snapshot, "csv",
               ReadOptions(multi_valued=("groups", "applied_policies")))  # fmt: skip
        before = snapshot.read_bytes()
        toml = (CASES / "policy-seed-recursion-1" / "recondiff.toml").read_text(encoding="utf-8")
        toml = toml.replace(
            'snapshot = "repository.csv"', f'snapshot = "out/{name}"\nformat = "parquet"'
        )
        (case / "recondiff.toml").write_text(toml, encoding="utf-8")
        with pytest.raises(ConfigError, match=name):
            compare(case / "recondiff.toml", out)
        assert snapshot.read_bytes() == before


def test_an_unknown_applied_name_is_kept_and_counted(tmp_path: Path) -> None:
    """policy-reapply-restores-value with 'retired-policy' (no such [[policy]])
    in emma's applied list: counted as unknown_applied and kept as it is
    (docs/policies.md: policies managed elsewhere are none of recondiff's
    business), so her record does not change and gets no repository event."""
    case = tmp_path / "case"
    shutil.copytree(CASES / "policy-reapply-restores-value", case)
    repo = case / "repository.csv"
    text = repo.read_text(encoding="utf-8")
    repo.write_text(text.replace(",all-staff\n", ",all-staff;retired-policy\n"), encoding="utf-8")
    result = compare(case / "recondiff.toml", tmp_path / "out")
    assert result.summary["policies"]["unknown_applied"] == 1
    assert result.summary["policies"]["identities_changed"] == 1  # ravi only, as in the case
    state = _sample_state(tmp_path / "out")
    assert (
        state["E02"]["applied_before"] == state["E02"]["applied"] == ["all-staff", "retired-policy"]
    )
    lines = (tmp_path / "out" / "plan.jsonl").read_text(encoding="utf-8").splitlines()
    events = [e for e in map(json.loads, lines) if e.get("id")]
    assert not [e for e in _about(events, "emma", "E02") if e["target"] == "repository"], events
