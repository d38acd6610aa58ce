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
from recondiff.errors import InputError
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


def test_a_failure_while_a_stream_is_read_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan's events stream out of DuckDB (compare._batches); a failure
    after the first batches arrives through Arrow as an OSError, and still
    becomes recondiff's one-line error (an interrupt, KeyboardInterrupt)."""
    failing = (
        "SELECT CASE WHEN i = 300000 THEN error('disk full') ELSE CAST(i AS VARCHAR) END "
        "AS line FROM range(400000) t(i)"
    )
    monkeypatch.setattr(compare, "render", lambda name, **fills: failing)
    monkeypatch.setattr(compare, "load", lambda name: failing)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    stream = compare._batches(con, "plan_events", {}, {}, 5_000)
    with pytest.raises(InputError, match=r"^queries/plan_events\.sql failed .*disk full"):
        for _ in stream:
            pass
