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
    assert names == ["rd_strip", "rd_blank", "rd_value", "rd_nfc", "rd_fold", "rd_fold_nfc", "rd_key"]
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


# --- the plan's events (queries/plan/events.sql, macros/events.sql) -------------------


def test_every_macro_parses_as_a_macro() -> None:
    """sqlglot reads a macro body that begins with a string as a function's body
    text and the rest as a command (rd_event_id, rd_finding_key before their
    parentheses): the macro would be unknown on Spark."""
    import sqlglot
    from sqlglot import exp

    from recondiff.engine.spark_sql import SOURCE
    from recondiff.io.sqlfiles import MACROS

    for name in MACROS:
        for statement in sqlglot.parse(load(name), read=SOURCE):
            assert isinstance(statement, exp.Create), f"{name}: {statement.sql()[:100]}"


def test_len_is_a_list_size_and_the_queries_spell_text_length() -> None:
    assert to_spark("len(l) + length(s)") == "SIZE(l) + LENGTH(s)"
    # the house rule the rewrite rests on: len() only for lists
    from recondiff.io.sqlfiles import query_dir

    for path in query_dir().rglob("*.sql"):
        text = path.read_text(encoding="utf-8")
        for call in re.findall(r"\blen\(([^()]*)", text):
            assert not call.strip().startswith("'"), f"{path}: len() of text: {call}"


def test_text_slice_is_a_substring() -> None:
    assert to_spark("sha256(x)[1:16]") == "SUBSTRING(SHA2(x, 256), 1, 16)"
    # [1:-2]: all but the last character (DuckDB's 'abcd'[1:-2] is 'abc')
    assert to_spark("('a' || v)[1:-2]") == "SUBSTRING(('a' || v), 1, LENGTH(('a' || v)) - 1)"
    # a list's slice is slice()
    assert to_spark("l[1:2]") == "SLICE(l, 1, 2)"


def test_lambda_index_counts_from_one() -> None:
    assert to_spark("list_transform(l, lambda x, i: i)") == "TRANSFORM(l, (x, i) -> (i + 1))"
    # a field named like it, and an inner lambda that binds the name again, stay
    assert to_spark("list_transform(l, lambda x, i: x.i + list_transform(m, lambda i: i)[1])") == (
        "TRANSFORM(l, (x, i) -> x.i + TRY_ELEMENT_AT(TRANSFORM(m, i -> i), 1))"
    )


def test_list_position_is_null_when_absent_and_finds_null() -> None:
    assert to_spark("list_position(l, v)") == (
        "IF(v IS NULL, NULLIF(ARRAY_POSITION(TRANSFORM(l, rd_n -> rd_n IS NULL), TRUE), 0),"
        " NULLIF(ARRAY_POSITION(l, v), 0))"
    )


def test_flatten_skips_null_lists() -> None:
    assert to_spark("flatten(l)") == "FLATTEN(FILTER(l, rd_n -> NOT rd_n IS NULL))"


def test_list_count_counts_values() -> None:
    assert to_spark("list_aggregate(l, 'count')") == "SIZE(FILTER(l, rd_n -> NOT rd_n IS NULL))"
    with pytest.raises(ValueError, match="no Spark form"):
        to_spark("list_aggregate(l, 'max')")


def test_list_contains_is_false_beside_nulls() -> None:
    assert to_spark("list_contains(l, v)") == (
        "IF(v IS NULL, NULL, COALESCE(ARRAY_CONTAINS(l, v), FALSE))"
    )


def test_list_extract_is_one_based() -> None:
    assert to_spark("list_extract(l, 2)") == "TRY_ELEMENT_AT(l, 2)"
    assert to_spark("list_extract(l, i)") == (
        "IF(i = 0, NULL, TRY_ELEMENT_AT(l, CAST(i AS INT)))"
    )


def test_chr_is_a_code_point() -> None:
    assert to_spark("chr(30)") == "CHR(30)"
    assert to_spark("chr(9216)") == "'\u2400'"
    assert to_spark("chr(n)") == "FORMAT_STRING('%c', CAST(n AS INT))"


def test_url_decode_keeps_plus() -> None:
    # Java's URLDecoder reads '+' as a space; rd_dn cuts multi-valued RDNs on it
    assert to_spark("url_decode(v)") == "URL_DECODE(REPLACE(v, '+', '%2B'))"
    # try() has no general Spark form (sqlglot drops it)
    assert to_spark("try(url_decode(v))") == "TRY_URL_DECODE(REPLACE(v, '+', '%2B'))"


def test_regex_back_reference_is_java_s() -> None:
    # rd_dn_escape: a backslash before the character matched; a $ is itself
    assert to_spark(r"regexp_replace(v, '([,+])', '\\\1$', 'g')") == (
        r"REGEXP_REPLACE(v, '([,+])', '\\\\$1\\$')"
    )


