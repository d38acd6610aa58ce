"""LDIF read in chunks of whole records, each parsed column-wise by Arrow.

A line-by-line Python parser (recondiff.ingest.ldif) reads about 40,000
entries a second; a bare Python loop over the lines of the benchmark's LDIF
(25 lines an entry) manages about 240,000. This reader therefore hands Python
no line at all in the usual case: it cuts the file into chunks that end at a
blank line, or before a ``dn:`` line in a file without blank lines (so each
holds whole records), unfolds and splits a chunk with bytes
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
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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

CHUNK_BYTES = 4 << 20
"""The bytes read at a time; a chunk is cut after its last blank line (or before
its last ``dn:`` line). Parsing a chunk holds about 20 times its size (Arrow
arrays of its lines, names, values and columns)."""

THREADS = min(os.cpu_count() or 1, 2)
"""Chunks parsed at once. Peak memory grows with chunks in flight (threads + 1):
about 300 MB in all with two threads and 4 MiB chunks, 535 MB with four threads
and 8 MiB chunks (benchmarks/NOTES.md), hence two, on any machine."""

_RECORDS_PER_TABLE = 20_000
"""Records per table when the reference parser reads a whole file (UTF-16)."""


def ldif_tables(
    path: Path, chunk_bytes: int | None = None, threads: int | None = None
) -> Iterator[pa.Table]:
    """The LDIF file at ``path`` as tables of whole records, ``dn`` first, then
    the attributes in order of appearance: ``string`` columns, or
    ``list<string>`` where a record of the table has several values (empty
    values kept: recondiff.ingest.spool drops them). Reads ``chunk_bytes``
    (:data:`CHUNK_BYTES`) at a time; ``threads`` (:data:`THREADS`) chunks are
    parsed at once (Arrow's kernels run without Python's lock), and yielded in
    file order."""
    chunk_bytes = chunk_bytes or CHUNK_BYTES
    threads = threads or THREADS
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    pool = ThreadPoolExecutor(max(threads, 1), "recondiff-ldif")
    done = False
    try:
        with handle:
            start = handle.read(4)
            if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
                yield from _reference_tables(read_ldif(path))
                return
            handle.seek(len(codecs.BOM_UTF8) if start.startswith(codecs.BOM_UTF8) else 0)
            line, seen = 1, False
            pending: deque[tuple[Future[pa.Table | None], bytes, int, bool]] = deque()
            for chunk in _chunks(handle, chunk_bytes):
                pending.append((pool.submit(_fast_table, chunk, not seen), chunk, line, seen))
                seen = seen or _has_content(chunk)
                line += chunk.count(b"\n")
                if len(pending) > threads:
                    yield from _finished(path, pending.popleft())
            while pending:
                yield from _finished(path, pending.popleft())
        pool.shutdown(wait=True)
        done = True
    finally:
        if not done:
            # left early (an error, a caller that stopped reading, or this
            # generator closed by the garbage collector): never wait for the
            # workers; a collection can run inside threading's own locks, where
            # a join deadlocks (recondiff/plan/file.iter_lines says how)
            pool.shutdown(wait=False, cancel_futures=True)


def _finished(
    path: Path, job: tuple[Future[pa.Table | None], bytes, int, bool]
) -> Iterator[pa.Table]:
    """A chunk's table once parsed; the reference parser's if the Arrow path left it."""
    future, chunk, line, seen = job
    table = future.result()
    if table is None:
        table = _reference_table(path, chunk, line, seen)
    if table.num_rows:
        yield table


def _chunks(handle: io.BufferedReader | io.BufferedIOBase, size: int) -> Iterator[bytes]:
    """The file's bytes in pieces of whole records: each ends just after a blank
    line, or (a file without blank lines between its entries) just before a
    ``dn:`` line; the last at the end of the file."""
    pending = b""
    while True:
        block = handle.read(size)
        if not block:
            if pending:
                yield pending
            return
        cut = _last_cut(block)
        if cut > 0:
            yield pending + block[:cut]
            pending = block[cut:]
            continue
        pending += block  # no cut in the block: a long record
        cut = _last_cut(pending)
        if cut > 0:
            yield pending[:cut]
            pending = pending[cut:]


def _last_cut(data: bytes) -> int:
    """Where the data after its last blank line starts; without one, where its
    last ``dn:`` line starts (0: neither)."""
    return _last_blank(data) or _last_dn(data)


def _last_blank(data: bytes) -> int:
    """Where the data after its last blank line starts (0: no blank line)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\n\r\n", max(lf, 0))
    return crlf + 3 if crlf >= 0 else lf + 2 if lf >= 0 else 0


_DN_LINES = (b"\ndn:", b"\nDN:", b"\nDn:", b"\ndN:")


