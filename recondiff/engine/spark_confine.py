"""Keep a config's SQL inside its snapshots on Spark ([engine] kind = "spark";
docs/spark.md, "Confinement on Spark").

On DuckDB two layers keep a config's SQL expressions (``scope``, the ``*_sql``
of ``[[attribute]]`` and ``[[correlation]]``, a ``[[policy]]``'s ``when`` and
``set_sql``) inside the run's files (:mod:`recondiff.engine.confine`): a
parse-only check when the config loads, and a connection that may read only the
run's files, loads no extension and has its settings locked. A SparkSession has
no such lock: its SQL can call any static Java method (``reflect``,
``java_method``, ``try_reflect``), read any file it can reach
(``parquet.`/path```, ``read_files(...)``), name the file a row came from
(``input_file_name()``), and DuckDB's parser takes an unknown function name for
just another function. So on Spark, what the runner sends is checked first:

* :func:`check_spark_tree`: every statement, just before ``spark.sql``. Each
  function Spark would call is on :data:`ALLOWED` (or is syntax that takes a
  parenthesis: :data:`SYNTAX`), by an unqualified name; each table read is one
  the runner made (or the statement's own ``WITH``), by a plain name; no bare
  name that Spark reads as the session's user; no ``${`` (Spark's variable
  substitution, which reads environment variables, even inside a string).
* :func:`lock_session`: what Spark itself can refuse (SQL on files by path,
  variable substitution), set on the runner's session.
* :func:`check_config`: each config expression, translated as the runner
  translates it (:func:`recondiff.engine.spark_sql.to_spark`), when the run
  starts (compare, before any work): the same rules, no table or subquery at
  all, and the error names the config file and the key.

The calls are read from the statement's Spark text, not from sqlglot's tree:
sqlglot keeps many functions as typed nodes whose Spark name is not their
class's (``StartsWith`` is written ``STARTSWITH``, ``TimeToStr``
``DATE_FORMAT``, ``Uuid`` ``UUID``); the text is what Spark reads. sqlglot's
Spark tokenizer reads strings (with their backslash escapes), backquoted names
and comments as Spark's lexer does; a name followed by ``(`` is a call. Spark
looks a function up case-insensitively, and a backquoted name (``"reflect"(...)``
in DuckDB) is a name too: both are compared in lower case.

:data:`ALLOWED` is what the translated queries call (measured: every statement
of the Spark steps, for the sample and every tests/cases folder) and the plain
scalar functions a config expression reasonably uses. A new rewrite that needs
another function adds it here, with a comment; tests/test_spark_confine.py
holds that every query's translation passes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Collection, Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import Token, TokenType, exp

from recondiff.errors import ConfigError, InternalError

if TYPE_CHECKING:
    from recondiff.config.model import Config

# The functions a statement sent to Spark may call: Spark's own names (the ones
# sqlglot writes), lower case. Never: reflect, java_method, try_reflect (any
# static Java method); read_files, input_file_name, input_file_block_* (files);
# current_user, user, session_user, current_database, current_catalog,
# current_schema, version (the session); uuid, rand, random, randn, shuffle
# (a new value each time); any UDF but rd_nfc_udf; IDENTIFIER(...) (a name from
# a string). Every name is one of Spark's built-in functions (a name it does
# not have would be looked up in the session's catalog, whose functions are
# not recondiff's), but the three of its grammar marked so and rd_nfc_udf:
# tests/test_spark_confine.py holds that against SHOW FUNCTIONS.
ALLOWED: frozenset[str] = frozenset(
    {
        # conditional and null handling
        "coalesce", "nullif", "nvl", "nvl2", "ifnull", "if", "greatest", "least",
        "isnull", "isnotnull", "equal_null", "nanvl",
        # casts and types (try_cast: Spark's grammar, not its function registry)
        "cast", "try_cast", "typeof",
        # text
        "lower", "upper", "lcase", "ucase", "initcap", "length", "char_length",
        "character_length", "octet_length", "bit_length", "concat", "concat_ws",
        "substring", "substr", "left", "right", "ltrim", "rtrim", "trim", "btrim",
        "replace", "translate", "overlay", "lpad", "rpad", "reverse", "repeat", "space",
        "instr", "locate", "position", "split", "split_part", "startswith", "endswith",
        "contains", "ascii", "chr", "char", "format_string", "printf", "levenshtein",
        "soundex", "hex", "unhex", "base64", "unbase64", "url_encode", "url_decode",
        "try_url_decode", "to_char", "elt",
        "substring_index", "find_in_set",
        # regular expressions (Java's syntax: spark_sql's rewrites make DuckDB's RE2 fit)
        "regexp_replace", "regexp_extract", "regexp_extract_all", "regexp_like",
        "regexp_count", "regexp_instr", "regexp_substr", "rlike", "like", "ilike",
        # hashes (values, not secrets)
        "md5", "sha1", "sha2", "crc32", "hash", "xxhash64",
        # numbers and bits
        "abs", "round", "bround", "floor", "ceil", "ceiling", "sign", "signum", "sqrt",
        "cbrt", "power", "pow", "exp", "ln", "log", "log2", "log10", "mod", "pmod",
        "div", "negative", "positive", "isnan", "bit_count", "bit_get", "getbit",
        "shiftleft", "shiftright", "shiftrightunsigned", "conv", "bin",
        "try_add", "try_subtract", "try_multiply", "try_divide", "width_bucket",
        # dates and times (the clock: a scope may read it; a policy's stability is
        # the DuckDB-side check's, recondiff/config/expression.py)
        "current_date", "curdate", "current_timestamp", "now", "localtimestamp",
        "date_format", "to_date", "to_timestamp", "to_timestamp_ntz", "to_unix_timestamp",
        "try_to_timestamp", "unix_timestamp", "from_unixtime", "timestamp_millis",
        "timestamp_micros", "timestamp_seconds", "unix_millis", "unix_micros",
        "unix_seconds", "unix_date", "date_from_unix_date", "make_date", "make_timestamp",
        "date_trunc", "trunc", "date_part", "datepart", "extract", "date_add", "dateadd",
        "date_sub", "datediff", "date_diff",
        "timestampadd", "timestampdiff",  # Spark's grammar, not its function registry
        "add_months", "months_between", "last_day", "next_day", "year", "quarter",
        "month", "weekofyear", "day", "dayofmonth", "dayofweek", "weekday",
        "dayofyear", "hour", "minute", "second", "dayname", "monthname",
        "make_interval", "make_dt_interval", "make_ym_interval", "to_utc_timestamp",
        "from_utc_timestamp",
        # lists (arrays), maps and structs, with their lambdas
        "array", "array_contains", "arrays_overlap", "array_distinct", "array_except",
        "array_intersect", "array_union", "array_join", "array_max", "array_min",
        "array_position", "array_remove", "array_sort", "sort_array",
        "array_append", "array_prepend", "array_compact", "array_insert", "array_size",
        "arrays_zip", "element_at", "try_element_at", "get", "size", "cardinality",
        "slice", "flatten", "sequence", "transform", "filter", "exists", "forall",
        "aggregate", "reduce", "zip_with", "map", "map_keys", "map_values",
        "map_entries", "map_contains_key", "map_from_arrays", "map_from_entries",
        "map_concat", "map_filter", "transform_keys", "transform_values", "str_to_map",
        "struct", "named_struct",
        # generators: a list as rows (unnest on DuckDB), in the select list or in FROM
        "explode", "explode_outer", "posexplode", "posexplode_outer", "inline",
        "inline_outer",
        # aggregates and windows the queries use
        "count", "count_if", "sum", "min", "max", "avg", "any_value", "first",
        "first_value", "last", "last_value", "min_by", "max_by", "bool_and", "bool_or",
        "every", "some", "any", "collect_list", "collect_set", "array_agg", "listagg",
        "string_agg", "row_number", "rank", "dense_rank", "lag", "lead",
        # DuckDB's error(): a failed statement with its message (no value leaves it)
        "raise_error",
        # JSON (the plan's events: spark_sql.json_is_a_type; a list parameter bound
        # as JSON text, spark_run._json_parameters)
        "from_json", "to_json", "parse_json", "try_parse_json",
        # Spark's Unicode normalisation: spark_sql.nfc_is_a_udf (the one UDF)
        "rd_nfc_udf",
    }
)

# The names of ALLOWED that are Spark's grammar, not functions it registers.
GRAMMAR_CALLS: frozenset[str] = frozenset({"try_cast", "timestampadd", "timestampdiff"})

# The generators of ALLOWED (the queries' unnest): never in a config expression,
# where one record would become several (DuckDB's unnest is refused there too).
_GENERATORS = frozenset(
    {"explode", "explode_outer", "posexplode", "posexplode_outer", "inline", "inline_outer"}
)

# Words Spark's grammar writes before a parenthesis that call no function:
# keywords (``x IN (...)``, ``AND (...)``, ``FROM (SELECT ...)``, ``OVER
# (...)``, ``FILTER (WHERE ...)``), and parameterised types (``DECIMAL(38, 0)``).
SYNTAX: frozenset[str] = frozenset(
    {
        "and", "or", "not", "in", "is", "like", "ilike", "rlike", "between", "case",
        "when", "then", "else", "end", "from", "join", "on", "using", "where", "having",
        "select", "by", "over", "partition", "filter", "within", "values", "with",
        "union", "intersect", "except", "all", "distinct", "exists", "as", "interval",
        "decimal", "dec", "numeric", "varchar", "char", "struct", "array", "map",
    }
)

# Names Spark reads without parentheses as a function of the session (its
# LiteralFunctionResolution, when no column has the name): the OS user who runs
# the driver. A snapshot column of that name is written in double quotes.
_SESSION_NAMES = frozenset({"user", "current_user", "session_user"})
_SESSION_TOKENS = frozenset(
    {
        TokenType.CURRENT_USER,
        TokenType.SESSION_USER,
        TokenType.CURRENT_CATALOG,
        TokenType.CURRENT_SCHEMA,
    }
)
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_WORDISH = re.compile(r"\w")

# Where the refusals say what is allowed.
HOW = (
    "on Spark a config's SQL may call only plain functions of text, numbers, dates and "
    "lists (recondiff/engine/spark_confine.py ALLOWED; docs/spark.md, "
    '"Confinement on Spark")'
)


def _tokens(sql: str) -> list[Token]:
    return sqlglot.Dialect.get_or_raise("spark").tokenize(sql)


# Token types of literals: a string (raw, national, byte, ...) or a number
# before a parenthesis calls nothing.
_LITERALS = frozenset(
    getattr(TokenType, name)
    for name in (
        "STRING", "NUMBER", "RAW_STRING", "NATIONAL_STRING", "NATIONAL_RAW_STRING",
        "UNICODE_STRING", "BYTE_STRING", "BIT_STRING", "HEX_STRING", "HEREDOC_STRING",
    )
    if hasattr(TokenType, name)
)


def spark_refusal(sql: str, also: Collection[str] = ()) -> str | None:
    """Why the Spark SQL text ``sql`` may not run (a function it calls, a name
    it reads), or None. Reads the text as Spark's lexer does (module
    docstring). ``also``: more names it may call (lower case)."""
    if "${" in sql:
        return (
            "holds '${', which Spark replaces, even inside a string, with a setting, an "
            "environment variable or a Java system property (${env:NAME}, ${system:user.home})"
        )
    tokens = _tokens(sql)
    for i, token in enumerate(tokens):
        before = tokens[i - 1].token_type if i else None
        after = tokens[i + 1].token_type if i + 1 < len(tokens) else None
        word = token.text.lower()
        if token.token_type in _LITERALS:
            continue
        if after == TokenType.L_PAREN:
            if token.token_type != TokenType.IDENTIFIER and not _WORDISH.search(token.text):
                continue  # an operator or a bracket: ((, +(, ,(
            if before == TokenType.ALIAS:
                continue  # AS name(columns), AS (query), CAST(v AS DECIMAL(38, 0))
            if not _NAME.fullmatch(word):
                return f"calls {token.text!r}(...), a function name Spark may read otherwise"
            if before == TokenType.DOT:
                return f"calls {word}(...) by a qualified name (system.builtin.{word}, ...)"
            if word in SYNTAX or word in ALLOWED or word in also or _java_nfc(tokens, i):
                continue
            return f"calls {word}(...)"
        if before == TokenType.DOT:
            continue  # a field or a qualified column: s.user, t.current_user
        if token.token_type in _SESSION_TOKENS:
            return f"reads {word}, the Spark session's own"
        if token.token_type == TokenType.VAR and word in _SESSION_NAMES:
            return (
                f"reads {word}, which Spark takes for the session's user where no column "
                'has the name (write a column of that name in double quotes: "user")'
            )
    return None


# The one Java method a statement may call through reflect: ICU4J's NFC
# (Normalizer.compose, pure), which spark_sql.nfc_in_a_lambda_is_java writes
# where Spark cannot call the Python UDF (inside a lambda). Any other reflect,
# java_method or try_reflect is refused.
_JAVA_NFC = ("com.ibm.icu.text.Normalizer", "compose")


def _java_nfc(tokens: list[Token], i: int) -> bool:
    """Whether tokens[i] is ``reflect`` called as ``reflect('com.ibm.icu.text.
    Normalizer', 'compose', ...``, both names string literals."""
    window = tokens[i : i + 6]
    return (
        len(window) == 6
        and window[0].text.lower() == "reflect"
        and window[2].token_type in _LITERALS and window[2].text == _JAVA_NFC[0]
        and window[3].token_type == TokenType.COMMA
        and window[4].token_type in _LITERALS and window[4].text == _JAVA_NFC[1]
        and window[5].token_type == TokenType.COMMA
    )


def _cte_names(tree: exp.Expr) -> set[str]:
    return {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}


def _table_refusal(tree: exp.Expr, known: set[str]) -> str | None:
    """Why a table the statement reads is not one of ``known`` (lower case)."""
    for node in tree.find_all(exp.ReadParquet, exp.ReadCSV):
        return f"reads a file by its path ({node.sql(dialect='spark')[:60]})"
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Func):
            continue  # FROM explode(...): its name is checked as a call
        if table.args.get("db") or table.args.get("catalog"):
            return (
                f"reads {table.sql(dialect='spark')[:60]}, a table named by a qualifier "
                "(parquet.`/path` reads any file)"
            )
        if table.name.lower() not in known:
            return f"reads the table {table.name!r}, which this run did not make"
    return None


