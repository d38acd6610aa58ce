"""The engine's steps on Apache Spark ([engine] kind = "spark", issue 21).

A step's query file is DuckDB SQL (``queries/``, written once). Here each of
its statements is parsed by sqlglot, made Spark's, and run on a SparkSession:

1. the ``rd_*`` macro calls are expanded inline (:class:`Macros`: a macro's
   body is itself expanded once, when the macro files load;
   Spark 4's SQL functions cannot be called inside a lambda, which the
   macros' bodies use, and are typed, which the macros are not);
2. ``read_parquet($path[, file_row_number = true])`` becomes a temporary view
   over the same file (:meth:`SparkRunner._parquet_view`), whose
   ``file_row_number`` is Spark's per-file row index (sqlglot writes an empty
   FROM for it);
3. the rewrites of :mod:`recondiff.engine.spark_sql` (each names its trap);
4. the statement is run by its kind (:meth:`SparkRunner.run`): ``CREATE TEMP
   TABLE ... AS`` is a checkpointed DataFrame under a temporary view (Spark has no
   writable temporary table), counted as DuckDB counts the rows written; ``CREATE
   VIEW`` a temporary view; ``DROP`` drops it; a query is collected. Anything
   else (an ``UPDATE``, a ``COPY``) has no Spark form here: the orchestration
   takes the step that has one (engine/classify.py) or the step runs on DuckDB
   after the hand-over (:meth:`SparkRunner.hand_over`).

Values stay bound parameters: ``$name`` becomes Spark's named parameter
``:name``, bound by ``SparkSession.sql(..., args=)``.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import sqlglot
from sqlglot import exp

from recondiff.config.model import SparkConfig
from recondiff.engine import spark_confine, spark_sql
from recondiff.engine.steps import BLAME
from recondiff.errors import ConfigError, InputError, InternalError, first_line
from recondiff.io.sqlfiles import SPARK_MACROS, Rows, load, render
from recondiff.vocabulary import SITUATIONS

# The driver's memory when recondiff starts Spark itself (local[N]): 1g, Spark's
# default, ran out analysing the drift step of a case with every compare kind.
DRIVER_MEMORY = "3g"

# The macro files whose every argument is text (spark_sql.Context.text_names).
_TEXT_MACROS = ("macros/text",)

# The macros a Spark run defines as Spark SQL functions (CREATE TEMPORARY
# FUNCTION, Spark 4) and calls by name, rather than expanding them inline:
# Spark binds a SQL function's arguments once, in a projection below the call,
# where an inline expansion copies the argument into every place the body
# uses it, and the copies nest (rd_key(v) holds v 55 times; the stage steps of
# a case with every compare kind were 220K characters, seconds of Spark's
# analysis and generated code past its 64 KB limit). Spark cannot call a SQL
# function inside a lambda, nor in a query's ORDER BY: there the runner still
# expands the macro inline (Macros.expand). Each is typed: its parameters, by
# name, STRING unless given here. Not here: the macros with an argument that a
# rewrite must see as written (rd_when's format, rd_norm's kind), those of
# lists (rd_setof, rd_set, ...), and those of situations, which are small.
SPARK_FUNCTIONS: dict[str, dict[str, str]] = {
    name: {} for name in (
        "rd_strip", "rd_blank", "rd_value", "rd_nfc", "rd_fold", "rd_fold_nfc", "rd_key",
        "rd_exact", "rd_casefold", "rd_trim", "rd_casefold_trim", "rd_integer",
        "rd_boolean", "rd_instant", "rd_date", "rd_timestamp", "rd_uac_token",
        "rd_uac_list", "rd_uac_bits", "rd_uac_flags", "rd_dn_protect",
        "rd_dn_unescape", "rd_dn_nfc", "rd_dn_ava", "rd_dn", "rd_dn_plain", "rd_dn_final",
        "rd_first_rdn_value",
    )
} | {"rd_uac_fold": {"bits": "ARRAY<BIGINT>"}, "rd_uac_names": {"bits": "BIGINT"}}


@dataclass(frozen=True)
class Macro:
    args: tuple[str, ...]
    body: exp.Expr  # expanded; translated as part of the statement that calls it
    called: exp.Expr  # the body with the calls of Spark functions kept (the function's)
    in_lambda: frozenset[str]  # the arguments the (expanded) body uses inside a lambda
    uses: Mapping[str, int]  # how many times the (expanded) body names each argument
    typed: bool  # one of SPARK_FUNCTIONS: its arguments' types are known


class Macros:
    """The ``rd_*`` macros of queries/macros/: each expanded inline, or called
    as a Spark SQL function (``functions``, defined by :meth:`definitions`)."""

    def __init__(
        self,
        files: tuple[str, ...] = SPARK_MACROS,
        functions: Mapping[str, Mapping[str, str]] = SPARK_FUNCTIONS,
    ) -> None:
        self.by_name: dict[str, Macro] = {}
        self.functions: dict[str, Mapping[str, str]] = {}
        self.lambdas: set[str] = set()  # the functions whose body holds a lambda
        self._lets = itertools.count(1)
        self._definitions: tuple[tuple[str, str], ...] | None = None
        for name in files:
            text_args = name in _TEXT_MACROS
            for statement in _parse_macros(load(name)):
                if not (isinstance(statement, exp.Create) and statement.kind == "MACRO"):
                    continue
                signature = statement.this
                macro = signature.this.name.lower()
                args = tuple(a.name for a in signature.expressions)
                body = self.expand(statement.expression, calls=False)
                called = self.expand(statement.expression)
                if text_args:  # the one rewrite that needs to know which names hold text
                    context = spark_sql.Context(frozenset(args))
                    body, called = (
                        spark_sql.translate(b, context, (spark_sql.text_element_is_substring,))
                        for b in (body, called)
                    )
                in_lambda = frozenset(
                    c.name for c in body.find_all(exp.Column)
                    if not c.table and c.name in args and _under_lambda(c)
                )
                uses = {a: 0 for a in args}
                for c in body.find_all(exp.Column):
                    if not c.table and c.name in uses:
                        uses[c.name] += 1
                self.by_name[macro] = Macro(
                    args, body, called, in_lambda, uses, macro in functions
                )
                if macro in functions:  # after the macros its body calls: file order
                    self.functions[macro] = functions[macro]
                    if self._holds_lambda(called):
                        self.lambdas.add(macro)

    def expand(self, tree: exp.Expr, calls: bool = True) -> exp.Expr:
        """``tree`` with every call of a known macro replaced by its body, but
        (with ``calls``) a call of a Spark function where Spark can call it."""

        def one(node: exp.Expr) -> exp.Expr:
            name = spark_sql.call_name(node)
            macro = self.by_name.get(name) if name else None
            if macro is None:
                return node
            if len(node.expressions) != len(macro.args):
                raise InternalError(
                    f"macro {name}() takes {len(macro.args)} argument(s), "
                    f"given {len(node.expressions)}"
                )
            if not calls or _no_sql_function_here(node):
                # no Spark function here: all inline, each argument computed once
                return self._let(macro, [self.expand(g, calls=False) for g in node.expressions])
            if name in self.functions:
                given = [self.expand(g) for g in node.expressions]
                if not any(self._holds_lambda(g) for g in given):
                    return exp.Anonymous(this=name, expressions=given)
                # Spark refuses a SQL function whose argument holds a lambda
                # (LAMBDA_FUNCTION_WITH_SQL_UDF): the body inline, the argument bound
                return self._let(macro, given)
            # a macro Spark does not call: its body, the arguments in their places
            # (an argument the body uses inside a lambda with no Spark function)
            given = [
                self.expand(g, calls=a not in macro.in_lambda)
                for g, a in zip(node.expressions, macro.args, strict=True)
            ]
            bound = dict(zip(macro.args, given, strict=True))
            return exp.Paren(this=_substitute(macro.called.copy(), bound))

        return tree.transform(one)

    def _let(self, macro: Macro, given: list[exp.Expr]) -> exp.Expr:
        """The macro's body inline (no Spark function in it) over ``given``: an
        argument that is a column or a constant, or that the body uses once, in
        its place; any other bound once by a lambda, ``list_transform([arg],
        lambda p: body)[1]``, which Spark evaluates once per row, where putting
        it in each place would copy it as many times, and the copies nest
        (rd_key(v) is v 55 times)."""
        bound: dict[str, exp.Expr] = {}
        lets: list[tuple[str, exp.Expr]] = []
        for arg, value in zip(macro.args, given, strict=True):
            simple = isinstance(value, _SIMPLE) and not value.name.startswith("rd_let_")
            # only a typed macro's (a function's) arguments: a rewrite reads the
            # others as written (a slice of a text, a format)
            if simple or macro.uses.get(arg, 0) <= 1 or not macro.typed:
                bound[arg] = value
            else:
                variable = f"rd_let_{next(self._lets)}"
                bound[arg] = exp.column(variable)
                lets.append((variable, value))
        tree: exp.Expr = exp.Paren(this=_substitute(macro.body.copy(), bound))
        for variable, value in reversed(lets):
            let = sqlglot.parse_one(f"list_transform([rd_value], lambda {variable}: rd_body)[1]",
                                    read=spark_sql.SOURCE)
            slots = {c.name: c for c in let.find_all(exp.Column)}
            slots["rd_value"].replace(exp.Paren(this=value))
            slots["rd_body"].replace(tree)
            tree = exp.Paren(this=let)
        return tree

    def _holds_lambda(self, tree: exp.Expr) -> bool:
        """Whether ``tree``, as Spark will read it, holds a lambda, or calls a Spark
        function whose body does."""
        spark = spark_sql.translate(tree.copy(), spark_sql.Context())
        return spark.find(exp.Lambda) is not None or any(
            spark_sql.call_name(n) in self.lambdas for n in spark.find_all(exp.Anonymous)
        )

    def definitions(self) -> tuple[tuple[str, str], ...]:
        """Each Spark function's name and ``CREATE OR REPLACE TEMPORARY FUNCTION``
        statement (Spark SQL), a function after those its body calls."""
        if self._definitions is None:
            self._definitions = tuple(self._definition(n, t) for n, t in self.functions.items())
        return self._definitions

    def _definition(self, name: str, types: Mapping[str, str]) -> tuple[str, str]:
        macro = self.by_name[name]
        params = ", ".join(f"{a} {types.get(a, 'STRING')}" for a in macro.args)
        body = spark_sql.translate(macro.called.copy(), spark_sql.Context())
        return name, (
            f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({params}) "
            f"RETURN {body.sql(dialect='spark', comments=False)}"
        )


# An argument put in its places as it is (not bound by a lambda): a column, a
# lambda's variable (an identifier), a constant, a parameter.
_SIMPLE = (exp.Column, exp.Identifier, exp.Literal, exp.Null, exp.Boolean, exp.Placeholder)


def _under_lambda(node: exp.Expr) -> bool:
    return node.find_ancestor(exp.Lambda) is not None


@cache
def default_macros() -> Macros:
    """The macros of SPARK_MACROS, read once per process (parsing and
    translating them takes a second or two)."""
    return Macros()


def _no_sql_function_here(node: exp.Expr) -> bool:
    """Whether Spark refuses a SQL function at ``node``: inside a lambda
    (UNSUPPORTED_FEATURE.LAMBDA_FUNCTION_WITH_SQL_UDF) or in a query's ORDER BY
    (UNSUPPORTED_SQL_UDF_USAGE, "in Sort"; a window's ORDER BY takes one)."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.Lambda):
            return True
        if isinstance(parent, exp.Order) and not isinstance(parent.parent, exp.Window):
            return True
        parent = parent.parent
    return False


def _parse_macros(text: str) -> list[exp.Expr | None]:
    """A macro file's statements; one sqlglot cannot read (a macro only the
    steps on DuckDB call) is kept as a command, without sqlglot's warning."""
    log = logging.getLogger("sqlglot")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        return sqlglot.parse(text, read=spark_sql.SOURCE)
    finally:
        log.setLevel(level)


def _substitute(body: exp.Expr, bound: Mapping[str, exp.Expr]) -> exp.Expr:
    """The macro's body with each unqualified reference to an argument replaced
    by the expression given (in parentheses), but where a lambda rebinds the name."""

    def one(node: exp.Expr) -> exp.Expr:
        if (
            isinstance(node, exp.Column)
            and not node.table
            and node.name in bound
            and not _rebound(node, node.name)
        ):
            return exp.Paren(this=bound[node.name].copy())
        return node

    return body.transform(one)


def _rebound(node: exp.Expr, name: str) -> bool:
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.Lambda) and any(p.name == name for p in parent.expressions):
            return True
        parent = parent.parent
    return False


