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
from typing import Any, ClassVar

import sqlglot
from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.helper import seq_get
from sqlglot.parsers.duckdb import DuckDBParser

NFC_UDF = "rd_nfc_udf"


class _QueriesParser(DuckDBParser):
    FUNCTIONS: ClassVar[dict[str, Any]] = {
        **DuckDBParser.FUNCTIONS,
        "LEN": lambda args: exp.ArraySize(this=seq_get(args, 0)),
    }


class QueriesDuckDB(DuckDB):
    """DuckDB's dialect as the queries are read for Spark. Its one difference,
    a trap: DuckDB's ``len(v)`` is a list's size (or a text's length), but
    sqlglot reads it as ``length``, which Spark takes only for text (an
    error on a list, ``len(acc_extra)``). The queries spell a text's length
    ``length`` and a list's ``len`` (tests/test_spark_sql.py holds them to
    it): ``len`` is read as the list's size, Spark's ``size``."""

    Parser = _QueriesParser


SOURCE = QueriesDuckDB
"""The dialect every query is read in for Spark (sqlglot's ``read=``)."""


@dataclass(frozen=True)
class Context:
    """What a rewrite may know beyond the tree: the names that hold text (a
    macro's arguments), where DuckDB and Spark read one function differently
    on text and on lists."""

    text_names: frozenset[str] = frozenset()


Rewrite = Callable[[exp.Expr, Context], exp.Expr]


def call_name(node: exp.Expr) -> str | None:
    """The name of a call sqlglot does not know (an ``Anonymous`` node), lower case."""
    return node.name.lower() if isinstance(node, exp.Anonymous) else None


def strlen_is_bytes(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``strlen(v)`` counts bytes (``length`` counts characters); Spark
    has no ``strlen``: it becomes ``octet_length(v)``, the UTF-8 byte count.
    rd_nfc and rd_fold's ASCII fast path (bytes = characters) rests on it."""
    if call_name(node) == "strlen" and len(node.expressions) == 1:
        return exp.Anonymous(this="octet_length", expressions=list(node.expressions))
    return node


def text_element_is_substring(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``array_extract(v, i)`` on text is its ``i``-th character (1-based,
    negative from the end, '' past either end); sqlglot keeps the name, which
    Spark does not know. On a name known to hold text it becomes
    ``substr(v, i, 1)``, which Spark reads the same way (on a list it would be
    the 1-based list index trap, left to the rewrite that handles lists)."""
    if call_name(node) != "array_extract" or len(node.expressions) != 2:
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
    if call_name(node) == "nfc_normalize" and len(node.expressions) == 1:
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


_FOLD_CHARACTER = "rd_c"


def fold_per_code_point(node: exp.Expr, ctx: Context) -> exp.Expr:
    """rd_fold's ``lower(upper(v))`` meets two traps on Spark. Its optimizer (rule
    SimplifyCaseConversionExpressions) reads ``lower(upper(v))`` as
    ``lower(v)``, which leaves apart what the fold is for (``ς``/``σ``,
    ``µ``/``μ``, ``ſ``/``s``). And Spark maps case as Java does, with the full
    mappings of Unicode's SpecialCasing (``upper('ß')`` is ``SS``,
    ``upper('ﬁ')`` ``FI``, ``lower('İ')`` ``i`` + U+0307, ``lower('ΑΣ')`` ends
    in final ``ς``), where DuckDB maps one code point to one. It becomes, per
    code point ``c`` of ``v``: ``lower(upper(c))`` when ``upper(c)`` is one
    code point, else ``lower(c)`` (``ß`` stays ``ß``, as DuckDB's
    ``lower(upper('ß'))``), cut to its first code point (``İ`` gives ``i``, as
    on DuckDB; no other code point lowers to more than one);
    ``substring(upper(c), 1)`` keeps the optimizer's rule off. Below U+30000,
    79 code points fold differently without this rewrite, 161 with only the
    optimizer kept off, 55 with it (letters DuckDB's tables do not know yet:
    docs/semantics.md, "On Spark"). Its cost: the value is split into an array
    and joined again, only on the branch that is not pure ASCII."""
    if not (isinstance(node, exp.Lower) and isinstance(node.this, exp.Upper)):
        return node
    c = exp.to_identifier(_FOLD_CHARACTER)
    one = sqlglot.parse_one(
        f"substring(CASE WHEN length(upper({c})) = 1 THEN lower(substring(upper({c}), 1))"
        f" ELSE lower({c}) END, 1, 1)",
        read="spark",
    )
    characters = exp.Anonymous(
        this="regexp_extract_all",
        expressions=[node.this.this.copy(), exp.Literal.string("(?s)."), exp.Literal.number(0)],
    )
    mapped = exp.Anonymous(
        this="transform", expressions=[characters, exp.Lambda(this=one, expressions=[c])]
    )
    return exp.Anonymous(this="array_join", expressions=[mapped, exp.Literal.string("")])


# DuckDB's unsigned integer types, and the Spark type that holds each one's range.
_UNSIGNED = {
    exp.DataType.Type.UTINYINT: "SMALLINT",
    exp.DataType.Type.USMALLINT: "INT",
    exp.DataType.Type.UINT: "BIGINT",
    exp.DataType.Type.UBIGINT: "DECIMAL(20, 0)",
}


def unsigned_is_wider(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's unsigned integers (UTINYINT ... UBIGINT) have no Spark type;
    sqlglot writes UINT for UINTEGER, which Spark refuses. Each becomes the
    signed type that holds its range (UBIGINT a DECIMAL(20, 0))."""
    if isinstance(node, exp.DataType) and node.this in _UNSIGNED:
        return exp.DataType.build(_UNSIGNED[node.this])
    return node


_INTEGERS = (
    exp.DataType.Type.TINYINT, exp.DataType.Type.SMALLINT, exp.DataType.Type.INT,
    exp.DataType.Type.BIGINT,
)


