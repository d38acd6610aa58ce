"""Red-team tests of the confinement on Spark (recondiff/engine/spark_confine.py;
docs/spark.md, "Confinement on Spark") and of the [engine.spark] settings a
config may pass (recondiff/config/load.py, SPARK_SETTINGS).

A SparkSession can call any static Java method (reflect, java_method,
try_reflect), read any file (parquet.`/path`, read_files) and name the file a
row came from (input_file_name). Each test is one attempt to get such a call
past the check a config's SQL meets on Spark: when the run starts (each
expression, translated: check_config) and just before each statement goes to
Spark (check_spark_tree). The tests without the marker need no Spark.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recondiff.compare import compare
from recondiff.config.load import load_config
from recondiff.config.model import EngineConfig, PoliciesConfig, PolicyConfig, SparkConfig
from recondiff.engine import spark_confine
from recondiff.engine.spark_confine import (
    ALLOWED,
    GRAMMAR_CALLS,
    check_config,
    check_spark_tree,
    expression_refusal,
    spark_refusal,
)
from recondiff.errors import ConfigError, RecondiffError
from tests.test_confinement import _run_dir

ON_SPARK = EngineConfig(kind="spark", spark=SparkConfig(master="local[2]"))
HOME = "'java.lang.System', 'getProperty', 'user.home'"

# --- config expressions: refused when the run starts ------------------------------

HOSTILE = [
    # any static Java method
    f"java_method({HOME}) IS NOT NULL",
    f"reflect({HOME}) IS NOT NULL",
    f"try_reflect({HOME}) IS NOT NULL",
    # the file a row came from; any file
    "length(input_file_name()) > 0",
    "length(CAST(read_files('/etc/passwd') AS VARCHAR)) > 0",
    # nested: in a CASE, in a lambda, in a real macro's argument
    f"CASE WHEN title = 'Eng' THEN reflect({HOME}) IS NULL ELSE TRUE END",
    f"list_contains(list_transform(['x'], x -> reflect({HOME})), '/root')",
    f"rd_fold(reflect({HOME})) <> ''",
    # spelled in upper, mixed case, as a quoted name, by a qualified name
    f"REFLECT({HOME}) IS NOT NULL",
    f"ReFlEcT({HOME}) IS NOT NULL",
    f'"reflect"({HOME}) IS NOT NULL',
    f'"REFLECT"({HOME}) IS NOT NULL',
    "system.builtin.lower(title) = 'eng'",
    f"builtin.java_method({HOME}) IS NOT NULL",
    # a macro-looking name that is no macro (Spark's catalog could answer it)
    f"rd_reflect({HOME}) IS NOT NULL",
    "rd_nfc_udf2(title) = 'x'",
    # the session and nondeterministic values, which DuckDB also accepts
    "current_user = 'root'",
    "user = 'root'",
    "session_user = 'root'",
    "uuid() IS NOT NULL",
    "random() < 2",
    "aes_encrypt(title, '0123456789abcdef') IS NOT NULL",
    # a file by path
    "read_parquet('/etc/passwd') IS NULL",
    # Spark's variable substitution, inside a string: the environment, Java's
    # system properties, Spark's settings (DuckDB reads a plain string)
    "title <> '${env:HOME}'",
    "'${system:user.home}' <> title",
    "title <> '${spark.app.name}'",
]

# What a config reasonably writes: every one passes (the config keys of
# docs/config.md and of tests/cases are held below).
PLAIN = [
    "employeeType <> 'Service'",
    "lower(givenName || '.' || sn)",
    "(TRY_CAST(userAccountControl AS BIGINT) & 2) <> 0",
    "list_contains(objectClass, 'person')",
    "coalesce(department, '') = 'IT'",
    "regexp_matches(mail, '^[a-z]+@example\\.com$')",
    "strftime(CAST(whenCreated AS DATE), '%Y') = '2024'",
    "CAST(lastLogon AS DATE) > current_date - INTERVAL 90 DAY",
    "list_transform(memberOf, g -> lower(g))",
    "rd_fold(title) = 'eng'",
    "nullif(trim(title), '') IS NOT NULL",
    "starts_with(lower(mail), 'adm') OR ends_with(mail, '.test')",
    "split_part(mail, '@', 2) = 'example.com'",
    "md5(title) <> ''",
    "title IN ('explode', 'reflect(1)', 'user')",
]


@pytest.mark.parametrize("expression", HOSTILE)
def test_a_hostile_expression_is_refused(expression: str) -> None:
    assert expression_refusal(expression) is not None


@pytest.mark.parametrize(
    "expression", ["title IN (SELECT 1)", "EXISTS (SELECT 1 FROM ep)", "title = (SELECT max(x) FROM t)"]
)
def test_a_subquery_is_refused_on_spark_too(expression: str) -> None:
    """(The parse check of recondiff/config/expression.py refuses them first.)"""
    assert "a subquery" in (expression_refusal(expression) or "")


@pytest.mark.parametrize("expression", ["explode(memberOf) <> ''", "posexplode(l) IS NULL"])
def test_a_generator_is_refused_in_a_config_expression(expression: str) -> None:
    """One record would become several rows (the parse check refuses DuckDB's unnest)."""
    assert "several rows" in (expression_refusal(expression) or "")


@pytest.mark.parametrize("expression", PLAIN)
def test_a_plain_expression_passes(expression: str) -> None:
    assert expression_refusal(expression) is None


def _case_expressions() -> Iterator[tuple[str, str]]:
    root = Path(__file__).parent
    for config in [root.parent / "sample_data" / "recondiff.toml", *root.glob("cases/*/recondiff.toml")]:
        cfg = load_config(config)
        for key, expression in spark_confine.config_expressions(cfg):
            yield f"{config.parent.name} {key}", expression


def test_every_expression_of_the_sample_and_the_cases_passes() -> None:
    refused = {k: why for k, e in _case_expressions() if (why := expression_refusal(e))}
    assert not refused


@pytest.mark.parametrize("expression", HOSTILE)
def test_a_spark_run_with_a_hostile_scope_stops_before_any_work(
    tmp_path: Path, expression: str
) -> None:
    """compare() with [engine] kind = "spark": one line naming the file and the key,
    exit 2, nothing written (Spark is not even started: no Java needed)."""
    scope = expression.replace("\\", "\\\\").replace('"', '\\"')
    cfg = dataclasses.replace(
        load_config(_run_dir(tmp_path, f'scope = "{scope}"')), engine=ON_SPARK
    )
    with pytest.raises(ConfigError) as info:
        compare(cfg, tmp_path / "out")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'recondiff.toml'}: [endpoint] scope ")
    assert "refused on Spark" in message
    assert "\n" not in message
    assert info.value.exit_code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("rest", "key"),
    [
        (
            '[[correlation]]\nname = "m"\nendpoint_sql = "title"\n'
            f'repository_sql = "reflect({HOME})"',
            "[[correlation]] #1 repository_sql",
        ),
        (
            '[[attribute]]\nname = "t"\nendpoint = "title"\nrepository_sql = "input_file_name()"',
            "[[attribute]] #1 repository_sql",
        ),
    ],
)
def test_every_config_expression_is_checked(tmp_path: Path, rest: str, key: str) -> None:
    config = _run_dir(tmp_path, rest=rest + '\n\n[engine]\nkind = "spark"\n')
    with pytest.raises(ConfigError) as info:
        check_config(load_config(config))
    assert str(info.value).startswith(f"{config}: {key} calls ")


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        (PolicyConfig("p", f"try_reflect({HOME}) IS NULL", sets=(("title", "x"),)),
         "[[policy]] #1 ('p') when"),
        (PolicyConfig("p", "title = 'Eng'", set_sql=(("title", f"java_method({HOME})"),)),
         "[[policy]] #1 ('p') set_sql title"),
    ],
)
def test_a_policys_expressions_are_checked(tmp_path: Path, policy: PolicyConfig, key: str) -> None:
    cfg = dataclasses.replace(
        load_config(_run_dir(tmp_path)),
        engine=ON_SPARK,
        policies=PoliciesConfig(applied="title", policies=(policy,)),
    )
    with pytest.raises(ConfigError) as info:
        check_config(cfg)
    assert str(info.value).startswith(f"{cfg.path}: {key} calls ")


