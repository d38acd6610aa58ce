"""The action plan file: identity, digest, schema, loading, saving, decisions.

A plan is plain JSON (docs/plan.md), handled here as dicts. Every load checks
the JSON Schema shipped with the package and the digest the file carries of
its own content; every save writes a fresh digest atomically. Building a plan
from a compare run is :mod:`recondiff.plan.build`; executing it is
:mod:`recondiff.apply.runner`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

import fastjsonschema
import orjson

from recondiff.errors import InputError
from recondiff.io.atomic import write_text_atomically

PLAN_FORMAT = "recondiff-plan/1"
DECISIONS = ("approved", "rejected")

Plan = dict[str, Any]
Event = dict[str, Any]


def canonical(value: Any) -> bytes:
    """The canonical JSON the digests are taken over: sorted keys, no spaces, UTF-8,
    non-ASCII characters as themselves: byte for byte ``json.dumps(value,
    sort_keys=True, separators=(",", ":"), ensure_ascii=False)`` (a test holds
    the two equal), written by orjson, several times faster than the json
    module on a plan's events."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def event_line(event: Event) -> str:
    """An event as the plan file holds it: canonical JSON on one line."""
    return canonical(event).decode("utf-8")


def _digest(header: Plan, events_sha256: str) -> str:
    body = {k: v for k, v in header.items() if k not in ("digest", "events")}
    return "sha256:" + hashlib.sha256(canonical(body) + b"\n" + events_sha256.encode()).hexdigest()


def digest_of(plan: Plan) -> str:
    """``sha256:`` + SHA-256 of the canonical header (without ``digest`` and
    ``events``), a newline, and the hex SHA-256 of the events' canonical lines
    (each followed by a newline). Defined so that a writer can hash the events
    as it streams them, before the header's counts are known."""
    events = hashlib.sha256()
    for event in plan.get("events", []):
        events.update(canonical(event) + b"\n")
    return _digest(plan, events.hexdigest())


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


def validate(plan: Any, source: Path | str) -> Plan:
    """Check ``plan`` against the schema, its digest and its own consistency."""
    try:
        _validator()(plan)
    except fastjsonschema.JsonSchemaValueException as error:
        where = "/".join(str(p) for p in (error.path or [])[1:]) or "(top level)"  # [0]: "data"
        message, name = str(error.message), f"{error.name} "
        if message.startswith(name):  # "data.events[5].x must be ..."
            message = message[len(name) :]
        raise InputError(
            f"{source}: not a valid recondiff plan at {where}: {message}; "
            "re-run recondiff compare to write a fresh plan"
        ) from None
    assert isinstance(plan, dict)
    expected = digest_of(plan)
    if plan["digest"] != expected:
        raise InputError(
            f"{source}: the plan's content does not match its digest (edited by hand?); "
            "change approvals with recondiff plan approve/reject/import-decisions, "
            "or re-run recondiff compare"
        )
    seen: set[str] = set()
    for i, event in enumerate(plan["events"]):
        if event["id"] in seen:
            raise InputError(f"{source}: events/{i}: id {event['id']} appears twice")
        seen.add(event["id"])
    return plan


