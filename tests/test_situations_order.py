"""situations.parquet is in its documented order at a size DuckDB spreads over
threads and row groups: by situation (docs/design.md order), then the endpoint
record, missing identities by key; situation and sync are spelled after the
sort from the rank it carries (queries/results/situations_parquet.sql).

Written down (200,000 accounts u000000..u199999, record i+1 for account i):
  i % 4 == 0  linked to identity i; its title drifts when i % 8 == 0
  i % 4 == 1  linked to identity i, whose status is deleted -> deleted_in_repository
  i % 4 in 2, 3                                              -> unmatched
  20,000 identities m00000..m19999 linked to absent accounts  -> missing
"""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from recondiff.compare import compare
from recondiff.engine.confine import lock_down, open_connection
from recondiff.io.sqlfiles import macros, query_dir
from recondiff.vocabulary import SITUATIONS

ORDER = list(SITUATIONS)
N, MISSING = 200_000, 20_000


@pytest.mark.slow
def test_situations_parquet_is_sorted_across_threads(tmp_path: Path) -> None:
    con = duckdb.connect()
    con.execute(
        "COPY (SELECT printf('u%06d', range) AS key, 'Engineer' AS title FROM range($n))"
        " TO $p (FORMAT parquet, ROW_GROUP_SIZE 50000)",
        {"n": N, "p": str(tmp_path / "endpoint.parquet")},
    )
    con.execute(
        "COPY (SELECT CAST(range AS VARCHAR) AS id, printf('u%06d', range) AS account,"
        " CASE WHEN range % 4 = 1 THEN 'deleted' ELSE 'active' END AS status,"
        " CASE WHEN range % 8 = 0 THEN 'Manager' ELSE 'Engineer' END AS title"
        " FROM range($n) WHERE range % 4 IN (0, 1)"
        " UNION ALL SELECT printf('m%05d', range), printf('gone%05d', range), 'active', 'x'"
        " FROM range($m)) TO $p (FORMAT parquet, ROW_GROUP_SIZE 50000)",
        {"n": N, "m": MISSING, "p": str(tmp_path / "repository.parquet")},
    )
    (tmp_path / "recondiff.toml").write_text(
        '[endpoint]\nname = "t"\nsnapshot = "endpoint.parquet"\nkey = "key"\n\n'
        '[repository]\nsnapshot = "repository.parquet"\nkey = "id"\nlink = "account"\n'
        'status = "status"\ndeleted_values = ["deleted"]\n\n'
        '[[attribute]]\nendpoint = "title"\nrepository = "title"\n\n'
        '[engine]\nthreads = 2\n',
        encoding="utf-8",
    )
    compare(tmp_path / "recondiff.toml", tmp_path / "out")
    rows = con.execute(
        "SELECT situation, sync, endpoint_key, identity_key, endpoint_record"
        " FROM read_parquet($p, file_row_number = true) ORDER BY file_row_number",
        {"p": str(tmp_path / "out" / "situations.parquet")},
    ).fetchall()
    assert len(rows) == N + MISSING
    ranks = [ORDER.index(r[0]) for r in rows]
    assert ranks == sorted(ranks)
    by = {s: [r for r in rows if r[0] == s] for s in ORDER}
    assert {s: len(v) for s, v in by.items() if v} == {
        "linked": N // 4, "unmatched": N // 2, "missing": MISSING,
        "deleted_in_repository": N // 4,
    }
    for s in ("linked", "unmatched", "deleted_in_repository"):
        records = [r[4] for r in by[s]]
        assert records == sorted(records), s
        assert all(r[2] == f"u{r[4] - 1:06d}" for r in by[s]), s
    assert [r[3] for r in by["missing"]] == [f"m{j:05d}" for j in range(MISSING)]
    # sync only for linked (and correlated) pairs, from the drift count carried
    assert {r[1] for s, v in by.items() if s != "linked" for r in v} <= {None}
    drifted = [r[4] - 1 for r in by["linked"] if r[1] == "drifted"]
    assert drifted == [i for i in range(0, N, 8)]
    assert sum(r[1] == "in_sync" for r in by["linked"]) == N // 4 - N // 8


def test_sql_takes_the_situations_and_their_ranks_from_the_vocabulary() -> None:
    """rd_situations() is recondiff.vocabulary.SITUATIONS, bound on the run's
    connection; rd_rank is a situation's place in it."""
    con = lock_down(open_connection(), files=(), directories=())
    con.execute(macros())
    assert con.execute("SELECT rd_situations()").fetchone() == (list(SITUATIONS),)
    for rank, situation in enumerate(SITUATIONS, 1):
        assert con.execute("SELECT rd_rank($s)", {"s": situation}).fetchone() == (rank,)


# A rank written as a number: "rank = 7", "rank <= 2", "SELECT 6, 'missing'"
_NUMBERED_RANK = re.compile(
    r"\brank\s*(?:=|<>|!=|<=|>=|<|>|IN\s*\()\s*\d|SELECT\s+\d+\s*,\s*'(?:"
    + "|".join(SITUATIONS)
    + ")'",
    re.IGNORECASE,
)


def test_no_query_writes_a_situation_rank_as_a_number() -> None:
    found = [
        f"{path.relative_to(query_dir())}: {match.group(0)}"
        for path in sorted(query_dir().rglob("*.sql"))
        for match in _NUMBERED_RANK.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []
