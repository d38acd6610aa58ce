"""Export readers: turn CSV, LDIF, JSON Lines or Parquet exports into snapshots.

Every reader returns a :class:`pyarrow.Table` whose columns are ``string``
(single-valued attributes) or ``list<string>`` (multi-valued ones), named as
the export names them (first spelling kept), unique case-insensitively, in
order of first appearance. :func:`ingest` writes such a table atomically as a
zstd-compressed Parquet *snapshot* whose key-value metadata records when and
from what it was captured; :func:`read_snapshot_info` reads that back.

Every bad input raises :class:`~recondiff.errors.InputError` with one line
naming the file (and the row or line) and saying what to do.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from recondiff import __version__
from recondiff.errors import InputError, first_line
from recondiff.ingest.ldif import read_ldif, text_lines
from recondiff.ingest.snapshot import (
    _CHUNK,
    FORMATS,
    META_CAPTURED_AT,
    META_FORMAT,
    META_ROWS,
    META_SOURCE,
    META_SOURCE_SHA256,
    META_VERSION,
    ReadOptions,
    SnapshotInfo,
    detect_format,
    file_sha256,
    read_snapshot_info,
    snapshot_metadata,
)
from recondiff.ingest.snapshot import as_utc as _as_utc
from recondiff.ingest.snapshot import cannot_read as _cannot_read
from recondiff.ingest.snapshot import mtime as _mtime
from recondiff.ingest.snapshot import not_parquet as _not_parquet
from recondiff.ingest.snapshot import parse_captured_at as _parse_captured_at
from recondiff.io.atomic import write_atomically

__all__ = [
    "FORMATS",
    "ReadOptions",
    "SnapshotInfo",
    "detect_format",
    "file_sha256",
    "ingest",
    "read_export",
    "read_snapshot_info",
]

_UTF8_ADVICE = "save the export as UTF-8 (or UTF-16 with a BOM)"
_CSV_BLOCK = 16 << 20  # one CSV record (quoted newlines included) must fit in a block

STRING = pa.string()
STRING_LIST = pa.list_(pa.string())


# --------------------------------------------------------------------------- API


def read_export(
    path: Path, fmt: str | None = None, options: ReadOptions = ReadOptions()
) -> pa.Table:
    """Read the export at ``path`` into a table of string / list<string> columns."""
    path = Path(path)
    kind = detect_format(path, fmt)
    if kind == "csv":
        table = _read_csv(path, options)
    elif kind == "ldif":
        table = _read_ldif(path, options)
    elif kind == "jsonl":
        table = _read_jsonl(path, options)
    else:
        table = _read_parquet(path, options)
    if table.num_rows == 0 and not options.allow_empty:
        raise InputError(
            f"{path}: no records; an empty export would make every account look orphaned. "
            "Pass --allow-empty if it really is empty"
        )
    return table


def ingest(
    source: Path,
    out: Path,
    fmt: str | None = None,
    options: ReadOptions = ReadOptions(),
    captured_at: datetime | None = None,
) -> SnapshotInfo:
    """Read ``source`` and write it as a Parquet snapshot at ``out``, atomically.

    The capture time is ``captured_at`` if given (a naive datetime is taken as
    UTC), else the capture time recorded in ``source`` if it is itself a
    snapshot, else the source file's modification time. The snapshot is
    written to a temporary file beside ``out``, synced, then renamed over
    ``out``; on any failure the temporary file is removed and ``out`` is left
    as it was.
    """
    source = Path(source)
    out = Path(out)
    kind = detect_format(source, fmt)
    table = read_export(source, kind, options)

    when = _source_captured_at(source, kind) if captured_at is None else _as_utc(captured_at)
    source_sha256 = file_sha256(source)
    metadata = {
        META_CAPTURED_AT: when.isoformat(),
        META_SOURCE: str(source),
        META_SOURCE_SHA256: source_sha256,
        META_ROWS: str(table.num_rows),
        META_FORMAT: kind,
        META_VERSION: __version__,
    }
    table = table.replace_schema_metadata(metadata)
    _write_atomically(table, out)
    return SnapshotInfo(
        path=out,
        rows=table.num_rows,
        captured_at=when,
        source=str(source),
        source_sha256=source_sha256,
        sha256=file_sha256(out),
        format=kind,
        recondiff_version=__version__,
    )


# ------------------------------------------------------------------ shared helpers


def _check_unique(path: Path, names: Sequence[str], where: str = "") -> None:
    """Raise if two names are equal case-insensitively (attribute names are)."""
    seen: dict[str, str] = {}
    for name in names:
        key = name.lower()
        if key in seen:
            other = seen[key]
            if other == name:
                problem = f'column "{name}" appears twice'
            else:
                problem = (
                    f'columns "{other}" and "{name}" differ only in case '
                    "(attribute names are case-insensitive)"
                )
            raise InputError(f"{path}: {where}{problem}; rename or drop one of them")
        seen[key] = name


def _multi(options: ReadOptions) -> set[str]:
    return {name.lower() for name in options.multi_valued}


def _to_string_column(values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Cast a column (string or list of strings, any width) to string / list<string>."""
    chunked = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    target = STRING_LIST if _is_list(chunked.type) else STRING
    if chunked.type == target:
        return chunked
    pieces = [piece.cast(target) for chunk in chunked.chunks for piece in _slices(chunk)]
    return pa.chunked_array(pieces, type=target)


