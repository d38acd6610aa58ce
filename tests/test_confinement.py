"""A config cannot reach outside its snapshots (issue 14 item 1).

Layer 1 (recondiff.config.expression.expression_problem, called by load_config) refuses
anything but one plain expression; tests/test_config.py and the
tests/hostile/config-* cases cover it. These tests prove layer 2 on its own:
even an expression that slipped past layer 1 runs on a connection that cannot
read /etc/passwd, write outside the run's directories, load an extension or
unlock itself.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import pytest

from recondiff.compare import compare
from recondiff.config import expression as config_expression
from recondiff.config.load import load_config
from recondiff.engine import confine, connection
from recondiff.errors import RecondiffError

AD = "sAMAccountName,title\njdoe,Eng\nasmith,Ops\n"
IDS = "employee_id,ad_account,title\n1,jdoe,Eng\n2,asmith,Ops\n"
CONFIG = """
[endpoint]
name = "ad"
snapshot = "ad.csv"
key = "sAMAccountName"
{endpoint_extra}

[repository]
name = "hub"
snapshot = "ids.csv"
key = "employee_id"
link = "ad_account"
{rest}
"""


def _confined(tmp_path: Path) -> tuple[duckdb.DuckDBPyConnection, Path, Path]:
    work = tmp_path / "work"
    work.mkdir()
    snapshot = tmp_path / "snap.parquet"
    duckdb.sql(f"COPY (SELECT 'jdoe' AS uid) TO '{snapshot}'")
    con = confine.lock_down(confine.open_connection(), files=[snapshot], directories=[work])
    return con, work, snapshot


def _refused(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    with pytest.raises(duckdb.Error) as info:
        con.execute(sql).fetchall()
    return str(info.value)


def test_the_factory_reads_and_writes_only_what_it_was_given(tmp_path: Path) -> None:
    con, work, snapshot = _confined(tmp_path)
    # what a run needs works
    assert con.execute("SELECT uid FROM read_parquet($p)", {"p": str(snapshot)}).fetchall() == [
        ("jdoe",)
    ]
    con.execute(f"COPY (SELECT 1 AS x) TO '{work}/inside.csv'")
    assert (work / "inside.csv").is_file()
    # reading anything else is refused
    assert "Permission Error" in _refused(con, "SELECT * FROM read_text('/etc/passwd')")
    assert "Permission Error" in _refused(con, "SELECT * FROM read_csv('/etc/passwd')")
    assert "Permission Error" in _refused(con, "SELECT * FROM glob('/etc/*')")
    assert "Permission Error" in _refused(
        con, f"SELECT * FROM read_text('{work}/../../../../../etc/passwd')"
    )
    # writing outside is refused, .. included
    outside = tmp_path / "outside.pth"
    for target in (outside, work / ".." / "outside.pth", Path("/tmp") / f"rd-{os.getpid()}.pth"):
        assert "Permission Error" in _refused(con, f"COPY (SELECT 1) TO '{target}'")
        assert not Path(target).exists()
    assert "Permission Error" in _refused(con, f"ATTACH '{tmp_path}/other.duckdb'")
    assert "Permission Error" in _refused(con, f"EXPORT DATABASE '{tmp_path}/export'")
    # no extension, no URL
    assert "Permission Error" in _refused(con, "LOAD httpfs")
    assert "Permission Error" in _refused(con, "INSTALL httpfs")
    assert "Permission Error" in _refused(con, "SELECT * FROM read_csv('https://example.org/a.csv')")


def test_the_factory_cannot_be_unlocked(tmp_path: Path) -> None:
    con, _, _ = _confined(tmp_path)
    for sql in (
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "SET allowed_paths = ['/etc/passwd']",
        "SET lock_configuration = false",
        "RESET lock_configuration",
        "SET autoload_known_extensions = true",
        f"SET profiling_output = '{tmp_path}/profile.json'",
    ):
        assert "locked" in _refused(con, sql), sql
    assert "Permission Error" in _refused(con, "SELECT * FROM read_text('/etc/passwd')")


def _run_dir(tmp_path: Path, endpoint_extra: str = "", rest: str = "") -> Path:
    """A two-account run in tmp_path (the test_confinement_redteam cases use it too)."""
    (tmp_path / "ad.csv").write_text(AD, encoding="utf-8")
    (tmp_path / "ids.csv").write_text(IDS, encoding="utf-8")
    path = tmp_path / "recondiff.toml"
    path.write_text(CONFIG.format(endpoint_extra=endpoint_extra, rest=rest), encoding="utf-8")
    return path


def test_the_runs_connection_is_confined(tmp_path: Path) -> None:
    """engine/connection.connect, with the run's own arguments, refuses what the factory does."""
    config = _run_dir(tmp_path, "")
    cfg = load_config(config)
    work, out = tmp_path / "work", tmp_path / "out"
    work.mkdir()
    con = connection.connect(cfg, work, [cfg.endpoint.snapshot], out, None)
    try:
        assert "Permission Error" in _refused(con, "SELECT * FROM read_text('/etc/passwd')")
        assert "Permission Error" in _refused(con, f"COPY (SELECT 1) TO '{tmp_path}/x.pth'")
        assert "locked" in _refused(con, "SET enable_external_access = true")
        # the settings of the run were applied before the lock
        assert con.execute("SELECT current_setting('TimeZone')").fetchone() == ("UTC",)
    finally:
        con.close()
    assert not (tmp_path / "x.pth").exists()


@pytest.mark.parametrize(
    "scope",
    [
        "TRUE) AS value; COPY (SELECT 'import os') TO '{target}' (HEADER false); SELECT (TRUE",
        "(SELECT count(*) FROM read_text('/etc/passwd')) > 0",
        "(SELECT count(*) FROM read_text('{snapshot_dir}/../../../../../etc/passwd')) > 0",
    ],
)
def test_an_expression_past_the_parse_check_still_cannot_get_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scope: str
) -> None:
    """With layer 1 switched off, a run with a hostile scope fails on one line
    and touches nothing outside its snapshots and directories."""
    monkeypatch.setattr(config_expression, "expression_problem", lambda _expression, **_: None)
    target = tmp_path / "site-packages" / "evil.pth"
    target.parent.mkdir()
    scope = scope.format(target=target, snapshot_dir=tmp_path)
    config = _run_dir(tmp_path, f'scope = "{scope}"')
    with pytest.raises(RecondiffError) as info:
        compare(config, tmp_path / "out")
    message = str(info.value)
    assert "\n" not in message
    assert "Permission Error" in message
    assert not target.exists()
    assert not (tmp_path / "out" / "summary.json").exists()


def test_a_confined_run_writes_its_outputs_with_relative_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """-c and -o relative to the working directory, a Parquet snapshot read in
    place and a second run reading the first one's state: all inside the
    confinement."""
    from recondiff.ingest import exports as ingest_mod
    from recondiff.ingest import snapshot as snapshot_mod
    _run_dir(tmp_path, 'scope = "title <> \'Nobody\'"')
    ingest_mod.ingest(
        tmp_path / "ad.csv", tmp_path / "ad.parquet", "csv", snapshot_mod.ReadOptions()
    )
    config = tmp_path / "recondiff.toml"
    config.write_text(config.read_text().replace('"ad.csv"', '"ad.parquet"'), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for _ in range(2):
        result = compare(Path("recondiff.toml"), Path("out"), state_dir=Path("state"))
        assert result.summary["situations"]["linked"] == 2
    assert (tmp_path / "out" / "summary.json").is_file()