def test_the_cli_says_it_in_one_line_and_exits_2(tmp_path: Path) -> None:
    config = _run_dir(
        tmp_path, f'scope = "java_method({HOME}) IS NOT NULL"', rest='[engine]\nkind = "spark"\n'
    )
    run = subprocess.run(
        [sys.executable, "-m", "recondiff", "compare", "-c", str(config), "-o", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "[endpoint] scope calls java_method(...)" in lines[0]
    assert run.stdout == ""
    assert not (tmp_path / "out").exists()


def test_duckdb_runs_are_not_checked(tmp_path: Path) -> None:
    """The Spark check is Spark's: on DuckDB the confined connection holds."""
    cfg = load_config(_run_dir(tmp_path, "scope = \"random() < 2\""))
    check_config(cfg)  # no error: kind is duckdb


# --- the statement check: what Spark would call, read from its text ----------------


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT reflect({HOME}) FROM ep",
        f"SELECT REFLECT /* a comment */ ({HOME}) FROM ep",
        f"SELECT `reflect`({HOME}) FROM ep",
        f"SELECT `ReFlEcT`({HOME}) FROM ep",
        f"SELECT system.builtin.reflect({HOME}) FROM ep",
        f"SELECT IDENTIFIER('reflect')({HOME}) FROM ep",
        f"SELECT transform(array(1), x -> java_method({HOME})) FROM ep",
        "SELECT input_file_name() FROM ep",
        "SELECT current_user() FROM ep",
        "SELECT current_user FROM ep",
        "SELECT user FROM ep",
        "SELECT session_user FROM ep",
        "SELECT current_database() FROM ep",
        "SELECT uuid(), rand(), shuffle(array(1)) FROM ep",
        "SELECT my_udf(title) FROM ep",
        "SELECT `röflect`(title) FROM ep",
        "SELECT '${env:HOME}' FROM ep",
    ],
)
def test_the_text_check_refuses(sql: str) -> None:
    assert spark_refusal(sql) is not None


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT lower(title), CAST(x AS DECIMAL(38, 0)) FROM ep AS e(title, x)",
        "SELECT 'reflect(1)', `user`, e.user FROM ep e WHERE x IN (1, 2) AND (a OR b)",
        "SELECT p FROM explode(CAST(:protected AS ARRAY<STRING>)) AS t(p)",
        "WITH a AS (SELECT 1 AS x) SELECT count(*) FILTER (WHERE x > 0) OVER (PARTITION BY x) FROM a",
        "SELECT transform(l, (x, i) -> upper(x)), if(a, 1, 2), left(a, 1), replace(a, 'b', 'c') FROM ep",
    ],
)
def test_the_text_check_lets_the_queries_through(sql: str) -> None:
    assert spark_refusal(sql) is None


