"""What a plan holds, in words: one line per event (what it changes, why)
and the summary ``plan show`` prints (``--json``: :func:`summarise`)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recondiff.errors import printable
from recondiff.plan import file as plan_mod
from recondiff.plan.file import Event, Plan


def _quote(value: str | None) -> str:
    return "(none)" if value is None else json.dumps(value, ensure_ascii=False)


def short_digest(digest: str) -> str:
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
    if event.get("owner") is not None:  # an owner decision (docs/plan.md, Owners)
        chosen = (event.get("approval") or {}).get("identity")
        subject = (
            f"identity {chosen}" if chosen else f"the owner to choose of account {obj['key']}"
        )
    elif event["target"] == "repository":
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
        f"repository {_quote(d.get('repository_value'))}{_expected_text(d)}"
        for d in drift
    )


def _expected_text(d: dict[str, Any]) -> str:
    """Why the repository's value is expected, when an identity policy expects it
    (docs/policies.md): " (expected: policy finance-staff, department = 'Finance')"."""
    expected = d.get("expected")
    if not isinstance(expected, dict):
        return ""
    return f" (expected: policy {expected.get('policy')}, {expected.get('when')})"


def _policies_text(policies: Any) -> str:
    """A policy event's allocations, deallocations and reallocations, in a few words."""
    if not isinstance(policies, dict):
        return ""
    parts = [
        f"{what} {', '.join(map(str, policies.get(what) or []))}"
        for what in ("allocated", "deallocated", "reallocated")
        if policies.get(what)
    ]
    return ": " + "; ".join(parts) if parts else ""


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
    text += _policies_text(reason.get("policies"))
    owner = event.get("owner")
    if owner is not None:
        offered = [f"{c['identity_key']} ({c['score']})" for c in owner["candidates"]]
        if owner.get("default_identity"):
            offered.append(f"default {owner['default_identity']}")
        text += ": candidates " + (", ".join(offered) or "none")
    choices = event.get("choices")
    if choices:  # a rejected new account: delete or disable, per account
        chosen = (event.get("approval") or {}).get("action")
        offered = [a for a in sorted(choices) if choices[a] is not None]
        text += f" ({chosen} chosen)" if chosen else f" (--action {' or '.join(offered)})"
    return printable(text)


def _alert_what(event: Event) -> str:
    """The attribute and values an alert is about: its drift, else its changes."""
    drift = event["reason"].get("drift") or []
    if drift:
        return printable(_drift_text(drift))
    return describe(event)


def _tally(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in counts.items()) or "none"


def brief(event: Event) -> dict[str, Any]:
    """An event as ``plan show --json`` lists it."""
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
        "alert_what": _alert_what(event) if event["alert"] else None,
    }


LIMIT = 200
"""How many alerts and pending events ``plan show`` lists (``--limit``; the counts are whole)."""


@dataclass
class Listing:
    """What ``plan show`` gathers from a run of events: the counts, and the first
    ``limit`` alerts and pending events (None: all), in plan order. A plan read in
    ranges (:mod:`recondiff.plan.ranges`) gathers one per range and merges them."""

    limit: int | None
    seen: Counter[tuple[str, str, str, bool]] = field(default_factory=Counter)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, events: Iterable[Event], limit: int | None) -> Listing:
        listing = cls(limit)
        seen, alerts, pending = listing.seen, listing.alerts, listing.pending
        room = limit if limit is not None else -1  # -1: no limit
        for event in events:
            state, alert = event["approval"]["state"], event["alert"]
            seen[(event["operation"], event["response"], state, bool(alert))] += 1
            if alert and len(alerts) != room:
                alerts.append(brief(event))
            if state == "pending" and len(pending) != room:
                pending.append(brief(event))
        return listing

    def merge(self, later: Listing) -> Listing:
        """This listing followed by ``later``'s (the events after these)."""
        self.seen.update(later.seen)
        self.alerts = (self.alerts + later.alerts)[: self.limit]
        self.pending = (self.pending + later.pending)[: self.limit]
        return self

    def counts(self) -> dict[str, Any]:
        tally = plan_mod.Tally()
        for (operation, response, state, alert), n in self.seen.items():
            tally.count(operation, response, state, "alert" if alert else None, n)
        return tally.as_dict()


