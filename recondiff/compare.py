"""One reconciliation run: snapshots in, situations, drift and summary out.

Python only orchestrates: it resolves the config against the snapshots'
schemas, fills the few identifier slots of ``queries/*.sql`` and runs the steps
in order on one DuckDB connection. Every decision is in the SQL files; the
order and what each decides is in ``queries/README.md``.

Outputs are written to a staging directory inside OUTDIR and renamed into
place at the end, ``summary.json`` last, so a failed or interrupted run never
leaves a half-written result.
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

import duckdb
import orjson

from recondiff import __version__
from recondiff.config.load import (
    Config,
    CorrelationRule,
    check_expression,
    dn_placeholders,
    load_config,
)
from recondiff.engine.confine import lock_down, open_connection
from recondiff.engine.slots import (
    Column,
    correlation_values,
    element_values,
    hash_of,
    hashed,
    list_of,
    null_or,
    quote_ident,
)
from recondiff.errors import (
    ConfigError,
    ExitCode,
    InputError,
    InternalError,
    RecondiffError,
    first_line,
    no_space,
)
from recondiff.history import History, PreviousRun, config_key, history_path
from recondiff.ingest import snapshot as snapshot_mod
from recondiff.io.sqlfiles import Rows, load, macros, render
from recondiff.plan import file as plan_mod
from recondiff.plan.build import Planner
from recondiff.plan.file import Plan
from recondiff.report.build import ReportBuilder
from recondiff.report.render import render_html
from recondiff.vocabulary import SITUATIONS

Progress = Callable[[str], None]

DEFAULT_MEMORY_LIMIT = "1GB"

OUTPUT_FILES = (
    "situations.parquet",
    "situations.csv",
    "drift.parquet",
    "drift.csv",
    "drift_diff.csv",
    "plan.json",
    "report.json",
    "report.html",
)


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
class CompareResult:
    outdir: Path
    summary: dict[str, Any]
    warnings: tuple[str, ...] = ()

    @property
    def differences(self) -> int:
        return int(self.summary["differences"])

    @property
    def exit_code(self) -> int:
        return ExitCode.DIFFERENCES if self.differences else ExitCode.IN_SYNC


@dataclass
class _Side:
    """A snapshot's columns, looked up case-insensitively, with config-aware errors."""

    file: Path
    config_file: Path
    columns: dict[str, Column] = field(default_factory=dict)

    @classmethod
    def read(cls, snapshot: Path, source: Path, config_file: Path) -> _Side:
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


