"""Layer 1 of keeping a config's SQL inside its snapshots (docs/config.md,
"A config is code"; layer 2, the confined connection, is
:mod:`recondiff.engine.confine`).

:func:`expression_problem` accepts a config SQL expression (``scope``,
``endpoint_sql``, ``repository_sql``) only when DuckDB's parser reads it as
exactly one expression with no subquery, table function, window function,
``*`` or ``$parameter``, and its parentheses stay balanced so that it means
the same wherever it is put inside ``( )``. Nothing is executed to check
this: the expression is parsed and its parse tree (``json_serialize_sql``)
walked. :func:`check_expression` turns a problem into the config's one-line
error.
"""

from __future__ import annotations

import contextlib
import json
import threading
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

from recondiff.errors import ConfigError, first_line

# What a config expression may be made of, for the error message.
ALLOWED = (
    "allowed: one expression over the snapshot's columns, with operators, CASE, CAST "
    "and scalar functions; no ';', subquery, table function, window function, * or $parameter"
)

# Expression classes of DuckDB's parse tree a config expression may hold.
_ALLOWED_CLASSES = frozenset(
    {
        "BETWEEN",
        "CASE",
        "CAST",
        "COLUMN_REF",
        "COMPARISON",
        "CONJUNCTION",
        "CONSTANT",
        "FUNCTION",
        "LAMBDA",
        "LAMBDA_REF",
        "OPERATOR",
        "TYPE",
    }
)
_REFUSED_CLASSES = {
    "SUBQUERY": "a subquery (SELECT or FROM), which could read other files",
    "WINDOW": "a window function (... OVER)",
    "STAR": "* or COLUMNS(...), which is several columns",
    "PARAMETER": "a $parameter or ?",
    "POSITIONAL_REFERENCE": "a #n column position",
    "DEFAULT": "DEFAULT",
    # A collation travels with the value (through CAST, ||, lists) into every
    # comparison, grouping and sort recondiff makes of it: a derived attribute
    # with COLLATE NOCASE was judged in sync against any case, and hid other
    # attributes' drift (tests/test_drift_redteam.py). Case is the compare
    # kind's business (casefold, casefold_trim); a predicate has lower() and ILIKE.
    "COLLATE": "a COLLATE, which would change how recondiff compares the value; use a "
    "compare kind (casefold, ...) for an attribute, lower() or ILIKE in a predicate",
}
# Functions that give several rows for one value (DuckDB's set-returning
# functions, and its built-in macros over them): in a scope or *_sql they would
# turn one record into several (an account both linked and excluded).
_SET_RETURNING = frozenset(
    {"unnest", "unlist", "regexp_split_to_table", "generate_subscripts"}
)
# Functions that read the engine's own state (its settings, variables, the
# statement it runs, its catalog, version or transaction), or act on it: a
# config expression's value can reach the plan, the report and the directory
# (current_setting('allowed_directories') names the run's temp and output
# paths), so none of them is allowed in any config expression.
_ENGINE_STATE = frozenset(
    {
        "current_setting",
        "getvariable",
        "current_query",
        "current_query_id",
        "current_connection_id",
        "current_transaction_id",
        "txid_current",
        "current_schema",
        "current_schemas",
        "current_database",
        "current_catalog",
        "in_search_path",
        "version",
        "stats",
        "vector_type",
        "write_log",
        "sleep_ms",
        "nextval",
        "currval",
        "setval",
    }
)
# Functions (and the special names DuckDB parses as a column and binds to a
# function when no column has the name) whose value is not a function of the
# row: random numbers, fresh UUIDs, the clock, the session's user. Refused
# where the expression must give the same value each time it is evaluated
# (``stable=True``: a policy's when and set_sql, evaluated in several passes and
# again for expected.parquet, and synced every run).
_UNSTABLE = frozenset(
    {
        "random",
        "setseed",
        "uuid",
        "uuidv4",
        "uuidv7",
        "gen_random_uuid",
        "now",
        "current_timestamp",
        "get_current_timestamp",
        "transaction_timestamp",
        "today",
        "current_date",
        "current_time",
        "get_current_time",
        "current_localtime",
        "current_localtimestamp",
        "localtime",
        "localtimestamp",
        "current_user",
        "session_user",
        "current_role",
        "user",
    }
)
# Clauses of the SELECT the expression is parsed in: any of them means the
# text closed the parenthesis and went on as a query.
_CLAUSES = ("where_clause", "having", "qualify", "sample")
_LISTS = ("group_expressions", "group_sets", "modifiers")

