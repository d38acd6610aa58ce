"""Export readers: turn CSV, LDIF, JSON Lines or Parquet exports into snapshots.

:func:`read_export` reads an export, in the reader of its format
(``csv_table``, ``ldif_table``, ``jsonl_table``, ``parquet_table``), into a
:class:`pyarrow.Table` of ``string`` / ``list<string>`` columns
(:mod:`recondiff.ingest.columns`). :func:`ingest` writes such a table
atomically as a zstd-compressed Parquet *snapshot* whose key-value metadata
records when and from what it was captured; :func:`read_snapshot_info` reads
that back.

Every bad input raises :class:`~recondiff.errors.InputError` with one line
naming the file (and the row or line) and saying what to do.
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from recondiff import __version__
from recondiff.ingest.csv_table import read_csv_table, write_csv_snapshot
from recondiff.ingest.jsonl_table import read_jsonl_table
from recondiff.ingest.ldif_table import read_ldif_table, write_ldif_snapshot
from recondiff.ingest.parquet_table import read_parquet_table
from recondiff.ingest.snapshot import (
    FORMATS,
    HASH_STOP,
    META_CAPTURED_AT,
    ReadOptions,
    SnapshotInfo,
    as_utc,
    detect_format,
    file_sha256,
    metadata_of,
    mtime,
    parse_captured_at,
    read_snapshot_info,
    snapshot_metadata,
)
from recondiff.ingest.spool import Metadata, no_records
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

_READERS: dict[str, Callable[[Path, ReadOptions], pa.Table]] = {
    "csv": read_csv_table,
    "ldif": read_ldif_table,
    "jsonl": read_jsonl_table,
    "parquet": read_parquet_table,
}


def read_export(
    path: Path, fmt: str | None = None, options: ReadOptions = ReadOptions()
) -> pa.Table:
    """Read the export at ``path`` into a table of string / list<string> columns."""
    path = Path(path)
    table = _READERS[detect_format(path, fmt)](path, options)
    if table.num_rows == 0 and not options.allow_empty:
        raise no_records(path)
    return table


_STREAMED: dict[str, Callable[[Path, ReadOptions, Path, Metadata], int]] = {
    "csv": write_csv_snapshot,
    "ldif": write_ldif_snapshot,
}
"""The formats written a batch at a time, in bounded memory: ``write(source,
options, temp, metadata)`` writes the snapshot, with ``metadata(rows)`` in its
footer, and returns its rows."""


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
    when = _source_captured_at(source, kind) if captured_at is None else as_utc(captured_at)
    if kind in _STREAMED:
        rows, source_sha256 = _stream(source, out, kind, options, when)
    else:
        table = read_export(source, kind, options)
        source_sha256 = file_sha256(source)
        metadata = metadata_of(when, str(source), source_sha256, kind, table.num_rows)
        table = table.replace_schema_metadata(metadata)
        write_atomically(
            out,
            lambda temp: pq.write_table(table, temp, compression="zstd"),
            "the snapshot",
            hidden=False,
        )
        rows = table.num_rows
    return SnapshotInfo(
        path=out,
        rows=rows,
        captured_at=when,
        source=str(source),
        source_sha256=source_sha256,
        sha256=file_sha256(out),
        format=kind,
        recondiff_version=__version__,
    )


def _stream(
    source: Path, out: Path, kind: str, options: ReadOptions, when: datetime
) -> tuple[int, str]:
    """Write the snapshot of a CSV or LDIF export a batch at a time; return its rows
    and the source's digest, computed meanwhile on another thread (hashlib and
    file reads run without Python's lock). If the export is refused (or the run
    interrupted), the digest is stopped and not waited for."""
    written: list[int] = []
    digest = _Digest(source)

    def metadata(rows: int) -> dict[str, str]:
        return metadata_of(when, str(source), digest.result(), kind, rows)

    try:
        write_atomically(
            out,
            lambda temp: written.append(_STREAMED[kind](source, options, temp, metadata)),
            "the snapshot",
            hidden=False,
        )
    except BaseException:
        digest.stop()
        raise
    return written[0], digest.result()


class _Digest:
    """A file's SHA-256 (:func:`file_sha256`), computed on a daemon thread that
    :meth:`stop` ends at its next 1 MiB (recondiff.ingest.snapshot.HASH_STOP)."""

    def __init__(self, path: Path) -> None:
        self._stop = threading.Event()
        self._result: Future[str] = Future()
        context = contextvars.copy_context()
        context.run(HASH_STOP.set, self._stop)
        thread = threading.Thread(
            target=context.run, args=(self._hash, path), name="recondiff-sha256", daemon=True
        )
        thread.start()

    def _hash(self, path: Path) -> None:
        try:
            self._result.set_result(file_sha256(path))
        except BaseException as exc:  # handed to whoever asks for the result
            self._result.set_exception(exc)

    def result(self) -> str:
        return self._result.result()

    def stop(self) -> None:
        self._stop.set()


def _source_captured_at(source: Path, kind: str) -> datetime:
    """The capture time of a source: its own metadata if a snapshot, else its mtime."""
    if kind == "parquet":
        _, meta = snapshot_metadata(source)
        if META_CAPTURED_AT in meta:
            return parse_captured_at(source, meta[META_CAPTURED_AT])
    return mtime(source)