def summarise(
    plan: Plan,
    events: Iterable[Event] | None = None,
    limit: int | None = None,
    *,
    listing: Listing | None = None,
) -> dict[str, Any]:
    """The machine-readable summary ``plan show --json`` prints.

    ``plan`` is the header (with ``events`` when neither ``events`` nor ``listing``
    is given: the events as the ledger leaves them, streamed by the caller for a
    large plan, or gathered already in ``listing``).
    Keys: ``plan_id``, ``digest``, ``created_at``, ``recondiff_version``,
    ``config``, ``inputs``, ``endpoint``, ``counts`` (derived from the events,
    approvals as decided), ``alerts`` (events with an alert) and ``pending``
    (events awaiting a decision), each in plan order and at most ``limit``
    (None: all; ``alerts_total`` and ``pending_total`` count them all),
    ``attention`` (as in the plan), and ``accepted``, the findings an exception
    covers (the header's, at most ``limit``; ``accepted_total`` counts them).
    """
    if listing is None:
        listing = Listing.of(plan["events"] if events is None else events, limit)
    limit = listing.limit
    counts = listing.counts()
    alerts, pending = listing.alerts, listing.pending
    return {
        "plan_id": plan["plan_id"],
        "digest": plan["digest"],
        "signed_by": (plan.get("signature") or {}).get("key"),
        "created_at": plan["created_at"],
        "recondiff_version": plan["recondiff_version"],
        "config": plan["config"],
        "inputs": plan["inputs"],
        "endpoint": plan["endpoint"],
        "counts": counts,
        "alerts_total": counts["alerts"],
        "alerts": alerts,
        "attention": plan["attention"],
        # what an exception accepts (docs/plan.md, "Decisions that persist")
        "accepted_total": len(plan.get("accepted", [])),
        "accepted": plan.get("accepted", [])[:limit],
        # the identity policies' conflicts (no event is proposed for them)
        "policy_conflicts": plan.get("policy_conflicts"),
        "pending_total": counts["by_approval"].get("pending", 0),
        "pending": pending,
    }


def summary_lines(info: dict[str, Any], plan: Plan) -> list[str]:
    """The readable summary ``plan show`` prints of :func:`summarise`'s ``info``:
    header, counts, alerts, attention, pending."""
    counts = info["counts"]
    lines = [
        f"plan        {info['plan_id']}",
        f"created     {info['created_at']}",
        f"recondiff   {info['recondiff_version']}",
        f"digest      {short_digest(info['digest'])}",
        f"config      {printable(info['config']['path'])}  "
        f"{short_digest(info['config']['sha256'])}",
    ]
    for side in ("endpoint", "repository"):
        source = info["inputs"][side]
        lines.append(
            f"{side:<11} {printable(source['path'])}  {source['rows']} rows  "
            f"captured {printable(source['captured_at'])}  {short_digest(source['sha256'])}"
        )
    lines.append(f"identity    {_identity_note(plan)}")
    lines += [
        f"events      {counts['events']}",
        f"operation   {_tally(counts['by_operation'])}",
        f"response    {_tally(counts['by_response'])}",
        f"approval    {_tally(counts['by_approval'])}",
        "",
        f"alerts ({info['alerts_total']})",
    ]
    for event in info["alerts"]:
        lines.append(
            f"  {event['id']}  {_subject(event)}  {printable(event['alert'])} -- "
            f"{event['alert_what']}"
        )
    lines += _more(info["alerts_total"], len(info["alerts"]))
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
    lines += accepted_lines(info.get("accepted", []), info.get("accepted_total", 0))
    lines += conflict_lines(info.get("policy_conflicts"))
    lines += ["", f"pending ({info['pending_total']})"]
    for event in info["pending"]:
        operation = event["operation"]
        if event["target"] == "repository":
            operation = f"repository {operation}"
        line = f"  {event['id']}  {operation}  {_subject(event)}"
        if event["dn"]:
            line += f"  {printable(event['dn'])}"
        lines.append(f"{line}  {event['reason']}")
    lines += _more(info["pending_total"], len(info["pending"]))
    return lines


def conflict_lines(conflicts: dict[str, Any] | None) -> list[str]:
    """``plan show``'s "policy conflicts" section (a plan of a config with identity
    policies): how many, where they all are, and those the plan lists; nothing
    for a plan without policies."""
    if conflicts is None:
        return []
    total = int(conflicts["total"])
    where = ""
    if total:
        where = f" -- no event proposed; all in {printable(conflicts['file'])} beside the plan"
    lines = ["", f"policy conflicts ({total}){where}"]
    for c in conflicts["rows"]:
        values = ", ".join(printable(v if v is not None else "NULL") for v in c["values"])
        lines.append(
            f"  identity {printable(c['identity_key'] or '-')}  {printable(c['attribute'])}  "
            f"policies {printable(', '.join(c['policies']))}  values {values}"
        )
    more = total - len(conflicts["rows"])
    if more > 0:
        lines.append(f"  ... and {more} more in {printable(conflicts['file'])}")
    return lines


def accepted_lines(accepted: Sequence[dict[str, Any]], total: int) -> list[str]:
    """``plan show``'s "accepted" section: the findings an exception accepts or
    rejects, proposed no more (docs/plan.md, "Decisions that persist"); none
    without any."""
    if not total:
        return []
    lines = ["", f"accepted ({total})"]
    for a in accepted:
        what = printable(a.get("attribute") or "the account")
        if a.get("kind"):
            what += f" {a['kind']}: endpoint {_quote(a.get('endpoint_value'))}, " \
                    f"repository {_quote(a.get('repository_value'))}"
        line = (
            f"  {a['id']}  {a['decision']}  {printable(a.get('account') or '-')}  "
            f"{printable(a['situation'])}  {what}  by {printable(a['by'])} "
            f"{printable(a['at'])}  until {printable(a.get('until') or 'no expiry')}"
        )
        if a.get("reason"):
            line += f"  why {_quote(a['reason'])}"
        lines.append(line)
    return lines + _more(total, len(accepted))


def _more(total: int, shown: int) -> list[str]:
    if total <= shown:
        return []
    return [f"  ... and {total - shown} more (plan show --limit 0 lists them all)"]


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
