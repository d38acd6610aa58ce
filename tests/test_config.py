"""Strict config validation: one line naming file and key, and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from recondiff.config.load import load_config
from recondiff.errors import ConfigError

BASE = """
[endpoint]
name = "ad"
snapshot = "ad.csv"
key = "sAMAccountName"

[repository]
snapshot = "ids.csv"
key = "employee_id"
link = "ad_account"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recondiff.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    return message.replace(str(path), "CONFIG")


def test_minimal_config_has_conservative_defaults(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.endpoint.snapshot == tmp_path / "ad.csv"  # relative to the config file
    assert cfg.response_for("unmatched") == "review"
    assert cfg.response_for("deleted_in_repository") == "review"
    assert cfg.response_for("linked") == "do_nothing"
    assert cfg.repository.deleted_values == ()


def test_status_defaults_deleted_values(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE + 'status = "status"\n'))
    assert cfg.repository.deleted_values == ("deleted", "terminated")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[situation]\n", "CONFIG: config has unknown key 'situation'; did you mean 'situations'? (allowed: endpoint, repository, correlation, attribute, situations, plan, report, engine, trust, policies, policy, notify)"),
        ('[[attribute]]\nendpoint = "title"\nrepository = "title"\ncompare = "casefold_trimmed"\n',
         "CONFIG: [[attribute]] #1 compare: 'casefold_trimmed' is not one of exact, casefold, trim, casefold_trim, dn, set, casefold_set, dn_set, integer, boolean, date, timestamp, uac_flags; did you mean 'casefold_trim'?"),
        ('[[attribute]]\nendpoint = "title"\nrepository = "title"\non_drift = "delete"\n',
         "CONFIG: [[attribute]] #1 on_drift: 'delete' is not one of do_nothing, update_endpoint, reject, review, update_repository"),
        ('[[attribute]]\nendpoint = "title"\n', "CONFIG: [[attribute]] #1 is missing required key 'repository' (a column; or 'repository_sql', a SQL expression over the repository's columns)"),
        ('[[attribute]]\nendpoint = "title"\nrepository = "title"\ncompar = "exact"\n',
         "CONFIG: [[attribute]] #1 has unknown key 'compar'; did you mean 'compare'? (allowed: name, endpoint, endpoint_sql, repository, repository_sql, compare, on_drift, capability, membership, rule)"),
        ('[situations]\norphan = "review"\n',
         "CONFIG: [situations] has unknown situation 'orphan' (allowed: linked, correlated, collision, ambiguous, unmatched, missing, deleted_in_repository, excluded, duplicate_key)"),
        ('[situations]\nunmatched = "delete"\n',
         "CONFIG: [situations] unmatched: 'delete' is not a response (allowed for unmatched: do_nothing, review, reject, delete_from_endpoint, disable_in_endpoint, add_to_repository, assign_default_user)"),
        ('[[correlation]]\nname = "m"\nendpoint = "mail"\n',
         "CONFIG: [[correlation]] #1 ('m') needs exactly one of 'repository' (an attribute) or 'repository_sql' (a SQL expression)"),
        ('[[correlation]]\nname = "m"\nendpoint = "mail"\nrepository = "email"\n[[correlation]]\nname = "M"\nendpoint = "uid"\nrepository = "uid"\n',
         "CONFIG: [[correlation]] #2 name 'M' is used twice; names must be unique"),
        ('[engine]\nthreads = 0\n', "CONFIG: [engine] threads: must be a positive integer, got 0"),
    ],
)
def test_bad_config_is_one_line_naming_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    assert error_of(tmp_path, BASE + extra) == expected


def test_missing_required_key(tmp_path: Path) -> None:
    text = BASE.replace('key = "sAMAccountName"\n', "")
    assert error_of(tmp_path, text) == "CONFIG: [endpoint] is missing required key 'key'"


def test_unknown_key_in_endpoint(tmp_path: Path) -> None:
    text = BASE.replace('name = "ad"', 'name = "ad"\nsceop = "x"')
    assert error_of(tmp_path, text).startswith(
        "CONFIG: [endpoint] has unknown key 'sceop'; did you mean 'scope'?"
    )


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file; pass -c PATH"):
        load_config(tmp_path / "nope.toml")


def test_wrong_types(tmp_path: Path) -> None:
    text = BASE.replace('key = "sAMAccountName"', 'key = "sAMAccountName"\nprotected = "krbtgt"')
    assert error_of(tmp_path, text) == (
        "CONFIG: [endpoint] protected: must be a list of strings, like [\"a\", \"b\"], got 'krbtgt'"
    )