def text_to_integer_reads_hex(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's cast of text to an integer reads hexadecimal too (``'0x200'`` is
    512: rd_uac_token's ``0X...`` flags); Spark's gives NULL (try_cast) or an
    error. A ``try_cast(t AS BIGINT)`` (or another integer type) becomes: when
    ``t`` is ``0x`` or ``0X`` and hex digits, ``conv(digits, 16, 10)`` cast;
    else the cast as it was. (A plain CAST is left: an error stays an error.)"""
    if not (
        isinstance(node, exp.TryCast)
        and isinstance(node.to, exp.DataType)
        and node.to.this in _INTEGERS
    ):
        return node
    text = exp.Cast(this=node.this.copy(), to=exp.DataType.build("STRING"))
    hex_digits = exp.Literal.string("^0[xX][0-9a-fA-F]+\\z")
    is_hex = exp.RegexpLike(this=text.copy(), expression=hex_digits)
    digits = exp.Substring(this=text.copy(), start=exp.Literal.number(3))
    converted = exp.TryCast(
        this=_call("conv", digits, exp.Literal.number(16), exp.Literal.number(10)),
        to=node.to.copy(),
        safe=True,
    )
    return exp.If(this=is_hex, true=converted, false=node.copy())


def hugeint_is_decimal(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's HUGEINT (128-bit) has no Spark type (sqlglot writes INT128,
    which Spark refuses): it becomes DECIMAL(38, 0), which holds every number
    of up to 38 digits, all that rd_integer lets through ('[+-]?0*[0-9]{1,38}')."""
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.INT128:
        return exp.DataType.build("DECIMAL(38, 0)")
    return node


def _duckdb_index(index: exp.Expr) -> exp.Expr:
    """DuckDB's own 1-based index of a ``[i]``: sqlglot's parser subtracts 1 from
    a number written in the brackets (``[1]`` is kept as 0, ``[-1]`` as -2), and
    keeps any other expression as written."""
    number = index.this if isinstance(index, exp.Neg) else index
    if isinstance(number, exp.Literal) and not number.is_string:
        value = -int(number.this) if isinstance(index, exp.Neg) else int(number.this)
        return exp.Literal.number(value + 1) if value + 1 >= 0 else exp.Neg(
            this=exp.Literal.number(-(value + 1))
        )
    return index.copy()


def list_index_is_one_based(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list[i]`` counts from 1 (``[-1]`` the last element) and is NULL
    past either end; sqlglot shifts a number written there to Spark's 0-based
    ``[i]`` but not an expression (``list[i]`` is off by one on Spark), makes
    ``[-1]`` ``[-2]``, and Spark's ``[i]`` fails past the end (ANSI mode) or
    counts no negative index. It becomes ``try_element_at(list, i)``: 1-based,
    negative from the end, NULL past either end, as DuckDB's (an index of 0,
    NULL on DuckDB, fails in Spark: an expression is guarded by a CASE). A
    string key (a map's, a struct's field) is left alone."""
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    index = node.expressions[0]
    if isinstance(index, exp.Slice) or (isinstance(index, exp.Literal) and index.is_string):
        return node
    position = _duckdb_index(index)
    if isinstance(position, (exp.Literal, exp.Neg)):
        return _call("try_element_at", node.this.copy(), position)
    # Spark's index is an INT (a BIGINT is refused)
    as_int = exp.Cast(this=position.copy(), to=exp.DataType.build("INT"))
    element = _call("try_element_at", node.this.copy(), as_int)
    return exp.If(
        this=exp.EQ(this=position.copy(), expression=exp.Literal.number(0)),
        true=exp.Null(),
        false=element,
    )


def list_slice_is_inclusive(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list[a:b]`` is elements a to b, 1-based, both included; sqlglot
    writes it as it is, which Spark cannot parse. With numbers a >= 1 and b >=
    a it becomes ``slice(list, a, b - a + 1)``; any other slice has no form
    here yet (an error, not a guess)."""
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    part = node.expressions[0]
    if not isinstance(part, exp.Slice) or is_text(node.this, ctx):  # text_slice_is_substring
        return node
    low, high = part.this, part.expression
    if not (
        isinstance(low, exp.Literal) and isinstance(high, exp.Literal)
        and 1 <= int(low.this) <= int(high.this)
    ):
        raise ValueError(f"no Spark form for the slice {node.sql(dialect='duckdb')}")
    return exp.Anonymous(
        this="slice",
        expressions=[
            node.this.copy(),
            exp.Literal.number(int(low.this)),
            exp.Literal.number(int(high.this) - int(low.this) + 1),
        ],
    )


_ELEMENT = "rd_e"


def list_aggregate_keeps_nulls_and_order(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list(x ORDER BY k, ...)`` keeps NULL values of ``x``, in the
    order asked for, and is NULL over no row. sqlglot makes it Spark's
    ``collect_list(x)``, which drops the ORDER BY (silently), drops the NULLs
    and gives ``[]`` over no row. It becomes ``collect_list`` of a struct of
    the sort keys (each after an ``is null`` flag: DuckDB puts NULLs last) and
    the value, sorted by ``array_sort`` (structs compare field by field), the
    values taken out with ``transform``, and NULL when no row was collected
    (``count(1)``; a ``FILTER (WHERE ...)`` applies to both aggregates).
    Only ascending keys have this form (a descending one is an error)."""
    where = None
    if isinstance(node, exp.Filter) and isinstance(node.this, exp.ArrayAgg):
        where, agg = node.expression, node.this
    elif isinstance(node, exp.ArrayAgg) and not isinstance(node.parent, exp.Filter):
        agg = node
    else:
        return node
    inner = agg.this
    keys: list[exp.Expr] = []
    if isinstance(inner, exp.Order):
        for ordered in inner.expressions:
            if ordered.args.get("desc") or ordered.args.get("nulls_first"):
                raise ValueError(f"no Spark form for {agg.sql(dialect='duckdb')}")
            keys.append(ordered.this)
        inner = inner.this
    fields: list[exp.Expr] = []
    for i, key in enumerate(keys):
        fields += [exp.Literal.string(f"n{i}"), exp.Is(this=key.copy(), expression=exp.Null())]
        fields += [exp.Literal.string(f"k{i}"), key.copy()]
    fields += [exp.Literal.string("v"), inner.copy()]

    def filtered(aggregate: exp.Expr) -> exp.Expr:
        return aggregate if where is None else exp.Filter(this=aggregate, expression=where.copy())

    collected = filtered(
        exp.Anonymous(
            this="collect_list",
            expressions=[exp.Anonymous(this="named_struct", expressions=fields)],
        )
    )
    if keys:
        collected = exp.Anonymous(this="array_sort", expressions=[collected])
    e = exp.to_identifier(_ELEMENT)
    values = exp.Anonymous(
        this="transform",
        expressions=[
            collected,
            exp.Lambda(this=exp.Dot(this=exp.column(e), expression=exp.to_identifier("v")),
                       expressions=[e]),
        ],
    )
    count = filtered(exp.Anonymous(this="count", expressions=[exp.Literal.number(1)]))
    return exp.If(
        this=exp.EQ(this=count, expression=exp.Literal.number(0)),
        true=exp.Null(),
        false=values,
    )


# What surely gives text (DuckDB's ``||`` also joins lists: it is text only
# beside text).
_TEXT_CALLS = (
    exp.SHA2, exp.SHA, exp.MD5, exp.Substring, exp.RegexpReplace, exp.Lower, exp.Upper,
    exp.Trim, exp.Concat, exp.ConcatWs, exp.ArrayToString,
)


def is_text(node: exp.Expr, ctx: Context) -> bool:
    """Whether ``node`` surely holds text, seen from its spelling alone: a string,
    a call that gives text, a ``||`` or a CASE of such, a name of
    ``ctx.text_names``, a cast to text."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.Literal):
        return bool(node.is_string)
    if isinstance(node, _TEXT_CALLS):
        return True
    if isinstance(node, exp.Cast):
        return node.to.is_type(*exp.DataType.TEXT_TYPES)
    if isinstance(node, exp.Column):
        return not node.table and node.name in ctx.text_names
    if isinstance(node, exp.DPipe):
        return is_text(node.this, ctx) or is_text(node.expression, ctx)
    if isinstance(node, exp.Case):
        branches = [i.args.get("true") for i in node.args.get("ifs") or []]
        branches.append(node.args.get("default"))
        return any(b is not None and is_text(b, ctx) for b in branches)
    return False


def _one_based_end(low: int, high: exp.Expr, value: exp.Expr) -> exp.Expr:
    """How many characters ``value[low:high]`` holds on DuckDB (Spark's
    ``substring`` gives none for a count below 1)."""
    if isinstance(high, exp.Literal) and not high.is_string:
        return exp.Literal.number(int(high.this) - low + 1)
    assert isinstance(high, exp.Neg) and isinstance(high.this, exp.Literal)
    # [low:-k]: up to the k-th character from the end, included
    return exp.Sub(
        this=exp.Length(this=value.copy()),
        expression=exp.Literal.number(int(high.this.this) + low - 2),
    )


def text_slice_is_substring(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``s[a:b]`` on text is the characters a to b, 1-based, both
    included (``b`` negative: counted from the end, ``-1`` the last), as
    ``sha256(x)[1:16]`` (rd_event_id) or ``e[1:-2]`` (rd_dn_escape_inner); sqlglot
    writes the slice as it is, which Spark cannot parse, and
    list_slice_is_inclusive's ``slice()`` is for arrays. On a value that is
    surely text (:func:`is_text`) with a number ``a >= 1`` and a number ``b``
    it becomes ``substring(s, a, b - a + 1)``, or for ``b = -k``
    ``substring(s, a, length(s) - k - a + 2)`` (Spark's ``substring`` gives ''
    for a count below 1, as DuckDB's slice past its end)."""
    if not isinstance(node, exp.Bracket) or len(node.expressions) != 1:
        return node
    part = node.expressions[0]
    if not (isinstance(part, exp.Slice) and is_text(node.this, ctx)):
        return node
    low, high = part.this, part.expression
    number = high.this if isinstance(high, exp.Neg) else high
    if not (
        isinstance(low, exp.Literal) and not low.is_string and int(low.this) >= 1
        and isinstance(number, exp.Literal) and not number.is_string and int(number.this) >= 1
    ):
        raise ValueError(f"no Spark form for the slice {node.sql(dialect='duckdb')}")
    value = node.this
    return exp.Substring(
        this=value.copy(),
        start=exp.Literal.number(int(low.this)),
        length=_one_based_end(int(low.this), high, value),
    )


_LAMBDA_CALLS = (exp.ArrayFilter, exp.Transform)


def lambda_index_is_one_based(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list_filter(l, lambda x, i: ...)`` and ``list_transform`` give
    a two-argument lambda the element's index from 1 (``list_position(l, x) =
    i``: the first of its equals); sqlglot keeps ``(x, i) -> ...``, where Spark
    counts from 0: off by one, silently. Each use of the index in the body
    becomes ``(i + 1)`` (but where an inner lambda binds the same name)."""
    if not (isinstance(node, exp.Lambda) and isinstance(node.parent, _LAMBDA_CALLS)):
        return node
    if len(node.expressions) != 2 or node.args.get("rd_one_based"):
        return node
    index = node.expressions[1].name

    def one(inner: exp.Expr) -> exp.Expr:
        # sqlglot reads a lambda's variable in its body as an Identifier
        column = isinstance(inner, exp.Column) and not inner.table
        if not (column or (isinstance(inner, exp.Identifier) and _is_reference(inner))):
            return inner
        if inner.name != index or _rebound_below(inner, index, body):
            return inner
        return exp.Paren(this=exp.Add(this=inner.copy(), expression=exp.Literal.number(1)))

    body = node.this.copy()
    for inner in reversed(list(body.dfs())):
        new_inner = one(inner)
        if new_inner is not inner:
            if inner is body:
                body = new_inner
            else:
                inner.replace(new_inner)
    new = exp.Lambda(this=body, expressions=[e.copy() for e in node.expressions])
    new.set("rd_one_based", True)  # translate() may see it again (a macro's body)
    return new


def _is_reference(node: exp.Identifier) -> bool:
    """Whether an Identifier stands for a value (a lambda's variable), not a
    field's, a column's, a table's or an alias's name."""
    parent = node.parent
    if isinstance(parent, exp.Dot):
        return node.arg_key == "this"
    return not isinstance(
        parent, (exp.Column, exp.Table, exp.Alias, exp.TableAlias, exp.Lambda, exp.PropertyEQ)
    )


def _rebound_below(node: exp.Expr, name: str, top: exp.Expr) -> bool:
    """Whether a lambda between ``node`` and ``top`` binds ``name`` again."""
    parent = node.parent
    while parent is not None:
        if isinstance(parent, exp.Lambda) and any(p.name == name for p in parent.expressions):
            return True
        if parent is top:
            break
        parent = parent.parent
    return False


_NULL_FLAG = "rd_n"


def _lambda(name: str, body: Callable[[exp.Expr], exp.Expr]) -> exp.Lambda:
    var = exp.to_identifier(name)
    return exp.Lambda(this=body(exp.column(var)), expressions=[var])


def _without_nulls(values: exp.Expr) -> exp.Expr:
    return exp.ArrayFilter(
        this=values.copy(),
        expression=_lambda(_NULL_FLAG, lambda e: exp.not_(exp.Is(this=e, expression=exp.Null()))),
    )


def list_position_finds_null(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list_position(l, x)`` is the 1-based place of the first element
    equal to ``x``, NULL when there is none, and finds a NULL ``x`` at the first
    NULL element (rd_dedupe keeps one NULL); sqlglot keeps the name, which
    Spark does not know, and Spark's ``array_position`` gives 0 for none and
    NULL for a NULL ``x``. It becomes ``nullif(array_position(l, x), 0)``, or
    for a NULL ``x`` the place of the first ``e IS NULL``."""
    if call_name(node) != "list_position" or len(node.expressions) != 2:
        return node
    values, x = node.expressions

    def position(of: exp.Expr, where: exp.Expr) -> exp.Expr:
        return exp.Nullif(
            this=exp.Anonymous(this="array_position", expressions=[of, where]),
            expression=exp.Literal.number(0),
        )

    flags = exp.Transform(
        this=values.copy(),
        expression=_lambda(_NULL_FLAG, lambda e: exp.Is(this=e, expression=exp.Null())),
    )
    return exp.If(
        this=exp.Is(this=x.copy(), expression=exp.Null()),
        true=position(flags, exp.true()),
        false=position(values.copy(), x.copy()),
    )


def flatten_skips_null_lists(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``flatten(l)`` leaves out a NULL inner list (``flatten([[1],
    NULL])`` is ``[1]``); Spark's is NULL as soon as one inner list is. It
    becomes ``flatten(filter(l, e -> e IS NOT NULL))``."""
    if not isinstance(node, exp.Flatten) or isinstance(node.this, exp.ArrayFilter):
        return node
    return exp.Flatten(this=_without_nulls(node.this))


def list_count_counts_values(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list_aggregate(l, 'count')`` counts the values that are not
    NULL (NULL for a NULL list); sqlglot keeps the name, which Spark does not
    know. It becomes ``size(filter(l, e -> e IS NOT NULL))``. Another
    aggregate but ``'bit_or'`` (list_bit_or_is_a_fold) has no form here yet (an
    error, not a guess)."""
    if call_name(node) == "list_count" and len(node.expressions) == 1:  # the same
        return exp.ArraySize(this=_without_nulls(node.expressions[0]))
    if call_name(node) not in ("list_aggregate", "list_aggr") or len(node.expressions) != 2:
        return node
    values, name = node.expressions
    if isinstance(name, exp.Literal) and name.is_string and name.this.lower() == "bit_or":
        return node  # list_bit_or_is_a_fold
    if not (isinstance(name, exp.Literal) and name.is_string and name.this.lower() == "count"):
        raise ValueError(f"no Spark form for {node.sql(dialect='duckdb')}")
    return exp.ArraySize(this=_without_nulls(values))


def list_contains_ignores_nulls(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list_contains(l, x)`` is false when ``x`` is not in ``l``; Spark's
    ``array_contains`` is NULL then if ``l`` holds a NULL (a NOT of it would
    differ). It becomes ``IF(x IS NULL, NULL, coalesce(array_contains(l, x),
    false))``: no lambda, so ``l`` may be a subquery (Spark allows none inside
    a higher-order function: stage/endpoint.sql's protected keys)."""
    if not isinstance(node, exp.ArrayContains):
        return node
    found = exp.Coalesce(this=node.copy(), expressions=[exp.false()])
    return exp.If(
        this=exp.Is(this=node.expression.copy(), expression=exp.Null()),
        true=exp.Null(),
        false=found,
    )

def list_extract_is_one_based(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list_extract(l, i)`` is ``l[i]``: 1-based, NULL past either end;
    sqlglot keeps the name, which Spark does not know. It becomes
    ``try_element_at(l, CAST(i AS INT))``, NULL for an index of 0 (an error in
    Spark)."""
    if call_name(node) != "list_extract" or len(node.expressions) != 2:
        return node
    values, index = node.expressions
    if isinstance(index, exp.Literal) and int(index.this) != 0:
        return exp.Anonymous(this="try_element_at", expressions=[values.copy(), index.copy()])
    # (Spark's index is an INT: a BIGINT one is refused, not narrowed)
    position = exp.Cast(this=index.copy(), to=exp.DataType.build("INT"))
    element = exp.Anonymous(this="try_element_at", expressions=[values.copy(), position])
    return exp.If(
        this=exp.EQ(this=index.copy(), expression=exp.Literal.number(0)),
        true=exp.Null(),
        false=element,
    )


def chr_is_a_code_point(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``chr(n)`` is the character of code point ``n``; Spark's is that of
    ``n % 256`` (``chr(9216)``, rd_no_nul's U+2400, gives NUL). A number
    written above 255 becomes the character itself as a string; any other
    ``n`` not written as a number ``format_string('%c', n)`` (Java's ``%c``
    takes a code point)."""
    if not isinstance(node, exp.Chr) or len(node.expressions) != 1:
        return node
    (code,) = node.expressions
    if isinstance(code, exp.Literal) and not code.is_string:
        value = int(code.this)
        return exp.Literal.string(chr(value)) if value > 255 else node
    return exp.Anonymous(
        this="format_string",
        expressions=[
            exp.Literal.string("%c"), exp.Cast(this=code.copy(), to=exp.DataType.build("INT"))
        ],
    )


def url_decode_keeps_plus(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``url_decode`` keeps ``+``; Spark's (Java's URLDecoder, form
    encoding) reads it as a space: rd_dn_unescape decodes a DN's hex escapes
    before rd_dn cuts its RDNs on ``+``, so ``cn=a+uid=b`` lost its
    multi-valued RDN. The text becomes ``replace(v, '+', '%2B')`` first. And
    ``try(url_decode(v))``: Spark has no general ``try()`` (sqlglot drops it,
    with a warning); it becomes ``try_url_decode`` (NULL on a malformed
    escape). Still apart: bytes that are no UTF-8 (a DN's ``\ff``) fail on
    DuckDB (so rd_dn_unescape keeps the text) and decode to U+FFFD on Spark
    (docs/semantics.md, "On Spark")."""
    if isinstance(node, exp.Try) and call_name(node.this) == "url_decode":
        # its url_decode was rewritten already (a node's children go first)
        return exp.Anonymous(this="try_url_decode", expressions=list(node.this.expressions))
    if call_name(node) != "url_decode" or len(node.expressions) != 1:
        return node
    (text,) = node.expressions
    plus = exp.Anonymous(
        this="replace",
        expressions=[text.copy(), exp.Literal.string("+"), exp.Literal.string("%2B")],
    )
    return exp.Anonymous(this="url_decode", expressions=[plus])


# Where a to_json() result is used as text (not kept as JSON): sha256(to_json(...)).
_JSON_AS_TEXT = (exp.SHA2, exp.SHA, exp.MD5, exp.DPipe, exp.Concat, exp.ConcatWs)


def json_is_a_type(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``to_json(v)`` is of type JSON: put in a struct or a list that is
    itself turned to JSON it stays an object (the plan's ``why`` and
    ``member_of``), and a NULL field is written ``null``. Spark's ``to_json``
    gives a string, which the outer one writes as a quoted string, and leaves
    NULL fields out. It becomes ``parse_json(to_json(v, map('ignoreNullFields',
    'false')))``, Spark's VARIANT, which an outer ``to_json`` writes as it is,
    and ``CAST(... AS STRING)`` as its JSON text (a VARIANT writes an object's
    fields sorted: the queries declare them so, for the canonical form). Its
    text alone where hashed or joined (``sha256(to_json(...))``)."""
    if call_name(node) != "to_json" or len(node.expressions) != 1:
        return node
    options = exp.Anonymous(
        this="map",
        expressions=[exp.Literal.string("ignoreNullFields"), exp.Literal.string("false")],
    )
    text = exp.Anonymous(this="to_json", expressions=[node.expressions[0].copy(), options])
    parent = node.parent
    while isinstance(parent, exp.Paren):
        parent = parent.parent
    if isinstance(parent, _JSON_AS_TEXT):
        return text
    return exp.Anonymous(this="parse_json", expressions=[text])


_POS, _VALUE, _UNNESTED = "rd_pos", "rd_val", "rd_unnest"


def unnest_is_a_lateral_view(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``SELECT generate_subscripts(l, 1) AS i, ..., unnest(l) AS v`` is a
    row per element of ``l`` (none for an empty or NULL list), with its index
    from 1; ``unnest(l, recursive := true)`` of structs makes a column of each
    field. sqlglot writes ``GENERATE_SUBSCRIPTS``, which Spark does not know,
    and ``EXPLODE(l, recursive := TRUE)``. The SELECT gets ``LATERAL VIEW
    posexplode(l) rd_unnest AS rd_pos, rd_val`` (``FROM (SELECT 1)`` when it
    has no FROM); ``generate_subscripts(l, 1)`` becomes ``rd_pos + 1``,
    ``unnest(l)`` ``rd_val`` (recursive: ``rd_val.*``). One list per SELECT."""
    if not isinstance(node, exp.Select):
        return node
    explodes = [e for e in node.expressions if isinstance(e.unalias(), exp.Explode)]
    if not explodes:
        return node
    lists = {e.unalias().this.sql() for e in explodes}
    subscripts = [
        e for e in node.expressions
        if call_name(e.unalias()) == "generate_subscripts"
    ]
    lists |= {e.unalias().expressions[0].sql() for e in subscripts}
    if len(explodes) != 1 or len(lists) != 1:
        raise ValueError(f"no Spark form for two unnests: {node.sql(dialect='duckdb')[:200]}")
    explode = explodes[0].unalias()
    values = explode.this.copy()
    recursive = any(
        isinstance(a, (exp.Kwarg, exp.PropertyEQ, exp.EQ)) and a.this.name.lower() == "recursive"
        for a in explode.expressions
    )
    new_expressions = []
    for e in node.expressions:
        inner = e.unalias()
        if isinstance(inner, exp.Explode):
            new: exp.Expr = (
                exp.Column(this=exp.Star(), table=exp.to_identifier(_VALUE)) if recursive
                else exp.column(_VALUE)
            )
        elif call_name(inner) == "generate_subscripts":
            new = exp.Add(this=exp.column(_POS), expression=exp.Literal.number(1))
        else:
            new_expressions.append(e)
            continue
        new_expressions.append(exp.alias_(new, e.alias) if e.alias else new)
    node = node.copy()
    node.set("expressions", new_expressions)
    if not node.args.get("from_"):
        node.set("from_", exp.From(this=exp.Subquery(this=exp.select("1"))))
    lateral = exp.Lateral(
        this=exp.Posexplode(this=values),
        view=True,
        outer=False,
        alias=exp.TableAlias(
            this=exp.to_identifier(_UNNESTED),
            columns=[exp.to_identifier(_POS), exp.to_identifier(_VALUE)],
        ),
    )
    node.set("laterals", [*(node.args.get("laterals") or []), lateral])
    return node


def _output_names(query: exp.Expr) -> list[str] | None:
    """The column names a SELECT gives, when its list says them all (no star)."""
    if not isinstance(query, exp.Select):
        return None
    names = []
    for e in query.expressions:
        if isinstance(e, exp.Star) or (isinstance(e, exp.Column) and isinstance(e.this, exp.Star)):
            return None
        if not e.alias_or_name:
            return None
        names.append(e.alias_or_name)
    return names


def _cte_query(node: exp.Expr, name: str) -> exp.Expr | None:
    parent = node.parent
    while parent is not None:
        with_ = parent.args.get("with_") if isinstance(parent, exp.Query) else None
        if with_ is not None:
            for cte in with_.expressions:
                if cte.alias == name:
                    query: exp.Expr = cte.this
                    return query
        parent = parent.parent
    return None


def _branch_names(branch: exp.Expr) -> list[str] | None:
    names = _output_names(branch)
    if names is not None:
        return names
    # SELECT * FROM cte: the CTE's own list
    if (
        isinstance(branch, exp.Select) and len(branch.expressions) == 1
        and isinstance(branch.expressions[0], exp.Star) and not branch.args.get("joins")
    ):
        source = branch.args.get("from_")
        table = source.this if source else None
        if isinstance(table, exp.Table) and not table.db:
            query = _cte_query(branch, table.name)
            return _output_names(query) if query is not None else None
    return None


def union_by_name_is_by_place(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``UNION ALL BY NAME`` matches the branches' columns by name
    (a column a branch lacks is NULL there); Spark SQL has no such form, and a
    plain UNION ALL matches them by place. Where every branch's names are known
    from the text (its SELECT list, or that of the CTE a ``SELECT *`` reads),
    each branch becomes ``SELECT`` of the first one's names (then the others'),
    NULL for those it lacks, and the union one by place. Otherwise an error."""
    if not (isinstance(node, exp.Union) and node.args.get("by_name")):
        return node
    if isinstance(node.parent, exp.Union) and node.parent.args.get("by_name"):
        return node  # the outermost one of a chain takes all its branches
    branches: list[exp.Expr] = []

    def gather(n: exp.Expr) -> None:
        if isinstance(n, exp.Union) and n.args.get("by_name") and not n.args.get("distinct"):
            gather(n.this)
            gather(n.expression)
        else:
            branches.append(n)

    gather(node)
    known = [_branch_names(b) for b in branches]
    if any(k is None for k in known):
        raise ValueError(f"no Spark form for the UNION BY NAME {node.sql(dialect='duckdb')[:200]}")
    order: list[str] = []
    for names in known:
        order += [n for n in names or [] if n not in order]
    selects = []
    for branch, names in zip(branches, known, strict=True):
        have = set(names or [])
        columns = [
            exp.column(n) if n in have else exp.alias_(exp.Null(), n) for n in order
        ]
        source = exp.Subquery(
            this=branch.copy(), alias=exp.TableAlias(this=exp.to_identifier("rd_b"))
        )
        selects.append(exp.select(*columns).from_(source))
    result: exp.Expr = selects[0]
    for s in selects[1:]:
        result = exp.union(result, s, distinct=False)
    return result


_JAVA_NFC = ("com.ibm.icu.text.Normalizer", "compose")


def nfc_in_a_lambda_is_java(node: exp.Expr, ctx: Context) -> exp.Expr:
    """Spark runs no Python UDF inside a lambda (UNSUPPORTED_FEATURE.
    LAMBDA_FUNCTION_WITH_PYTHON_UDF), and rd_fold, which calls ``rd_nfc_udf``
    (nfc_is_a_udf), is called in some (``list_filter(extra, lambda v: rd_fold(v)
    <> rd_fold(value))``, rd_disable_changes). There the call becomes
    ``reflect('com.ibm.icu.text.Normalizer', 'compose', v, false)``: NFC by the
    ICU4J Spark 4 ships (for its collations), NULL for NULL. Its Unicode
    version is ICU's, not Python's (docs/semantics.md, "On Spark")."""
    if call_name(node) != NFC_UDF or len(node.expressions) != 1:
        return node
    parent = node.parent
    while parent is not None and not isinstance(parent, exp.Lambda):
        parent = parent.parent
    if parent is None:
        return node
    (value,) = node.expressions
    composed = exp.Anonymous(
        this="reflect",
        expressions=[
            exp.Literal.string(_JAVA_NFC[0]), exp.Literal.string(_JAVA_NFC[1]),
            exp.Cast(this=value.copy(), to=exp.DataType.build("STRING")), exp.false(),
        ],
    )
    return exp.If(this=exp.Is(this=value.copy(), expression=exp.Null()), true=exp.Null(),
                  false=composed)


def json_cast_is_parse_json(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``CAST(s AS JSON)`` reads JSON text as its JSON type (plan/events.sql
    keeps an event's ``why`` as text inside the items it sorts, then JSON
    again); Spark has no JSON type, and its JSON value (VARIANT, as
    json_is_a_type makes it) is made by ``parse_json(s)``."""
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.JSON):
        return exp.Anonymous(this="parse_json", expressions=[node.this.copy()])
    return node


def regex_full_match_is_anchored(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``regexp_full_match(s, p)`` matches the whole text; Spark has no
    such function, and its ``rlike``/``regexp_like`` finds the pattern anywhere.
    It becomes ``s RLIKE '^(?:p)\\z'``: anchored at both ends (``\\z``, the very
    end: Java's ``$`` also matches before a final line break). A pattern that
    is not a literal is anchored by concatenation."""
    if not isinstance(node, exp.RegexpFullMatch) or node.args.get("options"):
        return node
    text, pattern = node.this, node.expression
    if isinstance(pattern, exp.Literal) and pattern.is_string:
        anchored: exp.Expr = exp.Literal.string(f"^(?:{pattern.this})\\z")
    else:
        anchored = exp.DPipe(
            this=exp.DPipe(this=exp.Literal.string("^(?:"), expression=pattern.copy()),
            expression=exp.Literal.string(")\\z"),
        )
    return exp.RegexpLike(this=text.copy(), expression=anchored)


def _java_replacement(text: str) -> str:
    """An RE2 replacement (``\\1`` a group, ``\\\\`` a backslash, ``$`` itself) in
    Java's spelling (``$1``, ``\\\\``, ``\\$``)."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append(f"${nxt}" if nxt.isdigit() else "\\" + nxt)
            i += 2
            continue
        out.append("\\$" if c == "$" else c)
        i += 1
    return "".join(out)


def regex_replace_as_re2(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``regexp_replace(s, p, r[, options])`` meets three traps on Spark.
    Its replacement names a group ``\\1`` where Java's says ``$1`` (Java reads
    ``\\1`` as the digit, and a ``$`` as a group). Without the ``'g'`` option it
    replaces the first match only, where Spark's replaces all. And sqlglot
    drops the options, ``'i'`` (ignore case) with them. The replacement is
    spelled Java's way, ``'i'`` becomes ``(?i)`` before the pattern, and a
    first-match-only replace is kept only for a pattern anchored at its start
    (``^``: one match at most, the same); any other option or case has no form
    here (an error, not a guess)."""
    if not isinstance(node, exp.RegexpReplace):
        return node
    modifiers = node.args.get("modifiers")
    options = modifiers.this if isinstance(modifiers, exp.Literal) else ""
    pattern, replacement = node.args.get("expression"), node.args.get("replacement")
    if not (isinstance(pattern, exp.Literal) and isinstance(replacement, exp.Literal)):
        raise ValueError(f"no Spark form for {node.sql(dialect='duckdb')}: not literals")
    if set(options) - {"g", "i"} or ("g" not in options and not pattern.this.startswith("^")):
        raise ValueError(f"no Spark form for {node.sql(dialect='duckdb')}")
    new = node.copy()
    new.set("modifiers", None)
    new.set("expression", exp.Literal.string(("(?i)" if "i" in options else "") + pattern.this))
    new.set("replacement", exp.Literal.string(_java_replacement(replacement.this)))
    return new


def _call(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def hash_is_64_bit(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``hash(...)`` is 64-bit; sqlglot keeps ``hash``, which on Spark is
    a 32-bit Murmur3: at 10M accounts two different attribute sets would share
    a hash often enough to be judged in sync without a look (attr_hash,
    engine/slots.hash_of). It becomes ``xxhash64``. Spark's hashes also skip
    NULLs, in a list too (``[NULL, 'a']``, ``['a']`` and ``['a', NULL]`` hash
    alike), so each argument enters with whether it is NULL and its text form
    (``CAST(... AS STRING)``, which spells a list's NULLs and places) before it."""
    if call_name(node) != "hash" and not (
        isinstance(node, exp.Func) and node.sql_name() == "HASH"
    ):
        return node
    args: list[exp.Expr] = list(node.expressions) or (
        [node.this] if node.args.get("this") is not None else []
    )
    guarded: list[exp.Expr] = []
    for arg in args:
        if call_name(arg) == "xxhash64":  # a hash inside: never NULL, a number
            guarded.append(arg.copy())
            continue
        guarded += [
            exp.Is(this=arg.copy(), expression=exp.Null()),
            exp.Cast(this=arg.copy(), to=exp.DataType.build("STRING")),
            arg.copy(),
        ]
    return _call("xxhash64", *guarded)


def list_bit_or_is_a_fold(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``list_aggregate(l, 'bit_or')`` ORs the elements that are not
    NULL, NULL when there is none; sqlglot keeps the name, which Spark does not
    know. It becomes Spark's ``aggregate`` over the elements that are not NULL,
    folding from 0 (a BIGINT), NULL when there is none (rd_uac_fold)."""
    if call_name(node) != "list_aggregate" or len(node.expressions) != 2:
        return node
    target, how = node.expressions
    if not (isinstance(how, exp.Literal) and how.this == "bit_or"):
        raise ValueError(f"no Spark form for {node.sql(dialect='duckdb')}")
    present = _without_nulls(target)
    folded = _call(
        "aggregate", present.copy(),
        exp.Cast(this=exp.Literal.number(0), to=exp.DataType.build("BIGINT")),
        exp.Lambda(
            this=sqlglot.parse_one("rd_a | rd_x", read="spark"),
            expressions=[exp.to_identifier("rd_a"), exp.to_identifier("rd_x")],
        ),
    )
    return exp.If(
        this=exp.EQ(this=_call("size", present), expression=exp.Literal.number(0)),
        true=exp.Null(),
        false=folded,
    )


def cte_hint_is_dropped(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``WITH t AS MATERIALIZED (...)`` asks it to compute the CTE once;
    sqlglot keeps the word, which Spark cannot parse. The hint goes (Spark
    decides on its own whether to reuse a CTE's result; the result is the same)."""
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        new = node.copy()
        new.set("materialized", None)
        return new
    return node


_RENAMED = {"error": "raise_error"}


def renamed_functions(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB functions Spark knows under another name, meaning the same
    (sqlglot keeps DuckDB's): ``error(msg)`` (stop the query with ``msg``) is
    Spark's ``raise_error(msg)``."""
    name = call_name(node)
    if name in _RENAMED:
        return _call(_RENAMED[name], *[e.copy() for e in node.expressions])
    return node


def microseconds_are_an_interval(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``to_microseconds(n)`` is an interval of n microseconds; Spark has
    no such function. It becomes ``make_dt_interval(0, 0, 0, seconds)`` with the
    seconds as an exact DECIMAL(18, 6) (every microsecond count an AD
    FILETIME can hold: rd_instant)."""
    if call_name(node) != "to_microseconds" or len(node.expressions) != 1:
        return node
    micros = exp.Cast(this=node.expressions[0].copy(), to=exp.DataType.build("DECIMAL(20, 0)"))
    seconds = exp.Cast(
        this=exp.Div(this=micros, expression=exp.Literal.number(1000000)),
        to=exp.DataType.build("DECIMAL(18, 6)"),
    )
    zero = exp.Literal.number(0)
    return _call("make_dt_interval", zero, zero.copy(), zero.copy(), seconds)


REWRITES: tuple[Rewrite, ...] = (
    fold_per_code_point,
    strlen_is_bytes,
    text_element_is_substring,
    nfc_is_a_udf,
    trim_strips_unicode_spaces,
    regex_vertical_tab,
    regex_end_is_end,
    hugeint_is_decimal,
    unsigned_is_wider,
    text_to_integer_reads_hex,
    list_slice_is_inclusive,
    list_index_is_one_based,
    list_aggregate_keeps_nulls_and_order,
    text_slice_is_substring,
    lambda_index_is_one_based,
    list_position_finds_null,
    flatten_skips_null_lists,
    list_count_counts_values,
    list_contains_ignores_nulls,
    list_extract_is_one_based,
    chr_is_a_code_point,
    url_decode_keeps_plus,
    json_is_a_type,
    unnest_is_a_lateral_view,
    union_by_name_is_by_place,
    nfc_in_a_lambda_is_java,
    json_cast_is_parse_json,
    regex_full_match_is_anchored,
    regex_replace_as_re2,
    hash_is_64_bit,
    list_bit_or_is_a_fold,
    cte_hint_is_dropped,
    renamed_functions,
    microseconds_are_an_interval,
)


def translate(tree: exp.Expr, ctx: Context, rewrites: Collection[Rewrite] = REWRITES) -> exp.Expr:
    """``tree`` (DuckDB's) with every rewrite of ``rewrites`` applied, in order,
    each to every node, a node's children before it: a rewrite that replaces a
    node by one holding copies of its children (``l[i]`` of a list that holds
    ``m[j]``) finds them already rewritten (sqlglot's ``transform`` goes
    parents first and skips what a replacement holds)."""
    tree = tree.copy()
    for rewrite in rewrites:
        for node in reversed(list(tree.dfs())):
            new = rewrite(node, ctx)
            if new is node:
                continue
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree


def to_spark(sql: str, text_names: Collection[str] = ()) -> str:
    """One DuckDB statement or expression as Spark SQL (sqlglot, then :data:`REWRITES`).
    ``text_names``: column names known to hold text."""
    tree = sqlglot.parse_one(sql, read=SOURCE)
    return translate(tree, Context(frozenset(text_names))).sql(dialect="spark", comments=False)


_BOOLEAN = (exp.Predicate, exp.Connector, exp.Not, exp.Boolean)


def macros_for_spark(
    text: str, names: Collection[str] | None = None, *, rewrites: Collection[Rewrite] = REWRITES
) -> list[str]:
    """The ``CREATE [OR REPLACE] MACRO name(args) AS expr;`` statements of a macro
    file (``names``: only those) as Spark 4 SQL functions, in file order:
    ``CREATE OR REPLACE TEMPORARY FUNCTION name(arg STRING) RETURNS STRING RETURN
    expr``. Every argument is text; a body that is a condition returns BOOLEAN.
    A macro that calls another must come after it, as in the DuckDB file.
    ``rewrites``: all of :data:`REWRITES` but for a test that leaves one out."""
    functions = []
    for statement in sqlglot.parse(text, read=SOURCE):
        if not (isinstance(statement, exp.Create) and statement.kind == "MACRO"):
            continue
        signature = statement.this
        name = signature.this.name
        if names is not None and name not in names:
            continue
        args = [arg.name for arg in signature.expressions]
        body = translate(statement.expression, Context(frozenset(args)), rewrites)
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


def _nfc_by_value() -> Callable[[str | None], str | None]:
    """:func:`nfc` as a function defined here, inside a function: pyspark
    (cloudpickle) sends such a function to the executors by value, where a
    module's function goes by reference and would need recondiff (and
    sqlglot, which this module imports) installed on every executor. The
    executors need Python and pyspark only (docs/spark.md, "On a cluster")."""
    import unicodedata

    def rd_nfc(value: str | None) -> str | None:
        return None if value is None else unicodedata.normalize("NFC", value)

    return rd_nfc


def register_udfs(session: Any) -> None:
    """Register the Python UDFs the rewrites call (``rd_nfc_udf``) on a
    SparkSession (typed Any: recondiff does not import pyspark for this)."""
    session.udf.register(NFC_UDF, _nfc_by_value(), "string")
