"""How the Spark runner spells recondiff's macros (engine/spark_run.Macros):
called as Spark SQL functions where Spark takes one, inline elsewhere, and
each argument computed once. No Spark here: the translated text only (the
tests/cases folders on Spark, tests/test_spark_cases.py, run it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from recondiff.engine import spark_confine, spark_sql
from recondiff.engine.spark_run import SPARK_FUNCTIONS, Macros
from recondiff.errors import InternalError

MACROS = Macros()
INLINE = Macros(functions={})  # every macro inline, arguments bound by lambdas


def spark(sql: str) -> exp.Expr:
    tree = MACROS.expand(sqlglot.parse_one(sql, read=spark_sql.SOURCE))
    return spark_sql.translate(tree, spark_sql.Context())


def calls(tree: exp.Expr) -> list[str]:
    return [n for n in (spark_sql.call_name(c) for c in tree.find_all(exp.Anonymous)) if n]


def functions_in_lambdas(tree: exp.Expr) -> list[str]:
    """The runner's Spark functions called inside a lambda (Spark refuses them)."""
    return [
        name
        for lam in tree.find_all(exp.Lambda)
        for name in calls(lam.this)
        if name in MACROS.functions
    ]


def test_a_function_is_called_by_name() -> None:
    assert spark("SELECT rd_key(name) FROM t").sql(dialect="spark") == (
        "SELECT RD_KEY(name) FROM t"
    )


def test_every_named_function_is_one() -> None:
    assert set(MACROS.functions) == set(SPARK_FUNCTIONS)


def test_inside_a_lambda_it_is_inline_with_no_function() -> None:
    tree = spark("SELECT list_transform(l, lambda x: rd_key(x)) FROM t")
    assert "rd_key" not in calls(tree)
    assert functions_in_lambdas(tree) == []


def test_in_order_by_it_is_inline() -> None:
    # Spark: UNSUPPORTED_SQL_UDF_USAGE in Sort; a window's ORDER BY takes one
    tree = spark("SELECT a FROM t ORDER BY rd_key(a)")
    assert "rd_key" not in calls(tree)
    window = spark("SELECT max(a) OVER (ORDER BY rd_key(a)) FROM t")
    assert "rd_key" in calls(window)


def test_an_argument_holding_a_lambda_is_bound_once() -> None:
    # Spark refuses a SQL function whose argument holds a lambda
    # (LAMBDA_FUNCTION_WITH_SQL_UDF): the body inline, the argument bound once
    tree = spark("SELECT rd_strip(array_to_string(list_transform(l, lambda x: upper(x)), ',')) FROM t")
    assert "rd_strip" not in calls(tree)
    assert functions_in_lambdas(tree) == []
    assert tree.sql(dialect="spark").count("UPPER(x)") == 1  # rd_strip names v 11 times


def test_nesting_grows_linearly() -> None:
    # inline copies nested: rd_key(rd_key(rd_key(a))) was a copy of a per use, per level
    one = len(spark("SELECT list_transform(l, lambda a: rd_key(a)) FROM t").sql(dialect="spark"))
    three = len(
        spark("SELECT list_transform(l, lambda a: rd_key(rd_key(rd_key(a)))) FROM t")
        .sql(dialect="spark")
    )
    assert three < 4 * one


def test_a_macro_not_a_function_keeps_its_literal_arguments() -> None:
    # rd_when's format must reach strftime as a literal (sqlglot converts it)
    assert "rd_when" not in SPARK_FUNCTIONS
    tree = spark("SELECT rd_when(a, '%Y-%m-%d') FROM t")
    assert "yyyy-MM-dd" in tree.sql(dialect="spark")


# Values for the macros that every kind of input reaches: blank, spaces and
# tabs, case, accents composed and not, a DN, flags, numbers, dates.
VALUES = [
    None, "", " ", "\t x \n", "Alice", "  ÉCOLE ", "e\u0301cole", "ß", "CN=Ab\\, C,OU=X",
    "cn=a+sn=b, ou=People", "512", "0x200", "ACCOUNTDISABLE|NORMAL_ACCOUNT", "2024-01-02",
    "20240102030405Z", "133500000000000000", "yes", "007", "\u2028x ",
]


