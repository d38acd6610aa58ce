"""The classify phase: the one situation of every account (and the missing
identities), in the precedence of docs/design.md (queries/classify/).

Each step's line in recondiff/engine/steps.py (and queries/README.md) says
which situation it decides; classify/release_situation_stage drops the staging
tables once `situation` holds what later steps need (less spilling).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recondiff.config.load import Config
from recondiff.engine.fills import Fills
from recondiff.engine.steps import Session
from recondiff.history import PreviousRun
from recondiff.io.sqlfiles import Rows, fetch_dicts


def classify(
    session: Session,
    fills: Fills,
    cfg: Config,
    previous: PreviousRun | None,
    assignments: Path | None = None,
) -> list[dict[str, Any]]:
    """``assignments``: this config's reviewer assignments (History.assignments).
    Returns those the repository's own link already holds (``endpoint_key``,
    ``identity_key``): settled, for the history to mark once the run is recorded."""
    session.step("classify/endpoint_state")
    session.step("stage/blank_records")
    settled: list[dict[str, Any]] = []
    if assignments is not None:
        assigned = session.params | {"assignments_path": str(assignments)}
        settled = fetch_dicts(session.step("classify/assigned_settled", assigned))
        session.step("classify/assigned_links", assigned, uuid=fills.uuid_value())
    session.step("classify/link")
    session.step("classify/situations")
    _correlate(session, fills)
    if cfg.repository.expect_account and not cfg.endpoint.incremental:
        session.step("classify/missing_expected")
    if previous is not None and previous.owners is not None:
        owners = {"owners_path": str(previous.owners), "owners_run_id": previous.run_id}
        session.step("classify/vanished", session.params | owners, key=fills.repo_key.first())
    session.step("classify/owner_hits")
    session.step("classify/release_situation_stage")
    return settled


def _correlate(session: Session, fills: Fills) -> None:
    """The accounts no identity links, against the ordered correlation rules
    (several statements, not one: queries/classify/correlate_todo.sql says why)."""
    todo = _count(session.step("classify/correlate_todo"))
    sought = _count(
        session.step("classify/correlate_endpoint_values", **fills.correlate_endpoint())
    )
    if sought:  # else no identity can match: the repository is not read
        rules = {row[0] for row in session.step("classify/correlate_sought_rules").fetchall()}
        for i, values in enumerate(fills.repo_corr, 1):
            rule = session.params | {"rule_idx": i}
            # a rule no account looks for is still computed on every identity
            # (queries/classify/correlate_repository_check.sql says why)
            step = "values" if i in rules else "check"
            session.step(f"classify/correlate_repository_{step}", rule, values=values)
    decided = _count(session.step("classify/correlate"))
    session.step("classify/correlated")
    # none left unmatched, or on Spark (which has no UPDATE): the table written again
    if decided == todo > 0 or (decided and session.spark is not None):
        session.step("classify/correlated_rewrite")
    elif decided:
        session.step("classify/correlated_update")


def _count(rows: Rows) -> int:
    """The number of rows a CREATE TABLE AS step wrote."""
    return int(rows.fetchall()[0][0])
