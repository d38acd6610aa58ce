"""The results phase: the counts of summary.json and the output tables,
written into the staging directory (queries/results/)."""

from __future__ import annotations

import hashlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recondiff import __version__
from recondiff.config.load import Config
from recondiff.config.model import ReportConfig
from recondiff.engine.fills import Fills
from recondiff.engine.publish import OUTPUT_FILES, POLICY_FILES
from recondiff.engine.resolve import InputSummary
from recondiff.engine.steps import Session
from recondiff.vocabulary import SITUATIONS


def count(session: Session, cfg: Config, endpoint: Path) -> tuple[dict[str, Any], list[str]]:
    """The counts of summary.json, and the warning for records skipped for a
    blank key (``endpoint``: the endpoint's input as the user gave it)."""
    blank_rows = [r[0] for r in session.step("stage/blank_keys").fetchall()]
    counts = _counts(session)
    warnings = []
    if counts["blank_keys"]:
        warnings.append(
            f"{endpoint}: {counts['blank_keys']} record(s) with a blank "
            f"'{cfg.endpoint.key}' skipped (record {', '.join(map(str, blank_rows))}"
            f"{', …' if counts['blank_keys'] > len(blank_rows) else ''})"
        )
    return counts, warnings


def _counts(session: Session) -> dict[str, Any]:
    situations = dict.fromkeys(SITUATIONS, 0)
    by_attribute = dict.fromkeys(session.params["attributes"], 0)
    counts: dict[str, Any] = {"situations": situations, "by_attribute": by_attribute}
    for what, name, n in session.step("results/summary").fetchall():
        if what == "situation":
            situations[name] = int(n)
        elif what == "attribute":
            by_attribute[name] = int(n)
        else:
            counts[what] = int(n)
    sync = {"in_sync": 0, "drifted": 0}
    by_situation: dict[str, dict[str, int]] = {
        s: {"in_sync": 0, "drifted": 0} for s in ("linked", "correlated")
    }
    counts["linked_in_sync"] = 0
    for situation, state, n in session.step("results/sync_counts").fetchall():
        sync[state] += int(n)
        by_situation[situation][state] = int(n)
        if situation == "linked" and state == "in_sync":
            counts["linked_in_sync"] = int(n)
    counts["sync"] = sync
    counts["sync_by_situation"] = by_situation
    return counts


def summary(
    cfg: Config,
    counts: dict[str, Any],
    ep_in: InputSummary,
    repo_in: InputSummary,
    started: datetime,
    run_id: str,
    timings: dict[str, float],
    warnings: list[str],
    policies: dict[str, int] | None = None,
) -> dict[str, Any]:
    """summary.json; ``run_id``: :func:`run_id`'s, as the history's files carry it;
    ``policies``: the identity policies' counts (engine/policies.py),
    whose conflicts and changed identities are differences too."""
    situations = counts["situations"]
    # Every record (and missing identity) but an excluded one or a linked account
    # in sync is a difference; a correlated account still lacks its link.
    in_sync_linked = counts["linked_in_sync"]
    differences = sum(n for s, n in situations.items() if s != "excluded") - in_sync_linked
    if policies:
        differences += policies["identities_changed"] + policies["conflicts"]
    endpoint = ep_in.as_json() | {"blank_keys": counts["blank_keys"]}
    inputs = {"endpoint": endpoint, "repository": repo_in.as_json()}
    finished = datetime.now(UTC).replace(microsecond=0)
    return {
        "recondiff_version": __version__,
        "run": {
            "id": run_id,
            "config": str(cfg.path),
            "config_sha256": hashlib.sha256(cfg.path.read_bytes()).hexdigest(),
            "endpoint": cfg.endpoint.name,
            "repository": cfg.repository.name,
            "incremental": cfg.endpoint.incremental,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": finished.isoformat(),
        },
        "situations": situations,
        "sync": counts["sync"],
        "sync_by_situation": counts["sync_by_situation"],
        "drift": {
            "by_attribute": counts["by_attribute"],
            "accounts": counts["drift_accounts"],
            "rows": counts["drift_rows"],
        },
        **({"policies": policies} if policies else {}),
        "differences": differences,
        "alerts": 0,  # the report's (compare.py sets it once the report is built)
        "outputs": outputs(counts),
        "inputs": inputs,
        # the inputs' age said here too, not only in the report (and an alert to notify)
        "warnings": warnings + stale_inputs(cfg.report, inputs, finished),
        "timings": timings,
    }


