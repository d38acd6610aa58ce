"""The benchmark's scenario at a small size: recondiff finds exactly the
injected truth (benchmarks/generate.sql), the same check benchmarks/run.py
applies at 1M-10M."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from recondiff.compare import compare

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from run import Measure, check, median, report

BENCHMARKS = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_small_benchmark_scenario_matches_its_truth(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "generate.py"), "4000", str(tmp_path)],
        check=True, stdout=subprocess.DEVNULL,
    )
    result = compare(tmp_path / "recondiff.toml", tmp_path / "out")
    import json

    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["missing"] == 40 and truth["drift_title"] == 80
    assert check(tmp_path / "out" / "summary.json", truth) == []
    # case-only changes of mail and displayName are not drift under casefold
    assert result.summary["drift"]["by_attribute"]["mail"] == 0
    assert result.summary["drift"]["by_attribute"]["displayName"] == 0
    # the write floor writes a table of situations.parquet's shape, a row per record
    floor = tmp_path / "floor"
    subprocess.run(
        [sys.executable, str(BENCHMARKS / "write_floor.py"),
         str(tmp_path / "endpoint.parquet"), str(tmp_path / "repository.parquet"), str(floor)],
        check=True, stdout=subprocess.DEVNULL,
    )
    import duckdb

    def shape(path: Path) -> list[tuple[str, str]]:
        return [(r[0], r[1]) for r in duckdb.sql(f"DESCRIBE FROM '{path}'").fetchall()]

    assert shape(floor / "situations.parquet") == shape(tmp_path / "out" / "situations.parquet")
    endpoint_rows = duckdb.sql(f"FROM '{tmp_path / 'endpoint.parquet'}'").shape[0]
    # the floor's CSV holds one row in 20, about the findings' share (situations.csv
    # holds findings only since issue 19)
    assert duckdb.sql(f"FROM '{floor / 'situations.csv'}'").shape[0] == -(-endpoint_rows // 20)
    assert (floor / "situations.csv").read_text().splitlines()[0] == (
        tmp_path / "out" / "situations.csv").read_text().splitlines()[0]


def test_rounds_show_the_median_and_a_failed_round() -> None:
    """benchmarks/run.py: a tool's rounds at one size become one row, the
    median wall time and peak RSS with every round's wall time; a failed or
    wrong round is what the row reports, not hidden by the good ones."""
    ok = [Measure("recondiff", 1, w, r, "ok", "yes", f"p{w}") for w, r in ((9.0, 500), (7.0, 560), (8.0, 520))]
    row = median(ok)
    assert (row.wall, row.rss_mb, row.outcome, row.correct, row.phases) == (8.0, 520, "ok", "yes", "p8.0")
    assert row.walls == (9.0, 7.0, 8.0)
    wrong = [*ok[:2], Measure("recondiff", 1, 8.5, 510, "ok", "NO: linked: 1 != 2")]
    assert median(wrong).correct == "NO: linked: 1 != 2"
    failed = [*ok[:2], Measure("recondiff", 1, 1.0, 100, "failed (2): bad")]
    assert median(failed).outcome == "failed (2): bad"


def test_table_gives_cpu_time_of_the_median_round_and_the_memory_probe() -> None:
    """The spread of a tool's wall time on this VM is mostly system time
    (first touch of memory handed back to the host): the table shows the user
    and system CPU time of the median round, and the header the probe."""
    import argparse

    rounds = [
        Measure("datacompy (polars)", 1000, w, 3000, "ok", user=u, sys=k)
        for w, u, k in ((13.0, 7.0, 8.0), (7.0, 6.5, 2.5), (9.0, 6.8, 4.0))
    ]
    args = argparse.Namespace(repeat=3, repeat_up_to=1000)
    recondiff = Measure("recondiff (default memory_limit 1GB)", 1000, 8.0, 500, "ok", "yes")
    floor = Measure("write floor", 1000, 2.0, 300, "ok")
    text = report([median(rounds), floor, recondiff], args, ["2.4 s before 1,000"])
    assert "- 1,000: recondiff takes 4.00× the write floor" in text
    assert "- touching 1 GiB of fresh memory took 2.4 s before 1,000 (wall time;" in text
    assert "| 1,000 | datacompy (polars) | 9.0 | 3,000 |  | ok |  | 6.8 + 4.0 | 13.0, 7.0, 9.0 |" in text