def check_spark_tree(
    tree: exp.Expr,
    known_tables: Collection[str],
    sql: str | None = None,
    functions: Collection[str] = (),
) -> None:
    """Refuse a statement about to be sent to Spark (``tree``, translated; ``sql``
    its Spark text, by default generated from ``tree``) that calls a function
    not on :data:`ALLOWED`, reads a table not in ``known_tables`` (the runner's
    tables and views; the statement's own WITH names count too) or by a
    qualified name, or reads the session's user. A config expression is
    checked when the run starts (:func:`check_config`); this is the last line,
    for a Config changed in code after that, or a rewrite's new function.
    ``functions``: the runner's own SQL functions (recondiff's macros, defined
    by the runner and checked by :func:`check_spark_function`), which it may call."""
    text = tree.sql(dialect="spark", comments=False) if sql is None else sql
    known = {t.lower() for t in known_tables} | _cte_names(tree)
    why = _table_refusal(tree, known) or spark_refusal(text, also=functions)
    if why is not None:
        raise ConfigError(
            f"Spark SQL refused: the statement {why}, which recondiff does not send to Spark "
            "(a config expression may not hold it; in recondiff's own query, a rewrite's "
            f"new function belongs on the list); {HOW}"
        )


# A definition of one of recondiff's macros as a Spark SQL function: the
# statement the runner builds (spark_run.Macros.definitions), nothing else.
_DEFINITION = re.compile(
    r"CREATE OR REPLACE TEMPORARY FUNCTION (rd_[a-z_]+)\(([^()]*)\) RETURN (.*)", re.S
)


