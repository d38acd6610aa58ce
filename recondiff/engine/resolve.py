"""The resolve phase: the run's inputs, read and checked before any step runs.

Each side's snapshot (ingested to Parquet first when it is an export), its
columns (:class:`Side`), the shrink guard against the previous run
(:func:`check_shrink`), and the check that no snapshot is a file the run writes.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from recondiff.config.load import Config
from recondiff.engine.publish import OUTPUT_FILES, POLICY_FILES
from recondiff.engine.slots import Column
from recondiff.errors import ConfigError, InputError
from recondiff.history import PreviousRun
from recondiff.ingest import snapshot as snapshot_mod


@dataclass(frozen=True)
class InputSummary:
    """One side's input as the run read it."""

    path: Path
    format: str
    rows: int
    captured_at: datetime
    sha256: str
    snapshot: Path

    def as_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "rows": self.rows,
            "captured_at": self.captured_at.isoformat(),
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class Inputs:
    """Both sides as the run read them, and the previous run of the config."""

    endpoint: InputSummary
    repository: InputSummary
    ep: Side
    repo: Side
    previous: PreviousRun | None

    def params(self, cfg: Config) -> dict[str, Any]:
        """The values every step may bind (each binds those its file names)."""
        return {
            "endpoint_path": str(self.endpoint.snapshot),
            "repository_path": str(self.repository.snapshot),
            # Folded in SQL (rd_key), exactly as the keys and statuses they meet.
            "protected": list(cfg.endpoint.protected),
            "deleted_values": list(cfg.repository.deleted_values),
            "rule_names": [r.name for r in cfg.correlation],
            "kinds": [a.compare for a in cfg.attributes],
            # as outputs name them: an expression side by the attribute's name
            "attributes": [a.name for a in cfg.attributes],
            "repository_attributes": [a.repository_label for a in cfg.attributes],
            "incremental": cfg.endpoint.incremental,
        }

    def blame(self, cfg: Config, out: Path) -> dict[str, str]:
        """The paths a failed step names (recondiff.engine.steps.BLAME)."""
        return {
            "config": str(cfg.path),
            "endpoint": str(self.endpoint.path),
            "repository": str(self.repository.path),
            "out": str(out),
        }


@dataclass
class Side:
    """A snapshot's columns, looked up case-insensitively, with config-aware errors."""

    file: Path
    config_file: Path
    columns: dict[str, Column] = field(default_factory=dict)

    @classmethod
    def read(cls, snapshot: Path, source: Path, config_file: Path) -> Side:
        columns = snapshot_mod.snapshot_columns(snapshot, shown_as=source)
        side = cls(source, config_file)
        for name, kind in columns:
            if name.lower() in side.columns:
                first = side.columns[name.lower()].name
                raise InputError(
                    f"{source}: columns '{first}' and '{name}' differ only in case; "
                    "attribute names match case-insensitively, so keep one"
                )
            if not snapshot_mod.type_supported(kind):
                raise InputError(
                    f"{source}: column '{name}' has type {kind}, which recondiff does not "
                    "compare; use text, numbers, booleans, dates or lists of them "
                    "(recondiff ingest converts what it can)"
                )
            side.columns[name.lower()] = Column(name, kind)
        return side

    def find(self, name: str, key: str) -> Column:
        column = self.columns.get(name.lower())
        if column is None:
            names = [c.name for c in self.columns.values()]
            close = difflib.get_close_matches(name, names, n=1)
            hint = (
                f"; did you mean '{close[0]}'?" if close else f"; it has: {', '.join(names[:12])}"
            )
            raise ConfigError(
                f"{self.config_file}: {key} = '{name}': no such attribute in {self.file}{hint}"
            )
        return column

    def optional(self, *names: str) -> Column | None:
        for name in names:
            if name.lower() in self.columns:
                return self.columns[name.lower()]
        return None


