"""Snapshots as compare meets them: their format, metadata and columns.

A *snapshot* is the Parquet file :func:`recondiff.ingest.exports.ingest` writes (or any
Parquet export). This module reads what compare needs of one through DuckDB,
without importing pyarrow, whose libraries would be a good part of a compare's
peak memory (benchmarks/NOTES.md); only ingesting a CSV, LDIF or JSON Lines
export needs them (recondiff/ingest/exports.py).
"""

from __future__ import annotations

import hashlib
import re
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from recondiff import __version__
from recondiff.errors import InputError, first_line

FORMATS = ("csv", "ldif", "jsonl", "parquet")
"""The export formats :func:`recondiff.ingest.exports.read_export` understands
(``--format`` choices)."""

_EXTENSIONS = {
    ".csv": "csv",
    ".txt": "csv",
    ".ldif": "ldif",
    ".ldf": "ldif",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

_CHOICES = "csv, ldif, jsonl or parquet"
CHUNK = 1 << 20

META_CAPTURED_AT = "recondiff.captured_at"
META_SOURCE = "recondiff.source"
META_SOURCE_SHA256 = "recondiff.source_sha256"
META_ROWS = "recondiff.rows"
META_FORMAT = "recondiff.format"
META_VERSION = "recondiff.version"


def metadata_of(
    captured_at: datetime, source: str, source_sha256: str, fmt: str, rows: int | None = None
) -> dict[str, str]:
    """The key-value metadata every snapshot carries (docs/outputs.md), in the order
    ``ingest`` writes it; ``rows`` None: the writer adds it once it knows."""
    metadata = {
        META_CAPTURED_AT: captured_at.isoformat(),
        META_SOURCE: source,
        META_SOURCE_SHA256: source_sha256,
    }
    if rows is not None:
        metadata[META_ROWS] = str(rows)
    metadata[META_FORMAT] = fmt
    metadata[META_VERSION] = __version__
    return metadata


def detect_format(path: Path, fmt: str | None = None) -> str:
    """Return the export format of ``path``: ``fmt`` if given, else by extension.

    ``.csv``/``.txt`` → csv, ``.ldif``/``.ldf`` → ldif, ``.jsonl``/``.ndjson``/
    ``.json`` → jsonl, ``.parquet``/``.pq`` → parquet (case-insensitive).
    """
    if fmt is not None:
        chosen = fmt.strip().lower()
        if chosen not in FORMATS:
            raise InputError(f'{path}: unknown format "{fmt}"; use --format {_CHOICES}')
        return chosen
    suffix = Path(path).suffix.lower()
    found = _EXTENSIONS.get(suffix)
    if found is None:
        what = f'extension "{suffix}"' if suffix else "a name without an extension"
        raise InputError(f"{path}: cannot tell the format from {what}; pass --format {_CHOICES}")
    return found


@dataclass(frozen=True)
class ReadOptions:
    """How to read an export.

    ``multi_valued`` names attributes (case-insensitively) that hold several
    values: they become ``list<string>`` in every format, and CSV cells of
    those columns are split on ``separator``. CSV fields are split on
    ``delimiter`` (a comma unless set). ``allow_empty`` accepts an export
    without records (else that is an error: an empty export would make every
    account look orphaned).
    """

    multi_valued: tuple[str, ...] = ()
    separator: str = ";"
    allow_empty: bool = False
    delimiter: str | None = None
    """The CSV field delimiter; None is a comma, and a header that looks ``;``- or
    tab-separated is then refused with a hint to set it."""


@dataclass(frozen=True)
class SnapshotInfo:
    """What a snapshot's metadata says about it (see :func:`read_snapshot_info`)."""

    path: Path
    rows: int
    captured_at: datetime
    """When the data was captured, timezone-aware UTC."""
    source: str
    """The export the snapshot was made from, as given to ``ingest``."""
    source_sha256: str
    sha256: str
    """SHA-256 of the snapshot (Parquet) file itself."""
    format: str
    """The source's format: csv, ldif, jsonl or parquet."""
    recondiff_version: str
    """The recondiff version that wrote it; empty if not written by recondiff."""

    def as_json(self) -> dict[str, str | int]:
        """What ``recondiff ingest`` prints (as JSON) about the snapshot it wrote."""
        return {
            "path": str(self.path),
            "rows": self.rows,
            "captured_at": self.captured_at.isoformat(),
            "source": self.source,
            "source_sha256": self.source_sha256,
            "sha256": self.sha256,
            "format": self.format,
        }


def read_snapshot_info(path: Path) -> SnapshotInfo:
    """Read a snapshot's metadata (without reading its data).

    A Parquet file not written by recondiff is still a snapshot: its capture
    time is the file's modification time, its source the file itself.
    """
    path = Path(path)
    rows, meta = snapshot_metadata(path)
    sha256 = file_sha256(path)
    if META_CAPTURED_AT not in meta:
        return SnapshotInfo(
            path=path,
            rows=rows,
            captured_at=mtime(path),
            source=str(path),
            source_sha256=sha256,
            sha256=sha256,
            format="parquet",
            recondiff_version="",
        )
    return SnapshotInfo(
        path=path,
        rows=rows,
        captured_at=parse_captured_at(path, meta[META_CAPTURED_AT]),
        source=meta.get(META_SOURCE, str(path)),
        source_sha256=meta.get(META_SOURCE_SHA256, ""),
        sha256=sha256,
        format=meta.get(META_FORMAT, "parquet"),
        recondiff_version=meta.get(META_VERSION, ""),
    )


def snapshot_metadata(path: Path) -> tuple[int, dict[str, str]]:
    """A Parquet file's row count and key-value metadata (decoded)."""
    try:
        with _connect(path) as con:
            p = {"p": str(path)}
            rows = con.execute("SELECT sum(num_rows) FROM parquet_file_metadata($p)", p).fetchall()
            pairs = con.execute("SELECT key, value FROM parquet_kv_metadata($p)", p).fetchall()
    except duckdb.Error as exc:
        return _arrow_footer(path, exc)[0]
    meta = {
        bytes(key).decode("utf-8", "replace"): bytes(value).decode("utf-8", "replace")
        for key, value in pairs
    }
    return int(rows[0][0] or 0), meta


def snapshot_columns(path: Path, shown_as: Path | None = None) -> list[tuple[str, str]]:
    """A Parquet file's columns: (name, DuckDB type), in file order. The names
    are the file's own: DuckDB's reader renames a second 'title' to 'title_1'.
    Errors name ``shown_as`` (the export an ingested snapshot came from), else
    the file."""
    try:
        with _connect(path, shown_as) as con:
            p = {"p": str(path)}
            described = con.execute(
                "SELECT column_name, column_type FROM "
                "(DESCRIBE SELECT * FROM read_parquet($p, hive_partitioning = false))",
                p,
            ).fetchall()
            schema = con.execute("SELECT name, num_children FROM parquet_schema($p)", p).fetchall()
    except duckdb.Error as exc:
        return _arrow_footer(path, exc, shown_as)[1]
    names, at = [], 1
    for _ in range(schema[0][1] or 0):  # the root's children are the columns
        names.append(str(schema[at][0]))
        at = _after_subtree(schema, at)
    if len(names) != len(described):
        names = [str(name) for name, _ in described]
    return [(name, str(kind)) for name, (_, kind) in zip(names, described, strict=True)]


def _after_subtree(schema: list[tuple[str, int | None]], at: int) -> int:
    """The index in a flattened Parquet schema just after the node at ``at`` and its children."""
    end = at + 1
    for _ in range(schema[at][1] or 0):
        end = _after_subtree(schema, end)
    return end


def _connect(path: Path, shown_as: Path | None = None) -> duckdb.DuckDBPyConnection:
    """A throwaway DuckDB connection for reading ``path``'s footer (a missing or
    unreadable file is the one-line InputError, not a corrupt file)."""
    try:
        Path(path).open("rb").close()
    except OSError as exc:
        raise cannot_read(shown_as or path, exc) from exc
    return duckdb.connect(":memory:")


def _arrow_footer(
    path: Path, exc: duckdb.Error, shown_as: Path | None = None
) -> tuple[tuple[int, dict[str, str]], list[tuple[str, str]]]:
    """What DuckDB could not read of a footer, read by pyarrow: a file without
    a column (an empty export ingested with --allow-empty) is valid Parquet that
    DuckDB refuses. A file neither reads is the one-line InputError."""
    import pyarrow.parquet as pq

    try:
        footer = pq.ParquetFile(path)
    except Exception as arrow_exc:  # pyarrow raises several types for a bad file
        raise not_parquet(shown_as or path, arrow_exc) from None
    if footer.schema_arrow.names:  # pyarrow reads what DuckDB refused
        raise not_parquet(shown_as or path, exc) from None
    raw = footer.schema_arrow.metadata or {}
    meta = {k.decode("utf-8", "replace"): v.decode("utf-8", "replace") for k, v in raw.items()}
    return (int(footer.metadata.num_rows), meta), []


# DuckDB's names of the scalar types recondiff compares (as text): what
# pyarrow's is_string/integer/floating/decimal/boolean/date/time/timestamp/null
# accepted, at every precision and with or without a time zone.
_SCALARS = re.compile(
    r'VARCHAR|BOOLEAN|U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE'
    r'|DECIMAL\(\d+,\s*\d+\)|DATE|TIME(_NS)?|TIME WITH TIME ZONE|TIMETZ'
    r'|TIMESTAMP(_S|_MS|_NS|TZ_NS)?|TIMESTAMP WITH TIME ZONE|TIMESTAMPTZ|"NULL"'
)


def type_supported(kind: str) -> bool:
    """Whether recondiff compares a column of this DuckDB type: text, numbers,
    booleans, dates and times, or a list of one of those."""
    scalar = kind[:-2] if kind.endswith("[]") else kind
    return _SCALARS.fullmatch(scalar) is not None


HASH_STOP: ContextVar[threading.Event | None] = ContextVar("recondiff_hash_stop", default=None)
"""Set in the context a :func:`file_sha256` runs in (on another thread), an
event that stops it early: the run it served failed, and no one will read it."""


class HashStopped(Exception):
    """:func:`file_sha256` was stopped by :data:`HASH_STOP` before the end."""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB chunks. Raises
    :class:`HashStopped` between two chunks once :data:`HASH_STOP` is set."""
    digest = hashlib.sha256()
    stop = HASH_STOP.get()
    try:
        with Path(path).open("rb") as handle:
            while chunk := handle.read(CHUNK):
                if stop is not None and stop.is_set():
                    raise HashStopped(str(path))
                digest.update(chunk)
    except OSError as exc:
        raise cannot_read(path, exc) from exc
    return digest.hexdigest()


def cannot_read(path: Path, exc: OSError) -> InputError:
    return InputError(f"{path}: cannot read ({exc.strerror or exc})")


def not_parquet(path: Path, exc: BaseException) -> InputError:
    return InputError(
        f"{path}: not a readable Parquet file (truncated or corrupt?): {first_line(exc)}; "
        "re-export it or re-run recondiff ingest"
    )


def as_utc(when: datetime) -> datetime:
    """A timezone-aware UTC datetime (naive ones are taken as UTC)."""
    if when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def mtime(path: Path) -> datetime:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except OSError as exc:
        raise cannot_read(path, exc) from exc


def parse_captured_at(path: Path, text: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(text))
    except ValueError:
        raise InputError(
            f'{path}: {META_CAPTURED_AT} "{text}" is not an ISO 8601 time; re-run recondiff ingest'
        ) from None
