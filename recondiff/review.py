"""Reviewing an action plan: summary, decisions, the decisions sheet, the repository feed.

The library behind ``recondiff plan …`` (docs/plan.md, "Commands"); the CLI
(:mod:`recondiff.cli.plan`) only parses and calls these. Plans are loaded and
saved only through :mod:`recondiff.plan.file` (schema and digest checked on every
load, a fresh digest written atomically on every save).

Every mistake raises :class:`~recondiff.errors.InputError` with one line that
names the file, the row and column (spreadsheet numbering: the header is row
1) or the event, and says what to do.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recondiff.errors import InputError, printable
from recondiff.io import csvsafe
from recondiff.io.atomic import write_text_atomically
from recondiff.plan import file as plan_mod
from recondiff.plan.file import Event, Plan

__all__ = [
    "DECISION_COLUMNS",
    "FEED_COLUMNS",
    "FEED_CSV",
    "FEED_JSONL",
    "Decision",
    "FeedResult",
    "ImportResult",
    "decide_events",
    "decide_file",
    "decision_rows",
    "describe",
    "export_decisions",
    "feed_rows",
    "import_decisions",
    "parse_decision",
    "read_decisions",
    "reason_line",
    "summarise",
    "summary_lines",
    "write_feed",
]

DECISION_COLUMNS = (
    "plan_id",
    "plan_digest",
    "event_id",
    "target",
    "operation",
    "response",
    "endpoint_key",
    "dn",
    "identity_key",
    "alert",
    "summary",
    "state",
    "decision",
    "by",
    "comment",
)
"""The decisions sheet's columns, in this order (``export-decisions``)."""

REQUIRED_DECISION_COLUMNS = ("plan_digest", "event_id", "decision")
"""Columns ``import-decisions`` cannot do without; ``by`` and ``comment`` may be absent."""

FEED_COLUMNS = (
    "event_id",
    "operation",
    "response",
    "identity_key",
    "endpoint_key",
    "attribute",
    "op",
    "values",
    "approval",
    "situation",
)
"""The repository feed's fields, in this order (``plan feed``)."""

FEED_CSV = "repository_changes.csv"
FEED_JSONL = "repository_changes.jsonl"

_DECISION_WORDS = {
    "approved": "approved",
    "approve": "approved",
    "rejected": "rejected",
    "reject": "rejected",
}


# ---------------------------------------------------------------- describing


def _quote(value: str | None) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def _short(digest: str) -> str:
    """``sha256:`` and the first 12 hex digits (or the first 12 of a bare hex digest)."""
    if digest.startswith("sha256:"):
        return digest[:19]
    return "sha256:" + digest[:12]


def describe(event: Event) -> str:
    """One line saying what ``event`` changes.

    For example ``modify jdoe: delete title "Engineer"; add title "Senior Engineer"``.

    Values are JSON-quoted (a DN's commas stay unambiguous); an empty value
    list (remove the whole attribute) shows the attribute alone.
    """
    obj = event["object"]
    if event["target"] == "repository":
        if obj["identity_key"]:
            subject = f"identity {obj['identity_key']}"
        else:
            subject = f"new identity from account {obj['key']}"
    elif "member_of" in obj:
        subject = f"group {obj['dn'] or obj['key']} (member {obj['member_of']['key']})"
    else:
        subject = obj["key"] or obj["dn"] or obj["identity_key"] or "(no key)"
    parts = []
    for change in event["changes"]:
        values = " ".join(_quote(v) for v in change["values"])
        parts.append(f"{change['op']} {change['attribute']}" + (f" {values}" if values else ""))
    text = f"{event['operation']} {subject}"
    if parts:
        text += ": " + "; ".join(parts)
    return printable(text)


def _drift_text(drift: Sequence[dict[str, Any]]) -> str:
    return "; ".join(
        f"{d['attribute']} {d['kind']}: endpoint {_quote(d.get('endpoint_value'))}, "
        f"repository {_quote(d.get('repository_value'))}"
        for d in drift
    )


