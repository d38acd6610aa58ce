"""Reading a large plan on every core: map-reduce over byte ranges of ``plan.jsonl``.

A review command (``plan show``, ``plan approve|reject|accept``) reads every
event of the plan, with the ledger's decisions folded in, to count and select.
At 10M accounts that is 550,000 lines, and parsing them is most of the time
(benchmarks/NOTES.md). :func:`map_events` splits the event lines into one byte
range per core, each range starting after a newline; a forked process per range
parses its lines (the same shape check as one process), folds the ledger in and
runs ``part`` over them, and ``merge`` adds the parts up in plan order. The
parent parses the first range itself and meanwhile, in a thread, hashes the
whole file once more for the digest, and each range on its own.

What one process checks, the ranges check together: each range's bytes must
hash to what the parent hashed for that range (a file written in place during
the read is refused, not half-believed); the digest is over the whole; an id
must not appear in two ranges; every decision of the ledger must name an event
some range saw. When a range finds anything wrong (a line that is not JSON, an
event of the wrong shape, a line cut short, a duplicate id, a decision naming no
event), the plan is read once more in one process, which raises the same
one-line error, with the line number, as it always did. Errors cost a second
read; correct plans do not.

Below :data:`SPLIT_AT` bytes, and in a process that runs other threads (a fork
copies only the calling thread: a lock another thread held stays held in the
child), the plan is read in one process.
"""

from __future__ import annotations

import hashlib
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from multiprocessing import get_context
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, Generic, TypeVar

import orjson

from recondiff.errors import InputError
from recondiff.plan import file as plan_file
from recondiff.plan import ledger
from recondiff.plan.file import Event, Plan

T = TypeVar("T")

SPLIT_AT = 32 << 20
"""Plans smaller than this are read in one process: a fork and the merge cost
more than they save (a 1M run's plan is 54 MB)."""

MAX_PROCESSES = 4
"""More processes than this only add pickling: the parent still hashes alone."""

CHUNKS = 8
"""Chunks per process, taken in turn: a plan's long lines (adds) and short ones
(modifies) come in runs, so halves by bytes are not halves by work."""

_BLOCK = 4 << 20


def map_events(
    path: str | Path,
    header: Plan,
    lines: Sequence[ledger.Line],
    part: Callable[[Iterator[Event]], T],
    merge: Callable[[T, T], T],
    *,
    processes: int | None = None,
    split_at: int | None = None,
) -> T:
    """``part`` over the events of the plan at ``path`` (whose checked ``header`` the
    caller read), with the approvals the ledger ``lines`` leave them, and shape-checked
    only (:func:`recondiff.plan.file.check_event_shape`); ``merge(earlier, later)``
    adds the parts of consecutive ranges. Checks the digest, the ids and the ledger as
    :func:`recondiff.plan.file.iter_events` and :func:`recondiff.plan.ledger.decided`
    do; raises :class:`InputError` with one line. ``processes``: default the cores
    this process may use, at most :data:`MAX_PROCESSES`; ``split_at``: default
    :data:`SPLIT_AT`."""
    file = Path(path)
    n = processes if processes is not None else min(_cores(), MAX_PROCESSES)
    if n > 1 and _single_threaded():
        try:
            at = SPLIT_AT if split_at is None else split_at
            return _parallel(file, header, lines, part, merge, n, at)
        except _Retry:
            pass  # something is wrong with the plan: one process names it exactly
    return _serial(file, header, lines, part)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _single_threaded() -> bool:
    """Whether this process runs one thread only, native threads included (DuckDB's)."""
    if threading.active_count() != 1:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:  # no /proc: trust Python's count
        return True


def _serial(
    file: Path, header: Plan, lines: Sequence[ledger.Line], part: Callable[[Iterator[Event]], T]
) -> T:
    events = plan_file.iter_events(file, header, full_check=False)
    decided = ledger.decided(events, lines, ledger.ledger_path(file))
    result = part(decided)
    deque(decided, maxlen=0)  # the digest and the ledger are checked when the stream ends
    return result


class _Retry(Exception):
    """A range found something wrong: read the plan in one process for the exact error."""


@dataclass
class _Range(Generic[T]):
    """What one range's process reports: ``part``'s result, the ids it saw, the decided
    ids among them, and the SHA-256 of the bytes it read."""

    result: T
    ids: list[str]
    decided: set[str]
    sha256: bytes
    failed: bool = False


@dataclass
class _Hashes:
    """The parent's hashes: of all the event lines (the digest's) and of each range."""

    events: Any = field(default_factory=hashlib.sha256)
    ranges: list[bytes] = field(default_factory=list)


def _parallel(
    file: Path,
    header: Plan,
    lines: Sequence[ledger.Line],
    part: Callable[[Iterator[Event]], T],
    merge: Callable[[T, T], T],
    n: int,
    split_at: int,
) -> T:
    with plan_file.open_plan(file) as f:
        head = plan_file.header_of(f, file)
        if head.get("digest") != header.get("digest"):
            raise InputError(f"{file}: the plan file changed while it was read")
        fd, start, size = f.fileno(), f.tell(), os.fstat(f.fileno()).st_size
        if size - start < split_at:
            raise _Retry
        bounds = _bounds(fd, start, size, CHUNKS * n)
        children: list[tuple[Any, Connection]] = []
        queue = -1
        try:
            queue = _queue(len(bounds) - 1)
            scan = _Scanner(file, fd, lines, part, bounds, queue)
            for _ in range(n - 1):
                children.append(_start(scan))
            # the thread starts after the forks: a fork copies only the calling thread
            with ThreadPoolExecutor(max_workers=1) as pool:
                hashed: Future[_Hashes] = pool.submit(_hash, fd, bounds)
                done = scan.run()
                for _, conn in children:
                    done.update(_result(conn))
                hashes = hashed.result()
        except OSError:  # no fork, pipe or thread to be had (limits): one process reads
            raise _Retry from None
        finally:
            _stop(children, queue)
    if len(done) != len(bounds) - 1:
        raise _Retry
    return _combine(file, head, lines, [done[i] for i in range(len(done))], hashes, merge)


def _queue(chunks: int) -> int:
    """A pipe holding the chunks' indices, four bytes each, its writing end closed:
    a process takes the next chunk by reading four bytes (atomic on a pipe), and
    the end of the pipe says none is left. No lock: a process killed while it takes
    a chunk holds nothing the others wait for."""
    read, write = os.pipe()
    try:
        os.write(write, b"".join(i.to_bytes(4, "big") for i in range(chunks)))
    finally:
        os.close(write)
    return read


def _stop(children: list[tuple[Any, Connection]], queue: int) -> None:
    for process, conn in children:
        conn.close()
        process.kill()  # done already, unless the parent failed first
        process.join()
    if queue >= 0:
        os.close(queue)


