"""Identity policies (issue 18, docs/policies.md): the config's checks, the
evaluation's outputs, the plan's repository events and the feed.

The directory used here (every difference written down):

endpoint (uid, department, memberOf)
  alice   Sales, cn=Sales
  bob     Sales, cn=Sales
  carol   Finance, cn=Finance;cn=Old
repository (id, account, role, department, groups, applied_policies)
  E1 alice  manager: role-manager sets department Management (pass 1), which
            makes management-groups grant cn=Managers (pass 2); with
            max_recursion = 1 that grant is pending
  E2 bob    staff: no policy applies; nothing changes
  E3 carol  applied [old-policy, finance, external-x]: old-policy no longer
            applies (deallocated: cn=Old removed), finance is reapplied
            (cn=Finance kept), external-x is no policy of this config (kept)
Drift with max_recursion = 3: alice department Sales -> Management, alice
memberOf lacks cn=Managers, carol memberOf has cn=Old the expected state lacks.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.compare import compare
from recondiff.config.load import load_config
from recondiff.errors import ConfigError
from recondiff.plan.file import load_plan
from tests.conftest import private_copy, read_only

ENDPOINT = """\
uid,department,memberOf
alice,Sales,cn=Sales
bob,Sales,cn=Sales
carol,Finance,cn=Finance;cn=Old
"""

REPOSITORY = """\
id,account,role,department,groups,applied_policies,level
E1,alice,manager,Sales,cn=Sales,,1
E2,bob,staff,Sales,cn=Sales,,2
E3,carol,staff,Finance,cn=Finance;cn=Old,old-policy;finance;external-x,3
"""

BASE = """\
[endpoint]
name = "ldap"
snapshot = "endpoint.csv"
key = "uid"
multi_valued = ["memberOf"]

[repository]
snapshot = "repository.csv"
key = "id"
link = "account"
multi_valued = ["groups", "applied_policies"]

[[attribute]]
endpoint = "department"
repository = "department"
on_drift = "update_endpoint"

[[attribute]]
endpoint = "memberOf"
repository = "groups"
compare = "dn_set"
on_drift = "update_endpoint"
"""

POLICIES = """
[policies]
applied = "applied_policies"
max_recursion = {recursion}

[[policy]]
name = "role-manager"
when = "role = 'manager'"
set = {{ department = "Management" }}

[[policy]]
name = "management-groups"
when = "department = 'Management'"
grant = {{ groups = ["CN=Managers"] }}

[[policy]]
name = "old-policy"
when = "false"
grant = {{ groups = ["cn=Old"] }}

[[policy]]
name = "finance"
when = "department = 'Finance'"
grant = {{ groups = ["cn=Finance"] }}
reapply = true
"""


def _write(tmp_path: Path, config: str) -> Path:
    (tmp_path / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(REPOSITORY, encoding="utf-8")
    path = tmp_path / "recondiff.toml"
    path.write_text(config, encoding="utf-8")
    return path


def _run(tmp_path: Path, recursion: int = 3, extra: str = "") -> tuple[Path, dict[str, Any]]:
    config = _write(tmp_path, BASE + POLICIES.format(recursion=recursion) + extra)
    out = tmp_path / "out"
    result = compare(config, out)
    return out, result.summary


@dataclass(frozen=True)
class Shared:
    """A directory compared once and shared read-only by the tests of this module
    (``recondiff.toml``, the snapshots and ``out``), and the run's summary."""

    folder: Path
    _summary: dict[str, Any]

    @property
    def out(self) -> Path:
        return self.folder / "out"

    @property
    def summary(self) -> dict[str, Any]:
        return copy.deepcopy(self._summary)


def _shared_run(factory: pytest.TempPathFactory, recursion: int) -> Iterator[Shared]:
    folder = factory.mktemp(f"recursion{recursion}")
    _, summary = _run(folder, recursion)
    with read_only(folder):
        yield Shared(folder, copy.deepcopy(summary))


