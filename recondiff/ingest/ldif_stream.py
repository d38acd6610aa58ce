"""LDIF read in chunks of whole records, each parsed column-wise by Arrow.

A line-by-line Python parser (recondiff.ingest.ldif) reads about 40,000
entries a second; a bare Python loop over the lines of the benchmark's LDIF
(25 lines an entry) manages about 240,000. This reader therefore hands Python
no line at all in the usual case: it cuts the file into chunks that end at a
blank line (so each holds whole records), unfolds and splits a chunk with bytes
and Arrow string kernels, and builds its columns with Arrow's filters. Python
sees only the distinct attribute names of a chunk and its ``attr::`` (base64)
values.

:mod:`recondiff.ingest.ldif` stays the reference: a chunk holding anything this
reader does not handle itself (a bad line, a NUL, bytes that are not UTF-8, a
control, a change record, a continuation after a blank line, an AD extended
DN's ``<``) is parsed again by it, with its line numbers, so every error is the
one-line error that reader gives, and every accepted file reads the same.
"""

from __future__ import annotations

import binascii
import codecs
import io
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from recondiff.errors import InputError
from recondiff.ingest.columns import STRING, STRING_LIST, Columns
from recondiff.ingest.ldif import (
    _ATTRIBUTE_NAME,
    LdifRecord,
    decode_base64_value,
    parse_ldif,
    plain_dn,
    read_ldif,
    unfold_bytes,
)

CHUNK_BYTES = 8 << 20
"""The bytes read at a time; a chunk is cut after its last blank line."""

_RECORDS_PER_TABLE = 20_000
"""Records per table when the reference parser reads a whole file (UTF-16)."""


def ldif_tables(path: Path, chunk_bytes: int = CHUNK_BYTES) -> Iterator[pa.Table]:
    """The LDIF file at ``path`` as tables of whole records, ``dn`` first, then
    the attributes in order of appearance: ``string`` columns, or
    ``list<string>`` where a record of the table has several values (empty
    values kept: recondiff.ingest.spool drops them). Reads ``chunk_bytes`` at
    a time."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    with handle:
        start = handle.read(4)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            yield from _reference_tables(read_ldif(path))
            return
        handle.seek(len(codecs.BOM_UTF8) if start.startswith(codecs.BOM_UTF8) else 0)
        line, seen = 1, False
        for chunk in _chunks(handle, chunk_bytes):
            table = _fast_table(chunk, first=not seen)
            if table is None:
                table = _reference_table(path, chunk, line, seen)
            seen = seen or _has_content(chunk)
            line += chunk.count(b"\n")
            if table.num_rows:
                yield table


def _chunks(handle: io.BufferedReader | io.BufferedIOBase, size: int) -> Iterator[bytes]:
    """The file's bytes in pieces that end just after a blank line (or at the end)."""
    pending = b""
    while True:
        block = handle.read(size)
        if not block:
            if pending:
                yield pending
            return
        pending += block
        cut = max(pending.rfind(b"\n\n") + 2, pending.rfind(b"\n\r\n") + 3)
        if cut >= 3:  # rfind found one (-1 + 2 or + 3 is not a cut)
            yield pending[:cut]
            pending = pending[cut:]


def _has_content(chunk: bytes) -> bool:
    """Whether the chunk holds a line that is neither blank, a comment, nor a
    continuation: after it, a ``version:`` line is no longer the file's first."""
    return any(line[:1] not in (b"", b"#", b" ", b"\r") for line in chunk.split(b"\n"))


def _reference_table(path: Path, chunk: bytes, line: int, seen: bool) -> pa.Table:
    """The chunk parsed by the reference parser, its lines numbered from ``line``."""
    lines = unfold_bytes(path, enumerate(io.BytesIO(chunk), start=line))
    records = parse_ldif(lines, str(path), seen_anything=seen)
    return next(_reference_tables(records, None), pa.table({}))


def _reference_tables(
    records: Iterator[LdifRecord], per_table: int | None = _RECORDS_PER_TABLE
) -> Iterator[pa.Table]:
    """Records as tables of ``per_table`` records (None: one table)."""
    columns = Columns()
    dn_key = columns.column("dn")
    for record in records:
        columns.put(dn_key, [record.dn])
        for attr, values in record.attributes.items():
            key = columns.column(attr)
            if len(values) > 1:
                columns.is_list[key] = True
            columns.put(key, values)
        columns.rows += 1
        if per_table is not None and columns.rows >= per_table:
            yield columns.table(set(), _raw_array)
            columns = Columns()
            dn_key = columns.column("dn")
    if columns.rows:
        yield columns.table(set(), _raw_array)


