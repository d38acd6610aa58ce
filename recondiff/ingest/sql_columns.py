"""The columns of a query's result as a snapshot has them: ``string`` or
``list<string>``, as ``recondiff ingest`` makes them (docs/explore.md, "An
identity database", The columns).

Arrays become lists (NULL elements dropped); numbers, booleans, dates and
times text in one form: timestamps ISO 8601 (``2024-01-02T02:04:05.12Z``, UTC
with a ``Z`` for ``timestamptz``), ``true``/``false``, canonical uuids,
``infinity``/``-infinity``, ``NaN``/``Infinity``/``-Infinity`` as PostgreSQL
writes them, times up to ``24:00:00``. Any other type (and ``money``, which the
driver gives in cents), and a date or timestamp after the year 32767 (the last
Arrow writes), is one InputError line naming the column and the cast that fixes it.
"""

from __future__ import annotations

import uuid

import pyarrow as pa
import pyarrow.compute as pc

from recondiff.errors import InputError
from recondiff.ingest.columns import (
    STRING,
    STRING_LIST,
    is_list,
    is_string,
    is_text_scalar,
    multi_valued,
)
from recondiff.ingest.snapshot import ReadOptions
from recondiff.ingest.sql_statement import WHERE

_TEXT_EXTENSIONS = ("arrow.json", "arrow.opaque")  # text the driver already made (json, numeric)


def snapshot_schema(schema: pa.Schema, source: str, options: ReadOptions) -> pa.Schema:
    """The snapshot's columns for a query's result: each ``string`` or
    ``list<string>`` (:func:`target_type`), names unique case-insensitively."""
    if len(schema) == 0:
        raise InputError(f"{source}: the query returns no columns ({WHERE})")
    seen: dict[str, str] = {}
    for name in schema.names:
        other = seen.get(name.lower())
        seen[name.lower()] = name
        if other is not None:
            pair = f'"{name}" twice' if other == name else f'"{other}" and "{name}"'
            raise InputError(
                f"{source}: the query returns the column {pair} (column names are "
                f"case-insensitive); give one of them another name with AS ({WHERE})"
            )
    multi = multi_valued(options)
    return pa.schema(
        pa.field(f.name, STRING_LIST if f.name.lower() in multi else target_type(f, source))
        for f in schema
    )


def target_type(field: pa.Field, source: str = "") -> pa.DataType:
    """``list<string>`` for an array column, ``string`` for one whose values
    become text; InputError for any other (bytea, interval, inet, nested arrays...)."""
    kind = field.type
    if _pg_type(field) in _REFUSED:
        raise _unsupported(source, field)
    if is_list(kind):
        if _scalar_ok(kind.value_type):
            return STRING_LIST
    elif _scalar_ok(kind):
        return STRING
    raise _unsupported(source, field)


def _scalar_ok(kind: pa.DataType) -> bool:
    if isinstance(kind, pa.BaseExtensionType):
        name = kind.extension_name
        if name == "arrow.uuid":
            return True
        return name in _TEXT_EXTENSIONS and is_string(kind.storage_type)
    if pa.types.is_dictionary(kind):
        return _scalar_ok(kind.value_type)
    return is_text_scalar(kind)


_REFUSED = {"money": "numeric", "_money": "numeric[]"}
"""Types the driver gives in a form that is not their value (money: an integer
of cents, whatever the locale's digits), and the cast that fixes them."""


def _pg_type(field: pa.Field) -> str:
    meta = field.metadata or {}
    return str(meta.get(b"POSTGRESQL:type", b"").decode("utf-8", "replace"))


def _unsupported(source: str, field: pa.Field) -> InputError:
    pg_type = _pg_type(field) or str(field.type)
    at = f"{source}: " if source else ""
    if pg_type == "bytea":
        fix = f"encode(\"{field.name}\", 'base64')"
    else:
        fix = f'"{field.name}"::{_REFUSED.get(pg_type, "text")}'
    pg_type = {"_money": "money[]"}.get(pg_type, pg_type)
    return InputError(
        f'{at}the column "{field.name}" has type {pg_type}, which recondiff cannot turn into '
        f"text; convert it in the query, e.g. {fix} AS \"{field.name}\" ({WHERE})"
    )


