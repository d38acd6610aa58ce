"""A plan's runnable endpoint events as an RFC 2849 LDIF change file (``recondiff plan ldif``).

The file is for ``ldapmodify``: one change record per event, in plan order,
each after a comment naming the event and why it exists. Like ``apply``, each
record carries its preconditions as an RFC 4528 assertion ``control:`` line, so
``ldapmodify`` stops at the first object that changed since the diff (result
122) instead of overwriting it. Membership records carry none (OpenLDAP's
memberof overlay would then leave memberOf stale; see
:func:`recondiff.plan.assertions.split_preconditions`): deleting a member value that
is gone fails by itself. It does not keep a journal: after a failure,
fix or drop the failed record and run the rest (``ldapmodify -c`` continues
past errors) — or use ``recondiff apply``, which resumes on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping

from recondiff.config.load import Config
from recondiff.errors import InputError
from recondiff.plan.assertions import (
    ASSERTION_CONTROL,
    assertion_control,
    assertion_filter,
    split_preconditions,
)
from recondiff.plan.checks import check_plan, refusal
from recondiff.plan.choices import check_chosen_deletes, with_choices
from recondiff.plan.file import Event, Plan, runnable

FOLD = 76
"""Lines are folded at 76 characters (RFC 2849 recommends it)."""

_SAFE_INIT_EXCLUDED = frozenset("\0\n\r :<")


def needs_base64(value: str) -> bool:
    """RFC 2849: not a SAFE-STRING (non-ASCII, NUL/CR/LF, leading space, ``:`` or ``<``),
    or ends with a space (allowed, but readers strip it)."""
    if not value:
        return False
    if value[0] in _SAFE_INIT_EXCLUDED or value.endswith(" "):
        return True
    return any(ord(c) > 127 or c in "\0\n\r" for c in value)


def attribute_line(name: str, value: str) -> str:
    """``name: value``, or ``name:: base64`` when the value needs it; folded."""
    if needs_base64(value):
        return fold(f"{name}:: {base64.b64encode(value.encode('utf-8')).decode('ascii')}")
    return fold(f"{name}: {value}" if value else f"{name}:")


def fold(line: str) -> str:
    """Continuation lines start with one space (RFC 2849 folding)."""
    if len(line) <= FOLD:
        return line
    parts = [line[:FOLD]]
    rest = line[FOLD:]
    while rest:
        parts.append(" " + rest[: FOLD - 1])
        rest = rest[FOLD - 1 :]
    return "\n".join(parts)


def _comment(text: str) -> str:
    return "# " + " ".join(text.replace("\0", "").split())


def _why(event: Event) -> str:
    reason = event["reason"]
    parts = [f"situation {reason['situation']}"]
    if reason.get("rule"):
        parts.append(f"rule {reason['rule']}")
    drift = reason.get("drift") or []
    if drift:
        parts.append("drift " + ", ".join(f"{d['attribute']} {d['kind']}" for d in drift))
    member = event["object"].get("member_of")
    if member:
        parts.append(f"member {member.get('key') or member.get('dn')}")
    if event["alert"]:
        parts.append(f"ALERT {event['alert']}")
    return "; ".join(parts)


def event_record(event: Event, *, assertions: bool = True) -> Iterator[str]:
    """The lines of one event's change record (comment first, no trailing blank line)."""
    approval = event["approval"]
    decided = f", {approval['state']} by {approval['by']}" if approval.get("by") else ""
    yield _comment(
        f"{event['id']} {event['operation']} ({event['response']}{decided}): {_why(event)}"
    )
    yield attribute_line("dn", event["object"]["dn"])
    operation = event["operation"]
    asserted, unchecked = split_preconditions(event)
    if unchecked and operation != "add":
        # A membership event: no assertion (see split_preconditions), say what is not checked.
        yield _comment(f"not asserted (membership): {assertion_filter(unchecked)}")
    member = event["object"].get("member_of") or {}
    if member.get("uuid") and operation != "add":
        # apply checks the member is still the entry exported; ldapmodify cannot
        yield _comment(f"not checked (membership): member {member.get('dn')} is {member['uuid']}")
    control = assertion_control(asserted) if assertions and operation != "add" else None
    if control is not None:
        ber = base64.b64encode(control[2]).decode("ascii")
        yield fold(f"control: {ASSERTION_CONTROL} true:: {ber}")
    if operation == "add":
        yield "changetype: add"
        for change in event["changes"]:
            for value in change["values"]:
                yield attribute_line(change["attribute"], value)
    elif operation == "delete":
        yield "changetype: delete"
    else:
        yield "changetype: modify"
        for change in event["changes"]:
            yield f"{change['op']}: {change['attribute']}"
            for value in change["values"]:
                yield attribute_line(change["attribute"], value)
            yield "-"


def plan_to_ldif(
    plan: Plan,
    *,
    assertions: bool = True,
    allow: Mapping[str, int | None] | None = None,
    config: Config | None = None,
    allow_delete: bool = False,
) -> str:
    """The plan's runnable endpoint events (approved and auto) as an LDIF change file.

    Refuses (:class:`InputError`, one line) a plan with an event ``apply`` would
    refuse: no DN (the snapshot had no DN column) or a protected key (the
    plan's, and ``config``'s when given); and, like ``apply``, a plan over its
    mass-change limits (:class:`~recondiff.plan.checks.SafetyError`, one line per
    limit) unless ``allow`` accepts the count (:func:`recondiff.plan.checks.check_safety`).
    ``assertions=False`` leaves out the assertion controls (for a server without
    RFC 4528; the delete-old/add-new modifies still fail on a changed value).
    """
    # a reviewer's delete-or-disable, as apply runs it (recondiff/plan/choices.py)
    check_chosen_deletes(runnable(plan), allow_delete, f"plan {plan['plan_id']}")
    plan = with_choices(plan)
    protected = check_plan(plan, config, allow or {}, f"plan {plan['plan_id']}")
    events = runnable(plan)
    for event in events:
        why = refusal(plan, event, protected)
        if why is not None:
            # An auto event was approved by the config's policy, and no reviewer
            # can reject it: the config that planned it is what must change.
            fix = (
                "it is approved by the config's policy ('auto'), so fix the config (for a "
                "protected account: its key in [endpoint] protected) and run compare again"
                if event["approval"]["state"] == "auto"
                else "reject it (recondiff plan reject --event ID) to write the rest"
            )
            raise InputError(
                f"plan {plan['plan_id']}: event {event['id']} cannot be written as LDIF: "
                f"{why}; {fix}"
            )
    mass = sum(1 for e in events if e["operation"] in ("delete", "disable"))
    header = [
        _comment(
            f"recondiff plan {plan['plan_id']} ({plan['digest']}), endpoint "
            f"{plan['endpoint']['name']}: {len(events)} approved and auto events, "
            f"{mass} deletes or disables"
        ),
        _comment("Load with: ldapmodify -H ldap://HOST -D BIND_DN -y PASSWORD_FILE -f FILE"),
    ]
    if assertions:
        header.append(
            _comment(
                "Each record asserts the values seen at diff time (RFC 4528): ldapmodify "
                "stops at an object changed since (result 122, assertion failed)."
            )
        )
    records = ["\n".join(event_record(e, assertions=assertions)) for e in events]
    return "\n".join(header) + "\nversion: 1\n" + "".join(f"\n{r}\n" for r in records)
