"""Deciding events of a plan (``plan approve|reject|accept``): each command
appends one line to the plan's decisions ledger (:mod:`recondiff.plan.ledger`);
the plan file itself never changes.

The plan is streamed, not loaded: a 10M run's plan has 550,000 events, and a
decision over a selector needs only their ids and states.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from recondiff.errors import InputError
from recondiff.plan import ledger, ranges
from recondiff.plan.file import Event, Plan, iter_events, read_header
from recondiff.review.select import Selection, Selector, SelectorError, choose
from recondiff.review.summary import Listing, summarise

T = TypeVar("T")


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

    def map(self, part: Callable[[Iterator[Event]], T], merge: Callable[[T, T], T]) -> T:
        """``part`` over the events as decided, in ranges on every core, ``merge``d
        (:mod:`recondiff.plan.ranges`; the checks of :meth:`events`)."""
        return ranges.map_events(self.path, self.header, self.lines, part, merge)

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


def _unfounded(event: Event, decision: str) -> bool:
    """Whether accepting ``event`` would be lost: an exception is remembered per
    finding, and a policy event or a membership of an account the plan creates
    has none (``findings: []``)."""
    return decision == "accepted" and not event.get("findings")


Unfounded = tuple[str, bool, bool]
"""An event accepting would lose (:func:`_unfounded`): its id, whether it is a policy
event, whether it needs approval."""


def _note(event: Event) -> Unfounded:
    return (
        event["id"],
        event["reason"]["situation"] == "policy",
        bool(event["approval"]["required"]),
    )


def _refuse_unfounded(path: Path | str, events: list[Unfounded]) -> None:
    """Refuse accepting ``events`` (without findings: :func:`_unfounded`), saying
    what holds instead."""
    if not events:
        return
    ids = [e[0] for e in events]
    shown = ", ".join(ids[:3]) + (f" (and {len(ids) - 3} more)" if len(ids) > 3 else "")
    policy = any(e[1] for e in events)
    what = (
        "a change of the identity policies"
        if policy
        else "a membership of an account the plan creates"
    )
    if all(e[2] for e in events):
        instead = "approve or reject it instead"
    elif policy:
        instead = 'set [policies] response = "review" to approve or reject such changes'
    else:
        instead = "decide the account's add instead"
    raise InputError(
        f"{path}: event {shown} has no finding to accept ({what}): an acceptance is "
        f"remembered per finding, so the next compare would propose it again; {instead}, "
        "or change the policy or mapping that proposes it"
    )


def _decidable(event: Event, decision: str) -> bool:
    """Whether ``decision`` may name ``event``: accepting keeps the endpoint as it is
    (any event); the others decide what needs approval."""
    return decision == "accepted" or bool(event["approval"]["required"])


@dataclass
class _Named:
    """What :func:`decide_file` finds: the ids it decides (``wanted``, or with none
    every pending event), those it refuses (auto events) and the wanted ids found."""

    chosen: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    found: set[str] = field(default_factory=set)
    unfounded: list[Unfounded] = field(default_factory=list)

    @classmethod
    def of(cls, events: Iterable[Event], wanted: frozenset[str] | None, decision: str) -> _Named:
        named = cls()
        for event in events:
            if wanted is None:
                if event["approval"]["state"] == "pending":
                    named.chosen.append(event["id"])
                    if _unfounded(event, decision):
                        named.unfounded.append(_note(event))
            elif event["id"] in wanted:
                named.found.add(event["id"])
                if _unfounded(event, decision):
                    named.unfounded.append(_note(event))
                ok = _decidable(event, decision)
                (named.chosen if ok else named.refused).append(event["id"])
        return named

    def merge(self, later: _Named) -> _Named:
        self.chosen.extend(later.chosen)
        self.refused.extend(later.refused)
        self.found.update(later.found)
        self.unfounded.extend(later.unfounded)
        return self


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
    ordered = None if ids is None else list(dict.fromkeys(ids))
    wanted = None if ordered is None else frozenset(ordered)  # a set's lookups (100,000 ids)
    named = plan.map(lambda events: _Named.of(events, wanted, request.decision), _Named.merge)
    chosen, refused, found = named.chosen, named.refused, named.found
    if wanted is not None:
        unknown = [i for i in ordered or () if i not in found]
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
    _refuse_unfounded(path, named.unfounded)
    if chosen:
        plan.append(request, chosen, "--all" if wanted is None else "--event")
    return chosen


def _choose_noting(
    events: Iterator[Event], selector: Selector, decision: str
) -> tuple[Selection, list[Unfounded]]:
    """:func:`choose`, and the pending events it hits that ``decision`` would lose
    (:func:`_unfounded`)."""
    unfounded: list[Unfounded] = []

    def noting() -> Iterator[Event]:
        for event in events:
            if event["approval"]["state"] == "pending" and _unfounded(event, decision):
                unfounded.append(_note(event))
            yield event

    selection = choose(noting(), selector)
    hit = set(selection.pending)
    return selection, [u for u in unfounded if u[0] in hit]


def _merge_noted(
    a: tuple[Selection, list[Unfounded]], b: tuple[Selection, list[Unfounded]]
) -> tuple[Selection, list[Unfounded]]:
    return a[0].merge(b[0]), a[1] + b[1]


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
    decision = request.decision
    selection, lost = plan.map(
        lambda events: _choose_noting(events, selector, decision), _merge_noted
    )
    _refuse_unfounded(path, lost)
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


def show_file(path: Path | str, limit: int | None) -> tuple[Plan, dict[str, Any]]:
    """``plan show``: the header of the plan at ``path`` and its summary
    (:func:`recondiff.review.summary.summarise`), the plan read on every core."""
    plan = _Plan(path)
    listing = plan.map(lambda events: Listing.of(events, limit), Listing.merge)
    return plan.header, summarise(plan.header, listing=listing)


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
