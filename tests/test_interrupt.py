"""Ctrl-C in the middle of a DuckDB step: exit 130, one line, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

import recondiff.compare as compare
from recondiff.errors import InputError, InternalError
from tests.conftest import ROOT


def test_sigint_during_compare_exits_130_and_leaves_nothing(tmp_path: Path) -> None:
    data = tmp_path / "bench"
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "400000", str(data)],
        check=True, stdout=subprocess.DEVNULL,
    )
    out = tmp_path / "out"
    env = {**os.environ, "RECONDIFF_PROGRESS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recondiff.cli", "compare", "-c", str(data / "recondiff.toml"),
         "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:  # wait until the SQL steps run
        lines.append(line)
        if "classifying accounts" in line:
            break
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    code = proc.wait()
    assert code == 130, "".join(lines) + rest
    assert rest == "recondiff: interrupted; no output was half-written\n"
    assert not out.exists() or list(out.iterdir()) == []


# A SELECT that fails after DuckDB has produced 300,000 of its rows.
_FAILS_LATE = (
    "SELECT CASE WHEN i = 300000 THEN error('disk full') ELSE CAST(i AS VARCHAR) END "
    "AS line FROM range(400000) t(i)"
)


@pytest.fixture
def failing_query(monkeypatch: pytest.MonkeyPatch) -> duckdb.DuckDBPyConnection:
    monkeypatch.setattr(compare, "render", lambda name, **fills: _FAILS_LATE)
    monkeypatch.setattr(compare, "load", lambda name: _FAILS_LATE)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    return con


def test_a_failure_while_a_stream_is_read_is_one_line(
    failing_query: duckdb.DuckDBPyConnection,
) -> None:
    """The plan's events stream out of DuckDB (compare._batches); a failure
    after the first batches still becomes recondiff's one-line error (an
    interrupt, KeyboardInterrupt). No input explains a failure of this step: it
    is an internal error (exit 3), not the user's (exit 2)."""
    stream = compare._batches(failing_query, "plan_events", {}, {}, 5_000)
    with pytest.raises(InternalError, match=r"^queries/plan_events\.sql failed: .*disk full$"):
        for _ in stream:
            pass


def test_a_failure_while_a_steps_rows_are_fetched_is_one_line(
    failing_query: duckdb.DuckDBPyConnection,
) -> None:
    """DuckDB runs a SELECT while its rows are fetched: a step fetches them
    itself, inside its error mapping, so a report query that fails (or is
    interrupted) there is one line, not a traceback that exits 1."""
    with pytest.raises(InternalError, match=r"^queries/report_rows\.sql failed: .*disk full$"):
        compare._step(failing_query, "report_rows", {})


def test_a_step_that_runs_out_of_disk_is_the_users_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's words for ENOSPC make any step's failure exit 2 (the machine's
    to fix), not an internal error; a step that writes the results names OUTDIR."""
    full = "SELECT error('Could not write file \"x\": No space left on device')"
    monkeypatch.setattr(compare, "render", lambda name, **fills: full)
    monkeypatch.setattr(compare, "load", lambda name: full)
    con = duckdb.connect()
    with pytest.raises(InputError, match=r"^queries/drift_pairs\.sql: no space left on device for DuckDB's temp"):
        compare._step(con, "drift_pairs", {})
    with pytest.raises(InputError, match=r"^/o: cannot write the results \(no space left on device\); the previous"):
        compare._step(con, "copy_drift_csv", {}, {"out": "/o"})
