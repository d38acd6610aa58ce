"""Reading a plan in byte ranges on several processes (recondiff.plan.ranges).

The review commands read a large plan with one forked process per core, each
taking chunks of its event lines in turn. These tests hold the parallel read to
the one-process read, on a plan of 400 events whose lines differ in length (so
chunks hold different numbers of events) with a ledger of decisions: the same
counts, the same lists, the same ids, in plan order; and every error the one
process gives (a line that is not JSON, a duplicate id, a decision naming no
event, an edited plan) is given word for word, line number included. The
chunks are forced small (``split_at=0``: 16 chunks of a 400 KB plan).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recondiff import review
from recondiff.errors import InputError
from recondiff.plan import file as plan_mod
from recondiff.plan import ledger, ranges
from recondiff.review.decisions import _Named
from recondiff.review.select import Selection, Selector, choose
from recondiff.review.summary import Listing
from tests.test_review import build, event


def _events() -> list[dict[str, Any]]:
    """400 events: modifies with one short change, adds with many values, alerts,
    auto events; every fifth needs no approval."""
    out = []
    for i in range(400):
        if i % 3 == 0:  # long lines
            changes = [
                {
                    "op": "add",
                    "attribute": "memberOf",
                    "values": [f"cn=g{j},dc=x" for j in range(i % 40)],
                }
            ]
            operation = "add"
        else:
            changes = [{"op": "replace", "attribute": "title", "values": [f"t{i}"]}]
            operation = "modify"
        out.append(
            event(
                operation,
                f"user{i:03d}",
                response="review" if i % 2 else "update_endpoint",
                dn=f"cn=user{i:03d},dc=x",
                changes=changes,
                alert="privileged group" if i % 7 == 0 else None,
                required=i % 5 != 0,
            )
        )
    return out


@pytest.fixture
def plan_path(tmp_path: Path) -> Path:
    """The 400-event plan with a ledger: 30 approved, 20 rejected."""
    path = tmp_path / "plan.jsonl"
    plan = build(_events())
    plan_mod.save_plan(plan, path)
    header = plan_mod.read_header(path)
    pending = [e["id"] for e in plan["events"] if e["approval"]["required"]]
    ledger.append(path, header, ledger.Entry("approved", pending[10:40], "ana", "--event"))
    ledger.append(path, header, ledger.Entry("rejected", pending[100:120], "bo", "--event"))
    return path


def _both(path: Path, part: Any, merge: Any) -> tuple[Any, Any]:
    """``part`` over the plan in one process, then in two (chunks forced small)."""
    header = plan_mod.read_header(path)
    lines = ledger.read(path, header)
    serial = ranges._serial(path, header, lines, part)
    parallel = ranges._parallel(path, header, lines, part, merge, 2, 0)
    return serial, parallel


def test_show_lists_the_same_in_plan_order(plan_path: Path) -> None:
    for limit in (5, None):
        serial, parallel = _both(
            plan_path, lambda events, limit=limit: Listing.of(events, limit), Listing.merge
        )
        assert parallel.seen == serial.seen
        assert parallel.alerts == serial.alerts
        assert parallel.pending == serial.pending
    assert len(serial.pending) == 320 - 50  # every pending, none decided
    assert sum(serial.seen.values()) == 400


def test_selection_and_named_ids_are_the_same(plan_path: Path) -> None:
    selector = Selector.parse(attributes=["title"], responses=["review"])
    serial, parallel = _both(plan_path, lambda events: choose(events, selector), Selection.merge)
    assert parallel.pending == serial.pending and len(serial.pending) > 50
    assert (parallel.operations, parallel.responses, parallel.decided, parallel.auto) == (
        serial.operations,
        serial.responses,
        serial.decided,
        serial.auto,
    )
    wanted = frozenset(json.loads(line)["id"] for line in plan_path.read_text().splitlines()[1::9])
    serial, parallel = _both(
        plan_path, lambda events: _Named.of(events, wanted, "approved"), _Named.merge
    )
    assert (parallel.chosen, parallel.refused, parallel.found) == (
        serial.chosen,
        serial.refused,
        serial.found,
    )
    assert serial.refused  # every fifth event is auto


def test_the_chunks_cover_every_event_once(plan_path: Path) -> None:
    """Each process took chunks, and every line of the plan was in exactly one."""
    seen: list[str] = []
    pids: set[int] = set()

    def part(events: Iterator[dict[str, Any]]) -> tuple[list[str], set[int]]:
        time.sleep(0.05)  # a chunk takes a while: the child surely gets some
        return [e["id"] for e in events], {os.getpid()}

    def merge(a: Any, b: Any) -> Any:
        return a[0] + b[0], a[1] | b[1]

    serial, parallel = _both(plan_path, part, merge)
    seen, pids = parallel
    assert seen == serial[0] and len(seen) == 400
    assert len(pids) == 2  # the parent and its child both took chunks


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def _reseal(path: Path, lines: list[bytes]) -> None:
    """Write ``lines`` as the plan's events under a header whose digest matches them
    (what a forger does to an unsigned plan); the ledger is dropped."""
    header = json.loads(lines[0])
    events = b"".join(line + b"\n" for line in lines[1:])
    import hashlib

    header["digest"] = plan_mod.digest_with(header, hashlib.sha256(events).hexdigest())
    path.write_bytes(plan_mod.header_line(header) + events)
    ledger.ledger_path(path).unlink(missing_ok=True)


def _same_error(path: Path, part: Any = None) -> str:
    """The error of the one-process read and of the parallel one: equal, returned."""
    part = part or (lambda events: Listing.of(events, 5))
    header = plan_mod.read_header(path)
    lines = ledger.read(path, header)
    with pytest.raises(InputError) as one:
        ranges._serial(path, header, lines, part)
    with pytest.raises(InputError) as two:
        ranges.map_events(path, header, lines, part, Listing.merge, processes=2, split_at=0)
    assert str(two.value) == str(one.value)
    return str(one.value)


@pytest.fixture
def forked(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """map_events takes the parallel road here (the test process may run threads);
    the list counts the reads in one process after a parallel one failed."""
    monkeypatch.setattr(ranges, "_single_threaded", lambda: True)
    retries: list[int] = []
    serial = ranges._serial

    def counted(*args: Any) -> Any:
        retries.append(1)
        return serial(*args)

    monkeypatch.setattr(ranges, "_serial", counted)
    return retries


def test_a_line_that_is_not_json_late_in_the_plan(plan_path: Path, forked: list[int]) -> None:
    lines = _lines(plan_path)
    lines[350] = lines[350][:-5]
    _reseal(plan_path, lines)
    assert "line 351 is not JSON" in _same_error(plan_path)
    assert forked == [1, 1]  # the plain read, then the parallel read's retry


def test_an_id_in_two_chunks(plan_path: Path, forked: list[int]) -> None:
    lines = _lines(plan_path)
    lines[390] = lines[3]  # far apart: not in one chunk
    _reseal(plan_path, lines)
    assert "line 391: event id" in _same_error(plan_path) and "appears twice" in _same_error(
        plan_path
    )


def test_an_event_of_the_wrong_shape(plan_path: Path, forked: list[int]) -> None:
    lines = _lines(plan_path)
    bad = json.loads(lines[300])
    bad["approval"]["state"] = "approved"  # a plan file holds no decision
    lines[300] = plan_mod.canonical(bad)
    _reseal(plan_path, lines)
    assert "line 301" in _same_error(plan_path)


def test_an_edited_plan_is_refused_by_its_digest(plan_path: Path, forked: list[int]) -> None:
    data = plan_path.read_bytes()
    at = data.rindex(b'"t3')  # a title value late in the plan, same length
    plan_path.write_bytes(data[:at] + b'"t9' + data[at + 3 :])
    assert "does not match its digest" in _same_error(plan_path)
    assert forked == [1]  # the chunks were fine: the digest refused it, no retry


def test_a_decision_naming_no_event(plan_path: Path, forked: list[int]) -> None:
    header = plan_mod.read_header(plan_path)
    ledger.append(
        plan_path, header, ledger.Entry("approved", ["ev-0123456789abcdef"], "eve", "--event")
    )
    assert "names event ev-0123456789abcdef, not in the plan" in _same_error(plan_path)


def test_a_line_cut_short_at_the_end(plan_path: Path, forked: list[int]) -> None:
    data = plan_path.read_bytes()
    plan_path.write_bytes(data[:-1])  # the last newline lost
    assert "cut short" in _same_error(plan_path)


def test_a_chunk_changed_after_it_was_read_is_refused(plan_path: Path) -> None:
    """Each chunk's bytes must hash to what the parent hashed for it: a plan written in
    place during the read is refused, even where the digest would not see it yet."""
    header = plan_mod.read_header(plan_path)
    good = ranges._Range(Listing(5), [], set(), b"x" * 32)
    hashes = ranges._Hashes(ranges=[b"y" * 32])
    with pytest.raises(InputError, match="changed while it was read"):
        ranges._combine(plan_path, header, [], [good], hashes, Listing.merge)


def test_a_child_that_dies_costs_a_second_read(
    plan_path: Path, forked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = os.getpid()
    run = ranges._Scanner.run

    def dying(self: Any) -> Any:
        if os.getpid() != parent:
            os._exit(9)  # killed: nothing sent
        return run(self)

    monkeypatch.setattr(ranges._Scanner, "run", dying)
    header = plan_mod.read_header(plan_path)
    lines = ledger.read(plan_path, header)
    listing = ranges.map_events(
        plan_path,
        header,
        lines,
        lambda e: Listing.of(e, None),
        Listing.merge,
        processes=2,
        split_at=0,
    )
    assert sum(listing.seen.values()) == 400
    assert forked == [1]


def test_no_fork_while_other_threads_run(plan_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fork copies only the calling thread: with another running, one process reads."""

    def never(*args: Any) -> Any:
        raise AssertionError("forked with a thread running")

    monkeypatch.setattr(ranges, "_parallel", never)
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not ranges._single_threaded()
        header = plan_mod.read_header(plan_path)
        ranges.map_events(plan_path, header, [], lambda e: Listing.of(e, 1), Listing.merge,
                          processes=2, split_at=0)  # fmt: skip
    finally:
        stop.set()
        thread.join()


