"""Writing plans with decisions for tests: a plan file holds only compare's
proposals (auto, pending); decisions are lines of its ledger. Tests that build
plans by hand with approved or rejected events write them here, so the plan is
the file compare would write and its decisions the lines `plan approve`
would append."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recondiff.plan import ledger
from recondiff.plan.file import DECISIONS, Plan, save_plan


def save_with_decisions(plan: Plan, path: Path | str) -> Path:
    """Write ``plan`` (events may be approved or rejected) as a plan file and a
    fresh ledger holding its decisions, one line per (decision, by, comment)."""
    path = Path(path)
    groups: dict[tuple[str, str, str | None, str | None], list[str]] = {}
    for event in plan["events"]:
        approval = event["approval"]
        if approval["state"] in DECISIONS:
            key = (approval["state"], approval["by"] or "test", approval["comment"], approval["at"])
            groups.setdefault(key, []).append(event["id"])
        approval.update(
            state="pending" if approval["required"] else "auto", by=None, at=None, comment=None
        )
    save_plan(plan, path)
    ledger.ledger_path(path).unlink(missing_ok=True)
    header = {k: v for k, v in plan.items() if k != "events"}
    for (state, by, comment, at), ids in groups.items():
        when = datetime.fromisoformat(at) if at else None
        ledger.append(path, header, ledger.Entry(state, ids, by, "--event", comment, at=when))
    return path


def decide(
    plan: Plan,
    ids: Iterable[str] | None,
    decision: str,
    by: str,
    comment: str | None = None,
    at: datetime | None = None,
) -> list[str]:
    """Decide events of a plan held in memory (as the ledger would leave them):
    ``ids=None`` is every event that needs approval."""
    wanted = None if ids is None else set(ids)
    when = (at or datetime.now(UTC)).isoformat(timespec="seconds")
    chosen: list[Any] = [
        e
        for e in plan["events"]
        if e["approval"]["required"] and (wanted is None or e["id"] in wanted)
    ]
    for event in chosen:
        event["approval"].update(state=decision, by=by, at=when, comment=comment)
    return [e["id"] for e in chosen]


def apply_unsigned(*args: Any, **kwargs: Any) -> Any:
    """``apply_plan`` with ``allow_unsigned=True``: for the tests of what apply does
    with a plan (tests/test_signed_apply.py holds the signatures' own tests)."""
    from recondiff.apply.runner import apply_plan

    kwargs.setdefault("allow_unsigned", True)
    return apply_plan(*args, **kwargs)


def unsigned(args: Iterable[str]) -> list[str]:
    """The arguments of a command line with ``--allow-unsigned`` added when it is
    ``apply`` or ``plan ldif`` (and not already there): for the tests of what
    those commands do with a plan; tests/test_signed_apply.py holds the tests of
    the signatures themselves, without it."""
    args = list(args)
    verifies = args[:1] == ["apply"] or args[:2] == ["plan", "ldif"]
    if verifies and "--allow-unsigned" not in args:
        args.append("--allow-unsigned")
    return args
