"""Huge values stay out of report.html (and report.json): a value longer than
the report shows is cut in SQL where it is fetched, with its full length and a
pointer to the CSV files; no raw NUL reaches a page or a CSV.

One 20 MB cell made report.html 84 MB before this.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recondiff.compare import compare
from recondiff.io.sqlfiles import macros
from recondiff.report.values import shown
from tests.conftest import read_only

HUGE = 20 * 1024 * 1024
LONG = 300_000
CONFIG = """\
[endpoint]
name = "ad"
snapshot = "endpoint.parquet"
key = "uid"
multi_valued = ["groups"]

[repository]
snapshot = "repository.csv"
key = "employee_id"
link = "account"
multi_valued = ["groups"]

[[attribute]]
endpoint = "title"
repository = "title"
on_drift = "update_endpoint"

[[attribute]]
endpoint = "groups"
repository = "groups"
compare = "set"
on_drift = "update_endpoint"

[[attribute.rule]]
match = "g*"
alert = "a huge group"
"""


def run(tmp_path: Path) -> Path:
    title = "T" * HUGE
    group = "g" + "x" * (LONG - 1)
    key = "k" * LONG
    table = pa.table(
        {
            "uid": ["alice", "bob", key, "nul\x00key"],
            "title": [title, "Eng\x00ineer", "x", "y"],
            "groups": [[group, "small"], ["small"], [group], []],
        }
    )
    pq.write_table(table, tmp_path / "endpoint.parquet")
    (tmp_path / "repository.csv").write_text(
        "employee_id,account,title,groups\n1,alice,Engineer,small\n2,bob,Engineer,small\n"
        f"3,carol,{'R' * 5000},\n",
        encoding="utf-8",
    )
    (tmp_path / "recondiff.toml").write_text(CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    compare(tmp_path / "recondiff.toml", out)
    return out


@pytest.fixture(scope="module")
def huge_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``run`` once per module: its ``out``, read-only for the tests that read it."""
    folder = tmp_path_factory.mktemp("huge")
    out = run(folder)
    with read_only(folder):
        yield out


def test_a_20_mb_value_leaves_the_report_small_and_says_its_length(huge_out: Path) -> None:
    out = huge_out
    html = (out / "report.html").read_text(encoding="utf-8")
    assert len(html.encode("utf-8")) < 1_000_000
    assert (out / "report.json").stat().st_size < 1_000_000
    assert f"[{HUGE:,} characters; the whole value is in the CSV files or the snapshot]" in html
    assert f"[{LONG:,} characters; the whole value is in the CSV files or the snapshot]" in html
    assert "[5,000 characters; the whole value is in the CSV files or the snapshot]" in html
    # the CSV files keep the whole value
    assert (out / "drift.csv").stat().st_size > HUGE


def test_no_raw_nul_in_any_output_text(huge_out: Path) -> None:
    out = huge_out
    for name in ("situations.csv", "drift.csv", "drift_diff.csv", "report.html", "report.json"):
        data = (out / name).read_bytes()
        assert b"\x00" not in data, name
    assert "Eng\u2400ineer".encode() in (out / "drift.csv").read_bytes()
    assert "nul\u2400key".encode() in (out / "situations.csv").read_bytes()


@pytest.mark.parametrize(
    "value",
    [None, "", "short", "x" * 300, "x" * 301, "é" * 300, "é" * 301, "😀" * 400,
     "a\x00b", "\x00" * 500, "e\u0301" * 200],
)
def test_the_python_cut_is_the_sql_cut(value: str | None) -> None:
    """report/values.py shown() (for what the page takes from plan.jsonl) = queries/macros/output.sql rd_shown."""
    con = duckdb.connect()
    con.execute(macros())
    row = con.execute("SELECT rd_shown(CAST($v AS VARCHAR))", {"v": value}).fetchone()
    assert row is not None
    assert row[0] == shown(value)
    if value is not None and len(value) > 300:
        assert row[0].startswith(value[:200].replace("\x00", "\u2400") + "… [")
