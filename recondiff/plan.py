"""The action plan file: identity, digest, schema, loading, saving, decisions.

A plan is plain JSON (docs/plan.md), handled here as dicts. Every load checks
the JSON Schema shipped with the package and the digest the file carries of
its own content; every save writes a fresh digest atomically. Building a plan
from a compare run is :mod:`recondiff.planner`; executing it is
:mod:`recondiff.apply`.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from recondiff.atomic import write_text_atomically
from recondiff.errors import InputError

PLAN_FORMAT = "recondiff-plan/1"
DECISIONS = ("approved", "rejected")

Plan = dict[str, Any]
Event = dict[str, Any]


def canonical(value: Any) -> bytes:
    """The canonical JSON the digests are taken over: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def digest_of(plan: Plan) -> str:
    """``sha256:`` + the SHA-256 of the plan's canonical JSON without its ``digest``.

    Hashed piece by piece (the same bytes as ``canonical(body)``), so a plan of
    half a million events is never one string in memory."""
    body = {k: v for k, v in plan.items() if k != "digest"}
    hasher = hashlib.sha256()
    for chunk in _canonical_chunks(body):
        hasher.update(chunk)
    return "sha256:" + hasher.hexdigest()


def _canonical_chunks(body: dict[str, Any]) -> Iterator[bytes]:
    """``canonical(body)`` in pieces: its top-level lists one element at a time."""
    yield b"{"
    for i, key in enumerate(sorted(body)):
        yield (("," if i else "") + json.dumps(key, ensure_ascii=False) + ":").encode("utf-8")
        value = body[key]
        if isinstance(value, list):
            yield b"["
            for j, item in enumerate(value):
                yield (b"," if j else b"") + canonical(item)
            yield b"]"
        else:
            yield canonical(value)
    yield b"}"


def event_id(target: str, operation: str, obj: dict[str, Any], changes: list[Any]) -> str:
    """Stable id: the same target, operation, object and changes give the same id.

    The seed is the fields joined with ASCII separators (RS between fields, US
    inside one), not their JSON: a third of the plan's time at 1M events went
    into encoding JSON just to hash it."""
    member = obj.get("member_of") or {}
    fields = [target, operation, obj.get("key"), obj.get("dn"), obj.get("identity_key"),
              member.get("key"), member.get("dn")]
    parts = ["" if f is None else str(f) for f in fields]
    parts.extend(
        "\x1f".join([c["op"], c["attribute"], *c["values"]]) for c in changes
    )
    return "ev-" + hashlib.sha256("\x1e".join(parts).encode("utf-8")).hexdigest()[:16]


def plan_id(config_sha256: str, endpoint_sha256: str, repository_sha256: str) -> str:
    seed = f"{config_sha256}\n{endpoint_sha256}\n{repository_sha256}".encode()
    return "pl-" + hashlib.sha256(seed).hexdigest()[:16]


@cache
def schema() -> dict[str, Any]:
    text = resources.files("recondiff").joinpath("schemas/plan.schema.json").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def counts(events: Sequence[Event]) -> dict[str, Any]:
    """The header's tallies, always derived from the events (never edited by hand)."""
    return {
        "events": len(events),
        "by_operation": dict(sorted(Counter(e["operation"] for e in events).items())),
        "by_response": dict(sorted(Counter(e["response"] for e in events).items())),
        "by_approval": dict(sorted(Counter(e["approval"]["state"] for e in events).items())),
        "alerts": sum(1 for e in events if e["alert"]),
    }


def validate(plan: Any, source: Path | str) -> Plan:
    """Check ``plan`` against the schema, its digest and its own consistency."""
    validator = jsonschema.Draft202012Validator(schema())
    error = jsonschema.exceptions.best_match(validator.iter_errors(plan))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        raise InputError(
            f"{source}: not a valid recondiff plan at {where}: {error.message}; "
            "re-run recondiff compare to write a fresh plan"
        )
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
        data = json.loads(text)
    except json.JSONDecodeError as exc:
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


def write_plan_file(plan: Plan, path: Path) -> None:
    """Write the plan (as :func:`dumps` spells it) piece by piece, then fsync."""
    with path.open("w", encoding="utf-8") as out:
        for chunk in _dump_chunks(plan):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def dumps(plan: Plan) -> str:
    return "".join(_dump_chunks(plan))


def _dump_chunks(plan: Plan) -> Iterator[str]:
    """The plan as written: the header indented, then one event per line.

    One line per event keeps the file readable and diffable, and lets the C
    JSON encoder do the work: indenting every event (the pure-Python encoder)
    took 32 s for the 55,000 events of the 1M benchmark, this takes about 1 s.
    """
    header = {k: v for k, v in plan.items() if k != "events"}
    # the header ends with "\n}": the events go before the closing brace
    yield json.dumps(header, indent=2, ensure_ascii=False)[:-2] + ","
    events = plan.get("events", [])
    if not events:
        yield '\n  "events": []\n}\n'
        return
    yield '\n  "events": [\n'
    for i, event in enumerate(events):
        line = json.dumps(event, ensure_ascii=False, separators=(", ", ": "))
        yield ("    " if i == 0 else ",\n    ") + line
    yield "\n  ]\n}\n"


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
