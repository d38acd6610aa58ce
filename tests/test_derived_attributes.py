"""Derived attribute values (issue 18 point 5): an [[attribute]] side that is a
SQL expression (endpoint_sql, repository_sql), confined like scope, compared like
a column, and never written, asserted or created by the plan.

The directory used here (every difference written down):

endpoint (sAMAccountName, dn, mail, title, userAccountControl)
  jdoe    linked to 1001; mail "jd@ex.org" vs built "john.doe@ex.org";
          userAccountControl 514 (disabled) vs repository disabled = false
  asmith  linked to 1002; in sync (mail built from Ann Smith, 512 = enabled)
  zz-temp no link, no match -> unmatched (512)
repository (id, first, last, title, disabled, ad_account)
  1005    linked to "egone", which the endpoint lacks -> missing
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.compare import compare
from recondiff.config.load import load_config
from recondiff.errors import ConfigError
from recondiff.explore.attributes import needed_attributes
from recondiff.plan.file import load_plan
from tests.conftest import read_only

ENDPOINT = """\
sAMAccountName,dn,mail,title,userAccountControl
jdoe,"CN=John Doe,OU=Staff,DC=ex",jd@ex.org,Engineer,514
asmith,"CN=Ann Smith,OU=Staff,DC=ex",Ann.Smith@ex.org,Analyst,512
zz-temp,"CN=zz-temp,OU=Staff,DC=ex",zz@ex.org,Temp,512
"""

REPOSITORY = """\
id,first,last,title,disabled,ad_account
1001,John,Doe,Engineer,false,jdoe
1002,Ann,Smith,Analyst,false,asmith
1005,Eve,Gone,Auditor,false,egone
"""

MAIL = """
[[attribute]]
name = "mail"
endpoint = "mail"
repository_sql = "lower(first || '.' || last) || '@ex.org'"
compare = "casefold"
on_drift = "update_endpoint"
"""

DISABLED = """
[[attribute]]
name = "disabled"
endpoint_sql = "(TRY_CAST(userAccountControl AS BIGINT) & 2) <> 0"
repository = "disabled"
compare = "boolean"
on_drift = "update_repository"
"""

TITLE = """
[[attribute]]
endpoint = "title"
repository = "title"
on_drift = "update_endpoint"
"""

HEAD = """\
[endpoint]
name = "test-ad"
snapshot = "endpoint.csv"
key = "sAMAccountName"
create_dn = "CN={{first}} {{last}},OU=Staff,DC=ex"

[repository]
snapshot = "repository.csv"
key = "id"
link = "ad_account"
"""


def write(tmp_path: Path, attributes: str = MAIL + DISABLED + TITLE, extra: str = "") -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(REPOSITORY, encoding="utf-8")
    config = tmp_path / "recondiff.toml"
    config.write_text(HEAD.replace("{{", "{").replace("}}", "}") + attributes + extra,
                      encoding="utf-8")
    return config


def run(tmp_path: Path, attributes: str = MAIL + DISABLED + TITLE, extra: str = "") -> Path:
    config = write(tmp_path, attributes, extra)
    compare(config, tmp_path / "out")
    return tmp_path / "out"


@pytest.fixture(scope="module")
def default_out(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``run`` with the default attributes, compared once: its ``out`` is shared
    read-only by the tests of this module that only read it."""
    folder = tmp_path_factory.mktemp("default")
    run(folder)
    with read_only(folder):
        yield folder / "out"


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def events(out: Path) -> list[dict[str, Any]]:
    plan = load_plan(out / "plan.jsonl")
    found: list[dict[str, Any]] = plan["events"]
    # no event anywhere names an attribute that is not one: a derived side never leaks
    for e in found:
        for item in [*e["changes"], *e["preconditions"]]:
            assert isinstance(item["attribute"], str) and item["attribute"], e
            assert item["attribute"] != "disabled" or e["target"] == "repository", e
    return found


def cli_compare(config: Path, out: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["compare", "-c", str(config), "-o", str(out)],
                                catch_exceptions=False)
    return result.exit_code, result.stderr


# --- compare: drift measured on the expression ------------------------------------


