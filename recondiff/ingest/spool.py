"""Write a snapshot from batches, in bounded memory.

An export is read a batch at a time. A CSV's columns and types are known from
its header, so its batches go straight to the Parquet writer
(:func:`write_parquet`). An LDIF's are not: a column is ``list<string>`` when
*some* entry has two values, and a column may first appear in the last entry.
Its batches therefore go to a :class:`Spool` (Arrow files in a folder beside
the snapshot), and are written again, in their final types, once the last one
is read.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from recondiff.errors import InputError
from recondiff.ingest.columns import STRING, STRING_LIST

ROW_GROUP_ROWS = 64 * 1024
ROW_GROUP_BYTES = 32 << 20
"""A Parquet row group gathers batches up to this many rows or bytes (of Arrow
data), whichever comes first: the writer holds a row group while encoding it,
so its size bounds the writer's memory (benchmarks/NOTES.md)."""


def no_records(path: Path) -> InputError:
    """The error for an export without records (see ReadOptions.allow_empty)."""
    return InputError(
        f"{path}: no records; an empty export would make every account look orphaned. "
        "Pass --allow-empty if it really is empty"
    )


Metadata = Callable[[int], Mapping[str, str]]
"""The snapshot's metadata given its row count (recondiff.ingest.snapshot.metadata_of)."""


def write_parquet(
    path: Path,
    schema: pa.Schema,
    batches: Iterable[pa.RecordBatch | pa.Table],
    metadata: Metadata,
) -> int:
    """Write ``batches`` (all of ``schema``) to a zstd Parquet file at ``path``, in
    row groups of about :data:`ROW_GROUP_ROWS`; return the number of rows.

    The metadata, which holds the row count, is known only at the end (and the
    source's digest, which the caller may compute meanwhile): it goes in the
    footer, which the writer writes on closing, both as the file's key-value
    metadata and in the Arrow schema stored there (``ARROW:schema``, encoded as
    the writer encodes it), so that every reader sees what it sees of a
    snapshot written in one go."""
    rows = 0
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for group in _groups(batches):
            writer.write_table(group, row_group_size=max(group.num_rows, 1))
            rows += group.num_rows
        final = dict(metadata(rows))
        encoded = schema.with_metadata(final).serialize().to_pybytes()
        writer.add_key_value_metadata(final | {_ARROW_SCHEMA: base64.b64encode(encoded).decode()})
    return rows


_ARROW_SCHEMA = "ARROW:schema"
"""The footer key under which Arrow's Parquet writer keeps the Arrow schema
(base64 of its IPC serialisation)."""


def _groups(batches: Iterable[pa.RecordBatch | pa.Table]) -> Iterator[pa.Table]:
    """Gather batches into tables of :data:`ROW_GROUP_ROWS` rows or
    :data:`ROW_GROUP_BYTES` bytes, give or take a batch (the last may be smaller)."""
    pending: list[pa.Table] = []
    count = size = 0
    for batch in batches:
        table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
        pending.append(table)
        count += table.num_rows
        size += table.nbytes
        if count >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
            yield pa.concat_tables(pending)
            pending, count, size = [], 0, 0
    if pending and count:
        yield pa.concat_tables(pending)


