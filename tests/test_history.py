"""Run history: first seen, new/resolved, and identities that vanished.

Tiny directory (differences written down):
  run 1: jdoe linked to 1001 (in sync), bwong linked to 1003 (in sync),
         tmp01 unmatched (a finding)
  run 2: identity 1003 is gone from the repository file; 1004 is still in the
         file but out of scope (employee_type Partner) and was linked to cdavis
         in run 1 as an in-scope Employee
     ->  bwong: deleted_in_repository, rule 'vanished', identity 1003
         cdavis: unmatched (its identity did not vanish, it left the scope)
         tmp01: still unmatched, first seen in run 1
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from recondiff.cli.main import cli
from recondiff.compare import compare
from recondiff.history import History, history_path
from tests.conftest import read_only

ENDPOINT = "uid,mail\njdoe,j@ex\nbwong,b@ex\ncdavis,c@ex\ntmp01,\n"
RUN1 = (
    "id,account,type\n"
    "1001,jdoe,Employee\n1003,bwong,Employee\n1004,cdavis,Employee\n"
)
RUN2 = "id,account,type\n1001,jdoe,Employee\n1004,cdavis,Partner\n"
CONFIG = """\
[endpoint]
name = "dir"
snapshot = "endpoint.csv"
key = "uid"

[repository]
name = "hr"
snapshot = "repository.csv"
key = "id"
link = "account"
scope = "type <> 'Partner'"
"""


def run(tmp_path: Path, repository: str, **kw: object) -> dict[str, object]:
    (tmp_path / "endpoint.csv").write_text(ENDPOINT, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(repository, encoding="utf-8")
    (tmp_path / "recondiff.toml").write_text(CONFIG, encoding="utf-8")
    return compare(tmp_path / "recondiff.toml", tmp_path / "out", **kw).summary  # type: ignore[arg-type]


Runs = tuple[Path, list[dict[str, object]]]


@pytest.fixture(scope="module")
def run1(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """``run(RUN1)`` once per module: the folder (read-only; copy it to run on) and
    the summary."""
    folder = tmp_path_factory.mktemp("run1")
    first = run(folder, RUN1)
    with read_only(folder):
        yield folder, [first]


@pytest.fixture(scope="module")
def run1_twice(tmp_path_factory: pytest.TempPathFactory, run1: Runs) -> Iterator[Runs]:
    """``run(RUN1)`` twice in one folder (the first is ``run1``'s, copied): read-only."""
    folder = tmp_path_factory.mktemp("run1-twice")
    shutil.copytree(run1[0], folder, dirs_exist_ok=True)
    second = run(folder, RUN1)
    with read_only(folder):
        yield folder, [*copy.deepcopy(run1[1]), second]


def situations(tmp_path: Path) -> dict[str, tuple[str, str, str]]:
    """Every record (situations.parquet: situations.csv leaves out linked in sync)."""
    import duckdb

    rows = duckdb.execute(
        "SELECT endpoint_key, situation, coalesce(identity_key, ''), coalesce(rule, '') "
        "FROM read_parquet($p)", {"p": str(tmp_path / "out" / "situations.parquet")},
    ).fetchall()
    return {key: (situation, identity, rule) for key, situation, identity, rule in rows}


def test_an_identity_gone_since_the_last_run_makes_its_account_deleted_in_repository(
    run1: Runs, tmp_path: Path,
) -> None:
    shutil.copytree(run1[0], tmp_path, dirs_exist_ok=True)  # run(tmp_path, RUN1)
    assert situations(tmp_path)["bwong"] == ("linked", "1003", "link")
    run(tmp_path, RUN2, allow_shrink=True)  # one identity of three is gone: the shrink guard
    found = situations(tmp_path)
    assert found["bwong"] == ("deleted_in_repository", "1003", "vanished")
    assert found["cdavis"] == ("unmatched", "", "")
    assert found["tmp01"] == ("unmatched", "", "")


def test_without_history_the_account_is_unmatched(tmp_path: Path) -> None:
    run(tmp_path, RUN2)
    assert situations(tmp_path)["bwong"] == ("unmatched", "", "")


def test_findings_keep_their_first_seen_time(run1_twice: Runs) -> None:
    tmp_path, (first, second) = run1_twice[0], copy.deepcopy(run1_twice[1])
    runs = History(history_path(tmp_path / "out", None)).runs()
    assert [r["run_id"] for r in runs] == [second["run"]["id"], first["run"]["id"]]  # type: ignore[index]
    import duckdb

    con = duckdb.connect(str(tmp_path / "out" / "history.duckdb"), read_only=True)
    rows = con.execute(
        "SELECT run_id, endpoint_key, CAST(first_seen AS VARCHAR) FROM findings ORDER BY run_id"
    ).fetchall()
    assert [r[1] for r in rows] == ["tmp01", "tmp01"]
    assert rows[0][2] == rows[1][2]  # the second run's tmp01 was first seen in the first run


def test_state_dir_and_history_command(tmp_path: Path) -> None:
    state = tmp_path / "state"
    run(tmp_path, RUN1, state_dir=state)
    assert not (tmp_path / "out" / "history.duckdb").exists()
    assert (state / "history.duckdb").exists()
    result = CliRunner().invoke(cli, ["history", "--state", str(state)], catch_exceptions=False)
    lines = result.output.splitlines()
    assert lines[0].split("\t") == [
        "run", "finished", "endpoint", "repository", "differences", "drifted", "config"]
    assert lines[1].split("\t")[2:6] == ["dir", "hr", "1", "0"]
    result = CliRunner().invoke(cli, ["history", "--state", str(state), "--json"])
    (one,) = json.loads(result.output)
    assert one["summary"]["situations"]["unmatched"] == 1


def test_history_command_without_history_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["history", "--state", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output == (
        f"recondiff: error: {tmp_path}/history.duckdb: no run history here; "
        "pass --state DIR (compare's --state, or its -o)\n"
    )


def test_only_the_latest_runs_ownerships_are_kept(run1_twice: Runs) -> None:
    import duckdb

    tmp_path, (_, second) = run1_twice[0], copy.deepcopy(run1_twice[1])
    (owners,) = (tmp_path / "out").glob("history-owners-*.parquet")
    kept = duckdb.sql(
        "SELECT DISTINCT run_id FROM read_parquet($p)", params={"p": str(owners)}
    ).fetchall()
    assert kept == [(second["run"]["id"],)]  # type: ignore[index]
    assert not list((tmp_path / "out").glob(".*.tmp"))


def test_ctrl_c_while_the_previous_findings_are_written_is_an_interrupt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """History.previous writes the last run's findings with one COPY; DuckDB
    reports Ctrl-C there as its own InterruptException, which must reach the
    CLI as an interrupt (exit 130, the outputs of the last run untouched),
    not as "not a recondiff run history" (exit 2)."""
    import duckdb

    from recondiff.io.sqlfiles import load

    run(tmp_path, RUN1)
    out = tmp_path / "out"
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.name != "history.duckdb"}
    copy_sql = load("history/previous_findings")

    class Interrupting:
        def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
            self.con = con

        def execute(self, sql: str, *args: object) -> object:
            if sql == copy_sql:
                raise duckdb.InterruptException("INTERRUPT Error: Interrupted!")
            return self.con.execute(sql, *args)

        def close(self) -> None:
            self.con.close()

    real_connect = History._connect
    monkeypatch.setattr(
        History, "_connect", lambda self, read_only: Interrupting(real_connect(self, read_only))
    )
    with pytest.raises(KeyboardInterrupt):
        History(history_path(out, None)).previous("dir|hr", tmp_path / "findings.parquet")

    result = CliRunner().invoke(
        cli, ["compare", "-c", str(tmp_path / "recondiff.toml"), "-o", str(out)]
    )
    assert result.exit_code == 130, result.output
    assert "interrupted" in result.output
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.name != "history.duckdb"} == before