@pytest.fixture(scope="module")
def recursion3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    yield from _shared_run(tmp_path_factory, 3)


@pytest.fixture(scope="module")
def recursion1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    yield from _shared_run(tmp_path_factory, 1)


def _rows(path: Path, sql: str = "SELECT * FROM t") -> list[tuple[Any, ...]]:
    con = duckdb.connect()
    con.execute(f"CREATE VIEW t AS SELECT * FROM read_parquet('{path}')")
    return con.execute(sql).fetchall()


def _drift(out: Path) -> list[tuple[str, ...]]:
    lines = (out / "drift.csv").read_text(encoding="utf-8").splitlines()[1:]
    return [tuple(line.split(",")) for line in lines]


# --- evaluation -------------------------------------------------------------------------


def test_recursion_three_derives_the_seed_example(recursion3: Shared) -> None:
    out, summary = recursion3.out, recursion3.summary
    assert summary["policies"] == {
        "policies": 4,
        "passes": 2,
        "identities_changed": 2,
        "allocated": 2,
        "deallocated": 1,
        "reallocated": 1,
        "pending": 0,
        "conflicts": 0,
        "unknown_applied": 1,
    }
    assert _drift(out) == [
        ("alice", "E1", "linked", "department", "department", "exact", "changed",
         "Sales", "Management"),
        ("alice", "E1", "linked", "memberOf", "groups", "dn_set", "removed", "", "CN=Managers"),
        ("carol", "E3", "linked", "memberOf", "groups", "dn_set", "added", "cn=Old", ""),
    ]
    assert _rows(out / "expected.parquet") == [
        ("E1", "department", "Management", "role-manager"),
        ("E1", "groups", "CN=Managers", "management-groups"),
        ("E3", "groups", "cn=Finance", "finance"),
    ]
    state = _rows(
        out / "policies.parquet",
        "SELECT identity_key, applied, allocated, deallocated, reallocated, pending, passes "
        "FROM t",
    )
    assert state == [
        ("E1", ["role-manager", "management-groups"], ["role-manager", "management-groups"],
         [], [], [], 2),
        ("E2", [], [], [], [], [], 0),
        # a name no [[policy]] has is kept: policies managed elsewhere are not recondiff's
        ("E3", ["finance", "external-x"], [], ["old-policy"], ["finance"], [], 1),
    ]
    assert (out / "policy_conflicts.csv").read_text(encoding="utf-8") == (
        "identity_key,attribute,policies,values,pass\n"
    )
    assert summary["differences"] == 2 + 2  # two drifted accounts, two changed identities


def test_recursion_one_leaves_the_triggered_grant_pending(recursion1: Shared) -> None:
    out, summary = recursion1.out, recursion1.summary
    assert summary["policies"]["pending"] == 1
    assert any("1 identity has policies left for the next sync" in w
               for w in summary["warnings"]), summary["warnings"]
    assert summary["policies"]["passes"] == 1
    state = _rows(out / "policies.parquet", "SELECT identity_key, applied, pending FROM t")
    assert state[0] == ("E1", ["role-manager"], ["management-groups"])
    # the department follows the role now; the group waits for the next sync
    assert ("alice", "E1", "linked", "memberOf", "groups", "dn_set", "removed", "",
            "CN=Managers") not in _drift(out)
    assert ("alice", "E1", "linked", "department", "department", "exact", "changed",
            "Sales", "Management") in _drift(out)


def test_the_next_sync_completes_what_recursion_one_left(recursion1: Shared, tmp_path: Path) -> None:
    """The repository imported the feed of the first run: the second run grants the group."""
    tmp_path = private_copy(recursion1.folder, tmp_path)
    (tmp_path / "repository.csv").write_text(
        REPOSITORY.replace("E1,alice,manager,Sales,cn=Sales,,1",
                           "E1,alice,manager,Management,cn=Sales,role-manager,1"),
        encoding="utf-8",
    )
    out = tmp_path / "out2"
    summary = compare(tmp_path / "recondiff.toml", out).summary
    assert summary["policies"]["pending"] == 0
    state = _rows(out / "policies.parquet", "SELECT applied, allocated FROM t LIMIT 1")
    assert state == [(["role-manager", "management-groups"], ["management-groups"])]


