"""Attacks on the parallel plan read (recondiff.plan.ranges), and what holds.

The parallel read must give what one process gives (:func:`ranges._serial`) or
the same one-line error, whatever the input, the timing or the environment.
Four of these found holes, since fixed (a fork or pipe refused by a limit is
a one-process read; no lock a killed child could hold; no traceback from a
signal as a child starts; an id twice is named by its line before the
digest). The others prove an attack fails, where tests/test_plan_ranges.py
does not already. Chunks are forced small (``split_at=0``), and where a block boundary
matters the read size too (``_BLOCK``).
"""

from __future__ import annotations

import errno
import json
import multiprocessing
import multiprocessing.synchronize
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recondiff.errors import InputError
from recondiff.plan import file as plan_mod
from recondiff.plan import ledger, ranges
from recondiff.review.summary import Listing
from tests.test_plan_ranges import _events, _lines, _reseal, _same_error, plan_path
from tests.test_review import build, event

__all__ = ["plan_path"]  # the fixture, imported so pytest finds it

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """map_events takes the parallel road even if the test process runs threads."""
    monkeypatch.setattr(ranges, "_single_threaded", lambda: True)


def _everything(events: Iterator[dict[str, Any]]) -> list[tuple[str, str, str | None]]:
    """Each event as the review sees it: id, effective state, decided by."""
    return [(e["id"], e["approval"]["state"], e["approval"].get("by")) for e in events]


def _concat(a: list[Any], b: list[Any]) -> list[Any]:
    return a + b


def _read(path: Path, processes: int = 2) -> tuple[Any, Any]:
    """Every event, read in one process and in ``processes`` (chunks forced small)."""
    header = plan_mod.read_header(path)
    lines = ledger.read(path, header)
    serial = ranges._serial(path, header, lines, _everything)
    parallel = ranges._parallel(path, header, lines, _everything, _concat, processes, 0)
    return serial, parallel


# ---------------------------------------------------------------- holes


def _refuse_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    """The process limit reached (a container's pids.max): the second fork fails."""
    real, calls = os.fork, []

    def fork() -> int:
        calls.append(1)
        if len(calls) > 1:
            raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
        return real()

    monkeypatch.setattr(os, "fork", fork)


