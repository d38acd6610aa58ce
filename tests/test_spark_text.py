"""The text macros on Spark: queries/macros/text.sql (and rd_trim of kinds.sql)
through recondiff.engine.spark_sql, against DuckDB, over every code point below
U+30000 (issue 21, point 3). Each value differs, or not, exactly as
docs/semantics.md ("On Spark") says: a new difference fails the test.

Needs pyspark (the test extra) and Java (Debian's default-jre-headless,
installed by scripts/test): skips without them, fails on CI."""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recondiff.engine import spark_sql
from recondiff.engine.spark_sql import REWRITES, Rewrite, macros_for_spark, register_udfs
from recondiff.io.sqlfiles import load
from tests.conftest import ROOT

pytestmark = pytest.mark.spark

# The macros that make keys and the text compare kinds; each returns text but
# rd_blank (a condition).
MACROS = ("rd_strip", "rd_blank", "rd_nfc", "rd_fold", "rd_key", "rd_trim")

# Every code point below U+30000 but the surrogates, in five values each: the
# character alone, between spaces and tabs (rd_strip's regular expression),
# before a letter (the fast paths look at the first and last character), last
# after a tab and a space (Java's `$` before a final line terminator), and
# marked with an acute and a dot below (NFC reorders the two and composes).
VALUES = """
COPY (
    SELECT row_number() OVER (ORDER BY cp, form) AS id, cp, form,
           CASE form WHEN 'alone' THEN chr(cp)
                     WHEN 'spaced' THEN ' ' || chr(cp) || 'x' || chr(cp) || chr(9)
                     WHEN 'before' THEN chr(cp) || 'X'
                     WHEN 'marked' THEN chr(cp) || chr(769) || chr(803)
                     ELSE chr(9) || chr(cp) || 'x ' || chr(cp) END AS v
    FROM (SELECT CAST(range AS INTEGER) AS cp FROM range(0, 196608)
          WHERE range < 55296 OR range > 57343),
         (VALUES ('alone'), ('spaced'), ('before'), ('last'), ('marked')) AS f(form)
) TO '{path}' (FORMAT parquet)
"""

FORMS = {"alone", "spaced", "before", "last", "marked"}

# Letters that Spark's case mapping folds and DuckDB's (older Unicode tables)
# keeps as they are: Cyrillic TJE, Latin additions and Garay (Unicode 16.0),
# Beria Erfe (Unicode 17.0).
NEWER_LETTERS = [
    0x1C89, 0xA7CB, 0xA7CC, 0xA7CE, 0xA7D2, 0xA7D4, 0xA7DA, 0xA7DC,
    *range(0x10D50, 0x10D66),
    *range(0x16EA0, 0x16EB9),
]  # fmt: skip

# Unicode 15.0 combining marks (Cyrillic U+1E08F, Nag Mundari U+1E4EC-U+1E4EF):
# DuckDB puts the dot below (class 220) before them, Python's unicodedata of
# Unicode 14.0 (Python 3.11) knows no class for them and keeps the order.
NEWER_MARKS = [0x1E08F, 0x1E4EC, 0x1E4ED, 0x1E4EF]
OLD_UNICODEDATA = tuple(map(int, unicodedata.unidata_version.split("."))) < (15, 0)
# U+0000 then marks: DuckDB's nfc_normalize gives '' (it stops at the NUL).
MARKED = [0x0, *(NEWER_MARKS if OLD_UNICODEDATA else [])]

# What differs, and only that: (macro, code point) -> the forms of the value
# that differ. docs/semantics.md "On Spark" has one row per code point.
DOCUMENTED: dict[tuple[str, int], set[str]] = {
    (m, cp): FORMS for m in ("rd_fold", "rd_key") for cp in NEWER_LETTERS
} | {(m, cp): {"marked"} for m in ("rd_nfc", "rd_trim", "rd_fold", "rd_key") for cp in MARKED}


def has_java() -> bool:
    """Java as pyspark finds it: $JAVA_HOME/bin/java, else java on the PATH."""
    home = os.environ.get("JAVA_HOME")
    return Path(home, "bin", "java").is_file() if home else shutil.which("java") is not None


def define_macros(session: Any, rewrites: tuple[Rewrite, ...] = REWRITES) -> None:
    """The UDFs and the Spark form of MACROS on ``session``."""
    register_udfs(session)
    for statement in macros_for_spark(load("macros/text"), rewrites=rewrites):
        session.sql(statement)
    for statement in macros_for_spark(load("macros/kinds"), names={"rd_trim"}, rewrites=rewrites):
        session.sql(statement)


@pytest.fixture(scope="module")
def spark(spark_session: Any) -> Iterator[Any]:
    """The worker's shared session (tests/conftest.py) with MACROS as Spark SQL
    functions (temporary: the runner of the other spark files expands its
    macros inline and calls none of them)."""
    define_macros(spark_session)
    yield spark_session