def check_spark_function(definition: str, functions: Collection[str]) -> None:
    """Refuse a Spark function definition (``CREATE OR REPLACE TEMPORARY
    FUNCTION rd_x(v STRING) RETURN body``) that is not one of ``functions``
    (recondiff's macros) or whose body calls what a statement may not
    (:func:`spark_refusal`), but the other macros' functions."""
    match = _DEFINITION.fullmatch(definition)
    if match is None or match.group(1) not in functions:
        raise InternalError(f"not a definition of recondiff's macro: {definition[:80]}")
    body = match.group(3)
    statements = sqlglot.parse(body, read="spark")
    if len(statements) != 1 or statements[0] is None:
        raise InternalError(f"not one expression: the function {match.group(1)}: {body[:80]}")
    tree = statements[0]
    why = None
    for node in tree.find_all(exp.Query, exp.Subquery, exp.Table):
        why = f"holds a table or a subquery ({node.sql(dialect='spark')[:60]})"
    why = why or spark_refusal(body, also=functions)
    if why is not None:
        raise InternalError(f"Spark SQL refused: the function {match.group(1)} {why}")


@cache
def macro_names() -> frozenset[str]:
    """The ``rd_*`` macros the Spark runner expands inline (spark_run.SPARK_MACROS),
    by name: a config expression may call them (their bodies are recondiff's,
    checked by :func:`check_spark_tree` after expansion)."""
    from recondiff.io.sqlfiles import SPARK_MACROS, load

    pattern = re.compile(r"CREATE\s+(?:OR\s+REPLACE\s+)?(?:TEMP\w*\s+)?MACRO\s+(\w+)", re.I)
    return frozenset(
        name.lower() for file in SPARK_MACROS for name in pattern.findall(load(file))
    )