def _tree(sql: str) -> Any:
    import sqlglot

    return sqlglot.parse_one(sql, read="spark")


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM parquet.`/etc/passwd`",
        "SELECT * FROM json.`/etc/x.json` AS j JOIN ep ON TRUE",
        "SELECT * FROM spark_catalog.default.secrets",
        "SELECT * FROM secrets",
        "SELECT * FROM ep WHERE x IN (SELECT y FROM other)",
        "SELECT * FROM read_files('/etc/passwd')",
    ],
)
def test_the_tree_check_refuses_a_table_the_run_did_not_make(sql: str) -> None:
    with pytest.raises(ConfigError, match="Spark SQL refused"):
        check_spark_tree(_tree(sql), {"ep"})


def test_the_tree_check_lets_the_runs_tables_and_its_own_with_through() -> None:
    sql = "WITH a AS (SELECT * FROM ep) SELECT * FROM a JOIN rd_parquet_1 p ON a.k = p.k"
    check_spark_tree(_tree(sql), {"ep", "rd_parquet_1"})


# --- the allowlist: Spark's own functions, nothing else ------------------------------


@pytest.mark.spark
def test_every_allowed_name_is_a_spark_built_in(spark: Any) -> None:
    """A name Spark does not have would be looked up in the session's catalog,
    whose functions are not recondiff's."""
    built_in = {r[0] for r in spark.sql("SHOW FUNCTIONS").collect()}
    assert sorted(ALLOWED - built_in - GRAMMAR_CALLS - {"rd_nfc_udf"}) == []
    never = {"reflect", "java_method", "try_reflect", "input_file_name", "read_files", "uuid",
             "rand", "random", "shuffle", "current_user", "user", "session_user", "version"}
    assert not ALLOWED & never


