"""The engine's steps: which query files run, in which order, and what each decides.

:data:`STEPS` is the one ordered list of the engine's query files
(``queries/<name>.sql``). The phases (:mod:`recondiff.engine.stage`,
:mod:`~recondiff.engine.classify`, :mod:`~recondiff.engine.drift`,
:mod:`~recondiff.engine.results`) run them through a :class:`Session`, which
refuses a step that is not listed or that would run before one listed ahead of
it; ``queries/README.md`` lists the same files in the same order with the same
one-liners (tests/test_query_order.py). The other query files belong to a
group of their own (:data:`OTHER_GROUPS`).

Running a step: only the parameters the file names are bound, and a DuckDB
failure becomes one line naming what to check (:data:`BLAME`), or a bug.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import duckdb

from recondiff.errors import InputError, InternalError, RecondiffError, first_line, no_space
from recondiff.io.sqlfiles import Rows, load, render


@dataclass(frozen=True)
class Step:
    name: str  # queries/<name>.sql
    phase: str  # the phase of compare() that runs it
    decides: str  # one line: what it decides or makes


STEPS: tuple[Step, ...] = (
    Step("check/expression", "resolve",
         "checks each config `scope`/`*_sql` expression against its snapshot, over no row"),
    Step("stage/endpoint", "stage",
         "one narrow row per account: folded key, scope/protection, attribute hash"),
    Step("stage/repository", "stage",
         "one narrow row per in-scope identity: key, link, deleted, attribute hash"),
    Step("check/repository_keys", "stage",
         "blank or duplicate identity keys (an input error)"),
    Step("classify/endpoint_state", "classify",
         "`excluded` and `duplicate_key` (the repeated keys, and a view over `ep`); "
         "what is left is active"),
    Step("stage/blank_records", "classify",
         "the endpoint records skipped for a blank key"),
    Step("classify/assigned_settled", "classify",
         "with reviewer assignments: those the repository's own link already holds (settled)"),
    Step("classify/assigned_links", "classify",
         "with reviewer assignments: an owner a reviewer chose counts as the repository's "
         "link, unless the repository links either side"),
    Step("classify/link", "classify",
         "the account keys several in-scope identities link, with their owner"),
    Step("classify/situations", "classify",
         "the one situation of every account by link (else `unmatched`), and the "
         "`missing` identities of dead links"),
    Step("classify/correlate_todo", "classify",
         "correlation 1: the active accounts no identity links"),
    Step("classify/correlate_endpoint_values", "classify",
         "correlation 2: those accounts' normalised values per rule"),
    Step("classify/correlate_sought_rules", "classify",
         "correlation 3: the rules some account has a value for"),
    Step("classify/correlate_repository_values", "classify",
         "correlation 3, per rule: the identities' values some account looks for"),
    Step("classify/correlate_repository_check", "classify",
         "correlation 3, per rule no account has a value for: its values computed for "
         "every identity all the same (an expression failing on the data stops the run)"),
    Step("classify/correlate", "classify",
         "correlation 4: the first rule that matches decides `correlated`, "
         "`ambiguous` or `collision`"),
    Step("classify/correlated", "classify",
         "correlation 5: the situation of each account a rule matched"),
    Step("classify/correlated_update", "classify",
         "correlation 6, some accounts left unmatched: the matched ones updated in place"),
    Step("classify/correlated_rewrite", "classify",
         "correlation 6, none left unmatched: the situation table written again with them "
         "(its statistics, hence situations.parquet's schema, as if written at once)"),
    Step("classify/missing_expected", "classify",
         "with `expect_account` (not incremental): live identities no account matches "
         "are `missing`"),
    Step("classify/vanished", "classify",
         "with a previous run: an unmatched account whose owner vanished is "
         "`deleted_in_repository`"),
    Step("classify/owner_hits", "classify",
         "per `ambiguous` or `collision` account, the identities its correlation rules "
         "(or links) matched: the plan's owner candidates"),
    Step("classify/release_situation_stage", "classify",
         "drops the staging tables, which `situation` now holds"),
    Step("drift/pairs", "drift",
         "the linked/correlated pairs whose attribute hashes differ"),
    Step("drift/differences", "drift",
         "attribute drift of those pairs, attribute by attribute"),
    Step("stage/blank_keys", "results",
         "the first blank-key records, for the warning"),
    Step("results/summary", "results",
         "counts for summary.json: situations, drift per attribute"),
    Step("results/sync_counts", "results",
         "in sync / drifted per situation (linked, correlated)"),
    Step("results/situations_staged", "results",
         "the staged situations table, in situations.parquet's order: what the outputs, "
         "the plan, the report and the history read"),
    Step("results/release_situation_table", "results",
         "drops the situation table, which the staged table now holds; its view "
         "`situations_out`"),
    Step("results/situations_parquet", "results",
         "writes situations.parquet in its documented column order"),
    Step("results/situations_csv", "results",
         "writes situations.csv: situations.parquet but linked in sync, cells neutralised"),
    Step("results/release_situation_dns", "results",
         "drops the DNs from the staged table, which the outputs now hold"),
    Step("results/drift_export", "results",
         "the drift table in its documented column order"),
    Step("results/drift_parquet", "results", "writes drift.parquet"),
    Step("results/drift_csv", "results", "writes drift.csv, cells neutralised"),
    Step("results/drift_diff_csv", "results",
         "writes drift_diff.csv: one row per drifted account, one column per attribute"),
    Step("results/release_in_sync", "results",
         "keeps the rows the plan and the report still read: all but the linked accounts "
         "in sync, the first of those"),
    Step("results/release_staged_table", "results",
         "drops the staged table; `situations_out` reads the kept rows"),
)

# The query files that are not engine steps, by folder: who runs them.
OTHER_GROUPS = {
    "policies": "identity policies, before the stage phase, and the tables they leave for "
    "the plan and the report (recondiff/engine/policies.py)",
    "macros": "the `rd_*` macros, created first on every connection (io/sqlfiles.MACROS)",
    "plan": "the action plan (recondiff/plan/build.py), from situations_out and drift",
    "report": "every number and row of report.json / report.html (recondiff/report/)",
    "spark": "[engine] kind = \"spark\": the tables of the Spark steps read into DuckDB "
    "(recondiff/engine/spark_run.py)",
    "history": "the run history (recondiff/history.py) and the previous run's findings "
    "the report compares with",
}

PHASES = ("resolve", "stage", "classify", "drift", "results")

_ORDER = {step.name: i for i, step in enumerate(STEPS)}

# [engine] kind = "spark" (recondiff/engine/spark_run.py): the steps that run on
# Spark, the heavy ones: every step that reads a whole snapshot or joins the
# two, up to the staged situations table. Their tables (HAND_OVER) then go to
# DuckDB, which writes the outputs and runs the plan, the report and the history
# over them: single files in a documented order, written on the machine that
# runs recondiff, from tables of one narrow row per record (docs/spark.md says
# why). check/expression checks the config's expressions on DuckDB, before any
# work. classify/correlated_update (an UPDATE) has no Spark form: on Spark the
# table is always written again (classify/correlated_rewrite).
SPARK_STEPS = frozenset(
    step.name
    for step in STEPS[: _ORDER["results/situations_staged"] + 1]
    if step.name not in ("check/expression", "classify/correlated_update")
)
# The tables the steps after SPARK_STEPS read, with the order DuckDB keeps them
# in (situations_staged's rowid is the row's place in situations.parquet).
HAND_OVER = {
    "situations_staged": "rank, ep_row, identity_key",
    "drift": None,
    "drift_pairs": None,
    "owner_hit": None,
    "blank_records": None,
}

# When a step fails inside DuckDB, what the user should look at. Formatted with
# the run's paths; the DuckDB message follows after a colon.
BLAME = {
    "stage/endpoint": "{endpoint}: cannot evaluate it with {config} ([endpoint] scope or an "
    "[[attribute]] endpoint_sql failed on its data, or the file is corrupt)",
    "stage/repository": "{repository}: cannot evaluate it with {config} ([repository] scope or "
    "an [[attribute]] repository_sql failed on its data, or the file is corrupt)",
    "classify/correlate_endpoint_values": "{endpoint}: a [[correlation]] endpoint or endpoint_sql "
    "in {config} failed on its data",
    "classify/correlate_repository_values": "{repository}: a [[correlation]] repository or "
    "repository_sql in {config} failed on its data",
    "classify/correlate_repository_check": "{repository}: a [[correlation]] repository or "
    "repository_sql in {config} failed on its data",
    "policies/pass": "{repository}: a [[policy]] when or set_sql in {config} failed on its "
    "data",
    "policies/state": "{repository}: cannot read it for the [[policy]] tables of {config}",
    "drift/differences": "{endpoint}, {repository}: cannot read the snapshots again for drift "
    "(were they changed during the run?)",
    "results/situations_staged": "{endpoint}: cannot read it again for the results "
    "(was it changed during the run?)",
    "results/situations_csv": "{out}: cannot write the results",
    "results/situations_parquet": "{out}: cannot write the results",
    "results/drift_csv": "{out}: cannot write the results",
    "results/drift_parquet": "{out}: cannot write the results",
    "results/drift_diff_csv": "{out}: cannot write the results",
}


class SparkSteps(Protocol):
    """What a Session needs of the Spark runner (recondiff/engine/spark_run.SparkRunner;
    a protocol here, so that this module does not import that one)."""

    def step(
        self, name: str, params: dict[str, Any], blame: dict[str, str], **fills: str
    ) -> Rows: ...

    def hand_over(self, table: str, order: str | None = None) -> str: ...


class Session:
    """The run's connection, its parameters and the paths a failure names.

    :meth:`step` runs the engine's steps in the order of :data:`STEPS` (a step
    not listed there, or run before one listed ahead of it, is a bug), and the
    other groups' files (plan, report, history) whenever their callers ask."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        params: dict[str, Any],
        blame: dict[str, str],
        spark: SparkSteps | None = None,
    ) -> None:
        self.con, self.params, self.blame = con, params, blame
        # [engine] kind = "spark": the steps of SPARK_STEPS run there, the rest
        # here once their tables are handed over (engine/results.write_tables)
        self.spark = spark
        self._last = -1

    def step(
        self, name: str, params: dict[str, Any] | None = None, /, **fills: str
    ) -> Rows:
        """Run ``queries/<name>.sql`` with ``params`` (by default the run's)."""
        self._in_order(name)
        params = self.params if params is None else params
        if self.spark is not None and name in SPARK_STEPS:
            return self.spark.step(name, params, self.blame, **fills)
        return run_step(self.con, name, params, self.blame, **fills)

    def hand_over(self) -> None:
        """[engine] kind = "spark": the tables of :data:`HAND_OVER`, which the Spark
        steps made, written as Parquet by Spark and read into DuckDB, where every
        later step runs. Nothing to do on DuckDB."""
        if self.spark is None:
            return
        for table, order in HAND_OVER.items():
            files = self.spark.hand_over(table, order)
            run_step(self.con, "spark/hand_over", {"files": files}, self.blame,
                     table=f'"{table}"')

    def batches(
        self, name: str, params: dict[str, Any], size: int, /, **fills: str
    ) -> Iterator[list[tuple[Any, ...]]]:
        self._in_order(name)
        return batches(self.con, name, params, self.blame, size, **fills)

    def _in_order(self, name: str) -> None:
        folder = name.partition("/")[0]
        if folder in OTHER_GROUPS and name not in _ORDER:
            return
        index = _ORDER.get(name)
        if index is None:
            raise InternalError(f"queries/{name}.sql is not a step of recondiff/engine/steps.py")
        if index < self._last:
            raise InternalError(
                f"queries/{name}.sql runs after queries/{STEPS[self._last].name}.sql, "
                "against the order of recondiff/engine/steps.py"
            )
        self._last = index


_PARAM = re.compile(r"\$(\w+)")


def run_step(
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


def batches(
    con: duckdb.DuckDBPyConnection,
    name: str,
    params: dict[str, Any],
    blame: dict[str, str] | None,
    size: int,
    **fills: str,
) -> Iterator[list[tuple[Any, ...]]]:
    """Stream ``queries/<name>.sql`` (one SELECT) as lists of ``size`` rows,
    computed as they are read; errors as in :func:`run_step`. DuckDB runs the
    query while the rows are fetched: the plan's event lines are never all
    in memory."""
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
    the step is one a bad input, config or disk can make fail (:data:`BLAME`), or
    DuckDB ran out of disk or memory; otherwise a bug (exit 3)."""
    where = BLAME.get(name)
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
