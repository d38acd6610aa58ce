"""One reconciliation run: snapshots in, situations, drift, plan, report and summary out.

:func:`compare` runs the phases in order, each in a module of its own:

explore   the config's live sources read into snapshots under OUTDIR/snapshots/
          (:mod:`recondiff.explore`; nothing to do for a config of exports);
resolve   the config, the inputs (:mod:`recondiff.engine.resolve`), the
          previous run (:mod:`recondiff.history`), the connection
          (:mod:`recondiff.engine.connection`) and the slot fills
          (:mod:`recondiff.engine.fills`);
stage, classify, drift, results
          the engine's steps (:mod:`recondiff.engine.steps` lists them in
          order, ``queries/README.md`` says what each decides), the output
          tables written into a staging directory;
plan      plan.jsonl (:class:`recondiff.plan.build.Planner`);
report    report.json and report.html (:mod:`recondiff.report`);
publish   every output renamed into place, summary.json last
          (:mod:`recondiff.engine.publish`), so a failed or interrupted run
          never leaves a half-written result;
history   the run recorded (:mod:`recondiff.history`), once its results are in
          place: a run whose results were not published is never the
          previous run of the next; likewise the explores' high-water marks.

Python only orchestrates; every decision is in the SQL files.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from recondiff.config.load import Config, load_config
from recondiff.engine import results
from recondiff.engine.classify import classify
from recondiff.engine.connection import connect
from recondiff.engine.drift import drift
from recondiff.engine.fills import Fills
from recondiff.engine.policies import PolicyRun, apply_policies
from recondiff.engine.publish import Staging, staging
from recondiff.engine.resolve import (
    Inputs,
    Side,
    check_shrink,
    check_snapshots_outside_outputs,
    read_input,
)
from recondiff.engine.stage import stage

if TYPE_CHECKING:
    from recondiff.engine.spark_run import SparkRunner
from recondiff.engine.steps import Session
from recondiff.engine.workdirs import (
    spill_directory,
    work_directory,
)
from recondiff.errors import ConfigError, ExitCode
from recondiff.explore.sources import ExploreOptions, Sources, explore_sources
from recondiff.history import (
    History,
    PreviousRun,
    RunFiles,
    clock_warning,
    config_key,
    exceptions_clock,
    history_path,
    stage_findings,
    write_run_files,
)
from recondiff.io.sqlfiles import macros
from recondiff.plan.build import Planner
from recondiff.plan.file import PLAN_FILE, Plan, Sign
from recondiff.plan.findings import Harvested, harvest
from recondiff.plan.writer import PlanWriter
from recondiff.report.build import ReportBuilder
from recondiff.report.render import render_html

__all__ = ["CompareResult", "ExploreOptions", "compare"]

Progress = Callable[[str], None]


@dataclass(frozen=True)
class CompareResult:
    outdir: Path
    summary: dict[str, Any]
    warnings: tuple[str, ...] = ()  # summary.json's, the stale inputs' among them
    stale: tuple[str, ...] = ()  # the inputs' age (results.stale_inputs): said even with -q
    alerts: tuple[dict[str, Any], ...] = ()  # report.json's, for [[notify]] (recondiff/notify/)

    @property
    def differences(self) -> int:
        return int(self.summary["differences"])

    @property
    def exit_code(self) -> int:
        return ExitCode.DIFFERENCES if self.differences else ExitCode.IN_SYNC


@dataclass
class _Run:
    """What the phases share: the config, where the run writes, and its clock."""

    cfg: Config
    out: Path
    history: History
    history_key: str
    say: Progress
    started: datetime
    timings: dict[str, float]
    sign: Sign | None = None  # signs the plan's digest ([plan] signing_key)
    # the exceptions of this config active at the run's clock (history.py), if any
    exceptions: Path | None = None
    harvested: Harvested | None = None  # the replaced plan's decisions, recorded
    sources: Sources | None = None  # the live sources explored (recondiff/explore/)

    @contextmanager
    def timed(self, phase: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            total = self.timings.get(phase, 0.0) + time.perf_counter() - t0
            self.timings[phase] = round(total, 3)


def compare(
    config: Config | str | Path,
    outdir: str | Path,
    *,
    allow_empty: bool = False,
    progress: Progress | None = None,
    state_dir: str | Path | None = None,
    allow_shrink: bool = False,
    explore: ExploreOptions | None = None,
) -> CompareResult:
    """Run one reconciliation and write its outputs to ``outdir``.

    A config with ``[endpoint.source]`` / ``[repository.source]`` (and no
    ``snapshot`` key) explores them first into ``outdir/snapshots/``;
    ``explore`` says how (incremental, offline: :class:`ExploreOptions`).

    The run history (history.py) lives in ``state_dir``, by default ``outdir``.
    Unless ``allow_shrink``, a snapshot with more than ``[plan]
    max_shrink_percent`` fewer records than in the previous run of the same
    config stops the run (:func:`recondiff.engine.resolve.check_shrink`).
    Raises :class:`~recondiff.errors.RecondiffError` for bad config or input.
    """
    # resolve: the config, the previous run, the inputs, the connection
    run = _resolve_run(config, outdir, progress, state_dir)
    # explore: the live sources into OUTDIR/snapshots/ (recondiff/explore/)
    _explore(run, explore or ExploreOptions())
    with work_directory() as work, contextlib.ExitStack() as stack:
        inputs = _resolve_inputs(run, work, allow_empty, allow_shrink)
        spill = stack.enter_context(spill_directory(run.cfg))
        snapshots = [inputs.endpoint.snapshot, inputs.repository.snapshot]
        con = connect(run.cfg, work, snapshots, run.out, inputs.previous, spill)
        try:
            con.execute(macros())
            spark = stack.enter_context(_spark(run, work))
            session = Session(con, inputs.params(run.cfg), inputs.blame(run.cfg, run.out), spark)
            fills = Fills(run.cfg, inputs.ep, inputs.repo, con, session.params)
            # policies: the repository as its identity policies say it should be
            policy_run = _policies(run, session, fills, work)
            # stage, classify, drift: the engine's steps (recondiff/engine/steps.py)
            run.say("classifying accounts")
            with run.timed("stage"):
                stage(session, fills, run.cfg, inputs.repository.path)
            with run.timed("classify"):
                assigned = run.history.assignments(run.history_key, work / "assignments.parquet")
                settled = classify(session, fills, run.cfg, inputs.previous, assigned)
            run.say("computing drift")
            with run.timed("drift"):
                drift(session, fills)
            # results: the counts, then the output tables, into the staging directory
            counts, warnings = results.count(session, run.cfg, inputs.endpoint.path)
            warnings[:0] = run.sources.warnings if run.sources else []
            if run.harvested and run.harvested.warning:
                warnings.append(run.harvested.warning)
            if clock_warning():
                warnings.append(str(clock_warning()))
            if policy_run:
                warnings += policy_run.warnings(run.cfg)
            run.say("writing results")
            with staging(run.out) as staged:
                with run.timed("write"):
                    results.write_tables(session, fills, staged.path)
                    if policy_run:
                        policy_run.publish_into(staged.path)
                if run.cfg.report.csv_bom:
                    results.add_bom(staged.path)
                # what the history and the report need of every row, then the staged
                # table cut down to the rows the plan and the report still read
                files, reporter, segments = _before_plan(run, session, fills, inputs, work)
                # plan, then the summary (which counts its events), then the report
                plan, do_nothing = _plan(run, session, fills, inputs, staged)
                summary = results.summary(
                    run.cfg, counts, inputs.endpoint, inputs.repository, run.started,
                    files.run_id, run.timings, warnings,
                    policy_run.summary if policy_run else None,
                ) | {"plan": _plan_summary(plan) | {"do_nothing": do_nothing}}
                if run.sources:
                    summary["run"] |= run.sources.run_fields()
                alerts = _report(run, session, reporter, segments, inputs.previous, summary,
                                 plan, staged)
                summary["alerts"] = len(alerts)
                # publish: every output renamed into place, summary.json last
                staged.write_summary(summary)
                staged.publish()
        finally:
            con.close()
        # history: recorded once the results are in place (before the work
        # directory, which holds what it records, is removed)
        _record_history(run, inputs.previous, summary, files)
    # the assignments the repository now holds itself are done (docs/plan.md, Owners)
    run.history.settle_assignments(run.history_key, settled, run.started)
    # the explores' marks (the next --since-last starts there), the older snapshots pruned
    if run.sources:
        run.sources.finish(run.history)
    finished = datetime.fromisoformat(summary["run"]["finished_at"])
    return CompareResult(
        outdir=run.out,
        summary=summary,
        warnings=tuple(summary["warnings"]),
        stale=tuple(results.stale_inputs(run.cfg.report, summary["inputs"], finished)),
        alerts=tuple(alerts),
    )


# --- resolve ------------------------------------------------------------------------


def _resolve_run(
    config: Config | str | Path,
    outdir: str | Path,
    progress: Progress | None,
    state_dir: str | Path | None,
) -> _Run:
    """The config and where the run writes; nothing is read or written yet."""
    cfg = config if isinstance(config, Config) else load_config(config)
    if cfg.engine.kind == "spark":  # its SQL expressions as Spark would run them, before any work
        from recondiff.engine.spark_confine import check_config

        check_config(cfg)
    out = Path(outdir)
    history = History(history_path(out, Path(state_dir) if state_dir is not None else None))
    check_snapshots_outside_outputs(cfg, out, history.path)
    return _Run(
        cfg=cfg,
        out=out,
        history=history,
        history_key=config_key(cfg.endpoint.name, cfg.repository.name),
        say=progress or (lambda _msg: None),
        started=datetime.now(UTC),
        timings={},
        sign=_plan_signer(cfg),
    )


def _explore(run: _Run, options: ExploreOptions) -> None:
    """The config's live sources explored (or, offline, their kept snapshots), and
    the config pointed at the snapshots. Any endpoint snapshot that says it is a
    delta (an incremental explore's) makes the run incremental, source or not."""
    cfg = run.cfg
    given = options.endpoint_snapshot or options.repository_snapshot
    live = cfg.endpoint.source is not None or cfg.repository.source is not None or given
    if not live and (options.since_last or options.since is not None or options.offline):
        raise ConfigError(
            f"{cfg.path}: --since-last, --since and --offline are for a config with "
            "[endpoint.source] (docs/explore.md); this one reads exports"
        )
    with run.timed("explore") if live else contextlib.nullcontext():
        run.sources = explore_sources(cfg, run.out, run.history, options, run.say)
    if run.sources.config is not cfg:
        run.cfg = run.sources.config
        check_snapshots_outside_outputs(run.cfg, run.out, run.history.path)


def _plan_signer(cfg: Config) -> Sign | None:
    """The plan's signer, loaded before any work: a missing or unreadable key is
    one line and exit 2 now, not after the run (docs/signing.md)."""
    from recondiff.io.signing import PLAN_PURPOSE, Signer, signing_key_path

    path = signing_key_path(cfg.plan.signing_key)
    if path is None:
        return None
    signer = Signer.load(path)
    return lambda digest: signer.sign(PLAN_PURPOSE, digest.encode("utf-8"))


def _resolve_inputs(run: _Run, work: Path, allow_empty: bool, allow_shrink: bool) -> Inputs:
    """The previous run of this config, both snapshots (an export is ingested
    into ``work`` first), the shrink guard between them, and their columns."""
    cfg = run.cfg
    previous = run.history.previous(run.history_key, work / "previous_findings.parquet")
    # the replaced plan's accepted and rejected decisions first: they apply to this run
    run.harvested = harvest(run.out / PLAN_FILE, run.history, cfg.trust, run.history_key)
    run.exceptions = run.history.active_exceptions(
        run.history_key, exceptions_clock(run.started), work / "exceptions.parquet"
    )
    with run.timed("ingest"):
        run.say("reading inputs")
        # an incremental endpoint snapshot may well be empty: nothing changed
        ep_in = read_input(cfg, "endpoint", work, allow_empty or _delta_endpoint(run))
        repo_in = read_input(cfg, "repository", work, allow_empty)
    if previous is not None and not allow_shrink:
        check_shrink(cfg, previous, ep_in, repo_in, lambda: run.history.runs(run.history_key))
    ep = Side.read(ep_in.snapshot, ep_in.path, cfg.path)
    repo = Side.read(repo_in.snapshot, repo_in.path, cfg.path)
    return Inputs(ep_in, repo_in, ep, repo, previous)


def _delta_endpoint(run: _Run) -> bool:
    return run.sources is not None and run.sources.endpoint_delta is not None


# --- plan, report, publish, history ---------------------------------------------------


def _spark(run: _Run, work: Path) -> contextlib.AbstractContextManager[SparkRunner | None]:
    """[engine] kind = "spark": the runner of the Spark steps (engine/spark_run.py)."""
    if run.cfg.engine.kind != "spark":
        return contextlib.nullcontext()
    from recondiff.engine.spark_run import open_spark

    run.say("starting Spark")
    return open_spark(run.cfg.engine.spark, work)


def _policies(run: _Run, session: Session, fills: Fills, work: Path) -> PolicyRun | None:
    """The identity policies evaluated (recondiff/engine/policies.py): every later
    step reads the derived repository snapshot, the state the policies expect."""
    if not run.cfg.policies.policies:
        return apply_policies(session, fills, run.cfg, work)
    run.say("evaluating identity policies")
    with run.timed("policies"):
        policy_run = apply_policies(session, fills, run.cfg, work)
    if policy_run is not None:
        session.params["repository_path"] = str(policy_run.derived)
    return policy_run


def _before_plan(
    run: _Run, session: Session, fills: Fills, inputs: Inputs, work: Path
) -> tuple[RunFiles, ReportBuilder, dict[str, Any] | None]:
    """What needs every row of the staged situations table, done before the plan:
    the history's files of this run (its findings, delta and ownerships, under
    its run id, which summary.json then carries) and the report's segments; then the
    table is cut down to the rows the plan and the report still read
    (results/release_in_sync.sql), so that it does not add to the plan's memory
    peak."""
    incremental = bool(session.params["incremental"])
    with run.timed("history"):
        stage_findings(session.step, incremental)
        run_id = results.run_id(run.started, inputs.endpoint, inputs.repository)
        files = write_run_files(session.step, work, run_id, incremental, inputs.previous)
    reporter = ReportBuilder(run.cfg, session.step, fills.ep_attrs, fills.repo_attrs,
                             fills.ep.columns)
    with run.timed("report"):
        segments = reporter.segments(session.params)
    with run.timed("write"):
        results.release_in_sync(session, run.cfg)
    return files, reporter, segments


def _plan(
    run: _Run, session: Session, fills: Fills, inputs: Inputs, staged: Staging
) -> tuple[Plan, int]:
    """Write plan.jsonl as its events come, then do_nothing.csv; return the
    header and the events the report shows, and the do-nothing cases' count."""
    run.say("writing the action plan")
    _load_exceptions(session, run.exceptions)
    planner = Planner(
        run.cfg,
        session.step,
        session.batches,
        fills.ep_attrs,
        fills.ep.columns,
        fills.repo_key,
        fills.repo_attrs,
        fills.repo.columns,
    )
    with run.timed("plan"):
        header, events = planner.build(
            session.params,
            staged.path,
            inputs.endpoint,
            inputs.repository,
            run.started,
        )
        writer = PlanWriter(staged.path / "plan.jsonl", keep=run.cfg.report.rows_per_table)
        try:
            for batch in events:
                writer.add_batch(batch)
        except BaseException:
            writer.abort()
            raise
        plan = writer.finish(header, run.sign)
        do_nothing = planner.do_nothing(staged.path / "do_nothing.csv")
    if run.cfg.report.csv_bom:
        results.add_bom(staged.path, ("do_nothing.csv",))
    return plan, do_nothing


def _load_exceptions(session: Session, exceptions: Path | None) -> None:
    """The exceptions of this config active at the run's clock, for the planner
    to propose nothing for what they accept (recondiff/plan/findings.py)."""
    if exceptions is not None:
        session.step("history/load_exceptions", {"path": str(exceptions)})
    else:
        session.step("history/no_exceptions", {})


def _plan_summary(plan: Plan) -> dict[str, Any]:
    return {
        "plan_id": plan["plan_id"],
        "digest": plan["digest"],
        "attention": len(plan["attention"]),
        "accepted": len(plan.get("accepted", [])),
        **plan["counts"],
    }


def _report(
    run: _Run,
    session: Session,
    reporter: ReportBuilder,
    segments: dict[str, Any] | None,
    previous: PreviousRun | None,
    summary: dict[str, Any],
    plan: Plan,
    staged: Staging,
) -> list[dict[str, Any]]:
    """report.json and report.html; the previous run's findings (for what is
    new, resolved and persisting) are loaded for it first. Returns the
    report's alerts."""
    run.say("writing the report")
    if previous is not None:
        session.step("history/load_findings", {"path": str(previous.findings)})
    else:
        session.step("history/no_previous")
    with run.timed("report"):
        report = reporter.build(
            session.params,
            staged.path,
            segments,
            summary,
            plan,
            previous,
            run.history,
            run.history_key,
        )
    # compact, by orjson: much faster than json for a large report (benchmarks/NOTES.md)
    (staged.path / "report.json").write_bytes(orjson.dumps(report) + b"\n")
    with run.timed("report"):
        html = render_html(report, plan)
    (staged.path / "report.html").write_text(html, encoding="utf-8")
    alerts: list[dict[str, Any]] = report["alerts"]
    return alerts


def _record_history(
    run: _Run, previous: PreviousRun | None, summary: dict[str, Any], files: RunFiles
) -> None:
    """The run, its findings and ownerships, read by the next run of this config
    (``files``: as the run's connection wrote them from the staged situations
    table, the published situations.parquet's rows)."""
    run.history.record(
        run_id=summary["run"]["id"],
        key=run.history_key,
        config_path=run.cfg.path,
        outdir=run.out,
        summary=summary,
        files=files,
        previous=previous,
    )