def load_plan(path: str | Path) -> Plan:
    """Read and check a plan file. Raises :class:`InputError` with one line."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{file}: no such plan file; recondiff compare writes OUTDIR/plan.json"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{file}: cannot read the plan ({exc})") from None
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise InputError(
            f"{file}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "is it a recondiff plan.json?"
        ) from None
    return validate(data, file)


def finalise(plan: Plan) -> Plan:
    """Recompute the derived header (counts) and the digest, in place."""
    plan["counts"] = counts(plan["events"])
    plan.pop("digest", None)
    plan["digest"] = digest_of(plan)
    return plan


class PlanWriter:
    """Writes a plan whose events arrive one at a time (compare's planner).

    Events go to a temporary file beside ``path`` as they come, tallied and
    hashed on the way; :meth:`finish` then writes the header (whose counts and
    digest are only known at the end) and copies the events after it. Memory
    stays flat however many events there are. ``keep`` events of each kind the
    report shows (alerts, pending, decided) are kept in memory for it.
    """

    def __init__(self, path: Path, keep: int) -> None:
        self.path = path
        self.keep = keep
        self.tally = Tally()
        self.kept: list[Event] = []
        self._kept_by = Counter[str]()
        self._hash = hashlib.sha256()
        self._temp = path.with_name(f".{path.name}.events")
        self._out: IO[bytes] = self._temp.open("wb")
        self._written = 0

    def add_batch(self, rows: Sequence[tuple[str, str, str, str, str | None]]) -> None:
        """Events as rows of (line, operation, response, state, alert)
        (queries/plan/events.sql), a few thousand at a time: the plan of a 10M
        run has 550,000. DuckDB writes the \\u escape of a control character in
        upper case: a line holding an escape is re-encoded to the canonical form."""
        if not rows:
            return
        lines = [row[0] for row in rows]
        text = "\n".join(lines)
        if "\\u" in text:  # rare: only values holding control characters
            lines = [
                canonical(orjson.loads(line)).decode("utf-8") if "\\u" in line else line
                for line in lines
            ]
            text = "\n".join(lines)
        self._write(text.encode("utf-8"), len(lines))
        counted = Counter((row[1], row[2], row[3], row[4] or None) for row in rows)
        for (operation, response, state, alert), n in counted.items():
            self.tally.count(operation, response, state, alert, n)
        alerts = self._kept_by["alerts"] < self.keep
        pending = self._kept_by["pending"] < self.keep
        decided = self._kept_by["decided"] < self.keep
        if not (alerts or pending or decided):
            return
        for line, (_, _, _, state, alert) in zip(lines, rows, strict=True):
            # the report's lists (alerts, pending, decided) that still take events
            if (alert and alerts) or (state == "pending" and pending) or (
                decided and state in ("approved", "rejected")
            ):
                kinds = self._kinds(state, alert)
                if kinds:
                    self._keep(orjson.loads(line), kinds)
                    alerts = self._kept_by["alerts"] < self.keep
                    pending = self._kept_by["pending"] < self.keep
                    decided = self._kept_by["decided"] < self.keep

    def _write(self, lines: bytes, n: int) -> None:
        """``n`` canonical lines joined by newlines: hashed each followed by a
        newline (the digest's definition), and kept in the temporary file as the
        plan file lays them out, so that :meth:`finish` copies the file whole
        rather than line by line."""
        self._hash.update(lines)
        self._hash.update(b"\n")
        if self._written:
            self._out.write(_EVENT_SEPARATOR)
        self._out.write(lines.replace(b"\n", _EVENT_SEPARATOR))
        self._written += n

    def _kinds(self, state: str, alert: str | None) -> list[str]:
        """The report's lists an event belongs to that are not full yet."""
        kinds = ["alerts"] if alert else []
        kinds += ["pending"] if state == "pending" else []
        kinds += ["decided"] if state in ("approved", "rejected") else []
        return kinds if any(self._kept_by[k] < self.keep for k in kinds) else []

    def _keep(self, event: Event, kinds: list[str]) -> None:
        self.kept.append(event)
        for k in kinds:
            self._kept_by[k] += 1

    def finish(self, header: Plan) -> Plan:
        """Write the file; return the header with its counts and digest, and as its
        ``events`` only the kept ones (the file has them all)."""
        self._out.close()
        header = {k: v for k, v in header.items() if k not in ("events", "digest")}
        header["counts"] = self.tally.as_dict()
        header["digest"] = _digest(header, self._hash.hexdigest())
        try:
            with self.path.open("wb") as out, self._temp.open("rb") as events:
                out.write(_header_text(header).encode("utf-8"))
                if self._written:
                    out.write(b'\n  "events": [\n    ')
                    # 8 MB reads: a 10M run's events in few calls
                    shutil.copyfileobj(events, out, 8 << 20)
                    out.write(b"\n  ]\n}\n")
                else:
                    out.write(b'\n  "events": []\n}\n')
                out.flush()
                os.fsync(out.fileno())
        finally:
            self._temp.unlink(missing_ok=True)
        return header | {"events": self.kept}

    def abort(self) -> None:
        self._out.close()
        self._temp.unlink(missing_ok=True)


_EVENT_SEPARATOR = b",\n    "


def _header_text(header: Plan) -> str:
    # the header ends with "\n}": the events go before the closing brace
    return json.dumps(header, indent=2, ensure_ascii=False)[:-2] + ","


def _write_event_lines(out: IO[str], lines: Iterable[str]) -> None:
    first = True
    for line in lines:
        out.write(('\n  "events": [\n    ' if first else ",\n    ") + line)
        first = False
    out.write('\n  "events": []\n}\n' if first else "\n  ]\n}\n")


def dumps(plan: Plan) -> str:
    """The plan as written: the header indented, then one event per line, each in
    its canonical form (the form the digest is taken over). One line per event
    keeps the file diffable, and the C JSON encoder does the work (indenting
    every event was far slower)."""
    header = {k: v for k, v in plan.items() if k != "events"}
    buffer = io.StringIO()
    buffer.write(_header_text(header))
    _write_event_lines(buffer, (event_line(e) for e in plan.get("events", [])))
    return buffer.getvalue()


def save_plan(plan: Plan, path: str | Path) -> None:
    """Finalise and write ``plan`` atomically (temp file, fsync, rename)."""
    finalise(plan)
    validate(plan, path)
    write_text_atomically(Path(path), dumps(plan), "the plan")


def decide(
    plan: Plan,
    ids: Iterable[str] | None,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
    source: Path | str = "plan",
) -> list[str]:
    """Mark events approved or rejected; ``ids=None`` means every event that
    needs approval. Returns the ids changed. Unknown ids, and ids of events that
    need no approval, are refused before anything changes."""
    if decision not in DECISIONS:
        raise ValueError(decision)
    if not by.strip():
        raise InputError(f"{source}: a decision needs the approver's name (--by NAME)")
    by_id = {e["id"]: e for e in plan["events"]}
    if ids is None:
        chosen = [e for e in plan["events"] if e["approval"]["required"]]
    else:
        wanted = list(dict.fromkeys(ids))
        unknown = [i for i in wanted if i not in by_id]
        if unknown:
            raise InputError(
                f"{source}: no event {', '.join(unknown)} in this plan; "
                "recondiff plan show lists the event ids"
            )
        auto = [i for i in wanted if not by_id[i]["approval"]["required"]]
        if auto:
            raise InputError(
                f"{source}: event {', '.join(auto)} needs no approval (it is 'auto'); "
                "decide only events whose approval is required"
            )
        chosen = [by_id[i] for i in wanted]
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    for event in chosen:
        event["approval"].update(state=decision, by=by, at=when, comment=comment or None)
    return [e["id"] for e in chosen]


def runnable(plan: Plan) -> list[Event]:
    """The endpoint events ``apply`` executes: approved or auto, in plan order."""
    return [
        e
        for e in plan["events"]
        if e["target"] == "endpoint" and e["approval"]["state"] in ("auto", "approved")
    ]
