"""The decisions ledger: a plan's approvals, rejections and other decisions,
appended beside it (``plan.jsonl`` -> ``plan.decisions.jsonl``, docs/plan.md).

A plan never changes once written; every decision command appends one line
here. A line is canonical JSON (:func:`recondiff.plan.file.canonical`) that
names the plan's digest and carries the hash of the line before it (the first
line: the plan's digest), so an edited, reordered or removed line breaks the
chain and is refused with one line on every read. A line may be signed by
whoever decided (``signature``, checked by :mod:`recondiff.plan.trust`
against keys from the config or a trust file, never from here).

The last line's hash (:attr:`Line.hash`) is the ledger's head: removing lines
from the *end* leaves a valid shorter chain, so apply prints the head it
verified and ``--decisions-head`` pins it (docs/plan.md).
"""

from __future__ import annotations

import copy
import errno
import fcntl
import hashlib
import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from recondiff.errors import InputError, printable
from recondiff.io.canonical import canonical

Event = dict[str, Any]
Plan = dict[str, Any]

SUFFIX = ".decisions.jsonl"
KINDS = ("approved", "rejected", "accepted", "assigned")
"""``approved``/``rejected``: an event that needs approval; ``accepted``: keep the
endpoint as it is (any event, auto ones too; remembered by the next run);
``assigned``: an owner event's chosen identity (approves it)."""
ACTIONS = ("delete", "disable")
STATES = {
    "approved": "approved",
    "rejected": "rejected",
    "accepted": "accepted",
    "assigned": "approved",
}
"""The approval state each decision leaves its events in."""

_KEYS = frozenset(
    (
        "seq",
        "plan",
        "prev",
        "decision",
        "ids",
        "selector",
        "by",
        "comment",
        "at",
        "until",
        "identity",
        "action",
        "signature",
    )
)

_EVENT_ID = re.compile(r"ev-[0-9a-f]{16}")
"""An event id as the plan's schema has it: a line naming anything else is refused
(its refusals quote the ids)."""

SignLine = Callable[[bytes], dict[str, str]]
"""Signs a line's canonical bytes (without ``signature``): returns its ``signature``."""


def ledger_path(plan_path: str | Path) -> Path:
    """``out/plan.jsonl`` -> ``out/plan.decisions.jsonl``, beside the file a symbolic
    link names (a plan reached two ways has one ledger)."""
    real = Path(os.path.realpath(plan_path))
    return real.with_name(real.name.removesuffix(".jsonl") + SUFFIX)


def line_hash(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class Line:
    """One decision as the ledger holds it; ``raw`` its exact bytes (no newline)."""

    seq: int
    decision: str
    ids: tuple[str, ...]
    by: str
    at: str
    selector: str | None
    comment: str | None
    until: str | None
    identity: str | None
    action: str | None
    signature: dict[str, str] | None
    raw: bytes = field(repr=False)

    @property
    def hash(self) -> str:
        return line_hash(self.raw)

    def unsigned(self) -> bytes:
        """The bytes a signature covers: the canonical line without ``signature``."""
        data = orjson.loads(self.raw)
        data.pop("signature", None)
        return canonical(data)


def _bad(where: str, what: str) -> InputError:
    return InputError(
        f"{where}: {what}; the ledger is append-only: restore it from a copy, or "
        "re-run recondiff compare and decide again"
    )


def _text(data: dict[str, Any], key: str, where: str, optional: bool = True) -> str | None:
    value = data.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, f"{key} is not a text")
    return value


