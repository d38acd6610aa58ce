"""CSV that is safe to open in a spreadsheet, and read back exactly.

The CSVs written from Python (the decisions sheet, the repository feed) go
through :func:`write_csv`; those DuckDB writes (situations.csv, drift.csv,
drift_diff.csv) apply the same rule in SQL (``rd_csv``, queries/macros/output.sql;
tests/test_csvsafe.py holds the two equal). All follow one convention
(docs/outputs.md): LF line ends, and a BOM only when asked for.

**The rule.** A spreadsheet (Excel, LibreOffice, Google Sheets) evaluates a
cell that begins with ``=``, ``+``, ``-`` or ``@`` as a formula, and some also
after a leading tab or carriage return; a value taken from a directory
(``=cmd|' /C calc'!A0``) would then run on the reviewer's machine. So every
cell whose text begins with one of ``= + - @ TAB CR`` gets a single quote
``'`` in front of it: the spreadsheet shows it as text. A cell that already
begins with ``'`` gets one more, so the rule is exactly reversible: to get the
original value back, drop **one** leading ``'`` from every cell that begins
with one (:func:`restore`; ``awk``/``sed``: ``s/^'//`` per cell). Nothing
else is changed: no other cell gains or loses a character.

Numbers are cells too: ``-1`` is written ``'-1``.

**NUL.** A NUL character (U+0000) is written as ``␀`` (U+2400, the symbol
for NUL): a raw NUL cuts the cell short in spreadsheets and C-based tools.
recondiff refuses NUL in CSV and LDIF exports; only a Parquet or JSON Lines
export can bring one.

Files are UTF-8 (optionally with a byte-order mark, which Excel needs to
recognise UTF-8), with LF line ends (:data:`LINE_END`, as DuckDB writes
its CSVs), written atomically.
:func:`read_csv` accepts what a spreadsheet saves back: a BOM, CRLF or LF,
columns in any order, and ``;`` or tab as the separator (Excel in many locales).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from recondiff.errors import InputError
from recondiff.io.atomic import write_bytes_atomically

__all__ = [
    "DANGEROUS",
    "LINE_END",
    "NUL_SYMBOL",
    "QUOTE",
    "CsvTable",
    "neutralise",
    "read_csv",
    "restore",
    "to_csv",
    "write_csv",
]

DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
"""A cell beginning with one of these is evaluated by some spreadsheet."""

QUOTE = "'"
"""The prefix that makes a spreadsheet show a cell as text."""

_BOM = "\ufeff"

LINE_END = "\n"
"""The line end of every CSV recondiff writes (DuckDB's COPY writes LF too)."""

NUL_SYMBOL = "\u2400"
"""How a NUL character is written in a CSV cell."""


def neutralise(value: object) -> str:
    """The cell text for ``value`` (``None`` is empty), safe to open in a spreadsheet.

    A text beginning with ``= + - @ TAB CR`` or ``'`` gets one ``'`` in front;
    a NUL character becomes :data:`NUL_SYMBOL`.
    """
    text = "" if value is None else str(value)
    if "\x00" in text:
        text = text.replace("\x00", NUL_SYMBOL)
    if text.startswith((*DANGEROUS, QUOTE)):
        return QUOTE + text
    return text


def restore(cell: str) -> str:
    """Undo :func:`neutralise`: drop one leading ``'`` (a spreadsheet's text marker)."""
    return cell[1:] if cell.startswith(QUOTE) else cell


def to_csv(header: Sequence[str], rows: Iterable[Sequence[object]], *, bom: bool = False) -> str:
    """The CSV text of ``header`` and ``rows``, every cell neutralised, LF line ends."""
    buffer = io.StringIO()
    if bom:
        buffer.write(_BOM)
    writer = csv.writer(_LineFeed(buffer), lineterminator="\r\n")
    writer.writerow([neutralise(h) for h in header])
    width = len(header)
    for row in rows:
        if len(row) != width:
            raise ValueError(f"row of {len(row)} cells under a header of {width}")
        writer.writerow([neutralise(cell) for cell in row])
    return buffer.getvalue()


class _LineFeed:
    """Where csv.writer writes, one row per call: told CRLF, the writer quotes
    a cell holding CR as well as one holding LF (as DuckDB does); each row's
    CRLF then becomes :data:`LINE_END`."""

    def __init__(self, out: io.StringIO) -> None:
        self.out = out

    def write(self, row: str) -> int:
        return self.out.write(row.removesuffix("\r\n") + LINE_END)


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    bom: bool = False,
    what: str = "the CSV file",
) -> None:
    """Write :func:`to_csv` atomically to ``path`` (UTF-8, a BOM first if ``bom``)."""
    write_bytes_atomically(Path(path), to_csv(header, rows, bom=bom).encode("utf-8"), what)


