"""Small rules the report's builder (:mod:`recondiff.report.build`) and its reader
and renderer (:mod:`recondiff.report.document`, :mod:`recondiff.report.render`)
share: the format's name, how a value is shown, the collector pause. The lowest
module of the package: it imports none of the others."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

REPORT_FORMAT = "recondiff-report/1"
SHOWN_MAX = 300
"""A value longer than this (in characters) is cut in the report
(queries/macros/output.sql rd_shown)."""
SHOWN_KEPT = 200


def shown(value: str | None) -> str | None:
    """A value as the report shows it: queries/macros/output.sql ``rd_shown``, for what the
    page takes from plan.jsonl. Over :data:`SHOWN_MAX` characters it is cut to its
    first :data:`SHOWN_KEPT`, followed by its length and where the whole value is;
    a NUL becomes U+2400."""
    if value is None:
        return None
    if len(value) > SHOWN_MAX:
        value = (
            f"{value[:SHOWN_KEPT]}… [{len(value):,} characters; "
            "the whole value is in the CSV files or the snapshot]"
        )
    return value.replace("\x00", "\u2400") if "\x00" in value else value


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector (reference counting still frees
    everything) while the report makes its tens of thousands of small, acyclic
    lists and dicts: each of them counts towards a collection, and inside a large
    compare a full one walks a large heap (measured: benchmarks/NOTES.md, "Report").
    A collector already disabled by the caller stays so."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
