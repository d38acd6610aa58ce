"""The benchmark's scenario at a small size: recondiff finds exactly the
injected truth (benchmarks/generate.sql), the same check benchmarks/run.py
applies at 1M-10M."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recondiff.compare import compare
from tests.conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
from run import check


def test_small_benchmark_scenario_matches_its_truth(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "4000", str(tmp_path)],
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