def differences(
    spark: Any, con: duckdb.DuckDBPyConnection, tmp: Path
) -> dict[tuple[str, int], set[str]]:
    """Every (macro, code point) whose result differs between DuckDB and Spark,
    with the forms of the value that differ. Spark writes its results as
    Parquet; DuckDB joins them to its own (collecting 800,000 rows through
    py4j would take longer than computing them)."""
    values, results = tmp / "values.parquet", tmp / "spark"
    con.execute(VALUES.format(path=values))
    columns = ", ".join(f"{m}(v) AS {m}" for m in MACROS)
    spark.read.parquet(str(values)).createOrReplaceTempView("vals")
    spark.sql(f"SELECT id, {columns} FROM vals").write.parquet(str(results))
    found: dict[tuple[str, int], set[str]] = {}
    for m in MACROS:
        rows = con.execute(
            f"SELECT d.cp, d.form FROM (SELECT id, cp, form, {m}(v) AS r"  # names of MACROS
            f" FROM read_parquet($values)) AS d JOIN read_parquet($results) AS s USING (id)"
            f" WHERE d.r IS DISTINCT FROM s.{m}",
            {"values": str(values), "results": f"{results}/*.parquet"},
        ).fetchall()
        for cp, form in rows:
            found.setdefault((m, cp), set()).add(form)
    return found


def test_text_macros_agree_with_duckdb_but_where_documented(
    spark: Any, con: duckdb.DuckDBPyConnection, tmp_path: Path
) -> None:
    found = differences(spark, con, tmp_path)
    new = {k: v for k, v in found.items() if DOCUMENTED.get(k) != v}
    gone = {k: v for k, v in DOCUMENTED.items() if k not in found}
    assert not new, f"differences not in docs/semantics.md 'On Spark': {sorted(new.items())[:40]}"
    assert not gone, f"documented differences no longer found: {sorted(gone.items())[:40]}"


def test_the_rule_book_lists_the_documented_code_points() -> None:
    text = (ROOT / "docs" / "semantics.md").read_text(encoding="utf-8")
    section = text.split("## On Spark", 1)[1].split("\n## ", 1)[0]
    listed = {int(cp, 16) for cp in re.findall(r"^\| U\+([0-9A-F]{4,5}) ", section, re.M)}
    assert listed == {0x0, *NEWER_MARKS, *NEWER_LETTERS}


# Values on which each rewrite matters: without it, Spark gives another result
# than DuckDB for one of them (or cannot run the macros at all).
WITNESSES = [
    "\u00a0x",  # trim: U+00A0 is a space separator
    "\tx\u2028",  # \v: U+2028 is no vertical tab in RE2
    "\tx \u2028",  # $: not before a final line terminator
    "\u03c2",  # ς: folds to σ through upper()
    "Stra\u00dfe",  # ß: upper() maps it to one code point on DuckDB
    "jose\u0301",  # NFC
]


# The rewrites the text macros need (the others serve the compare's steps and the
# plan's events: tests/test_spark_sql.py, test_spark_cases.py, test_spark_events.py).
TEXT_REWRITES = (
    spark_sql.fold_per_code_point,
    spark_sql.strlen_is_bytes,
    spark_sql.text_element_is_substring,
    spark_sql.nfc_is_a_udf,
    spark_sql.trim_strips_unicode_spaces,
    spark_sql.regex_vertical_tab,
    spark_sql.regex_end_is_end,
)


@pytest.mark.parametrize("rewrite", TEXT_REWRITES, ids=lambda r: r.__name__)
def test_each_rewrite_is_needed(
    spark: Any, con: duckdb.DuckDBPyConnection, rewrite: Rewrite
) -> None:
    """A session whose macros lack one rewrite gives another result than
    DuckDB on WITNESSES (or none): the rewrite is not dead weight."""
    columns = ", ".join(f"{m}(v)" for m in MACROS)
    duck = con.execute(
        f"SELECT {columns} FROM unnest($vs::VARCHAR[]) AS t(v)", {"vs": WITNESSES}
    ).fetchall()
    session = spark.newSession()
    try:
        define_macros(session, tuple(r for r in REWRITES if r is not rewrite))
        rows = session.createDataFrame([(v,) for v in WITNESSES], "v string")
        rows.createOrReplaceTempView("witnesses")
        found = [tuple(r) for r in session.sql(f"SELECT {columns} FROM witnesses").collect()]
    except Exception as error:  # a function Spark does not know (strlen, ...)
        assert "UNRESOLVED_ROUTINE" in str(error) or "cannot be found" in str(error), error
        return
    assert found != duck
    full = spark.createDataFrame([(v,) for v in WITNESSES], "v string")
    full.createOrReplaceTempView("witnesses")
    assert [tuple(r) for r in spark.sql(f"SELECT {columns} FROM witnesses").collect()] == duck