def column_text(source: str, field: pa.Field, array: pa.Array, wrap: bool = False) -> pa.Array:
    """One column of a batch as ``string`` or ``list<string>``."""
    if is_list(array.type):
        return _list_text(source, field, array)
    text = _scalar_text(source, field, array)
    return _wrap_in_lists(text) if wrap else text


def _scalar_text(source: str, field: pa.Field, array: pa.Array) -> pa.Array:
    """Scalars as text: timestamps ``YYYY-MM-DDTHH:MM:SS[.ffffff]`` (fraction
    without trailing zeros; ``Z`` and UTC for ``timestamptz``), times alike,
    booleans ``true``/``false``, uuids in their canonical form, numbers as
    PostgreSQL writes them."""
    kind = array.type
    if isinstance(kind, pa.BaseExtensionType):
        if kind.extension_name == "arrow.uuid":
            return pa.array(
                [None if b is None else str(uuid.UUID(bytes=b)) for b in
                 array.storage.to_pylist()], STRING,
            )  # fmt: skip
        return _numeric_words(array.storage.cast(STRING))
    if pa.types.is_dictionary(kind):
        return _scalar_text(source, field, array.dictionary_decode())
    if pa.types.is_timestamp(kind) or pa.types.is_time(kind) or pa.types.is_date(kind):
        _check_range(source, field, array)
        if pa.types.is_date32(kind):
            return _infinities(array, array.cast(STRING), _DATE_INFINITY)
        return _time_text(array)
    if not _scalar_ok(kind):
        raise _unsupported(source, field)
    if pa.types.is_floating(kind):
        return _float_text(array)
    return array.cast(STRING)


_NUMERIC_WORDS = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _numeric_words(text: pa.Array) -> pa.Array:
    """numeric's NaN and infinities as PostgreSQL writes them (the driver: nan, inf)."""
    for word, pg_word in _NUMERIC_WORDS.items():
        hit = pc.equal(text, word)
        if pc.any(hit).as_py():
            text = pc.if_else(hit, pg_word, text)
    return text


def _float_text(array: pa.Array) -> pa.Array:
    """Floats as text, NaN and infinities as PostgreSQL writes them."""
    text = array.cast(STRING)
    for hit, word in (
        (pc.is_nan(array), "NaN"),
        (pc.and_(pc.is_inf(array), pc.greater(array, 0)), "Infinity"),
        (pc.and_(pc.is_inf(array), pc.less(array, 0)), "-Infinity"),
    ):
        if pc.any(hit).as_py():
            text = pc.if_else(hit, word, text)
    return text


_LAST_DAY = 11_248_737  # 32767-12-31 in days from 1970-01-01: the last Arrow writes
_PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def _check_range(source: str, field: pa.Field, array: pa.Array) -> None:
    """InputError for a date or timestamp after 32767-12-31 (PostgreSQL holds
    them; Arrow cannot write them and would write garbage)."""
    kind = array.type
    if pa.types.is_time(kind):
        return
    sentinels: tuple[tuple[int, ...], ...]
    if pa.types.is_date32(kind):
        raw, last, sentinels = array.cast(pa.int32()), _LAST_DAY, _DATE_INFINITY
    elif pa.types.is_timestamp(kind):
        per_day = 86_400 * _PER_SECOND[kind.unit]
        raw, last = array.cast(pa.int64()), (_LAST_DAY + 1) * per_day - 1
        sentinels = _TIMESTAMP_INFINITY.get(kind.unit, ((), ()))
    else:
        return  # date64: the driver gives date32
    known = [v for pair in sentinels for v in pair]
    beyond = pc.and_(pc.greater(raw, last), pc.invert(pc.is_in(raw, pa.array(known, raw.type))))
    if pc.any(beyond).as_py():
        at = f"{source}: " if source else ""
        what = _pg_type(field).removeprefix("_") or kind
        raise InputError(
            f'{at}the column "{field.name}" holds a {what} after the year '
            f'32767, which recondiff cannot write; convert it in the query, e.g. '
            f'"{field.name}"::text AS "{field.name}" ({WHERE})'
        )


