"""An LDIF export as a table: ``dn`` first, then attributes in order of appearance
(read in chunks by :func:`recondiff.ingest.ldif_stream.ldif_tables`)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from recondiff.ingest import spool as spooling
from recondiff.ingest.columns import multi_valued
from recondiff.ingest.ldif_stream import ldif_tables
from recondiff.ingest.snapshot import ReadOptions
from recondiff.ingest.spool import Metadata, Spool, no_records, write_parquet


def read_ldif_table(
    path: Path, options: ReadOptions, chunk_bytes: int | None = None
) -> pa.Table:
    """Read an LDIF export: ``dn`` first, then attributes in order of appearance.

    An attribute is ``list<string>`` when it is in ``multi_valued`` or some
    entry has more than one value for it; otherwise ``string``.
    """
    spool = Spool(multi_valued(options), names=("dn",))
    for table in ldif_tables(path, chunk_bytes):
        spool.add(table)
    return spool.table()


def write_ldif_snapshot(
    path: Path,
    options: ReadOptions,
    out: Path,
    metadata: Metadata,
    chunk_bytes: int | None = None,
) -> int:
    """Write the LDIF export at ``path`` as a snapshot at ``out`` (a temporary
    name: the caller renames it), in bounded memory; return the number of
    records. An export without any is refused unless ``options.allow_empty``.

    The records go straight to ``out`` in the columns and types of the first
    chunk while later chunks keep to them (the Parquet write then overlaps the
    parse of the next chunks). A chunk that adds a column, or makes one
    multi-valued, moves what was written aside into a spool beside ``out``;
    from there on the chunks are spooled, and the snapshot is written again at
    the end, in the final types."""
    spool = Spool.beside(out, multi_valued(options), names=("dn",))
    tables = ldif_tables(path, chunk_bytes)
    try:
        first = next(tables, None)
        if first is not None:
            spool.learn(first)
        try:
            direct = _direct(first, tables, spool)
            rows = write_parquet(out, spool.schema(), direct, metadata, grouped=True)
        except _SchemaChanged:
            assert spool.directory is not None
            earlier = spool.directory / "earlier.parquet"
            os.replace(out, earlier)
            for table in tables:
                spool.add(table)
            rows = write_parquet(out, spool.schema(), spool.tables(earlier), metadata)
        if rows == 0 and not options.allow_empty:
            raise no_records(path)
        return rows
    finally:
        tables.close()
        spool.remove()


class _SchemaChanged(Exception):
    """A chunk does not fit the schema the snapshot is being written in."""


def _direct(
    first: pa.Table | None, tables: Iterator[pa.Table], spool: Spool
) -> Iterator[pa.Table | pa.RecordBatch]:
    """The chunks in the spool's schema, gathered into row groups, while they fit
    it; on the first that does not, the chunks gathered but not yet yielded and
    that one go to the spool, and :class:`_SchemaChanged` is raised (every
    group yielded before is written: the writer writes each as it comes)."""
    pending: list[pa.Table] = []
    count = size = 0
    for table in itertools.chain([first] if first is not None else [], tables):
        if not spool.fits(table):
            for kept in [*pending, table]:
                spool.add(kept)
            raise _SchemaChanged
        pending.append(table)
        count += table.num_rows
        size += table.nbytes
        if count >= spooling.ROW_GROUP_ROWS or size >= spooling.ROW_GROUP_BYTES:
            yield pa.concat_tables([spool.final(kept) for kept in pending])
            pending, count, size = [], 0, 0
    if pending:
        yield pa.concat_tables([spool.final(kept) for kept in pending])
