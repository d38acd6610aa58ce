"""The stage phase: one narrow row per account and per in-scope identity,
and the repository's keys checked (queries/stage/, queries/check/repository_keys.sql)."""

from __future__ import annotations

from pathlib import Path

from recondiff.config.load import Config
from recondiff.engine.fills import Fills
from recondiff.engine.steps import Session
from recondiff.errors import InputError


def stage(session: Session, fills: Fills, cfg: Config, repository: Path) -> None:
    """``repository``: the repository's input as the user gave it (for errors)."""
    session.step("stage/endpoint", **fills.stage_endpoint())
    session.step("stage/repository", **fills.stage_repository())
    _check_repository_keys(session, cfg, repository)


def _check_repository_keys(session: Session, cfg: Config, path: Path) -> None:
    problems = session.step("check/repository_keys", {}).fetchall()
    if not problems:
        return
    problem, key, rows = problems[0]
    where = ", ".join(str(r) for r in rows)
    if problem == "blank":
        raise InputError(
            f"{path}: record {where}: blank identity key '{cfg.repository.key}'; "
            "every identity needs a key (fix the export or narrow [repository] scope)"
        )
    raise InputError(
        f"{path}: records {where}: identity key '{cfg.repository.key}' = '{key}' is not unique; "
        "the repository key must identify one identity"
    )
