"""situations.csv holds the findings only (docs/outputs.md, issue 19): every
row of situations.parquet but a linked account in sync (excluded ones stay), in the Parquet file's
order; summary.json's ``outputs`` and the report say how many rows it leaves
out and that situations.parquet holds them.

Tiny directory (what each account is, written down):
  alice   linked to E01, title equal             -> linked, in_sync: Parquet only
  bob     linked to E02, title differs           -> linked, drifted
  carl    no link, mail matches E03, title equal -> correlated, in_sync: kept
  administrator  protected, linked to E04, equal -> excluded: kept
  Dup, dup       one key twice, linked to E05    -> duplicate_key (both): kept
  zed     no identity                            -> unmatched
  E06     links to an account the endpoint lacks -> missing
  erin    linked to E07, title equal             -> linked, in_sync: Parquet only
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recondiff.compare import compare
from recondiff.engine.confine import lock_down, open_connection
from recondiff.io.sqlfiles import load, macros, render
from recondiff.report.render import render_html

ENDPOINT = """\
sAMAccountName,mail,title
alice,alice@ex.org,Engineer
bob,bob@ex.org,Engineer
carl,carl@ex.org,Engineer
administrator,admin@ex.org,Admin
Dup,dup@ex.org,Engineer
dup,dup@ex.org,Engineer
zed,zed@ex.org,Engineer
erin,erin@ex.org,Engineer
"""
REPOSITORY = """\
employee_id,ad_account,email,title
E01,alice,alice@ex.org,Engineer
E02,bob,bob@ex.org,Manager
E03,,carl@ex.org,Engineer
E04,administrator,admin@ex.org,Admin
E05,dup,dup@ex.org,Engineer
E06,gone,gone@ex.org,Engineer
E07,erin,erin@ex.org,Engineer
"""
CONFIG = """\
[endpoint]
name = "t"
snapshot = "endpoint.csv"
key = "sAMAccountName"
protected = ["administrator"]

[repository]
snapshot = "repository.csv"
key = "employee_id"
link = "ad_account"

[[correlation]]
name = "by-mail"
endpoint = "mail"
repository = "email"

[[attribute]]
endpoint = "title"
repository = "title"
"""
COLUMNS = ("situation", "sync", "endpoint_key", "identity_key", "endpoint_record")


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("findings")
    (base / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (base / "repository.csv").write_text(REPOSITORY, encoding="utf-8")
    (base / "recondiff.toml").write_text(CONFIG, encoding="utf-8")
    compare(base / "recondiff.toml", base / "out")
    return base / "out"


def csv_rows(out: Path) -> list[tuple[str, ...]]:
    with (out / "situations.csv").open(newline="", encoding="utf-8") as f:
        return [tuple(r[c] for c in COLUMNS) for r in csv.DictReader(f)]


def parquet_rows(out: Path) -> list[tuple[str, ...]]:
    rows = duckdb.execute(
        f"SELECT {', '.join(COLUMNS)} FROM read_parquet($p)", {"p": str(out / "situations.parquet")}
    ).fetchall()
    return [tuple("" if v is None else str(v) for v in r) for r in rows]


def summary(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    return data


def test_linked_accounts_in_sync_are_in_the_parquet_only(out: Path) -> None:
    every_row, findings = parquet_rows(out), csv_rows(out)
    in_sync = [r for r in every_row if r[:2] == ("linked", "in_sync")]
    assert sorted(r[2] for r in in_sync) == ["alice", "erin"]
    assert not any(r[2] in ("alice", "erin") for r in findings)
    # the CSV is the Parquet file without them, row for row, in its order
    assert findings == [r for r in every_row if r[:2] != ("linked", "in_sync")]
    assert len(every_row) == 9  # 8 endpoint records and the missing identity E06


def test_summary_says_how_many_rows_the_csv_leaves_out_and_where(out: Path) -> None:
    s = summary(out)
    assert s["outputs"] == {
        "situations_csv": {"rows": 7, "in_sync_left_out": 2, "every_record_in": "situations.parquet"},
        "situations_parquet": {"rows": 9},
    }
    assert s["outputs"]["situations_csv"]["rows"] == len(csv_rows(out))
    assert s["outputs"]["situations_parquet"]["rows"] == sum(s["situations"].values())
    assert s["sync_by_situation"]["linked"]["in_sync"] == 2


def test_excluded_duplicate_key_and_correlated_in_sync_rows_stay_in_the_csv(out: Path) -> None:
    """Only linked + in_sync leaves: an excluded or duplicate_key account whose
    values agree, and a correlated account in sync (it still lacks its link),
    are rows an analyst acts on."""
    kept = {(r[0], r[1], r[2]) for r in csv_rows(out)}
    assert ("excluded", "", "administrator") in kept
    assert {("duplicate_key", "", "Dup"), ("duplicate_key", "", "dup")} <= kept
    assert ("correlated", "in_sync", "carl") in kept
    assert ("linked", "drifted", "bob") in kept
    assert {r[0] for r in kept} == {
        "linked", "correlated", "unmatched", "missing", "excluded", "duplicate_key"
    }


def test_the_report_says_what_the_csv_leaves_out(out: Path) -> None:
    html = (out / "report.html").read_text(encoding="utf-8")
    assert (
        "<code>situations.csv</code> has 7 rows: every row but the 2 linked "
        "accounts in sync, which only <code>situations.parquet</code> holds (all 9 rows)"
    ) in html
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    files = {t["id"]: t["files"] for t in report["tables"]}
    assert files["linked-in_sync"] == ["situations.parquet"]
    assert files["linked-drifted"] == ["situations.csv", "situations.parquet"]
    assert files["correlated-in_sync"] == ["situations.csv", "situations.parquet"]


def test_a_report_json_from_before_says_nothing_of_it() -> None:
    """A report.json written when situations.csv held every record has no
    ``outputs``: `recondiff report` redraws it without the line, which would
    be false of that run's situations.csv."""
    fixture = Path(__file__).parent / "data" / "report" / "report.json"
    data = json.loads(fixture.read_text(encoding="utf-8"))
    assert 'id="outputs-note"' in render_html(data, None)
    del data["outputs"]
    assert 'id="outputs-note"' not in render_html(data, None)