def _bounds(fd: int, start: int, size: int, n: int) -> list[int]:
    """``n + 1`` offsets from ``start`` to ``size``, each but the ends just after a
    newline (a range may be empty when lines are long)."""
    bounds = [start]
    for i in range(1, n):
        at = max(bounds[-1], start + (size - start) * i // n)
        while at < size:
            chunk = os.pread(fd, 1 << 16, at)
            cut = chunk.find(b"\n")
            if cut >= 0:
                at += cut + 1
                break
            at += len(chunk)
        bounds.append(min(at, size))
    return [*bounds, size]


def _hash(fd: int, bounds: list[int]) -> _Hashes:
    """The events' SHA-256 (the digest's), and each range's on its own."""
    hashes = _Hashes()
    for lo, hi in pairwise(bounds):
        each = hashlib.sha256()
        for block in _read(fd, lo, hi):
            hashes.events.update(block)
            each.update(block)
        hashes.ranges.append(each.digest())
    return hashes


def _read(fd: int, lo: int, hi: int) -> Iterator[bytes]:
    while lo < hi:
        block = os.pread(fd, min(_BLOCK, hi - lo), lo)
        if not block:  # the file got shorter: the range hashes will not match
            return
        lo += len(block)
        yield block


@dataclass
class _Scanner(Generic[T]):
    """Parses, checks and folds the event lines of a chunk, then runs ``part``; the
    processes take the chunks in turn from a shared ``queue``, so that one that drew
    the short lines does not wait for the other."""

    file: Path
    fd: int
    lines: Sequence[ledger.Line]
    part: Callable[[Iterator[Event]], T]
    bounds: list[int]
    queue: int  # the reading end of the chunks' pipe (:func:`_queue`)

    def __post_init__(self) -> None:
        self.decisions = ledger.Decisions(self.lines, ledger.ledger_path(self.file))

    def run(self) -> dict[int, _Range[T]]:
        """The chunks this process took, by index."""
        done: dict[int, _Range[T]] = {}
        while len(taken := os.read(self.queue, 4)) == 4:
            index = int.from_bytes(taken, "big")
            done[index] = self.chunk(self.bounds[index], self.bounds[index + 1])
        return done

    def chunk(self, lo: int, hi: int) -> _Range[T]:
        digest = hashlib.sha256()
        ids: set[str] = set()
        decisions = self.decisions.fresh()
        fold = decisions.apply if self.decisions.last else None

        def events() -> Iterator[Event]:
            rest = b""
            for block in _read(self.fd, lo, hi):
                digest.update(block)
                block = rest + block
                cut = block.rfind(b"\n") + 1
                rest = block[cut:]
                for line in block[:cut].split(b"\n")[:-1]:
                    event = plan_file.check_event_shape(orjson.loads(line), self.file, 0)
                    if event["id"] in ids:
                        raise _Retry
                    ids.add(event["id"])
                    yield event if fold is None else fold(event)
            if rest:  # a last line cut short
                raise _Retry

        try:
            stream = events()
            result = self.part(stream)
            deque(stream, maxlen=0)
        except (InputError, _Retry, orjson.JSONDecodeError):
            return _Range(None, [], set(), b"", failed=True)  # type: ignore[arg-type]
        return _Range(result, list(ids), decisions.seen, digest.digest())


def _start(scan: _Scanner[T]) -> tuple[Any, Connection]:
    """A forked process that takes chunks with the parent and sends what it found.

    SIGINT and SIGTERM are blocked while it starts, and in the child ignored
    (SIGINT: the parent, interrupted, stops it) or left to kill it quietly
    (SIGTERM): the CLI's handlers raise KeyboardInterrupt, which in
    multiprocessing's own start and exit code would print a traceback."""
    receive, send = get_context("fork").Pipe(duplex=False)

    def child() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
        receive.close()
        try:
            send.send(scan.run())
        except BaseException:  # the parent reads the plan again, in one process
            pass
        finally:
            send.close()

    process = get_context("fork").Process(target=child, daemon=True)
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
    try:
        process.start()
    except BaseException:
        receive.close()
        raise
    finally:
        send.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return process, receive


_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _result(conn: Connection) -> dict[int, _Range[Any]]:
    try:
        result: dict[int, _Range[Any]] = conn.recv()
    except (EOFError, OSError):  # the child died (killed, out of memory)
        raise _Retry from None
    return result


def _combine(
    file: Path,
    head: Plan,
    lines: Sequence[ledger.Line],
    ranges: list[_Range[T]],
    hashes: _Hashes,
    merge: Callable[[T, T], T],
) -> T:
    if any(r.failed for r in ranges):
        raise _Retry
    if [r.sha256 for r in ranges] != hashes.ranges:
        raise InputError(f"{file}: the plan file changed while it was read")
    seen: set[str] = set()
    for r in ranges:  # before the digest, as one process meets them
        if not seen.isdisjoint(r.ids):
            raise _Retry  # an id twice: one process names its line
        seen.update(r.ids)
    if head["digest"] != plan_file.digest_with(head, hashes.events.hexdigest()):
        raise InputError(plan_file.DIGEST_MISMATCH.format(source=file))
    decided: set[str] = set().union(*(r.decided for r in ranges))
    if len(decided) != len({i for line in lines for i in line.ids}):
        raise _Retry  # a decision names an event the plan lacks
    result = ranges[0].result
    for r in ranges[1:]:
        result = merge(result, r.result)
    return result