def reason_line(event: Event) -> str:
    """One line saying why the event exists: situation, rule, response, drift."""
    reason = event["reason"]
    text = reason["situation"]
    if reason.get("rule"):
        text += f" via {reason['rule']}"
    text += f", {event['response']}"
    drift = reason.get("drift") or []
    if drift:
        text += ": " + _drift_text(drift)
    return printable(text)


def _alert_what(event: Event) -> str:
    """The attribute and values an alert is about: its drift, else its changes."""
    drift = event["reason"].get("drift") or []
    if drift:
        return printable(_drift_text(drift))
    return describe(event)


def _tally(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def summarise(plan: Plan) -> dict[str, Any]:
    """The machine-readable summary ``plan show --json`` prints.

    Keys: ``plan_id``, ``digest``, ``created_at``, ``recondiff_version``,
    ``config``, ``inputs``, ``endpoint``, ``counts`` (derived from the events),
    ``alerts`` (every event with an alert), ``attention`` (as in the plan) and
    ``pending`` (events awaiting a decision), events in plan order.
    """
    events = plan["events"]

    def brief(event: Event) -> dict[str, Any]:
        obj = event["object"]
        return {
            "id": event["id"],
            "target": event["target"],
            "operation": event["operation"],
            "response": event["response"],
            # a membership event is about the member account, on the group's DN
            "endpoint_key": obj["key"] or (obj.get("member_of") or {}).get("key"),
            "dn": obj["dn"],
            "identity_key": obj["identity_key"],
            "state": event["approval"]["state"],
            "alert": event["alert"],
            "drift": event["reason"].get("drift") or [],
            "reason": reason_line(event),
            "summary": describe(event),
        }

    return {
        "plan_id": plan["plan_id"],
        "digest": plan["digest"],
        "created_at": plan["created_at"],
        "recondiff_version": plan["recondiff_version"],
        "config": plan["config"],
        "inputs": plan["inputs"],
        "endpoint": plan["endpoint"],
        "counts": plan_mod.counts(events),
        "alerts": [brief(e) for e in events if e["alert"]],
        "attention": plan["attention"],
        "pending": [brief(e) for e in events if e["approval"]["state"] == "pending"],
    }


def summary_lines(plan: Plan) -> list[str]:
    """The readable summary ``plan show`` prints: header, counts, alerts, attention, pending."""
    info = summarise(plan)
    counts = info["counts"]
    lines = [
        f"plan        {info['plan_id']}",
        f"created     {info['created_at']}",
        f"recondiff   {info['recondiff_version']}",
        f"digest      {_short(info['digest'])}",
        f"config      {printable(info['config']['path'])}  {_short(info['config']['sha256'])}",
    ]
    for side in ("endpoint", "repository"):
        source = info["inputs"][side]
        lines.append(
            f"{side:<11} {printable(source['path'])}  {source['rows']} rows  "
            f"captured {printable(source['captured_at'])}  {_short(source['sha256'])}"
        )
    lines.append(f"identity    {_identity_note(plan)}")
    lines += [
        f"events      {counts['events']}",
        f"operation   {_tally(counts['by_operation'])}",
        f"response    {_tally(counts['by_response'])}",
        f"approval    {_tally(counts['by_approval'])}",
        "",
        f"alerts ({len(info['alerts'])})",
    ]
    by_id = {e["id"]: e for e in plan["events"]}
    for event in info["alerts"]:
        lines.append(
            f"  {event['id']}  {_subject(event)}  {printable(event['alert'])} -- "
            f"{_alert_what(by_id[event['id']])}"
        )
    lines += ["", f"attention ({len(info['attention'])})"]
    for item in info["attention"]:
        line = f"  {item['situation']}  {printable(item['endpoint_key'] or '-')}"
        if item.get("endpoint_dn"):
            line += f"  {printable(item['endpoint_dn'])}"
        if item.get("identity_key"):
            line += f"  identity {printable(item['identity_key'])}"
        if item.get("rule"):
            line += f"  rule {printable(item['rule'])}"
        if item.get("candidates"):
            line += f"  candidates {printable(', '.join(item['candidates']))}"
        lines.append(line)
    lines += ["", f"pending ({len(info['pending'])})"]
    for event in info["pending"]:
        operation = event["operation"]
        if event["target"] == "repository":
            operation = f"repository {operation}"
        line = f"  {event['id']}  {operation}  {_subject(event)}"
        if event["dn"]:
            line += f"  {printable(event['dn'])}"
        lines.append(f"{line}  {event['reason']}")
    return lines


def _identity_note(plan: Plan) -> str:
    """Whether apply can tell a replaced entry (same DN, another object) from the planned one."""
    attribute = plan["endpoint"].get("uuid_attribute")
    if attribute:
        return f"{printable(attribute)} asserted on every event of an existing entry"
    return (
        "none: the endpoint export has no entryUUID or objectGUID column, so apply cannot "
        "tell an entry deleted and re-created under the same DN from the one planned; "
        "export it (ldapsearch ... '*' entryUUID, or objectGUID on AD)"
    )


def _subject(event: dict[str, Any]) -> str:
    """Who an event is about: the account key, or for a repository event the identity."""
    if event["target"] == "repository":
        if event["identity_key"]:
            return printable(f"identity {event['identity_key']}")
        return printable(f"account {event['endpoint_key']}")
    return printable(event["endpoint_key"] or event["identity_key"] or "-")


# ---------------------------------------------------------------- deciding


def decide_events(
    plan: Plan,
    ids: Iterable[str] | None,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
    source: Path | str = "plan",
) -> list[str]:
    """Approve or reject the events ``ids``, or (``ids=None``) every *pending* event.

    Unlike :func:`recondiff.plan.file.decide` with ``ids=None``, events already
    approved or rejected keep their decision: ``--all`` never overturns one.
    Returns the ids decided; refuses unknown ids and auto events (nothing changes).
    """
    if ids is None:
        ids = [e["id"] for e in plan["events"] if e["approval"]["state"] == "pending"]
    ids = list(ids)
    if not ids:
        if not by.strip():
            raise InputError(f"{source}: a decision needs the approver's name (--by NAME)")
        return []
    return plan_mod.decide(plan, ids, decision, by, comment, at, source)


def decide_file(
    path: Path | str,
    ids: Iterable[str] | None,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
) -> list[str]:
    """Load the plan at ``path``, :func:`decide_events`, save it (atomically, new digest).

    The file is rewritten only when something was decided.
    """
    plan = plan_mod.load_plan(path)
    decided = decide_events(plan, ids, decision, by, comment, at, path)
    if decided:
        plan_mod.save_plan(plan, path)
    return decided


# ---------------------------------------------------------------- the decisions sheet


def decision_rows(plan: Plan) -> list[list[str | None]]:
    """The decisions sheet's rows (:data:`DECISION_COLUMNS`): one per event that needs approval.

    ``decision``, ``by`` and ``comment`` carry the current decision when there is one.
    """
    rows: list[list[str | None]] = []
    for event in plan["events"]:
        approval = event["approval"]
        if not approval["required"]:
            continue
        decided = approval["state"] in plan_mod.DECISIONS
        obj = event["object"]
        rows.append(
            [
                plan["plan_id"],
                plan["digest"],
                event["id"],
                event["target"],
                event["operation"],
                event["response"],
                obj["key"],
                obj["dn"],
                obj["identity_key"],
                event["alert"],
                describe(event),
                approval["state"],
                approval["state"] if decided else None,
                approval["by"] if decided else None,
                approval["comment"] if decided else None,
            ]
        )
    return rows


def export_decisions(plan_path: Path | str, out: Path | str, *, bom: bool = False) -> int:
    """Write the decisions sheet of the plan at ``plan_path`` to ``out`` (atomically).

    Every cell is neutralised (:mod:`recondiff.io.csvsafe`); ``bom`` starts the
    file with a UTF-8 byte-order mark for Excel. Returns the number of rows.
    """
    plan = plan_mod.load_plan(plan_path)
    rows = decision_rows(plan)
    csvsafe.write_csv(Path(out), DECISION_COLUMNS, rows, bom=bom, what="the decisions sheet")
    return len(rows)


def parse_decision(text: str) -> str | None:
    """``approved``/``rejected`` (also ``approve``/``reject``, any case), ``None`` when blank.

    Raises ``ValueError`` for anything else.
    """
    word = text.strip().lower()
    if not word:
        return None
    if word not in _DECISION_WORDS:
        raise ValueError(text)
    return _DECISION_WORDS[word]


@dataclass(frozen=True)
class Decision:
    """One decided row of a decisions sheet, checked against the plan."""

    row: int
    event_id: str
    decision: str
    by: str
    comment: str | None


@dataclass(frozen=True)
class ImportResult:
    """What ``import-decisions`` did: ``decided`` (id, decision) in plan order; rows
    whose decision was already in the plan (``unchanged``) or left blank (``blank``)."""

    decided: list[tuple[str, str]]
    unchanged: int
    blank: int


def read_decisions(
    plan: Plan,
    csv_path: Path | str,
    by: str | None = None,
    source: Path | str = "plan",
) -> tuple[list[Decision], int]:
    """Read and check a decisions sheet against ``plan``; change nothing.

    Returns the decided rows and the number of rows left blank. Refuses, with
    the file, row and column: missing columns, a sheet exported from another
    plan or from an earlier state of this one (digest), unknown or repeated
    event ids, a decision that is not approved/rejected/blank, a decision with
    no approver (``by`` column, else ``by``), a decision on an auto event.
    """
    table = csvsafe.read_csv(Path(csv_path), what="decisions sheet")
    where = table.path
    names = {name.lower(): name for name in table.header}
    missing = [c for c in REQUIRED_DECISION_COLUMNS if c not in names]
    if missing:
        raise InputError(
            f"{where}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)}; "
            "export a fresh sheet with recondiff plan export-decisions"
        )

    def cell(row: dict[str, str], column: str) -> str:
        name = names.get(column)
        return row[name].strip() if name is not None else ""

    # The plan's identity first: an old sheet's other faults are beside the point.
    digest = plan["digest"]
    for number, row in table.rows:
        sheet_plan = cell(row, "plan_id")
        if sheet_plan and sheet_plan != plan["plan_id"]:
            raise InputError(
                f"{where}: row {number}, column plan_id: the sheet is for plan {sheet_plan}, "
                f"not {plan['plan_id']} ({source}); export the decisions of this plan"
            )
        sheet_digest = cell(row, "plan_digest")
        if sheet_digest != digest:
            was = _short(sheet_digest) if sheet_digest else "nothing"
            raise InputError(
                f"{where}: row {number}, column plan_digest: the plan changed since the export "
                f"(the sheet has {was}, {source} is now {_short(digest)}); export the "
                "decisions again with recondiff plan export-decisions and carry them over"
            )

    events = {e["id"]: e for e in plan["events"]}
    seen: dict[str, int] = {}
    decisions: list[Decision] = []
    blank = 0
    for number, row in table.rows:
        event_id = cell(row, "event_id")
        try:
            decision = parse_decision(cell(row, "decision"))
        except ValueError:
            raise InputError(
                f"{where}: row {number}, column decision: {cell(row, 'decision')!r} is not a "
                "decision; write approved or rejected, or leave it blank"
            ) from None
        if not event_id:
            raise InputError(
                f"{where}: row {number}, column event_id: blank; every row needs the id "
                "of its event (ev-…) as exported"
            )
        if event_id not in events:
            raise InputError(
                f"{where}: row {number}, column event_id: no event {event_id} in {source}; "
                "export a fresh sheet with recondiff plan export-decisions"
            )
        if event_id in seen:
            raise InputError(
                f"{where}: row {number}, column event_id: event {event_id} is also on row "
                f"{seen[event_id]}; keep one row per event"
            )
        seen[event_id] = number
        if decision is None:
            blank += 1
            continue
        if not events[event_id]["approval"]["required"]:
            raise InputError(
                f"{where}: row {number}, column decision: event {event_id} needs no approval "
                "(it is 'auto'); clear the decision or remove the row"
            )
        approver = cell(row, "by") or (by or "").strip()
        if not approver:
            raise InputError(
                f"{where}: row {number}, column by: a decision needs the approver's name; "
                "fill the by column or pass --by NAME"
            )
        comment = cell(row, "comment") or None
        decisions.append(Decision(number, event_id, decision, approver, comment))
    return decisions, blank


def import_decisions(
    plan_path: Path | str,
    csv_path: Path | str,
    by: str | None = None,
    at: datetime | None = None,
) -> ImportResult:
    """Apply a decisions sheet to the plan at ``plan_path`` in one atomic save.

    Everything is checked first (:func:`read_decisions`); on any fault the plan
    is left as it was. A row whose decision, approver and comment are already
    the event's is left alone (its time stays); the file is rewritten only when
    something changed.
    """
    plan = plan_mod.load_plan(plan_path)
    decisions, blank = read_decisions(plan, csv_path, by, plan_path)
    events = {e["id"]: e for e in plan["events"]}
    when = at or datetime.now(UTC)
    decided: list[tuple[str, str]] = []
    unchanged = 0
    for d in decisions:
        approval = events[d.event_id]["approval"]
        if (approval["state"], approval["by"], approval["comment"]) == (
            d.decision,
            d.by,
            d.comment,
        ):
            unchanged += 1
            continue
        plan_mod.decide(plan, [d.event_id], d.decision, d.by, d.comment, when, plan_path)
        decided.append((d.event_id, d.decision))
    if decided:
        plan_mod.save_plan(plan, plan_path)
    order = {e["id"]: i for i, e in enumerate(plan["events"])}
    decided.sort(key=lambda item: order[item[0]])
    return ImportResult(decided, unchanged, blank)


# ---------------------------------------------------------------- the repository feed


def feed_rows(plan: Plan) -> tuple[list[dict[str, Any]], int]:
    """The repository changes to hand to the identity system, and how many events were left out.

    One row (:data:`FEED_COLUMNS`) per change of every repository event that is
    ``auto`` or ``approved``, in plan order; an event with no changes gives one
    row with empty ``attribute``/``op`` and no values. Pending and rejected
    repository events are left out (the count returned).
    """
    rows: list[dict[str, Any]] = []
    left_out = 0
    for event in plan["events"]:
        if event["target"] != "repository":
            continue
        state = event["approval"]["state"]
        if state not in ("auto", "approved"):
            left_out += 1
            continue
        obj = event["object"]
        base = {
            "event_id": event["id"],
            "operation": event["operation"],
            "response": event["response"],
            "identity_key": obj["identity_key"],
            "endpoint_key": obj["key"],
        }
        tail = {"approval": state, "situation": event["reason"]["situation"]}
        changes = event["changes"] or [{"attribute": None, "op": None, "values": []}]
        for change in changes:
            rows.append(
                base
                | {"attribute": change["attribute"], "op": change["op"]}
                | {"values": list(change["values"])}
                | tail
            )
    return rows, left_out


@dataclass(frozen=True)
class FeedResult:
    """What ``plan feed`` wrote: the two files, their rows, the events in them and
    the pending/rejected repository events left out."""

    csv_path: Path
    jsonl_path: Path
    rows: int
    events: int
    left_out: int


def write_feed(plan_path: Path | str, outdir: Path | str, *, bom: bool = False) -> FeedResult:
    """Write ``repository_changes.csv`` and ``.jsonl`` for the plan at ``plan_path``.

    Both hold the same rows (:func:`feed_rows`); in the CSV, ``values`` is a
    JSON array (values may hold any separator) and every cell is neutralised;
    ``bom`` starts the CSV with a UTF-8 byte-order mark for Excel. Each file
    is written atomically.
    """
    plan = plan_mod.load_plan(plan_path)
    rows, left_out = feed_rows(plan)
    directory = Path(outdir)
    csv_path = directory / FEED_CSV
    jsonl_path = directory / FEED_JSONL
    csv_rows = [
        [json.dumps(row[c], ensure_ascii=False) if c == "values" else row[c] for c in FEED_COLUMNS]
        for row in rows
    ]
    csvsafe.write_csv(csv_path, FEED_COLUMNS, csv_rows, bom=bom, what="the repository feed")
    jsonl = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_text_atomically(jsonl_path, jsonl, "the repository feed")
    events = len({row["event_id"] for row in rows})
    return FeedResult(csv_path, jsonl_path, len(rows), events, left_out)