@dataclass(frozen=True)
class CsvTable:
    """A CSV read back: its header and its rows as ``(row number, {column: cell})``.

    Row numbers are the spreadsheet's: the header is row 1, so the first data
    row is row 2. Cells are :func:`restore`-d and missing trailing cells are
    ``""``; rows whose every cell is blank are left out, and so are nameless
    columns at the right that hold nothing.
    """

    path: Path
    header: list[str]
    rows: list[tuple[int, dict[str, str]]]


def read_csv(path: Path, *, what: str = "CSV file") -> CsvTable:
    """Read a CSV written by :func:`write_csv` (and maybe edited in a spreadsheet).

    Raises :class:`InputError` naming the file (and row) for a missing or
    unreadable file, text that is not UTF-8, a blank or duplicated column
    name, or a row with more cells than the header.
    """
    path = Path(path)
    records = _records(path, _text(path, what))
    if not records:
        raise InputError(f"{path}: empty {what}: it has no header row")
    header = [restore(h).strip() for h in records[0]]
    body = [
        (number, record)
        for number, record in enumerate(records[1:], start=2)
        if any(cell.strip() for cell in record)
    ]
    header, body = _without_empty_columns(header, body)
    _check_header(path, header)
    rows: list[tuple[int, dict[str, str]]] = []
    for number, record in body:
        if len(record) > len(header):
            raise InputError(
                f"{path}: row {number} has {len(record)} cells but the header names "
                f"{len(header)} columns; remove the extra cells"
            )
        cells = [restore(c) for c in record] + [""] * (len(header) - len(record))
        rows.append((number, dict(zip(header, cells, strict=True))))
    return CsvTable(path, header, rows)


def _text(path: Path, what: str) -> str:
    """The file's text, UTF-8 with or without a BOM."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputError(
            f"{path}: line {line} is not UTF-8 (byte {exc.start}); "
            "save it as 'CSV UTF-8' and try again"
        ) from None


def _records(path: Path, text: str) -> list[list[str]]:
    """The text's records, split on the separator its first line uses most
    (``,``, ``;`` or tab; ``,`` when it has none)."""
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", ";", "\t"), key=first_line.count)
    if not first_line.count(delimiter):
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        return list(reader)
    except csv.Error as exc:
        raise InputError(
            f"{path}: line {reader.line_num}: not readable as CSV ({exc}); "
            "check the quotes on that line"
        ) from None


def _without_empty_columns(
    header: list[str], body: list[tuple[int, list[str]]]
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """A spreadsheet may save empty, nameless columns at the right: drop those."""
    while (
        header
        and not header[-1]
        and not any(len(r) >= len(header) and r[len(header) - 1].strip() for _, r in body)
    ):
        header = header[:-1]
        body = [(n, r[: len(header)]) for n, r in body]
    return header, body


def _check_header(path: Path, header: list[str]) -> None:
    """Every column has a name, used once (in any case)."""
    seen: set[str] = set()
    for i, name in enumerate(header, start=1):
        if not name:
            raise InputError(f"{path}: row 1, column {i} has no name; name it or delete it")
        if name.lower() in seen:
            raise InputError(f"{path}: row 1: column {name} appears twice; keep one")
        seen.add(name.lower())


DELIMITER_RULE = 'one ASCII character other than a quote or a line break (",", ";" or tab)'


def is_delimiter(text: str) -> bool:
    """Whether ``text`` can split CSV fields: one ASCII character (the CSV
    reader takes one byte), not a quote or a line break (:data:`DELIMITER_RULE`)."""
    return len(text) == 1 and text not in '"\r\n' and text.isascii()
