"""The identity policies' part of ``report.json`` (docs/report.md, "Identity
policies"; docs/policies.md): written by :mod:`recondiff.report.build` inside a
compare, only when the config has ``[[policy]]`` tables (summary.json then has
``policies``).

Read from what the policies phase (recondiff/engine/policies.py) leaves: the
tables ``policy_why``, ``policy_conflict`` and ``policy_change`` on the run's
connection, and ``policies.parquet``, which the phase's outputs put in the
staging directory beside ``situations.parquet`` before the report runs. Every
list holds at most ``[report] rows_per_table`` rows and says how many there are
in all; every value is cut as the report shows it (``rd_shown``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recondiff.config.load import Config
from recondiff.io.sqlfiles import Step, fetch_dicts

POLICIES_PARQUET = "policies.parquet"

COUNTS = (
    "policies", "passes", "identities_changed", "allocated", "deallocated", "reallocated",
    "pending", "conflicts", "unknown_applied",
)
"""summary.json's ``policies`` counts, in the order the report shows them."""


def repository_columns(cfg: Config) -> list[str | None]:
    """Per compared attribute, its repository column (None for an expression side):
    what ``policy_why.attribute_norm`` names, lower-cased in the SQL."""
    return [a.repository for a in cfg.attributes]


def expected_drift(step: Step, cfg: Config, limit: int) -> tuple[list[dict[str, Any]], int]:
    """The drift rows whose repository value a policy expects (the first ``limit``)
    and how many there are; each keeps its endpoint record (``ep_row``) for the
    side-by-side view it opens."""
    rows = fetch_dicts(step("report/policy_expected", {
        "repository_columns": repository_columns(cfg), "limit": limit}))
    total = int(rows[0]["total"]) if rows else 0
    return [{k: v for k, v in r.items() if k != "total"} for r in rows], total


def section(
    step: Step,
    summary: dict[str, Any],
    outputs: Path,
    expected: list[dict[str, Any]],
    expected_total: int,
    detail_ids: dict[Any, str],
    limit: int,
) -> dict[str, Any]:
    """report.json's ``policies``: the counts, the drift a policy explains, the
    conflicts, the identities the policies change and those with policies
    pending the next sync."""
    counts = summary["policies"]
    policies_parquet = outputs / POLICIES_PARQUET
    return {
        "counts": {k: int(counts.get(k, 0)) for k in COUNTS},
        "expected": {
            "total": expected_total,
            "rows": [_expected_row(r, detail_ids) for r in expected],
        },
        "conflicts": _listed(step, "report/policy_conflicts", {"limit": limit}, _conflict),
        "changed": _listed(step, "report/policy_changed", {"limit": limit}, _changed),
        "pending": _listed(
            step, "report/policy_pending",
            {"limit": limit, "policies_path": str(policies_parquet)}, _pending,
        ) if policies_parquet.exists() else {"total": 0, "rows": []},
    }


def _listed(step: Step, name: str, params: dict[str, Any], row: Any) -> dict[str, Any]:
    rows = fetch_dicts(step(name, params))
    return {"total": int(rows[0]["total"]) if rows else 0, "rows": [row(r) for r in rows]}


def _expected_row(r: dict[str, Any], detail_ids: dict[Any, str]) -> dict[str, Any]:
    return {
        "endpoint_key": r["endpoint_key"],
        "identity_key": r["identity_key"],
        "attribute": r["attribute"],
        "repository_attribute": r["repository_attribute"],
        "kind": r["kind"],
        "endpoint_value": r["endpoint_value"],
        "repository_value": r["repository_value"],
        "policy": r["policy"],
        "when": r["when"],
        "detail": detail_ids.get(int(r["ep_row"])),
    }


def _conflict(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "identity_key": r["identity_key"],
        "attribute": r["attribute"],
        "policies": list(r["policies"] or []),
        "values": list(r["values"] or []),
        "pass": int(r["pass"]),
    }


def _changed(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "identity_key": r["identity_key"],
        "allocated": list(r["allocated"] or []),
        "deallocated": list(r["deallocated"] or []),
        "reallocated": list(r["reallocated"] or []),
        "changes": [
            {"op": c["op"], "attribute": c["attribute"], "values": list(c["values"] or [])}
            for c in r["changes"] or []
        ],
    }


def _pending(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "identity_key": r["identity_key"],
        "applied": list(r["applied"] or []),
        "pending": list(r["pending"] or []),
    }