@pytest.mark.parametrize("name", sorted(SPARK_FUNCTIONS))
def test_the_expansion_is_the_macro_on_duckdb(name: str) -> None:
    """What the runner makes of a macro call (function calls inlined, inside a
    lambda, arguments bound by lambdas) is DuckDB SQL still: on DuckDB it gives
    what the macro gives, also on a column named like a variable of a binding
    lambda (rd_let_1, in rd_key's body), which must not be captured."""
    import duckdb

    from recondiff.io.sqlfiles import macros

    con = duckdb.connect()
    con.execute(macros())
    column = "rd_let_1"
    assert column in MACROS.by_name["rd_key"].body.sql()  # what the test rests on
    con.execute(f"CREATE TABLE t ({column} VARCHAR, i INTEGER)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(v, i) for i, v in enumerate(VALUES)])
    if name == "rd_uac_fold":
        arg = f"rd_uac_list({column})"
    elif name == "rd_uac_names":
        arg = f"rd_uac_bits({column})"
    else:
        arg = column
    forms = [f"{name}({arg})", f"list_transform([{arg}], lambda x: {name}(x))[1]"]
    for form in forms:
        query = f"SELECT i, {form} FROM t ORDER BY i"
        want = con.execute(query).fetchall()
        for form_of in (MACROS, INLINE):  # the runner's; every call inline
            expanded = form_of.expand(sqlglot.parse_one(query, read=spark_sql.SOURCE))
            if form_of is INLINE:
                assert not [c for c in calls(expanded) if c.startswith("rd_")]
            got = con.execute(expanded.sql(dialect=spark_sql.SOURCE)).fetchall()
            assert got == want, form


def test_definitions_call_only_earlier_functions_and_none_in_a_lambda() -> None:
    defined: set[str] = set()
    for name, definition in MACROS.definitions():
        spark_confine.check_spark_function(definition, MACROS.functions)
        body = sqlglot.parse_one(definition.split(" RETURN ", 1)[1], read="spark")
        called = {c for c in calls(body) if c in MACROS.functions}
        assert called <= defined, (name, called - defined)
        assert functions_in_lambdas(body) == [], name
        defined.add(name)


@pytest.mark.parametrize(
    "definition",
    [
        # not one of recondiff's macros
        "CREATE OR REPLACE TEMPORARY FUNCTION lower(v STRING) RETURN upper(v)",
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_other(v STRING) RETURN v",
        # a body that calls Java, reads a table or a file
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_key(v STRING) RETURN "
        "reflect('java.lang.System', 'getenv', v)",
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_key(v STRING) RETURN "
        "(SELECT max(a) FROM t)",
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_key(v STRING) RETURN '${env:HOME}'",
        # another statement after it
        "CREATE OR REPLACE TEMPORARY FUNCTION rd_key(v STRING) RETURN v; DROP VIEW x",
    ],
)
def test_a_definition_not_the_runners_is_refused(definition: str) -> None:
    with pytest.raises(InternalError):
        spark_confine.check_spark_function(definition, MACROS.functions)


def test_a_statement_may_call_only_the_runners_functions() -> None:
    tree = sqlglot.parse_one("SELECT rd_key(a) FROM t", read="spark")
    spark_confine.check_spark_tree(tree, {"t"}, functions=MACROS.functions)
    from recondiff.errors import ConfigError

    with pytest.raises(ConfigError, match="rd_key"):
        spark_confine.check_spark_tree(tree, {"t"})


@pytest.mark.spark
def test_dn_hex_escapes_on_spark(spark_session: Any) -> None:
    """rd_dn's escapes on Spark: a '+' survives url_decode (Java's reads it as a
    space), and a byte that is no UTF-8 decodes to U+FFFD where DuckDB keeps
    the escaped text (docs/semantics.md, "On Spark")."""
    from recondiff.engine.spark_run import SparkRunner

    runner = SparkRunner(spark_session, Path("."))
    try:
        rows = runner.run(
            "SELECT rd_dn('UID=b+CN=a\\2b,ou=X'), rd_dn('cn=a\\ff,ou=x'), "
            "rd_dn('cn=Jos\\c3\\a9,ou=x')",
            {},
        ).fetchall()
    finally:
        runner.close()
    assert rows == [("cn=a\\++uid=b,ou=x", "cn=a\ufffd,ou=x", "cn=jos\u00e9,ou=x")]


# --- shared CTEs (spark_run.shared_ctes): computed once, as on DuckDB ------------------


def _tables_then(query: str) -> tuple[list[tuple[str, str]], str]:
    import itertools

    from recondiff.engine.spark_run import shared_ctes

    counter = itertools.count(1)
    tables, rest = shared_ctes(
        sqlglot.parse_one(query, read=spark_sql.SOURCE), lambda: f"rd_cte_{next(counter)}"
    )
    return [(n, t.sql(dialect="duckdb")) for n, t in tables], rest.sql(dialect="duckdb")


SHARED = """
WITH src AS (SELECT range AS v FROM range(6)),
     twice AS (SELECT v, v * 2 AS w FROM src),
     odd AS (SELECT v FROM twice WHERE v % 2 = 1)
SELECT twice.v, twice.w, o.v AS o FROM twice LEFT JOIN odd AS o USING (v)
WHERE twice.v IN (SELECT v FROM twice WHERE w > 2) ORDER BY twice.v
"""


def test_a_cte_read_twice_is_a_table_first() -> None:
    tables, rest = _tables_then(SHARED)
    # src is read once (by twice); twice three times: a table, with src before it
    assert [n for n, _ in tables] == ["rd_cte_1"]
    assert tables[0][1].startswith("WITH src AS (")
    assert "rd_cte_1 AS twice" in rest and "twice AS (" not in rest


def test_the_tables_then_the_query_give_the_rows_of_the_query() -> None:
    import duckdb

    con = duckdb.connect()
    want = con.execute(SHARED).fetchall()
    tables, rest = _tables_then(SHARED)
    for name, query in tables:
        con.execute(f"CREATE TEMP TABLE {name} AS {query}")
    assert con.execute(rest).fetchall() == want


def test_a_recursive_with_and_a_single_read_stay() -> None:
    recursive = "WITH RECURSIVE t(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM t WHERE n < 3) SELECT * FROM t JOIN t AS u USING (n)"
    assert _tables_then(recursive)[0] == []
    assert _tables_then("WITH a AS (SELECT 1 AS v) SELECT * FROM a")[0] == []


def test_spark_out_of_memory_is_a_config_error_not_a_bug() -> None:
    """10M accounts on local[2] with a 3g driver: SparkOutOfMemoryError in
    classify/link was reported as an internal error (exit 3); it is the size of
    the data against Spark's memory (exit 2, naming the settings)."""
    from recondiff.engine.spark_run import spark_errors
    from recondiff.errors import ConfigError

    Py4JJavaError = type("Py4JJavaError", (Exception,), {"__module__": "py4j.protocol"})
    oom = Py4JJavaError(
        "An error occurred while calling o224.localCheckpoint.\n: org.apache.spark."
        "memory.SparkOutOfMemoryError: [UNABLE_TO_ACQUIRE_MEMORY] Unable to acquire "
        "262144 bytes of memory, got 0. SQLSTATE: 53200"
    )
    with pytest.raises(ConfigError, match=r"spark\.driver\.memory"), spark_errors(
        "classify/link", None
    ):
        raise oom
    other = Py4JJavaError("java.lang.IllegalStateException: something else")
    with pytest.raises(InternalError, match="classify/link"), spark_errors("classify/link", None):
        raise other  # any other failure there is still a bug