def _raw_array(values: list[list[str] | None], as_list: bool) -> pa.Array:
    """One column as read: every value (empty ones too: the spool drops them), or the first."""
    if as_list:
        return pa.array(values, STRING_LIST)
    return pa.array([None if v is None else v[0] for v in values], STRING)


class _Unhandled(Exception):
    """The chunk holds something the Arrow path leaves to the reference parser."""


def _fast_table(chunk: bytes, first: bool) -> pa.Table | None:
    """The chunk's records parsed column-wise, or None to leave it to the
    reference parser. ``first``: no record came before (a ``version:`` line may)."""
    try:
        return _parse_chunk(chunk, first)
    except _Unhandled:
        return None


def _parse_chunk(chunk: bytes, first: bool) -> pa.Table:
    lines = _lines(chunk)
    content, after_blank = _content_lines(lines)
    if len(content) == 0:
        return pa.table({})
    parts = pc.split_pattern(content, ":", max_splits=1)
    if pc.min(pc.list_value_length(parts)).as_py() < 2:
        raise _Unhandled  # a line without a colon
    rest = pc.list_element(parts, 1)
    if pc.any(pc.starts_with(rest, "<")).as_py():
        raise _Unhandled  # a URL value (or an extended DN after the colon)
    names = pc.dictionary_encode(pc.list_element(parts, 0))
    plan = _NamePlan(names.dictionary.to_pylist())
    codes = pc.take(pa.array(plan.codes, pa.int32()), names.indices)
    keep = _keep_lines(codes, rest, after_blank, first)
    if keep is not None:
        codes, rest, indices = codes.filter(keep), rest.filter(keep), names.indices.filter(keep)
    else:
        indices = names.indices
    values = _values(rest, indices, plan)
    return _pivot(codes, values, plan)


def _lines(chunk: bytes) -> pa.Array:
    """The chunk's lines, unfolded, CRLF as LF, comments out; UTF-8 checked."""
    if chunk[:1] == b" " or b"\x00" in chunk:
        raise _Unhandled  # a continuation of nothing; a NUL
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n")
    if b"\n\n " in chunk:
        raise _Unhandled  # a continuation right after a blank line
    chunk = chunk.replace(b"\n ", b"")
    try:
        text = pa.array([chunk], pa.binary()).cast(STRING)
    except pa.ArrowInvalid:
        raise _Unhandled from None  # not UTF-8
    lines = pc.list_flatten(pc.split_pattern(text, "\n"))
    return lines.filter(pc.invert(pc.starts_with(lines, "#")))


def _content_lines(lines: pa.Array) -> tuple[pa.Array, pa.Array]:
    """The non-blank lines, and for each whether a blank line (or the chunk's
    start) comes just before it."""
    blank = pc.equal(lines, "")
    previous = pa.concat_arrays([pa.array([True]), blank.slice(0, len(blank) - 1)])
    content = pc.invert(blank)
    return lines.filter(content), previous.filter(content)


_DN, _CHANGETYPE, _VERSION = -1, -2, -3


class _NamePlan:
    """What each distinct attribute spelling of a chunk is: the DN, a
    ``changetype``, a ``version``, or a column (``;binary`` dropped from its name)."""

    def __init__(self, spellings: list[str]) -> None:
        self.columns: list[str] = ["dn"]  # first spelling of each column
        self.binary: list[bool] = []
        self.codes: list[int] = []
        keys: dict[str, int] = {"dn": 0}
        for spelling in spellings:
            if not _ATTRIBUTE_NAME.fullmatch(spelling):
                raise _Unhandled
            key = spelling.lower()
            base, *options = spelling.split(";")
            kept = [option for option in options if option.lower() != "binary"]
            self.binary.append(len(kept) != len(options))
            if key in ("dn", "changetype", "version"):
                self.codes.append({"dn": _DN, "changetype": _CHANGETYPE, "version": _VERSION}[key])
                continue
            name = ";".join([base, *kept])
            if key == "control" or name.lower() == "dn":
                raise _Unhandled  # a control; an attribute the DN column would take
            if name.lower() not in keys:
                keys[name.lower()] = len(self.columns)
                self.columns.append(name)
            self.codes.append(keys[name.lower()])


