"""What compare accepts of a Parquet snapshot's columns (recondiff/ingest/snapshot.py
reads them through DuckDB; before, pyarrow's type predicates decided)."""

from __future__ import annotations

import datetime as dt
import decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.errors import InputError
from recondiff.ingest.snapshot import snapshot_columns, snapshot_metadata, type_supported

ACCEPTED = {
    "text": pa.array(["a"]),
    "large_text": pa.array(["a"], pa.large_string()),
    "dictionary": pa.array(["a"]).dictionary_encode(),
    "int8": pa.array([1], pa.int8()),
    "uint64": pa.array([1], pa.uint64()),
    "float": pa.array([1.5], pa.float32()),
    "decimal": pa.array([decimal.Decimal("1.25")], pa.decimal128(5, 2)),
    "flag": pa.array([True]),
    "day": pa.array([dt.date(2026, 1, 2)]),
    "time_s": pa.array([1], pa.time32("s")),
    "time_ns": pa.array([1], pa.time64("ns")),
    "ts_ms": pa.array([1], pa.timestamp("ms")),
    "ts_ns": pa.array([1], pa.timestamp("ns")),
    "ts_utc": pa.array([1], pa.timestamp("us", tz="UTC")),
    "ts_ns_utc": pa.array([1], pa.timestamp("ns", tz="UTC")),  # what pandas writes
    "nothing": pa.array([None], pa.null()),
    "groups": pa.array([["a", "b"]]),
    "large_groups": pa.array([["a"]], pa.large_list(pa.string())),
    "numbers": pa.array([[1, 2]], pa.list_(pa.int64())),
}
REFUSED = {
    "blob": pa.array([b"x"]),
    "record": pa.array([{"a": 1}]),
    "nested": pa.array([[["a"]]]),
    "mapping": pa.array([[("k", "v")]], pa.map_(pa.string(), pa.string())),
}


def test_snapshot_columns_accept_what_pyarrow_accepted(tmp_path: Path) -> None:
    path = tmp_path / "types.parquet"
    pq.write_table(pa.table(ACCEPTED | REFUSED), path)
    columns = snapshot_columns(path)
    assert [name for name, _ in columns] == list(ACCEPTED | REFUSED)
    verdict = {name: type_supported(kind) for name, kind in columns}
    assert verdict == {name: name in ACCEPTED for name in ACCEPTED | REFUSED}, columns


def test_snapshot_columns_keep_the_file_own_names(tmp_path: Path) -> None:
    """DuckDB's reader renames a repeated name ('title_1'): the file's names are
    what compare checks (and refuses as equal ignoring case)."""
    path = tmp_path / "dup.parquet"
    table = pa.table([pa.array(["a"]), pa.array([{"x": 1}]), pa.array(["b"])],
                     names=["Title", "nested", "title"])
    pq.write_table(table, path)
    assert [name for name, _ in snapshot_columns(path)] == ["Title", "nested", "title"]


def test_hive_style_directories_add_no_column(tmp_path: Path) -> None:
    path = tmp_path / "dept=IT" / "ad.parquet"
    path.parent.mkdir()
    pq.write_table(pa.table({"sAMAccountName": ["jdoe"]}), path)
    assert snapshot_columns(path) == [("sAMAccountName", "VARCHAR")]


def test_a_file_without_columns_is_read_and_a_corrupt_one_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.parquet"
    pq.write_table(pa.table({}), empty)  # DuckDB refuses it; pyarrow reads it
    assert snapshot_columns(empty) == []
    assert snapshot_metadata(empty)[0] == 0
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(InputError, match=r"broken.parquet: not a readable Parquet file"):
        snapshot_columns(broken)
