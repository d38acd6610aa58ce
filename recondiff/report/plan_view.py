"""The plan's part of ``report.html``: read from ``plan.jsonl`` (docs/plan.md), so
approvals made since the run show when the page is rendered again.

The only tallies the report makes itself are here: the plan's events by response
and approval state, which change as approvers decide.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from recondiff.report.document import Node, Report
from recondiff.report.values import shown

APPROVAL_STATES = ("auto", "pending", "approved", "rejected")


@dataclass(frozen=True)
class PlanEvent:
    id: str
    target: str
    operation: str
    response: str
    account: str | None
    dn: str | None
    identity_key: str | None
    situation: str
    reasons: tuple[str, ...]
    changes: tuple[str, ...]
    alert: str | None
    state: str
    by: str | None
    at: str | None
    comment: str | None


@dataclass(frozen=True)
class Accepted:
    """A finding the plan proposes nothing for: an exception accepts or rejects it
    (the header's ``accepted``; docs/plan.md, "Decisions that persist")."""

    id: str
    decision: str
    account: str | None
    situation: str
    attribute: str | None
    what: str | None
    by: str
    reason: str | None
    at: str
    until: str | None


@dataclass(frozen=True)
class PlanView:
    plan_id: str
    created_at: str
    digest: str
    events: int
    attention: int
    states: tuple[str, ...]
    matrix: tuple[tuple[str, tuple[int, ...], int], ...]
    """(response, count per state in ``states``, row total)"""
    state_totals: tuple[int, ...]
    alerts: tuple[PlanEvent, ...]
    alerts_total: int
    pending: tuple[PlanEvent, ...]
    pending_total: int
    decided: tuple[PlanEvent, ...]
    decided_total: int
    mismatch: str | None
    """Why this plan may not belong to the report's run, if it may not."""
    accepted: tuple[Accepted, ...] = ()
    accepted_total: int = 0


def read_plan(plan: Any, report: Report, source: str = "plan.jsonl") -> PlanView:
    """The plan's part of the page. The tallies come from the header's counts
    (derived from every event, and covered by the digest); only the events shown
    (at most ``limits.rows_per_table`` of each list) are read, so the plan compare
    passes may hold just those."""
    top = Node(plan, "", source)
    limit = report.rows_per_table
    tally: Counter[tuple[str, str]] = Counter()
    picked: dict[str, list[Node]] = {"alerts": [], "pending": [], "decided": []}
    counts = top.obj("counts")
    for response, states_of in counts.data["by_response_approval"].items():
        for state, n in states_of.items():
            tally[(str(response), str(state))] += int(n)
    by_approval = counts.data["by_approval"]
    totals = Counter(
        {
            "alerts": int(counts.data["alerts"]),
            "pending": int(by_approval.get("pending", 0)),
            "decided": int(by_approval.get("approved", 0)) + int(by_approval.get("rejected", 0)),
        }
    )
    for e in top.objs("events"):
        state = e.obj("approval").text("state")
        lists = ["pending"] if state == "pending" else []
        lists += ["decided"] if state in ("approved", "rejected") else []
        lists += ["alerts"] if e.opt_text("alert") else []
        for name in lists:
            if len(picked[name]) < limit:
                picked[name].append(e)
    accepted = top.objs("accepted") if "accepted" in top.data else []
    states = tuple(s for s in APPROVAL_STATES if any(st == s for _, st in tally))
    responses = sorted({r for r, _ in tally})
    matrix = tuple(
        (r, tuple(tally[(r, s)] for s in states), sum(tally[(r, s)] for s in states))
        for r in responses
    )
    return PlanView(
        plan_id=top.text("plan_id"),
        created_at=top.text("created_at"),
        digest=top.text("digest"),
        events=int(counts.data["events"]),
        attention=len(top.objs("attention")),
        states=states,
        matrix=matrix,
        state_totals=tuple(sum(n for (_, st), n in tally.items() if st == s) for s in states),
        alerts=tuple(_event(e) for e in picked["alerts"]),
        alerts_total=totals["alerts"],
        pending=tuple(_event(e) for e in picked["pending"]),
        pending_total=totals["pending"],
        decided=tuple(_event(e) for e in picked["decided"]),
        decided_total=totals["decided"],
        mismatch=_mismatch(top, report),
        accepted=tuple(_accepted(a) for a in accepted[:limit]),
        accepted_total=len(accepted),
    )


def _accepted(a: Node) -> Accepted:
    def opt(key: str) -> str | None:
        return a.opt_text(key) if key in a.data else None

    kind = opt("kind")
    old, new = shown(opt("endpoint_value")), shown(opt("repository_value"))
    what = {"added": f"added {old}", "removed": f"removed {new}"}.get(
        kind or "", f"{old} → {new}" if kind else None
    )
    return Accepted(
        id=a.text("id"),
        decision=a.text("decision"),
        account=shown(opt("account")),
        situation=a.text("situation"),
        attribute=shown(opt("attribute")),
        what=what,
        by=shown(a.text("by")) or "",
        reason=shown(opt("reason")),
        at=a.text("at"),
        until=opt("until"),
    )


def _event(e: Node) -> PlanEvent:
    obj = e.obj("object")
    member_of = obj.opt_obj("member_of") if "member_of" in obj.data else None
    reason = e.obj("reason")
    approval = e.obj("approval")
    reasons = []
    for d in reason.objs("drift") if "drift" in reason.data else []:
        old, new = shown(d.opt_text("endpoint_value")), shown(d.opt_text("repository_value"))
        kind = d.text("kind")
        if kind == "added":
            what = f"{d.text('attribute')}: added {old}"
        elif kind == "removed":
            what = f"{d.text('attribute')}: removed {new}"
        else:
            what = f"{d.text('attribute')}: {old} → {new}"
        reasons.append(f"{what} ({d.text('response')}){_expected(d, new)}")
    reasons += _policies(reason)
    changes = tuple(
        f"{c.text('op')} {c.text('attribute')}: "
        + "; ".join(str(shown(v)) for v in c.strs("values"))
        for c in e.objs("changes")
    )
    return PlanEvent(
        id=e.text("id"),
        target=e.text("target"),
        operation=e.text("operation"),
        response=e.text("response"),
        account=shown(
            obj.opt_text("key") or (member_of.opt_text("key") if member_of else None)
        ),
        dn=shown(obj.opt_text("dn")),
        identity_key=shown(obj.opt_text("identity_key")),
        situation=reason.text("situation"),
        reasons=tuple(reasons),
        changes=changes,
        alert=e.opt_text("alert"),
        state=approval.text("state"),
        by=approval.opt_text("by"),
        at=approval.opt_text("at"),
        comment=shown(approval.opt_text("comment")),
    )


def _expected(d: Node, value: str | None) -> str:
    """Why the repository's value is expected, when an identity policy expects it
    (docs/policies.md): "; cn=Finance expected: policy finance-staff, department = 'Finance'"."""
    expected = d.opt_obj("expected") if "expected" in d.data else None
    if expected is None:
        return ""
    return (f"; {value} expected: policy {shown(expected.text('policy'))}, "
            f"{shown(expected.text('when'))}")


def _policies(reason: Node) -> list[str]:
    """A policy event's (situation "policy") allocations, deallocations and
    reallocations, one line each that is not empty."""
    policies = reason.opt_obj("policies") if "policies" in reason.data else None
    if policies is None:
        return []
    return [
        f"policies {what}: " + ", ".join(str(shown(name)) for name in policies.strs(what))
        for what in ("allocated", "deallocated", "reallocated")
        if policies.strs(what)
    ]


def _mismatch(plan: Node, report: Report) -> str | None:
    digests = {i.side: i.sha256 for i in report.inputs}
    inputs = plan.obj("inputs")
    if plan.obj("config").text("sha256") != report.run.config_sha256 or any(
        inputs.obj(side).text("sha256") != digests[side] for side in ("endpoint", "repository")
    ):
        return (
            "plan.jsonl was made from other inputs or another config than this report; "
            "re-run recondiff compare so that both come from the same run"
        )
    return None
