"""One event of an approved plan sent to (or, dry, checked against) an LDAP
server: :class:`EventRunner` and what it reports (:class:`EventOutcome`).

Each event is one LDAP operation (add, delete or one modify), carrying its
``preconditions`` as an RFC 4528 assertion control when the server supports
it, so that a value changed since the diff fails the operation atomically on
the server (the event is then ``stale``, never forced). The run around it
(journal, order, resuming) is :mod:`recondiff.apply.runner`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from recondiff.apply.transport import (
    Lost,
    SearchFailed,
    Transport,
    describe,
)
from recondiff.plan.assertions import (
    MEMBER_ATTRIBUTES,
    UUID_ATTRIBUTES,
    all_of,
    assertion_control,
    assertion_filter,
    changes_filter,
    check_attribute,
    escape_filter_value,
    is_attribute_description,
    membership_event,
    split_preconditions,
)
from recondiff.plan.checks import match_form, sent_dns
from recondiff.plan.file import Event
from recondiff.vocabulary import attribute_type

STALE_RESULTS = {
    122: "assertionFailed",
    16: "noSuchAttribute",
    20: "attributeOrValueExists",
    32: "noSuchObject",
    68: "entryAlreadyExists",
}
"""Result codes that mean the object changed since the diff: the event is ``stale``."""


Progress = Callable[[str], None]

_UID_SUFFIX = re.compile(r"#'[01]*'B$")


@dataclass(frozen=True)
class EventOutcome:
    """What happened to one event (``previous`` when read from an earlier run's journal).

    ``outcome`` is ``applied``, ``stale``, ``failed`` or ``skipped``; a dry run
    says ``would_apply``, ``would_be_stale`` or ``would_fail`` instead.
    """

    event_id: str
    outcome: str
    result: int | None
    message: str
    previous: bool = False




# -- one event -----------------------------------------------------------------------


class EventRunner:
    """What one event needs on the server: sending it (:meth:`send`), checking it
    in a dry run (:meth:`check`), explaining why it is stale, finding it done when
    resuming (:meth:`already_done`), and refusing a protected entry its labels hide."""

    def __init__(
        self,
        transport: Transport,
        assertion: bool,
        protected: frozenset[str],
        uuid_attribute: str | None,
        key_attributes: Sequence[str],
    ) -> None:
        self.transport = transport
        self.assertion = assertion
        self.protected = protected
        self.uuid_attribute = uuid_attribute
        self.key_attributes = [
            a for a in dict.fromkeys(key_attributes) if is_attribute_description(a)
        ]

    def explain(self, event: Event) -> str:
        """Which preconditions no longer hold (best effort, for the message)."""
        wanted = [c["attribute"] for c in event["preconditions"]]
        if not wanted:
            return ""
        try:
            now = self.transport.values(event["object"]["dn"], wanted, event["id"])
        except Lost:
            return ""
        if not now:
            return ""
        parts = []
        for condition in event["preconditions"]:
            have = now.get(condition["attribute"].lower(), [])
            if condition["attribute"].lower() in UUID_ATTRIBUTES:
                try:
                    dn, check = event["object"]["dn"], assertion_filter([condition])
                    if self.transport.exists(dn, check, event["id"]):
                        continue
                except (Lost, SearchFailed):
                    continue
                parts.append(
                    f"the entry at this DN is not the one exported ({condition['attribute']} "
                    "differs: deleted and re-created, another object under the same DN)"
                )
            elif sorted(v.casefold() for v in have) != sorted(
                v.casefold() for v in condition["values"]
            ):
                parts.append(
                    f"{condition['attribute']} is {_show(have)} on the server, "
                    f"the plan expected {_show(condition['values'])}"
                )
        return "; ".join(parts)

    def protected_on_server(self, event: Event) -> str | None:
        """Each entry the event names (its DN, the member DNs it sends), its key
        read on the server: a protected account whose DN does not carry its key
        (AD's ``CN=Backup Service`` for ``svc-backup``) is refused whatever the
        event's labels say. One base search per DN; None when none is protected."""
        if not self.protected or not self.key_attributes:
            return None
        for dn in dict.fromkeys(sent_dns(event)):
            if event["operation"] == "add" and dn == event["object"]["dn"]:
                continue  # not there yet (if it is, the add fails by itself)
            entry = _UID_SUFFIX.sub("", dn)  # uniqueMember: DN#'0101'B
            if "=" not in entry:
                continue
            found = self.transport.values(entry, self.key_attributes, event["id"])
            for name, values in found.items():
                hit = next((v for v in values if match_form(v) in self.protected), None)
                if hit is not None:
                    return (
                        f"{dn} is the entry of {hit} ({name} on the server), a protected "
                        "account ([endpoint] protected); recondiff never changes it"
                    )
        return None

    def send(self, event: Event) -> EventOutcome:
        guarded = self.protected_on_server(event)
        if guarded is not None:
            return EventOutcome(event["id"], "failed", None, guarded)
        dn = event["object"]["dn"]
        operation = event["operation"]
        controls = None
        asserted, searched = split_preconditions(event)
        if not self.assertion:
            asserted, searched = [], searched + asserted
        control = assertion_control(asserted) if operation != "add" else None
        if control is not None:
            controls = [control]
        precondition = assertion_filter(searched)
        if operation != "add" and precondition:
            # No assertion control for these: check first (not atomic, but never blind).
            try:
                holds = self.transport.exists(dn, precondition, event["id"])
            except SearchFailed as failed:
                return self._outcome(event, failed.result)
            if not holds:
                code = 32 if holds is None else 122
                checked = "checked with a search before sending"
                return self._outcome(
                    event, {"result": code, "description": STALE_RESULTS[code], "message": checked}
                )
        replaced = self.member_replaced(event)
        if replaced is not None:
            code, message = replaced
            return self._outcome(
                event, {"result": code, "description": STALE_RESULTS[code], "message": message}
            )
        if operation == "add":
            result = self.transport.add(dn, event["changes"], event["id"])
        elif operation == "delete":
            result = self.transport.delete(dn, controls, event["id"])
        else:
            result = self.transport.modify(dn, event["changes"], controls, event["id"])
        return self._outcome(event, result)

    def member_replaced(self, event: Event) -> tuple[int, str] | None:
        """A membership event's member checked against its entryUUID/objectGUID at
        export (a base search before sending: membership events carry no assertion):
        ``(result code, why)`` when it is gone or is another object now."""
        member = event["object"].get("member_of") or {}
        if not member.get("uuid") or not member.get("dn") or not self.uuid_attribute:
            return None
        condition = {"attribute": self.uuid_attribute, "values": [member["uuid"]]}
        try:
            same = self.transport.exists(member["dn"], assertion_filter([condition]), event["id"])
        except SearchFailed:
            return None  # the modify itself tells
        if same is None:
            return 32, f"the member {member['dn']} no longer exists"
        if not same:
            return 122, (
                f"the member {member['dn']} is not the entry exported ({self.uuid_attribute} "
                "differs: deleted and re-created, another object under the same DN)"
            )
        return None

    def _outcome(self, event: Event, result: dict[str, Any]) -> EventOutcome:
        if result.get("result") is None:
            return EventOutcome(event["id"], "failed", None, f"not sent: {result.get('message')}")
        code = int(result["result"])
        if code == 0:
            return EventOutcome(event["id"], "applied", 0, event_summary(event))
        if code in STALE_RESULTS:
            why = self.explain(event) if code in (122, 16, 20) else ""
            message = f"{describe(result)}: the object changed since the diff, not forced"
            return EventOutcome(event["id"], "stale", code, f"{message}; {why}" if why else message)
        return EventOutcome(event["id"], "failed", code, describe(result))

    def already_done(self, event: Event, started: str | None = None) -> bool:
        """Are the changes of an event left ``started`` (at ``started``) on the server already?"""
        dn = event["object"]["dn"]
        operation = event["operation"]
        try:
            if operation == "add":
                # The entry with the values the add gives it, not just the DN:
                # an entry someone else created meanwhile is not this add's; nor is
                # one created before the add was started (a size-limited export made
                # an existing account look missing: it has the very same values).
                ours = [changes_filter(event["changes"]), _created_since(started)]
                return bool(self.transport.exists(dn, all_of([f for f in ours if f]), event["id"]))
            if operation == "delete":
                return self.transport.exists(dn, None, event["id"]) is None
            wanted = changes_filter(event["changes"])
            return bool(wanted) and bool(self.transport.exists(dn, wanted, event["id"]))
        except SearchFailed:
            return False

    def back_link_doubt(self, event: Event) -> str | None:
        """For a membership event found done on the group when resuming: does each
        member's computed ``memberOf`` agree? The group is updated first and the
        back-link after it, so a crash or hang between the two leaves the group
        done and memberOf not: then why, else None."""
        if not membership_event(event) or not self.transport.server_has_memberof(event["id"]):
            return None
        group = event["object"]["dn"]
        group_key = dn_key(group)
        for change in event["changes"]:
            if attribute_type(change["attribute"]) not in MEMBER_ATTRIBUTES:
                continue
            for member in change["values"]:
                try:
                    links = self.transport.values(member, ["memberOf"], event["id"]).get(
                        "memberof", []
                    )
                except SearchFailed:
                    links = []
                listed = group_key in {dn_key(v) for v in links}
                if listed != (change["op"] == "add"):
                    state = "does not list it" if change["op"] == "add" else "still lists it"
                    return (
                        f"the group {group} shows the change the previous run sent before it "
                        f"stopped, but {member}'s memberOf {state}: the server may have lost "
                        "its memberOf update; check both entries (removing and re-adding the "
                        "member repairs memberOf), this event is not sent again"
                    )
        return None

    def check(self, event: Event) -> EventOutcome:
        """Dry run: would the event apply? (A base search with its preconditions.)"""
        dn = event["object"]["dn"]
        guarded = self.protected_on_server(event)
        if guarded is not None:
            return EventOutcome(event["id"], "would_fail", None, guarded)
        try:
            if event["operation"] == "add":
                there = self.transport.exists(dn, None, event["id"])
                if there is not None:
                    return EventOutcome(event["id"], "would_be_stale", 68, f"{dn} already exists")
                return EventOutcome(event["id"], "would_apply", None, event_summary(event))
            # As sent: a membership's member values are checked by the modify (16).
            precondition = assertion_filter(
                [c for part in split_preconditions(event) for c in part]
            )
            conflicts = _conflicts(event) if event["operation"] != "delete" else []
            # One search when all is well: the preconditions hold and no value
            # the modify adds is there already, none it deletes is gone.
            clash = [clause for clause, _, _ in conflicts]
            none = f"(!{clash[0]})" if len(clash) == 1 else f"(!(|{''.join(clash)}))"
            holds = self.transport.exists(
                dn, all_of([f for f in (precondition, none if clash else None) if f]), event["id"]
            )
            if (
                holds is False
                and conflicts
                and self.transport.exists(dn, precondition, event["id"])
            ):
                for clause, code, text in conflicts:
                    if self.transport.exists(dn, clause, event["id"]):
                        message = f"{STALE_RESULTS[code]} ({code}): {text} on the server"
                        return EventOutcome(event["id"], "would_be_stale", code, message)
            replaced = self.member_replaced(event) if holds else None
        except SearchFailed as failed:
            return EventOutcome(event["id"], "would_fail", failed.code, describe(failed.result))
        if replaced is not None:
            return EventOutcome(event["id"], "would_be_stale", replaced[0], replaced[1])
        if holds is None:
            return EventOutcome(event["id"], "would_be_stale", 32, f"no such entry {dn}")
        if not holds:
            why = self.explain(event) or "its preconditions no longer hold"
            return EventOutcome(event["id"], "would_be_stale", 122, why)
        return EventOutcome(event["id"], "would_apply", None, event_summary(event))


CLOCK_SKEW = timedelta(seconds=60)
"""How far the server's clock may lag the apply host's (see :func:`_created_since`)."""


def _created_since(started: str | None) -> str:
    """A filter: the entry was created when (or after) its add was journalled
    ``started``, with :data:`CLOCK_SKEW` to spare for the server's clock.
    ``createTimestamp`` is kept by OpenLDAP and 389-DS and computed by Active
    Directory; a server without it (or a ``started`` time that cannot be read)
    fails the filter, so a resumed add is sent again and is ``stale`` (68): the
    safe side."""
    try:
        at = datetime.fromisoformat(started or "")
    except ValueError:
        return "(!(objectClass=*))"
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    since = (at.astimezone(UTC) - CLOCK_SKEW).strftime("%Y%m%d%H%M%SZ")
    return f"(createTimestamp>={since})"


def _conflicts(event: Event) -> list[tuple[str, int, str]]:
    """Filters that match when a modify's value-level checks would fail it.

    ``(filter, result code, why)``: a value it adds is there already (20), a
    value (or the attribute) it deletes is gone (16). Only the first change
    to each attribute is checked against the entry as it is; a later change
    depends on the earlier ones of the same modify, except an add of a value
    not deleted before it.
    """
    clauses: list[tuple[str, int, str]] = []
    seen: dict[str, set[str]] = {}  # attribute -> values deleted so far ("*": all)
    for change in event["changes"]:
        name = check_attribute(change["attribute"])
        earlier = seen.get(name.lower())
        values = list(change["values"])
        if change["op"] == "add":
            for value in values:
                if earlier is None or not ({"*", value.casefold()} & earlier):
                    clause = f"({name}={escape_filter_value(value)})"
                    clauses.append((clause, 20, f"{name} already holds {value!r}"))
        elif change["op"] == "delete" and earlier is None:
            if not values:
                clauses.append((f"(!({name}=*))", 16, f"{name} is absent"))
            for value in values:
                clause = f"(!({name}={escape_filter_value(value)}))"
                clauses.append((clause, 16, f"{name} does not hold {value!r}"))
        deleted = seen.setdefault(name.lower(), set())
        if change["op"] == "replace" or (change["op"] == "delete" and not values):
            deleted.add("*")
        elif change["op"] == "delete":
            deleted.update(v.casefold() for v in values)
    return clauses


def _show(values: Sequence[str]) -> str:
    if not values:
        return "absent"
    return ", ".join(repr(v) for v in values[:5]) + (", …" if len(values) > 5 else "")


def event_summary(event: Event) -> str:
    obj = event["object"]
    member = obj.get("member_of")
    if member:
        ops = sorted({c["op"] for c in event["changes"]})
        return f"{'/'.join(ops)} member {member.get('dn') or member.get('key')} of {obj['dn']}"
    names = ", ".join(dict.fromkeys(c["attribute"] for c in event["changes"]))
    what = f" ({names})" if names and event["operation"] != "add" else ""
    return f"{event['operation']} {obj['dn']}{what}"


# -- DNs -------------------------------------------------------------------------------

_DN_TYPES = {
    "0.9.2342.19200300.100.1.1": "uid",
    "userid": "uid",
    "2.5.4.3": "cn",
    "commonname": "cn",
    "2.5.4.11": "ou",
    "organizationalunitname": "ou",
    "0.9.2342.19200300.100.1.25": "dc",
    "domaincomponent": "dc",
    "2.5.4.10": "o",
    "organizationname": "o",
}
"""Other names of the attribute types DNs are usually made of."""

_DN_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)|([^\\])", re.S)


def _split_dn(text: str, separators: str) -> list[str]:
    parts, current, escaped = [], "", False
    for ch in text:
        if escaped:
            current += ch
            escaped = False
        elif ch == "\\":
            current += ch
            escaped = True
        elif ch in separators:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return parts


def _dn_value(raw: str) -> str:
    value = bytearray()
    for pair, char, plain in _DN_ESCAPE.findall(raw):
        value += bytes.fromhex(pair) if pair else (char or plain).encode("utf-8")
    return match_form(value.decode("utf-8", "replace"))


def dn_key(dn: str) -> str:
    """``dn`` as a server compares it, near enough to tell two spellings of one
    entry apart from two entries: RFC 4514 escapes decoded, spaces around the
    separators dropped, each value in :func:`match_form`, the usual attribute
    type aliases and OIDs named alike (``UID=b\\77ong, OU=People,…`` is
    ``uid=bwong,ou=people,…``). Used to find the creation a membership waits
    for, and the group in a member's ``memberOf`` when resuming."""
    rdns = []
    for rdn in _split_dn(dn.strip(), ",;"):
        avas = []
        for ava in _split_dn(rdn, "+"):
            name, _, value = ava.partition("=")
            name = name.strip().casefold()
            avas.append(f"{_DN_TYPES.get(name, name)}={_dn_value(value)}")
        rdns.append("+".join(sorted(avas)))
    return ",".join(rdns)