def test_toml_syntax_error(tmp_path: Path) -> None:
    message = error_of(tmp_path, BASE + '[endpoint]\nname="x"\n')
    assert message.startswith("CONFIG: not valid TOML: ")
    assert "line 1" in message


@pytest.mark.parametrize("key", ["link", "status", "scope"])
def test_empty_optional_value_is_refused(tmp_path: Path, key: str) -> None:
    text = BASE.replace('link = "ad_account"\n', "") + f'{key} = ""\n'
    assert error_of(tmp_path, text) == (
        f"CONFIG: [repository] {key}: is empty; give a value or leave the key out"
    )


def test_temp_directory_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    message = error_of(tmp_path, BASE + '[engine]\ntemp_directory = "afile"\n')
    assert message == f"CONFIG: [engine] temp_directory: {tmp_path}/afile is not a directory"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('[situations]\nlinked = "delete_from_endpoint"\n',
         "CONFIG: [situations] linked: 'delete_from_endpoint' does not apply here (allowed for linked: do_nothing, unlink)"),
        ('[situations]\nunmatched = "assign_default_user"\n',
         "CONFIG: [situations] uses assign_default_user, which needs [plan] default_identity = '<identity key>'"),
        ('[plan]\nnew_account_rejected_action = "purge"\n',
         "CONFIG: [plan] new_account_rejected_action: 'purge' is not one of disable, delete"),
        ('[plan]\nmax_delete_percent = 120\n',
         "CONFIG: [plan] max_delete_percent: must be a number from 0 to 100, got 120"),
        ('[plan]\nmax_deletes = -1\n',
         "CONFIG: [plan] max_deletes: must be an integer >= 0, got -1"),
        ('[endpoint.disable]\nmethod = "attribute"\n',
         "CONFIG: [endpoint.disable] method 'attribute' needs attribute and value (for example attribute = 'nsAccountLock', value = 'TRUE')"),
        ('[[attribute]]\nendpoint = "title"\nrepository = "title"\nmembership = "member"\n',
         "CONFIG: [[attribute]] #1 membership needs a set compare kind (set, casefold_set, dn_set), not 'exact'"),
        ('[[attribute]]\nendpoint = "memberOf"\nrepository = "groups"\ncompare = "dn_set"\n'
         '[[attribute.rule]]\nmatch = "cn=Domain Admins,*"\nkind = "granted"\n',
         "CONFIG: [[attribute]] #1 rule #1 kind: 'granted' is not one of any, added, removed, changed"),
    ],
)
def test_plan_settings_are_checked(tmp_path: Path, extra: str, expected: str) -> None:
    assert error_of(tmp_path, BASE + extra) == expected


# --- config SQL expressions (issue 14 item 1): one expression, parsed only -----------------

ALLOWED = (
    "allowed: one expression over the snapshot's columns, with operators, CASE, CAST "
    "and scalar functions; no ';', subquery, table function, window function, * or $parameter"
)


def _shape(key: str, why: str) -> str:
    return f"CONFIG: {key} must be one SQL expression, but {why}; {ALLOWED}"


SUBQUERY = "it holds a subquery (SELECT or FROM), which could read other files"
STACKED = "it holds 3 SQL statements (a ';' ends one)"
COLLATE = (
    "it holds a COLLATE, which would change how recondiff compares the value; use a compare "
    "kind (casefold, ...) for an attribute, lower() or ILIKE in a predicate"
)


