"""Exit codes are an API: 0 in sync, 1 differences, 2 the user's to fix (a full
disk included), 3 a bug in recondiff, 130 Ctrl-C, 143 SIGTERM.

A crash must never read as "differences found" (1) nor as the user's input
error (2); a full disk must never be a traceback. The full-disk tests write to
a real, tiny tmpfs: they need root (mount); without it they skip, and fail on
CI (RECONDIFF_REQUIRE_SYSTEM=1).
"""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

import recondiff.compare as compare
from recondiff.cli.main import cli
from recondiff.engine import publish
from recondiff.errors import ExitCode
from tests.conftest import SAMPLE

REPORT = (
    "please report it to the recondiff maintainers with the output of the same command "
    "run as 'recondiff --debug ...' (or with RECONDIFF_DEBUG=1)"
)
INTERNAL = "recondiff: internal error (a bug in recondiff, not a problem with your input): "


def _run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"uncaught {result.exception!r}") from result.exception
    return result


def _compare(out: Path, *extra: str, env: dict[str, str] | None = None) -> Result:
    return _run(*extra, "compare", "-c", str(SAMPLE / "recondiff.toml"), "-o", str(out), "-q",
                env=env)


@pytest.fixture
def crashing_compare(monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: Any, **kwargs: Any) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(compare, "compare", crash)


def test_a_crash_is_exit_3_and_one_line(crashing_compare: None, tmp_path: Path) -> None:
    result = _compare(tmp_path / "out", env={"RECONDIFF_DEBUG": ""})
    assert result.exit_code == 3
    assert result.stderr == f"{INTERNAL}KeyError: 'boom'; {REPORT}\n"
    assert result.stdout == ""


@pytest.mark.parametrize("how", ["--debug", "RECONDIFF_DEBUG=1"])
def test_debug_adds_the_traceback(crashing_compare: None, tmp_path: Path, how: str) -> None:
    if how == "--debug":
        result = _compare(tmp_path / "out", "--debug")
    else:
        result = _compare(tmp_path / "out", env={"RECONDIFF_DEBUG": "1"})
    assert result.exit_code == 3
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert "in crash" in result.stderr and "KeyError: 'boom'" in lines[-2]
    assert lines[-1] == f"{INTERNAL}KeyError: 'boom'; {REPORT}"