class SparkRows(Rows):
    """A statement's result as :class:`recondiff.io.sqlfiles.Rows` gives it."""

    def __init__(
        self,
        description: list[tuple[str, ...]],
        rows: list[tuple[Any, ...]] | None = None,
        count: Any = None,
    ) -> None:
        self.description = description  # type: ignore[assignment]  # names only
        self._rows = rows or []
        self._count = count  # a checkpointed table: its rows counted when asked

    def fetchall(self) -> list[Any]:
        if self._count is not None:  # a Spark job: most steps never ask
            frame, self._count = self._count, None
            self._rows = [(frame.count(),)]
        return super().fetchall()


class SparkRunner:
    """Runs DuckDB query files on a SparkSession: see the module's docstring."""

    def __init__(self, spark: Any, directory: Path, macros: Macros | None = None) -> None:
        self.spark = spark
        self.directory = directory  # where hand_over writes (the run's work directory)
        self.macros = macros or default_macros()
        self.tables: dict[str, Any] = {}  # name -> its checkpointed DataFrame
        self._views: dict[tuple[str, bool], str] = {}
        self.views: set[str] = set()  # the views CREATE VIEW made (spark_confine's known tables)
        self._cte_tables: list[str] = []  # the current statement's shared CTEs, as tables
        self._counter = itertools.count(1)
        spark_sql.register_udfs(spark)
        spark_confine.lock_session(spark)
        definitions = tuple(self.macros.definitions())
        # once per session (each CREATE FUNCTION is analysed: seconds for all)
        if getattr(spark, "_recondiff_functions", None) != definitions:
            spark._recondiff_functions = None  # until every one is defined again
            for _name, definition in definitions:
                spark_confine.check_spark_function(definition, self.macros.functions)
                spark.sql(definition)
            spark._recondiff_functions = definitions
        spark.sql(
            "DECLARE OR REPLACE VARIABLE rd_situations ARRAY<STRING> DEFAULT "
            + "array(" + ", ".join(f"'{s}'" for s in SITUATIONS) + ")"
        )

    # --- translation --------------------------------------------------------------

    def translate(self, statement: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        tree = self.macros.expand(statement)
        tree = tree.transform(lambda node: self._read_parquet(node, params))
        tree = tree.transform(_situations_variable)
        return spark_sql.translate(tree, spark_sql.Context())

    def _read_parquet(self, node: exp.Expr, params: Mapping[str, Any]) -> exp.Expr:
        if not (isinstance(node, exp.Table) and isinstance(node.this, exp.ReadParquet)):
            return node
        call = node.this
        path_arg, *options = call.expressions
        if not isinstance(path_arg, exp.Placeholder) or path_arg.name not in params:
            raise InternalError(f"read_parquet() of a path not bound as a parameter: {call.sql()}")
        row_number = any(
            isinstance(o, exp.EQ) and o.this.name == "file_row_number" for o in options
        )
        view = self._parquet_view(str(params[path_arg.name]), row_number)
        table = exp.Table(this=exp.to_identifier(view))
        if node.alias:
            table.set("alias", node.args["alias"].copy())
        return table

    def _parquet_view(self, path: str, row_number: bool) -> str:
        """A temporary view over the Parquet file at ``path`` (any path Spark can
        read); with ``row_number``, its column ``file_row_number`` is the
        record's place in the file from 0 (Spark's ``_metadata.row_index``),
        as DuckDB's."""
        key = (path, row_number)
        if key not in self._views:
            frame = self.spark.read.parquet(path)
            if row_number:
                frame = frame.selectExpr("*", "_metadata.row_index AS file_row_number")
            name = f"rd_parquet_{next(self._counter)}"
            frame.createOrReplaceTempView(name)
            self._views[key] = name
        return self._views[key]

    # --- running ------------------------------------------------------------------

    def step(
        self, name: str, params: Mapping[str, Any], blame: dict[str, str], **fills: str
    ) -> SparkRows:
        """Run ``queries/<name>.sql`` with its ``{{slots}}`` filled (as
        engine/steps.run_step does on DuckDB); a failure on Spark becomes one
        line naming what to check, as there."""
        with spark_errors(name, blame):
            return self.run(render(name, **fills), params)

    def run(self, text: str, params: Mapping[str, Any]) -> SparkRows:
        """Every statement of ``text`` (DuckDB SQL); the last one's rows."""
        result = SparkRows([])
        for statement in sqlglot.parse(text, read=spark_sql.SOURCE):
            if statement is None:
                continue
            result = self._one(statement, params)
        return result

    def _one(self, statement: exp.Expr, params: Mapping[str, Any]) -> SparkRows:
        try:
            return self._statement(statement, params)
        finally:
            # the tables of its shared CTEs (_frame), once its result is made;
            # a view reads them later: they go with the run (close)
            if not (isinstance(statement, exp.Create) and statement.kind == "VIEW"):
                for name in self._cte_tables:
                    self._drop(name)
            self._cte_tables.clear()

    def _drop(self, name: str) -> None:
        old = self.tables.pop(name, None)
        if old is not None:
            old.unpersist()
        self.spark.catalog.dropTempView(name)

    def _statement(self, statement: exp.Expr, params: Mapping[str, Any]) -> SparkRows:
        if (
            isinstance(statement, exp.Create) and statement.kind == "TABLE"
            and isinstance(statement.this, exp.Schema) and statement.expression is None
        ):  # CREATE TEMP TABLE t (columns): an empty table of that schema
            table = statement.this.this.name
            columns = [
                exp.alias_(exp.Cast(this=exp.Null(), to=d.args["kind"].copy()), d.name)
                for d in statement.this.expressions
            ]
            empty = exp.select(*columns).where(exp.false())
            return self._store(table, self._frame(empty, params))
        if isinstance(statement, exp.Insert) and isinstance(statement.this, exp.Table):
            # INSERT INTO t SELECT: t's rows and the new ones, by position (as DuckDB)
            table = statement.this.name
            old = self.tables[table]
            before = old.count()
            added = self._frame(statement.expression, params).toDF(*old.columns)
            added = added.select(*[added[f.name].cast(f.dataType) for f in old.schema.fields])
            total = self._store(table, old.union(added)).fetchall()[0][0]
            return SparkRows([("Count",)], [(total - before,)])
        if isinstance(statement, exp.Create) and statement.kind in ("TABLE", "VIEW"):
            name = statement.this.name if isinstance(statement.this, exp.Table) else None
            query = statement.expression
            if name is None or query is None:
                raise InternalError(f"no Spark form for: {statement.sql()[:80]}")
            frame = self._frame(query, params)
            if statement.kind == "VIEW":
                frame.createOrReplaceTempView(name)
                self.views.add(name)
                return SparkRows([])
            return self._store(name, frame)
        if isinstance(statement, exp.Drop):
            for table in statement.args.get("tables") or [statement.this]:
                self._drop(table.name)
            return SparkRows([])
        if isinstance(statement, exp.Query):
            frame = self._frame(statement, params)
            rows = [tuple(r) for r in frame.collect()]
            return SparkRows([(c,) for c in frame.columns], rows)
        raise InternalError(
            f"no Spark form for a {type(statement).__name__} statement: {statement.sql()[:80]}"
        )

    def _store(self, name: str, frame: Any) -> SparkRows:
        """``frame`` computed and kept (checkpointed) as the table ``name`` (a
        temporary view over it), replacing the table of that name, which is
        released once the new one is computed (it may read it). Its row count,
        as DuckDB's CREATE TABLE AS returns it, counted only when read."""
        # a checkpoint, not a cache: a cached table's view still carries the plan
        # that made it, which every later statement analysed again, its lineage
        # growing step by step (at correlation, minutes and the driver's memory
        # on a 10-row case); a checkpoint's plan is its data
        frame = frame.localCheckpoint(eager=True)
        old = self.tables.get(name)
        frame.createOrReplaceTempView(name)
        self.tables[name] = frame
        if old is not None:
            old.unpersist()
        return SparkRows([("Count",)], count=frame)

    def _frame(self, query: exp.Expr, params: Mapping[str, Any]) -> Any:
        shared, query = shared_ctes(query, lambda: f"rd_cte_{next(self._counter)}")
        for name, body in shared:  # computed once, as DuckDB does (shared_ctes)
            self._store(name, self._frame(body, params))
            self._cte_tables.append(name)
        tree, as_json = _json_parameters(self.translate(query, params), params)
        sql = tree.sql(dialect="spark", comments=False)
        known = {*self.tables, *self._views.values(), *self.views}
        # before Spark reads any of it
        spark_confine.check_spark_tree(tree, known, sql, self.macros.functions)
        used = {p.name for p in tree.find_all(exp.Placeholder)}
        args = {
            name: json.dumps(params[name]) if name in as_json else _literal(params[name])
            for name in used
        }
        try:
            return self.spark.sql(sql, args=args) if args else self.spark.sql(sql)
        except Exception as exc:
            exc.add_note(f"Spark SQL: {sql}")  # in the traceback of a bug (exit 3)
            raise

    def hand_over(self, table: str, order: str | None = None) -> str:
        """Write ``table`` as Parquet files under the runner's directory (in
        ``order``, a comma list of columns, when given): what DuckDB reads for
        the steps after the heavy work. Returns the glob of the files."""
        target = self.directory / "spark-tables" / table
        frame = self.tables.get(table)
        if frame is None:
            frame = self.spark.table(table)
        if order:
            # NULLs last, as DuckDB's ORDER BY (Spark's ascending puts them first)
            frame = frame.orderBy(*[frame[c.strip()].asc_nulls_last() for c in order.split(",")])
        frame.write.mode("overwrite").parquet(str(target))
        return str(target / "*.parquet")

    def close(self) -> None:
        """Release the run's tables and views; the session itself is stopped by
        :func:`open_spark`'s caller, and only when the run started it."""
        for name in [*self.tables, *self._views.values(), *self.views]:
            self._drop(name)
        self._views.clear()
        self.views.clear()


@contextmanager
def open_spark(settings: SparkConfig, work: Path) -> Iterator[SparkRunner]:
    """A :class:`SparkRunner` on the session this process already has (under
    spark-submit, or a caller's), else on a new one with ``settings`` (the
    master, and the config's Spark settings), stopped at the end. Spark writes
    its own temporary files under ``work``."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            '[engine] kind = "spark" needs pyspark: pip install "recondiff[spark]" '
            "(and Java 17 or later: Debian's default-jre-headless)"
        ) from None
    _quiet_python_loggers()
    active = SparkSession.getActiveSession()
    session = active
    if session is None:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        if "PYSPARK_GATEWAY_PORT" not in os.environ and "PYSPARK_SUBMIT_ARGS" not in os.environ:
            log4j = Path(__file__).with_name("spark-log4j2.properties")
            os.environ["PYSPARK_SUBMIT_ARGS"] = (
                f'--driver-java-options "-Dlog4j2.configurationFile={log4j.as_uri()}" '
                "pyspark-shell"
            )
        builder = SparkSession.builder.appName("recondiff")
        if "PYSPARK_GATEWAY_PORT" not in os.environ:  # not under spark-submit, whose master wins
            builder = builder.master(settings.master)
        builder = (
            builder.config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.session.timeZone", "UTC")
            .config("spark.local.dir", str(work / "spark-local"))
            # Spark makes its catalog's directory when a session first defines a
            # function: in the work directory, not ./spark-warehouse where you ran it
            .config("spark.sql.warehouse.dir", str(work / "spark-warehouse"))
        )
        # large plans (many compare kinds) outgrow Spark's default 1g driver:
        # an OutOfMemoryError when the macros were all inline, minutes of
        # garbage collection since (docs/spark.md); a config's own wins
        builder = builder.config("spark.driver.memory", DRIVER_MEMORY)
        for key, value in settings.conf:
            builder = builder.config(key, value)
        try:
            session = builder.getOrCreate()
        except Exception as exc:
            if not (type(exc).__module__ or "").startswith(("pyspark", "py4j")):
                raise
            raise ConfigError(
                f"[engine.spark] cannot start Spark (master {settings.master!r}): "
                f"{_first_spark_line(exc)}; is Java 17 or later installed (JAVA_HOME)?"
            ) from None
        session.sparkContext.setLogLevel("ERROR")
    else:
        session.conf.set("spark.sql.session.timeZone", "UTC")
    runner = SparkRunner(session, work)
    try:
        yield runner
    finally:
        runner.close()
        if active is None:
            session.stop()


@contextmanager
def spark_errors(name: str, blame: Mapping[str, str] | None) -> Iterator[None]:
    """A failure on Spark (pyspark's or py4j's exceptions) as one line: the
    user's input when the step is one a bad input or config can make fail
    (engine/steps.BLAME), else a bug. An interrupt stays an interrupt."""
    try:
        yield
    except Exception as exc:
        module = type(exc).__module__ or ""
        if not module.startswith(("pyspark", "py4j")):
            raise
        message = _first_spark_line(exc)
        if "OutOfMemoryError" in str(exc) or "UNABLE_TO_ACQUIRE_MEMORY" in str(exc):
            # the size of the data against Spark's memory, not a bug: exit 2
            raise ConfigError(
                f"queries/{name}.sql ran out of memory on Spark ({message[:200]}); give "
                "Spark more: [engine.spark] conf spark.driver.memory (local[N]: the "
                "driver does the work) or spark.executor.memory, or more partitions "
                "(spark.sql.shuffle.partitions)"
            ) from exc
        where = BLAME.get(name)
        if where is None:
            raise InternalError(f"queries/{name}.sql failed on Spark: {message}") from exc
        raise InputError(f"{where.format(**(blame or {}))}: {message}") from exc


def _first_spark_line(exc: BaseException) -> str:
    """The first line of a Spark error that says what went wrong (a Java
    exception's own message, not py4j's frame of it)."""
    text = str(exc)
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith(("An error occurred while calling", "py4j", "at ")):
            return first_line(line)
    return first_line(text)


def _quiet_python_loggers() -> None:
    """pyspark logs every failed query's whole Java stack (as JSON, on stderr)
    before raising it; recondiff says the failure in one line of its own."""
    from pyspark.logger import PySparkLogger

    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        PySparkLogger.getLogger(name).disabled = True


def shared_ctes(
    query: exp.Expr, name: Callable[[], str]
) -> tuple[list[tuple[str, exp.Expr]], exp.Expr]:
    """The WITH queries of ``query`` (a query, DuckDB's tree) that it reads more
    than once, each as a query of its own to be made a table first (its name
    from ``name()``), in order, and ``query`` reading those tables instead.

    DuckDB computes such a CTE once; Spark inlines a deterministic CTE into
    every place that reads it (its optimizer rule InlineCTE), so drift's
    ``long`` (the snapshots' drifted rows, read six times) and ``norms`` (every
    value normalised, three times) were computed as often. A table made by the
    runner is computed once. A CTE read once stays; so does a RECURSIVE WITH."""
    with_ = query.args.get("with_")
    if not isinstance(with_, exp.With) or with_.args.get("recursive"):
        return [], query
    query = query.copy()
    with_ = query.args["with_"]
    tables: list[tuple[str, exp.Expr]] = []
    kept: list[exp.CTE] = []
    for cte in list(with_.expressions):
        alias = cte.alias_or_name
        reads = [
            t for t in query.find_all(exp.Table)
            if not t.args.get("db") and t.name == alias and t.find_ancestor(exp.CTE) is not cte
        ]
        if len(reads) < 2:
            kept.append(cte)
            continue
        table = name()
        body = cte.this.copy()
        if kept:  # the CTEs before it that it may read, as they are
            body.set("with_", exp.With(expressions=[k.copy() for k in kept]))
        tables.append((table, body))
        for read in reads:
            as_ = read.args.get("alias") or exp.TableAlias(this=exp.to_identifier(alias))
            read.set("alias", as_)
            read.set("this", exp.to_identifier(table))
        cte.pop()
    if not with_.expressions:
        query.set("with_", None)
    return tables, query


def _situations_variable(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``getvariable('rd_situations')`` is the session variable
    ``rd_situations`` declared by :class:`SparkRunner` (qualified, so that no
    column of that name can shadow it)."""
    if spark_sql.call_name(node) == "getvariable" and node.expressions:
        arg = node.expressions[0]
        if isinstance(arg, exp.Literal) and arg.this == "rd_situations":
            return exp.column("rd_situations", table="session", db="system")
    return node


def _literal(value: Any) -> Any:
    """A parameter's value as pyspark binds it (a list: an array literal)."""
    if isinstance(value, (list, tuple)):
        from pyspark.sql import functions as F

        return F.array(*[F.lit(v) for v in value])
    return value


def _json_parameters(tree: exp.Expr, params: Mapping[str, Any]) -> tuple[exp.Expr, set[str]]:
    """``CAST($p AS T)`` of a list parameter (``$attrs::STRUCT(...)[]``) as
    ``from_json(:p, 'T')``, its value bound as JSON text: Spark binds only
    literals and their constructors, no cast, so a list holding a None (an
    untyped NULL beside strings) or structs whose fields are None cannot be
    an array literal. Returns the tree and the names to bind as JSON."""
    names: set[str] = set()

    def one(node: exp.Expr) -> exp.Expr:
        if not (isinstance(node, exp.Cast) and isinstance(node.this, exp.Placeholder)):
            return node
        name = node.this.name
        if not isinstance(params.get(name), (list, tuple)):
            return node
        names.add(name)
        return exp.Anonymous(
            this="from_json",
            expressions=[node.this.copy(), exp.Literal.string(node.to.sql(dialect="spark"))],
        )

    return tree.transform(one), names