def _last_dn(data: bytes) -> int:
    """Where the last line of the data that starts with ``dn:`` (any case) starts,
    after another line (0: none). A line after a line break is no continuation,
    so such a line starts a record."""
    return max(data.rfind(line) for line in _DN_LINES) + 1


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
    if len(lines) == 0:
        return pa.table({})
    blank = pc.equal(lines, "")
    parts = pc.split_pattern(lines, ":", max_splits=1)
    lengths = pc.list_value_length(parts)
    if pc.sum(pc.equal(lengths, 1)).as_py() != pc.sum(blank).as_py():
        raise _Unhandled  # a line without a colon
    starts = parts.offsets.slice(0, len(parts))
    attr = parts.values.take(starts)
    if pc.sum(pc.equal(attr, "")).as_py() != pc.sum(blank).as_py():
        raise _Unhandled  # a line without an attribute name (": value")
    after = pc.if_else(blank, pa.scalar(None, pa.int32()), pc.add(starts, 1))
    rest = parts.values.take(after)  # null on blank lines
    if pc.any(pc.starts_with(rest, "<")).as_py():
        raise _Unhandled  # a URL value (or an extended DN after the colon)
    names = pc.dictionary_encode(attr)
    plan = _NamePlan(names.dictionary.to_pylist())
    codes = pc.take(pa.array(plan.codes, pa.int32()), names.indices)
    codes = _check_records(codes, blank, rest, first)
    values = _values(rest, codes, names.indices, plan)
    return _pivot(codes, values, plan)


def _lines(chunk: bytes) -> pa.Array:
    """The chunk's lines, unfolded, CRLF as LF, comments out; UTF-8 checked."""
    if b"\x00" in chunk:
        raise _Unhandled  # a NUL
    if b"\r" in chunk:
        chunk = chunk.replace(b"\r\n", b"\n")
    lines = _split(chunk, pa.binary())
    folded = pc.starts_with(lines, b" ")
    if pc.any(folded).as_py():
        blank = pc.equal(lines, b"")
        previous = pa.concat_arrays([pa.array([True]), blank.slice(0, len(blank) - 1)])
        if pc.any(pc.and_(folded, previous)).as_py():
            raise _Unhandled  # a continuation of nothing, or after a blank line
        lines = _split(chunk.replace(b"\n ", b""), pa.binary())
    try:
        lines = lines.cast(STRING)
    except pa.ArrowInvalid:
        raise _Unhandled from None  # not UTF-8
    comment = pc.starts_with(lines, "#")
    if pc.any(comment).as_py():
        lines = lines.filter(pc.invert(comment))
    return lines


def _split(chunk: bytes, kind: pa.DataType) -> pa.Array:
    """The lines of ``chunk`` (what follows its last line break is none)."""
    offsets = pa.array([0, len(chunk)], pa.int32()).buffers()[1]
    whole = pa.Array.from_buffers(kind, 1, [None, offsets, pa.py_buffer(chunk)])
    lines = pc.list_flatten(pc.split_pattern(whole, "\n"))
    return lines.slice(0, len(lines) - 1) if chunk.endswith(b"\n") else lines


_DN, _BLANK, _CHANGETYPE, _VERSION = -1, -2, -3, -4


class _NamePlan:
    """What each distinct attribute spelling of a chunk is: the DN, a blank line,
    a ``changetype``, a ``version``, or a column (``;binary`` dropped from its name)."""

    def __init__(self, spellings: list[str]) -> None:
        self.columns: list[str] = ["dn"]  # first spelling of each column
        self.binary: list[bool] = []
        self.codes: list[int] = []
        keys: dict[str, int] = {"dn": 0}
        special = {"dn": _DN, "": _BLANK, "changetype": _CHANGETYPE, "version": _VERSION}
        for spelling in spellings:
            key = spelling.lower()
            if key not in special and not _ATTRIBUTE_NAME.fullmatch(spelling):
                raise _Unhandled
            base, *options = spelling.split(";")
            kept = [option for option in options if option.lower() != "binary"]
            self.binary.append(len(kept) != len(options))
            if key in special:
                self.codes.append(special[key])
                continue
            name = ";".join([base, *kept])
            if key == "control" or name.lower() == "dn":
                raise _Unhandled  # a control; an attribute the DN column would take
            if name.lower() not in keys:
                keys[name.lower()] = len(self.columns)
                self.columns.append(name)
            self.codes.append(keys[name.lower()])


def _check_records(codes: pa.Array, blank: pa.Array, rest: pa.Array, first: bool) -> pa.Array:
    """Check the record structure; return the codes with the lines that hold no
    value (a ``version: 1`` opening the file, a ``changetype: add`` right after
    a DN, as ``ldifde`` writes) marked blank.

    Every record starts with ``dn:``. Any other ``changetype`` right after the
    DN is a change record, and a ``version`` or ``changetype`` line elsewhere
    (an attribute of that name) is rare: both are left to the reference parser.
    """
    is_dn = pc.equal(codes, _DN)
    previous = pa.concat_arrays([pa.array([True]), blank.slice(0, len(blank) - 1)])
    starts = pc.and_(previous, pc.invert(blank))
    if first:
        at = pc.index(blank, False).as_py()
        if at >= 0 and codes[at].as_py() == _VERSION:
            if rest[at].as_py().lstrip(" ").strip() != "1":
                raise _Unhandled  # another version, or one in base64
            if at + 1 < len(codes) and not is_dn[at + 1].as_py() and not blank[at + 1].as_py():
                raise _Unhandled  # version: 1, then a record without its dn:
            drop = pa.array([i == at for i in range(len(codes))], pa.bool_())
            codes = pc.if_else(drop, _BLANK, codes)
            starts = pc.and_(starts, pc.invert(drop))
    if pc.any(pc.and_(starts, pc.invert(is_dn))).as_py():
        raise _Unhandled  # a record that does not start with dn:
    if pc.any(pc.equal(codes, _CHANGETYPE)).as_py():
        codes = pc.if_else(_changetype_add(codes, rest, is_dn), _BLANK, codes)
    if pc.any(pc.less(codes, _BLANK)).as_py():
        raise _Unhandled
    return codes


