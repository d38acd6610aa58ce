"""The action plan file (``plan.jsonl``): identity, digest, schema, reading, writing.

A plan is JSON Lines (docs/plan.md): line 1 the header, then one event per
line, each in its canonical JSON form, handled here as dicts. A plan never
changes once compare wrote it: decisions are lines of its ledger beside it
(:mod:`recondiff.plan.ledger`). Every read checks the JSON Schema shipped with
the package, line by line, and the digest the header carries of the whole
content. Building a plan from a compare run is :mod:`recondiff.plan.build`;
executing it is :mod:`recondiff.apply.runner`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

import fastjsonschema
import orjson

from recondiff.errors import InputError
from recondiff.io.atomic import write_bytes_atomically
from recondiff.io.canonical import canonical
from recondiff.plan import ledger

PLAN_FORMAT = "recondiff-plan/2"
PLAN_FILE = "plan.jsonl"
DECISIONS = ("approved", "rejected")

Plan = dict[str, Any]
Event = dict[str, Any]
__all__ = ["canonical"]  # re-exported: the plan's canonical JSON

Sign = Callable[[str], dict[str, str]]
"""Signs a plan's digest: returns the header's ``signature`` (recondiff.io.signing)."""


def event_line(event: Event) -> str:
    """An event as the plan file holds it: canonical JSON on one line."""
    return canonical(event).decode("utf-8")


def digest_with(header: Plan, events_sha256: str) -> str:
    body = {k: v for k, v in header.items() if k not in ("digest", "events", "signature")}
    return "sha256:" + hashlib.sha256(canonical(body) + b"\n" + events_sha256.encode()).hexdigest()


def digest_of(plan: Plan) -> str:
    """``sha256:`` + SHA-256 of the canonical header (without ``digest``,
    ``signature`` and ``events``), a newline, and the hex SHA-256 of the events' canonical lines
    (each followed by a newline). Defined so that a writer can hash the events
    as it streams them, before the header's counts are known."""
    events = hashlib.sha256()
    for event in plan.get("events", []):
        events.update(canonical(event) + b"\n")
    return digest_with(plan, events.hexdigest())


def event_id(target: str, operation: str, obj: dict[str, Any], changes: list[Any]) -> str:
    """Stable id: the same target, operation, object and changes give the same id.

    The seed is the fields joined with ASCII separators (RS between fields, US
    inside one), not their JSON: encoding JSON just to hash it was a large
    part of a plan's time. queries/macros/events.sql rd_event_id is the same
    rule in SQL (tests/test_plan.py holds the two equal)."""
    member = obj.get("member_of") or {}
    fields = [
        target,
        operation,
        obj.get("key"),
        obj.get("dn"),
        obj.get("identity_key"),
        member.get("key"),
        member.get("dn"),
    ]
    parts = ["" if f is None else str(f) for f in fields]
    parts.extend("\x1f".join([c["op"], c["attribute"], *c["values"]]) for c in changes)
    return "ev-" + hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()[:16]


def plan_id(config_sha256: str, endpoint_sha256: str, repository_sha256: str) -> str:
    seed = f"{config_sha256}\n{endpoint_sha256}\n{repository_sha256}".encode()
    return "pl-" + hashlib.sha256(seed).hexdigest()[:16]


@cache
def _validator() -> Any:
    """The schema compiled to Python (fastjsonschema): interpreting it was
    ten times slower on a large plan."""
    return fastjsonschema.compile(schema())


@cache
def _event_validator() -> Any:
    """One event line: the schema's ``$defs/event``."""
    whole = schema()
    keep = ("$schema", "$id", "$defs")
    return fastjsonschema.compile({**{k: whole[k] for k in keep}, "$ref": "#/$defs/event"})


