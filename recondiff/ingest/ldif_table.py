"""An LDIF export as a table: ``dn`` first, then attributes in order of appearance
(the records come from :func:`recondiff.ingest.ldif.read_ldif`)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from recondiff.ingest.columns import STRING, STRING_LIST, Columns, multi_valued
from recondiff.ingest.ldif import read_ldif
from recondiff.ingest.snapshot import ReadOptions


def read_ldif_table(path: Path, options: ReadOptions) -> pa.Table:
    """Read an LDIF export: ``dn`` first, then attributes in order of appearance.

    An attribute is ``list<string>`` when it is in ``multi_valued`` or some
    entry has more than one value for it; otherwise ``string``.
    """
    columns = Columns()
    dn_key = columns.column("dn")
    for record in read_ldif(path):
        columns.put(dn_key, [record.dn])
        for attr, values in record.attributes.items():
            key = columns.column(attr)
            if len(values) > 1:
                columns.is_list[key] = True
            columns.put(key, values)
        columns.rows += 1
    return columns.table(multi_valued(options), _array)


def _array(values: list[list[str] | None], as_list: bool) -> pa.Array:
    """One column: every value (empty ones dropped), or the first."""
    if as_list:
        return pa.array(
            [None if v is None else [x for x in v if x != ""] for v in values],
            STRING_LIST,
        )
    return pa.array([None if v is None else v[0] for v in values], STRING)
