"""Run history across an incremental run (docs/explore.md, "Incremental runs":
"History across an incremental run").

An incremental endpoint snapshot holds only the accounts changed since some
time. The findings, exceptions and ownerships of the accounts it does not hold
were not looked at: they carry over from the previous run unchanged (still
open, first seen when they were); only the delta's accounts are re-judged.
No server: the delta is a file and the config says ``incremental = true``.

  run 1 (full):        alice linked 1001, mail drifted     (finding)
                       bob   linked 1002, mail drifted     (finding)
                       carol unmatched                     (finding)
                       dave  unmatched, assigned to 1004 by a reviewer
  run 2 (incremental): the delta holds bob alone, his mail fixed: in sync
  run 3 (full):        as run 1 but bob fixed (and, where a test says so,
                       identity 1001 gone from the repository)
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recondiff.compare import compare
from recondiff.history import Assignment, History, config_key, history_path
from tests.conftest import private_copy, read_only

FULL = "uid,mail\nalice,a@old\nbob,b@old\ncarol,c@ex\ndave,d@ex\n"
FIXED = "uid,mail\nalice,a@old\nbob,b@ex\ncarol,c@ex\ndave,d@ex\n"
DELTA = "uid,mail\nbob,b@ex\n"
REPOSITORY = (
    "id,account,mail\n1001,alice,a@ex\n1002,bob,b@ex\n1003,,z@ex\n1004,,d@ex\n"
)
CONFIG = """\
[endpoint]
name = "dir"
snapshot = "{endpoint}"
key = "uid"
incremental = {incremental}

[repository]
name = "hr"
snapshot = "repository.csv"
key = "id"
link = "account"

[[attribute]]
endpoint = "mail"
repository = "mail"
compare = "exact"
on_drift = "update_endpoint"
"""
KEY = config_key("dir", "hr")


def _run(tmp_path: Path, endpoint: str, *, incremental: bool = False,
         repository: str = REPOSITORY) -> dict[str, Any]:
    """One compare into tmp_path/out; the endpoint file is the full export or the delta."""
    name = "delta.csv" if incremental else "endpoint.csv"
    (tmp_path / name).write_text(endpoint, encoding="utf-8")
    (tmp_path / "repository.csv").write_text(repository, encoding="utf-8")
    config = tmp_path / ("incremental.toml" if incremental else "recondiff.toml")
    config.write_text(
        CONFIG.format(endpoint=name, incremental=str(incremental).lower()), encoding="utf-8"
    )
    summary = compare(config, tmp_path / "out", allow_shrink=True).summary
    time.sleep(1.1)  # run times are kept to the second: each run's first_seen its own
    return summary


Runs = tuple[Path, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Run 1 (full), once per module: the folder (read-only: a test copies it to
    run again) and its summary."""
    folder = tmp_path_factory.mktemp("full")
    first = _run(folder, FULL)
    with read_only(folder):
        yield folder, [first]


@pytest.fixture(scope="module")
def delta_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    """Run 1 (full) then run 2 (incremental: bob alone), once per module, as
    ``full_run``: the folder and both summaries."""
    folder = tmp_path_factory.mktemp("delta")
    first = _run(folder, FULL)
    second = _run(folder, DELTA, incremental=True)
    with read_only(folder):
        yield folder, [first, second]