def _no_semaphores(monkeypatch: pytest.MonkeyPatch) -> None:
    """No POSIX semaphores (no /dev/shm, as on AWS Lambda): multiprocessing's locks fail."""

    def refused(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(multiprocessing.synchronize.SemLock, "__init__", refused)


def _no_file_descriptors(monkeypatch: pytest.MonkeyPatch) -> None:
    """ulimit -n reached: no pipe for a child's result."""

    def refused() -> tuple[int, int]:
        raise OSError(errno.EMFILE, "Too many open files")

    monkeypatch.setattr(os, "pipe", refused)


@pytest.mark.parametrize("refuse", [_refuse_fork, _no_semaphores, _no_file_descriptors])
def test_no_fork_semaphore_or_pipe_reads_in_one_process(
    plan_path: Path, forked: None, monkeypatch: pytest.MonkeyPatch, refuse: Any
) -> None:
    header = plan_mod.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    expected = ranges._serial(plan_path, header, lines, _everything)
    refuse(monkeypatch)
    try:
        got = ranges.map_events(
            plan_path, header, lines, _everything, _concat, processes=3, split_at=0
        )
        assert got == expected
        assert multiprocessing.active_children() == []
    finally:
        monkeypatch.undo()
        for child in multiprocessing.active_children():
            child.kill()
            child.join()


_PARALLEL = """
import os, sys
from recondiff.plan import file, ledger, ranges
from recondiff.review.summary import Listing
path = sys.argv[1]
header = file.read_header(path)
lines = ledger.read(path, header)
parent = os.getpid()
"""

_RUN = """
listing = ranges.map_events(path, header, lines, lambda e: Listing.of(e, 1), Listing.merge,
                            processes=2, split_at=0)
print(sum(listing.seen.values()))
"""


def _python(script: str, *args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def test_a_child_killed_holding_the_chunk_lock_does_not_hang(plan_path: Path) -> None:
    marker = plan_path.with_name("child-took-the-lock")
    script = (
        _PARALLEL
        + f"""
import signal, time
from pathlib import Path
marker = Path({str(marker)!r})
run = ranges._Scanner.run
def run_then(self):
    if os.getpid() != parent:  # the child: killed (out of memory) as it takes a chunk
        queue = getattr(self, "queue", None)
        if hasattr(queue, "get_lock"):
            queue.get_lock().acquire()
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)
    for _ in range(200):
        if marker.exists():
            break
        time.sleep(0.01)
    return run(self)
ranges._Scanner.run = run_then
"""
        + _RUN
    )
    try:
        done = _python(script, str(plan_path), timeout=4)
    except subprocess.TimeoutExpired:
        pytest.fail("the parallel read hung")
    assert done.stdout == "400\n"


def test_a_signal_as_a_child_starts_prints_no_traceback(plan_path: Path) -> None:
    script = (
        _PARALLEL
        + """
import signal
from multiprocessing import util
from recondiff.cli.common import sigterm_as_interrupt
close_stdin = util._close_stdin
def signalled():  # the first thing a forked child runs: the signal lands there
    os.kill(os.getpid(), signal.SIGTERM)
    close_stdin()
util._close_stdin = signalled
with sigterm_as_interrupt():
"""
        + textwrap.indent(textwrap.dedent(_RUN), "    ")
    )
    done = _python(script, str(plan_path))
    assert done.stdout == "400\n"  # the child sent nothing: one process read the plan
    assert "Traceback" not in done.stderr, done.stderr


def test_an_id_twice_in_an_edited_plan_is_named_by_its_line(plan_path: Path, forked: None) -> None:
    lines = _lines(plan_path)
    lines[390] = lines[3]  # in two chunks; the digest not updated
    plan_path.write_bytes(b"".join(line + b"\n" for line in lines))
    assert "line 391: event id" in _same_error(plan_path)


# ---------------------------------------------------------------- what holds


def _odd_plan(path: Path, *, crlf: bool = False, header_kb: int = 0) -> Path:
    """Events whose values are multi-byte UTF-8 (2, 3 and 4 bytes), one line of 20 KB,
    and a header of ``header_kb`` KB; ``crlf``: every event line ends in \\r\\n."""
    events = []
    for i in range(60):
        values = ["é" * (i % 7), "日本語" * i, "\U0001f600" * (i % 5), f"v{i}"]
        if i == 30:
            values.append("ü" * 10_000)  # one line of 20 KB: many blocks
        events.append(
            event(
                "modify",
                f"ü{i}",
                response="review" if i % 2 else "update_endpoint",
                dn=f"cn=ü{i},dc=x",
                changes=[{"op": "replace", "attribute": "description", "values": values}],
                alert="privileged group" if i % 9 == 0 else None,
                required=i % 4 != 0,
            )
        )
    attention = [
        {"situation": "orphan", "endpoint_key": f"k{'x' * 90}{i}"} for i in range(header_kb * 10)
    ]
    plan_mod.save_plan(build(events, attention), path)
    if crlf:
        _reseal(path, [line + b"\r" for line in _lines(path)])
    return path


@pytest.mark.parametrize("block", [1, 3, 7, 4093])
def test_blocks_cut_inside_characters_and_lines_read_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    """A read block (and so a chunk's carried rest) ending inside a multi-byte
    character, a CRLF or a 20 KB line, behind a 100 KB header, loses nothing."""
    path = _odd_plan(tmp_path / "plan.jsonl", crlf=block == 7, header_kb=100)
    header = plan_mod.read_header(path)
    ids = [json.loads(line)["id"] for line in _lines(path)[1:]]
    ledger.append(path, header, ledger.Entry("approved", [ids[1], ids[59]], "ana", "--event"))
    monkeypatch.setattr(ranges, "_BLOCK", block)
    for processes in (2, 3):
        serial, parallel = _read(path, processes)
        assert parallel == serial
        assert [i for i, _, _ in parallel] == ids
        assert [s for _, s, _ in parallel].count("approved") == 2


@pytest.mark.parametrize("events", [0, 1, 2])
def test_fewer_events_than_chunks(tmp_path: Path, events: int) -> None:
    path = tmp_path / "plan.jsonl"
    plan_mod.save_plan(build(_events()[:events]), path)
    serial, parallel = _read(path, 4)  # 32 chunks
    assert parallel == serial and len(serial) == events


def _splice(at: int, new: bytes) -> Any:
    def change(lines: list[bytes]) -> None:
        lines[at] = new

    return change


def _join_with_cr(lines: list[bytes]) -> None:
    lines[199:201] = [lines[199] + b"\r" + lines[200]]


@pytest.mark.parametrize(
    ("what", "change"),
    [
        ("an empty line", _splice(200, b"")),
        ("a line of spaces", _splice(200, b"   ")),
        ("a NUL byte", lambda lines: lines.__setitem__(200, lines[200][:-1] + b"\0}")),
        ("invalid UTF-8", lambda lines: lines.__setitem__(200, lines[200].replace(b"t", b"\xff", 1))),
        ("two events joined by a lone CR", _join_with_cr),
        ("a byte order mark", lambda lines: lines.__setitem__(200, b"\xef\xbb\xbf" + lines[200])),
        ("an event that is a list", _splice(200, b"[1, 2]")),
        ("a line nested 2000 deep", _splice(200, b"[" * 2000 + b"]" * 2000)),
    ],
)  # fmt: skip
def test_a_malformed_line_gives_the_one_process_error(
    plan_path: Path, forked: None, what: str, change: Any
) -> None:
    lines = _lines(plan_path)
    change(lines)
    _reseal(plan_path, lines)  # a forger's plan: the digest matches, the line does not
    assert "line 20" in _same_error(plan_path), what


def test_a_decision_on_an_auto_event_late_in_the_plan(plan_path: Path, forked: None) -> None:
    """The ledger approves an event that needs no approval: one process's error, not a
    chunk's silence."""
    header = plan_mod.read_header(plan_path)
    auto = [json.loads(line)["id"] for line in _lines(plan_path)[1:]][395]  # 395 % 5 == 0
    ledger.append(plan_path, header, ledger.Entry("approved", [auto], "eve", "--event"))
    assert f"approved names event {auto}, which needs no approval" in _same_error(plan_path)


def test_the_last_decision_on_an_event_wins_in_every_chunk(plan_path: Path) -> None:
    """An event named twice (twice in one line, then in a later line), and an auto event
    accepted: the parallel read folds the ledger exactly as one process."""
    header = plan_mod.read_header(plan_path)
    ids = [json.loads(line)["id"] for line in _lines(plan_path)[1:]]
    ledger.append(plan_path, header, ledger.Entry("approved", [ids[1], ids[1], ids[398]], "a"))
    ledger.append(plan_path, header, ledger.Entry("rejected", [ids[398]], "b"))
    ledger.append(plan_path, header, ledger.Entry("accepted", [ids[395]], "c"))
    serial, parallel = _read(plan_path, 3)
    assert parallel == serial
    states = {i: (s, by) for i, s, by in parallel}
    assert states[ids[1]] == ("approved", "a")
    assert states[ids[398]] == ("rejected", "b")
    assert states[ids[395]] == ("accepted", "c")


def _after_split(monkeypatch: pytest.MonkeyPatch, change: Any) -> None:
    """Run ``change`` on the plan's bytes once the parallel read has split it."""
    bounds = ranges._bounds

    def split_then_change(fd: int, start: int, size: int, n: int) -> list[int]:
        out = bounds(fd, start, size, n)
        change()
        return out

    monkeypatch.setattr(ranges, "_bounds", split_then_change)


@pytest.mark.parametrize(
    ("how", "error"),
    [
        ("byte flipped", "does not match its digest"),
        ("truncated at a line", "does not match its digest"),
        ("truncated mid-line", "line 401 is cut short"),
    ],
)
def test_a_plan_changed_after_the_split_is_refused(
    plan_path: Path, forked: None, monkeypatch: pytest.MonkeyPatch, how: str, error: str
) -> None:
    data = plan_path.read_bytes()
    cut = data.rindex(b"\n", 0, len(data) - 1) + 1  # the last line's start

    def change() -> None:
        if how == "byte flipped":
            at = data.rindex(b'"t3')
            plan_path.write_bytes(data[:at] + b'"t9' + data[at + 3 :])
        else:
            os.truncate(plan_path, cut if how == "truncated at a line" else cut + 10)

    _after_split(monkeypatch, change)
    header = plan_mod.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    with pytest.raises(InputError, match=error):
        ranges.map_events(plan_path, header, lines, _everything, _concat, processes=2, split_at=0)


def test_lines_appended_after_the_split_are_not_read(
    plan_path: Path, forked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parallel read answers for the bytes the digest covers, never for more."""
    header = plan_mod.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    expected = ranges._serial(plan_path, header, lines, _everything)
    extra = _lines(plan_path)[5].replace(b'"t5"', b'"tX"')  # a new id would need a new line

    def append() -> None:
        with plan_path.open("ab") as out:
            out.write(extra + b"\n")

    _after_split(monkeypatch, append)
    got = ranges.map_events(plan_path, header, lines, _everything, _concat, processes=2, split_at=0)
    assert got == expected


def test_a_chunk_written_between_the_hash_and_the_read_is_refused(
    plan_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parent hashed the original bytes (the digest matches); the chunk then reads a
    line edited in place, same length: its own hash gives it away."""
    import threading

    hashed = threading.Event()
    original_hash, original_run = ranges._hash, ranges._Scanner.run
    data = plan_path.read_bytes()
    at = data.rindex(b'"t3')

    def hash_then_edit(fd: int, bounds: list[int]) -> Any:
        hashes = original_hash(fd, bounds)
        with plan_path.open("r+b") as f:
            f.seek(at)
            f.write(b'"t9')
        hashed.set()
        return hashes

    def run_after(self: Any) -> Any:
        assert hashed.wait(10)
        return original_run(self)

    monkeypatch.setattr(ranges, "_hash", hash_then_edit)
    monkeypatch.setattr(ranges._Scanner, "run", run_after)
    header = plan_mod.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    with pytest.raises(InputError, match="changed while it was read"):
        ranges._parallel(plan_path, header, lines, _everything, _concat, 1, 0)


def test_no_fork_while_native_threads_run(plan_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's threads are invisible to Python's thread count: /proc tells."""
    import duckdb

    def never(*args: Any) -> Any:
        raise AssertionError("forked with DuckDB's threads running")

    monkeypatch.setattr(ranges, "_parallel", never)
    with duckdb.connect() as db:
        db.execute("select 1").fetchall()
        if len(os.listdir("/proc/self/task")) == 1:
            pytest.fail("DuckDB started no thread here: this test proves nothing")
        header = plan_mod.read_header(plan_path)
        got = ranges.map_events(plan_path, header, [], _everything, _concat,
                                processes=2, split_at=0)  # fmt: skip
    assert len(got) == 400


_CLI = """
import os, sys, time
from pathlib import Path
from recondiff.plan import ranges
from recondiff.review import summary
from recondiff.cli.main import main
ranges.SPLIT_AT = 0
ranges._cores = lambda: 3
state = Path(sys.argv[1])
start = ranges._start
def recorded(scan):
    process, conn = start(scan)
    with (state / "pids").open("a") as f:
        f.write(f"{process.pid}\\n")
    return process, conn
ranges._start = recorded
of = summary.Listing.of.__func__
def slow(cls, events, limit):
    (state / f"reading-{os.getpid()}").touch()
    time.sleep(0.15)
    return of(cls, events, limit)
summary.Listing.of = classmethod(slow)
sys.argv[1:2] = []
main()
"""


@pytest.mark.parametrize(
    ("whom", "sig", "code"),
    [("group", signal.SIGINT, 130), ("group", signal.SIGTERM, 143), ("child", signal.SIGTERM, 0)],
)
def test_a_signal_during_the_read(plan_path: Path, whom: str, sig: int, code: int) -> None:
    """Ctrl-C (or SIGTERM to the process group) mid-read: 130/143, one line on stderr,
    no child left. SIGTERM to a child only: the plan is read again in one process,
    printed once."""
    state = plan_path.parent
    process = subprocess.Popen(
        [sys.executable, "-c", _CLI, str(state), "plan", "show", "--limit", "3", str(plan_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,
    )

    def reading() -> list[int]:
        """The children, once the parent and each child are reading (in part)."""
        pids_file = state / "pids"
        pids = [int(p) for p in pids_file.read_text().split()] if pids_file.exists() else []
        ready = len(pids) == 2 and all(
            (state / f"reading-{p}").exists() for p in (*pids, process.pid)
        )
        return pids if ready else []

    deadline = time.monotonic() + 15
    while not (pids := reading()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pids, "the read never started"
    if whom == "group":
        os.killpg(process.pid, sig)
    else:
        os.kill(pids[0], sig)
    out, err = process.communicate(timeout=15)
    assert process.returncode == code, err
    if code:
        assert out == "" and len(err.splitlines()) == 1 and "no output was half-written" in err
    else:
        assert err == "" and out.count("events      400") == 1
    assert not [p for p in pids if Path(f"/proc/{p}").exists()]


def test_a_read_leaves_no_process(
    plan_path: Path, forked: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a read, and after a read that failed in the parent: every child reaped."""
    started: list[multiprocessing.Process] = []
    start = ranges._start

    def recorded(scan: Any) -> Any:
        process, conn = start(scan)
        started.append(process)
        return process, conn

    monkeypatch.setattr(ranges, "_start", recorded)
    header = plan_mod.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    ranges.map_events(plan_path, header, lines, lambda e: Listing.of(e, 0), Listing.merge,
                      processes=4, split_at=0)  # fmt: skip

    def failing(events: Iterator[dict[str, Any]]) -> None:
        for _ in events:
            time.sleep(0.01)
            if os.getpid() == parent:
                raise RuntimeError("a bug in part")

    parent = os.getpid()
    with pytest.raises(RuntimeError):
        ranges.map_events(plan_path, header, lines, failing, lambda a, b: a,
                          processes=3, split_at=0)  # fmt: skip
    assert len(started) == 5
    for process in started:
        assert process.exitcode is not None  # joined
        assert not Path(f"/proc/{process.pid}").exists()


def test_an_unchanged_digest_is_not_enough(plan_path: Path, forked: None) -> None:
    """The events' hash is the digest's, not the header's text: a header edited to keep
    its digest is refused (it was checked when the caller read it)."""
    data = plan_path.read_bytes()
    header = plan_mod.read_header(plan_path)
    plan_path.write_bytes(data.replace(b'"rows":120', b'"rows":121', 1))
    lines = ledger.read(plan_path, header)
    with pytest.raises(InputError, match="does not match its digest"):
        ranges.map_events(plan_path, header, lines, _everything, _concat, processes=2, split_at=0)