def test_policies_that_flip_each_other_stop_at_max_recursion(tmp_path: Path) -> None:
    extra = """
[[policy]]
name = "one-to-two"
when = "level = 1"
set = { level = 2 }
reapply = true

[[policy]]
name = "two-to-one"
when = "level = 2"
set = { level = 1 }
reapply = true
"""
    out, summary = _run(tmp_path, 4, extra)
    assert summary["policies"]["passes"] == 4
    # E1 (1) and E2 (2) flip on every pass: after 4 passes each is back where it was,
    # and the next sync would flip again: pending
    state = _rows(out / "policies.parquet", "SELECT identity_key, passes, pending FROM t")
    assert state[0][1] == 4 and state[1][1] == 4 and state[2][1] == 1
    assert state[0][2] and state[1][2]


def test_conflicting_policies_are_a_finding_and_no_event(tmp_path: Path) -> None:
    extra = """
[[policy]]
name = "sales-dept"
when = "role = 'manager'"
set = { department = "Sales" }
"""
    out, summary = _run(tmp_path, 3, extra)
    assert summary["policies"]["conflicts"] == 1
    assert any("1 identity policy conflict(s)" in w for w in summary["warnings"])
    assert (out / "policy_conflicts.csv").read_text(encoding="utf-8").splitlines() == [
        "identity_key,attribute,policies,values,pass",
        'E1,department,role-manager;sales-dept,"[""Management"",""Sales""]",1',
    ]
    state = _rows(out / "policies.parquet", "SELECT applied FROM t LIMIT 1")
    assert state == [([],)]  # neither conflicting policy is recorded as applied
    plan = load_plan(out / "plan.jsonl")
    for event in plan["events"]:
        if event["object"]["identity_key"] == "E1":
            touched = {c["attribute"].lower() for c in event["changes"]}
            assert "department" not in touched, event


def test_the_plan_says_why_and_feeds_the_repository(recursion3: Shared, tmp_path: Path) -> None:
    out = recursion3.out
    plan = load_plan(out / "plan.jsonl")  # checked against plan.schema.json
    alice = next(e for e in plan["events"]
                 if e["target"] == "endpoint" and e["object"]["key"] == "alice")
    expected = {d["attribute"]: d.get("expected") for d in alice["reason"]["drift"]}
    assert expected == {
        "department": {"policy": "role-manager", "when": "role = 'manager'"},
        "memberOf": {"policy": "management-groups", "when": "department = 'Management'"},
    }
    policy_events = [e for e in plan["events"] if e["reason"]["situation"] == "policy"]
    assert [e["object"]["identity_key"] for e in policy_events] == ["E1", "E3"]
    e3 = policy_events[1]
    assert e3["target"] == "repository" and e3["approval"]["state"] == "auto"
    assert e3["changes"] == [
        {"attribute": "groups", "op": "delete", "values": ["cn=Old"]},
        {"attribute": "applied_policies", "op": "replace", "values": ["finance", "external-x"]},
    ]
    assert e3["preconditions"] == [
        {"attribute": "groups", "values": ["cn=Old"]},
        {"attribute": "applied_policies", "values": ["old-policy", "finance", "external-x"]},
    ]
    assert e3["reason"]["policies"] == {
        "allocated": [], "deallocated": ["old-policy"], "reallocated": ["finance"]}
    # plan feed writes the policy events
    fed = CliRunner().invoke(
        cli, ["plan", "feed", str(out / "plan.jsonl"), "-o", str(tmp_path / "feed"),
              "--allow-unsigned", "--allow-modifies", "2"])
    assert fed.exit_code == 0, fed.output
    rows = [json.loads(line) for line in
            (tmp_path / "feed" / "repository_changes.jsonl").read_text().splitlines()]
    assert {(r["identity_key"], r["attribute"], r["op"]) for r in rows} == {
        ("E1", "department", "replace"), ("E1", "groups", "add"),
        ("E1", "applied_policies", "replace"),
        ("E3", "groups", "delete"), ("E3", "applied_policies", "replace"),
    }