def test_json_is_a_type() -> None:
    assert to_spark("to_json({'a': v})") == (
        "PARSE_JSON(TO_JSON(STRUCT(v AS a), MAP('ignoreNullFields', 'false')))"
    )
    # hashed: its text
    assert to_spark("sha256(to_json({'a': v}))") == (
        "SHA2(TO_JSON(STRUCT(v AS a), MAP('ignoreNullFields', 'false')), 256)"
    )
    assert to_spark("CAST(s AS JSON)") == "PARSE_JSON(s)"


def test_unnest_is_a_lateral_view() -> None:
    assert to_spark(
        "SELECT generate_subscripts($l::INT[], 1) AS i, unnest($l::INT[]) AS v"
    ) == (
        "SELECT rd_pos + 1 AS i, rd_val AS v FROM (SELECT 1)"
        " LATERAL VIEW POSEXPLODE(CAST(:l AS ARRAY<INT>)) rd_unnest AS rd_pos, rd_val"
    )
    assert to_spark("SELECT a, unnest(l, recursive := true) FROM t") == (
        "SELECT a, rd_val.* FROM t LATERAL VIEW POSEXPLODE(l) rd_unnest AS rd_pos, rd_val"
    )


def test_union_by_name_is_by_place() -> None:
    sql = to_spark(
        "WITH a AS (SELECT 1 AS x, 2 AS y), b AS (SELECT 3 AS y, 4 AS x, 5 AS z) "
        "SELECT * FROM a UNION ALL BY NAME SELECT * FROM b"
    )
    assert sql.endswith(
        "SELECT x, y, NULL AS z FROM (SELECT * FROM a) AS rd_b"
        " UNION ALL SELECT x, y, z FROM (SELECT * FROM b) AS rd_b"
    )
    with pytest.raises(ValueError, match="no Spark form"):
        to_spark("SELECT * FROM t UNION ALL BY NAME SELECT * FROM u")


def test_nfc_in_a_lambda_is_java() -> None:
    assert to_spark("list_transform(l, lambda v: nfc_normalize(v))") == (
        "TRANSFORM(l, v -> IF(v IS NULL, NULL,"
        " REFLECT('com.ibm.icu.text.Normalizer', 'compose', CAST(v AS STRING), FALSE)))"
    )
    assert to_spark("nfc_normalize(v)") == "RD_NFC_UDF(v)"


def test_nested_rewrites_are_all_made() -> None:
    """A rewrite that replaces a node holding another it rewrites (l[m[1]])."""
    assert to_spark("l[m[1]]") == (
        "IF(TRY_ELEMENT_AT(m, 1) = 0, NULL, TRY_ELEMENT_AT(l, CAST(TRY_ELEMENT_AT(m, 1) AS INT)))"
    )


# --- the rewrites of the compare's steps (tests/test_spark_cases.py runs them on Spark)


def test_hugeint_is_a_decimal_of_38_digits() -> None:
    assert to_spark("CAST(v AS HUGEINT)") == "CAST(v AS DECIMAL(38, 0))"
    assert "INT128" not in to_spark("try_cast(v AS HUGEINT) // 10")


def test_list_index_counts_from_one_and_is_null_past_the_end() -> None:
    # sqlglot alone: a[0] for a[1], a[-2] for a[-1], and an expression left 1-based
    assert to_spark("a[1]") == "TRY_ELEMENT_AT(a, 1)"
    assert to_spark("a[-1]") == "TRY_ELEMENT_AT(a, -1)"
    assert to_spark("a[i]") == "IF(i = 0, NULL, TRY_ELEMENT_AT(a, CAST(i AS INT)))"
    # inside a lambda too, and a string key (a map's) is left alone
    assert to_spark("list_filter(xs, lambda x: x[1] = 'a')") == (
        "FILTER(xs, x -> TRY_ELEMENT_AT(x, 1) = 'a')"
    )
    assert to_spark("m['k']") == "m['k']"


def test_list_slice_is_inclusive_and_one_based() -> None:
    assert to_spark("a[1:5]") == "SLICE(a, 1, 5)"
    assert to_spark("a[2:3]") == "SLICE(a, 2, 2)"
    with pytest.raises(ValueError, match="slice"):
        to_spark("a[i:]")


def test_ordered_list_keeps_its_order_its_nulls_and_is_null_over_no_row() -> None:
    out = to_spark("list(x ORDER BY k)")
    assert out == (
        "IF(COUNT(1) = 0, NULL, TRANSFORM(ARRAY_SORT(COLLECT_LIST(NAMED_STRUCT("
        "'n0', k IS NULL, 'k0', k, 'v', x))), rd_e -> rd_e.v))"
    )
    # no ORDER BY: still the NULLs kept (a struct is never NULL) and NULL over no row
    assert to_spark("list(x)") == (
        "IF(COUNT(1) = 0, NULL, TRANSFORM(COLLECT_LIST(NAMED_STRUCT('v', x)), rd_e -> rd_e.v))"
    )
    # a FILTER applies to both aggregates
    out = to_spark("list(x ORDER BY k) FILTER (WHERE d)")
    assert "COUNT(1) FILTER(WHERE d) = 0" in out
    assert "COLLECT_LIST(NAMED_STRUCT('n0', k IS NULL, 'k0', k, 'v', x)) FILTER(WHERE d)" in out
    with pytest.raises(ValueError):
        to_spark("list(x ORDER BY k DESC)")


