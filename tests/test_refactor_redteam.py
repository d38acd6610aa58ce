"""Second reader of the issue 15 refactor (no change of behaviour): config
split, compare as named phases, review package and the CSV convention.

Each test names the hole it closes (it fails on the code before the fix) or
pins behaviour the refactor moved (it passes on 4403822 and now).
"""

from __future__ import annotations

import re

import duckdb
import pytest

from recondiff.io.sqlfiles import macros, query_dir
from recondiff.vocabulary import SITUATIONS

# --- situations from the vocabulary (queries/macros/situations.sql) ---------------------


def _bare_connection() -> duckdb.DuckDBPyConnection:
    """A connection with the macros but not opened by engine/confine.open_connection
    (history.py's, a test's, a benchmark's): no rd_situations variable."""
    con = duckdb.connect()
    con.execute(macros())
    return con


@pytest.mark.parametrize(
    ("sql", "right"),
    [
        ("SELECT rd_situations()", list(SITUATIONS)),
        ("SELECT rd_rank('linked')", 1),
        ("SELECT rd_rank('missing')", SITUATIONS.index("missing") + 1),
        ("SELECT rd_situations()[rank] FROM (VALUES (1)) t(rank)", SITUATIONS[0]),
    ],
)
def test_situations_never_come_out_null_on_a_connection_without_the_variable(
    sql: str, right: object
) -> None:
    """Hole: rd_situations() became getvariable('rd_situations'), which only
    engine/confine.open_connection sets. On any other connection with the
    macros (history.py runs them on its own) it was NULL, so every rank was
    NULL and every situation spelled from a rank NULL, silently; at 4403822
    the list was written in the macro and the answer was right. Now it is the
    right answer or an error naming what is missing, never NULL."""
    con = _bare_connection()
    try:
        row = con.execute(sql).fetchone()
    except duckdb.Error as exc:
        assert "rd_situations" in str(exc) and "open_connection" in str(exc), exc
        return
    assert row == (right,)


def test_the_error_costs_nothing_when_the_variable_is_set() -> None:
    """With the variable set (the run's connection), rd_rank folds to a plain
    list_position over a constant list: no CASE or error() left per row."""
    from recondiff.engine.confine import lock_down, open_connection

    con = lock_down(open_connection(), files=(), directories=())
    con.execute(macros())
    plan = "\n".join(
        str(r[1])
        for r in con.execute("EXPLAIN SELECT rd_rank(CAST(range AS VARCHAR)) FROM range(3)")
        .fetchall()
    )
    assert "error" not in plan.lower() and "CASE" not in plan, plan
    assert con.execute("SELECT rd_situations()").fetchone() == (list(SITUATIONS),)


def test_every_rank_a_query_names_is_a_situation() -> None:
    """rd_rank('...') of a misspelt situation is NULL: every literal one is in
    the vocabulary."""
    named = {
        (path.relative_to(query_dir()).as_posix(), m.group(1))
        for path in query_dir().rglob("*.sql")
        if path.parent.name != "macros"  # the definition (its comment says rd_rank('...'))
        for m in re.finditer(r"rd_rank\(\s*'([^']*)'\s*\)", path.read_text(encoding="utf-8"))
    }
    assert named, "no rd_rank('...') found: the pattern is stale"
    assert {(f, s) for f, s in named if s not in SITUATIONS} == set()
