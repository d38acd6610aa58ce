"""Deciding events of a plan (``plan approve|reject|accept``): each command
appends one line to the plan's decisions ledger (:mod:`recondiff.plan.ledger`);
the plan file itself never changes.

The plan is streamed, not loaded: a 10M run's plan has 550,000 events, and a
decision over a selector needs only their ids and states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from recondiff.errors import InputError
from recondiff.plan import ledger
from recondiff.plan.file import Event, Plan, iter_events, read_header
from recondiff.review.select import Selection, Selector, SelectorError, choose


@dataclass(frozen=True)
class Request:
    """Who decides what: ``decision`` (a ledger kind), ``by``, and what goes with it."""

    decision: str
    by: str
    comment: str | None = None
    until: datetime | None = None
    identity: str | None = None
    action: str | None = None
    at: datetime | None = None
    sign: ledger.SignLine | None = None


class _Plan:
    """A plan file read once, with its ledger: the header, and its events with their
    effective approvals as they stream by."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.header: Plan = read_header(self.path)
        self.lines = ledger.read(self.path, self.header)

    def events(self) -> Iterator[Event]:
        # the schema's full check is apply's: here a hand-made plan is refused by shape
        events = iter_events(self.path, self.header, full_check=False)
        yield from ledger.decided(events, self.lines, ledger.ledger_path(self.path))

    def append(self, request: Request, ids: list[str], selector: str) -> ledger.Line:
        entry = ledger.Entry(
            decision=request.decision,
            ids=ids,
            by=request.by,
            selector=selector,
            comment=request.comment,
            until=request.until,
            identity=request.identity,
            action=request.action,
            at=request.at,
        )
        return ledger.append(self.path, self.header, entry, request.sign)


def _check_by(path: Path | str, by: str) -> None:
    if not by.strip():
        raise InputError(f"{path}: a decision needs the approver's name (--by NAME)")


def _decidable(event: Event, decision: str) -> bool:
    """Whether ``decision`` may name ``event``: accepting keeps the endpoint as it is
    (any event); the others decide what needs approval."""
    return decision == "accepted" or bool(event["approval"]["required"])


def decide_file(
    path: Path | str,
    ids: Iterable[str] | None,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
    *,
    request: Request | None = None,
) -> list[str]:
    """Decide the events ``ids`` of the plan at ``path``, or (``ids=None``) every
    *pending* one (``--all`` never overturns a decision). Returns the ids decided,
    in plan order; refuses unknown ids and (but for ``accepted``) auto events
    before anything is written. Nothing to decide: nothing written."""
    request = request or Request(decision, by, comment, at=at)
    _check_by(path, request.by)
    plan = _Plan(path)
    wanted = None if ids is None else dict.fromkeys(ids)  # ordered; a set's lookups (100,000 ids)
    chosen: list[str] = []
    refused: list[str] = []
    found: set[str] = set()
    for event in plan.events():
        state = event["approval"]["state"]
        if wanted is None:
            if state == "pending":
                chosen.append(event["id"])
        elif event["id"] in wanted:
            found.add(event["id"])
            (chosen if _decidable(event, request.decision) else refused).append(event["id"])
    if wanted is not None:
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise InputError(
                f"{path}: no event {', '.join(unknown)} in this plan; "
                "recondiff plan show lists the event ids"
            )
        if refused:
            raise InputError(
                f"{path}: event {', '.join(refused)} needs no approval (it is 'auto'); "
                "decide only events whose approval is required"
            )
    if chosen:
        plan.append(request, chosen, "--all" if wanted is None else "--event")
    return chosen


def decide_selected(
    path: Path | str,
    selector: Selector,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
    report: Callable[[Selection], None] | None = None,
    *,
    request: Request | None = None,
) -> tuple[Selection, list[str]]:
    """Decide the *pending* events ``selector`` hits in the plan at ``path``.

    ``report`` is called with the selection before anything is decided. A
    selector that hits no pending event is a :class:`SelectorError` (nothing is
    written); otherwise one ledger line records the selector and the ids.
    """
    request = request or Request(decision, by, comment, at=at)
    _check_by(path, request.by)
    plan = _Plan(path)
    selection = choose(plan.events(), selector)
    if report is not None:
        report(selection)
    if not selection.pending:
        skipped = sum(selection.decided.values()) + selection.auto
        also = f" ({skipped} matching already decided or auto)" if skipped else ""
        raise SelectorError(
            f"selector {selector.describe()} hits no pending event in {path}{also}; nothing written"
        )
    plan.append(request, selection.pending, selector.describe())
    return selection, selection.pending


def read_decided(path: Path | str) -> tuple[Plan, Iterator[Event]]:
    """The plan at ``path``: its header, and its events streamed with the approvals
    its ledger leaves them (the digest and the ledger are checked by the time the
    iteration ends)."""
    plan = _Plan(path)
    return plan.header, plan.events()


def decisions_head(path: Path | str) -> str:
    """The hash of the last line of the plan's ledger (the plan's digest when it has
    none): what a change ticket records and ``apply --decisions-head`` pins."""
    header = read_header(path)
    return ledger.head(ledger.read(path, header), header)