@pytest.mark.parametrize(
    ("expression", "why"),
    [
        ("TRUE) AS value; COPY (SELECT 1) TO 'x.pth'; SELECT (TRUE", STACKED),
        ("TRUE); SELECT (TRUE", "it holds 2 SQL statements (a ';' ends one)"),
        ("(SELECT count(*) FROM read_text('/etc/passwd')) > 0", SUBQUERY),
        ("EXISTS (FROM read_text('/etc/passwd'))", SUBQUERY),
        ("title IN (SELECT content FROM read_csv('/etc/passwd'))", SUBQUERY),
        ("title = ANY (SELECT 1)", SUBQUERY),
        ("list_contains((SELECT list(content) FROM read_text('/etc/shadow')), title)", SUBQUERY),
        ("TRUE) FROM read_text('/etc/passwd') WHERE (TRUE",
         "it closes the parenthesis and goes on as a query (AS, FROM, WHERE, ...)"),
        ("TRUE) UNION SELECT (TRUE", "it closes the parenthesis and goes on as a query (UNION, ...)"),
        ("TRUE) ORDER BY (1", "it closes the parenthesis and goes on as a query (AS, FROM, WHERE, ...)"),
        ("TRUE), (FALSE", "it is 2 expressions, separated by ','"),
        ("title = 'a') OR (TRUE", "a ')' closes a parenthesis the expression did not open"),
        ("row_number() OVER () > 1", "it holds a window function (... OVER)"),
        ("*", "it holds * or COLUMNS(...), which is several columns"),
        ("COLUMNS('.*') IS NULL", "it holds * or COLUMNS(...), which is several columns"),
        ("title = $endpoint_path", "it holds a $parameter or ?"),
        ("title = ?", "it holds a $parameter or ?"),
        ("title COLLATE NOCASE = 'x'", COLLATE),
        ("lower(title::VARCHAR COLLATE nocase) = 'x'", COLLATE),
    ],
)
def test_scope_must_be_one_plain_expression(tmp_path: Path, expression: str, why: str) -> None:
    text = BASE.replace('key = "sAMAccountName"', f'key = "sAMAccountName"\nscope = """{expression}"""')
    assert error_of(tmp_path, text) == _shape("[endpoint] scope", why)
    assert not (tmp_path / "x.pth").exists()


def test_every_expression_key_is_checked(tmp_path: Path) -> None:
    leak = "(SELECT count(*) FROM read_text('/etc/passwd')) > 0"
    text = BASE + f'scope = "{leak}"\n'
    assert error_of(tmp_path, text) == _shape("[repository] scope", SUBQUERY)
    for side, other in (("endpoint", "repository"), ("repository", "endpoint")):
        text = BASE + (
            f'[[correlation]]\nname = "c"\n{other} = "mail"\n'
            f'{side}_sql = "TRUE) AS value; COPY (SELECT 1) TO \'x.pth\'; SELECT (TRUE"\n'
        )
        assert error_of(tmp_path, text) == _shape(f"[[correlation]] #1 {side}_sql", STACKED)


def test_a_derived_attribute_may_not_carry_a_collation(tmp_path: Path) -> None:
    """A collation on a derived value would reach drift's comparisons (the
    red team's COLLATE NOCASE side kept in sync against any case)."""
    text = BASE + (
        '[[attribute]]\nname = "mail_ci"\nendpoint_sql = "mail COLLATE NOCASE"\n'
        'repository = "email"\n'
    )
    assert error_of(tmp_path, text) == _shape("[[attribute]] #1 endpoint_sql", COLLATE)


def test_a_syntax_error_names_the_key_and_the_snapshot(tmp_path: Path) -> None:
    text = BASE.replace('key = "sAMAccountName"', 'key = "sAMAccountName"\nscope = "title = \'x"')
    assert error_of(tmp_path, text) == (
        f"CONFIG: [endpoint] scope is not a valid SQL expression over {tmp_path}/ad.csv: "
        "Parser Error: unterminated string literal"
    )


@pytest.mark.parametrize(
    "expression",
    [
        "employeeType <> 'Service'",
        "coalesce(department, '') = 'IT'",
        "list_contains(objectClass, 'person')",
        "lower(givenName || '.' || sn)",
        "title NOT LIKE '%$protected%'",  # a $ inside a string is text
        "title = ')' AND \"odd ) name\" IS NULL",  # parentheses in strings and names
        "CASE WHEN title IS NULL THEN FALSE ELSE len(title) > 2 END",
        "CAST(uid AS INTEGER) BETWEEN 1 AND 99 OR uid::VARCHAR[] IS NULL",
        "list_transform(memberOf, lambda g: lower(g))",
        "title ~ '^(a|b)'\n-- a comment on its own line\n",
        "error('never run') IS NULL",  # parsed, not run: an error() call is fine at load
    ],
)
def test_plain_expressions_are_accepted(tmp_path: Path, expression: str) -> None:
    text = BASE.replace('key = "sAMAccountName"', f'key = "sAMAccountName"\nscope = """{expression}"""')
    assert load_config(write(tmp_path, text)).endpoint.scope == expression


