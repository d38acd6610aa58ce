"""The sample scenario finds exactly what sample_data/README.md says
(sample_data/expected_summary.json is its machine-readable part). The sample
is compared once per session (tests/conftest.py, ``sample_run``)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb

from recondiff.ingest.exports import ReadOptions, ingest
from tests.conftest import SAMPLE, SampleRun


def test_sample_run_matches_the_written_expectations(sample_run: SampleRun) -> None:
    result = sample_run.result
    expected = json.loads((SAMPLE / "expected_summary.json").read_text())
    assert result.summary["situations"] == expected["situations"]
    assert result.summary["drift"]["by_attribute"] == expected["drift"]["by_attribute"]
    assert result.summary["drift"]["accounts"] == expected["drift"]["accounts"]
    assert result.summary["outputs"] == expected["outputs"]
    policies = result.summary.get("policies") or {}
    assert {k: policies.get(k) for k in expected["policies"]} == expected["policies"]
    assert result.exit_code == 1


def test_sample_has_every_situation_and_compare_kind(sample_run: SampleRun) -> None:
    result = sample_run.result
    assert all(n > 0 for n in result.summary["situations"].values())
    with (sample_run.out / "drift.csv").open(encoding="utf-8") as f:
        kinds = {row["compare"] for row in csv.DictReader(f)}
    # timestamp is exercised by tests/cases/compare-timestamp; the sample has no
    # second-precision attribute an identity system would hold.
    assert kinds >= {
        "exact", "casefold", "trim", "casefold_trim", "dn", "set", "casefold_set",
        "dn_set", "integer", "boolean", "date",
    }


def test_sample_captures_input_metadata(sample_run: SampleRun) -> None:
    result = sample_run.result
    endpoint = result.summary["inputs"]["endpoint"]
    assert endpoint["rows"] == 57
    assert len(endpoint["sha256"]) == 64
    assert endpoint["captured_at"].endswith("+00:00")
    assert set(result.summary["timings"]) >= {"ingest", "stage", "classify", "drift", "write"}


def test_situation_rows_name_their_records_on_both_sides(sample_run: SampleRun, tmp_path: Path) -> None:
    """situations.csv has the documented columns (docs/outputs.md) in their
    order; endpoint_record and identity_record are the 1-based rows, in each
    ingested snapshot, of the account and the identity the row names."""
    with (sample_run.out / "situations.csv").open(encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    assert header == [
        "situation", "sync", "endpoint_key", "endpoint_dn", "identity_key", "rule",
        "candidates", "drift_attributes", "endpoint_record", "identity_record",
    ]
    keys = {}
    for side, name, key in (("endpoint", "ad_users.csv", "sAMAccountName"),
                            ("repository", "identities.csv", "employee_id")):
        snapshot = tmp_path / f"{side}.parquet"
        ingest(SAMPLE / name, snapshot, "csv", ReadOptions())
        keys[side] = dict(duckdb.execute(
            f'SELECT file_row_number + 1, "{key}" FROM read_parquet($p, file_row_number = true)',
            {"p": str(snapshot)},
        ).fetchall())
    for r in rows:
        if r["endpoint_record"]:
            assert keys["endpoint"][int(r["endpoint_record"])] == r["endpoint_key"], r
        if r["identity_record"]:
            assert keys["repository"][int(r["identity_record"])] == r["identity_key"], r
    # the findings only: the 17 linked accounts in sync are left out (docs/outputs.md)
    assert len(rows) == 42
    assert not [r for r in rows if (r["situation"], r["sync"]) == ("linked", "in_sync")]
    assert [r["endpoint_key"] for r in rows if r["sync"] == "in_sync"] == ["broussel"]
    with_identity = {r["situation"] for r in rows if r["identity_record"]}
    assert with_identity >= {"linked", "correlated", "missing", "deleted_in_repository"}
    assert not any(r["identity_record"] for r in rows if r["situation"] in ("unmatched", "ambiguous"))