def _line(raw: bytes, number: int, digest: str, prev: str, path: Path) -> Line:
    where = f"{path}: line {number}"
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise _bad(where, "not JSON (edited by hand?)") from None
    if not isinstance(data, dict) or set(data) != _KEYS:
        raise _bad(where, "not a decision line (edited by hand?)")
    if canonical(data) != raw:
        raise _bad(where, "not in canonical form (edited by hand?)")
    if data["plan"] != digest:
        raise InputError(
            f"{where}: the decisions are for another plan ({printable(str(data['plan'])[:80])}); "
            "a ledger belongs to the plan file beside it"
        )
    # seq an int: true == 1 and 1.0 == 1 in Python, not to jq or DuckDB
    if type(data["seq"]) is not int or data["seq"] != number or data["prev"] != prev:
        raise _bad(where, "the hash chain is broken (a line edited, removed or reordered)")
    ids = data["ids"]
    if (
        data["decision"] not in KINDS
        or not isinstance(ids, list)
        or not ids
        or not all(isinstance(i, str) and _EVENT_ID.fullmatch(i) for i in ids)
        or data["action"] not in (None, *ACTIONS)
    ):
        raise _bad(where, "not a decision line (edited by hand?)")
    signature = data["signature"]
    if signature is not None and not (
        isinstance(signature, dict) and all(isinstance(v, str) for v in signature.values())
    ):
        raise _bad(where, "a malformed signature")
    by = str(_text(data, "by", where, optional=False))
    if not by.isprintable():  # as append writes it: one line, no terminal escapes
        raise _bad(where, "by is not one line of printable characters")
    return Line(
        seq=number,
        decision=data["decision"],
        ids=tuple(ids),
        by=by,
        at=str(_text(data, "at", where, optional=False)),
        selector=_text(data, "selector", where),
        comment=_text(data, "comment", where),
        until=_text(data, "until", where),
        identity=_text(data, "identity", where),
        action=data["action"],
        signature=signature,
        raw=raw,
    )


def _parse(content: bytes, digest: str, path: Path) -> tuple[list[Line], int]:
    """The lines of ``content`` and the length of its complete part: a last line
    without its newline is an append that was interrupted (never acknowledged)."""
    complete = content.rfind(b"\n") + 1
    lines: list[Line] = []
    prev = digest
    for number, raw in enumerate(content[:complete].split(b"\n")[:-1], start=1):
        line = _line(raw, number, digest, prev, path)
        lines.append(line)
        prev = line.hash
    return lines, complete


def read(plan_path: str | Path, header: Plan) -> list[Line]:
    """The decisions of the plan at ``plan_path`` (whose ``header`` was read), in
    order, the chain checked. No ledger file: no decisions."""
    path = ledger_path(plan_path)
    flags = os.O_RDONLY | _NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)  # not through a link, as append; a FIFO must not block
    except FileNotFoundError:
        return []
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symbolic_link(path) from None
        raise InputError(f"{path}: cannot read the decisions ({exc.strerror or exc})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path}: not a plain file; the decisions ledger must be one")
        content = _read_all(fd)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the decisions ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    return _parse(content, header["digest"], path)[0]


def head(lines: Sequence[Line], header: Plan) -> str:
    """The ledger's head: the last line's hash (the plan digest when it is empty)."""
    return lines[-1].hash if lines else str(header["digest"])


class Decisions:
    """The ledger's last word on each event, applied to events as they stream by."""

    def __init__(self, lines: Sequence[Line], source: Path | str) -> None:
        self.source = source
        self.last: dict[str, Line] = {}
        for line in lines:
            for event_id in line.ids:
                self.last[event_id] = line
        self.seen: set[str] = set()

    def fresh(self) -> Decisions:
        """The same decisions, none seen yet (a range of a plan read in ranges)."""
        other = copy.copy(self)
        other.seen = set()
        return other

    def apply(self, event: Event) -> Event:
        """Set ``event``'s approval (in place) as the ledger leaves it; return it."""
        line = self.last.get(event["id"])
        if line is None:
            return event
        self.seen.add(event["id"])
        approval = event["approval"]
        if line.decision != "accepted" and not approval["required"]:
            raise _bad(
                f"{self.source}: line {line.seq}",
                f"{line.decision} names event {event['id']}, which needs no approval",
            )
        approval.update(state=STATES[line.decision], by=line.by, at=line.at, comment=line.comment)
        for key in ("until", "identity", "action"):
            value = getattr(line, key)
            if value is not None:
                approval[key] = value
        approval["decision"] = line.seq
        return event

    def finish(self) -> None:
        """After every event went by: a decision naming an event the plan lacks is refused."""
        unknown = [i for i in self.last if i not in self.seen]
        if unknown:
            line = self.last[unknown[0]]
            raise _bad(
                f"{self.source}: line {line.seq}", f"names event {unknown[0]}, not in the plan"
            )


