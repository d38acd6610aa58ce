"""The command line as a user meets it: exit codes, exact error lines, outputs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from tests.conftest import SAMPLE

MINI = """
[endpoint]
name = "ad"
snapshot = "ad.csv"
key = "sAMAccountName"

[repository]
snapshot = "ids.csv"
key = "employee_id"
link = "ad_account"

[[attribute]]
endpoint = "title"
repository = "title"
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def mini(tmp_path: Path, ad: str, ids: str, config: str = MINI) -> Path:
    (tmp_path / "ad.csv").write_text(ad, encoding="utf-8")
    (tmp_path / "ids.csv").write_text(ids, encoding="utf-8")
    path = tmp_path / "recondiff.toml"
    path.write_text(config, encoding="utf-8")
    return path


def test_in_sync_exits_0(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,JDOE,Eng\n")
    code, out, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert (code, err) == (0, "")
    assert "linked\t1" in out.splitlines()
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["situations"]["linked"] == 1
    assert summary["differences"] == 0


def test_difference_exits_1(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Mgr\n")
    code, out, _ = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 1
    assert "drifted\t1" in out.splitlines()


def test_json_on_stdout(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n")
    code, out, _ = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"), "--json")
    assert code == 0
    assert json.loads(out)["inputs"]["endpoint"]["rows"] == 1


def test_sample_data_runs(tmp_path: Path) -> None:
    code, _, _ = run("compare", "-c", str(SAMPLE / "recondiff.toml"), "-o", str(tmp_path / "out"))
    assert code == 1
    for name in ("summary.json", "situations.csv", "situations.parquet", "drift.csv", "drift.parquet"):
        assert (tmp_path / "out" / name).is_file(), name
    assert not list((tmp_path / "out").glob(".recondiff-tmp-*"))


@pytest.mark.parametrize(
    ("ad", "ids", "config", "expected"),
    [
        (
            "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n",
            MINI.replace('repository = "title"', 'repository = "titel"'),
            "recondiff: error: {cfg}: [[attribute]] #1 repository = 'titel': no such attribute in {dir}/ids.csv; did you mean 'title'?",
        ),
        (
            "uid,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n", MINI,
            "recondiff: error: {cfg}: [endpoint] key = 'sAMAccountName': no such attribute in {dir}/ad.csv; it has: uid, title",
        ),
        (
            "sAMAccountName,title\n", "employee_id,ad_account,title\n1,jdoe,Eng\n", MINI,
            "recondiff: error: {dir}/ad.csv: no records; an empty export would make every account look orphaned. Pass --allow-empty if it really is empty",
        ),
        (
            "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n1,x,y\n", MINI,
            "recondiff: error: {dir}/ids.csv: records 1, 2: identity key 'employee_id' = '1' is not unique; the repository key must identify one identity",
        ),
        (
            "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n",
            MINI.replace('key = "sAMAccountName"', 'key = "sAMAccountName"\nscope = "title ="'),
            "recondiff: error: {cfg}: [endpoint] scope is not a valid SQL expression over {dir}/ad.csv: Parser Error: syntax error at or near \")\"",
        ),
        (
            "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n",
            MINI.replace('key = "sAMAccountName"', 'key = "sAMAccountName"\nscope = "title"'),
            "recondiff: error: {cfg}: [endpoint] scope must be a predicate (true or false), but it gives VARCHAR; write a comparison such as \"employeeType <> 'Service'\"",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, ad: str, ids: str, config: str, expected: str
) -> None:
    cfg = mini(tmp_path, ad, ids, config)
    out = tmp_path / "out"
    code, stdout, stderr = run("compare", "-c", str(cfg), "-o", str(out))
    assert code == 2
    assert stdout == ""
    assert stderr == expected.format(cfg=cfg, dir=tmp_path) + "\n"
    assert not out.exists() or not any(out.iterdir())


def test_missing_snapshot_file(tmp_path: Path) -> None:
    cfg = tmp_path / "recondiff.toml"
    cfg.write_text(MINI, encoding="utf-8")
    code, _, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err == (
        f"recondiff: error: {tmp_path}/ad.csv: no such file ([endpoint] snapshot in {cfg}); "
        "check the path, which is relative to the config file\n"
    )


def test_truncated_parquet_snapshot(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n")
    code, _, _ = run("ingest", str(tmp_path / "ad.csv"), "-o", str(tmp_path / "ad.parquet"))
    assert code == 0
    data = (tmp_path / "ad.parquet").read_bytes()
    (tmp_path / "ad.parquet").write_bytes(data[: len(data) // 2])
    cfg.write_text(MINI.replace('"ad.csv"', '"ad.parquet"'), encoding="utf-8")
    code, _, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"recondiff: error: {tmp_path}/ad.parquet: not a readable Parquet file")
    assert err.count("\n") == 1


def test_allow_empty(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\n", "employee_id,ad_account,title\n1,jdoe,Eng\n")
    code, out, _ = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"), "--allow-empty")
    assert code == 1
    assert "missing\t1" in out.splitlines()


def test_blank_keys_warn_and_count(tmp_path: Path) -> None:
    cfg = mini(
        tmp_path,
        'sAMAccountName,title\njdoe,Eng\n"  ",Eng\n,Mgr\n',
        "employee_id,ad_account,title\n1,jdoe,Eng\n",
    )
    code, _, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 0
    assert err == (
        f"recondiff: warning: {tmp_path}/ad.csv: 2 record(s) with a blank 'sAMAccountName' "
        "skipped (record 2, 3)\n"
    )
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["inputs"]["endpoint"]["blank_keys"] == 2
    assert summary["inputs"]["endpoint"]["rows"] == 3


def test_failed_run_keeps_previous_results(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n")
    out = tmp_path / "out"
    assert run("compare", "-c", str(cfg), "-o", str(out))[0] == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (tmp_path / "ids.csv").write_text("employee_id,ad_account,title\n1,jdoe,Eng\n1,x,y\n")
    assert run("compare", "-c", str(cfg), "-o", str(out))[0] == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_interrupt_exits_130_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n")
    import recondiff.engine.publish as publish

    def interrupted(*_args: object, **_kw: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(publish, "_fsync", interrupted)
    out = tmp_path / "out"
    code, _, err = run("compare", "-c", str(cfg), "-o", str(out))
    assert code == 130
    assert err == "recondiff: interrupted; no output was half-written\n"
    assert list(out.iterdir()) == []


def test_ingest_prints_metadata(tmp_path: Path) -> None:
    (tmp_path / "ad.csv").write_text("sAMAccountName,memberOf\njdoe,a;b\n", encoding="utf-8")
    code, out, _ = run(
        "ingest", str(tmp_path / "ad.csv"), "-o", str(tmp_path / "ad.parquet"),
        "-m", "memberOf", "--captured-at", "2026-11-20T08:00:00Z",
    )
    assert code == 0
    info = json.loads(out)
    assert info["rows"] == 1
    assert info["captured_at"] == "2026-11-20T08:00:00+00:00"
    table = pq.read_table(tmp_path / "ad.parquet")
    assert table.column("memberOf").to_pylist() == [["a", "b"]]


def test_ingest_bad_time_is_usage_error(tmp_path: Path) -> None:
    (tmp_path / "ad.csv").write_text("sAMAccountName\njdoe\n", encoding="utf-8")
    code, _, err = run("ingest", str(tmp_path / "ad.csv"), "-o", str(tmp_path / "x.parquet"), "--captured-at", "yesterday")
    assert code == 2
    assert "'yesterday' is not an ISO 8601 time like 2026-11-23T08:00:00Z" in err


def test_every_command_has_help_with_an_example() -> None:
    for name, command in cli.commands.items():
        assert command.help and "Example:" in command.help, name


def test_usage_error_is_one_line_exit_2() -> None:
    code, _, err = run("compare")
    assert code == 2
    assert err == (
        "recondiff: error: Missing option '-c' / '--config'. (see 'recondiff compare --help')\n"
    )


def test_outputs_copy_is_independent_of_checkout(tmp_path: Path) -> None:
    # The sample config's paths are relative to the config file: copied
    # elsewhere with its data, it still runs.
    shutil.copytree(SAMPLE, tmp_path / "s")
    code, _, _ = run("compare", "-c", str(tmp_path / "s" / "recondiff.toml"), "-o", str(tmp_path / "o"))
    assert code == 1


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("ad.ldif", b"dn: uid=a,o=x\nsAMAccountName: a\nbroken line\n",
         '{dir}/ad.ldif: line 3: no ":" in "broken line"; each LDIF line is "attribute: value"'),
        ("ad.ldif", b"dn: uid=a,o=x\nchangetype: modify\n",
         "{dir}/ad.ldif: line 2: change records (changetype: modify) are not supported; "
         "export the entries as content records"),
        ("ad.csv", b"sAMAccountName,title\njdoe,Ing\xe9nieur\n",
         "{dir}/ad.csv: row 1: not valid UTF-8 (byte 0xE9); save the export as UTF-8 "
         "(or UTF-16 with a BOM)"),
    ],
)
def test_unreadable_export_through_compare(
    tmp_path: Path, name: str, content: bytes, expected: str
) -> None:
    cfg = mini(tmp_path, "", "employee_id,ad_account,title\n1,jdoe,Eng\n",
               MINI.replace('"ad.csv"', f'"{name}"'))
    (tmp_path / name).write_bytes(content)
    code, stdout, stderr = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert (code, stdout) == (2, "")
    assert stderr == "recondiff: error: " + expected.format(dir=tmp_path) + "\n"


def scoped(scope: str) -> str:
    return MINI.replace('key = "sAMAccountName"', f'key = "sAMAccountName"\nscope = "{scope}"')


def test_scope_failing_on_the_data_is_one_line(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n",
               scoped("CAST(title AS INTEGER) > 1"))
    code, _, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"recondiff: error: {tmp_path}/ad.csv: cannot evaluate it with {cfg} "
                          "([endpoint] scope or an [[attribute]] endpoint_sql failed on its data")
    assert err.count("\n") == 1


def test_aggregate_scope_is_a_config_error(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\n", "employee_id,ad_account,title\n1,jdoe,Eng\n",
               scoped("count(*) > 0"))
    code, _, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err.startswith(f"recondiff: error: {cfg}: [endpoint] scope is not a valid SQL expression")


def test_dollar_in_config_sql_is_not_a_parameter(tmp_path: Path) -> None:
    cfg = mini(tmp_path, "sAMAccountName,title\njdoe,Eng\nadm,$protected\n",
               "employee_id,ad_account,title\n1,jdoe,Eng\n",
               scoped("title NOT LIKE '%$protected%'"))
    code, out, _ = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 0
    assert "excluded\t1" in out.splitlines()


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({"sAMAccountName": ["jdoe"], "Title": ["a"], "title": ["b"]},
         "columns 'Title' and 'title' differ only in case; attribute names match "
         "case-insensitively, so keep one"),
        ({"sAMAccountName": ["jdoe"], "title": [{"a": 1}]},
         "column 'title' has type STRUCT(a BIGINT), which recondiff does not compare; use text, "
         "numbers, booleans, dates or lists of them (recondiff ingest converts what it can)"),
    ],
)
def test_parquet_snapshot_is_checked_like_an_export(
    tmp_path: Path, table: dict[str, list[object]], expected: str
) -> None:
    import pyarrow as pa

    pq.write_table(pa.table(table), tmp_path / "ad.parquet")
    cfg = mini(tmp_path, "", "employee_id,ad_account,title\n1,jdoe,Eng\n",
               MINI.replace('"ad.csv"', '"ad.parquet"'))
    code, _, err = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 2
    assert err == f"recondiff: error: {tmp_path}/ad.parquet: {expected}\n"


def test_protected_and_deleted_values_fold_like_keys(tmp_path: Path) -> None:
    config = MINI.replace('key = "sAMAccountName"', 'key = "sAMAccountName"\nprotected = ["İSTANBUL"]')
    config = config.replace('link = "ad_account"', 'link = "ad_account"\nstatus = "status"\n'
                            'deleted_values = ["τερματισμένος"]')
    cfg = mini(tmp_path, "sAMAccountName,title\nİstanbul,x\nnikos,y\n",
               "employee_id,ad_account,title,status\n1,nikos,y,ΤΕΡΜΑΤΙΣΜΈΝΟΣ\n", config)
    code, out, _ = run("compare", "-c", str(cfg), "-o", str(tmp_path / "out"))
    assert code == 1
    assert "excluded\t1" in out.splitlines()
    assert "deleted_in_repository\t1" in out.splitlines()