def test_policy_events_wait_for_review_when_configured(tmp_path: Path) -> None:
    config = _write(tmp_path, BASE.replace('on_drift = "update_endpoint"', 'on_drift = "review"')
                    + POLICIES.format(recursion=3).replace(
                        "max_recursion = 3", 'max_recursion = 3\nresponse = "review"'))
    out = tmp_path / "out"
    compare(config, out)
    plan = load_plan(out / "plan.jsonl")
    states = {e["approval"]["state"] for e in plan["events"]
              if e["reason"]["situation"] == "policy"}
    assert states == {"pending"}
    # plan show says why a value is expected, and what the policy events do
    shown = CliRunner().invoke(cli, ["plan", "show", str(out / "plan.jsonl"), "--limit", "0"])
    assert "(expected: policy role-manager, role = 'manager')" in shown.output
    assert "policy, review: deallocated old-policy; reallocated finance" in shown.output
    approved = CliRunner().invoke(
        cli, ["plan", "approve", str(out / "plan.jsonl"), "--situation", "policy", "--by", "ana"])
    assert approved.exit_code == 0, approved.output
    decided = load_plan(out / "plan.jsonl")
    assert decided is not None


def test_no_policy_event_with_response_do_nothing(tmp_path: Path) -> None:
    config = _write(tmp_path, BASE + POLICIES.format(recursion=3).replace(
        "max_recursion = 3", 'max_recursion = 3\nresponse = "do_nothing"'))
    out = tmp_path / "out"
    compare(config, out)
    plan = load_plan(out / "plan.jsonl")
    assert not [e for e in plan["events"] if e["reason"]["situation"] == "policy"]


def test_a_run_without_policies_removes_their_outputs(recursion3: Shared, tmp_path: Path) -> None:
    tmp_path = private_copy(recursion3.folder, tmp_path)
    out = tmp_path / "out"
    assert (out / "expected.parquet").exists()
    (tmp_path / "recondiff.toml").write_text(BASE, encoding="utf-8")
    summary = compare(tmp_path / "recondiff.toml", out).summary
    assert "policies" not in summary
    for name in ("expected.parquet", "policies.parquet", "policy_conflicts.csv"):
        assert not (out / name).exists(), name


# --- config errors -----------------------------------------------------------------------


LOAD_ERRORS = [
    ('[[policy]]\nname = "a"\nwhen = "true"\nset = { department = "x" }\n',
     "[[policy]] needs [policies] applied"),
    (POLICIES.format(recursion=3) + '[[policy]]\nname = "Finance"\nwhen = "true"\n'
     'set = { department = "x" }\n', "is used by [[policy]] #4 too"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a b"\nwhen = "true"\n'
     'set = { department = "x" }\n', "is not a policy name"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n',
     "changes nothing"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'set = { department = "x" }\nset_sql = { Department = "role" }\n',
     "in both set and set_sql"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'set = { groups = "x" }\n[[policy]]\nname = "b"\nwhen = "true"\n'
     'grant = { groups = ["y"] }\n', "a column is either single-valued"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'set = { ID = "x" }\n', "which is [repository] key"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'set = { account = "x" }\n', "which is [repository] link"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'grant = { applied_policies = ["x"] }\n', "which is [policies] applied"),
    ('[policies]\napplied = "applied_policies"\nmax_recursion = 0\n', "max_recursion"),
    ('[policies]\napplied = "applied_policies"\nmax_recursion = 11\n', "at most 10"),
    ('[policies]\nresponse = "delete"\n', "is not one of"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'set = { department = ["x"] }\n', "is not a constant"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\n'
     'when = "(SELECT true)"\nset = { department = "x" }\n', "when"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'set_sql = { department = "1; DROP TABLE x" }\n', "set_sql department"),
    ('[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\nwhen = "true"\n'
     'grant = { groups = [] }\n', "non-empty list"),
    ('[policies]\napplied = "applied_policies"\nextra = 1\n', "unknown key 'extra'"),
]


