"""The sample scenario finds exactly what sample_data/README.md says
(sample_data/expected_summary.json is its machine-readable part)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from recondiff.compare import compare
from tests.conftest import SAMPLE


def test_sample_run_matches_the_written_expectations(tmp_path: Path) -> None:
    result = compare(SAMPLE / "recondiff.toml", tmp_path)
    expected = json.loads((SAMPLE / "expected_summary.json").read_text())
    assert result.summary["situations"] == expected["situations"]
    assert result.summary["drift"]["by_attribute"] == expected["drift"]["by_attribute"]
    assert result.summary["drift"]["accounts"] == expected["drift"]["accounts"]
    assert result.exit_code == 1


def test_sample_has_every_situation_and_compare_kind(tmp_path: Path) -> None:
    result = compare(SAMPLE / "recondiff.toml", tmp_path)
    assert all(n > 0 for n in result.summary["situations"].values())
    with (tmp_path / "drift.csv").open(encoding="utf-8") as f:
        kinds = {row["compare"] for row in csv.DictReader(f)}
    # timestamp is exercised by tests/cases/compare-timestamp; the sample has no
    # second-precision attribute an identity system would hold.
    assert kinds >= {
        "exact", "casefold", "trim", "casefold_trim", "dn", "set", "casefold_set",
        "dn_set", "integer", "boolean", "date",
    }


def test_sample_captures_input_metadata(tmp_path: Path) -> None:
    result = compare(SAMPLE / "recondiff.toml", tmp_path)
    endpoint = result.summary["inputs"]["endpoint"]
    assert endpoint["rows"] == 57
    assert len(endpoint["sha256"]) == 64
    assert endpoint["captured_at"].endswith("+00:00")
    assert set(result.summary["timings"]) >= {"ingest", "stage", "classify", "drift", "write"}