def _slices(chunk: pa.Array, size: int = 1 << 18) -> Iterator[pa.Array]:
    """Zero-copy slices, so no slice outgrows 32-bit string offsets on cast."""
    for start in range(0, max(len(chunk), 1), size):
        yield chunk.slice(start, size)


def _is_list(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


# ---------------------------------------------------------------------------- CSV


def _read_csv(path: Path, options: ReadOptions) -> pa.Table:
    """Read a CSV export (header row; comma-separated unless ``options.delimiter``
    says otherwise; RFC 4180 quoting).

    UTF-8 (with or without BOM) is read in place; UTF-16 with a BOM is first
    transcoded to a temporary UTF-8 file. A leading PowerShell ``#TYPE`` line
    is skipped. The fast path is Arrow's multi-threaded CSV reader, which is
    strict about field counts; when it refuses a file, a slower Python pass
    finds the row and says what is wrong with it.
    """
    if not options.separator:
        raise InputError(f"{path}: the multi-valued separator must not be empty")
    try:
        with path.open("rb") as handle:
            start = handle.read(4)
    except OSError as exc:
        raise _cannot_read(path, exc) from exc

    temp: Path | None = None
    lock: int | None = None
    try:
        readable = path
        bom = start.startswith(codecs.BOM_UTF8)
        if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            temp, lock = _transcode_utf16(path)
            readable, bom = temp, False
        encoding = "utf-8-sig" if bom else "utf-8"
        delimiter = options.delimiter or ","
        skip, header = _csv_header(path, readable, encoding, delimiter, options.delimiter is None)
        return _csv_table(path, readable, encoding, skip, header, options, delimiter)
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
                chunk = source.read(_CHUNK)
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
                        f"surrogate); {_UTF8_ADVICE}"
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
                    f"byte order mark? {_UTF8_ADVICE}"
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
        raise _cannot_read(path, exc) from exc
    if header is None:
        raise InputError(f"{path}: no header row; the first line must name the columns")
    if guess and len(header) == 1:
        hint = _delimiter_hint(path, header_line, delimiter)
        if hint is not None:
            raise hint
    names = [name.strip() for name in header]
    for number, name in enumerate(names, start=1):
        byte = _bad_byte(name)
        if byte is not None:
            raise InputError(f"{path}: header: not valid UTF-8 (byte 0x{byte:02X}); {_UTF8_ADVICE}")
        if not name:
            raise InputError(
                f"{path}: column {number} of the header has no name; name it or remove it"
            )
    _check_unique(path, names, "header: ")
    return skip, header


def _csv_table(
    path: Path,
    readable: Path,
    encoding: str,
    skip: int,
    raw_header: list[str],
    options: ReadOptions,
    delimiter: str = ",",
) -> pa.Table:
    """Read the CSV body with Arrow; split the multi-valued columns."""
    odd_quotes, nul = _scan(readable)
    if odd_quotes:
        # A quote was left open: Arrow would swallow the rest of the file into
        # one value. The Python pass finds where (or finds it is harmless).
        _diagnose_csv(path, readable, encoding, skip, delimiter)
    if nul:
        _find_nul(path, readable, encoding, skip, delimiter)
    try:
        table = pa_csv.read_csv(
            readable,
            read_options=pa_csv.ReadOptions(skip_rows=skip, block_size=_CSV_BLOCK),
            parse_options=pa_csv.ParseOptions(newlines_in_values=True, delimiter=delimiter),
            convert_options=pa_csv.ConvertOptions(
                column_types=dict.fromkeys(raw_header, STRING),
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                check_utf8=True,
            ),
        )
    except (pa.ArrowException, ValueError) as exc:
        _diagnose_csv(path, readable, encoding, skip, delimiter)
        raise InputError(f"{path}: not a readable CSV file ({first_line(exc)})") from None
    except OSError as exc:
        raise _cannot_read(path, exc) from exc
    names = [name.strip() for name in raw_header]
    if table.column_names != raw_header:
        # Arrow and the csv module read the header differently: trust neither.
        _diagnose_csv(path, readable, encoding, skip, delimiter)
        raise InputError(f"{path}: the header row could not be read consistently")
    table = table.rename_columns(names)
    multi = _multi(options)
    columns = []
    for name in names:
        column = table.column(name)
        if name.lower() in multi:
            column = _split_cells(column, options.separator)
        columns.append(_to_string_column(column))
    return pa.table(columns, names=names)


def _scan(readable: Path) -> tuple[bool, bool]:
    """Cheap pre-checks in one pass: (an odd number of double quotes, a NUL byte)."""
    count = 0
    nul = False
    with readable.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
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
                            f"{path}: {where}: not valid UTF-8 (byte 0x{byte:02X}); {_UTF8_ADVICE}"
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


def _split_cells(column: pa.ChunkedArray, separator: str) -> pa.ChunkedArray:
    """Split a CSV column into lists on ``separator``; drop blank pieces."""
    import polars as pl  # here only: importing polars is 0.3 s of every start-up

    series = pl.from_arrow(column)
    assert isinstance(series, pl.Series)
    piece = pl.element()
    split = series.str.split(separator).list.eval(piece.filter(piece.str.strip_chars() != ""))
    arrow = split.to_arrow().cast(pa.large_list(pa.large_string()))
    return arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])


