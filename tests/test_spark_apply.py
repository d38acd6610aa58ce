"""A Spark run's plan is applied as a DuckDB run's is (issue 21, point 4): the
fixture directory of tests/test_apply_guards.py on a real slapd, compared on
DuckDB and on Spark local[2] ([engine] kind = "spark"): the two plans hold the
same events (the same ids, changes and pre-conditions), and the Spark run's
plan, applied to the server, changes it as the scenario says.

The plan's events are made on DuckDB after the hand-over (docs/spark.md, "What
runs where"); tests/test_spark_events.py runs the event step itself on Spark."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from recondiff.compare import compare
from recondiff.plan.file import load_plan
from tests.plans import apply_unsigned as apply_plan
from tests.slapd import Slapd, ldap_server
from tests.spark_local import MASTER
from tests.test_apply import ASMITH, JDOE, STAFF, target
from tests.test_apply_guards import BWONG_DN, IDENTITIES, SMALL_CONFIG, export

__all__ = ["ldap_server"]

pytestmark = pytest.mark.spark

# dn_set is one of the two compare kinds Spark does not run yet
# (tests/test_spark_cases.py KNOWN_DIFFERENT); membership takes any set kind
CONFIG = SMALL_CONFIG.replace('compare = "dn_set"', 'compare = "casefold_set"')
SPARK = f'\n[engine]\nkind = "spark"\n\n[engine.spark]\nmaster = "{MASTER}"\n'


def _events(plan: dict[str, Any]) -> list[str]:
    """The plan's events, whole (ids, changes, preconditions, reasons, approval)."""
    return sorted(json.dumps(e, sort_keys=True) for e in plan["events"])


def _run(server: Slapd, run: Path, config: str) -> Path:
    run.mkdir()
    export(server, run / "export.ldif")
    (run / "identities.csv").write_text(IDENTITIES, encoding="utf-8")
    (run / "recondiff.toml").write_text(config, encoding="utf-8")
    result = compare(run / "recondiff.toml", run / "out")
    assert result.exit_code == 1  # differences found
    return run / "out" / "plan.jsonl"


def test_a_spark_runs_plan_applies(ldap_server: Slapd, tmp_path: Path, spark_session: Any) -> None:
    on_duckdb = load_plan(_run(ldap_server, tmp_path / "duckdb", CONFIG))
    plan_path = _run(ldap_server, tmp_path / "spark", CONFIG + SPARK)
    on_spark = load_plan(plan_path)
    assert on_spark["events"], "the scenario plans changes"
    assert _events(on_spark) == _events(on_duckdb)

    dry = apply_plan(plan_path, target(ldap_server), dry_run=True)
    assert {o.outcome for o in dry.outcomes} == {"would_apply"}
    assert ldap_server.values(JDOE, "title") == ["Engineer"]  # nothing sent

    result = apply_plan(plan_path, target(ldap_server))
    assert {o.outcome for o in result.outcomes} == {"applied"}
    assert ldap_server.values(JDOE, "title") == ["Lead Engineer"]
    assert ldap_server.values(ASMITH, "employeeType") == ["disabled"]
    assert BWONG_DN in ldap_server.values(STAFF, "member")