# --- on Spark: the runner's last line ------------------------------------------------


@pytest.fixture(scope="module")
def spark(spark_session: Any) -> Iterator[Any]:
    yield spark_session


@pytest.mark.spark
def test_the_runner_refuses_a_java_call_before_spark_runs_it(spark: Any, tmp_path: Path) -> None:
    """A statement calling java_method never reaches Spark: the system property
    it would set stays unset (with the check removed, it is set: the control)."""
    from recondiff.engine.spark_run import SparkRunner

    system = spark.sparkContext._jvm.java.lang.System
    runner = SparkRunner(spark, tmp_path)
    call = "SELECT java_method('java.lang.System', 'setProperty', 'rd.confine', 'ran') AS x"
    try:
        with pytest.raises(ConfigError, match=r"calls java_method\(\.\.\.\)"):
            runner.run(call, {})
        assert system.getProperty("rd.confine") is None
        assert runner.run("SELECT lower('ÉA') AS x", {})._rows == [("éa",)]
    finally:
        runner.close()


@pytest.mark.spark
def test_spark_substitutes_no_variable(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spark replaces ${env:HOME} in the SQL text, inside a string too, unless
    told not to: refused by the statement check, and, with it removed, a plain
    string (spark_confine.lock_session), as DuckDB reads it."""
    from recondiff.engine.spark_run import SparkRunner

    runner = SparkRunner(spark, tmp_path)
    try:
        with pytest.raises(ConfigError, match=r"holds '\$\{'"):
            runner.run("SELECT '${env:HOME}' AS x", {})
        monkeypatch.setattr(spark_confine, "check_spark_tree", lambda *_a, **_k: None)
        assert runner.run("SELECT '${env:HOME}' AS x", {})._rows == [("${env:HOME}",)]
    finally:
        runner.close()
        spark.conf.unset("spark.sql.variable.substitute")


@pytest.mark.spark
def test_spark_itself_reads_no_file_by_path(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Spark-side layer (spark_confine.lock_session): with the statement
    check removed, parquet.`/path` is still an unknown table."""
    from recondiff.engine.spark_run import SparkRunner

    secret = tmp_path / "secret.parquet"
    spark.createDataFrame([("s3cret",)], "v STRING").write.parquet(str(secret))
    runner = SparkRunner(spark, tmp_path)
    try:
        with pytest.raises(ConfigError, match="a table named by a qualifier"):
            runner.run(f'SELECT v FROM parquet."{secret}"', {})
        monkeypatch.setattr(spark_confine, "check_spark_tree", lambda *_a, **_k: None)
        with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
            runner.run(f'SELECT v FROM parquet."{secret}"', {})
    finally:
        runner.close()
        spark.conf.unset("spark.sql.runSQLOnFiles")


@pytest.mark.spark
@pytest.mark.parametrize(
    ("scope", "says"),
    [
        ("current_user IS NOT NULL", "calls current_user(...)"),
        ("user <> 'x'", "reads user"),
        ("uuid() IS NOT NULL", "calls uuid(...)"),
        ("random() < 2", "calls rand(...)"),
    ],
)
def test_a_run_past_the_start_check_is_still_refused(
    spark: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scope: str, says: str
) -> None:
    """With the start check removed (a Config changed in code after it), an
    expression DuckDB accepts but Spark may not run is refused before the
    statement holding it reaches Spark: exit 2, no output."""
    monkeypatch.setattr(spark_confine, "check_config", lambda _cfg: None)
    cfg = dataclasses.replace(load_config(_run_dir(tmp_path, f'scope = "{scope}"')), engine=ON_SPARK)
    with pytest.raises(RecondiffError) as info:
        compare(cfg, tmp_path / "out")
    assert f"Spark SQL refused: the statement {says}" in str(info.value)
    assert info.value.exit_code == 2
    assert not (tmp_path / "out" / "summary.json").exists()
    assert not (tmp_path / "out" / "situations.csv").exists()


# --- [engine.spark] settings --------------------------------------------------------


def _spark_config(tmp_path: Path, spark_table: str) -> Path:
    return _run_dir(tmp_path, rest=f'[engine]\nkind = "spark"\n\n[engine.spark]\n{spark_table}\n')


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('conf = { "spark.jars" = "evil.jar" }', "'spark.jars' cannot be set"),
        ('conf = { "spark.jars.packages" = "org.evil:x:1" }', "cannot be set"),
        ('conf = { "spark.driver.extraJavaOptions" = "-Dx=1" }', "cannot be set"),
        ('conf = { "spark.executor.extraClassPath" = "/tmp" }', "cannot be set"),
        ('conf = { "spark.pyspark.python" = "/tmp/evil" }', "cannot be set"),
        ('conf = { "spark.sql.extensions" = "org.evil.Ext" }', "cannot be set"),
        ('conf = { "spark.plugins" = "org.evil.Plugin" }', "cannot be set"),
        ('conf = { "spark.hadoop.fs.s3a.impl" = "org.evil.Fs" }', "cannot be set"),
        ('conf = { "spark.sql.adaptive.customCostEvaluatorClass" = "org.evil.C" }',
         "cannot be set"),
        ('conf = { "spark.sql.adaptive.optimizer.excludedRules" = "x" }', "cannot be set"),
        ('conf = { "spark.sql.shuffle.partitions" = "2 --conf spark.jars=x" }', "not a plain value"),
        ('conf = { "spark.app.name" = "a\\"b" }', "not a plain value"),
        ("conf = { \"spark.app.name\" = \"a'b\" }", "not a plain value"),
        ('conf = { "spark.app.name" = "a\\nb" }', "not a plain value"),
        ('conf = { "spark.executor.memory" = true }', "must be a string or a number"),
        ('conf = "spark.jars=x"', "must be a table"),
        ('master = "local[2] --jars x"', "is not a Spark master URL"),
        ('master = "local[2];touch x"', "is not a Spark master URL"),
        ('master = "spark://host:7077 x"', "is not a Spark master URL"),
        ('master = "spark://host:7077;x"', "is not a Spark master URL"),
    ],
)
def test_a_spark_setting_that_could_run_code_is_refused(
    tmp_path: Path, table: str, says: str
) -> None:
    config = _spark_config(tmp_path, table)
    with pytest.raises(ConfigError) as info:
        load_config(config)
    message = str(info.value)
    assert message.startswith(f"{config}: [engine.spark] ")
    assert says in message
    assert "\n" not in message