# PostgreSQL's infinity and -infinity are its largest and smallest values; the
# driver moves them from PostgreSQL's epoch (2000) to Unix's (1970) with a
# wrapping addition, so they arrive as these (exact values, tests/test_sql_read.py),
# far before any time PostgreSQL holds (4713 BC). A driver that keeps them at the
# extremes is covered too.
_INT64, _INT32 = (1 << 63), (1 << 31)
_TIMESTAMP_INFINITY = {"us": ((-_INT64 + 946_684_800_000_000 - 1, _INT64 - 1),
                              (-_INT64 + 946_684_800_000_000, -_INT64))}  # fmt: skip
_DATE_INFINITY = ((-_INT32 + 10_957 - 1, _INT32 - 1), (-_INT32 + 10_957, -_INT32))


def _infinities(
    values: pa.Array, text: pa.Array, sentinels: tuple[tuple[int, ...], ...]
) -> pa.Array:
    """``text`` with ``infinity`` / ``-infinity`` where ``values`` (as integers) is one."""
    raw = values.cast(pa.int64() if pa.types.is_timestamp(values.type) else pa.int32())
    for word, found in zip(("infinity", "-infinity"), sentinels, strict=True):
        hit = pc.is_in(raw, value_set=pa.array(found, raw.type))
        if pc.any(hit).as_py():
            text = pc.if_else(hit, word, text)
    return text


def _time_text(array: pa.Array) -> pa.Array:
    kind = array.type
    if pa.types.is_timestamp(kind) and kind.unit in _TIMESTAMP_INFINITY:
        return _infinities(array, _timestamp_text(array), _TIMESTAMP_INFINITY[kind.unit])
    if pa.types.is_time(kind):  # PostgreSQL's times run to 24:00:00 inclusive
        midnight = pc.equal(array.cast(pa.int64()), 86_400 * _PER_SECOND[kind.unit])
        if pc.any(midnight).as_py():
            return pc.if_else(midnight, "24:00:00", _timestamp_text(array))
    return _timestamp_text(array)


def _timestamp_text(array: pa.Array) -> pa.Array:
    kind = array.type
    zone = pa.types.is_timestamp(kind) and kind.tz is not None
    if pa.types.is_timestamp(kind):
        # as naive UTC: the same instants, and Arrow writes those 25 times faster
        array = array.cast(pa.timestamp(kind.unit))
        whole = array.cast(pa.timestamp("s"), safe=False)
        if pc.all(pc.equal(whole.cast(array.type), array)).as_py() is not False:
            text = whole.cast(STRING)  # whole seconds (the usual case): no fraction to trim
        else:
            text = _trim_fraction(array.cast(STRING))  # 2024-01-02 03:04:05.120000
        text = pc.replace_substring(text, " ", "T", max_replacements=1)
        return pc.binary_join_element_wise(text, "Z", "") if zone else text
    return _trim_fraction(array.cast(STRING))


def _trim_fraction(text: pa.Array) -> pa.Array:
    """``05.120000`` -> ``05.12``, ``05.000000`` -> ``05``."""
    text = pc.replace_substring_regex(text, r"(\.\d*?)0+$", r"\1")
    return pc.replace_substring_regex(text, r"\.$", "")


def _list_text(source: str, field: pa.Field, piece: pa.Array) -> pa.Array:
    """An array column as list<string>; NULL elements dropped (a directory has none)."""
    if not pa.types.is_list(piece.type):
        piece = piece.cast(pa.list_(piece.type.value_type))
    element = pa.field(field.name, piece.type.value_type, metadata=field.metadata)
    values = _scalar_text(source, element, piece.values)
    offsets = piece.offsets.cast(pa.int32())
    lists = pa.ListArray.from_arrays(offsets, values, mask=piece.is_null())
    if values.null_count == 0:
        return lists
    return pa.array(
        [None if v is None else [x for x in v if x is not None] for v in lists.to_pylist()],
        STRING_LIST,
    )


def _wrap_in_lists(text: pa.Array) -> pa.Array:
    """A text column named multi-valued: one-element lists ("" is an empty list), as ingest."""
    return pa.array(
        [None if v is None else ([v] if v != "" else []) for v in text.to_pylist()], STRING_LIST
    )