def compare(
    config: Config | str | Path,
    outdir: str | Path,
    *,
    allow_empty: bool = False,
    progress: Progress | None = None,
    state_dir: str | Path | None = None,
    allow_shrink: bool = False,
) -> CompareResult:
    """Run one reconciliation and write its outputs to ``outdir``.

    The run history (history.py) lives in ``state_dir``, by default ``outdir``.
    Unless ``allow_shrink``, a snapshot with more than ``[plan]
    max_shrink_percent`` fewer records than in the previous run of the same
    config stops the run (:func:`_check_shrink`).
    Raises :class:`~recondiff.errors.RecondiffError` for bad config or input.
    """
    cfg = config if isinstance(config, Config) else load_config(config)
    out = Path(outdir)
    history = History(history_path(out, Path(state_dir) if state_dir is not None else None))
    _check_snapshots_outside_outputs(cfg, out, history.path)
    history_key = config_key(cfg.endpoint.name, cfg.repository.name)
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    warnings: list[str] = []
    started = datetime.now(UTC)

    with _work_directory() as work, contextlib.ExitStack() as stack:
        previous = history.previous(history_key, work / "previous_findings.parquet")
        with _timed(timings, "ingest"):
            say("reading inputs")
            ep_in = _input(cfg, "endpoint", work, allow_empty)
            repo_in = _input(cfg, "repository", work, allow_empty)
        if previous is not None and not allow_shrink:
            _check_shrink(cfg, previous, ep_in, repo_in, lambda: history.runs(history_key))
        ep = _Side.read(ep_in.snapshot, ep_in.path, cfg.path)
        repo = _Side.read(repo_in.snapshot, repo_in.path, cfg.path)

        spill = stack.enter_context(_spill_directory(cfg))
        con = _connect(cfg, work, [ep_in.snapshot, repo_in.snapshot], out, previous, spill)
        try:
            con.execute(macros())
            params: dict[str, Any] = {
                "endpoint_path": str(ep_in.snapshot),
                "repository_path": str(repo_in.snapshot),
                # Folded in SQL (rd_key), exactly as the keys and statuses they meet.
                "protected": list(cfg.endpoint.protected),
                "deleted_values": list(cfg.repository.deleted_values),
                "rule_names": [r.name for r in cfg.correlation],
                "kinds": [a.compare for a in cfg.attributes],
                "attributes": [a.endpoint for a in cfg.attributes],
                "repository_attributes": [a.repository for a in cfg.attributes],
                "incremental": cfg.endpoint.incremental,
            }
            blame = {
                "config": str(cfg.path),
                "endpoint": str(ep_in.path),
                "repository": str(repo_in.path),
            }
            fills = _Fills(cfg, ep, repo, con, params)

            say("classifying accounts")
            with _timed(timings, "stage"):
                _step(con, "stage/endpoint", params, blame, **fills.stage_endpoint())
                _step(con, "stage/repository", params, blame, **fills.stage_repository())
            _check_repository_keys(con, cfg, repo_in.path)
            with _timed(timings, "classify"):
                _step(con, "classify/endpoint_state", params, blame)
                _step(con, "classify/release_endpoint_stage", params, blame)
                _step(con, "stage/blank_records", params, blame)
                _step(con, "classify/link", params, blame)
                _step(con, "classify/link_accounts", params, blame)
                _step(con, "classify/release_link_stage", params, blame)
                _step(con, "classify/correlate_todo", params, blame)
                _step(
                    con, "classify/correlate_endpoint_values", params, blame,
                    **fills.correlate_endpoint(),
                )
                _step(
                    con, "classify/correlate_repository_values", params, blame,
                    **fills.correlate_repo(),
                )
                _step(con, "classify/correlate", params, blame)
                _step(con, "classify/situations", params, blame)
                if cfg.repository.expect_account and not cfg.endpoint.incremental:
                    _step(con, "classify/missing_expected", params, blame)
                if previous is not None and previous.owners is not None:
                    owners = {"owners_path": str(previous.owners), "owners_run_id": previous.run_id}
                    _step(
                        con, "classify/vanished", params | owners, blame,
                        key=fills.repo_key.first(),
                    )
                _step(con, "classify/release_situation_stage", params, blame)
            say("computing drift")
            with _timed(timings, "drift"):
                _step(con, "drift/pairs", params, blame)
                _step(con, "drift/differences", params, blame, **fills.drift())

            blank_rows = [r[0] for r in _step(con, "stage/blank_keys", params).fetchall()]
            counts = _counts(con, params)
            if counts["blank_keys"]:
                warnings.append(
                    f"{ep_in.path}: {counts['blank_keys']} record(s) with a blank "
                    f"'{cfg.endpoint.key}' skipped (record {', '.join(map(str, blank_rows))}"
                    f"{', …' if counts['blank_keys'] > len(blank_rows) else ''})"
                )

            def step(name: str, p: dict[str, Any], **f: str) -> Rows:
                return _step(con, name, p, blame, **f)

            def batches(name: str, p: dict[str, Any], size: int, **f: str) -> Iterator[Any]:
                return _batches(con, name, p, blame, size, **f)

            planner = Planner(
                cfg,
                step,
                batches,
                fills.ep_attrs,
                ep.columns,
                fills.repo_key,
                fills.repo_attrs,
                repo.columns,
            )

            def make_plan(situations_parquet: Path, path: Path) -> Plan:
                """Write plan.json as its events come; return the header and the events
                the report shows."""
                say("writing the action plan")
                with _timed(timings, "plan"):
                    header, events = planner.build(
                        params, situations_parquet, ep_in, repo_in, started
                    )
                    writer = plan_mod.PlanWriter(path, keep=cfg.report.rows_per_table)
                    try:
                        for batch in events:
                            writer.add_batch(batch)
                    except BaseException:
                        writer.abort()
                        raise
                    return writer.finish(header)

            reporter = ReportBuilder(
                cfg,
                step,
                fills.ep_attrs,
                fills.repo_attrs,
                ep.columns,
            )
            if previous is not None:
                _step(con, "history/load_findings", {"path": str(previous.findings)})
            else:
                _step(con, "history/no_previous", params)

            def make_report(
                summary: dict[str, Any], plan: Plan, situations_parquet: Path
            ) -> dict[str, Any]:
                say("writing the report")
                with _timed(timings, "report"):
                    return reporter.build(
                        params, situations_parquet, summary, plan, previous, history,
                        history_key,
                    )

            say("writing results")
            summary = _write_outputs(
                con,
                params,
                fills,
                out,
                timings,
                make_plan,
                lambda plan: _summary(cfg, counts, ep_in, repo_in, started, timings, warnings)
                | {"plan": _plan_summary(plan)},
                make_report,
            )
        finally:
            con.close()
    history.record(
        run_id=summary["run"]["id"],
        key=history_key,
        config_path=cfg.path,
        outdir=out,
        summary=summary,
        situations_parquet=out / "situations.parquet",
        previous=previous,
    )
    return CompareResult(outdir=out, summary=summary, warnings=tuple(warnings))