# --- bounded settings (issue 14 items 2 and 22) ------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[engine]\nthreads = 100000\n", "CONFIG: [engine] threads: must be at most 256, got 100000"),
        ("[engine]\nthreads = 1.5\n", "CONFIG: [engine] threads: must be a positive integer, got 1.5"),
        ("[report]\nrows_per_table = 1e20\n",
         "CONFIG: [report] rows_per_table: must be a positive integer, got 1e+20"),
        ("[report]\nrows_per_table = 100000000000000000000\n",
         "CONFIG: [report] rows_per_table: must be at most 100000, got 100000000000000000000"),
        ("[report]\nrows_per_table = 100001\n",
         "CONFIG: [report] rows_per_table: must be at most 100000, got 100001"),
        ("[report]\nrows_per_table = 0\n",
         "CONFIG: [report] rows_per_table: must be a positive integer, got 0"),
        ("[plan]\nmax_deletes = 10000000000\n",
         "CONFIG: [plan] max_deletes: must be at most 1000000000, got 10000000000"),
        ("[plan]\nmax_delete_percent = nan\n",
         "CONFIG: [plan] max_delete_percent: must be a number from 0 to 100, got nan"),
        ("[plan]\nmax_delete_percent = inf\n",
         "CONFIG: [plan] max_delete_percent: must be a number from 0 to 100, got inf"),
        ("[report]\nmax_age_hours = nan\n",
         "CONFIG: [report] max_age_hours: must be a number of hours above 0 and at most 87600, got nan"),
        ("[report]\nmax_age_hours = 1e308\n",
         "CONFIG: [report] max_age_hours: must be a number of hours above 0 and at most 87600, got 1e+308"),
        ("[report]\nmax_apart_hours = 0\n",
         "CONFIG: [report] max_apart_hours: must be a number of hours above 0 and at most 87600, got 0"),
        ('[engine]\nmemory_limit = "lots"\n',
         "CONFIG: [engine] memory_limit: 'lots' is not a size like \"2GB\" or \"512MB\" (units KB, MB, GB, TB, or KiB, MiB, GiB, TiB)"),
        ('[engine]\nmemory_limit = "2"\n',
         "CONFIG: [engine] memory_limit: '2' is not a size like \"2GB\" or \"512MB\" (units KB, MB, GB, TB, or KiB, MiB, GiB, TiB)"),
        ('[engine]\nmemory_limit = "-1GB"\n',
         "CONFIG: [engine] memory_limit: '-1GB' is not a size like \"2GB\" or \"512MB\" (units KB, MB, GB, TB, or KiB, MiB, GiB, TiB)"),
        ('[engine]\nmemory_limit = "1MB"\n',
         "CONFIG: [engine] memory_limit: '1MB' is too small to run; give at least 64MB"),
        ('[endpoint]\nname = "ad"\nsnapshot = "ad.csv"\nkey = "uid"\ncreate_dn = "CN={ },DC=ex"\n'
         '[repository]\nsnapshot = "ids.csv"\nkey = "id"\n',
         'CONFIG: [endpoint] create_dn: a placeholder is blank; write a repository column name inside { }, such as "CN={display_name},OU=Staff,DC=example,DC=org"'),
    ],
)
def test_bounded_settings(tmp_path: Path, extra: str, expected: str) -> None:
    text = extra if extra.startswith("[endpoint]") else BASE + extra
    assert error_of(tmp_path, text) == expected


def test_bounds_themselves_are_accepted(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, BASE + (
        "[plan]\nmax_deletes = 1000000000\n"
        "[report]\nrows_per_table = 100000\nmax_age_hours = 87600\n"
        '[engine]\nthreads = 256\nmemory_limit = "64MB"\n'
    )))
    assert (cfg.engine.threads, cfg.report.rows_per_table) == (256, 100_000)


def test_memory_limit_beyond_the_machine_is_refused(tmp_path: Path) -> None:
    message = error_of(tmp_path, BASE + '[engine]\nmemory_limit = "1000TB"\n')
    assert message.startswith(
        "CONFIG: [engine] memory_limit: '1000TB' is more than this machine's memory ("
    )
    assert message.endswith(
        "GiB); give less, or leave it out (default 1GB; beyond it, work spills to temp_directory)"
    )


@pytest.mark.parametrize("size", ["512MB", "1 GB", "1.5gb", "256MiB", "1GiB", "100000KB"])
def test_memory_limit_means_what_duckdb_reads(tmp_path: Path, size: str) -> None:
    """Every size load_config accepts is one DuckDB takes, as the same number of bytes."""
    import duckdb

    from recondiff.config.load import _MEMORY, _MEMORY_UNITS

    cfg = load_config(write(tmp_path, BASE + f'[engine]\nmemory_limit = "{size}"\n'))
    assert cfg.engine.memory_limit == size
    match = _MEMORY.fullmatch(size)
    assert match is not None
    expected = float(match.group(1)) * _MEMORY_UNITS[match.group(2).lower()]
    con = duckdb.connect()
    con.execute("SET memory_limit = $m", {"m": size})
    shown = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert shown is not None
    number, unit = str(shown[0]).split()
    units = {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "TiB": 1024**4, "bytes": 1}
    # DuckDB shows one decimal, cut: within 0.1 of its unit (1000 for 1024 is 2.4% off)
    assert abs(float(number) * units[unit] - expected) < 0.1 * units[unit]