def test_drift_is_measured_on_the_expression(default_out: Path) -> None:
    out = default_out
    drift = {(r["endpoint_key"], r["attribute"]): r for r in rows(out / "drift.csv")}
    assert sorted(drift) == [("jdoe", "disabled"), ("jdoe", "mail")]
    mail = drift[("jdoe", "mail")]
    assert (mail["kind"], mail["endpoint_value"], mail["repository_value"]) == (
        "changed", "jd@ex.org", "john.doe@ex.org")
    disabled = drift[("jdoe", "disabled")]
    assert (disabled["kind"], disabled["endpoint_value"], disabled["repository_value"]) == (
        "changed", "true", "false")
    # outputs name a derived side by the attribute's name
    assert mail["repository_attribute"] == "mail"
    assert disabled["repository_attribute"] == "disabled"  # the repository column
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["drift"]["by_attribute"] == {"mail": 1, "disabled": 1, "title": 0}
    # asmith: Ann.Smith@ex.org casefolds to the built ann.smith@ex.org; 512 is enabled
    # (linked in sync: situations.csv leaves the row out, situations.parquet holds it)
    assert "asmith" not in {r["endpoint_key"] for r in rows(out / "situations.csv")}
    assert summary["sync_by_situation"]["linked"]["in_sync"] == 1
    diff = rows(out / "drift_diff.csv")
    assert [(r["mail"], r["disabled"], r["title"]) for r in diff] == [
        ("jd@ex.org->john.doe@ex.org", "true->false", "")]


def test_a_derived_value_changes_the_staging_hash(tmp_path: Path) -> None:
    """Only the expression differs (the columns it reads are not compared): the
    staging hash must see it, or the pair is settled as in sync unread."""
    out = run(tmp_path, DISABLED)
    assert [r["endpoint_key"] for r in rows(out / "drift.csv")] == ["jdoe"]


# --- the plan ---------------------------------------------------------------------


def test_repository_sql_drift_writes_the_endpoint_column_with_the_computed_value(
    default_out: Path,
) -> None:
    found = events(default_out)
    mail = [e for e in found if e["target"] == "endpoint" and e["operation"] == "modify"
            and e["object"]["key"] == "jdoe"]
    assert len(mail) == 1
    assert mail[0]["response"] == "update_endpoint"
    assert [(c["op"], c["attribute"], c["values"]) for c in mail[0]["changes"]] == [
        ("delete", "mail", ["jd@ex.org"]), ("add", "mail", ["john.doe@ex.org"])]
    assert {"attribute": "mail", "values": ["jd@ex.org"]} in mail[0]["preconditions"]


def test_endpoint_sql_drift_writes_the_repository_column(default_out: Path) -> None:
    found = events(default_out)
    repo = [e for e in found if e["target"] == "repository" and e["operation"] == "modify"]
    assert len(repo) == 1
    assert repo[0]["object"]["identity_key"] == "1001"
    assert [(c["op"], c["attribute"], c["values"]) for c in repo[0]["changes"]] == [
        ("replace", "disabled", ["true"])]
    assert repo[0]["preconditions"] == [{"attribute": "disabled", "values": ["false"]}]


def test_endpoint_sql_is_never_asserted_nor_created(default_out: Path) -> None:
    found = events(default_out)
    # unmatched zz-temp, disabled for review: its preconditions are the entry's own
    # attributes (key, mail, title, the lock), never the derived "disabled"
    disable = next(e for e in found if e["operation"] == "disable")
    assert [p["attribute"] for p in disable["preconditions"]] == [
        "sAMAccountName", "mail", "title", "pwdAccountLockedTime"]
    # missing egone, created: it gets the computed mail, never the derived flag
    add = next(e for e in found if e["operation"] == "add")
    assert add["object"]["dn"] == "CN=Eve Gone,OU=Staff,DC=ex"
    assert [(c["attribute"], c["values"]) for c in add["changes"]] == [
        ("sAMAccountName", ["egone"]), ("mail", ["eve.gone@ex.org"]), ("title", ["Auditor"])]


def test_a_new_record_gets_the_derived_endpoint_value_but_no_repository_sql(
    tmp_path: Path,
) -> None:
    """add_to_repository: each repository column gets the account's value (the
    derived flag included, into the column 'disabled'); a repository_sql side has
    no column to write."""
    found = events(run(tmp_path, extra='\n[situations]\nunmatched = "add_to_repository"\n'))
    add = next(e for e in found if e["target"] == "repository" and e["operation"] == "add")
    assert add["object"]["key"] == "zz-temp"
    assert [(c["attribute"], c["values"]) for c in add["changes"]] == [
        ("disabled", ["false"]), ("title", ["Temp"]), ("ad_account", ["zz-temp"])]