def test_full_match_is_anchored_at_both_ends() -> None:
    assert to_spark("regexp_full_match(v, '[0-9]{8}')") == r"v RLIKE '^(?:[0-9]{8})\\z'"
    assert to_spark("regexp_full_match(v, p)") == r"v RLIKE '^(?:' || p || ')\\z'"


def test_regex_replacement_in_java_spelling_and_options_kept() -> None:
    assert to_spark(r"regexp_replace(v, '(a)', '\1-$', 'g')") == (
        r"REGEXP_REPLACE(v, '(a)', '$1-\\$')"
    )
    assert to_spark("regexp_replace(v, 'a', 'b', 'gi')") == "REGEXP_REPLACE(v, '(?i)a', 'b')"
    # first match only: the same where the pattern is anchored at its start
    assert to_spark(r"regexp_replace(v, '^(a)', '\1')") == "REGEXP_REPLACE(v, '^(a)', '$1')"
    with pytest.raises(ValueError):
        to_spark("regexp_replace(v, 'a', 'b')")  # Spark would replace every match


def test_hash_is_64_bit_and_tells_nulls_apart() -> None:
    assert to_spark("hash(v)") == "XXHASH64(v IS NULL, CAST(v AS STRING), v)"
    # a hash of hashes: each inner one is a number, never NULL
    assert to_spark("hash(hash(a), hash(b))") == (
        "XXHASH64(XXHASH64(a IS NULL, CAST(a AS STRING), a), "
        "XXHASH64(b IS NULL, CAST(b AS STRING), b))"
    )
    assert "HASH(" not in to_spark("hash(hash(a), hash(b))").replace("XXHASH64(", "")


def test_len_of_a_list_is_its_size_length_of_text_stays() -> None:
    assert to_spark("len(l) = length(s)") == "SIZE(l) = LENGTH(s)"


def test_list_functions_of_duckdb() -> None:
    assert to_spark("list_count(l)") == "SIZE(FILTER(l, rd_n -> NOT rd_n IS NULL))"
    out = to_spark("list_aggregate(l, 'bit_or')")
    assert out.startswith("IF(SIZE(FILTER(l, ") and "AGGREGATE(FILTER(l, " in out
    assert out.endswith("CAST(0 AS BIGINT), (rd_a, rd_x) -> rd_a | rd_x))")
    with pytest.raises(ValueError):
        to_spark("list_aggregate(l, 'sum')")


def test_microseconds_are_an_exact_interval() -> None:
    assert to_spark("to_microseconds(n)") == (
        "MAKE_DT_INTERVAL(0, 0, 0, CAST(CAST(n AS DECIMAL(20, 0)) / 1000000 AS DECIMAL(18, 6)))"
    )


def test_a_rewrite_sees_children_already_rewritten() -> None:
    assert to_spark("a[1][2]") == "TRY_ELEMENT_AT(TRY_ELEMENT_AT(a, 1), 2)"


def test_unsigned_types_are_the_signed_ones_that_hold_them() -> None:
    assert to_spark("SELECT CAST(a AS UTINYINT), CAST(b AS UINTEGER), CAST(c AS UBIGINT)") == (
        "SELECT CAST(a AS SMALLINT), CAST(b AS BIGINT), CAST(c AS DECIMAL(20, 0))"
    )


def test_text_to_integer_reads_hex_as_duckdb() -> None:
    out = to_spark("try_cast(tok AS BIGINT)")
    assert out == (
        r"IF(CAST(tok AS STRING) RLIKE '^0[xX][0-9a-fA-F]+\\z', "
        "TRY_CAST(CONV(SUBSTRING(CAST(tok AS STRING), 3), 16, 10) AS BIGINT), "
        "TRY_CAST(tok AS BIGINT))"
    )
    assert to_spark("try_cast(x AS DOUBLE)") == "TRY_CAST(x AS DOUBLE)"


def test_the_nfc_udf_needs_no_recondiff_on_the_executors() -> None:
    """pyspark sends rd_nfc_udf to the executors pickled: by value, so that an
    executor needs Python and pyspark only, not recondiff nor sqlglot."""
    import subprocess
    import sys

    cloudpickle = pytest.importorskip("pyspark.cloudpickle")
    from recondiff.engine.spark_sql import _nfc_by_value

    payload = cloudpickle.dumps(_nfc_by_value())
    code = (
        "import pickle, sys\n"
        "sys.modules['recondiff'] = None\n"  # an import of it fails
        "sys.modules['sqlglot'] = None\n"
        "f = pickle.loads(sys.stdin.buffer.read())\n"
        "print(ascii(f('e\\u0301')), f(None))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], input=payload, capture_output=True, check=True
    )
    assert done.stdout.decode().split() == ["'\\xe9'", "None"]
