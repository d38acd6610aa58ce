"""An LDIF export as a table: ``dn`` first, then attributes in order of appearance
(read in chunks by :func:`recondiff.ingest.ldif_stream.ldif_tables`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from recondiff.ingest.columns import multi_valued
from recondiff.ingest.ldif_stream import ldif_tables
from recondiff.ingest.snapshot import ReadOptions
from recondiff.ingest.spool import Metadata, Spool, no_records


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
    name: the caller renames it), in bounded memory: the records go to a spool
    beside ``out`` as they are read, then to ``out`` in their final types.
    Returns the number of records; an export without any is refused unless
    ``options.allow_empty``."""
    spool = Spool.beside(out, multi_valued(options), names=("dn",))
    try:
        for table in ldif_tables(path, chunk_bytes):
            spool.add(table)
        if spool.rows == 0 and not options.allow_empty:
            raise no_records(path)
        return spool.write(out, metadata)
    finally:
        spool.remove()