def read_input(cfg: Config, side: str, work: Path, allow_empty: bool) -> InputSummary:
    section = cfg.endpoint if side == "endpoint" else cfg.repository
    path = section.snapshot
    if not path.exists():
        raise InputError(
            f"{path}: no such file ([{side}] snapshot in {cfg.path}); "
            "check the path, which is relative to the config file"
        )
    fmt = snapshot_mod.detect_format(path, section.format)
    options = snapshot_mod.ReadOptions(
        multi_valued=tuple(section.multi_valued),
        separator=section.separator,
        delimiter=section.delimiter,
        allow_empty=allow_empty,
    )
    if fmt == "parquet":
        info = snapshot_mod.read_snapshot_info(path)
        snapshot = path
        sha = info.sha256
    else:
        # here only: it loads pyarrow (snapshot.py)
        from recondiff.ingest import exports as ingest_mod

        snapshot = work / f"{side}.parquet"
        info = ingest_mod.ingest(path, snapshot, fmt, options)
        sha = info.source_sha256
    if info.rows == 0 and not allow_empty:
        raise InputError(
            f"{path}: no records; an empty export would make every account look orphaned. "
            "Pass --allow-empty if it really is empty"
        )
    return InputSummary(
        path=path,
        format=fmt,
        rows=info.rows,
        captured_at=info.captured_at,
        sha256=sha,
        snapshot=snapshot,
    )


def check_shrink(
    cfg: Config,
    previous: PreviousRun,
    ep_in: InputSummary,
    repo_in: InputSummary,
    earlier_runs: Callable[[], list[dict[str, Any]]] | None = None,
) -> None:
    """The shrink guard: an export cut short (a size-limited LDAP search, a
    failed page, a half-copied file) makes every account it lost look gone, and
    the plan then proposes to disable or re-create them. Stop when a snapshot
    has more than ``[plan] max_shrink_percent`` fewer records than the same
    source had in the previous run of this config. An incremental endpoint
    snapshot holds only changes: its size says nothing, so it is not checked;
    a full one after incremental runs is checked against the last full run
    (``earlier_runs``, newest first), so that one incremental run in between
    does not disarm the guard."""
    summary = previous.summary or {}
    run = summary.get("run")
    was_incremental = isinstance(run, dict) and bool(run.get("incremental"))
    limit = cfg.plan.max_shrink_percent
    for side, now in (("endpoint", ep_in), ("repository", repo_in)):
        if side == "endpoint" and cfg.endpoint.incremental:
            continue
        run_id, inputs = previous.run_id, summary.get("inputs")
        if side == "endpoint" and was_incremental:
            full = _last_full_run(earlier_runs() if earlier_runs is not None else [])
            if full is None:
                continue
            run_id, inputs = full
        if not isinstance(inputs, dict):
            continue
        recorded = inputs.get(side)
        before = recorded.get("rows") if isinstance(recorded, dict) else None
        if isinstance(before, bool) or not isinstance(before, int) or before <= 0:
            continue
        shrink = 100.0 * (before - now.rows) / before
        if shrink > limit:
            raise InputError(
                f"{now.path}: {now.rows} records, {shrink:.1f}% fewer than the {before} of the "
                f"previous run ({run_id}), over [plan] max_shrink_percent = {limit:g} "
                f"in {cfg.path}; a cut-short export makes accounts look deleted. Check the "
                "export; if the source really shrank, run again with --allow-shrink"
            )


def _last_full_run(runs: list[dict[str, Any]]) -> tuple[str, object] | None:
    """The newest recorded run whose endpoint snapshot was complete (not incremental):
    its id and its summary's inputs."""
    for r in runs:
        summary = r.get("summary")
        if not isinstance(summary, dict):
            continue
        run = summary.get("run")
        if isinstance(run, dict) and not run.get("incremental"):
            return str(r.get("run_id")), summary.get("inputs")
    return None


def check_snapshots_outside_outputs(cfg: Config, out: Path, history_file: Path) -> None:
    """A snapshot that is one of the files this run writes would be replaced
    by the run's results (and a Parquet one read in place changed under it)."""
    outputs = {
        os.path.realpath(p): p
        for p in [*(out / n for n in (*OUTPUT_FILES, *POLICY_FILES, "summary.json")), history_file]
    }
    for side, snapshot in (
        ("endpoint", cfg.endpoint.snapshot),
        ("repository", cfg.repository.snapshot),
    ):
        written = outputs.get(os.path.realpath(snapshot))
        if written is not None:
            raise ConfigError(
                f"{cfg.path}: [{side}] snapshot {snapshot} is the {written.name} this run "
                f"writes in {written.parent}; move the snapshot elsewhere or pass another -o"
            )
