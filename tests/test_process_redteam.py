"""Second reader of issue 14 items 3, 9 (shrink guard) and 23: attacks on how
recondiff fails (crashes, signals, a closed stdout, the leftover sweep).
Real processes and real signals; nothing of the OS is mocked."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import recondiff.compare as compare
from recondiff.cli.main import cli
from recondiff.engine import publish, workdirs
from tests import test_exit_codes
from tests.conftest import ROOT, SAMPLE, SampleRun, private_copy

PY = [sys.executable, "-m", "recondiff"]
tiny_fs = test_exit_codes.tiny_fs  # a real 4 MiB tmpfs (root), as the exit-code tests use
_leave_free = test_exit_codes._leave_free


@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("bench")
    subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "generate.py"), "200000", str(data)],
        check=True, stdout=subprocess.DEVNULL,
    )
    return data / "recondiff.toml"


# --- two signals: the second must not cut the clean-up short ------------------


@pytest.mark.parametrize("phase", ["classifying accounts", "writing results"])
@pytest.mark.parametrize("first", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_a_second_signal_during_the_clean_up_leaves_nothing(
    big_run: Path, tmp_path: Path, phase: str, first: signal.Signals
) -> None:
    """Hole: the SIGTERM handler raised KeyboardInterrupt for every signal, so a
    second SIGTERM (an impatient operator, a supervisor resending) landed inside
    the clean-up: TMPDIR/recondiff-* was left behind and the interruption was
    reported twice. Now only the first signal interrupts."""
    temp, out = tmp_path / "tmp", tmp_path / "out"
    temp.mkdir()
    env = {**os.environ, "RECONDIFF_PROGRESS": "1", "TMPDIR": str(temp)}
    proc = subprocess.Popen(
        [*PY, "compare", "-c", str(big_run), "-o", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if phase in line:
            break
    proc.send_signal(first)
    for _ in range(300):  # a flood of SIGTERMs while it stops
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.001)
    rest = proc.stderr.read()
    code = proc.wait()
    # One line. After a Ctrl-C, a SIGTERM of the flood that arrives in the same
    # instant may be the one the interpreter takes first (a CI run saw it): either
    # word is right then, and only one may be printed.
    words = ["terminated (SIGTERM)"] + (["interrupted"] if first == signal.SIGINT else [])
    assert rest in [f"recondiff: {w}; no output was half-written\n" for w in words], (
        "".join(seen) + rest
    )
    # a SIGTERM after the handler was put back, as the process exits, is still 143 to a shell
    assert code in (143, 130, -signal.SIGTERM), code
    assert list(temp.iterdir()) == []
    assert not out.exists() or [p.name for p in out.iterdir()] == []


# --- the leftover sweep ---------------------------------------------------------


def _dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


@pytest.mark.slow
def test_the_sweep_leaves_a_look_alike_another_tool_made(tmp_path: Path) -> None:
    """Hole: any directory of this user named recondiff-<digits>-<letters> in
    TMPDIR (or .recondiff-tmp-<digits>-<letters> in OUTDIR) whose 'pid' was not
    running was deleted with its contents: /tmp/recondiff-2026-backup went at
    the next compare. Now only a directory recondiff marked as its own goes."""
    temp, out = tmp_path / "tmp", tmp_path / "out"
    pid = _dead_pid()
    keep = [
        temp / "recondiff-2026-backup",
        temp / "recondiff-2026-november",  # as long as mkdtemp's random part
        temp / f"recondiff-{pid}-abcd1234",
        out / ".recondiff-tmp-1-notes",
        out / f".recondiff-tmp-{pid}-abcd1234",
    ]
    for d in keep:
        d.mkdir(parents=True)
        (d / "precious").write_text("keep")
    ours = temp / f"recondiff-{pid}-wzddck_w"  # what a SIGKILLed run leaves
    ours.mkdir()
    (ours / workdirs.OWNER_MARK).touch()
    (ours / "endpoint.parquet").write_text("x")
    run = subprocess.run(
        [*PY, "compare", "-q", "-c", str(SAMPLE / "recondiff.toml"), "-o", str(out)],
        capture_output=True, text=True, env={**os.environ, "TMPDIR": str(temp)}, check=False,
    )
    assert run.returncode == 1, run.stderr
    for d in keep:
        assert (d / "precious").read_text() == "keep", d
    assert not ours.exists()


def test_the_sweep_leaves_symlinks_and_other_users_directories(tmp_path: Path) -> None:
    """Held: a symlink named like a leftover (to / or to a directory) is never
    followed; another user's marked leftover stays (only root can test that)."""
    pid = _dead_pid()
    target = tmp_path / "target"
    target.mkdir()
    (target / workdirs.OWNER_MARK).touch()
    (target / "precious").write_text("keep")
    (tmp_path / f"recondiff-{pid}-tolink00").symlink_to(target)
    (tmp_path / f"recondiff-{pid}-toroot00").symlink_to("/")
    other = tmp_path / f"recondiff-{pid}-otheruse"
    other.mkdir()
    (other / workdirs.OWNER_MARK).touch()
    if os.geteuid() == 0:
        os.chown(other, 65534, 65534)
        os.chown(other / workdirs.OWNER_MARK, 65534, 65534)
    workdirs.remove_leftovers(tmp_path, workdirs.WORK_PREFIX)
    assert (target / "precious").read_text() == "keep"
    assert (tmp_path / f"recondiff-{pid}-toroot00").is_symlink()
    assert other.exists() == (os.geteuid() == 0)