def _changetype_add(codes: pa.Array, rest: pa.Array, is_dn: pa.Array) -> pa.Array:
    """Which lines are a ``changetype: add`` right after a DN; any other change
    type there is left to the reference parser."""
    after_dn = pa.concat_arrays([pa.array([False]), is_dn.slice(0, len(is_dn) - 1)])
    changetype = pc.and_(pc.equal(codes, _CHANGETYPE), after_dn)
    kinds = rest.filter(changetype).to_pylist()
    if any(kind.startswith(":") or kind.strip(" ").strip().lower() != "add" for kind in kinds):
        raise _Unhandled
    return changetype


def _values(rest: pa.Array, codes: pa.Array, spelling: pa.Array, plan: _NamePlan) -> pa.Array:
    """Each line's value: leading spaces dropped, ``::`` base64 decoded (text
    only; binary stays base64), an AD extended DN's prefix dropped."""
    values = pc.utf8_ltrim(rest, " ")
    encoded = pc.starts_with(rest, ":")
    if pc.any(encoded).as_py():
        decoded = _decoded(
            rest.filter(encoded),
            pc.take(pa.array(plan.binary), spelling.filter(encoded)),
            pc.equal(codes.filter(encoded), _DN),
        )
        values = pc.replace_with_mask(values, encoded, decoded)
    extended = pc.starts_with(values, "<")
    if pc.any(extended).as_py():
        plain = [plain_dn(value) for value in values.filter(extended).to_pylist()]
        values = pc.replace_with_mask(values, extended, pa.array(plain, STRING))
    return values


def _decoded(rest: pa.Array, binary: pa.Array, dn: pa.Array) -> pa.Array:
    """``attr::`` values: their text, or (binary) their base64 as written. Each
    distinct value is decoded once (a first name recurs)."""
    distinct = pc.dictionary_encode(rest)
    texts, written = [], []
    for value in distinct.dictionary.to_pylist():
        encoded = value[1:].strip(" ")
        try:
            texts.append(decode_base64_value(encoded))
        except (binascii.Error, ValueError):
            raise _Unhandled from None
        written.append(encoded)
    text = pc.take(pa.array(texts, STRING), distinct.indices)
    if pc.any(pc.and_(dn, pc.is_null(text))).as_py():
        raise _Unhandled  # a DN must be text
    as_written = pc.take(pa.array(written, STRING), distinct.indices)
    return pc.if_else(pc.or_(binary, pc.is_null(text)), as_written, text)


def _pivot(codes: pa.Array, values: pa.Array, plan: _NamePlan) -> pa.Table:
    """One row per DN line, one column per attribute: the values of each line
    go to the record of the last DN line before it. The lines are sorted by
    column (stably: in file order within one), so each column is a slice."""
    is_dn = pc.equal(codes, _DN)
    record = pc.subtract(pc.cumulative_sum(is_dn.cast(pa.int32())), 1)
    order = pc.array_sort_indices(codes)
    values, record = values.take(order), record.take(order)
    counts = pc.value_counts(codes).flatten()
    sizes = dict(zip(counts[0].to_pylist(), counts[1].to_pylist(), strict=True))
    start = {}
    at = 0
    for code in sorted(sizes):
        start[code] = at
        at += sizes[code]
    records = sizes.get(_DN, 0)
    ids = record.slice(start.get(_DN, 0), records)
    columns = [values.slice(start.get(_DN, 0), records)]
    names = ["dn"]
    for number in range(1, len(plan.columns)):
        if number not in sizes:
            continue  # only on lines dropped
        begin, size = start[number], sizes[number]
        columns.append(_column(record.slice(begin, size), values.slice(begin, size), ids))
        names.append(plan.columns[number])
    return pa.table(columns, names=names)


def _column(owners: pa.Array, values: pa.Array, ids: pa.Array) -> pa.Array:
    """One attribute's column from its values and the record of each (ascending)."""
    runs = pc.run_end_encode(owners)
    at = pc.index_in(ids, value_set=runs.values)
    if len(runs.values) == len(owners):
        return values.take(at)
    ends = pc.fill_null(pc.fill_null_forward(runs.run_ends.take(at)), 0)
    offsets = pa.concat_arrays([pa.array([0], pa.int32()), ends.cast(pa.int32())])
    return pa.ListArray.from_arrays(offsets, values, mask=pc.is_null(at))
