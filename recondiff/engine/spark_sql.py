"""DuckDB SQL as Spark SQL: sqlglot's translation plus named rewrites (issue 21).

The queries stay written once, in DuckDB's dialect (``queries/``). Their Spark
form is made here: sqlglot parses the DuckDB text and writes Spark SQL, and
before it writes, each rewrite of :data:`REWRITES` replaces one construct that
sqlglot carries over word for word but that Spark reads differently (a silent
trap: same spelling, another result). Each rewrite is a small function whose
docstring names its trap; ``tests/test_spark_sql.py`` holds each one, and
``tests/test_spark_text.py`` holds the text macros' Spark form equal to
DuckDB's over every code point below U+30000, or the difference written down
(docs/semantics.md, "On Spark").

:func:`macros_for_spark` turns the ``CREATE MACRO`` statements of a macro file
into Spark 4 SQL functions through the same translation. Spark has no Unicode
normalisation: ``nfc_normalize`` becomes the Python UDF ``rd_nfc_udf``, which a
session gets from :func:`register_udfs`.

Only the rewrites the text macros (queries/macros/text.sql) need are here so
far; the rest of the issue's list (list indexes, 64-bit hash, ``chr()`` above
255, ...) comes with the queries that need them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import exp

NFC_UDF = "rd_nfc_udf"


@dataclass(frozen=True)
class Context:
    """What a rewrite may know beyond the tree: the names that hold text (a
    macro's arguments), where DuckDB and Spark read one function differently
    on text and on lists."""

    text_names: frozenset[str] = frozenset()


Rewrite = Callable[[exp.Expr, Context], exp.Expr]


def _call_name(node: exp.Expr) -> str | None:
    return node.name.lower() if isinstance(node, exp.Anonymous) else None


def strlen_is_bytes(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``strlen(v)`` counts bytes (``length`` counts characters); Spark
    has no ``strlen``: it becomes ``octet_length(v)``, the UTF-8 byte count.
    rd_nfc and rd_fold's ASCII fast path (bytes = characters) rests on it."""
    if _call_name(node) == "strlen" and len(node.expressions) == 1:
        return exp.Anonymous(this="octet_length", expressions=list(node.expressions))
    return node


def text_element_is_substring(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``array_extract(v, i)`` on text is its ``i``-th character (1-based,
    negative from the end, '' past either end); sqlglot keeps the name, which
    Spark does not know. On a name known to hold text it becomes
    ``substr(v, i, 1)``, which Spark reads the same way (on a list it would be
    the 1-based list index trap, left to the rewrite that handles lists)."""
    if _call_name(node) != "array_extract" or len(node.expressions) != 2:
        return node
    target, index = node.expressions
    if isinstance(target, exp.Column) and target.name in ctx.text_names:
        return exp.Substring(this=target.copy(), start=index.copy(), length=exp.Literal.number(1))
    return node


def nfc_is_a_udf(node: exp.Expr, ctx: Context) -> exp.Expr:
    """Spark 4 has no Unicode normalisation among its SQL functions:
    ``nfc_normalize(v)`` becomes the Python UDF ``rd_nfc_udf(v)``
    (:func:`register_udfs`, Python's ``unicodedata.normalize("NFC")``).
    Its cost: each batch of rows goes to a Python worker process and back
    (pickled, not Arrow: pandas is not a dependency), and Spark cannot see
    through it (no pushdown, no code generation). rd_nfc and rd_fold call it
    only for values that are not pure ASCII, as on DuckDB. Python's Unicode
    version (3.11: 14.0) is not DuckDB's: see docs/semantics.md, "On Spark"."""
    if _call_name(node) == "nfc_normalize" and len(node.expressions) == 1:
        return exp.Anonymous(this=NFC_UDF, expressions=list(node.expressions))
    return node


# Unicode space separators (category Zs), which DuckDB's trim() strips: U+0020,
# U+00A0, U+1680, U+2000-U+200A, U+202F, U+205F, U+3000 (measured over every
# code point below U+30000). Java's \p{Zs} is the same set.
_TRIM_PATTERN = r"^\p{Zs}+|\p{Zs}+\z"


def trim_strips_unicode_spaces(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's one-argument ``trim(v)`` strips the Unicode space separators
    (Zs: U+00A0, U+3000, ...); Spark's strips only U+0020. It becomes
    ``regexp_replace(v, '^\\p{Zs}+|\\p{Zs}+\\z', '')``. A trim with
    characters given (``trim(v, 'x')``) is left alone."""
    if isinstance(node, exp.Trim) and node.expression is None and not node.args.get("position"):
        return exp.RegexpReplace(
            this=node.this.copy(),
            expression=exp.Literal.string(_TRIM_PATTERN),
            replacement=exp.Literal.string(""),
        )
    return node


_REGEX_NODES = (exp.RegexpReplace, exp.RegexpLike, exp.RegexpExtract, exp.RegexpSplit)


def _rewrite_pattern(node: exp.Expr, edit: Callable[[str], str]) -> exp.Expr:
    pattern = node.args.get("expression")
    if isinstance(node, _REGEX_NODES) and isinstance(pattern, exp.Literal) and pattern.is_string:
        node.set("expression", exp.Literal.string(edit(pattern.this)))
    return node


def _outside_escapes(pattern: str, swap: Callable[[str, bool], str | None]) -> str:
    """``pattern`` with each token (an escape ``\\x`` or one character) passed
    to ``swap(token, inside_class)``; None keeps the token."""
    out: list[str] = []
    i, depth = 0, 0
    while i < len(pattern):
        token = pattern[i : i + 2] if pattern[i] == "\\" else pattern[i]
        i += len(token)
        if token == "[":
            depth += 1
        elif token == "]" and depth:
            depth -= 1
        new = swap(token, depth > 0)
        out.append(token if new is None else new)
    return "".join(out)


def regex_vertical_tab(node: exp.Expr, ctx: Context) -> exp.Expr:
    """In RE2 (DuckDB) ``\\v`` is the vertical tab U+000B alone; in Java (Spark)
    it is every vertical whitespace character, also U+0085, U+2028 and U+2029,
    so rd_strip would strip the line separators on Spark only. It becomes
    ``\\x0B``, one character in both."""
    return _rewrite_pattern(
        node, lambda p: _outside_escapes(p, lambda t, _: "\\x0B" if t == "\\v" else None)
    )


def regex_end_is_end(node: exp.Expr, ctx: Context) -> exp.Expr:
    """In RE2 ``$`` (no multi-line flag) matches only at the end of the text; in
    Java it also matches before a final line terminator (``\\n``, ``\\r``,
    U+0085, U+2028, U+2029), so ``[\\s]+$`` would strip the space of
    ``'x \\u2028'`` on Spark only. Outside a character class it becomes
    ``\\z``, the very end in both."""
    return _rewrite_pattern(
        node,
        lambda p: _outside_escapes(p, lambda t, inside: "\\z" if t == "$" and not inside else None),
    )


REWRITES: tuple[Rewrite, ...] = (
    strlen_is_bytes,
    text_element_is_substring,
    nfc_is_a_udf,
    trim_strips_unicode_spaces,
    regex_vertical_tab,
    regex_end_is_end,
)


def _translate(tree: exp.Expr, ctx: Context) -> exp.Expr:
    for rewrite in REWRITES:
        tree = tree.transform(lambda node, r=rewrite: r(node, ctx))
    return tree


def to_spark(sql: str, text_names: Collection[str] = ()) -> str:
    """One DuckDB statement or expression as Spark SQL (sqlglot, then :data:`REWRITES`).
    ``text_names``: column names known to hold text."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    return _translate(tree, Context(frozenset(text_names))).sql(dialect="spark", comments=False)


_BOOLEAN = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)


def macros_for_spark(text: str, names: Collection[str] | None = None) -> list[str]:
    """The ``CREATE [OR REPLACE] MACRO name(args) AS expr;`` statements of a macro
    file (``names``: only those) as Spark 4 SQL functions, in file order:
    ``CREATE OR REPLACE TEMPORARY FUNCTION name(arg STRING) RETURNS STRING RETURN
    expr``. Every argument is text; a body that is a condition returns BOOLEAN.
    A macro that calls another must come after it, as in the DuckDB file."""
    functions = []
    for statement in sqlglot.parse(text, read="duckdb"):
        if not (isinstance(statement, exp.Create) and statement.kind == "MACRO"):
            continue
        signature = statement.this
        name = signature.this.name
        if names is not None and name not in names:
            continue
        args = [arg.name for arg in signature.expressions]
        body = _translate(statement.expression, Context(frozenset(args)))
        returns = "BOOLEAN" if isinstance(body, _BOOLEAN) else "STRING"
        params = ", ".join(f"{arg} STRING" for arg in args)
        functions.append(
            f"CREATE OR REPLACE TEMPORARY FUNCTION {name}({params}) RETURNS {returns}"
            f" RETURN {body.sql(dialect='spark', comments=False)}"
        )
    return functions


def nfc(value: str | None) -> str | None:
    """``rd_nfc_udf``: DuckDB's ``nfc_normalize`` (NULL stays NULL)."""
    return None if value is None else unicodedata.normalize("NFC", value)


def register_udfs(session: Any) -> None:
    """Register the Python UDFs the rewrites call (``rd_nfc_udf``) on a
    SparkSession (typed Any: recondiff does not import pyspark for this)."""
    session.udf.register(NFC_UDF, nfc, "string")