def test_the_report_names_the_derived_attribute(default_out: Path) -> None:
    out = default_out
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    labels = [(a["attribute"], a["repository_attribute"]) for a in report["drift"]["attributes"]]
    assert labels == [("mail", "mail"), ("disabled", "disabled"), ("title", "title")]


# --- explore reads the columns an expression names ---------------------------------


def test_explore_asks_for_the_columns_an_expression_reads(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path))
    assert "userAccountControl" in needed_attributes(cfg, "endpoint")
    assert "disabled" not in [n.lower() for n in needed_attributes(cfg, "endpoint")]
    repository = needed_attributes(cfg, "repository")
    assert {"first", "last", "disabled", "title"} <= set(repository)
    assert "mail" not in repository


# --- load: what would write an expression is refused --------------------------------


def _attr(**keys: str) -> str:
    return "\n[[attribute]]\n" + "".join(f'{k} = "{v}"\n' for k, v in keys.items())


EP_SQL = "(TRY_CAST(userAccountControl AS BIGINT) & 2) <> 0"
REPO_SQL = "lower(first || last)"
FIX_EP = ("the endpoint side is computed, so the plan cannot write it; use update_repository "
          "or do_nothing, or map the column with 'endpoint'")
FIX_REPO = ("the repository side is computed, so the plan cannot write it; use update_endpoint, "
            "review, reject or do_nothing, or map the column with 'repository'")


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled", on_drift="update_endpoint"),
         f"[[attribute]] #1 has endpoint_sql and on_drift 'update_endpoint': {FIX_EP}"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled", on_drift="reject"),
         f"[[attribute]] #1 has endpoint_sql and on_drift 'reject': {FIX_EP}"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled", on_drift="review"),
         f"[[attribute]] #1 has endpoint_sql and on_drift 'review': {FIX_EP}"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled"),
         f"[[attribute]] #1 has endpoint_sql and on_drift 'review' (the default): {FIX_EP}"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled", on_drift="do_nothing")
         + '[[attribute.rule]]\nmatch = "*"\nresponse = "update_endpoint"\n',
         f"[[attribute]] #1 rule #1 response 'update_endpoint' with endpoint_sql: {FIX_EP}"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled", on_drift="do_nothing")
         + '[[attribute.rule]]\nmatch = "*"\n',
         f"[[attribute]] #1 rule #1 response 'review' with endpoint_sql: {FIX_EP}"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled",
               on_drift="update_repository") + "capability = true\n",
         "[[attribute]] #1 has endpoint_sql and capability: the plan adds and removes a "
         "capability's values on the endpoint, which an expression cannot take; map the "
         "endpoint column with 'endpoint' instead"),
        (_attr(name="d", endpoint_sql=EP_SQL, repository="disabled", compare="set",
               on_drift="update_repository", membership="member"),
         "[[attribute]] #1 has endpoint_sql and membership: the plan adds and removes a "
         "capability's values on the endpoint, which an expression cannot take; map the "
         "endpoint column with 'endpoint' instead"),
        (_attr(endpoint="mail", repository_sql=REPO_SQL, on_drift="update_repository"),
         f"[[attribute]] #1 has repository_sql and on_drift 'update_repository': {FIX_REPO}"),
        (_attr(endpoint="mail", repository_sql=REPO_SQL, on_drift="do_nothing")
         + '[[attribute.rule]]\nmatch = "*"\nresponse = "update_repository"\n',
         f"[[attribute]] #1 rule #1 response 'update_repository' with repository_sql: {FIX_REPO}"),
        (_attr(endpoint_sql=EP_SQL, repository="disabled", on_drift="do_nothing"),
         "[[attribute]] #1 has endpoint_sql and no 'name'; name the derived value "
         '(name = "disabled"): drift.csv, the report and the plan call it so'),
        (_attr(name="d", endpoint="mail", endpoint_sql=EP_SQL, repository="disabled"),
         "[[attribute]] #1 has both 'endpoint' and 'endpoint_sql'; keep one: 'endpoint' names "
         "a column, 'endpoint_sql' computes the value from several"),
        (_attr(endpoint="mail", repository="title", repository_sql=REPO_SQL),
         "[[attribute]] #1 has both 'repository' and 'repository_sql'; keep one: 'repository' "
         "names a column, 'repository_sql' computes the value from several"),
        (_attr(name="d", repository="disabled"),
         "[[attribute]] #1 is missing required key 'endpoint' (a column; or 'endpoint_sql', a "
         "SQL expression over the endpoint's columns)"),
        (_attr(name="bad name", endpoint="mail", repository="title"),
         "[[attribute]] #1 name 'bad name' is not an attribute name; use up to 64 letters, "
         "digits, '-', '_', '.' or ';', starting with a letter or digit"),
        (_attr(endpoint="mail", repository="title")
         + _attr(name="mail", endpoint_sql=EP_SQL, repository="disabled", on_drift="do_nothing"),
         "[[attribute]] #2 name 'mail' is already mapped by [[attribute]] #1; map each "
         "endpoint attribute once"),
        (_attr(name="d", endpoint="mail", repository="title")
         + _attr(name="D", endpoint_sql=EP_SQL, repository="disabled", on_drift="do_nothing"),
         "[[attribute]] #2 name 'D' is already the name of [[attribute]] #1; give each "
         "attribute its own name"),
        (_attr(name="flag", endpoint="mail", repository="title")
         + _attr(name="Flag", endpoint="title", repository="title"),
         "[[attribute]] #2 name 'Flag' is already the name of [[attribute]] #1; give each "
         "attribute its own name"),
    ],
)
def test_a_config_that_would_write_an_expression_is_refused(
    tmp_path: Path, attribute: str, expected: str
) -> None:
    config = write(tmp_path, attribute)
    code, err = cli_compare(config, tmp_path / "out")
    assert (code, err) == (2, f"recondiff: error: {config}: {expected}\n")
    assert not (tmp_path / "out").exists()


