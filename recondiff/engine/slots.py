"""The few SQL fragments that cannot be bound parameters.

Column names and the per-attribute normalisation list depend on the snapshot
and the config, so they are written into the ``{{slot}}`` markers of the query
files. Everything emitted here is one of:

* a double-quoted identifier of a column that exists in the snapshot schema;
* a call of an ``rd_*`` macro from ``queries/macros/kinds.sql`` (a fixed whitelist);
* a ``scope`` or ``*_sql`` expression from the config (a derived
  ``[[attribute]]`` side is one, :class:`Expression`), which is SQL by design:
  load_config accepts only one plain expression (no ';', subquery, table
  function, ...; :mod:`recondiff.engine.confine`), it is always written inside
  ``( )``, and every query runs on a connection confined to the run's files.

No value from the config or the data is ever spliced in: values are bound.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from recondiff.config.model import AttributeMapping
from recondiff.vocabulary import SET_KINDS

# The macro that normalises one element of each kind (queries/macros/kinds.sql).
ELEMENT_MACRO = {
    "exact": "rd_exact",
    "casefold": "rd_casefold",
    "trim": "rd_trim",
    "casefold_trim": "rd_casefold_trim",
    "dn": "rd_dn_final",
    "integer": "rd_integer",
    "boolean": "rd_boolean",
    "date": "rd_date",
    "timestamp": "rd_timestamp",
    "uac_flags": "rd_uac_flags",
    "set": "rd_exact",
    "casefold_set": "rd_casefold_trim",
    "dn_set": "rd_dn_final",
}
SET_MACRO = {"set": "rd_set", "casefold_set": "rd_casefold_set", "dn_set": "rd_dn_set"}


def norm_of(value: str, kind: str, kinds: Iterable[str]) -> str:
    """``rd_norm(value, kind)`` (queries/macros/kinds.sql) spelled for the
    compare kinds a config uses, ``kinds``: one branch per macro. rd_norm names all
    thirteen, and DuckDB plans every branch wherever it appears (~0.2 s a
    query, whatever its rows: rd_uac_flags and the DN macros are large), which
    was most of a small run's time. A ``kind`` outside ``kinds`` is a bug
    (the caller's list is the config's): it fails loudly, never as a NULL.
    ``value`` and ``kind`` are SQL of the query; ``kinds`` are checked names."""
    wanted = set(kinds)
    by_macro: dict[str, list[str]] = {}  # dn and dn_set share rd_dn_final: planned once
    for k in ELEMENT_MACRO:
        if k in wanted:
            by_macro.setdefault(ELEMENT_MACRO[k], []).append(f"'{k}'")
    whens = "".join(
        f" WHEN {kind} IN ({', '.join(names)}) THEN {macro}({value})"
        for macro, names in by_macro.items()
    )
    return (
        f"(CASE{whens} WHEN {kind} IS NULL THEN NULL ELSE CAST(error("
        f"'a compare kind this config does not use: ' || {kind}) AS VARCHAR) END)"
    )


def kinds_of(attributes: Iterable[AttributeMapping]) -> list[str]:
    """The compare kinds of a config's [[attribute]] mappings, for :func:`norm_of`."""
    return sorted({a.compare for a in attributes})


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Column:
    """A column of a snapshot, as its schema says (``type``: DuckDB's name of
    its type, such as ``VARCHAR`` or ``VARCHAR[]``)."""

    name: str
    type: str

    @property
    def is_list(self) -> bool:
        return self.type.endswith("[]")

    @property
    def ident(self) -> str:
        return quote_ident(self.name)

    def text(self) -> str:
        """The column as one VARCHAR (a list's values joined with ';')."""
        if self.is_list:
            return f"array_to_string(CAST({self.ident} AS VARCHAR[]), ';')"
        if self.type == "VARCHAR":
            return self.ident
        return f"CAST({self.ident} AS VARCHAR)"

    def values(self) -> str:
        """The column as a VARCHAR[] (a single value becomes a one-element list)."""
        if self.is_list:
            return f"CAST({self.ident} AS VARCHAR[])"
        return f"[{self.text()}]"

    def clean_values(self) -> str:
        """:meth:`values` without blanks and repeats (queries/macros/events.sql, rd_clean)."""
        if self.is_list:
            return f"rd_clean({self.values()})"
        return f"rd_clean_one({self.text()})"

    def first(self) -> str:
        """The column's first value (keys: a multi-valued key uses its first value)."""
        if self.is_list:
            return f"CAST({self.ident} AS VARCHAR[])[1]"
        return self.text()


@dataclass(frozen=True)
class Expression(Column):
    """A config SQL expression in a column's place: a derived ``[[attribute]]`` side
    (``endpoint_sql``, ``repository_sql``; docs/config.md, "Derived values").
    ``name`` is the attribute's name, ``type`` the expression's type as DuckDB binds
    it on the snapshot, ``sql`` the expression, checked like ``scope``
    (recondiff/engine/fills.py). Every :class:`Column` method reads it through
    :attr:`ident`, always inside ``( )``."""

    sql: str = ""

    @property
    def ident(self) -> str:
        return f"({self.sql})"


def normalised(column: Column, kind: str) -> str:
    """The column normalised by a compare kind: VARCHAR, or VARCHAR[] for set kinds."""
    if kind in SET_KINDS:
        return f"{SET_MACRO[kind]}({column.values()})"
    return f"{ELEMENT_MACRO[kind]}({column.text()})"