def _continue(runs: Runs, tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    """A test's own copy of a shared folder, to run again there; the summaries so far."""
    folder, summaries = runs
    return private_copy(folder, tmp_path), copy.deepcopy(summaries)


def _findings(tmp_path: Path, run_id: str) -> dict[str, tuple[str, str]]:
    """The history's findings of one run: account -> (situation, first_seen)."""
    con = duckdb.connect(str(tmp_path / "out" / "history.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT endpoint_key, situation || coalesce(':' || sync, ''), "
            "CAST(first_seen AS VARCHAR) FROM findings WHERE run_id = $r",
            {"r": run_id},
        ).fetchall()
    finally:
        con.close()
    return {str(k): (str(s), str(t)) for k, s, t in rows}


def _report(tmp_path: Path) -> dict[str, Any]:
    report = json.loads((tmp_path / "out" / "report.json").read_text(encoding="utf-8"))
    return dict(report)


def _statuses(tmp_path: Path) -> dict[str, tuple[str | None, str | None]]:
    """Every situations row of the report: account -> (status, first_seen)."""
    found: dict[str, tuple[str | None, str | None]] = {}
    for table in _report(tmp_path)["tables"]:
        for row in table.get("rows", []):
            if row.get("endpoint_key") is not None:
                found[row["endpoint_key"]] = (row.get("status"), row.get("first_seen"))
    return found


def _situations(tmp_path: Path) -> dict[str, tuple[str, str, str]]:
    """Every record (situations.parquet: situations.csv leaves out linked in sync)."""
    rows = duckdb.execute(
        "SELECT endpoint_key, situation, coalesce(identity_key, ''), coalesce(rule, '') "
        "FROM read_parquet($p)", {"p": str(tmp_path / "out" / "situations.parquet")},
    ).fetchall()
    return {key: (situation, identity, rule) for key, situation, identity, rule in rows}


def _owners(tmp_path: Path) -> set[tuple[str, str, str]]:
    (path,) = (tmp_path / "out").glob("history-owners-*.parquet")
    rows = duckdb.sql(
        "SELECT run_id, identity_key, endpoint_key FROM read_parquet($p)",
        params={"p": str(path)},
    ).fetchall()
    return {(str(r), str(i), str(e)) for r, i, e in rows}


def test_an_incremental_run_carries_the_findings_of_accounts_outside_the_delta(
    delta_run: Runs,
) -> None:
    tmp_path, (first, second) = delta_run[0], copy.deepcopy(delta_run[1])
    before = _findings(tmp_path, first["run"]["id"])
    assert {k: s for k, (s, _) in before.items()} == {
        "alice": "linked:drifted", "bob": "linked:drifted",
        "carol": "unmatched", "dave": "unmatched",
    }
    assert second["run"]["incremental"] is True
    after = _findings(tmp_path, second["run"]["id"])
    # alice, carol and dave were not looked at: still open, first seen in run 1;
    # bob was re-judged: in sync now, his finding resolved (no finding)
    assert after == {k: before[k] for k in ("alice", "carol", "dave")}


def test_the_report_of_an_incremental_run_counts_only_the_deltas_accounts(
    delta_run: Runs,
) -> None:
    tmp_path = delta_run[0]  # run 1 (full), then run 2 (incremental)
    history = _report(tmp_path)["history"]
    # bob's drift is resolved; alice's, carol's and dave's findings were not
    # looked at: not resolved, carried over
    assert (history["new"], history["resolved"], history["persisting"]) == (0, 1, 0)
    assert [r["endpoint_key"] for r in history["resolved_rows"]] == ["bob"]
    assert history["scope"] == "delta"
    assert history["carried"] == 3
    html = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert "only the accounts in the delta" in html
    assert "3 findings of accounts outside the delta carried over" in html


def test_the_next_full_run_sees_the_carried_findings_as_persisting(
    delta_run: Runs, tmp_path: Path
) -> None:
    tmp_path, (first, _) = _continue(delta_run, tmp_path)  # run 1 (full), run 2 (incremental)
    before = _findings(tmp_path, first["run"]["id"])
    third = _run(tmp_path, FIXED)
    after = _findings(tmp_path, third["run"]["id"])
    assert after == {k: before[k] for k in ("alice", "carol", "dave")}  # first_seen kept
    history = _report(tmp_path)["history"]
    assert (history["new"], history["resolved"], history["persisting"]) == (0, 0, 3)
    assert history["scope"] == "all"
    statuses = _statuses(tmp_path)
    for account in ("alice", "carol", "dave"):
        assert statuses[account][0] == "persisting", account
        assert statuses[account][1] == datetime.fromisoformat(
            before[account][1]).astimezone(UTC).isoformat(timespec="seconds")


def test_the_ownerships_and_assignments_of_accounts_outside_the_delta_are_kept(
    full_run: Runs, tmp_path: Path
) -> None:
    tmp_path, (first,) = _continue(full_run, tmp_path)  # run 1 (full)
    assert ("1001", "alice") in {(i, e) for _, i, e in _owners(tmp_path)}
    History(history_path(tmp_path / "out", None)).record_assignments(KEY, [Assignment(
        plan_digest="sha256:" + "0" * 64, seq=1, event_id="ev-dave", endpoint_key="dave",
        endpoint_uuid=None, identity_key="1004", assigned_by="reviewer",
        assigned_at=datetime.fromisoformat(first["run"]["finished_at"]), comment=None,
    )])
    second = _run(tmp_path, DELTA, incremental=True)
    owners = _owners(tmp_path)
    assert {r for r, _, _ in owners} == {second["run"]["id"]}  # the file is the latest run's
    assert {(i, e) for _, i, e in owners} == {("1001", "alice"), ("1002", "bob")}
    # the next full run: identity 1001 is gone from the repository; alice's
    # ownership, kept through the incremental run, says her identity vanished
    repository = REPOSITORY.replace("1001,alice,a@ex\n", "")
    _run(tmp_path, FIXED, repository=repository)
    found = _situations(tmp_path)
    assert found["alice"] == ("deleted_in_repository", "1001", "vanished")
    assert found["dave"][:2] == ("linked", "1004")  # the reviewer's assignment still holds


def test_two_incremental_runs_in_a_row_carry_the_findings_on(
    delta_run: Runs, tmp_path: Path
) -> None:
    """The second incremental run's previous run is the first: what that one
    carried over is carried again, ownerships too; the new account is new."""
    tmp_path, (first, _) = _continue(delta_run, tmp_path)  # run 1 (full), run 2 (incremental)
    before = _findings(tmp_path, first["run"]["id"])
    third = _run(tmp_path, "uid,mail\nerin,e@ex\n", incremental=True)
    after = _findings(tmp_path, third["run"]["id"])
    assert {k: v for k, v in after.items() if k != "erin"} == {
        k: before[k] for k in ("alice", "carol", "dave")}
    assert after["erin"][0] == "unmatched" and after["erin"][1] > before["alice"][1]
    history = _report(tmp_path)["history"]
    assert (history["new"], history["resolved"], history["carried"]) == (1, 0, 3)
    assert {(i, e) for _, i, e in _owners(tmp_path)} == {("1001", "alice"), ("1002", "bob")}


def test_an_account_in_the_delta_is_matched_by_its_folded_key(
    full_run: Runs, tmp_path: Path
) -> None:
    """The delta's accounts are matched as keys are everywhere (rd_key: trimmed,
    case-folded): bob spelled "BOB" in the delta is bob, re-judged, not carried."""
    tmp_path, _ = _continue(full_run, tmp_path)  # run 1 (full)
    second = _run(tmp_path, "uid,mail\n BOB ,b@ex\n", incremental=True)
    assert set(_findings(tmp_path, second["run"]["id"])) == {"alice", "carol", "dave"}
    history = _report(tmp_path)["history"]
    assert (history["resolved"], history["carried"]) == (1, 3)
    assert {(i, e) for _, i, e in _owners(tmp_path)} == {("1001", "alice"), ("1002", " BOB ")}