@cache
def schema() -> dict[str, Any]:
    text = resources.files("recondiff").joinpath("plan/plan.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


class Tally:
    """The header's counts, accumulated one event at a time (one counter of
    (operation, response, approval state, alert) tuples, summed up at the end)."""

    def __init__(self) -> None:
        self._seen: Counter[tuple[str, str, str, bool]] = Counter()

    def add(self, event: Event) -> None:
        state = event["approval"]["state"]
        self.count(event["operation"], event["response"], state, event["alert"])

    def count(
        self, operation: str, response: str, state: str, alert: str | None, n: int = 1
    ) -> None:
        self._seen[(operation, response, state, bool(alert))] += n

    @property
    def events(self) -> int:
        return sum(self._seen.values())

    def as_dict(self) -> dict[str, Any]:
        by_operation: Counter[str] = Counter()
        by_response: Counter[str] = Counter()
        by_approval: Counter[str] = Counter()
        by_response_approval: dict[str, Counter[str]] = {}
        alerts = 0
        for (operation, response, state, alert), n in self._seen.items():
            by_operation[operation] += n
            by_response[response] += n
            by_approval[state] += n
            by_response_approval.setdefault(response, Counter())[state] += n
            alerts += n if alert else 0
        return {
            "events": self.events,
            "by_operation": dict(sorted(by_operation.items())),
            "by_response": dict(sorted(by_response.items())),
            "by_approval": dict(sorted(by_approval.items())),
            "by_response_approval": {
                r: dict(sorted(c.items())) for r, c in sorted(by_response_approval.items())
            },
            "alerts": alerts,
        }


def counts(events: Sequence[Event]) -> dict[str, Any]:
    """The header's tallies, always derived from the events (never edited by hand)."""
    tally = Tally()
    for event in events:
        tally.add(event)
    return tally.as_dict()


def _schema_error(error: Any, source: Path | str, line: int | None) -> InputError:
    where = "/".join(str(p) for p in (error.path or [])[1:])  # [0]: "data"
    if line is not None:
        where = f"line {line}" + (f", {where}" if where else "")
    message, name = str(error.message), f"{error.name} "
    if message.startswith(name):  # "data.changes[5].x must be ..."
        message = message[len(name) :]
    return InputError(
        f"{source}: not a valid recondiff plan at {where or 'line 1'}: {message}; "
        "re-run recondiff compare to write a fresh plan"
    )


def check_header(header: Any, source: Path | str) -> Plan:
    """Check line 1 of a plan file against the schema (the header has no events)."""
    if isinstance(header, dict) and header.get("format") == "recondiff-plan/1":
        raise InputError(
            f"{source}: a plan in the old single-document form (recondiff-plan/1); "
            f"re-run recondiff compare to write {PLAN_FILE}"
        )
    try:
        _validator()(header)
    except fastjsonschema.JsonSchemaValueException as error:
        raise _schema_error(error, source, None) from None
    assert isinstance(header, dict)
    return header


def check_event(event: Any, source: Path | str, line: int) -> Event:
    """Check one event (``line``: its line in the file) against the schema."""
    try:
        _event_validator()(event)
    except fastjsonschema.JsonSchemaValueException as error:
        raise _schema_error(error, source, line) from None
    assert isinstance(event, dict)
    return event


DIGEST_MISMATCH = (
    "{source}: the plan's content does not match its digest (edited by hand?); a plan "
    "never changes once written: decisions go to its ledger (recondiff plan approve, "
    "reject, accept, import-decisions); re-run recondiff compare for a fresh plan"
)


def validate(plan: Any, source: Path | str) -> Plan:
    """Check a whole plan held in memory (header and ``events``): schema, ids, digest."""
    if not isinstance(plan, dict) or not isinstance(plan.get("events"), list):
        raise InputError(f"{source}: not a valid recondiff plan (no events list)")
    check_header({k: v for k, v in plan.items() if k != "events"}, source)
    seen: set[str] = set()
    for i, event in enumerate(plan["events"]):
        check_event(event, source, i + 2)
        if event["id"] in seen:
            raise InputError(f"{source}: line {i + 2}: event id {event['id']} appears twice")
        seen.add(event["id"])
    if plan["digest"] != digest_of(plan):
        raise InputError(DIGEST_MISMATCH.format(source=source))
    return plan


def open_plan(path: Path) -> IO[bytes]:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise InputError(
            f"{path}: no such plan file; recondiff compare writes OUTDIR/{PLAN_FILE}"
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None


def parse_line(line: bytes, path: Path, number: int) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"{path}: line {number} is not JSON ({exc.msg}); is it a recondiff {PLAN_FILE}?"
        ) from None


def header_of(file: IO[bytes], path: Path) -> Plan:
    try:
        first = file.readline()
    except OSError as exc:
        raise InputError(f"{path}: cannot read the plan ({exc.strerror or exc})") from None
    if not first.strip():
        raise InputError(f"{path}: empty; recondiff compare writes OUTDIR/{PLAN_FILE}")
    return check_header(parse_line(first, path, 1), path)


def read_header(path: str | Path) -> Plan:
    """Line 1 of the plan at ``path``, checked against the schema (not the digest:
    that needs every event, :func:`iter_events`)."""
    file = Path(path)
    with open_plan(file) as f:
        return header_of(f, file)


_EVENT_KEYS = frozenset(
    ("id", "target", "operation", "response", "object", "changes", "preconditions", "reason",
     "alert", "approval")
)  # fmt: skip


def check_event_shape(event: Any, source: Path | str, line: int) -> Event:
    """The cheap check of one event (review commands): the keys and kinds the review
    code reads, so that a plan re-sealed by hand is one line, not a crash. The
    schema's full check (:func:`check_event`) is for what acts on a plan: at 60 µs
    an event it was most of ``plan show``'s time on a 10M run's plan. An event that
    fails this check gets the full one, for its exact message."""
    try:
        ok = _shape_ok(event)
    except (AttributeError, KeyError, TypeError):
        ok = False
    return event if ok else check_event(event, source, line)


_OBJECT_KEYS = frozenset(("key", "dn", "identity_key"))


def _shape_ok(event: Any) -> bool:
    """What :func:`check_event_shape` checks (it catches the lookups' errors).
    Loops, not all() over generators: this runs for every event of a plan."""
    if not event.keys() >= _EVENT_KEYS:
        return False
    obj, reason, approval, alert = (
        event["object"],
        event["reason"],
        event["approval"],
        event["alert"],
    )
    if not (
        type(event["id"]) is str
        and type(event["target"]) is str
        and type(event["operation"]) is str
        and type(event["response"]) is str
        and (alert is None or type(alert) is str)
        and type(obj) is dict
        and obj.keys() >= _OBJECT_KEYS
        and ("member_of" not in obj or type(obj["member_of"]) is dict)
        and type(reason) is dict
        and type(reason["situation"]) is str
        and approval["state"] in _FILE_STATES
        and type(approval["required"]) is bool
    ):
        return False
    changes = event["changes"]
    if type(changes) is not list:
        return False
    for c in changes:
        if (
            type(c["op"]) is not str
            or type(c["attribute"]) is not str
            or type(c["values"]) is not list
        ):
            return False
    for d in reason.get("drift") or ():
        if "attribute" not in d or "kind" not in d:
            return False
    if "owner" in event and not _owner_ok(event["owner"]):
        return False
    return "choices" not in event or type(event["choices"]) is dict


def _owner_ok(owner: Any) -> bool:
    candidates = owner["candidates"]
    return type(candidates) is list and all(
        type(c) is dict and "identity_key" in c and "score" in c for c in candidates
    )


_FILE_STATES = ("auto", "pending")


def iter_events(
    path: str | Path, header: Plan | None = None, *, full_check: bool = True
) -> Iterator[Event]:
    """Every event of the plan at ``path`` in plan order, each checked against the
    schema as it is read (``full_check=False``: only its shape,
    :func:`check_event_shape`); memory stays flat. The ids' uniqueness and the digest
    are checked on the way: the iteration's last step raises :class:`InputError`
    when the content does not match the header's digest, so a caller that acts
    while it reads runs :func:`verify` first. ``header``: the one the caller
    read (and may have verified a signature of); another is refused."""
    file = Path(path)
    check = check_event if full_check else check_event_shape
    seen: set[str] = set()
    for number, line in iter_lines(file, header):
        event = check(parse_line(line, file, number), file, number)
        if event["id"] in seen:
            raise InputError(f"{file}: line {number}: event id {event['id']} appears twice")
        seen.add(event["id"])
        yield event


def iter_lines(path: Path, header: Plan | None = None) -> Iterator[tuple[int, bytes]]:
    """Each event line of the plan at ``path`` (its number in the file, its bytes
    without the newline), the digest checked at the end (:func:`iter_events`)."""
    events = hashlib.sha256()
    number = 1
    # hashed in a thread while the caller parses (hashlib releases the GIL on
    # large buffers): one worker, so the blocks are hashed in order
    hasher = ThreadPoolExecutor(max_workers=1)
    done = False
    try:
        with open_plan(path) as f:
            head = header_of(f, path)
            if header is not None and header.get("digest") != head["digest"]:
                raise InputError(f"{path}: the plan file changed while it was read")
            for block in _blocks(f):
                if not block.endswith(b"\n"):
                    raise InputError(
                        f"{path}: line {number + 1} is cut short (an interrupted copy?)")
                hasher.submit(events.update, block)  # a block at a time: per line was a tenth
                for line in block.split(b"\n")[:-1]:
                    number += 1
                    yield number, line
        hasher.shutdown(wait=True)  # every block hashed
        done = True
    finally:
        if not done:
            # left early (an error, or a caller that stopped reading and let the
            # garbage collector close this generator): never wait for the worker.
            # A collection can run inside threading's own locks, where a join
            # deadlocks the thread being started (seen in the test suite:
            # Thread._bootstrap_inner -> gc -> this generator -> shutdown(wait=True)).
            hasher.shutdown(wait=False, cancel_futures=True)
    if head["digest"] != digest_with(head, events.hexdigest()):
        raise InputError(DIGEST_MISMATCH.format(source=path))


def iter_pinned(path: str | Path, header: Plan, hashes: Sequence[bytes]) -> Iterator[Event]:
    """The events of the plan at ``path`` once more, each line held to the SHA-256
    :func:`iter_lines` saw for it in a first pass (``hashes``), so a second pass that
    acts while it reads acts only on what the first one checked: a file changed in
    between is refused at its first changed line, before that line acts."""
    file = Path(path)
    count = 0
    for number, line in iter_lines(file, header):
        index = number - 2
        if index >= len(hashes) or hashlib.sha256(line).digest() != hashes[index]:
            raise InputError(f"{file}: line {number} changed since the plan was checked")
        count += 1
        yield parse_line(line, file, number)
    if count != len(hashes):
        raise InputError(f"{file}: lines removed since the plan was checked")


def _blocks(f: IO[bytes]) -> Iterator[bytes]:
    """The rest of ``f`` in blocks of whole lines (each ending in a newline), then
    what follows the last newline, if anything (a line cut short)."""
    rest = b""
    while chunk := f.read(4 << 20):
        chunk = rest + chunk
        cut = chunk.rfind(b"\n") + 1
        rest = chunk[cut:]
        if cut:
            yield chunk[:cut]
    if rest:
        yield rest


def verify(path: str | Path) -> Plan:
    """Check the whole plan at ``path`` (every line's schema, the ids, the digest)
    without keeping its events; return its header."""
    header = read_header(path)
    for _ in iter_events(path, header):
        pass
    return header


def load_plan(path: str | Path, *, decisions: bool = True) -> Plan:
    """Read and check a plan file: its header with ``events`` (a list) and, with
    ``decisions``, each event's approval as the plan's ledger leaves it
    (:mod:`recondiff.plan.ledger`). Raises :class:`InputError` with one line.
    The whole plan in memory: commands over large plans stream instead."""
    file = Path(path)
    header = read_header(file)
    plan = header | {"events": list(iter_events(file, header))}
    if decisions:
        ledger.fold(plan["events"], ledger.read(file, header), ledger.ledger_path(file))
        plan["counts"] = counts(plan["events"])  # as decided: derived, like the file's
    return plan


def finalise(plan: Plan) -> Plan:
    """Recompute the derived header (counts) and the digest, in place (drops a signature)."""
    plan["counts"] = counts(plan["events"])
    plan.pop("digest", None)
    plan.pop("signature", None)
    plan["digest"] = digest_of(plan)
    return plan


def header_line(header: Plan) -> bytes:
    """Line 1 of a plan file: the header's canonical JSON (without ``events``)."""
    return canonical({k: v for k, v in header.items() if k != "events"}) + b"\n"


def dumps(plan: Plan) -> bytes:
    """The plan file's bytes: the header line, then one canonical event per line."""
    lines = [header_line(plan)]
    lines.extend(canonical(e) + b"\n" for e in plan.get("events", []))
    return b"".join(lines)


def save_plan(plan: Plan, path: str | Path, sign: Sign | None = None) -> None:
    """Finalise ``plan`` (counts, digest, ``sign``'s signature) and write a fresh plan
    file atomically. Compare streams its plan (:mod:`recondiff.plan.writer`); this
    writes one held in memory (tests, tools). Nothing rewrites a plan to decide: see
    the ledger."""
    for event in plan.get("events", []):
        approval = event["approval"]
        if approval["state"] not in ("auto", "pending"):
            raise ValueError(f"{event['id']}: a plan file holds no decision")
    finalise(plan)
    if sign is not None:
        plan["signature"] = sign(plan["digest"])
    validate(plan, path)
    write_bytes_atomically(Path(path), dumps(plan), "the plan")


def runnable(plan: Plan) -> list[Event]:
    """The endpoint events ``apply`` executes: approved or auto, in plan order."""
    return [
        e
        for e in plan["events"]
        if e["target"] == "endpoint" and e["approval"]["state"] in ("auto", "approved")
    ]