_parser_lock = threading.Lock()


def expression_problem(expression: str, *, stable: bool = False) -> tuple[str, str] | None:
    """What is wrong with a config SQL expression, or None when it is one plain
    expression. The answer is ``("syntax", DuckDB's parser message)`` or
    ``("shape", why it is not one plain expression)``. Parses only.

    ``stable``: also refuse what gives another value each time it is evaluated
    (:data:`_UNSTABLE`: random(), uuid(), now(), current_date, ...)."""
    sql = f"SELECT ({expression})"
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        return "syntax", first_line(exc)
    if len(statements) != 1:
        return "shape", f"it holds {len(statements)} SQL statements (a ';' ends one)"
    with _parser_lock:
        row = _parser().execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchone()
    try:
        tree = json.loads(row[0]) if row else {"error": True}
        return _tree_problem(expression, tree, stable=stable)
    except RecursionError:  # DuckDB parses up to 1000 levels; Python walks fewer
        return "shape", "it nests too deeply to check (hundreds of levels); write it flatter"


def expression_columns(expression: str) -> list[str]:
    """The column names a config SQL expression reads (each once, as first
    written), from DuckDB's parse tree: what ``recondiff explore`` must ask a
    directory for so that the expression has its columns. Parses only; an
    expression that does not parse reads nothing (its check says why). A
    dotted name (``a.b``) gives its first part, the column; a lambda's
    parameters are not columns."""
    sql = f"SELECT ({expression})"
    with _parser_lock:
        try:
            row = _parser().execute("SELECT json_serialize_sql($sql)", {"sql": sql}).fetchone()
        except duckdb.Error:
            return []
    tree: dict[str, Any] = json.loads(row[0]) if row else {"error": True}
    if tree.get("error"):
        return []
    found: dict[str, str] = {}
    with contextlib.suppress(RecursionError):  # refused by expression_problem anyway
        _column_refs(tree["statements"][0]["node"].get("select_list") or [], found)
    return list(found.values())


def _column_refs(tree: Any, found: dict[str, str], bound: frozenset[str] = frozenset()) -> None:
    """Add the COLUMN_REF names under ``tree`` to ``found``, but those ``bound``
    (the parameters of an enclosing lambda)."""
    if isinstance(tree, list):
        for item in tree:
            _column_refs(item, found, bound)
        return
    if not isinstance(tree, dict):
        return
    kind = tree.get("class")
    if kind == "COLUMN_REF":
        names = tree.get("column_names") or []
        if names and isinstance(names[0], str) and names[0].lower() not in bound:
            found.setdefault(names[0].lower(), names[0])
        return
    if kind == "LAMBDA":
        parameters: dict[str, str] = {}
        _column_refs(tree.get("lhs"), parameters)
        _column_refs(tree.get("expr"), found, bound | frozenset(parameters))
        return
    for value in tree.values():
        _column_refs(value, found, bound)


def _tree_problem(
    expression: str, tree: dict[str, Any], *, stable: bool = False
) -> tuple[str, str] | None:
    """expression_problem's verdict from the expression's parse tree."""
    if tree.get("error"):
        return "syntax", f"{tree.get('error_type', 'parser')} error: {tree.get('error_message')}"
    node = tree["statements"][0]["node"]
    if node.get("type") != "SELECT_NODE":
        return "shape", "it closes the parenthesis and goes on as a query (UNION, ...)"
    select = node.get("select_list") or []
    if len(select) != 1:
        return "shape", f"it is {len(select)} expressions, separated by ','"
    from_table = node.get("from_table") or {}
    if (
        from_table.get("type") != "EMPTY"
        or any(node.get(c) is not None for c in _CLAUSES)
        or any(node.get(c) for c in _LISTS)
        or (node.get("cte_map") or {}).get("map")
        or select[0].get("alias")
    ):
        return "shape", "it closes the parenthesis and goes on as a query (AS, FROM, WHERE, ...)"
    refused = _refused(select[0], _UNSTABLE if stable else frozenset())
    if refused is not None:
        return "shape", f"it holds {refused}"
    if not _balanced(expression):
        return "shape", "a ')' closes a parenthesis the expression did not open"
    return None