def expression_refusal(expression: str) -> str | None:
    """Why a config SQL expression (DuckDB's dialect) may not run on Spark, or
    None: translated as the runner translates it, it may hold no table, no
    subquery, and call only :data:`ALLOWED` (or an ``rd_*`` macro)."""
    from recondiff.engine import spark_sql  # here: it is the heavier import

    try:
        tree = sqlglot.parse_one(expression, read="duckdb")
        tree = spark_sql.translate(tree, spark_sql.Context())
        text = tree.sql(dialect="spark", comments=False)
    except (sqlglot.errors.SqlglotError, ValueError) as exc:
        return f"has no Spark form ({' '.join(str(exc).split())[:120]})"
    for node in tree.find_all(exp.Query, exp.Subquery, exp.Table, exp.ReadParquet, exp.ReadCSV):
        what = "a table" if isinstance(node, exp.Table) else "a subquery"
        return f"holds {what} ({node.sql(dialect='spark')[:60]})"
    for token, after in itertools.pairwise(_tokens(text)):
        word = token.text.lower()
        call = after.token_type == TokenType.L_PAREN and token.token_type not in _LITERALS
        if call and word in _GENERATORS:
            return f"calls {word}(...), which gives several rows for one record"
    return spark_refusal(text, also=macro_names())