def _staged(con: duckdb.DuckDBPyConnection, rows_sql: str, n: int = 0) -> None:
    """A staged situations table (results/situations_staged.sql's columns) made
    of ``rows_sql``, and the view and macros results/release_situation_table.sql
    defines over it."""
    con.execute(macros())
    con.execute(f"CREATE TEMP TABLE situations_staged AS {rows_sql}", {"n": n} if n else {})
    con.execute("CREATE TEMP TABLE situation (x INTEGER)")  # the step drops it
    con.execute(render("results/release_situation_table", dn="CAST(NULL AS VARCHAR)"))


_STAGED_COLUMNS = (
    "CAST({rank} AS UTINYINT) AS rank, CAST({n} AS UINTEGER) AS n, {key} AS endpoint_key,"
    " CAST(NULL AS VARCHAR) AS endpoint_dn, CAST(NULL AS VARCHAR) AS identity_key,"
    " CAST(NULL AS VARCHAR) AS rule, CAST(NULL AS VARCHAR[]) AS candidates,"
    " CAST({row} AS BIGINT) AS ep_row, CAST(NULL AS BIGINT) AS id_row"
)


def test_the_csv_copy_is_written_in_parallel_in_order(tmp_path: Path) -> None:
    """The filter keeps DuckDB's order-preserving parallel copy ("Batch Copy
    To File"); a join (an IN list, a semi-join on the in-sync keys) would turn
    it into a copy in the order threads finish (queries/results/situations_csv.sql)."""
    con = open_connection()
    con.execute("SET threads = 2")
    con = lock_down(con, files=(), directories=[tmp_path])
    try:
        _staged(con, "SELECT " + _STAGED_COLUMNS.format(rank=1, n="NULL", key="'a'", row=1))
        plan = con.execute(
            "EXPLAIN " + load("results/situations_csv"), {"path": str(tmp_path / "x.csv")}
        ).fetchall()
    finally:
        con.close()
    text = "\n".join(str(row[1]) for row in plan)
    assert "Batch Copy To File" in text, text


def test_the_findings_keep_the_staged_order_across_threads(tmp_path: Path) -> None:
    """The query alone, on a staged situations table of 300,000 rows (written on
    two threads) where linked accounts in sync, drifting ones and other
    situations alternate: the CSV is every row but the in-sync ones, in the
    table's order (tests/test_csv_outputs.py checks it end to end)."""
    n = 300_000
    # range % 6: linked in sync, linked drifted, excluded, linked in sync,
    # correlated in sync, duplicate_key (ranks from recondiff.vocabulary.SITUATIONS)
    rank = ("[1, 1, 8, 1, 2, 9][range % 6 + 1]")
    drift = "CASE WHEN range % 6 = 1 THEN 2 END"
    target = tmp_path / "situations.csv"
    con = open_connection()
    con.execute("SET threads = 2")
    con = lock_down(con, files=(), directories=[tmp_path])
    try:
        _staged(
            con,
            "SELECT " + _STAGED_COLUMNS.format(rank=rank, n=drift, key="printf('u%06d', range)",
                                                row="range + 1")
            + " FROM range($n)",
            n,
        )
        written = con.execute(load("results/situations_csv"), {"path": str(target)}).fetchall()
    finally:
        con.close()
    kinds = [("linked", "in_sync"), ("linked", "drifted"), ("excluded", None),
             ("linked", "in_sync"), ("correlated", "in_sync"), ("duplicate_key", None)]
    kept = [i + 1 for i in range(n) if kinds[i % 6] != ("linked", "in_sync")]
    assert written == [(len(kept),)]
    with target.open(newline="", encoding="utf-8") as f:
        assert [int(r["endpoint_record"]) for r in csv.DictReader(f)] == kept
