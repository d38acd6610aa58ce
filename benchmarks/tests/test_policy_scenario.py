"""The identity-policy benchmark scenario (benchmarks/policy_scenario.py):
its reference evaluator follows the contract's semantics on hand-made
identities, and at a small size recondiff without policies finds exactly the
drift the generator computed from the repository's raw columns."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recondiff.compare import compare

BENCHMARKS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCHMARKS))
from policies import check_summary  # noqa: E402
from policy_scenario import CRM, HR, SET_COLUMNS, evaluate, group, pending  # noqa: E402


def _state(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    columns = ["i", *HR, *SET_COLUMNS, "groups", "applied"]
    defaults: dict[str, Any] = {
        "ad_account": "u1",
        "first_name": "Ana",
        "last_name": "Roy",
        "title": "Analyst",
        "department": "Sales",
        "location": "Lyon",
        "cost_center": "CC-1234",
        "employee_type": "Employee",
        "groups": [],
        "applied": [],
    }
    con.execute(
        "CREATE TABLE s (i BIGINT, "
        + ", ".join(f"{c} VARCHAR" for c in [*HR, *SET_COLUMNS])
        + ", groups VARCHAR[], applied VARCHAR[])"
    )
    for i, row in enumerate(rows):
        values = {**defaults, **row, "i": i}
        con.execute(
            f"INSERT INTO s VALUES ({', '.join('?' for _ in columns)})",
            [values.get(c) for c in columns],
        )


def _result(con: duckdb.DuckDBPyConnection, passes: int) -> list[dict[str, Any]]:
    changed = evaluate(con, "s", "x", passes)
    assert changed
    cursor = con.execute(
        f"SELECT x.*, p.pending FROM x JOIN ({pending(con, 'x')}) p USING (i) ORDER BY i"
    )
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]


def test_reference_evaluator_follows_the_contract() -> None:
    con = duckdb.connect()
    _state(
        con,
        [
            # never synced: four levels; with three passes the badge is pending
            {"title": "Manager"},
            # moved from Sales to Marketing: dept-sales deallocated, its group removed;
            # CRM-Users kept (sales-crm still applies); division unchanged
            {
                "department": "Marketing",
                "division": "Commercial",
                "groups": [group("DEPT-Sales"), CRM, "CN=Own"],
                "applied": ["dept-sales", "sales-crm", "Legacy-VPN"],
            },
            # conflict on company: neither policy applied, company kept
            {
                "location": "Oslo",
                "employee_type": "Contractor",
                "cost_center": "CC-0100",
                "company": "Old Co",
            },
        ],
    )
    fresh, moved, conflict = _result(con, 3)
    assert fresh["security_tier"] == "T1" and fresh["mfa"] == "hardware-key"
    assert fresh["badge"] is None and fresh["pending"] == ["badge-secure"]
    assert group("MFA-Hardware") in fresh["groups"]
    assert group("DEPT-Sales") not in moved["groups"]
    assert {CRM, "CN=Own", group("DEPT-Marketing")} <= set(moved["groups"])
    assert "dept-sales" not in moved["applied"] and "Legacy-VPN" in moved["applied"]
    assert {"dept-marketing", "sales-crm"} <= set(moved["applied"])
    assert moved["realloc_all"].count("sales-crm") >= 1
    assert conflict["company"] == "Old Co"
    assert "oslo-staffing" not in conflict["applied"]
    assert "company-contractor" not in conflict["applied"]
    # held in a conflict: not pending, a conflict again next sync
    assert not {"oslo-staffing", "company-contractor"} & set(conflict["pending"])
    assert group("Nordic-Staffing") in conflict["groups"]  # its other effects apply


def test_recursion_one_leaves_the_next_levels_pending() -> None:
    con = duckdb.connect()
    _state(con, [{"title": "Manager"}])
    (row,) = _result(con, 1)
    assert row["access_level"] == "manager" and row["security_tier"] is None
    assert "tier-manager" in row["pending"]


@pytest.mark.slow
def test_small_policy_scenario_without_policies_matches_its_truth(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "generate.py"), "4000", str(tmp_path), "--policies"],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["changes_by_pass"][2] > 0  # level 3 changes identities
    assert truth["ref_identities_pending"] > 0
    assert truth["drift_with"]["memberOf"] > truth["drift_without"]["memberOf"]
    result = compare(tmp_path / "recondiff.toml", tmp_path / "out")
    assert check_summary(result.summary, truth, "drift_without") == []
    text = (tmp_path / "recondiff-policies.toml").read_text()
    assert text.count("[[policy]]") == 50 and "max_recursion = 3" in text