class Spool:
    """Tables of ``string`` / ``list<string>`` columns whose set and types may
    change from one to the next, kept until the last one is read.

    Column names are case-insensitive: the first spelling met names the column,
    in order of first appearance. A column is ``list<string>`` in the end when it
    is in one table or named in ``multi`` (case-folded); lists then lose their
    empty values and a single empty value becomes an empty list, as every reader
    keeps them (recondiff.ingest.columns). ``directory`` None keeps the tables in
    memory (for :func:`recondiff.ingest.exports.read_export`); else each is
    written there as an Arrow file, and read back one at a time.
    """

    def __init__(
        self, multi: set[str], directory: Path | None = None, names: tuple[str, ...] = ()
    ) -> None:
        self.multi = multi
        self.directory = directory
        self.names: dict[str, str] = {name.lower(): name for name in names}
        """Folded name -> first spelling; ``names`` come first, even without a table."""
        self.is_list: dict[str, bool] = dict.fromkeys(self.names, False)
        self.rows = 0
        self._tables: list[pa.Table] = []
        self._files: list[Path] = []
        self._lock: int | None = None

    @classmethod
    def beside(cls, out: Path, multi: set[str], names: tuple[str, ...] = ()) -> Spool:
        """A spool in a hidden folder beside ``out`` (a large export's batches may
        not fit in ``$TMPDIR``), locked (flock) while in use; :meth:`remove` it
        when done. Such folders a killed run left beside the snapshot (unlocked,
        so no run is using them) are removed first: each may hold a gigabyte.
        ``out`` may be the snapshot's temporary name (recondiff.io.atomic): the
        folders of every run writing the same snapshot are found by the
        snapshot's own name, whatever their temporary one."""
        directory, lock = spool_folder(out)
        spool = cls(multi, directory, names)
        spool._lock = lock
        return spool

    def add(self, table: pa.Table) -> None:
        """Keep one table (columns named as the export spells them)."""
        for name, column in zip(table.column_names, table.columns, strict=True):
            key = name.lower()
            if key not in self.names:
                self.names[key] = name
                self.is_list[key] = False
            if column.type == STRING_LIST:
                self.is_list[key] = True
        table = table.rename_columns([name.lower() for name in table.column_names])
        self.rows += table.num_rows
        if self.directory is None:
            self._tables.append(table)
            return
        self._files.append(write_batch(self.directory, len(self._files), table, "records"))

    def schema(self) -> pa.Schema:
        """The final schema: every column, in order of first appearance."""
        return pa.schema([pa.field(self.names[key], self._type(key)) for key in self.names])

    def _type(self, key: str) -> pa.DataType:
        return STRING_LIST if self.is_list[key] or key in self.multi else STRING

    def tables(self) -> Iterator[pa.Table]:
        """The kept tables again, one at a time, in the final schema."""
        schema = self.schema()
        if self.directory is None:
            for table in self._tables:
                yield self._final(table, schema)
            return
        for path in self._files:
            with pa.memory_map(str(path)) as source:
                table = pa.ipc.open_file(source).read_all()
                yield self._final(table, schema)
            del table
            path.unlink()

    def _final(self, table: pa.Table, schema: pa.Schema) -> pa.Table:
        arrays = []
        for key, field in zip(self.names, schema, strict=True):
            if key in table.column_names:
                arrays.append(final_column(table.column(key), field.type))
            else:
                arrays.append(pa.nulls(table.num_rows, field.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def table(self) -> pa.Table:
        """Every kept table as one, in the final schema."""
        schema = self.schema()
        return pa.concat_tables([schema.empty_table(), *self.tables()])

    def write(self, path: Path, metadata: Metadata) -> int:
        """Write the kept tables as a snapshot at ``path``; return the rows."""
        return write_parquet(path, self.schema(), self.tables(), metadata)

    def remove(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None


_TEMP_SUFFIX = re.compile(r"\.tmp-[0-9a-f]+$")
"""What recondiff.io.atomic adds to a file's name for its temporary name."""


def spool_folder(out: Path) -> tuple[Path, int]:
    """A new hidden folder beside ``out`` (``.<out's name>.spool-<random>``) and
    a descriptor holding its lock (flock): close it once the folder is removed.
    Such folders a killed run left beside the same snapshot (unlocked, so no
    run is using them) are removed first: each may hold a gigabyte. Used by
    :class:`Spool` and by the live LDAP read's batches (recondiff.ingest.ldap_read)."""
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale(out.parent, _spool_names(out.name))
        return _locked_folder(out)
    except OSError as exc:
        raise InputError(
            f"{out}: cannot create a folder beside it ({exc.strerror or exc})"
        ) from None


def _spool_names(name: str) -> re.Pattern[str]:
    """The names of the spool folders of a snapshot named ``name`` or a
    temporary name of it (``s.parquet``, ``s.parquet.tmp-<hex>``)."""
    snapshot = _TEMP_SUFFIX.sub("", name)
    return re.compile(rf"\.{re.escape(snapshot)}(\.tmp-[0-9a-f]+)?\.spool-")


def _locked_folder(out: Path) -> tuple[Path, int]:
    """A new folder ``.<out's name>.spool-<random>`` beside ``out`` and a
    descriptor holding its lock (flock). Another run's sweep may remove the
    folder between its creation and its lock: then another is made."""
    while True:
        directory = Path(tempfile.mkdtemp(prefix=f".{out.name}.spool-", dir=out.parent))
        lock = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.stat(directory).st_ino == os.fstat(lock).st_ino:
                return directory, lock
        except BlockingIOError:
            pass  # a sweep holds it, removing it
        except FileNotFoundError:
            pass  # a sweep removed it
        except OSError:  # a file system without locks: never taken as stale
            return directory, lock
        os.close(lock)


def _remove_stale(parent: Path, names: re.Pattern[str]) -> None:
    """Remove the folders in ``parent`` whose name starts as ``names`` that no
    process holds locked (a run killed outright, SIGKILL or the OOM killer,
    left them)."""
    for path in parent.iterdir():
        if not names.match(path.name) or not path.is_dir() or path.is_symlink():
            continue
        try:
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # in use (or no locks here: leave it)
        else:
            shutil.rmtree(path, ignore_errors=True)
        finally:
            os.close(fd)


def final_column(column: pa.ChunkedArray | pa.Array, kind: pa.DataType) -> pa.Array:
    """A column in its final type: a string column as is; a list column without its
    empty values, a string in it a one-element list (an empty one no element)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if kind == STRING:
        return column
    if column.type == STRING:
        empty = pc.equal(column, "")
        lengths = pc.if_else(empty, 0, 1).cast(pa.int32())
        offsets = pa.concat_arrays(
            [pa.array([0], pa.int32()), pc.cumulative_sum(lengths.fill_null(0))]
        )
        values = column.filter(pc.invert(empty.fill_null(True)))
        return pa.ListArray.from_arrays(offsets, values, mask=column.is_null())
    if not pc.any(pc.equal(pc.list_flatten(column), "")).as_py():
        return column
    return drop_empty(column)


def drop_empty(column: pa.ListArray) -> pa.ListArray:
    """A list column without its empty values (null lists stay null): each row's
    end moved to the number of values kept up to it."""
    values = column.values
    kept = pc.not_equal(values, "")
    kept_before = pc.cumulative_sum(kept.cast(pa.int32()))
    starts = pa.concat_arrays([pa.array([0], pa.int32()), kept_before])
    offsets = pc.take(starts, column.offsets)
    return pa.ListArray.from_arrays(offsets, values.filter(kept), mask=column.is_null())


def write_batch(directory: Path, index: int, table: pa.Table, what: str) -> Path:
    """One spooled batch, ``directory/<index>.arrow`` (Arrow IPC); a write that
    fails (a full disk) is one line naming the folder. Also ldap_read's spill."""
    path = directory / f"{index:06d}.arrow"
    try:
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    except OSError as exc:
        raise InputError(
            f"{directory}: cannot write a batch of {what} ({exc.strerror or exc})"
        ) from None
    return path
