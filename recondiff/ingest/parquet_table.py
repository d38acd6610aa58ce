"""A Parquet export as a table: every column cast to string or list<string>."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recondiff.errors import InputError
from recondiff.ingest.columns import (
    STRING,
    STRING_LIST,
    check_unique,
    is_list,
    is_text_scalar,
    multi_valued,
    slices,
)
from recondiff.ingest.snapshot import ReadOptions, cannot_read, not_parquet


def read_parquet_table(path: Path, options: ReadOptions) -> pa.Table:
    """Read a Parquet file; cast every column to string or list<string>."""
    parquet = _open_parquet(path)
    try:
        table = parquet.read()
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise not_parquet(path, exc) from exc
    names = table.column_names
    check_unique(path, names)
    multi = multi_valued(options)
    columns = []
    for name, column in zip(names, table.columns, strict=True):
        converted = _parquet_column(path, name, column)
        if name.lower() in multi and converted.type == STRING:
            converted = _wrap_in_lists(converted)
        columns.append(converted)
    return pa.table(columns, names=names)


def _open_parquet(path: Path) -> pq.ParquetFile:
    """Open a Parquet file's footer, or raise the one-line InputError."""
    try:
        path.open("rb").close()  # a missing or unreadable file is not a corrupt one
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise not_parquet(path, exc) from exc


def _unsupported(path: Path, name: str, kind: pa.DataType) -> InputError:
    return InputError(
        f'{path}: column "{name}" has type {kind}, which recondiff cannot compare; '
        "export it as text (or a list of text)"
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
    if is_text_scalar(kind):
        return array.cast(STRING)
    raise _unsupported(path, name, kind)


def _list_strings(path: Path, name: str, column_type: pa.DataType, piece: pa.Array) -> pa.Array:
    """Cast a list array (of scalars) to list<string>."""
    if pa.types.is_fixed_size_list(piece.type):
        piece = piece.cast(pa.list_(piece.type.value_type))
    inner = piece.values
    if is_list(inner.type):
        raise _unsupported(path, name, column_type)
    values = _scalar_strings(path, name, inner)
    offsets = piece.offsets.cast(pa.int32())
    return pa.ListArray.from_arrays(offsets, values, mask=piece.is_null())


def _parquet_column(path: Path, name: str, column: pa.ChunkedArray) -> pa.ChunkedArray:
    """Convert one Parquet column to string or list<string>."""
    as_list = is_list(column.type)
    pieces = [
        _list_strings(path, name, column.type, piece)
        if as_list
        else _scalar_strings(path, name, piece)
        for chunk in column.chunks
        for piece in slices(chunk)
    ]
    return pa.chunked_array(pieces, type=STRING_LIST if as_list else STRING)


def _wrap_in_lists(column: pa.ChunkedArray) -> pa.ChunkedArray:
    """A multi-valued attribute stored as plain strings: one-element lists."""
    values = column.to_pylist()
    return pa.chunked_array(
        [pa.array([None if v is None else ([v] if v != "" else []) for v in values], STRING_LIST)]
    )