def test_review_commands_read_in_ranges(
    plan_path: Path, forked: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """plan show and the decision commands go through the ranges, to the same result."""
    monkeypatch.setattr(ranges, "SPLIT_AT", 0)
    monkeypatch.setattr(ranges, "_cores", lambda: 2)
    header, info = review.show_file(plan_path, 10)
    monkeypatch.setattr(ranges, "MAX_PROCESSES", 1)
    assert review.show_file(plan_path, 10) == (header, info)
    assert forked == [1]  # the second, with one process
    selector = Selector.parse(attributes=["memberOf"])
    header = plan_mod.read_header(plan_path)
    expected = ranges._serial(
        plan_path, header, ledger.read(plan_path, header), lambda e: choose(e, selector)
    ).pending
    monkeypatch.setattr(ranges, "MAX_PROCESSES", 4)
    _, decided = review.decide_selected(plan_path, selector, "approved", "ana")
    assert decided == expected and len(decided) > 50
    assert forked == [1, 1]  # the expected list's read only
    assert list(ledger.read(plan_path, header)[-1].ids) == expected


def _order(path: Path) -> dict[str, int]:
    return {json.loads(line)["id"]: i for i, line in enumerate(path.read_text().splitlines()[1:])}


def test_what_was_printed_before_is_printed_once(plan_path: Path) -> None:
    """A forked child flushes its copy of stdout's buffer when it exits: what the
    command had printed but not flushed would come out twice. multiprocessing
    flushes before it forks; a bare os.fork would not."""
    script = (
        "import sys\n"
        "from recondiff.plan import file, ledger, ranges\n"
        "from recondiff.review.summary import Listing\n"
        "print('before')\n"  # buffered: stdout is a pipe
        f"path = {str(plan_path)!r}\n"
        "header = file.read_header(path)\n"
        "listing = ranges.map_events(path, header, ledger.read(path, header),\n"
        "    lambda e: Listing.of(e, 1), Listing.merge, processes=2, split_at=0)\n"
        "print(sum(listing.seen.values()))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert out == "before\n400\n"


@pytest.mark.parametrize(
    "edit",
    [
        lambda e: e.update(object={}),
        lambda e: e.update(response=["x"]),
        lambda e: e.update(changes=[1]),
        lambda e: e["changes"][0].update(attribute=7),
        lambda e: e["reason"].update(situation=None),
        lambda e: e["reason"].update(drift=[{"kind": "changed"}]),
        lambda e: e["object"].update(member_of=["g"]),
        lambda e: e.update(owner={"candidates": [{"score": 1}]}),
        lambda e: e.update(alert=["x"]),
    ],
)
def test_a_resealed_event_of_the_wrong_shape_is_one_line(
    plan_path: Path, edit: Any, tmp_path: Path
) -> None:
    """A plan re-sealed by hand (the digest recomputed) with an event the review
    code cannot read: plan show and plan approve say so in one line, exit 2, never
    a crash (exit 3). Found by the red team: object {}, response ["x"], changes [1]."""
    lines = _lines(plan_path)
    bad = json.loads(lines[7])
    edit(bad)
    lines[7] = plan_mod.canonical(bad)
    _reseal(plan_path, lines)
    for args in (
        ["plan", "show", str(plan_path)],
        ["plan", "approve", str(plan_path), "--all", "--by", "x"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "recondiff.cli.main", *args], capture_output=True, text=True
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.count("\n") == 1 and "line 8" in done.stderr, done.stderr