def test_what_may_write_the_other_side_is_accepted(tmp_path: Path) -> None:
    """review and reject on a repository_sql attribute propose endpoint changes;
    update_repository and do_nothing on an endpoint_sql one: all accepted."""
    for on_drift in ("review", "reject", "update_endpoint", "do_nothing"):
        load_config(write(tmp_path, _attr(endpoint="mail", repository_sql=REPO_SQL,
                                          on_drift=on_drift)))
    for on_drift in ("update_repository", "do_nothing"):
        cfg = load_config(write(tmp_path, _attr(name="d", endpoint_sql=EP_SQL,
                                                repository="disabled", on_drift=on_drift)))
        assert cfg.attributes[0].name == "d"
        assert cfg.attributes[0].endpoint is None


# --- hostile expressions: refused exactly as scope is ------------------------------

HOSTILE_PARSE = [
    "(SELECT 1)",
    "title IN (SELECT content FROM read_text('/etc/passwd'))",
    "TRUE); SELECT (TRUE",
    "title) FROM read_text('/etc/passwd') WHERE (TRUE",
    "unnest([title])",
    "*",
    "row_number() OVER ()",
    "$repository_path",
]
HOSTILE_BIND = [
    "read_csv('/etc/passwd')",
    "read_text('/etc/passwd')",
    "getenv('HOME')",
    "glob('/etc/*')",
    "query('SELECT 1')",
    "max(title)",
]