# --------------------------------------------------------------------------- LDIF


class _Columns:
    """Accumulate sparse records column by column (names case-insensitive)."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}  # folded name -> first spelling
        self.values: dict[str, list[Any]] = {}
        self.is_list: dict[str, bool] = {}
        self.rows = 0

    def column(self, name: str) -> str:
        """Register ``name``; return the folded key of its column."""
        key = name.lower()
        if key not in self.names:
            self.names[key] = name
            self.values[key] = []
            self.is_list[key] = False
        return key

    def put(self, key: str, value: Any) -> None:
        """Set the value of column ``key`` in the current row."""
        values = self.values[key]
        if len(values) < self.rows:
            values.extend([None] * (self.rows - len(values)))
        values.append(value)

    def table(self, multi: set[str], make: Any) -> pa.Table:
        """Build the table; ``make(values, as_list)`` turns one column into an array."""
        arrays = []
        for key, values in self.values.items():
            values.extend([None] * (self.rows - len(values)))
            as_list = self.is_list[key] or key in multi
            arrays.append(make(values, as_list))
        return pa.table(arrays, names=list(self.names.values()))


def _read_ldif(path: Path, options: ReadOptions) -> pa.Table:
    """Read an LDIF export: ``dn`` first, then attributes in order of appearance.

    An attribute is ``list<string>`` when it is in ``multi_valued`` or some
    entry has more than one value for it; otherwise ``string``.
    """
    columns = _Columns()
    dn_key = columns.column("dn")
    for record in read_ldif(path):
        columns.put(dn_key, [record.dn])
        for attr, values in record.attributes.items():
            key = columns.column(attr)
            if len(values) > 1:
                columns.is_list[key] = True
            columns.put(key, values)
        columns.rows += 1

    def make(values: list[list[str] | None], as_list: bool) -> pa.Array:
        if as_list:
            return pa.array(
                [None if v is None else [x for x in v if x != ""] for v in values],
                STRING_LIST,
            )
        return pa.array([None if v is None else v[0] for v in values], STRING)

    return columns.table(_multi(options), make)


# --------------------------------------------------------------------- JSON Lines


class _Number(str):
    """A JSON number, kept as the text it was written with."""


class _Object(list[tuple[str, Any]]):
    """A JSON object as its key/value pairs, in order, duplicates kept."""


def _json_text(value: Any) -> str:
    """Serialise a parsed value back to compact JSON, numbers as written."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, _Object):
        items = (f"{json.dumps(k, ensure_ascii=False)}:{_json_text(v)}" for k, v in value)
        return "{" + ",".join(items) + "}"
    return "[" + ",".join(_json_text(v) for v in value) + "]"