# --- a closed stdout ---------------------------------------------------------------


@pytest.mark.parametrize("args", [["plan", "show", "{plan}"], ["history", "--json", "--state", "{out}"]])
@pytest.mark.slow
def test_a_closed_stdout_is_not_exit_1(
    tmp_path: Path, args: list[str], sample_run: SampleRun
) -> None:
    """Hole: `recondiff plan show plan.jsonl | true` (or `| head -1` on a long
    output) exited 1, click's code for a broken pipe, which pipelines read as
    'differences found'. Now 141 (128 + SIGPIPE, as a shell reports), quietly."""
    out = private_copy(sample_run.out, tmp_path)  # the sample compared
    argv = [a.format(plan=out / "plan.jsonl", out=out) for a in args]
    read, write = os.pipe()
    os.close(read)  # nobody reads: the first write fails with EPIPE
    try:
        proc = subprocess.run([*PY, *argv], stdout=write, stderr=subprocess.PIPE, text=True,
                              check=False)
    finally:
        os.close(write)
    assert (proc.returncode, proc.stderr) == (141, "")


# --- exceptions raised inside every command ------------------------------------------


_CRASHES: list[BaseException] = [
    RuntimeError("boom"),
    MemoryError(),
    RecursionError("maximum recursion depth exceeded"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
]


@pytest.mark.parametrize("crash", _CRASHES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(
    ("target", "args"),
    [
        ("recondiff.compare.compare", ["compare", "-c", "c.toml", "-o", "o"]),
        ("recondiff.review.show_file", ["plan", "show", "p.json"]),
        ("recondiff.review.decide_file", ["plan", "approve", "p.json", "--all", "--by", "me"]),
        ("recondiff.cli.main.History.runs", ["history", "--state", "."]),
        ("recondiff.ingest.snapshot.ReadOptions", ["ingest", "x.csv", "-o", "x.parquet"]),
    ],
)
def test_any_crash_in_any_command_is_exit_3_and_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, crash: BaseException, target: str,
    args: list[str],
) -> None:
    def raiser(*a: Any, **k: Any) -> Any:
        raise crash

    monkeypatch.setattr(target, raiser)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "history.duckdb").write_bytes(b"")
    # compare loads the config itself first ([[notify]] must know its targets)
    (tmp_path / "a.csv").write_text("uid\nx\n", encoding="utf-8")
    (tmp_path / "c.toml").write_text(
        '[endpoint]\nname = "e"\nsnapshot = "a.csv"\nkey = "uid"\n'
        '[repository]\nname = "r"\nsnapshot = "a.csv"\nkey = "uid"\nlink = "uid"\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 3, (result.output, result.exception)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "internal error" in lines[0], result.stderr


# --- the shrink guard ----------------------------------------------------------------


def _sample_copy(tmp_path: Path) -> Path:
    for name in ("ad_users.csv", "identities.csv", "recondiff.toml"):
        (tmp_path / name).write_bytes((SAMPLE / name).read_bytes())
    return tmp_path / "recondiff.toml"


def _compare_code(config: Path, out: Path, *extra: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["compare", "-q", "-c", str(config), "-o", str(out), *extra])
    return result.exit_code, result.stderr


@pytest.mark.slow
def test_one_incremental_run_does_not_disarm_the_shrink_guard(tmp_path: Path) -> None:
    """Hole: the guard skipped the endpoint whenever the previous run was
    incremental, so full run (57 accounts) -> one incremental run -> a full run
    of a cut-short export (4 accounts) went through unchecked. Now a full
    snapshot is checked against the last full run."""
    config = _sample_copy(tmp_path)
    out = tmp_path / "out"
    assert _compare_code(config, out)[0] == 1
    incremental = tmp_path / "incremental.toml"
    incremental.write_text(
        config.read_text().replace('kind = "ad"', 'kind = "ad"\nincremental = true', 1)
    )
    assert _compare_code(incremental, out)[0] == 1  # an incremental snapshot: never checked
    lines = (tmp_path / "ad_users.csv").read_text(encoding="utf-8").splitlines(keepends=True)
    (tmp_path / "ad_users.csv").write_text("".join(lines[:6]), encoding="utf-8")
    code, stderr = _compare_code(config, out)
    assert code == 2, stderr
    assert "ad_users.csv: 4 records, 93.0% fewer than the 57 of the previous run (run-" in stderr
    assert _compare_code(config, out, "--allow-shrink")[0] == 1


def test_a_corrupted_history_stops_the_run_rather_than_skip_the_guard(tmp_path: Path) -> None:
    """Held: a history file that is not a DuckDB database is one line, exit 2;
    the guard is not silently skipped."""
    config = _sample_copy(tmp_path)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "history.duckdb").write_bytes(b"garbage")
    code, stderr = _compare_code(config, tmp_path / "out")
    assert code == 2 and "cannot open the run history" in stderr and stderr.count("\n") == 1


