"""`recondiff` with the time of every query file it runs, on stderr at the end:
where a run's time goes, step by step (summary.json `timings` gives phases).

    python benchmarks/profile_steps.py compare -q -c /var/tmp/rb/1000000/recondiff.toml -o /tmp/out

Each line: seconds, share of the total, the query file. A streamed step
(plan/events) counts the time its batches took to be consumed as well. The
times come from wrapping recondiff.engine.steps._duckdb_errors, through which
every query file runs; nothing else changes.
"""

from __future__ import annotations

import atexit
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from recondiff.cli.main import main
from recondiff.engine import steps

_TIMES: dict[str, float] = defaultdict(float)
_COUNTS: dict[str, int] = defaultdict(int)
_START = time.perf_counter()
_errors = steps._duckdb_errors


@contextmanager
def _timed(name: str, *args: Any, **kwargs: Any) -> Iterator[None]:
    started = time.perf_counter()
    try:
        with _errors(name, *args, **kwargs):
            yield
    finally:
        _TIMES[name] += time.perf_counter() - started
        _COUNTS[name] += 1


def _print() -> None:
    total = time.perf_counter() - _START
    print(f"\n== query files by time (process {total:.1f} s)", file=sys.stderr)
    for name, seconds in sorted(_TIMES.items(), key=lambda kv: -kv[1]):
        if seconds >= 0.05:
            runs = f" ×{_COUNTS[name]}" if _COUNTS[name] > 1 else ""
            print(f"{seconds:8.2f} s {seconds / total:6.1%}  {name}{runs}", file=sys.stderr)
    print(f"{sum(_TIMES.values()):8.2f} s in query files", file=sys.stderr)


steps._duckdb_errors = _timed
atexit.register(_print)

if __name__ == "__main__":
    main()
