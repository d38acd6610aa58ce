"""Ctrl-C in the middle of a DuckDB step: exit 130, one line, nothing written.
SIGTERM likewise (exit 143), with no temporary directory left behind; what a
SIGKILLed run leaves, the next run removes. Real processes, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import recondiff.engine.steps as steps
import recondiff.engine.workdirs as workdirs
from recondiff.errors import InputError, InternalError
from tests.conftest import ROOT, SAMPLE


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 400,000-identity scenario: long enough to be caught in any phase."""
    data = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "400000", str(data)],
        check=True, stdout=subprocess.DEVNULL,
    )
    return data / "recondiff.toml"


def test_sigint_during_compare_exits_130_and_leaves_nothing(big_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {**os.environ, "RECONDIFF_PROGRESS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "recondiff", "compare", "-c", str(big_run), "-o", str(out)],
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
    monkeypatch.setattr(steps, "render", lambda name, **fills: _FAILS_LATE)
    monkeypatch.setattr(steps, "load", lambda name: _FAILS_LATE)
    con = duckdb.connect()
    con.execute("SET threads = 2")
    return con


def test_a_failure_while_a_stream_is_read_is_one_line(
    failing_query: duckdb.DuckDBPyConnection,
) -> None:
    """The plan's events stream out of DuckDB (recondiff.engine.steps.batches); a failure
    after the first batches still becomes recondiff's one-line error (an
    interrupt, KeyboardInterrupt). No input explains a failure of this step: it
    is an internal error (exit 3), not the user's (exit 2)."""
    stream = steps.batches(failing_query, "plan/events", {}, {}, 5_000)
    with pytest.raises(InternalError, match=r"^queries/plan/events\.sql failed: .*disk full$"):
        for _ in stream:
            pass


def test_a_failure_while_a_steps_rows_are_fetched_is_one_line(
    failing_query: duckdb.DuckDBPyConnection,
) -> None:
    """DuckDB runs a SELECT while its rows are fetched: a step fetches them
    itself, inside its error mapping, so a report query that fails (or is
    interrupted) there is one line, not a traceback that exits 1."""
    with pytest.raises(InternalError, match=r"^queries/report/rows\.sql failed: .*disk full$"):
        steps.run_step(failing_query, "report/rows", {})


def test_a_step_that_runs_out_of_disk_is_the_users_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's words for ENOSPC make any step's failure exit 2 (the machine's
    to fix), not an internal error; a step that writes the results names OUTDIR."""
    full = "SELECT error('Could not write file \"x\": No space left on device')"
    monkeypatch.setattr(steps, "render", lambda name, **fills: full)
    monkeypatch.setattr(steps, "load", lambda name: full)
    con = duckdb.connect()
    with pytest.raises(InputError, match=r"^queries/drift/pairs\.sql: no space left on device for DuckDB's temp"):
        steps.run_step(con, "drift/pairs", {})
    with pytest.raises(InputError, match=r"^/o: cannot write the results \(no space left on device\); the previous"):
        steps.run_step(con, "results/drift_csv", {}, {"out": "/o"})


# --- SIGTERM and SIGKILL -------------------------------------------------------


def _start(config: Path, out: Path, temp: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "RECONDIFF_PROGRESS": "1", "TMPDIR": str(temp)}
    return subprocess.Popen(
        [sys.executable, "-m", "recondiff", "compare", "-c", str(config), "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
    )


def _wait_for(proc: subprocess.Popen[str], phase: str) -> list[str]:
    assert proc.stderr is not None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if phase in line:
            return lines
    raise AssertionError(f"never reached {phase!r}: {''.join(lines)}")


def _sample_run(out: Path, temp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recondiff", "compare", "-c", str(SAMPLE / "recondiff.toml"),
         "-o", str(out), "-q"],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(temp)}, check=False,
    )


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.fixture
def dirs(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    temp = tmp_path / "tmp"
    temp.mkdir()
    yield tmp_path / "out", temp


@pytest.mark.parametrize("phase", ["classifying accounts", "writing the action plan"])
def test_sigterm_is_handled_like_ctrl_c(
    big_run: Path, dirs: tuple[Path, Path], phase: str
) -> None:
    """SIGTERM while DuckDB classifies, or while the results are being written
    over an earlier run's: exit 143, one line, the earlier results byte for
    byte, and no temporary directory left (TMPDIR/recondiff-*,
    OUTDIR/.recondiff-tmp-*). Before, SIGTERM killed the process where it
    stood and left both behind."""
    out, temp = dirs
    assert _sample_run(out, temp).returncode == 1
    before = _files(out)
    proc = _start(big_run, out, temp)
    lines = _wait_for(proc, phase)
    proc.send_signal(signal.SIGTERM)
    assert proc.stderr is not None
    rest = proc.stderr.read()
    code = proc.wait()
    assert code == 143, "".join(lines) + rest
    assert rest == "recondiff: terminated (SIGTERM); no output was half-written\n"
    assert _files(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    assert list(temp.iterdir()) == []


def test_the_next_run_removes_what_a_killed_run_left(big_run: Path, dirs: tuple[Path, Path]) -> None:
    """SIGKILL leaves no chance to clean up: the run's work directory in
    TMPDIR and its staging directory in OUTDIR stay. The next run, of any
    config, into the same OUTDIR and TMPDIR removes both."""
    out, temp = dirs
    proc = _start(big_run, out, temp)
    _wait_for(proc, "writing the action plan")
    proc.kill()
    proc.wait()
    assert [p.name for p in temp.iterdir()] == [p.name for p in temp.glob(f"recondiff-{proc.pid}-*")]
    assert len(list(temp.iterdir())) == 1
    assert len(list(out.glob(f".recondiff-tmp-{proc.pid}-*"))) == 1
    run = _sample_run(out, temp)
    assert run.returncode == 1, run.stderr
    assert list(temp.iterdir()) == []
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_a_live_runs_directories_are_left_alone(tmp_path: Path) -> None:
    """Only a dead process's unlocked directory is a leftover: not a live
    process's (another run in progress), not one whose lock is held (a run in
    another PID namespace or host), not another user's, not a symlink."""
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        gone = subprocess.Popen(["true"])  # its pid is free again once reaped
        gone.wait()
        live = tmp_path / f"recondiff-{sleeper.pid}-abcd1234"
        leftover = tmp_path / f"recondiff-{gone.pid}-abcd1234"
        locked = tmp_path / f"recondiff-{gone.pid}-locked00"
        other = tmp_path / "recondiff-notapid-abcd1234"
        target = tmp_path / "precious"
        link = tmp_path / f"recondiff-{gone.pid}-symlink0"
        for d in (live, leftover, locked, other, target):
            d.mkdir()
            (d / "file").write_text("x")
        for d in (live, leftover, locked, other):  # made by recondiff (_owned_directory)
            (d / workdirs.OWNER_MARK).touch()
        link.symlink_to(target)
        holder = subprocess.Popen(
            [sys.executable, "-c",
             "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDONLY); "
             "fcntl.flock(fd, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
             str(locked)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
            workdirs.remove_leftovers(tmp_path, workdirs.WORK_PREFIX)
        finally:
            holder.kill()
            holder.wait()
        assert not leftover.exists()
        assert live.exists() and locked.exists() and other.exists()
        assert link.is_symlink() and (target / "file").exists()
        workdirs.remove_leftovers(tmp_path, workdirs.WORK_PREFIX)  # the lock is gone now
        assert not locked.exists()
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_killed_runs_utf16_transcoding_file_is_removed_too(tmp_path: Path) -> None:
    """A UTF-16 CSV export is transcoded to TMPDIR/recondiff-<pid>-<random>.csv,
    locked while in use. A SIGKILL during the transcoding leaves it; the next
    run removes it, but not a live run's (its lock), nor a file of another name."""
    from recondiff.ingest.csv_table import _transcode_utf16

    source = tmp_path / "export.csv"
    source.write_text("sAMAccountName,title\njdoe,Eng\n", encoding="utf-16")
    gone = subprocess.Popen(["true"])
    gone.wait()
    temp = tmp_path / "tmp"
    temp.mkdir()
    left = temp / f"recondiff-{gone.pid}-abcd1234.csv"
    left.write_text("x")
    unrelated = temp / "recondiff-notes.csv"
    unrelated.write_text("keep")
    old = tempfile.tempdir
    tempfile.tempdir = str(temp)
    try:
        live, lock = _transcode_utf16(source)
    finally:
        tempfile.tempdir = old
    try:
        assert live.parent == temp and live.name.startswith(f"recondiff-{os.getpid()}-")
        assert live.read_text(encoding="utf-8") == "sAMAccountName,title\njdoe,Eng\n"
        workdirs.remove_leftovers(temp, workdirs.WORK_PREFIX)
        assert not left.exists()
        assert live.exists() and unrelated.read_text() == "keep"
    finally:
        live.unlink()
        os.close(lock)