@pytest.mark.xfail(
    strict=True,
    reason="open: the shrink guard counts the export's records, not those in [*] scope; "
    "an export whose scope column went wrong (every identity now out of scope) keeps its "
    "row count and passes, and every account then looks orphaned (apply's mass-change "
    "limits are the only stop). Closing it means recording and checking in-scope counts.",
)
@pytest.mark.slow
def test_a_scope_that_drops_most_records_is_a_shrink(tmp_path: Path) -> None:
    config = _sample_copy(tmp_path)
    out = tmp_path / "out"
    assert _compare_code(config, out)[0] == 1
    identities = tmp_path / "identities.csv"
    with identities.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    with identities.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows([r | {"employee_type": "Partner"} for r in rows])
    code, stderr = _compare_code(config, out)
    assert code == 2 and "max_shrink_percent" in stderr, stderr


# --- a full disk under the run history (a real tmpfs: root only) ------------------


def _compare_state(tmp_path: Path, state: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PY, "compare", "-q", "-c", str(SAMPLE / "recondiff.toml"), "-o", str(tmp_path / "out"),
         "--state", str(state)],
        capture_output=True, text=True, check=False,
    )


@pytest.mark.slow
def test_a_full_disk_while_the_history_is_created_leaves_no_stub(
    tiny_fs: Path, tmp_path: Path
) -> None:
    """Hole: the first run on a full state directory left a 4 KiB stub
    history.duckdb; every later run, with space freed, then failed with
    'cannot open the run history (... Could not read enough bytes ...)' until
    someone deleted it by hand, and the first error blamed another recondiff."""
    state = tiny_fs / "state"
    _leave_free(tiny_fs, 4)
    run = _compare_state(tmp_path, state)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "no space left on device" in run.stderr, run.stderr
    assert not (state / "history.duckdb").exists()
    (tiny_fs / "filler").unlink()
    again = _compare_state(tmp_path, state)
    assert again.returncode == 1, again.stderr


@pytest.mark.slow
def test_a_full_disk_while_the_history_is_updated_is_one_line_exit_2(
    tiny_fs: Path, tmp_path: Path
) -> None:
    """Hole: with the history's disk full, the schema's commit in History._connect
    raised DuckDB's TransactionException outside any handler: exit 3, 'internal
    error ... No space left on device'. Now one line, exit 2, history intact."""
    state = tiny_fs / "state"
    assert _compare_state(tmp_path, state).returncode == 1
    _leave_free(tiny_fs, 4)
    run = _compare_state(tmp_path, state)
    assert run.returncode == 2, run.stderr
    assert run.stderr.count("\n") == 1 and "internal error" not in run.stderr, run.stderr
    assert "no space left on device" in run.stderr.lower(), run.stderr
    (tiny_fs / "filler").unlink()
    listed = subprocess.run([*PY, "history", "--state", str(state)], capture_output=True,
                            text=True, check=False)
    assert listed.returncode == 0 and len(listed.stdout.splitlines()) == 2, listed


# --- a signal during the final renames -------------------------------------------------