# --- inputs -----------------------------------------------------------------


def _input(cfg: Config, side: str, work: Path, allow_empty: bool) -> InputSummary:
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


def _check_shrink(
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


def _check_snapshots_outside_outputs(cfg: Config, out: Path, history_file: Path) -> None:
    """A snapshot that is one of the files this run writes would be replaced
    by the run's results (and a Parquet one read in place changed under it)."""
    outputs = {
        os.path.realpath(p): p
        for p in [*(out / n for n in (*OUTPUT_FILES, "summary.json")), history_file]
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


def _connect(
    cfg: Config,
    work: Path,
    snapshots: list[Path],
    out: Path,
    previous: PreviousRun | None,
    spill: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """The run's connection, confined (recondiff.engine.confine.lock_down): it reads
    the snapshots and the previous run's ownerships, and reads and writes only
    in the run's work directory and the output directory, whatever a config
    expression asks. It spills into ``spill`` (:func:`_spill_directory`, inside
    the config's temp_directory), else into the work directory; the config's
    temp_directory itself is never opened to queries."""
    con = open_connection()
    try:
        _configure(cfg, con, work, spill)
        owners = [previous.owners] if previous is not None and previous.owners else []
        return lock_down(con, files=[*snapshots, *owners], directories=[work, out])
    except BaseException:
        con.close()
        raise


def _configure(
    cfg: Config, con: duckdb.DuckDBPyConnection, work: Path, spill: Path | None
) -> None:
    # Naive ISO timestamps in the data are read as UTC (compare kind "date").
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB lets queries into its temp_directory even with external access off,
    # so a run spills into a directory of its own (work/, or a locked and marked
    # recondiff-<pid>-* inside [engine] temp_directory), never the configured one
    # itself (which may be "/" or site-packages).
    if cfg.engine.temp_directory is not None and spill is None:
        raise ValueError("[engine] temp_directory is set: spill into _spill_directory(cfg)")
    temp = spill or work / "duckdb-tmp"
    con.execute("SET temp_directory = $t", {"t": str(temp)})
    # Default 1GB: a 10M-account run then peaks under 2 GB resident and spills
    # the rest to temp_directory (benchmarks/RESULTS.md has both settings).
    memory_limit = cfg.engine.memory_limit or DEFAULT_MEMORY_LIMIT
    try:
        con.execute("SET memory_limit = $m", {"m": memory_limit})
    except duckdb.Error:
        raise ConfigError(
            f"{cfg.path}: [engine] memory_limit: {memory_limit!r} is not a size "
            'like "2GB" or "512MB"'
        ) from None
    # Hand memory back to the system after each task instead of caching up to
    # 128 MiB (DuckDB's default): peak RSS of the 1M benchmark 755 -> 675 MB,
    # no measurable cost in time.
    con.execute("SET allocator_flush_threshold = '16MB'")
    con.execute("SET allocator_bulk_deallocation_flush_threshold = '16MB'")
    if cfg.engine.threads:
        con.execute("SET threads = $n", {"n": cfg.engine.threads})


# --- SQL slots ----------------------------------------------------------------


class _Fills:
    """Resolves the config against both snapshots and builds the slot fills."""

    def __init__(
        self,
        cfg: Config,
        ep: _Side,
        repo: _Side,
        con: duckdb.DuckDBPyConnection,
        params: dict[str, Any],
    ) -> None:
        self.cfg, self.ep, self.repo, self.con, self.params = cfg, ep, repo, con, params
        self.ep_key = ep.find(cfg.endpoint.key, "[endpoint] key")
        self.repo_key = repo.find(cfg.repository.key, "[repository] key")
        self.link = (
            repo.find(cfg.repository.link, "[repository] link") if cfg.repository.link else None
        )
        self.status = (
            repo.find(cfg.repository.status, "[repository] status")
            if cfg.repository.status
            else None
        )
        self.ep_attrs = []
        self.repo_attrs = []
        for i, a in enumerate(cfg.attributes, 1):
            self.ep_attrs.append(ep.find(a.endpoint, f"[[attribute]] #{i} endpoint"))
            self.repo_attrs.append(repo.find(a.repository, f"[[attribute]] #{i} repository"))
        for name in cfg.endpoint.multi_valued:
            ep.find(name, "[endpoint] multi_valued")
        for name in cfg.repository.multi_valued:
            repo.find(name, "[repository] multi_valued")
        self.ep_scope = self._predicate("endpoint", cfg.endpoint.scope)
        self.repo_scope = self._predicate("repository", cfg.repository.scope)
        self.ep_corr = [
            self._corr_values("endpoint", i, r) for i, r in enumerate(cfg.correlation, 1)
        ]
        self.repo_corr = [
            self._corr_values("repository", i, r) for i, r in enumerate(cfg.correlation, 1)
        ]
        self._check_create_dn()

    def _probe(self, side: str, expression: str, key: str) -> str:
        """Check a config SQL expression against the snapshot; return its type.
        It is checked to be one plain expression first (as load_config does, for
        a Config built in code), then bound on the confined connection over no row."""
        snapshot = self.ep.file if side == "endpoint" else self.repo.file
        check_expression(self.cfg.path, key, expression, snapshot)
        sql = render("check/expression", expression=expression)
        try:
            cursor = self.con.execute(sql, {"path": self.params[f"{side}_path"]})
        except duckdb.Error as exc:
            first = first_line(exc)
            raise ConfigError(
                f"{self.cfg.path}: {key} is not a valid SQL expression over "
                f"{self.ep.file if side == 'endpoint' else self.repo.file}: {first}"
            ) from None
        return str(cursor.description[0][1]) if cursor.description else "NULL"

    def _predicate(self, side: str, scope: str | None) -> str:
        if not scope:
            return "TRUE"
        kind = self._probe(side, scope, f"[{side}] scope")
        if kind.upper() not in ("BOOLEAN", '"NULL"', "NULL"):
            raise ConfigError(
                f"{self.cfg.path}: [{side}] scope must be a predicate (true or false), "
                f"but it gives {kind}; write a comparison such as \"employeeType <> 'Service'\""
            )
        return scope

    def _corr_values(self, side: str, i: int, rule: CorrelationRule) -> str:
        attr = getattr(rule, side)
        if attr is not None:
            source = self.ep if side == "endpoint" else self.repo
            column = source.find(attr, f"[[correlation]] #{i} {side}")
            return correlation_values(column, rule.compare)
        expression = getattr(rule, f"{side}_sql")
        kind = self._probe(side, expression, f"[[correlation]] #{i} {side}_sql")
        if kind.endswith("[]"):
            values = f"CAST(({expression}) AS VARCHAR[])"
        else:
            values = f"[CAST(({expression}) AS VARCHAR)]"
        return element_values(values, rule.compare)

    def _check_create_dn(self) -> None:
        """Every {column} of [endpoint] create_dn is a repository column: one
        that is not would give an add event with no DN (planner.py fills it)."""
        for name in dn_placeholders(self.cfg.endpoint.create_dn or ""):
            if name.lower() == "key" or name.lower() in self.repo.columns:
                continue
            names = [c.name for c in self.repo.columns.values()]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise ConfigError(
                f"{self.cfg.path}: [endpoint] create_dn: {{{name}}} is not a column of "
                f"{self.repo.file}{hint}; name a repository column, or {{key}} for the "
                "account's key"
            )

    def _dn(self) -> str:
        dn = self.ep.optional("dn", "distinguishedName")
        return null_or(dn.first() if dn else None)

    def stage_endpoint(self) -> dict[str, str]:
        return {
            "key": self.ep_key.first(),
            "scope": self.ep_scope,
            "attr_hash": hash_of(
                [
                    hashed(c, a.compare)
                    for c, a in zip(self.ep_attrs, self.cfg.attributes, strict=True)
                ]
            ),
        }

    def stage_repository(self) -> dict[str, str]:
        return {
            "key": self.repo_key.first(),
            "link": null_or(self.link.first() if self.link else None),
            "status": null_or(self.status.first() if self.status else None),
            "scope": self.repo_scope,
            "attr_hash": hash_of(
                [
                    hashed(c, a.compare)
                    for c, a in zip(self.repo_attrs, self.cfg.attributes, strict=True)
                ]
            ),
        }

    def correlate_endpoint(self) -> dict[str, str]:
        return {"endpoint_values": list_of(self.ep_corr, "VARCHAR[]")}

    def correlate_repo(self) -> dict[str, str]:
        return {"repository_values": list_of(self.repo_corr, "VARCHAR[]")}

    def drift(self) -> dict[str, str]:
        return {
            "key": self.ep_key.first(),
            "values": list_of([c.values() for c in self.ep_attrs], "VARCHAR[]"),
            "repository_values": list_of([c.values() for c in self.repo_attrs], "VARCHAR[]"),
        }

    def diff_cells(self) -> dict[str, str]:
        # one column per compared attribute, named as configured (quoted)
        return {
            "cells": "".join(
                f",\n        rd_csv(first(cell) FILTER (WHERE attr_idx = {i})) AS "
                f"{quote_ident(a.endpoint)}"
                for i, a in enumerate(self.cfg.attributes, 1)
            )
        }

    def situations_out(self) -> dict[str, str]:
        return {"key": self.ep_key.first(), "dn": self._dn()}


_PARAM = re.compile(r"\$(\w+)")

# When a step fails inside DuckDB, what the user should look at. Formatted with
# the run's paths; the DuckDB message follows after a colon.
_BLAME = {
    "stage/endpoint": "{endpoint}: cannot evaluate it with {config} ([endpoint] scope "
    "failed on its data, or the file is corrupt)",
    "stage/repository": "{repository}: cannot evaluate it with {config} ([repository] scope "
    "failed on its data, or the file is corrupt)",
    "classify/correlate_endpoint_values": "{endpoint}: a [[correlation]] endpoint or endpoint_sql "
    "in {config} failed on its data",
    "classify/correlate_repository_values": "{repository}: a [[correlation]] repository or "
    "repository_sql in {config} failed on its data",
    "drift/differences": "{endpoint}, {repository}: cannot read the snapshots again for drift "
    "(were they changed during the run?)",
    "results/situations_csv": "{out}: cannot write the results",
    "results/situations_parquet": "{out}: cannot write the results",
    "results/drift_csv": "{out}: cannot write the results",
    "results/drift_parquet": "{out}: cannot write the results",
    "results/drift_diff_csv": "{out}: cannot write the results",
}


def _step(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any],
    blame: dict[str, str] | None = None,
    **fills: str,
) -> Rows:
    """Run ``queries/<name>.sql`` with its ``{{slots}}`` filled; its rows,
    fetched (a SELECT runs while they are).

    Only the parameters the query file itself names are bound: a ``$`` inside
    a config expression or a column name is never taken for one. A DuckDB
    failure becomes one line naming what to check; an interrupt stays an
    interrupt.
    """
    with _duckdb_errors(name, blame):
        return Rows(con.execute(render(name, **fills), _used(name, params)))


def _batches(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any],
    blame: dict[str, str] | None,
    size: int,
    **fills: str,
) -> Iterator[list[tuple[Any, ...]]]:
    """Stream ``queries/<name>.sql`` (one SELECT) as lists of ``size`` rows,
    computed as they are read; errors as in :func:`_step`. DuckDB runs the
    query while the rows are fetched: the plan's event lines are never all
    in memory (holding the whole result first was 45 MB more at 1M)."""
    with _duckdb_errors(name, blame):
        result = con.execute(render(name, **fills), _used(name, params))
        while rows := result.fetchmany(size):
            yield rows


def _used(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return {p: params[p] for p in set(_PARAM.findall(load(name)))}


@contextmanager
def _duckdb_errors(name: str, blame: dict[str, str] | None) -> Iterator[None]:
    try:
        yield
    except duckdb.InterruptException:
        raise KeyboardInterrupt from None
    except RuntimeError as exc:  # DuckDB reports Ctrl-C as "Query interrupted"
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise
    except duckdb.Error as exc:
        if "interrupted" in str(exc).lower():
            raise KeyboardInterrupt from None
        raise _duckdb_failure(name, blame, exc) from exc


def _duckdb_failure(
    name: str, blame: dict[str, str] | None, exc: duckdb.Error
) -> RecondiffError | InternalError:
    """What a failed step means: the user's input or environment (exit 2) when
    the step is one a bad input, config or disk can make fail (``_BLAME``), or
    DuckDB ran out of disk or memory; otherwise a bug (exit 3)."""
    where = _BLAME.get(name)
    if no_space(exc):
        if name.startswith("results/") and where:  # "{out}: cannot write the results"
            return InputError(
                f"{where.format(**(blame or {}))} (no space left on device); the previous "
                "results are untouched; free some space or pass another -o"
            )
        return InputError(
            f"queries/{name}.sql: no space left on device for DuckDB's temporary files "
            "([engine] temp_directory, by default under TMPDIR); free some space or "
            "point it elsewhere; the previous results are untouched"
        )
    if isinstance(exc, duckdb.OutOfMemoryException):
        return InputError(
            f"queries/{name}.sql: out of memory ({first_line(exc)}); raise [engine] "
            "memory_limit or give [engine] temp_directory more space"
        )
    if where is None or isinstance(exc, duckdb.InternalException):
        return InternalError(f"queries/{name}.sql failed: {first_line(exc)}")
    return InputError(f"{where.format(**(blame or {}))}: {first_line(exc)}")


def _check_repository_keys(con: duckdb.DuckDBPyConnection, cfg: Config, path: Path) -> None:
    problems = _step(con, "check/repository_keys", {}).fetchall()
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


@contextmanager
def _timed(timings: dict[str, float], phase: str) -> Iterator[None]:
    t0 = time.perf_counter()
    try:
        yield
    finally:
        timings[phase] = round(timings.get(phase, 0.0) + time.perf_counter() - t0, 3)


# --- results --------------------------------------------------------------------


def _counts(con: duckdb.DuckDBPyConnection, params: dict[str, Any]) -> dict[str, Any]:
    situations = dict.fromkeys(SITUATIONS, 0)
    by_attribute = dict.fromkeys(params["attributes"], 0)
    counts: dict[str, Any] = {"situations": situations, "by_attribute": by_attribute}
    for what, name, n in _step(con, "results/summary", params).fetchall():
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
    for situation, state, n in _step(con, "results/sync_counts", params).fetchall():
        sync[state] += int(n)
        by_situation[situation][state] = int(n)
        if situation == "linked" and state == "in_sync":
            counts["linked_in_sync"] = int(n)
    counts["sync"] = sync
    counts["sync_by_situation"] = by_situation
    return counts


def _summary(
    cfg: Config,
    counts: dict[str, Any],
    ep_in: InputSummary,
    repo_in: InputSummary,
    started: datetime,
    timings: dict[str, float],
    warnings: list[str],
) -> dict[str, Any]:
    situations = counts["situations"]
    # Every record (and missing identity) but an excluded one or a linked account
    # in sync is a difference; a correlated account still lacks its link.
    in_sync_linked = counts["linked_in_sync"]
    differences = sum(n for s, n in situations.items() if s != "excluded") - in_sync_linked
    endpoint = ep_in.as_json() | {"blank_keys": counts["blank_keys"]}
    return {
        "recondiff_version": __version__,
        "run": {
            "id": _run_id(started, ep_in, repo_in),
            "config": str(cfg.path),
            "config_sha256": hashlib.sha256(cfg.path.read_bytes()).hexdigest(),
            "endpoint": cfg.endpoint.name,
            "repository": cfg.repository.name,
            "incremental": cfg.endpoint.incremental,
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "situations": situations,
        "sync": counts["sync"],
        "sync_by_situation": counts["sync_by_situation"],
        "drift": {
            "by_attribute": counts["by_attribute"],
            "accounts": counts["drift_accounts"],
            "rows": counts["drift_rows"],
        },
        "differences": differences,
        "inputs": {"endpoint": endpoint, "repository": repo_in.as_json()},
        "warnings": warnings,
        "timings": timings,
    }


def _write_outputs(
    con: duckdb.DuckDBPyConnection,
    params: dict[str, Any],
    fills: _Fills,
    out: Path,
    timings: dict[str, float],
    make_plan: Callable[[Path, Path], Plan],
    make_summary: Callable[[Plan], dict[str, Any]],
    make_report: Callable[[dict[str, Any], Plan, Path], dict[str, Any]],
) -> dict[str, Any]:
    """Write every table into a staging directory inside ``out``, then the
    summary (which records how long that took), then rename them all into
    place, summary.json last."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging, lock = _owned_directory(out, STAGING_PREFIX)
    except OSError as exc:
        raise InputError(
            f"{out}: cannot write the output directory ({exc.strerror}); pass another -o"
        ) from None
    swapping = False
    try:
        with _timed(timings, "write"):
            blame = {"out": str(out)}
            situations = staging / "situations.parquet"
            copy = params | {"path": str(situations)}
            _step(con, "results/situations_parquet", copy, blame, **fills.situations_out())
            _step(con, "results/release_situation_table", {})
            copy = {"situations_parquet": str(situations), "path": str(staging / "situations.csv")}
            _step(con, "results/situations_csv", copy, blame)
            _step(con, "results/drift_export", params, blame)
            for fmt in ("parquet", "csv"):
                _step(con, f"results/drift_{fmt}", {"path": str(staging / f"drift.{fmt}")}, blame)
            _step(
                con,
                "results/drift_diff_csv",
                {"path": str(staging / "drift_diff.csv")},
                blame,
                **fills.diff_cells(),
            )
        if fills.cfg.report.csv_bom:
            for name in OUTPUT_FILES:
                if name.endswith(".csv"):
                    _prepend_bom(staging / name)
        plan = make_plan(situations, staging / "plan.json")
        summary = make_summary(plan)
        report = make_report(summary, plan, situations)
        # compact, by orjson: 0.43 s -> 0.03 s for a 1M run's 8 MB (indenting is slower still)
        (staging / "report.json").write_bytes(orjson.dumps(report) + b"\n")
        with _timed(timings, "report"):
            html = render_html(report, plan)
        (staging / "report.html").write_text(html, encoding="utf-8")
        (staging / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        for name in (*OUTPUT_FILES, "summary.json"):
            _fsync(staging / name)
        # summary.json marks a complete result: it leaves first and comes back
        # last, and an interrupt waits until the swap is done.
        with _interrupts_deferred():
            swapping = True
            (out / "summary.json").unlink(missing_ok=True)
            for name in (*OUTPUT_FILES, "summary.json"):
                os.replace(staging / name, out / name)
    except OSError as exc:  # a full disk, mostly: Python's writes (DuckDB's: _step)
        what = "no space left on device" if no_space(exc) else (exc.strerror or first_line(exc))
        kept = (
            "the results there are incomplete (no summary.json); run again"
            if swapping
            else "the previous results are untouched; free some space or pass another -o"
        )
        raise InputError(f"{out}: cannot write the results ({what}); {kept}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        os.close(lock)
    return summary


def _run_id(started: datetime, ep_in: InputSummary, repo_in: InputSummary) -> str:
    seed = f"{started.isoformat()}\n{ep_in.sha256}\n{repo_in.sha256}".encode()
    return f"run-{started:%Y%m%dT%H%M%SZ}-{hashlib.sha256(seed).hexdigest()[:8]}"


def _plan_summary(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan["plan_id"],
        "digest": plan["digest"],
        "attention": len(plan["attention"]),
        **plan["counts"],
    }


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (in the main thread) for a few renames; they arrive after.

    Their Python handlers are swapped for one that only notes the signal, and
    the first one noted is raised again after. Blocking them in the main
    thread (pthread_sigmask) was not enough: the kernel hands a process signal
    to any thread that does not block it (DuckDB's workers), and Python then
    runs the handler in the main thread at once, between two renames."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in held}
    for s in held:
        if previous[s] is not None:  # None: not set from Python, leave it
            signal.signal(s, hold)
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])


# --- temporary directories ----------------------------------------------------

WORK_PREFIX = "recondiff-"
"""The run's work directory in the system's temp directory (TMPDIR): ingested
snapshots, the previous run's findings, DuckDB's spill files."""
STAGING_PREFIX = ".recondiff-tmp-"
"""The staging directory inside OUTDIR, renamed from at the end."""


OWNER_MARK = ".recondiff-run"
"""An empty file in every directory :func:`_owned_directory` makes: the sweep
removes only directories that hold it, never a look-alike another tool or the
user made."""


def _owned_directory(parent: Path, prefix: str) -> tuple[Path, int]:
    """Create ``parent/<prefix><pid>-<random>`` and lock it (flock) for this
    process; return it and the lock's descriptor (close it after removing the
    directory). Leftovers of earlier runs killed before their clean-up could
    run (SIGKILL, a power cut, the OOM killer) are removed first."""
    _remove_leftovers(parent, prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    with contextlib.suppress(OSError):  # a file system without locks: the pid alone tells
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        (path / OWNER_MARK).touch()
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
        raise
    return path, fd


@contextmanager
def _work_directory() -> Iterator[Path]:
    """The run's work directory (:data:`WORK_PREFIX`), removed after the run,
    also on Ctrl-C and SIGTERM (which the CLI turns into KeyboardInterrupt)."""
    parent = Path(tempfile.gettempdir())
    try:
        path, lock = _owned_directory(parent, WORK_PREFIX)
    except OSError as exc:
        raise InputError(
            f"{parent}: cannot create the run's temporary directory ({exc.strerror or exc}); "
            "set TMPDIR to a writable directory with free space"
        ) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


@contextmanager
def _spill_directory(cfg: Config) -> Iterator[Path | None]:
    """The run's spill directory inside ``[engine] temp_directory`` (None when
    that is not set: the run spills into its work directory). Made, locked and
    marked as the work directory is, so that a sweep by a later run (also one
    in another PID namespace sharing the directory) leaves it alone while the
    run lives, and removes it when a killed run left it. Close the connection
    that spills into it before this exits."""
    parent = cfg.engine.temp_directory
    if parent is None:
        yield None
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
        path, lock = _owned_directory(parent, WORK_PREFIX)
    except OSError as exc:
        raise ConfigError(
            f"{cfg.path}: [engine] temp_directory: cannot create a directory in "
            f"{parent}: {exc.strerror or exc}"
        ) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


def _remove_leftovers(parent: Path, prefix: str) -> None:
    """Remove ``parent``'s directories ``<prefix><pid>-<random>`` (and the UTF-16
    transcoding files ``<prefix><pid>-<random>.csv`` of recondiff.ingest.exports) that this
    user owns, whose process no longer runs and whose lock nobody holds: what a
    killed run left. A live run's directory (in another container or host
    too: its lock) and anything not made by recondiff stay."""
    # mkdtemp/mkstemp's 8 random characters
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[a-z0-9_]{8}(\.csv)?")
    try:
        entries = [e for e in os.scandir(parent) if pattern.fullmatch(e.name)]
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        assert match is not None
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        is_file = match[2] is not None
        kind = stat.S_ISREG if is_file else stat.S_ISDIR
        if not kind(info.st_mode) or info.st_uid != os.geteuid():
            continue
        if _process_runs(int(match[1])):
            continue
        flags = os.O_RDONLY | os.O_NOFOLLOW | (0 if is_file else os.O_DIRECTORY)
        try:
            fd = os.open(entry.path, flags)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live run holds it (or no locks here: leave it)
            os.close(fd)
            continue
        try:
            if is_file:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            elif not _marked(fd):
                pass  # named like ours, but not made by recondiff: leave it
            else:
                shutil.rmtree(entry.path, ignore_errors=True)
        finally:
            os.close(fd)


def _marked(directory_fd: int) -> bool:
    try:
        info = os.stat(OWNER_MARK, dir_fd=directory_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process (or a number no pid can be)
    return True


def _prepend_bom(path: Path) -> None:
    """[report] csv_bom: a UTF-8 byte-order mark first, so that Excel reads UTF-8."""
    with_bom = path.with_name(path.name + ".bom")
    with path.open("rb") as source, with_bom.open("wb") as target:
        target.write(b"\xef\xbb\xbf")
        shutil.copyfileobj(source, target, 1 << 20)
    os.replace(with_bom, path)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