def outputs(counts: dict[str, Any]) -> dict[str, Any]:
    """summary.json's ``outputs``: situations.csv holds every row but the linked
    accounts in sync (the findings and the excluded accounts); situations.parquet holds every record
    (docs/outputs.md). Said here so that no one counts the CSV's rows as the
    accounts: ``in_sync_left_out`` rows are in the Parquet file only."""
    every_row = sum(counts["situations"].values())
    left_out = counts["linked_in_sync"]
    return {
        "situations_csv": {
            "rows": every_row - left_out,
            "in_sync_left_out": left_out,
            "every_record_in": "situations.parquet",
        },
        "situations_parquet": {"rows": every_row},
    }


def run_id(started: datetime, ep_in: InputSummary, repo_in: InputSummary) -> str:
    seed = f"{started.isoformat()}\n{ep_in.sha256}\n{repo_in.sha256}".encode()
    return f"run-{started:%Y%m%dT%H%M%SZ}-{hashlib.sha256(seed).hexdigest()[:8]}"



def write_tables(session: Session, fills: Fills, staging: Path) -> None:
    """The staged situations table (``situations_staged``, seen through the view
    ``situations_out``) that the plan, the report and the history read; then
    situations.parquet (every record) and situations.csv (every row but the
    linked accounts in sync), drift.parquet and .csv, drift_diff.csv, into
    ``staging``, written from it. Nothing reads situations.parquet back."""
    session.step("results/situations_staged", session.params, **fills.situations_out())
    session.hand_over()  # [engine] kind = "spark": every later step runs on DuckDB
    session.step("results/release_situation_table", {}, dn=fills.situations_out()["dn"])
    session.step("results/situations_parquet", {"path": str(staging / "situations.parquet")})
    session.step("results/situations_csv", {"path": str(staging / "situations.csv")})
    session.step("results/release_situation_dns", {})
    session.step("results/drift_export")
    for fmt in ("parquet", "csv"):
        session.step(f"results/drift_{fmt}", {"path": str(staging / f"drift.{fmt}")})
    session.step(
        "results/drift_diff_csv", {"path": str(staging / "drift_diff.csv")}, **fills.diff_cells()
    )


def release_in_sync(session: Session, cfg: Config) -> None:
    """After the outputs, the history's rows and the report's segments: keep only the
    rows the plan and the report still read (results/release_in_sync.sql), and
    drop the staged table before the plan."""
    session.step(
        "results/release_in_sync",
        {
            "keep_all": cfg.response_for("linked") != "do_nothing",
            "rows_per_table": cfg.report.rows_per_table,
        },
    )
    session.step("results/release_staged_table", {})


def add_bom(staging: Path, names: tuple[str, ...] = (*OUTPUT_FILES, *POLICY_FILES)) -> None:
    """[report] csv_bom: a UTF-8 byte-order mark first in every CSV output (of
    ``names``) written so far."""
    for name in names:
        if name.endswith(".csv") and (staging / name).exists():
            _prepend_bom(staging / name)


def _prepend_bom(path: Path) -> None:
    """[report] csv_bom: a UTF-8 byte-order mark first, so that Excel reads UTF-8."""
    with_bom = path.with_name(path.name + ".bom")
    with path.open("rb") as source, with_bom.open("wb") as target:
        target.write(b"\xef\xbb\xbf")
        shutil.copyfileobj(source, target, 1 << 20)
    os.replace(with_bom, path)


def stale_inputs(report: ReportConfig, inputs: dict[str, Any], now: datetime) -> list[str]:
    """A warning for each snapshot captured more than ``[report] max_age_hours``
    before ``now`` (the run's end), and one when the two were captured more than
    ``max_apart_hours`` apart (``inputs``: summary.json's). Said on stderr, in
    summary.json's warnings and the report; an alert for [[notify]]."""
    warnings = []
    captured = {}
    for side in ("endpoint", "repository"):
        when = datetime.fromisoformat(inputs[side]["captured_at"])
        captured[side] = when
        age = (now - when).total_seconds() / 3600
        if age > report.max_age_hours:
            warnings.append(
                f"the {side} snapshot is {_span(age)} old (captured {when.isoformat()}); "
                f"older than {report.max_age_hours:g} hours"
            )
    apart = abs((captured["endpoint"] - captured["repository"]).total_seconds()) / 3600
    if apart > report.max_apart_hours:
        warnings.append(
            f"the two snapshots were captured {_span(apart)} apart; more than "
            f"{report.max_apart_hours:g} hours, so a change made in between may show as drift"
        )
    return warnings


def _span(hours: float) -> str:
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.1f} hours"
