"""A generator that reads with worker threads (the plan's lines, hashed in a
thread; an LDIF file, parsed in threads) and is left before its end never
waits for its workers when it is closed.

It may be closed by the garbage collector, and a collection can run inside
threading's own locks, in a thread being started: a join there deadlocked the
test suite once (Thread._bootstrap_inner -> gc -> iter_lines' executor ->
shutdown(wait=True) -> the lock the starting thread held). Closing early must
shut the executor down without waiting; reading to the end still waits, so
the digest covers every block.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from recondiff.ingest.ldif_stream import ldif_tables
from recondiff.plan.file import iter_lines
from tests.conftest import SampleRun


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """The ``wait`` of every ThreadPoolExecutor.shutdown, in order."""
    said: list[bool] = []
    real = ThreadPoolExecutor.shutdown

    def shutdown(self: ThreadPoolExecutor, wait: bool = True, **kw: Any) -> None:
        said.append(wait)
        real(self, wait=wait, **kw)

    monkeypatch.setattr(ThreadPoolExecutor, "shutdown", shutdown)
    return said


def test_a_plan_read_left_early_does_not_wait_for_its_hasher(
    sample_run: SampleRun, waits: list[bool]
) -> None:
    lines = iter_lines(sample_run.out / "plan.jsonl")
    next(lines)
    lines.close()
    assert waits == [False]
    waits.clear()
    assert sum(1 for _ in iter_lines(sample_run.out / "plan.jsonl")) > 1
    assert waits == [True]  # read to the end: every block hashed before the digest


def test_an_ldif_read_left_early_does_not_wait_for_its_parsers(
    tmp_path: Path, waits: list[bool]
) -> None:
    ldif = tmp_path / "x.ldif"
    ldif.write_text("".join(f"dn: uid=u{i},dc=example\nuid: u{i}\n\n" for i in range(2000)),
                    encoding="utf-8")
    tables = ldif_tables(ldif, chunk_bytes=1024, threads=2)
    next(tables)
    tables.close()
    assert waits == [False]
    waits.clear()
    assert sum(t.num_rows for t in ldif_tables(ldif, chunk_bytes=1024, threads=2)) == 2000
    assert waits == [True]