def test_temp_directory_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "afile").write_text("x")
    assert error_of(tmp_path, BASE + '[engine]\ntemp_directory = "afile/spill"\n') == (
        f"CONFIG: [engine] temp_directory: {tmp_path}/afile is a file, "
        f"so {tmp_path}/afile/spill cannot be created"
    )
    # one that does not exist yet is fine when it can be created
    cfg = load_config(write(tmp_path, BASE + '[engine]\ntemp_directory = "a/b/spill"\n'))
    assert cfg.engine.temp_directory == tmp_path / "a" / "b" / "spill"
    import recondiff.config.load as config_mod

    monkeypatch.setattr(config_mod.os, "access", lambda _path, _mode: False)
    assert error_of(tmp_path, BASE + '[engine]\ntemp_directory = "a/b/spill"\n') == (
        f"CONFIG: [engine] temp_directory: {tmp_path}/a/b/spill (its nearest existing parent "
        f"{tmp_path}) is not writable by this user; give a directory recondiff can write to"
    )


def test_create_dn_placeholders_are_repository_columns(tmp_path: Path) -> None:
    """{key} and a column in any case are fine; a missing column stops the run
    before any output (tests/hostile/config-create-dn-missing-column)."""
    from recondiff.compare import compare

    (tmp_path / "ad.csv").write_text("sAMAccountName,title\njdoe,Eng\n", encoding="utf-8")
    (tmp_path / "ids.csv").write_text(
        "employee_id,ad_account,display_name\n1,jdoe,Jane Doe\n2,mnew,Max New\n", encoding="utf-8"
    )
    text = BASE.replace(
        'key = "sAMAccountName"',
        'key = "sAMAccountName"\ncreate_dn = "CN={Display_Name}+UID={key},DC=example,DC=org"',
    ) + 'expect_account = true\n[situations]\nmissing = "add_to_endpoint"\n'
    result = compare(write(tmp_path, text), tmp_path / "out")
    plan = (tmp_path / "out" / "plan.jsonl").read_text(encoding="utf-8")
    assert result.summary["situations"]["missing"] == 1
    assert "CN=Max New+UID=mnew,DC=example,DC=org" in plan
    with pytest.raises(ConfigError) as info:
        compare(write(tmp_path, text.replace("{Display_Name}", "{Display_Nme}")), tmp_path / "out2")
    assert str(info.value) == (
        f"{tmp_path}/recondiff.toml: [endpoint] create_dn: {{Display_Nme}} is not a column of "
        f"{tmp_path}/ids.csv (did you mean {{display_name}}?); name a repository column, or "
        "{key} for the account's key"
    )
    assert not (tmp_path / "out2").exists()


def _two_attributes(first: str, second: str) -> str:
    return BASE + (
        f'[[attribute]]\nendpoint = "{first}"\nrepository = "a"\n'
        f'[[attribute]]\nendpoint = "{second}"\nrepository = "b"\n'
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [("sn", "surname"), ("sn", "2.5.4.4"), ("mail", "rfc822Mailbox"), ("uid", "userid"),
     ("member", "2.5.4.31"), ("cn", "commonName")],
)
def test_one_ldap_attribute_under_two_names_is_refused(
    tmp_path: Path, first: str, second: str
) -> None:
    """Two [[attribute]] tables writing one attribute type (an alias, an OID) would
    give one attribute two responses: the plan's auto event could change what its
    reviewed event holds. Refused before any run."""
    assert error_of(tmp_path, _two_attributes(first, second)) == (
        f"CONFIG: [[attribute]] #2 endpoint '{second}' is another name of '{first}', "
        "mapped by [[attribute]] #1 (one LDAP attribute type); map each endpoint "
        "attribute once, under one name"
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [("mail", "mail;lang-en"), ("1.3.6.1.4.1.99999.1", "1.3.6.1.4.1.99999.2"), ("sn", "cn")],
)
def test_distinct_attribute_types_and_subtypes_stay_allowed(
    tmp_path: Path, first: str, second: str
) -> None:
    cfg = load_config(write(tmp_path, _two_attributes(first, second)))
    assert [a.endpoint for a in cfg.attributes] == [first, second]