def test_a_plain_spark_config_is_accepted(tmp_path: Path) -> None:
    config = _spark_config(
        tmp_path,
        'master = "spark://host-1.example.org:7077"\n'
        'conf = { "spark.sql.shuffle.partitions" = 400, "spark.executor.memory" = "8g", '
        '"spark.sql.adaptive.enabled" = "true", "spark.dynamicAllocation.maxExecutors" = 20 }',
    )
    cfg = load_config(config)
    assert cfg.engine.spark.master == "spark://host-1.example.org:7077"
    assert dict(cfg.engine.spark.conf)["spark.sql.shuffle.partitions"] == "400"
    check_config(cfg)
    assert json.dumps(cfg.engine.spark.conf)


def test_reflect_only_for_icu_nfc_with_literal_names() -> None:
    """spark_sql.nfc_in_a_lambda_is_java writes reflect('com.ibm.icu.text.Normalizer',
    'compose', v, false); every other reflect stays refused."""
    from recondiff.engine.spark_confine import spark_refusal

    nfc = "SELECT reflect('com.ibm.icu.text.Normalizer', 'compose', CAST(v AS STRING), FALSE) FROM t"
    assert spark_refusal(nfc) is None
    for other in (
        "SELECT reflect('com.ibm.icu.text.Normalizer2', 'compose', v) FROM t",
        "SELECT reflect('java.lang.System', 'exit', 0) FROM t",
        "SELECT reflect('com.ibm.icu.text.Normalizer', 'compose' || 'x', v) FROM t",
        "SELECT java_method('com.ibm.icu.text.Normalizer', 'compose', v, FALSE) FROM t",
        "SELECT reflect('com.ibm.icu.text.Normalizer', 'decompose', v, FALSE) FROM t",
    ):
        assert spark_refusal(other) == "calls reflect(...)" or "java_method" in str(
            spark_refusal(other)
        ), other