def decided(
    events: Iterable[Event], lines: Sequence[Line], source: Path | str = "ledger"
) -> Iterator[Event]:
    """``events`` as they stream by, each with the ledger's decision on it (in place);
    a decision naming an event the plan lacks is refused when they end."""
    if not lines:
        yield from events
        return
    decisions = Decisions(lines, source)
    for event in events:
        yield decisions.apply(event)
    decisions.finish()


def fold(events: Iterable[Event], lines: Sequence[Line], source: Path | str = "ledger") -> None:
    """Apply the ledger's decisions to ``events`` (in place)."""
    for _ in decided(events, lines, source):
        pass


@dataclass(frozen=True)
class Entry:
    """A decision to append (the caller has checked it against the plan)."""

    decision: str
    ids: Sequence[str]
    by: str
    selector: str | None = None
    comment: str | None = None
    until: datetime | None = None
    identity: str | None = None
    action: str | None = None
    at: datetime | None = None


def _timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


def append(plan_path: str | Path, header: Plan, entry: Entry, sign: SignLine | None = None) -> Line:
    """Append ``entry`` as the ledger's next line, under an exclusive lock (two
    decision commands at once each get their own line, chained), written and
    synced before this returns. The chain is checked first: a broken ledger is
    refused, not extended."""
    if entry.decision not in KINDS or not entry.ids or entry.action not in (None, *ACTIONS):
        raise ValueError(entry)
    if not entry.by.strip() or not entry.by.isprintable():
        raise InputError(
            f"{plan_path}: a decision needs the approver's name on one line, without "
            "control characters (--by NAME)"
        )
    path = ledger_path(plan_path)
    fd = _open_locked(path)
    try:
        content = _read_all(fd)
        lines, complete = _parse(content, header["digest"], path)
        if complete < len(content):  # an interrupted append: never acknowledged
            os.ftruncate(fd, complete)
        data: dict[str, Any] = {
            "seq": len(lines) + 1,
            "plan": header["digest"],
            "prev": head(lines, header),
            "decision": entry.decision,
            "ids": list(entry.ids),
            "selector": entry.selector,
            "by": entry.by,
            "comment": entry.comment or None,
            "at": _timestamp(entry.at or datetime.now(UTC)),
            "until": _timestamp(entry.until) if entry.until else None,
            "identity": entry.identity,
            "action": entry.action,
            "signature": None,
        }
        if sign is not None:
            unsigned = dict(data)
            del unsigned["signature"]
            data["signature"] = sign(canonical(unsigned))
        raw = canonical(data)
        os.lseek(fd, 0, os.SEEK_END)
        _write_all(fd, raw + b"\n")
        os.fsync(fd)
        return _line(raw, len(lines) + 1, header["digest"], data["prev"], path)
    finally:
        os.close(fd)  # releases the lock


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _symbolic_link(path: Path) -> InputError:
    return InputError(f"{path}: a symbolic link; the decisions ledger must be a plain file")


def _open_locked(path: Path) -> int:
    flags = os.O_RDWR | os.O_CREAT | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise _symbolic_link(path) from None
        raise InputError(f"{path}: cannot write the decisions ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # checked once locked: a file renamed over the name while this waited is not ours
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise InputError(f"{path}: not a plain file; the decisions ledger must be one")
        if not _still_named(opened, path):
            raise InputError(f"{path}: replaced while it was opened; try again")
        if opened.st_nlink != 1:
            raise InputError(
                f"{path}: has another name (a hard link); the ledger must be a plain file"
            )
    except BaseException:
        os.close(fd)
        raise
    return fd


def _still_named(opened: os.stat_result, path: Path) -> bool:
    """The file opened is still the one at ``path`` (not renamed away or replaced)."""
    try:
        return opened.st_nlink > 0 and os.path.samestat(opened, os.lstat(path))
    except FileNotFoundError:
        return False


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
