"""The decisions sheet: a plan's events that need approval exported for a
change board's spreadsheet, and its decisions imported back
(``plan export-decisions`` / ``plan import-decisions``, docs/plan.md).

Every mistake in a sheet raises :class:`~recondiff.errors.InputError` with one
line that names the file, the row and column (spreadsheet numbering: the
header is row 1) and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from recondiff.errors import InputError
from recondiff.io import csvsafe
from recondiff.plan import file as plan_mod
from recondiff.plan import ledger
from recondiff.plan.choices import OwnerChoice, is_owner_event, owner_choice
from recondiff.plan.file import Event, Plan
from recondiff.review.summary import describe, short_digest

DECISION_COLUMNS = (
    "plan_id",
    "plan_digest",
    "decisions_head",
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
    "owner_candidates",
    "owner",
)
"""The decisions sheet's columns, in this order (``export-decisions``). ``owner``
is the identity chosen for an owner decision (docs/plan.md, Owners), among
``owner_candidates`` (:func:`candidates_cell`)."""

REQUIRED_DECISION_COLUMNS = ("plan_digest", "decisions_head", "event_id", "decision")
"""Columns ``import-decisions`` cannot do without; ``by`` and ``comment`` may be absent."""

_DECISION_WORDS = {
    "approved": "approved",
    "approve": "approved",
    "rejected": "rejected",
    "reject": "rejected",
}


def decision_rows(plan: Plan, head: str | None = None) -> list[list[str | None]]:
    """The decisions sheet's rows (:data:`DECISION_COLUMNS`): one per event that needs approval.

    ``decision``, ``by`` and ``comment`` carry the current decision when there is one;
    ``head`` is the plan's ledger head (:func:`recondiff.plan.ledger.head`).
    """
    head = head or plan["digest"]
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
                head,
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
                candidates_cell(event),
                approval.get("identity"),
            ]
        )
    return rows


def candidates_cell(event: Event) -> str | None:
    """An owner decision's candidates for the sheet, best first: ``2 (score 7:
    by-mail; 3 agree) | 3 (score 5: by-mail; 1 agree) | default svc-owner``."""
    if not is_owner_event(event):
        return None
    owner = event["owner"]
    shown = [
        f"{c['identity_key']} (score {c['score']}: {', '.join(c['rules']) or 'no rule'}; "
        f"{c['agreeing']} agree)"
        for c in owner["candidates"]
    ]
    if owner.get("default_identity"):
        shown.append(f"default {owner['default_identity']}")
    return " | ".join(shown) or "(none)"


@dataclass(frozen=True)
class OwnerDecision:
    """An ``owner`` cell of a decisions sheet: the checked choice, who made it."""

    row: int
    choice: OwnerChoice
    by: str
    comment: str | None


def read_owners(
    plan: Plan,
    csv_path: Path | str,
    by: str | None = None,
    source: Path | str = "plan",
) -> list[OwnerDecision]:
    """The owners a decisions sheet chooses (its ``owner`` cells), each checked
    against its event (:func:`recondiff.plan.choices.owner_choice`: a candidate
    or the default identity); change nothing. A sheet without the column
    chooses none. Refuses, with the row and column: an owner on an event that
    is no owner decision, an identity it does not offer, a row that also
    rejects the event, a choice without approver. :func:`import_decisions`
    appends one ``assigned`` ledger line per result."""
    sheet = _Sheet(csvsafe.read_csv(Path(csv_path), what="decisions sheet"))
    if "owner" not in sheet.names:
        return []
    head = _head(source, plan) if isinstance(source, Path) else plan["digest"]
    for number, row in sheet.rows:
        sheet.check_plan(number, row, plan, head, source)
    events = {e["id"]: e for e in plan["events"]}
    owners: list[OwnerDecision] = []
    for number, row in sheet.rows:
        identity = sheet.cell(row, "owner")
        event = events.get(sheet.cell(row, "event_id"))
        if not identity or event is None:
            continue  # blank, or an unknown id (read_decisions says so)
        if identity == (event["approval"].get("identity") or ""):
            continue  # as exported: already the event's owner
        where = f"{sheet.where}: row {number}, column owner"
        if sheet.cell(row, "decision").lower() in ("rejected", "reject"):
            raise InputError(f"{where}: the row also rejects event {event['id']}; keep one")
        try:
            choice = owner_choice(event, identity)
        except InputError as exc:
            raise InputError(f"{where}: {exc}") from None
        approver = sheet.cell(row, "by") or (by or "").strip()
        if not approver:
            raise InputError(
                f"{where}: choosing an owner needs the approver's name; fill the by column "
                "or pass --by NAME"
            )
        if not approver.isprintable():  # the ledger refuses it: refuse the sheet before any line
            raise InputError(
                f"{sheet.where}: row {number}, column by: the approver's name must be one line "
                "without control characters"
            )
        owners.append(OwnerDecision(number, choice, approver, sheet.cell(row, "comment") or None))
    return owners


def export_decisions(plan_path: Path | str, out: Path | str, *, bom: bool = False) -> int:
    """Write the decisions sheet of the plan at ``plan_path`` to ``out`` (atomically).

    Every cell is neutralised (:mod:`recondiff.io.csvsafe`); ``bom`` starts the
    file with a UTF-8 byte-order mark for Excel. Returns the number of rows.
    """
    plan = plan_mod.load_plan(plan_path)
    rows = decision_rows(plan, _head(plan_path, plan))
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
    sheet = _Sheet(csvsafe.read_csv(Path(csv_path), what="decisions sheet"))
    # The plan's identity first: an old sheet's other faults are beside the point.
    head = _head(source, plan) if isinstance(source, Path) else plan["digest"]
    for number, row in sheet.rows:
        sheet.check_plan(number, row, plan, head, source)
    events = {e["id"]: e for e in plan["events"]}
    seen: dict[str, int] = {}
    decisions: list[Decision] = []
    blank = 0
    for number, row in sheet.rows:
        decision = sheet.decision(number, row, events, seen, by, source)
        if decision is None:
            blank += 1
        else:
            decisions.append(decision)
    return decisions, blank


class _Sheet:
    """A decisions sheet read back, its columns found in any case."""

    def __init__(self, table: csvsafe.CsvTable) -> None:
        self.where = table.path
        self.rows = table.rows
        self.names = {name.lower(): name for name in table.header}
        missing = [c for c in REQUIRED_DECISION_COLUMNS if c not in self.names]
        if missing:
            raise InputError(
                f"{self.where}: missing column{'s' if len(missing) > 1 else ''} "
                f"{', '.join(missing)}; export a fresh sheet with recondiff plan export-decisions"
            )

    def cell(self, row: dict[str, str], column: str) -> str:
        """The trimmed cell of ``column``; "" when the sheet has no such column."""
        name = self.names.get(column)
        return row[name].strip() if name is not None else ""

    def check_plan(
        self, number: int, row: dict[str, str], plan: Plan, head: str, source: Path | str
    ) -> None:
        """Refuse a row exported from another plan, or before the plan's last decision."""
        sheet_plan = self.cell(row, "plan_id")
        if sheet_plan and sheet_plan != plan["plan_id"]:
            raise InputError(
                f"{self.where}: row {number}, column plan_id: the sheet is for plan {sheet_plan}, "
                f"not {plan['plan_id']} ({source}); export the decisions of this plan"
            )
        sheet_digest = self.cell(row, "plan_digest")
        digest = plan["digest"]
        if sheet_digest != digest:
            was = short_digest(sheet_digest) if sheet_digest else "nothing"
            raise InputError(
                f"{self.where}: row {number}, column plan_digest: the sheet is for another "
                f"plan (the sheet has {was}, {source} is {short_digest(digest)}); export "
                "the decisions of this plan with recondiff plan export-decisions"
            )
        sheet_head = self.cell(row, "decisions_head")
        if sheet_head != head:
            was = short_digest(sheet_head) if sheet_head else "nothing"
            raise InputError(
                f"{self.where}: row {number}, column decisions_head: decisions were made "
                f"since the export (the sheet has {was}, the ledger is now at "
                f"{short_digest(head)}); export the decisions again with recondiff plan "
                "export-decisions and carry them over"
            )

    def decision(
        self,
        number: int,
        row: dict[str, str],
        events: dict[str, Event],
        seen: dict[str, int],
        by: str | None,
        source: Path | str,
    ) -> Decision | None:
        """Row ``number``'s decision, checked (None: left blank); ``seen`` records
        the row of each event id met so far."""
        where = self.where
        event_id = self.cell(row, "event_id")
        try:
            decision = parse_decision(self.cell(row, "decision"))
        except ValueError:
            raise InputError(
                f"{where}: row {number}, column decision: {self.cell(row, 'decision')!r} is not "
                "a decision; write approved or rejected, or leave it blank"
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
            return None
        if not events[event_id]["approval"]["required"]:
            raise InputError(
                f"{where}: row {number}, column decision: event {event_id} needs no approval "
                "(it is 'auto'); clear the decision or remove the row"
            )
        approver = self.cell(row, "by") or (by or "").strip()
        if not approver:
            raise InputError(
                f"{where}: row {number}, column by: a decision needs the approver's name; "
                "fill the by column or pass --by NAME"
            )
        if not approver.isprintable():  # the ledger refuses it: refuse the sheet before any line
            raise InputError(
                f"{where}: row {number}, column by: the approver's name must be one line "
                "without control characters"
            )
        comment = self.cell(row, "comment") or None
        return Decision(number, event_id, decision, approver, comment)


def import_decisions(
    plan_path: Path | str,
    csv_path: Path | str,
    by: str | None = None,
    at: datetime | None = None,
    sign: ledger.SignLine | None = None,
) -> ImportResult:
    """Append a decisions sheet's decisions to the plan's ledger.

    Everything is checked first (:func:`read_decisions`); on any fault nothing
    is written. A row whose decision, approver and comment are already the
    event's is left alone. The rows decided alike (decision, approver, comment)
    are one ledger line each, in the order the sheet first names them.
    """
    path = Path(plan_path)
    plan = plan_mod.load_plan(path)
    decisions, blank = read_decisions(plan, csv_path, by, path)
    owners = read_owners(plan, csv_path, by, path)
    events = {e["id"]: e for e in plan["events"]}
    when = at or datetime.now(UTC)
    groups: dict[tuple[str, str, str | None], list[str]] = {}
    unchanged = 0
    for d in decisions:
        approval = events[d.event_id]["approval"]
        # the sheet's cells are read trimmed: so is the decision they came from
        if (approval["state"], _trimmed(approval["by"]), _trimmed(approval["comment"])) == (
            d.decision,
            d.by,
            d.comment,
        ):
            unchanged += 1
            continue
        groups.setdefault((d.decision, d.by, d.comment), []).append(d.event_id)
    header = {k: v for k, v in plan.items() if k != "events"}
    order = {e["id"]: i for i, e in enumerate(plan["events"])}
    decided: list[tuple[str, str]] = []
    for (decision, approver, comment), ids in groups.items():
        ids.sort(key=order.__getitem__)
        entry = ledger.Entry(
            decision, ids, approver, f"sheet {Path(csv_path).name}", comment, at=when
        )
        ledger.append(path, header, entry, sign)
        decided.extend((i, decision) for i in ids)
    for owner in owners:  # the owner column (docs/plan.md, Owners): one line each
        entry = ledger.Entry(
            "assigned", [owner.choice.event_id], owner.by, f"sheet {Path(csv_path).name}",
            owner.comment, identity=owner.choice.identity, at=when,
        )
        ledger.append(path, header, entry, sign)
        decided.append((owner.choice.event_id, "assigned"))
    decided.sort(key=lambda item: order[item[0]])
    return ImportResult(decided, unchanged, blank)


def _head(plan_path: Path | str, plan: Plan) -> str:
    header = {k: v for k, v in plan.items() if k != "events"}
    return ledger.head(ledger.read(plan_path, header), header)


def _trimmed(value: str | None) -> str | None:
    """``value`` as a sheet's cell reads back: trimmed, None when blank."""
    return (value or "").strip() or None
