"""What every export reader shares: the two column types, unique names, and a
sparse column accumulator for the record-oriented formats (LDIF, JSON Lines).

Every reader returns a :class:`pyarrow.Table` whose columns are ``string``
(single-valued attributes) or ``list<string>`` (multi-valued ones), named as
the export names them (first spelling kept), unique case-insensitively, in
order of first appearance.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from recondiff.errors import InputError
from recondiff.ingest.snapshot import ReadOptions

STRING = pa.string()
STRING_LIST = pa.list_(pa.string())


def check_unique(path: Path, names: Sequence[str], where: str = "") -> None:
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


def multi_valued(options: ReadOptions) -> set[str]:
    """The names ``options`` says are multi-valued, case-folded."""
    return {name.lower() for name in options.multi_valued}


def slices(chunk: pa.Array, size: int = 1 << 18) -> Iterator[pa.Array]:
    """Zero-copy slices, so no slice outgrows 32-bit string offsets on cast."""
    for start in range(0, max(len(chunk), 1), size):
        yield chunk.slice(start, size)


def is_string(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def is_text_scalar(kind: pa.DataType) -> bool:
    """Whether recondiff compares values of this Arrow type, as text: strings,
    numbers, booleans, dates and times (a dictionary of them too)."""
    if pa.types.is_dictionary(kind):
        return is_text_scalar(kind.value_type)
    return bool(
        is_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_decimal(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_date(kind)
        or pa.types.is_time(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_null(kind)
    )


def is_list(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind)
    )


class Columns:
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

    def table(self, multi: set[str], make: Callable[[list[Any], bool], pa.Array]) -> pa.Table:
        """Build the table; ``make(values, as_list)`` turns one column into an array."""
        arrays = []
        for key, values in self.values.items():
            values.extend([None] * (self.rows - len(values)))
            as_list = self.is_list[key] or key in multi
            arrays.append(make(values, as_list))
        return pa.table(arrays, names=list(self.names.values()))
