"""recondiff.engine.spark_sql without Spark: each named rewrite's Spark SQL, and
macro files as Spark SQL functions. tests/test_spark_text.py runs them on Spark."""

from __future__ import annotations

import re

import pytest

from recondiff.engine.spark_sql import REWRITES, macros_for_spark, nfc, to_spark
from recondiff.io.sqlfiles import load


def test_plain_sqlglot_where_no_trap() -> None:
    assert to_spark("SELECT nullif(lower(v), '') FROM t") == "SELECT NULLIF(LOWER(v), '') FROM t"


def test_strlen_counts_bytes() -> None:
    assert to_spark("strlen(v) = length(v)") == "OCTET_LENGTH(v) = LENGTH(v)"


def test_array_extract_on_text_is_a_substring() -> None:
    assert to_spark("array_extract(v, -1)", text_names={"v"}) == "SUBSTRING(v, -1, 1)"
    # not known to be text: left for the rewrite of lists
    assert to_spark("array_extract(xs, -1)") == "ARRAY_EXTRACT(xs, -1)"


def test_nfc_normalize_is_the_udf() -> None:
    assert to_spark("nfc_normalize(v)") == "RD_NFC_UDF(v)"
    assert nfc("jose\u0301") == "jos\u00e9"
    assert nfc(None) is None


def test_trim_strips_the_space_separators() -> None:
    assert to_spark("trim(v)") == r"REGEXP_REPLACE(v, '^\\p{Zs}+|\\p{Zs}+\\z', '')"
    # characters given: Spark reads it as DuckDB does
    assert "REGEXP" not in to_spark("trim(v, 'x')")


def test_regex_vertical_tab_is_one_character() -> None:
    out = to_spark(r"regexp_replace(v, '[\s\v]+', '', 'g')")
    assert out == r"REGEXP_REPLACE(v, '[\\s\\x0B]+', '')"
    # an escaped backslash before a v is no \v
    assert to_spark(r"regexp_replace(v, '\\v', '', 'g')") == r"REGEXP_REPLACE(v, '\\\\v', '')"


def test_regex_end_is_the_very_end() -> None:
    out = to_spark(r"regexp_replace(v, '^a+|[$]b$', '', 'g')")
    assert out == r"REGEXP_REPLACE(v, '^a+|[$]b\\z', '')"
    # an escaped dollar is a dollar
    assert to_spark(r"regexp_replace(v, '\$', '', 'g')") == r"REGEXP_REPLACE(v, '\\$', '')"


def test_fold_maps_per_code_point_and_escapes_the_optimizer() -> None:
    out = to_spark("lower(upper(v))")
    assert out.startswith("ARRAY_JOIN(TRANSFORM(REGEXP_EXTRACT_ALL(v, '(?s).', 0), rd_c ->")
    assert "LOWER(UPPER(" not in out  # Spark's optimizer would read it as LOWER(v)
    assert "LOWER(SUBSTRING(UPPER(rd_c), 1))" in out
    assert to_spark("lower(v)") == "LOWER(v)"


def test_every_rewrite_says_its_trap() -> None:
    for rewrite in REWRITES:
        assert rewrite.__doc__ and "Spark" in rewrite.__doc__, rewrite.__name__


def test_text_macros_as_spark_functions() -> None:
    functions = macros_for_spark(load("macros/text"))
    names = [re.match(r"CREATE OR REPLACE TEMPORARY FUNCTION (\w+)\(", f)[1] for f in functions]  # type: ignore[index]
    assert names == ["rd_strip", "rd_blank", "rd_value", "rd_nfc", "rd_fold", "rd_key"]
    blank = functions[1]
    assert blank.startswith(
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_blank(v STRING) RETURNS BOOLEAN RETURN "
    )
    assert all(" RETURNS STRING RETURN " in f for i, f in enumerate(functions) if i != 1)
    assert not any("/*" in f or "MACRO" in f for f in functions)  # comments and DuckDB words gone


def test_only_the_named_macros() -> None:
    functions = macros_for_spark(load("macros/kinds"), names={"rd_trim"})
    assert functions == [
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_trim(v STRING) RETURNS STRING"
        " RETURN RD_NFC(NULLIF(RD_STRIP(v), ''))"
    ]


@pytest.mark.parametrize("sql", ["CREATE OR REPLACE MACRO m(a, b) AS a || b;"])
def test_every_argument_is_text(sql: str) -> None:
    assert macros_for_spark(sql) == [
        "CREATE OR REPLACE TEMPORARY FUNCTION m(a STRING, b STRING) RETURNS STRING RETURN a || b"
    ]
