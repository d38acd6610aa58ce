"""A CSV export as a table: a header row, then one record per row.

The fast path is Arrow's multi-threaded CSV reader, which is strict about field
counts and says little about where a file is wrong; when it refuses a file (or
a cheap scan sees a quote left open or a NUL), a slower pass with Python's csv
module finds the row and says what is wrong with it, in one line.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import fcntl
import io
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, BinaryIO, TypeVar

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from recondiff.errors import InputError, first_line
from recondiff.ingest.columns import STRING, STRING_LIST, check_unique, multi_valued
from recondiff.ingest.ldif import UTF8_ADVICE
from recondiff.ingest.snapshot import CHUNK, ReadOptions, cannot_read
from recondiff.ingest.spool import Metadata, no_records, write_parquet

_T = TypeVar("_T")

_CSV_BLOCK = 16 << 20  # one CSV record (quoted newlines included) must fit in a block
_CSV_BATCH = 2 << 20
"""The block read at a time: Arrow's streaming reader holds about 36 times its
block while parsing (144 MB for 4 MiB, 420 MB for 16 MiB; benchmarks/NOTES.md).
A file with a record larger than this is read again in blocks of ``_CSV_BLOCK``."""


class _Straddle(Exception):
    """A record is larger than the block: read the file again in larger blocks."""


def read_csv_table(path: Path, options: ReadOptions, block_size: int | None = None) -> pa.Table:
    """Read a CSV export into one table (see :func:`open_csv_export`)."""

    def read(size: int) -> pa.Table:
        with open_csv_export(path, options, size) as (schema, batches):
            return pa.Table.from_batches(list(batches), schema=schema)

    return _in_blocks(read, block_size)


def write_csv_snapshot(
    path: Path,
    options: ReadOptions,
    out: Path,
    metadata: Metadata,
    block_size: int | None = None,
) -> int:
    """Write the CSV export at ``path`` as a snapshot at ``out`` (a temporary
    name: the caller renames it), a block at a time; return the rows. An
    export without records is refused unless ``options.allow_empty``."""

    def write(size: int) -> int:
        with open_csv_export(path, options, size) as (schema, batches):
            return write_parquet(out, schema, batches, metadata)

    rows = _in_blocks(write, block_size)
    if rows == 0 and not options.allow_empty:
        raise no_records(path)
    return rows


def _in_blocks(run: Callable[[int], _T], block_size: int | None) -> _T:
    """``run(block size)``; again with blocks of ``_CSV_BLOCK`` if a record did
    not fit in a block (which is then an error)."""
    size = block_size or min(_CSV_BATCH, _CSV_BLOCK)
    try:
        return run(size)
    except _Straddle:
        return run(_CSV_BLOCK)


@contextlib.contextmanager
def open_csv_export(
    path: Path, options: ReadOptions, block_size: int | None = None
) -> Iterator[tuple[pa.Schema, Iterator[pa.RecordBatch]]]:
    """Open a CSV export (header row; comma-separated unless ``options.delimiter``
    says otherwise; RFC 4180 quoting): its schema, and its records in batches
    of about ``block_size`` bytes of the file (``_CSV_BLOCK`` by default).

    UTF-8 (with or without BOM) is read in place; UTF-16 with a BOM is first
    transcoded to a temporary UTF-8 file, removed on leaving. A leading
    PowerShell ``#TYPE`` line is skipped. The reader is Arrow's streaming CSV
    reader, which is strict about field counts; when it refuses the file, at
    any block, a slower Python pass finds the row and says what is wrong with
    it.
    """
    if not options.separator:
        raise InputError(f"{path}: the multi-valued separator must not be empty")
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError as exc:
        raise cannot_read(path, exc) from exc

    temp: Path | None = None
    lock: int | None = None
    try:
        readable = path
        bom = start.startswith(codecs.BOM_UTF8)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            temp, lock = _transcode_utf16(path)
            readable, bom = temp, False
        source = _Source(path, readable, "utf-8-sig" if bom else "utf-8", options.delimiter or ",")
        skip, header = _csv_header(
            path, readable, source.encoding, source.delimiter, options.delimiter is None
        )
        source.skip = skip
        with _NoCrAtEnd.open(path, readable) as handle:
            yield _csv_stream(source, handle, header, options, block_size or _CSV_BLOCK)
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
        if lock is not None:
            os.close(lock)


def _transcode_utf16(path: Path) -> tuple[Path, int]:
    """Copy a UTF-16 (BOM) file to a temporary UTF-8 file, streaming; return it
    and a descriptor holding its lock (close it after removing the file).

    The file is ``$TMPDIR/recondiff-<pid>-<random>.csv``, locked (flock) while
    in use, so that a later run can tell what a killed one left and remove it
    (recondiff.compare removes such leftovers as it does its work directories)."""
    decoder = codecs.getincrementaldecoder("utf-16")(errors="strict")
    fd, name = tempfile.mkstemp(prefix=f"recondiff-{os.getpid()}-", suffix=".csv")
    temp = Path(name)
    lock = os.open(name, os.O_RDONLY)
    with contextlib.suppress(OSError):  # a file system without locks: the pid alone tells
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lines = 1
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as source:
            while True:
                chunk = source.read(CHUNK)
                state = decoder.getstate()
                try:
                    text = decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    # Count the lines decoded before the bad bytes in this chunk.
                    good = chunk[: max(exc.start - len(state[0]), 0)]
                    replacer = codecs.getincrementaldecoder("utf-16")(errors="replace")
                    replacer.setstate(state)
                    lines += replacer.decode(good).count("\n")
                    raise InputError(
                        f"{path}: line {lines}: not valid UTF-16 (truncated or a lone "
                        f"surrogate); {UTF8_ADVICE}"
                    ) from None
                lines += text.count("\n")
                out.write(text.encode("utf-8"))
                if not chunk:
                    break
    except BaseException:
        temp.unlink(missing_ok=True)
        os.close(lock)
        raise
    return temp, lock


def _open_text(readable: Path, encoding: str) -> IO[str]:
    """Open CSV text for the Python csv module; undecodable bytes become surrogates."""
    return readable.open(encoding=encoding, errors="surrogateescape", newline="")


def _bad_byte(text: str) -> int | None:
    """The first undecodable byte smuggled into ``text`` by ``surrogateescape``."""
    for char in text:
        if "\udc80" <= char <= "\udcff":
            return ord(char) - 0xDC00
    return None


_DELIMITERS = (",", ";", "\t")
"""The field delimiters exports use: comma, and semicolon or tab where a comma is
the decimal mark (PowerShell's ``Export-Csv -UseCulture``, Excel's "CSV")."""


def _delimiter_hint(path: Path, first: str, delimiter: str) -> InputError | None:
    """The error to raise when the header line holds none of ``delimiter`` but another
    common delimiter: a ``;``-separated export read as comma-separated is one
    column (or, quoted, not valid CSV)."""
    line = first.rstrip("\r\n")
    if delimiter in line:
        return None
    for other in _DELIMITERS:
        if other != delimiter and other in line:
            shown = "\\t" if other == "\t" else other
            return InputError(
                f'{path}: the header looks "{shown}"-separated, not "{delimiter}"-separated '
                f'(as Export-Csv -UseCulture writes); set delimiter = "{shown}" for this '
                f'export in the config, or pass --delimiter "{shown}" to recondiff ingest'
            )
    return None


def _csv_header(
    path: Path, readable: Path, encoding: str, delimiter: str = ",", guess: bool = True
) -> tuple[int, list[str]]:
    """Return (lines to skip before the header, header names stripped).

    When the delimiter was not chosen (``guess``) and the header reads as one
    column, or not at all, while it holds a ``;`` or a tab, the error says to
    set the delimiter."""
    try:
        with _open_text(readable, encoding) as text:
            first = text.readline()
            skip = 0
            if first.upper().startswith("#TYPE"):
                skip = 1
            else:
                text.seek(0)
            if "\x00" in first:
                raise InputError(
                    f"{path}: line 1: contains NUL characters; is it UTF-16 without a "
                    f"byte order mark? {UTF8_ADVICE}"
                )
            header_line = text.readline()
            while header_line and not header_line.strip():
                header_line = text.readline()  # the csv module skips blank lines too
            text.seek(0)
            if skip:
                text.readline()
            reader = csv.reader(text, strict=True, delimiter=delimiter)
            header: list[str] | None = None
            for record in reader:
                if record:
                    header = record
                    break
    except csv.Error as exc:
        hint = _delimiter_hint(path, header_line, delimiter) if guess else None
        if hint is not None:
            raise hint from None
        raise InputError(f"{path}: the header row is not valid CSV ({exc})") from None
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    if header is None:
        raise InputError(f"{path}: no header row; the first line must name the columns")
    if guess and len(header) == 1:
        hint = _delimiter_hint(path, header_line, delimiter)
        if hint is not None:
            raise hint
    _check_names(path, [name.strip() for name in header])
    return skip, header


def _check_names(path: Path, names: list[str]) -> None:
    """Refuse a header name that is not UTF-8, empty, or another's twin."""
    for number, name in enumerate(names, start=1):
        byte = _bad_byte(name)
        if byte is not None:
            raise InputError(f"{path}: header: not valid UTF-8 (byte 0x{byte:02X}); {UTF8_ADVICE}")
        if not name:
            raise InputError(
                f"{path}: column {number} of the header has no name; name it or remove it"
            )
    check_unique(path, names, "header: ")