def _lone_surrogate(value: Any) -> bool:
    """Whether a parsed JSON value holds a lone surrogate (``"\\ud83d"`` alone), which
    Python's json accepts and no UTF-8 text (nor the snapshot) can hold."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, (list, tuple)):
        return any(_lone_surrogate(item) for item in value)
    return False


def _json_scalar(value: Any) -> str | None:
    """A JSON value as a cell: strings as is, numbers/bools as JSON text, null as null."""
    if value is None:
        return None
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return _json_text(value)


_JSON_KIND = {str: "a string", list: "an array", bool: "a boolean", type(None): "null"}


def _read_jsonl(path: Path, options: ReadOptions) -> pa.Table:
    """Read JSON Lines: one object per line; blank lines ignored.

    A column is ``list<string>`` when any row holds an array there or it is in
    ``multi_valued``; array elements that are null are dropped. Nested objects
    become their JSON text.
    """
    decoder = json.JSONDecoder(
        parse_int=_Number, parse_float=_Number, parse_constant=_Number, object_pairs_hook=_Object
    )
    columns = _Columns()
    for number, text in text_lines(path):
        if not text.strip():
            continue
        try:
            parsed = decoder.decode(text)
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{path}: line {number}: not valid JSON ({exc.msg} at column {exc.colno})"
            ) from None
        except RecursionError:
            raise InputError(f"{path}: line {number}: JSON nested too deeply") from None
        if "\\u" in text and _lone_surrogate(parsed):
            raise InputError(
                f"{path}: line {number}: a \\u escape is half of a UTF-16 surrogate pair, "
                "which is no character; fix the export (write the pair, or the character)"
            )
        if not isinstance(parsed, _Object):
            kind = "a number" if isinstance(parsed, _Number) else _JSON_KIND[type(parsed)]
            raise InputError(
                f"{path}: line {number}: {kind}, not an object; JSON Lines needs one "
                "JSON object per line"
            )
        _check_unique(path, [key for key, _ in parsed], f"line {number}: keys: ")
        for name, value in parsed:
            key = columns.column(name)
            if isinstance(value, list) and not isinstance(value, _Object):
                columns.is_list[key] = True
                cells = (_json_scalar(item) for item in value)
                columns.put(key, [cell for cell in cells if cell is not None])
            else:
                columns.put(key, _json_scalar(value))
        columns.rows += 1

    def make(values: list[Any], as_list: bool) -> pa.Array:
        if as_list:
            return pa.array(
                [
                    None
                    if v is None
                    else [x for x in v if x != ""]
                    if isinstance(v, list)
                    else ([v] if v != "" else [])
                    for v in values
                ],
                STRING_LIST,
            )
        return pa.array(values, STRING)

    return columns.table(_multi(options), make)


# ------------------------------------------------------------------------ Parquet


def _open_parquet(path: Path) -> pq.ParquetFile:
    """Open a Parquet file's footer, or raise the one-line InputError."""
    try:
        path.open("rb").close()  # a missing or unreadable file is not a corrupt one
    except OSError as exc:
        raise _cannot_read(path, exc) from exc
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _not_parquet(path, exc) from exc


