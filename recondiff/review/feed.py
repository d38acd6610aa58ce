"""The repository feed: a plan's repository changes that are auto or
approved, for the identity system to import (``plan feed``, docs/plan.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recondiff.config.load import Config
from recondiff.io import csvsafe
from recondiff.io.atomic import write_text_atomically
from recondiff.io.signing import Trust
from recondiff.plan.checks import check_feed_safety
from recondiff.plan.choices import assigned_link, is_owner_event
from recondiff.plan.file import Event, Plan
from recondiff.plan.trust import load_verified

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
    "expected_values",
)
"""The repository feed's fields, in this order (``plan feed``). ``expected_values``:
the values the event's preconditions expect the attribute to hold before the
change (``[]``: empty), ``None`` (an empty CSV cell) when they say nothing of it."""

FEED_CSV = "repository_changes.csv"
FEED_JSONL = "repository_changes.jsonl"


def feed_rows(plan: Plan) -> tuple[list[dict[str, Any]], int]:
    """The repository changes to hand to the identity system, and how many events were left out.

    One row (:data:`FEED_COLUMNS`) per change of every repository event that is
    ``auto`` or ``approved``, in plan order; an event with no changes gives one
    row with empty ``attribute``/``op`` and no values. ``expected_values`` are the
    values the event's preconditions expect for the change's attribute (the
    identity system checks them before a ``replace``: a value added since the
    snapshot is not wiped blindly), ``None`` when they name none. Pending and rejected
    repository events are left out (the count returned). An owner decision
    (docs/plan.md, Owners) is in once a reviewer assigned its owner: the link of
    the chosen identity to the account, approval ``assigned``.
    """
    rows: list[dict[str, Any]] = []
    left_out = 0
    for planned in plan["events"]:
        if planned["target"] != "repository":
            continue
        event, state = _feed_event(planned)
        if state not in ("auto", "approved", "assigned"):
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
                | {"expected_values": _expected(event, change["attribute"])}
            )
    return rows, left_out


def _expected(event: Event, attribute: str | None) -> list[str] | None:
    """The values ``event``'s preconditions expect ``attribute`` to hold (attribute
    names compared case-insensitively), or None."""
    if attribute is None:
        return None
    wanted = attribute.lower()
    for precondition in event.get("preconditions") or ():
        if str(precondition["attribute"]).lower() == wanted:
            return [str(v) for v in precondition["values"]]
    return None


def _feed_event(event: Event) -> tuple[Event, str]:
    """The event as the feed writes it, and its approval: an owner decision whose
    owner was assigned (the ledger's ``identity``) links that identity."""
    approval = event["approval"]
    if not is_owner_event(event):
        return event, str(approval["state"])
    identity = approval.get("identity")
    if not identity or approval["state"] == "rejected":
        return event, "pending" if approval["state"] != "rejected" else "rejected"
    return assigned_link(event, str(identity)), "assigned"


def _cell(column: str, value: Any) -> Any:
    """A CSV cell: the lists as JSON arrays (values may hold any separator); no
    expected values, an empty cell (``[]`` is an attribute expected empty)."""
    if column in ("values", "expected_values") and value is not None:
        return json.dumps(value, ensure_ascii=False)
    return value


@dataclass(frozen=True)
class FeedResult:
    """What ``plan feed`` wrote: the two files, their rows, the events in them and
    the pending/rejected repository events left out."""

    csv_path: Path
    jsonl_path: Path
    rows: int
    events: int
    left_out: int


def write_feed(
    plan_path: Path | str,
    outdir: Path | str,
    *,
    bom: bool = False,
    trust: Trust | None = None,
    allow_unsigned: bool = False,
    decisions_head: str | None = None,
    allow_modifies: int | None = None,
    config: Config | None = None,
) -> FeedResult:
    """Write ``repository_changes.csv`` and ``.jsonl`` for the plan at ``plan_path``.

    Both hold the same rows (:func:`feed_rows`); in the CSV, ``values`` is a
    JSON array (values may hold any separator) and every cell is neutralised;
    ``bom`` starts the CSV with a UTF-8 byte-order mark for Excel. Each file
    is written atomically. The identity system acts on the feed as apply acts
    on the directory: the plan and its decisions are checked against ``trust``
    first (:func:`recondiff.plan.trust.verify`), unless ``allow_unsigned``.
    More events than the modifies' limits allow of the repository's rows are
    refused before anything is written, unless ``allow_modifies`` accepts as many
    (:func:`recondiff.plan.checks.check_feed_safety`; ``config``'s ``[plan]``
    limits count when stricter).
    """
    plan, _ = load_verified(
        plan_path, trust or Trust(), allow_unsigned=allow_unsigned, expect_head=decisions_head
    )
    rows, left_out = feed_rows(plan)
    events = len({row["event_id"] for row in rows})
    check_feed_safety(plan, events, allow_modifies, plan_path, config)
    directory = Path(outdir)
    csv_path = directory / FEED_CSV
    jsonl_path = directory / FEED_JSONL
    csv_rows = [[_cell(c, row[c]) for c in FEED_COLUMNS] for row in rows]
    csvsafe.write_csv(csv_path, FEED_COLUMNS, csv_rows, bom=bom, what="the repository feed")
    jsonl = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_text_atomically(jsonl_path, jsonl, "the repository feed")
    return FeedResult(csv_path, jsonl_path, len(rows), events, left_out)
