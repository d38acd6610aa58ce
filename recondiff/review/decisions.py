"""Approving and rejecting events of a plan file (``plan approve|reject``)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path

from recondiff.errors import InputError
from recondiff.plan import file as plan_mod
from recondiff.plan.file import Plan
from recondiff.review.select import Selection, Selector, SelectorError, choose


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


def decide_selected(
    path: Path | str,
    selector: Selector,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
    report: Callable[[Selection], None] | None = None,
) -> tuple[Selection, list[str]]:
    """Decide the *pending* events ``selector`` hits in the plan at ``path``.

    ``report`` is called with the selection before anything is decided. A
    selector that hits no pending event is a :class:`SelectorError` (the file
    is not written); otherwise the plan is saved atomically with a new digest.
    """
    if not by.strip():
        raise InputError(f"{path}: a decision needs the approver's name (--by NAME)")
    plan = plan_mod.load_plan(path)
    selection = choose(plan["events"], selector)
    if report is not None:
        report(selection)
    if not selection.pending:
        skipped = len(selection.decided) + len(selection.auto)
        also = f" ({skipped} matching already decided or auto)" if skipped else ""
        raise SelectorError(
            f"selector {selector.describe()} hits no pending event in {path}{also}; nothing written"
        )
    ids = [e["id"] for e in selection.pending]
    decided = plan_mod.decide(plan, ids, decision, by, comment, at, path)
    plan_mod.save_plan(plan, path)
    return selection, decided