def _refused(tree: Any, unstable: frozenset[str] = frozenset()) -> str | None:
    """The first part of a parse tree a config expression may not hold; the
    names in ``unstable`` too (functions, or the special names parsed as a column
    that no snapshot column answers)."""
    if isinstance(tree, list):
        for item in tree:
            found = _refused(item, unstable)
            if found is not None:
                return found
        return None
    if not isinstance(tree, dict):
        return None
    kind = tree.get("class")
    if kind is not None and kind not in _ALLOWED_CLASSES:
        return _REFUSED_CLASSES.get(kind, f"a {str(kind).lower()} expression")
    if "from_table" in tree or "select_list" in tree or "subquery" in tree:
        return _REFUSED_CLASSES["SUBQUERY"]
    if kind == "FUNCTION":
        name = str(tree.get("function_name", "")).lower()
        if name in _SET_RETURNING:
            return f"{tree['function_name']}(...), which gives several rows for one record"
        if name in _ENGINE_STATE:
            return f"{tree['function_name']}(...), which reads or changes the engine's own state"
        if name in unstable:
            return f"{tree['function_name']}(...), {_UNSTABLE_WHY}"
    if kind == "COLUMN_REF":
        names = tree.get("column_names") or []
        if len(names) == 1 and str(names[0]).lower() in unstable:
            return f"{names[0]}, {_UNSTABLE_WHY}"
    for value in tree.values():
        found = _refused(value, unstable)
        if found is not None:
            return found
    return None


_UNSTABLE_WHY = (
    "whose value changes from one evaluation to the next (a random value, a fresh uuid, "
    "the clock, the session): a policy's value must follow from the identity's columns"
)


def _balanced(expression: str) -> bool:
    """Whether the expression's own parentheses (outside strings, quoted names
    and comments) never close more than they opened: then ``(expression)``
    is one term wherever it is written."""
    tokens = duckdb.tokenize(expression)
    # DuckDB's token offsets count UTF-8 bytes, not characters
    data = expression.encode("utf-8")
    depth = 0
    for i, (start, kind) in enumerate(tokens):
        if kind != duckdb.token_type.operator:
            continue
        end = tokens[i + 1][0] if i + 1 < len(tokens) else len(data)
        for char in data[start:end]:
            if char == ord("("):
                depth += 1
            elif char == ord(")"):
                depth -= 1
                if depth < 0:
                    return False
    return depth == 0


def check_expression(
    file: Path, key: str, expression: str, snapshot: Path, *, stable: bool = False
) -> None:
    """Refuse a config SQL expression (scope, endpoint_sql, repository_sql) that
    is not exactly one expression, or that holds a subquery, table function,
    a function reading the engine's state (current_setting, getvariable, ...) or
    anything else that could reach outside the snapshot. ``stable`` (a
    ``[[policy]]`` when or set_sql): also a value that changes from one
    evaluation to the next (random(), uuid(), now(), current_date, ...).
    Parses only: nothing of the expression is run."""
    problem = expression_problem(expression, stable=stable)
    if problem is None:
        return
    what, why = problem
    if what == "syntax":
        raise ConfigError(f"{file}: {key} is not a valid SQL expression over {snapshot}: {why}")
    raise ConfigError(f"{file}: {key} must be one SQL expression, but {why}; {ALLOWED}")


@cache
def _parser() -> duckdb.DuckDBPyConnection:
    """A connection that only parses (json_serialize_sql): it reads no file,
    reaches no URL, loads no extension, and its settings are locked.

    External access is turned off after connecting, with nothing allowed (as
    engine/confine.lock_down does): turned off in the connect config instead,
    DuckDB allows the database's own files, which for ":memory:" are
    ``./:memory:`` and ``./:memory:.wal*`` in the working directory."""
    con = duckdb.connect(
        ":memory:",
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_community_extensions": False,
            "allow_unsigned_extensions": False,
        },
    )
    con.execute("SET allowed_paths = []")
    con.execute("SET allowed_directories = []")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