class _Source:
    """A CSV export being read: its name, the file read (a UTF-8 copy of a UTF-16
    export), its encoding, delimiter and the lines before its header."""

    def __init__(self, path: Path, readable: Path, encoding: str, delimiter: str) -> None:
        self.path = path
        self.readable = readable
        self.encoding = encoding
        self.delimiter = delimiter
        self.skip = 0

    def diagnose(self) -> None:
        """Raise the one-line error for the first bad record, if the Python pass finds one."""
        _diagnose_csv(self.path, self.readable, self.encoding, self.skip, self.delimiter)

    def refused(self, exc: BaseException, block_size: int) -> Exception:
        """Arrow refused the file: :class:`_Straddle` if a record is larger than a
        block smaller than ``_CSV_BLOCK``; else the Python pass's error, or this one."""
        if "straddl" in str(exc) and block_size < _CSV_BLOCK:
            return _Straddle()
        self.diagnose()
        return InputError(f"{self.path}: not a readable CSV file ({first_line(exc)})")


def _csv_stream(
    source: _Source,
    handle: _NoCrAtEnd,
    raw_header: list[str],
    options: ReadOptions,
    block_size: int,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema and record batches of the CSV body (read from ``handle``);
    multi-valued columns split."""
    odd_quotes, nul = _scan(source.readable)
    if odd_quotes:
        # A quote was left open: Arrow would swallow the rest of the file into
        # one value. The Python pass finds where (or finds it is harmless).
        source.diagnose()
    if nul:
        _find_nul(source.path, source.readable, source.encoding, source.skip, source.delimiter)
    try:
        reader = pa_csv.open_csv(
            handle,
            read_options=pa_csv.ReadOptions(
                skip_rows=source.skip, block_size=block_size, use_threads=False
            ),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, delimiter=source.delimiter),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(raw_header, STRING),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError) as exc:
        raise source.refused(exc, block_size) from None
    except OSError as exc:
        raise cannot_read(source.path, exc) from exc
    if reader.schema.names != raw_header:
        # Arrow and the csv module read the header differently: trust neither.
        source.diagnose()
        raise InputError(f"{source.path}: the header row could not be read consistently")
    names = [name.strip() for name in raw_header]
    multi = multi_valued(options)
    split = [name.lower() in multi for name in names]
    schema = pa.schema(
        [pa.field(name, STRING_LIST if s else STRING) for name, s in zip(names, split, strict=True)]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except (pa.ArrowException, ValueError) as exc:
                raise source.refused(exc, block_size) from None
            except OSError as exc:
                raise cannot_read(source.path, exc) from exc
            columns = [
                _split_cells(pa.chunked_array([column]), options.separator).combine_chunks()
                if s
                else column
                for column, s in zip(batch.columns, split, strict=True)
            ]
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return schema, batches()


class _NoCrAtEnd(io.RawIOBase):
    """A file whose reads never end between a CR and the byte after it.

    Arrow's streaming CSV reader parses the file in the pieces its source
    reads return; a quoted CRLF cut between two pieces loses its LF (the
    value ``a\r\nb`` reads as ``a\rb``). A read that would end on a CR
    keeps that CR for the next read instead (or, one byte long, takes the
    byte after it too)."""

    def __init__(self, raw: BinaryIO) -> None:
        super().__init__()
        self._raw = raw
        self._held = b""

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: Path, readable: Path) -> Iterator[_NoCrAtEnd]:
        try:
            raw = readable.open("rb")
        except OSError as exc:
            raise cannot_read(path, exc) from exc
        with raw, cls(raw) as handle:
            yield handle

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            data, self._held = self._held + self._raw.read(), b""
            return data
        if size == 0:
            return b""
        held, self._held = self._held, b""  # at most the one CR held back
        data = held + self._raw.read(size - len(held))
        if data.endswith(b"\r") and len(data) > 1:
            data, self._held = data[:-1], b"\r"
        elif data == b"\r":
            data += self._raw.read(1)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        memoryview(buffer).cast("B")[: len(data)] = data
        return len(data)


def _scan(readable: Path) -> tuple[bool, bool]:
    """Cheap pre-checks in one pass: (an odd number of double quotes, a NUL byte)."""
    count = 0
    nul = False
    with readable.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            count += chunk.count(b'"')
            nul = nul or b"\x00" in chunk
    return count % 2 == 1, nul


def _find_nul(path: Path, readable: Path, encoding: str, skip: int, delimiter: str) -> None:
    """Raise at the first cell holding a NUL character, naming its row and column.

    No directory or HR system puts a NUL in a name or a key on purpose: it is
    a truncated or mis-encoded export, and a NUL passed on would cut the value
    short in C-based tools (and in an LDAP server). Rows are numbered as
    :func:`_diagnose_csv` numbers them.
    """
    with _open_text(readable, encoding) as text, _no_field_limit():
        for _ in range(skip):
            text.readline()
        reader = csv.reader(text, delimiter=delimiter)
        header: list[str] | None = None
        row = 0
        line = skip + 1
        for record in reader:
            if not record:
                line = skip + reader.line_num + 1
                continue
            if header is None:
                header = [name.strip() for name in record]
                for number, name in enumerate(header, start=1):
                    if "\x00" in name:
                        raise InputError(
                            f"{path}: header (line {line}), column {number}: contains a NUL "
                            "character (byte 0x00); remove it from the export"
                        )
            else:
                row += 1
                for number, value in enumerate(record):
                    if "\x00" in value:
                        column = header[number] if number < len(header) else f"#{number + 1}"
                        raise InputError(
                            f'{path}: row {row} (line {line}), column "{column}": contains a '
                            "NUL character (byte 0x00); remove it from the export"
                        )
            line = skip + reader.line_num + 1


@contextlib.contextmanager
def _no_field_limit() -> Iterator[None]:
    """Lift the csv module's 128 KiB field limit (a long memberOf is no error)."""
    previous = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _diagnose_csv(
    path: Path, readable: Path, encoding: str, skip: int, delimiter: str = ","
) -> None:
    """Walk the CSV with Python's csv module and raise at the first bad record.

    Rows are numbered from 1 for the first data row (the header is row 0);
    lines are physical lines of the file. Returns if nothing is wrong.
    """
    with _open_text(readable, encoding) as text, _no_field_limit():
        for _ in range(skip):
            text.readline()
        reader = csv.reader(text, strict=True, delimiter=delimiter)
        row = -1
        width = 0
        line = skip + 1
        try:
            for record in reader:
                if not record:
                    line = skip + reader.line_num + 1
                    continue
                row += 1
                for value in record:
                    byte = _bad_byte(value)
                    if byte is not None:
                        where = f"row {row}" if row else "header"
                        raise InputError(
                            f"{path}: {where}: not valid UTF-8 (byte 0x{byte:02X}); {UTF8_ADVICE}"
                        )
                if row == 0:
                    width = len(record)
                elif len(record) != width:
                    raise InputError(
                        f"{path}: row {row} (line {line}): {len(record)} fields where the "
                        f"header has {width}; quote values that contain "
                        + ("commas" if delimiter == "," else f'the delimiter "{delimiter}"')
                    )
                line = skip + reader.line_num + 1
        except csv.Error as exc:
            raise InputError(
                f"{path}: row {row + 1} (line {line}): not valid CSV ({exc}); "
                'is a quote (") left open?'
            ) from None


_WHITESPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
"""Unicode's White_Space characters: a piece of only these is blank. Python's
``str.isspace`` adds U+001C..U+001F, which are kept as values."""


def _split_cells(column: pa.ChunkedArray, separator: str) -> pa.ChunkedArray:
    """Split a CSV column into lists on ``separator``; drop blank pieces."""
    return pa.chunked_array(
        [_split_chunk(chunk, separator) for chunk in column.chunks], type=STRING_LIST
    )


def _split_chunk(chunk: pa.Array, separator: str) -> pa.ListArray:
    """One chunk split and its blank pieces dropped: the kept pieces, with each
    row's end moved to the number of pieces kept up to it."""
    pieces = pc.split_pattern(chunk, separator)
    values = pieces.values
    kept = pc.not_equal(pc.utf8_trim(values, _WHITESPACE), "")
    kept_before = pc.cumulative_sum(kept.cast(pa.int32()))
    offsets = pc.take(pa.concat_arrays([pa.array([0], pa.int32()), kept_before]), pieces.offsets)
    return pa.ListArray.from_arrays(offsets, values.filter(kept), mask=chunk.is_null())