# Kinds whose normalisation costs more than reading the value (DN parsing, list
# lambdas). The staging hash takes their raw value instead: equal raw values
# normalise equally, and a pair whose raw values differ is settled exactly by
# queries/drift/differences.sql (the cost: benchmarks/NOTES.md, "Costly kinds").
COSTLY_KINDS = frozenset({"dn", "set", "casefold_set", "dn_set"})


# Text kinds whose normalisation the staging hash skips too (folding, NFC and
# stripping 2M values cost the stage phase about 1 s of CPU at 1M, more than
# reading them; benchmarks/NOTES.md, "Issue 19: stage and drift"). The hash
# takes a spelling of the value that may only ever be equal for two values whose
# normal forms are equal, never the other way round: a pair whose spellings
# differ but normalise alike is settled exactly by queries/drift/differences.sql.
# Padding and whitespace-only values are settled in the hash itself, cheaply
# (trim() only where the first or last character is not printable ASCII): an
# export that pads every value, or writes ' ' for none, would otherwise send
# every pair to drift (at 1M, a padded first_name: drift 1.9 -> 71.5 s).
STRIPPED_TEXT_KINDS = frozenset({"trim", "casefold_trim"})
FOLDED_TEXT_KINDS = frozenset({"casefold", "casefold_trim"})
TEXT_KINDS = frozenset({"exact", "trim", "casefold", "casefold_trim"})
ISO_DATE = "[12][0-9]{3}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"


def hashed(column: Column, kind: str) -> str:
    """What the staging hash takes of a column: its raw value for the costly kinds,
    a cheap spelling of the value for the text kinds (:func:`_text_hashed`), the
    normal form for the others (dates, numbers, flags: two sources spell them
    differently as a rule)."""
    if kind in COSTLY_KINDS:
        return column.values() if kind in SET_KINDS else column.text()
    if kind in TEXT_KINDS:
        return _text_hashed(column.text(), kind)
    if kind == "date":
        # an ISO date of the years 1000-2999 is its own normal form (rd_date
        # gives it back whether or not the day exists): no parsing for it
        text = column.text()
        iso = f"regexp_full_match({text}, '{ISO_DATE}')"
        return f"CASE WHEN {iso} THEN {text} ELSE rd_date({text}) END"
    return normalised(column, kind)


def _text_hashed(text: str, kind: str) -> str:
    """A text kind's hash input: the value with what trim() strips stripped
    (trim and casefold_trim kinds), NULL for a value trim() leaves empty, and an
    ASCII value lower-cased for the case-folding kinds.

    Safe because each kind's normal form is a function of this input alone, so
    equal inputs mean equal normal forms: trim() strips spaces and Unicode
    space separators, a subset of what rd_strip strips, so rd_strip(v) is
    rd_strip(trim(v)); a value trim() leaves empty is blank (rd_blank), no value
    for every text kind; lower() of an ASCII value changes only ASCII case,
    which rd_fold folds. (A non-ASCII value is not lower-cased: lower() maps
    some non-ASCII letters to ASCII ones that NFC and folding do not, such as
    "I" + U+0307.) Whitespace that trim() leaves (a tab, a line break) and
    non-ASCII case go to drift, rare in exports."""
    # the common case: nothing to strip, not blank. right(v, 1), the last
    # character, means the same on Spark (array_extract, DuckDB's other spelling,
    # is a list's element there: engine/spark_sql.py)
    printable = f"ascii({text}) BETWEEN 33 AND 126 AND ascii(right({text}, 1)) BETWEEN 33 AND 126"
    padded = f"trim({text})" if kind in STRIPPED_TEXT_KINDS else text
    if kind in FOLDED_TEXT_KINDS:
        as_is = _lower_ascii(text)
        padded = _lower_ascii(padded)  # ASCII once stripped (a value padded with NBSP)
    else:
        as_is = text
    return (
        f"CASE WHEN {printable} THEN {as_is} WHEN trim({text}) = '' THEN NULL "
        f"ELSE {padded} END"
    )


def _lower_ascii(text: str) -> str:
    return f"CASE WHEN strlen({text}) = length({text}) THEN lower({text}) ELSE {text} END"


def correlation_values(column: Column, kind: str) -> str:
    """The column's values, each normalised by the kind, as a VARCHAR[]."""
    if column.is_list:
        return element_values(column.values(), kind)
    return f"[{ELEMENT_MACRO[kind]}({column.text()})]"


def element_values(values_sql: str, kind: str) -> str:
    """A VARCHAR[] expression with each element normalised (for correlation)."""
    return f"list_transform({values_sql}, lambda x: {ELEMENT_MACRO[kind]}(x))"


def hash_of(expressions: list[str]) -> str:
    """One hash over several values, each hashed on its own first: DuckDB's
    hash(l1, l2) of adjacent lists equals that of the lists joined differently
    (hash(['b','a'], NULL) = hash(['b'], ['a'])), which would let a value move
    between two set attributes unseen."""
    if not expressions:
        return "CAST(0 AS UBIGINT)"
    return "hash(" + ", ".join(f"hash({e})" for e in expressions) + ")"


def list_of(expressions: list[str], element_type: str) -> str:
    if not expressions:
        return f"CAST([] AS {element_type}[])"
    return "[" + ", ".join(expressions) + "]"


def null_or(expression: str | None) -> str:
    return expression if expression is not None else "CAST(NULL AS VARCHAR)"