@pytest.mark.parametrize(("extra", "message"), LOAD_ERRORS)
def test_bad_policies_are_refused_at_load(tmp_path: Path, extra: str, message: str) -> None:
    config = _write(tmp_path, BASE + extra)
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    text = str(raised.value)
    assert "\n" not in text and message in text, text


RUN_ERRORS = [
    ('[[policy]]\nname = "a"\nwhen = "true"\nset = { departmnt = "x" }\n',
     "set = 'departmnt': no such attribute", 2),
    ('[[policy]]\nname = "a"\nwhen = "true"\ngrant = { department = ["x"] }\n',
     "grant needs a list column", 2),
    ('[[policy]]\nname = "a"\nwhen = "true"\nset = { groups = "x" }\n',
     "set needs a single-valued column", 2),
    ('[[policy]]\nname = "a"\nwhen = "role"\nset = { department = "x" }\n',
     "must be a predicate", 2),
    ('[[policy]]\nname = "a"\nwhen = "true"\nset_sql = { level = "CAST(role AS BIGINT)" }\n',
     "[[policy]] #1 ('a') set_sql level = 'CAST(role AS BIGINT)' fails on its data", 2),
]


@pytest.mark.parametrize(("extra", "message", "code"), RUN_ERRORS)
def test_bad_policies_against_the_snapshot_are_one_line(
    tmp_path: Path, extra: str, message: str, code: int
) -> None:
    config = _write(tmp_path, BASE + '[policies]\napplied = "applied_policies"\n' + extra)
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(tmp_path / "o")])
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("recondiff: error")]
    assert len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "o" / "summary.json").exists()


def test_the_applied_column_must_be_a_list(tmp_path: Path) -> None:
    config = _write(tmp_path, (BASE + POLICIES.format(recursion=3)).replace(
        'multi_valued = ["groups", "applied_policies"]', 'multi_valued = ["groups"]'))
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "not a list; name it in [repository] multi_valued" in result.output


def test_a_set_constant_must_read_as_its_column_type(tmp_path: Path) -> None:
    _write(tmp_path, "")
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT * REPLACE (CAST(level AS BIGINT) AS level, "
        "string_split(groups, ';') AS groups, "
        "list_filter(string_split(applied_policies, ';'), lambda x: x <> '') AS applied_policies)"
        f" FROM read_csv('{tmp_path / 'repository.csv'}', all_varchar = true)) "
        f"TO '{tmp_path / 'repository.parquet'}' (FORMAT parquet)"
    )
    config = BASE.replace('snapshot = "repository.csv"', 'snapshot = "repository.parquet"')
    config += '[policies]\napplied = "applied_policies"\n[[policy]]\nname = "a"\n'
    config += 'when = "true"\nset = { level = "high" }\n'
    path = tmp_path / "recondiff.toml"
    path.write_text(config, encoding="utf-8")
    result = CliRunner().invoke(cli, ["compare", "-c", str(path), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2, result.output
    assert "set level = 'high' is not a BIGINT" in result.output
    path.write_text(config.replace('"high"', "7"), encoding="utf-8")
    out = tmp_path / "o"
    compare(path, out)
    assert _rows(out / "expected.parquet", "SELECT DISTINCT attribute, value FROM t") == [
        ("level", "7")]