def _scope_error(tmp_path: Path, side: str, expression: str) -> str:
    """The error of the same expression as the side's scope (a predicate)."""
    folder = tmp_path / "scope"
    config = write(folder, TITLE)
    text = config.read_text(encoding="utf-8")
    marker = 'key = "sAMAccountName"\n' if side == "endpoint" else 'key = "id"\n'
    config.write_text(text.replace(marker, marker + f"scope = {json.dumps(expression)}\n", 1),
                      encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        compare(config, folder / "out")
    return str(info.value).replace(str(config), "CONFIG").replace(f"[{side}] scope", "KEY")


@pytest.mark.parametrize("expression", HOSTILE_PARSE)
@pytest.mark.parametrize("side", ["endpoint", "repository"])
def test_a_hostile_expression_is_refused_as_scope_is(
    tmp_path: Path, side: str, expression: str
) -> None:
    if side == "endpoint":
        attribute = (f"\n[[attribute]]\nname = \"x\"\nendpoint_sql = {json.dumps(expression)}\n"
                     'repository = "title"\non_drift = "do_nothing"\n')
    else:
        attribute = (f"\n[[attribute]]\nendpoint = \"title\"\n"
                     f"repository_sql = {json.dumps(expression)}\n")
    config = write(tmp_path / "attr", attribute)
    code, err = cli_compare(config, tmp_path / "attr" / "out")
    assert code == 2
    assert err.count("\n") == 1
    message = err.removeprefix("recondiff: error: ").rstrip("\n")
    expected = _scope_error(tmp_path, side, expression)
    assert message.replace(str(config), "CONFIG").replace(
        f"[[attribute]] #1 {side}_sql", "KEY") == expected
    assert not (tmp_path / "attr" / "out").exists()


@pytest.mark.parametrize("expression", HOSTILE_BIND)
@pytest.mark.parametrize("side", ["endpoint", "repository"])
def test_a_file_or_aggregate_function_stops_the_run_at_resolve(
    tmp_path: Path, side: str, expression: str
) -> None:
    if side == "endpoint":
        attribute = (f"\n[[attribute]]\nname = \"x\"\nendpoint_sql = {json.dumps(expression)}\n"
                     'repository = "title"\non_drift = "do_nothing"\n')
    else:
        attribute = (f"\n[[attribute]]\nendpoint = \"title\"\n"
                     f"repository_sql = {json.dumps(expression)}\n")
    config = write(tmp_path, attribute)
    code, err = cli_compare(config, tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(f"recondiff: error: {config}: [[attribute]] #1 {side}_sql is not a "
                          "valid SQL expression over ")
    assert "root:" not in err  # nothing of /etc/passwd was read
    assert not (tmp_path / "out").exists()


def test_an_expression_naming_a_missing_column_is_one_line_naming_the_key(
    tmp_path: Path,
) -> None:
    config = write(tmp_path, _attr(endpoint="mail", repository_sql="lower(frist || last)"))
    code, err = cli_compare(config, tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith(
        f"recondiff: error: {config}: [[attribute]] #1 repository_sql is not a valid SQL "
        f"expression over {tmp_path / 'repository.csv'}: Binder Error: Referenced column "
        '"frist" not found')


def test_an_expression_of_a_type_recondiff_does_not_compare_is_refused(tmp_path: Path) -> None:
    config = write(tmp_path, _attr(endpoint="mail", repository_sql="{'a': first}"))
    code, err = cli_compare(config, tmp_path / "out")
    assert (code, err) == (
        2,
        f"recondiff: error: {config}: [[attribute]] #1 repository_sql gives "
        "STRUCT(a VARCHAR), which recondiff does not compare; CAST it to text, a number, "
        "a boolean, a date or a list of one of those\n",
    )


def test_an_expression_failing_on_the_data_is_one_line(tmp_path: Path) -> None:
    """CAST (not TRY_CAST) of a value that is not a number: the run stops, exit 2,
    naming the snapshot and the keys to look at."""
    config = write(tmp_path, _attr(name="d", endpoint_sql="CAST(title AS INTEGER) > 1",
                                   repository="disabled", on_drift="do_nothing"))
    code, err = cli_compare(config, tmp_path / "out")
    assert code == 2
    assert err.count("\n") == 1
    assert "[[attribute]] endpoint_sql failed on its data" in err
    assert not (tmp_path / "out").exists()


def test_a_list_expression_compares_as_a_set(tmp_path: Path) -> None:
    """An expression that gives a list is multi-valued, as a list column is."""
    attribute = _attr(endpoint="mail", repository_sql="[lower(first || '.' || last) || '@ex.org', "
                      "lower(first) || '@ex.org']", compare="casefold_set",
                      on_drift="do_nothing")
    out = run(tmp_path, attribute)
    drift = sorted((r["endpoint_key"], r["kind"], r["endpoint_value"], r["repository_value"])
                   for r in rows(out / "drift.csv"))
    assert drift == [
        ("asmith", "removed", "", "ann@ex.org"),
        ("jdoe", "added", "jd@ex.org", ""),
        ("jdoe", "removed", "", "john.doe@ex.org"),
        ("jdoe", "removed", "", "john@ex.org"),
    ]