def _read_parquet(path: Path, options: ReadOptions) -> pa.Table:
    """Read a Parquet file; cast every column to string or list<string>."""
    parquet = _open_parquet(path)
    try:
        table = parquet.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _not_parquet(path, exc) from exc
    names = table.column_names
    _check_unique(path, names)
    multi = _multi(options)
    columns = []
    for name, column in zip(names, table.columns, strict=True):
        converted = _parquet_column(path, name, column)
        if name.lower() in multi and converted.type == STRING:
            converted = _wrap_in_lists(converted)
        columns.append(converted)
    return pa.table(columns, names=names)


def scalar_type_supported(kind: pa.DataType) -> bool:
    """Whether recondiff compares values of this Arrow type (as text)."""
    if pa.types.is_dictionary(kind):
        return scalar_type_supported(kind.value_type)
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_string_view(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date(kind)
        or pa.types.is_time(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_null(kind)
    )


def _scalar_strings(path: Path, name: str, array: pa.Array) -> pa.Array:
    """Cast an array of scalars to strings; timestamps and dates as ISO 8601."""
    kind = array.type
    if pa.types.is_dictionary(kind):
        return _scalar_strings(path, name, array.dictionary_decode())
    if pa.types.is_timestamp(kind):
        if kind.tz is not None:
            array = array.cast(pa.timestamp(kind.unit, tz="UTC"))
        text = array.cast(STRING)
        return pc.replace_substring(text, " ", "T", max_replacements=1)
    if scalar_type_supported(kind):
        return array.cast(STRING)
    raise InputError(
        f'{path}: column "{name}" has type {kind}, which recondiff cannot compare; '
        "export it as text (or a list of text)"
    )


def _parquet_column(path: Path, name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Convert one Parquet column to string or list<string>."""
    pieces: list[pa.Array] = []
    as_list = _is_list(column.type)
    for chunk in column.chunks:
        for piece in _slices(chunk):
            if as_list:
                if pa.types.is_fixed_size_list(piece.type):
                    piece = piece.cast(pa.list_(piece.type.value_type))
                inner = piece.values
                if _is_list(inner.type):
                    raise InputError(
                        f'{path}: column "{name}" has type {column.type}, which recondiff '
                        "cannot compare; export it as text (or a list of text)"
                    )
                values = _scalar_strings(path, name, inner)
                offsets = piece.offsets.cast(pa.int32())
                pieces.append(pa.ListArray.from_arrays(offsets, values, mask=piece.is_null()))
            else:
                pieces.append(_scalar_strings(path, name, piece))
    target = STRING_LIST if as_list else STRING
    return pa.chunked_array(pieces, type=target)


def _wrap_in_lists(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A multi-valued attribute stored as plain strings: one-element lists."""
    values = column.to_pylist()
    return pa.chunked_array(
        [pa.array([None if v is None else ([v] if v != "" else []) for v in values], STRING_LIST)]
    )


# ---------------------------------------------------------------- snapshot writing


def _source_captured_at(source: Path, kind: str) -> datetime:
    """The capture time of a source: its own metadata if a snapshot, else its mtime."""
    if kind == "parquet":
        _, meta = snapshot_metadata(source)
        if META_CAPTURED_AT in meta:
            return _parse_captured_at(source, meta[META_CAPTURED_AT])
    return _mtime(source)


def _write_atomically(table: pa.Table, out: Path) -> None:
    """Write ``table`` as zstd Parquet to ``out`` via a synced temp file and a rename."""
    write_atomically(
        out,
        lambda temp: pq.write_table(table, temp, compression="zstd"),
        "the snapshot",
        hidden=False,
    )