def _keep_lines(
    codes: pa.Array, rest: pa.Array, after_blank: pa.Array, first: bool
) -> pa.Array | None:
    """Check the record structure; return which lines hold values (None: all).

    Every record starts with ``dn:``; a ``version: 1`` line may open the file;
    a ``changetype: add`` right after the DN is dropped (``ldifde``), any other
    is a change record, left to the reference parser to refuse. A ``version``
    or ``changetype`` line elsewhere in a record (an attribute of that name) is
    left to it too.
    """
    is_dn = pc.equal(codes, _DN)
    drop = None
    if first and codes[0].as_py() == _VERSION:
        if rest[0].as_py().lstrip(" ").strip() != "1":
            raise _Unhandled  # another version, or one in base64
        drop = pa.array([True] + [False] * (len(codes) - 1), pa.bool_())
        if len(codes) > 1 and not is_dn[1].as_py():
            raise _Unhandled  # version: 1 then a record without its dn:
        after_blank = pc.and_(after_blank, pc.invert(drop))
    if pc.any(pc.and_(after_blank, pc.invert(is_dn))).as_py():
        raise _Unhandled  # a record that does not start with dn:
    if pc.any(pc.equal(codes, _CHANGETYPE)).as_py():
        drop = _changetype_add(codes, rest, is_dn, drop)
    if drop is None:
        if pc.any(pc.less(codes, _DN)).as_py():
            raise _Unhandled
        return None
    keep = pc.invert(drop)
    if pc.any(pc.less(codes.filter(keep), _DN)).as_py():
        raise _Unhandled
    return keep


def _changetype_add(
    codes: pa.Array, rest: pa.Array, is_dn: pa.Array, drop: pa.Array | None
) -> pa.Array:
    """Mark each ``changetype: add`` right after a DN to drop; any other change
    type there is left to the reference parser."""
    after_dn = pa.concat_arrays([pa.array([False]), is_dn.slice(0, len(is_dn) - 1)])
    changetype = pc.and_(pc.equal(codes, _CHANGETYPE), after_dn)
    kinds = rest.filter(changetype).to_pylist()
    if any(kind.startswith(":") or kind.strip(" ").strip().lower() != "add" for kind in kinds):
        raise _Unhandled
    return changetype if drop is None else pc.or_(drop, changetype)


def _values(rest: pa.Array, indices: pa.Array, plan: _NamePlan) -> pa.Array:
    """Each line's value: leading spaces dropped, ``::`` base64 decoded (text
    only; binary stays base64), an AD extended DN's prefix dropped."""
    values = pc.utf8_ltrim(rest, " ")
    encoded = pc.starts_with(rest, ":")
    if pc.any(encoded).as_py():
        which = indices.filter(encoded).to_pylist()
        decoded = [
            _decode(text, plan.binary[at], plan.codes[at] == _DN)
            for text, at in zip(rest.filter(encoded).to_pylist(), which, strict=True)
        ]
        values = pc.replace_with_mask(values, encoded, pa.array(decoded, STRING))
    extended = pc.starts_with(values, "<")
    if pc.any(extended).as_py():
        plain = [plain_dn(value) for value in values.filter(extended).to_pylist()]
        values = pc.replace_with_mask(values, extended, pa.array(plain, STRING))
    return values


def _decode(rest: str, binary: bool, dn: bool) -> str:
    """An ``attr::`` value: its text, or (binary) its base64 as written."""
    encoded = rest[1:].strip(" ")
    try:
        text = decode_base64_value(encoded)
    except (binascii.Error, ValueError):
        raise _Unhandled from None
    if text is None:
        if dn:
            raise _Unhandled  # a DN must be text
        return encoded
    return encoded if binary else text


def _pivot(codes: pa.Array, values: pa.Array, plan: _NamePlan) -> pa.Table:
    """One row per DN line, one column per attribute: the values of each line
    go to the record of the last DN line before it."""
    is_dn = pc.equal(codes, _DN)
    record = pc.subtract(pc.cumulative_sum(is_dn.cast(pa.int32())), 1)
    records = pc.sum(is_dn).as_py()
    ids = record.filter(is_dn)
    columns = [values.filter(is_dn)]
    for number in range(1, len(plan.columns)):
        mine = pc.equal(codes, number)
        columns.append(_column(record.filter(mine), values.filter(mine), ids, records))
    return pa.table(columns, names=plan.columns)


def _column(owners: pa.Array, values: pa.Array, ids: pa.Array, records: int) -> pa.Array:
    """One attribute's column from its values and the record of each (ascending)."""
    runs = pc.run_end_encode(owners)
    at = pc.index_in(ids, value_set=runs.values)
    if len(runs.values) == len(owners):
        return values.take(at)
    ends = pc.fill_null(pc.fill_null_forward(runs.run_ends.take(at)), 0)
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), ends.cast(pa.int32())])
    return pa.ListArray.from_arrays(offsets, values, mask=pc.is_null(at))