def config_expressions(cfg: Config) -> Iterator[tuple[str, str]]:
    """Each SQL expression of ``cfg`` with its key, as the config's errors name it."""
    if cfg.endpoint.scope:
        yield "[endpoint] scope", cfg.endpoint.scope
    if cfg.repository.scope:
        yield "[repository] scope", cfg.repository.scope
    for i, rule in enumerate(cfg.correlation, 1):
        for side in ("endpoint", "repository"):
            expression = getattr(rule, f"{side}_sql")
            if expression:
                yield f"[[correlation]] #{i} {side}_sql", expression
    for i, a in enumerate(cfg.attributes, 1):
        if a.endpoint_sql:
            yield f"[[attribute]] #{i} endpoint_sql", a.endpoint_sql
        if a.repository_sql:
            yield f"[[attribute]] #{i} repository_sql", a.repository_sql
    for i, p in enumerate(cfg.policies.policies, 1):
        yield f"[[policy]] #{i} ('{p.name}') when", p.when
        for name, expression in p.set_sql:
            yield f"[[policy]] #{i} ('{p.name}') set_sql {name}", expression


def check_config(cfg: Config) -> None:
    """With ``[engine] kind = "spark"``: refuse, in one line naming the file and the
    key, a config SQL expression that may not run on Spark (:func:`expression_refusal`).
    Parses and translates only; nothing runs."""
    if cfg.engine.kind != "spark":
        return
    for key, expression in config_expressions(cfg):
        why = expression_refusal(expression)
        if why is not None:
            raise ConfigError(f"{cfg.path}: {key} {why}, which is refused on Spark; {HOW}")


def lock_session(spark: Any) -> None:
    """The Spark-side layer, as far as Spark has one: no SQL on files by path
    (``spark.sql.runSQLOnFiles``: ``parquet.`/path``` is then an unknown table;
    the runner reads its files through the DataFrame reader, not through SQL),
    and no variable substitution (``spark.sql.variable.substitute``: Spark
    replaces ``${env:NAME}``, ``${system:user.home}`` and ``${spark.conf}``
    in the SQL text, inside strings too, before it parses it)."""
    spark.conf.set("spark.sql.runSQLOnFiles", "false")
    spark.conf.set("spark.sql.variable.substitute", "false")
