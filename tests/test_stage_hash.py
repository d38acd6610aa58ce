"""The staging hash may call two values equal only when their normal forms are
equal (recondiff/engine/slots.py, hashed): a pair it calls equal is reported in
sync and never looked at again, so a wrong "equal" would hide drift. The other
way round is only work for drift/differences.sql, which settles it exactly."""

from __future__ import annotations

import duckdb
import pytest

from recondiff.engine.slots import Column, hashed, normalised

# Case, blanks, whitespace, Unicode forms and the case mappings that leave ASCII
# (the Kelvin sign lower-cases to 'k'), and a pair that plain lower() would
# wrongly call equal: 'I' + U+0307 and 'i' + U+0307 lower-case alike, but the
# first composes (NFC) to U+0130, which folds to 'i' alone.
VALUES = [
    None, "", " ", "  ", "\t", "\u00a0", "a", "A", " a", "a ", "\u00a0a", "k", "K",
    "\u212a", "i", "I", "\u0130", "\u0131", "ss", "SS", "\u00df", "\u1e9e", "\u03c3",
    "\u03c2", "\u03a3", "e\u0301", "\u00e9", "\u00c9", "E\u0301", "Dz", "\u01c5", "\u01c6",
    "\u01c4", "\u212b", "\u00e5", "\u00c5", "abc", "ABC", "Abc ", "a\u00a0b", "a b",
    "i\u0307", "I\u0307", "\u0130x", "i\u0307x",
]
KINDS = ["exact", "trim", "casefold", "casefold_trim", "date", "integer", "boolean"]


@pytest.mark.parametrize("kind", KINDS)
def test_equal_hash_inputs_mean_equal_normal_forms(
    con: duckdb.DuckDBPyConnection, kind: str
) -> None:
    column = Column("v", "VARCHAR")
    rows = con.execute(
        f"WITH t AS (SELECT unnest($vs::VARCHAR[]) AS v) "
        f"SELECT v, {hashed(column, kind)}, {normalised(column, kind)} FROM t",
        {"vs": VALUES},
    ).fetchall()
    for v1, h1, n1 in rows:
        for v2, h2, n2 in rows:
            if h1 == h2 or (h1 is None and h2 is None):
                assert n1 == n2, f"{kind}: {v1!r} and {v2!r} hash alike, normalise apart"


def test_case_and_blank_spellings_of_ascii_text_hash_alike(
    con: duckdb.DuckDBPyConnection,
) -> None:
    """What the raw hash settles by itself: ASCII case for the folding kinds,
    '' against no value for every text kind (no drift pair to look at)."""
    column = Column("v", "VARCHAR")
    for kind, a, b in [("casefold", "Jane@Example.org", "jane@example.org"),
                       ("casefold_trim", "SALES", "Sales"), ("exact", "", None),
                       ("trim", "", None), ("casefold", "", None)]:
        got = con.execute(
            f"SELECT {hashed(column, kind)} IS NOT DISTINCT FROM "
            f"(SELECT {hashed(column, kind)} FROM (SELECT $b::VARCHAR AS v)) "
            "FROM (SELECT $a::VARCHAR AS v)",
            {"a": a, "b": b},
        ).fetchone()
        assert got == (True,), (kind, a, b)


def test_an_iso_date_is_hashed_as_its_normal_form(con: duckdb.DuckDBPyConnection) -> None:
    """The date kind's shortcut (an ISO date taken as it is) gives exactly rd_date:
    the hash of a date is its normal form's, however it is spelled."""
    column = Column("v", "VARCHAR")
    values = [
        "2025-03-01", "1000-01-01", "2999-12-31", "2024-02-29", "2025-02-29", "2025-02-30",
        "2025-04-31", "2025-13-01", "2025-00-10", "0999-01-01", "3000-01-01", "2025-3-1",
        " 2025-03-01", "2025-03-01 ", "20250301", "133862112000000000", "0", "never", "",
        None, "9223372036854775807", "2025-03-01T10:00:00Z", "2025-03-01\u00a0",
    ]
    rows = con.execute(
        f"SELECT v, {hashed(column, 'date')}, rd_date(v) "
        "FROM (SELECT unnest($vs::VARCHAR[]) AS v)",
        {"vs": values},
    ).fetchall()
    assert [(v, h) for v, h, _ in rows] == [(v, n) for v, _, n in rows]