@pytest.mark.slow
def test_a_sigterm_during_the_final_renames_waits_until_they_are_done(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sample_run: SampleRun
) -> None:
    """Hole: the renames were 'deferred' by blocking SIGTERM in the main thread
    only; the kernel gave the signal to a DuckDB worker thread and Python ran
    the handler in the main thread at once, between two renames: situations.*
    new, drift.* and plan.jsonl old, summary.json gone, and the CLI said 'no
    output was half-written'. A real SIGTERM is sent after the second rename."""
    from recondiff.cli.common import sigterm_as_interrupt

    out = private_copy(sample_run.out, tmp_path)  # a first compare of the sample
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    real = os.replace
    renamed: list[str] = []

    def replace(src: Any, dst: Any) -> None:
        if workdirs.STAGING_PREFIX in str(src):
            renamed.append(Path(dst).name)
            if len(renamed) == 2:
                os.kill(os.getpid(), signal.SIGTERM)
        real(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), sigterm_as_interrupt():
        compare.compare(SAMPLE / "recondiff.toml", out)
    monkeypatch.undo()
    outputs = (*publish.OUTPUT_FILES, *publish.POLICY_FILES, "summary.json")  # the sample has policies
    assert renamed == list(outputs)
    after = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    assert all(after[n] != before[n] for n in ("summary.json", "plan.jsonl", "report.json"))
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


# --- a live run in another PID namespace --------------------------------------------------


def test_a_sweep_from_another_pid_namespace_leaves_a_live_runs_spill_files(
    big_run: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0 or not Path("/usr/bin/unshare").exists():
        pytest.skip("a new PID namespace needs root and unshare")
    spill = tmp_path / "spill"
    spill.mkdir()
    config = tmp_path / "spill.toml"
    config.write_text(
        big_run.read_text().replace(
            "[engine]",
            f'[engine]\nmemory_limit = "96MB"\ntemp_directory = "{spill}"\nthreads = 1',
        )
    )
    (tmp_path / "endpoint.parquet").symlink_to(big_run.parent / "endpoint.parquet")
    (tmp_path / "repository.parquet").symlink_to(big_run.parent / "repository.parquet")
    temp = tmp_path / "tmp"
    temp.mkdir()
    proc = subprocess.Popen(
        [*PY, "compare", "-q", "-c", str(config), "-o", str(tmp_path / "out")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        deadline = time.monotonic() + 60
        live: list[Path] = []
        while not live and time.monotonic() < deadline and proc.poll() is None:
            live = [p for p in spill.iterdir() if any(p.iterdir())]
            time.sleep(0.01)
        if not live:
            pytest.skip("the run did not spill")
        work = list(temp.iterdir())
        sweep = (
            "import sys; from pathlib import Path; import recondiff.engine.workdirs as c; "
            "[c.remove_leftovers(Path(d), c.WORK_PREFIX) for d in sys.argv[1:]]"
        )
        subprocess.run(
            ["/usr/bin/unshare", "--pid", "--fork", sys.executable, "-c", sweep,
             str(spill), str(temp)],
            check=True, cwd=ROOT,
        )
        assert all(w.exists() for w in work)  # held: the work directory is locked
        assert all(d.exists() for d in live)  # the spill directory is locked and marked too
    finally:
        proc.kill()
        proc.wait()


# --- a stderr that cannot be written -----------------------------------------------------


@pytest.mark.parametrize("stderr", ["/dev/full", "closed"])
def test_an_unwritable_stderr_keeps_the_exit_code(tmp_path: Path, stderr: str) -> None:
    """Hole: with stderr on a full disk (`2>>run.log` on a full /var), the
    one-line error could not be written, the OSError escaped the handlers and
    the run exited 1 ("differences found") for a missing plan. The line is
    lost, the code (2) stays; a successful command stays 0. (A closed stderr
    held already: click writes nothing when sys.stderr is None.)"""
    def run(*args: str) -> int:
        if stderr == "closed":
            return subprocess.run([*PY, *args], stdout=subprocess.DEVNULL, check=False,
                                  preexec_fn=lambda: os.close(2)).returncode
        with open(stderr, "w") as full:
            return subprocess.run([*PY, *args], stdout=subprocess.DEVNULL, stderr=full,
                                  check=False).returncode

    assert run("plan", "show", str(tmp_path / "missing.json")) == 2
    assert run("--version") == 0


@pytest.mark.parametrize("args", [[], ["plan"]])
def test_a_bare_command_prints_its_help_not_an_error_line(args: list[str]) -> None:
    """Hole (small): a bare `recondiff` (or `recondiff plan`) printed
    'recondiff: error: Usage: ...' followed by the whole help. Now the help
    alone, on stderr, exit 2 (click's own code for it)."""
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.stderr.startswith("Usage: recondiff"), result.stderr
    assert "recondiff: error" not in result.stderr
