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
    if not isinstance(part, exp.Slice):
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


def _lambda(body: str, *names: str) -> exp.Lambda:
    return exp.Lambda(
        this=sqlglot.parse_one(body, read="spark"),
        expressions=[exp.to_identifier(n) for n in names],
    )


def hash_is_64_bit(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``hash(...)`` is 64-bit; sqlglot keeps ``hash``, which on Spark is
    a 32-bit Murmur3: at 10M accounts two different attribute sets would share
    a hash often enough to be judged in sync without a look (attr_hash,
    engine/slots.hash_of). It becomes ``xxhash64``. Spark's hashes also skip
    NULLs, in a list too (``[NULL, 'a']``, ``['a']`` and ``['a', NULL]`` hash
    alike), so each argument enters with whether it is NULL and its text form
    (``CAST(... AS STRING)``, which spells a list's NULLs and places) before it."""
    if _call_name(node) != "hash" and not (
        isinstance(node, exp.Func) and node.sql_name() == "HASH"
    ):
        return node
    args: list[exp.Expr] = list(node.expressions) or (
        [node.this] if node.args.get("this") is not None else []
    )
    guarded: list[exp.Expr] = []
    for arg in args:
        if _call_name(arg) == "xxhash64":  # a hash inside: never NULL, a number
            guarded.append(arg.copy())
            continue
        guarded += [
            exp.Is(this=arg.copy(), expression=exp.Null()),
            exp.Cast(this=arg.copy(), to=exp.DataType.build("STRING")),
            arg.copy(),
        ]
    return _call("xxhash64", *guarded)


def list_length_is_size(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``len(list)`` counts a list's elements; sqlglot writes
    ``length``, which on Spark is a text's length (an array is refused). It
    becomes ``size``, NULL for a NULL list as DuckDB's (Spark's legacy
    ``size(NULL)`` is -1: the CASE does not depend on that setting)."""
    if not (isinstance(node, exp.Length) and _is_len_call(node)):
        return node
    arg = node.this
    return exp.If(
        this=exp.Is(this=arg.copy(), expression=exp.Null()),
        true=exp.Null(),
        false=_call("size", arg.copy()),
    )


def _is_len_call(node: exp.Expr) -> bool:
    """Whether a Length node was written ``len`` (DuckDB's spelling for lists in
    queries/), not ``length`` (text): sqlglot parses both into one node, and
    only the span of the name it read (``meta`` start and end) tells them apart."""
    start, end = node.meta.get("start"), node.meta.get("end")
    return isinstance(start, int) and isinstance(end, int) and end - start + 1 == len("len")


def list_functions_as_spark(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's list functions that sqlglot writes under their DuckDB names, which
    Spark does not know (or knows as another thing):
    ``list_extract(l, i)`` is ``l[i]`` (1-based: the index rewrite follows);
    ``list_position(l, x)`` is NULL where Spark's ``array_position`` says 0;
    ``list_count(l)`` counts the elements that are not NULL;
    ``list_aggregate(l, 'bit_or')`` ORs the elements that are not NULL, NULL
    when there is none (Spark's ``aggregate`` folds from a start value)."""
    name = _call_name(node)
    if name == "list_extract" and len(node.expressions) == 2:
        target, index = node.expressions
        position = index.copy()
        if isinstance(index, exp.Literal) and not index.is_string:
            position = exp.Literal.number(int(index.this) - 1)  # as sqlglot's parser keeps [i]
        return exp.Bracket(this=target.copy(), expressions=[position])
    if name == "list_position" and len(node.expressions) == 2:
        found = _call("array_position", *[e.copy() for e in node.expressions])
        return exp.Nullif(this=found, expression=exp.Literal.number(0))
    if name == "list_count" and len(node.expressions) == 1:
        values = _call("filter", node.expressions[0].copy(), _lambda("x IS NOT NULL", "x"))
        return _call("size", values)
    if name == "list_aggregate" and len(node.expressions) == 2:
        target, how = node.expressions
        if isinstance(how, exp.Literal) and how.this == "bit_or":
            present = _call("filter", target.copy(), _lambda("x IS NOT NULL", "x"))
            folded = _call(
                "aggregate", present.copy(), exp.Cast(this=exp.Literal.number(0),
                                                      to=exp.DataType.build("BIGINT")),
                _lambda("a | x", "a", "x"),
            )
            return exp.If(
                this=exp.EQ(this=_call("size", present), expression=exp.Literal.number(0)),
                true=exp.Null(),
                false=folded,
            )
        raise ValueError(f"no Spark form for {node.sql(dialect='duckdb')}")
    return node


def subscripts_beside_unnest_are_inline(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``generate_subscripts(l, 1) AS i, unnest(l) AS v`` in one SELECT
    are two set-returning functions read side by side: one row per element,
    with its 1-based place. Spark allows one generator per SELECT and has no
    generate_subscripts. The pair becomes one generator, ``inline(transform(l,
    (v, i) -> named_struct('i', i + 1, 'v', v)))``, which gives both columns
    (each other generator in the SELECT is an error, not a guess)."""
    if not isinstance(node, exp.Select):
        return node
    subscripts = [
        e for e in node.expressions
        if isinstance(e, exp.Alias) and _call_name(e.this) == "generate_subscripts"
    ]
    if not subscripts:
        return node
    if len(subscripts) != 1:
        raise ValueError("no Spark form for several generate_subscripts in one SELECT")
    sub = subscripts[0]
    target, dimension = sub.this.expressions
    unnests = [
        e for e in node.expressions
        if isinstance(e, exp.Alias) and isinstance(e.this, exp.Explode) and e.this.this == target
    ]
    if len(unnests) != 1 or dimension != exp.Literal.number(1):
        raise ValueError(f"no Spark form for {sub.sql(dialect='duckdb')} without its unnest")
    values = unnests[0]
    pair = exp.Anonymous(
        this="named_struct",
        expressions=[
            exp.Literal.string(sub.alias), sqlglot.parse_one("rd_i + 1", read="spark"),
            exp.Literal.string(values.alias), exp.column("rd_v"),
        ],
    )
    generator = _call(
        "inline",
        _call("transform", target.copy(),
              exp.Lambda(this=pair, expressions=[exp.to_identifier("rd_v"),
                                                 exp.to_identifier("rd_i")])),
    )
    new = node.copy()
    kept = [e for e in new.expressions if e.alias_or_name not in (sub.alias, values.alias)]
    new.set("expressions", [*kept, generator])
    return new


def cte_hint_is_dropped(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``WITH t AS MATERIALIZED (...)`` asks it to compute the CTE once;
    sqlglot keeps the word, which Spark cannot parse. The hint goes (Spark
    decides on its own whether to reuse a CTE's result; the result is the same)."""
    if isinstance(node, exp.CTE) and node.args.get("materialized") is not None:
        new = node.copy()
        new.set("materialized", None)
        return new
    return node


# DuckDB functions that Spark has under another name, with the same meaning.
_RENAMED = {"error": "raise_error"}


def renamed_functions(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB functions Spark knows under another name, meaning the same
    (sqlglot keeps DuckDB's): ``error(msg)`` (stop the query with ``msg``) is
    Spark's ``raise_error(msg)``."""
    name = _call_name(node)
    if name in _RENAMED:
        return _call(_RENAMED[name], *[e.copy() for e in node.expressions])
    return node


def microseconds_are_an_interval(node: exp.Expr, ctx: Context) -> exp.Expr:
    """DuckDB's ``to_microseconds(n)`` is an interval of n microseconds; Spark has
    no such function. It becomes ``make_dt_interval(0, 0, 0, seconds)`` with the
    seconds as an exact DECIMAL(18, 6) (every microsecond count an AD
    FILETIME can hold: rd_instant)."""
    if _call_name(node) != "to_microseconds" or len(node.expressions) != 1:
        return node
    micros = exp.Cast(this=node.expressions[0].copy(), to=exp.DataType.build("DECIMAL(20, 0)"))
    seconds = exp.Cast(
        this=exp.Div(this=micros, expression=exp.Literal.number(1000000)),
        to=exp.DataType.build("DECIMAL(18, 6)"),
    )
    zero = exp.Literal.number(0)
    return _call("make_dt_interval", zero, zero.copy(), zero.copy(), seconds)


REWRITES: tuple[Rewrite, ...] = (
    regex_full_match_is_anchored,
    regex_replace_as_re2,
    fold_per_code_point,
    strlen_is_bytes,
    text_element_is_substring,
    nfc_is_a_udf,
    trim_strips_unicode_spaces,
    regex_vertical_tab,
    regex_end_is_end,
    hugeint_is_decimal,
    list_functions_as_spark,
    list_slice_is_inclusive,
    list_index_is_one_based,
    list_length_is_size,
    hash_is_64_bit,
    microseconds_are_an_interval,
    renamed_functions,
    subscripts_beside_unnest_are_inline,
    cte_hint_is_dropped,
    list_aggregate_keeps_nulls_and_order,
)


def translate(tree: exp.Expr, ctx: Context, rewrites: Collection[Rewrite] = REWRITES) -> exp.Expr:
    """``tree`` (DuckDB's) with every rewrite of ``rewrites`` applied, in order,
    each over the whole tree. A rewrite sees a node after its children (so a
    node it copies into its result, a list index inside a list index, is
    already rewritten), and still under its parent (``node.parent``)."""
    tree = tree.copy()
    for rewrite in rewrites:
        tree = _post_order(tree, lambda node, r=rewrite: r(node, ctx))
    return tree


def _post_order(node: exp.Expr, fn: Callable[[exp.Expr], exp.Expr]) -> exp.Expr:
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expr):
            node.set(key, _post_order(value, fn))
        elif isinstance(value, list):
            node.set(
                key, [_post_order(v, fn) if isinstance(v, exp.Expr) else v for v in value]
            )
    return fn(node)


def to_spark(sql: str, text_names: Collection[str] = ()) -> str:
    """One DuckDB statement or expression as Spark SQL (sqlglot, then :data:`REWRITES`).
    ``text_names``: column names known to hold text."""
    tree = sqlglot.parse_one(sql, read="duckdb")
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
    for statement in sqlglot.parse(text, read="duckdb"):
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


def register_udfs(session: Any) -> None:
    """Register the Python UDFs the rewrites call (``rd_nfc_udf``) on a
    SparkSession (typed Any: recondiff does not import pyspark for this)."""
    session.udf.register(NFC_UDF, nfc, "string")
