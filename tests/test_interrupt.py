"""Ctrl-C in the middle of a DuckDB step: exit 130, one line, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

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