def test_an_unknown_duckdb_failure_is_internal(monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    """A step no input can make fail (here queries/results/sync_counts.sql) is a bug:
    exit 3, not the user's input error (2) it used to be."""
    import recondiff.engine.steps as steps

    render, load = steps.render, steps.load
    broken = "SELECT error('broken step')"
    monkeypatch.setattr(
        steps, "render", lambda name, **f: broken if name == "results/sync_counts" else render(name, **f)
    )
    monkeypatch.setattr(steps, "load", lambda name: broken if name == "results/sync_counts" else load(name))
    out = tmp_path / "out"
    result = _compare(out, env={"RECONDIFF_DEBUG": ""})
    assert result.exit_code == 3
    assert result.stderr == (
        f"{INTERNAL}queries/results/sync_counts.sql failed: Invalid Input Error: broken step; {REPORT}\n"
    )
    assert not out.exists() or not list(out.iterdir())


def test_a_full_disk_anywhere_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    """The CLI's last line of defence: ENOSPC from any write no module mapped."""
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/var/x/file")

    monkeypatch.setattr(compare, "compare", full)
    result = _compare(tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (
        "recondiff: error: /var/x/file: no space left on device; free some space "
        "(or write elsewhere) and run again\n"
    )


def test_other_os_errors_nobody_mapped_are_internal(monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    monkeypatch.setattr(compare, "compare", broken)
    result = _compare(tmp_path / "out", env={"RECONDIFF_DEBUG": ""})
    assert result.exit_code == 3
    assert result.stderr.startswith(f"{INTERNAL}OSError: [Errno 9] Bad file descriptor; ")


def test_duckdb_interrupted_anywhere_is_an_interrupt(monkeypatch: pytest.MonkeyPatch,
                                                      tmp_path: Path) -> None:
    """DuckDB turns Ctrl-C into RuntimeError('Query interrupted'); one that no
    module mapped is still exit 130, not an internal error."""
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("Query interrupted")

    monkeypatch.setattr(compare, "compare", interrupted)
    result = _compare(tmp_path / "out")
    assert result.exit_code == 130
    assert result.stderr == "recondiff: interrupted; no output was half-written\n"


def test_sigterm_in_any_command_is_143(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The CLI, not compare alone, turns SIGTERM into an interrupt (here while
    plan show loads a plan), and puts the previous handler back after."""
    import recondiff.cli.plan as cli_plan

    def terminated(*args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this
        raise AssertionError("SIGTERM was not handled")

    monkeypatch.setattr(cli_plan.review, "show_file", terminated)
    before = signal.getsignal(signal.SIGTERM)
    result = _run("plan", "show", str(tmp_path / "plan.jsonl"))
    assert result.exit_code == 143
    assert result.stderr == "recondiff: terminated (SIGTERM); no output was half-written\n"
    assert signal.getsignal(signal.SIGTERM) == before


@pytest.mark.parametrize("args", [["--help"], ["compare", "--help"]])
def test_help_lists_every_exit_code(args: list[str]) -> None:
    text = " ".join(_run(*args).stdout.split())
    for code, meaning in [
        ("0", "in sync"),
        ("1", "differences found"),
        ("2", "config"),
        ("3", "internal error"),
        ("130", "interrupted"),
        ("143", "terminated (SIGTERM)"),
    ]:
        assert f"{code} " in text and meaning in text, (code, text)
    assert "--debug" in text


def test_the_readme_lists_every_exit_code() -> None:
    readme = " ".join((SAMPLE.parent / "README.md").read_text(encoding="utf-8").split())
    for code in ExitCode:
        assert f"| {int(code)} |" in readme, code
    assert "RECONDIFF_DEBUG=1" in readme and "--debug" in readme


# --- a real full disk ----------------------------------------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs mounted for the test (needs root)."""
    mount, umount = shutil.which("mount"), shutil.which("umount")
    point = tmp_path / "fs"
    point.mkdir()
    mounted = (
        os.geteuid() == 0
        and mount is not None
        and umount is not None
        and subprocess.run(
            [mount, "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(point)],
            capture_output=True, check=False,
        ).returncode == 0
    )
    if not mounted:
        if os.environ.get("RECONDIFF_REQUIRE_SYSTEM") == "1":
            pytest.fail("mounting a tmpfs (root) is required (RECONDIFF_REQUIRE_SYSTEM=1)")
        pytest.skip("mounting a tmpfs needs root")
    try:
        yield point
    finally:
        assert umount is not None
        subprocess.run([umount, "-l", str(point)], check=False)


def _leave_free(fs: Path, kib: int) -> None:
    """Fill ``fs`` so that only ``kib`` KiB stay free."""
    filler = fs / "filler"
    filler.unlink(missing_ok=True)
    st = os.statvfs(fs)
    size = st.f_bavail * st.f_frsize - kib * 1024
    if size > 0:
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, size)
        finally:
            os.close(fd)


def _contents(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


@pytest.mark.slow
def test_a_full_output_disk_keeps_the_previous_results(
    tiny_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no space at all, then with room for the DuckDB tables only, then
    for the plan too, then for report.json too: each run that cannot write
    its results (DuckDB's COPY, the plan, report.json, report.html) is one
    line and exit 2, and leaves the previous run's outputs byte for byte with
    no staging directory behind; then a run with room succeeds."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    out = tiny_fs / "out"
    assert _compare(out).exit_code == 1
    before = _contents(out)
    history = before.pop("history.duckdb")
    pages = [-(-len(before[name]) // 4096) * 4 for name in publish.OUTPUT_FILES]  # KiB
    room = [0, *(sum(pages[:n]) + 4 for n in (5, 6, 7))]  # drift_diff.csv, plan, report.json
    for kib in room:
        _leave_free(tiny_fs, kib)
        result = _compare(out)
        assert result.exit_code == 2, (kib, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr == (
            f"recondiff: error: {out}: cannot write the results (no space left on device); "
            "the previous results are untouched; free some space or pass another -o\n"
        )
        now = _contents(out)
        assert now.pop("history.duckdb") == history
        assert now == before, f"{kib} KiB free: the previous results changed"
        assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
        assert list(temp.iterdir()) == []
    (tiny_fs / "filler").unlink()
    assert _compare(out).exit_code == 1
    assert _contents(out)["summary.json"] != before["summary.json"]


def test_a_full_temp_disk_is_one_line(
    tiny_fs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's work directory (TMPDIR) full while an export is turned into a
    snapshot: one line, exit 2, nothing left in TMPDIR."""
    temp = tiny_fs / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    _leave_free(tiny_fs, 16)
    result = _compare(tmp_path / "out")
    assert result.exit_code == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"error: {temp}/recondiff-" in result.stderr
    assert ".parquet: cannot write the snapshot (No space left on device)" in result.stderr
    assert list(temp.iterdir()) == []
