"""Execute an approved plan against an LDAP server (``recondiff apply``, docs/plan.md).

Only :func:`recondiff.plan.file.runnable` events run (approved or auto endpoint
events, in plan order); pending and rejected ones are journalled ``skipped``;
repository events never run. Each event is one LDAP operation (add, delete or
one modify), carrying its ``preconditions`` as an RFC 4528 assertion control
when the server supports it, so that a value changed since the diff fails the
operation atomically on the server (the event is then ``stale``, never forced).

The journal (JSON Lines, one fsynced line per state change) makes a re-run
resume: an event the journal records ``applied``, ``stale`` or ``failed`` is
never sent again (whatever its approval says later), and one left ``started``
(the process or the server died after it was sent) is looked up on the server
and recorded ``applied`` if its changes are there, else sent again (or
``skipped`` if it is no longer approved). A lost connection therefore stops the
run with a one-line error instead of recording the event ``failed``: re-running
the same command applies every event exactly once. ``JOURNAL.lock`` is taken
before the journal is read, so a second apply of the plan stops at once; a
file that is not a journal of this plan is refused, never cut. The groups
planned for an account the plan creates are sent only once its ``add`` is
applied (a stale or failed creation makes them ``stale``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import getpass
import json
import os
import re
import socket
import ssl
import stat
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder as ber_encoder

from recondiff.config.load import Config, PlanConfig, load_config
from recondiff.errors import ConfigError, ExitCode, InputError, RecondiffError
from recondiff.io.atomic import fsync_directory
from recondiff.plan.file import Event, Plan, load_plan, runnable

ASSERTION_CONTROL = "1.3.6.1.1.12"
"""RFC 4528: the operation is performed only if the entry matches a filter."""

STALE_RESULTS = {
    122: "assertionFailed",
    16: "noSuchAttribute",
    20: "attributeOrValueExists",
    32: "noSuchObject",
    68: "entryAlreadyExists",
}
"""Result codes that mean the object changed since the diff: the event is ``stale``."""

UNAVAILABLE_RESULTS = {51: "busy", 52: "unavailable"}
"""The server could not take the operation now: stop, the re-run resumes."""

FINAL = ("applied", "stale", "failed", "in_doubt")
"""Journal outcomes after which an event is never sent again (``in_doubt``: a
membership resumed whose member's memberOf does not agree, left for a human)."""

MASS_OPERATIONS = ("delete", "disable")

Progress = Callable[[str], None]

_ATTRIBUTE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9-]*|[0-9]+(?:\.[0-9]+)+)(?:;[A-Za-z0-9-]+)*$")
_UID_SUFFIX = re.compile(r"#'[01]*'B$")
_FILTER_SAFE = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,@+/")


class LdapError(RecondiffError):
    """Cannot connect, bind, or keep the connection to the LDAP server."""


class JournalError(InputError):
    """The journal cannot be read, belongs to another plan, or is in use."""


@dataclass(frozen=True)
class LdapTarget:
    """Where to apply: ``ldap://`` or ``ldaps://`` URL, simple bind, optional StartTLS."""

    url: str
    bind_dn: str
    password: str = field(repr=False)
    starttls: bool = False
    ca_file: Path | None = None
    timeout: float = 30.0
    allow_plaintext: bool = False
    """Send the password over ``ldap://`` without StartTLS (``--allow-plaintext``)."""


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


@dataclass
class ApplyResult:
    outcomes: list[EventOutcome]
    journal: Path
    dry_run: bool
    assertion_control: bool

    def counts(self) -> dict[str, int]:
        tally: dict[str, int] = {}
        for item in self.outcomes:
            tally[item.outcome] = tally.get(item.outcome, 0) + 1
        return tally

    @property
    def exit_code(self) -> int:
        """0 when every event to run was applied (or would be), else 1."""
        bad = ("stale", "failed", "in_doubt", "would_be_stale", "would_fail")
        if any(item.outcome in bad for item in self.outcomes):
            return ExitCode.DIFFERENCES
        return ExitCode.IN_SYNC


# -- filters and the assertion control ------------------------------------------------


def escape_filter_value(value: str) -> str:
    """RFC 4515 escaping; every byte outside a plain set is written ``\\hh``.

    Escaping spaces too keeps leading and trailing ones (ldap3's parser strips
    unescaped ones) and makes the filter unambiguous for any value.
    """
    return "".join(chr(b) if b in _FILTER_SAFE else f"\\{b:02x}" for b in value.encode("utf-8"))


def _check_attribute(name: str) -> str:
    if not _ATTRIBUTE.match(name):
        raise ValueError(f"{name!r} is not an LDAP attribute description")
    return name


def _and(clauses: Sequence[str]) -> str | None:
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else "(&" + "".join(clauses) + ")"


UUID_ATTRIBUTES = frozenset({"entryuuid", "objectguid"})
"""Attributes naming an entry for good: a DN re-used by another object has another one."""


def _guid_bytes(value: str) -> bytes | None:
    """AD's objectGUID as the 16 bytes it stores: from the GUID string
    (``Get-ADUser``'s ``ObjectGUID``, byte order of Windows) or base64 (ldifde)."""
    try:
        return uuid.UUID(value.strip().strip("{}")).bytes_le
    except ValueError:
        pass
    try:
        data = base64.b64decode(value, validate=True)
    except ValueError:
        return None
    return data if len(data) == 16 else None


def filter_value(attribute: str, value: str) -> str:
    """A value escaped for a filter on ``attribute`` (objectGUID: its binary form)."""
    if attribute.lower() == "objectguid":
        data = _guid_bytes(value)
        if data is not None:
            return "".join(f"\\{b:02x}" for b in data)
    return escape_filter_value(value)


def assertion_filter(preconditions: Sequence[dict[str, Any]]) -> str | None:
    """``(&(attr=v)…)``, with ``(!(attr=*))`` for an attribute that must be absent."""
    clauses: list[str] = []
    for condition in preconditions:
        name = _check_attribute(condition["attribute"])
        if not condition["values"]:
            clauses.append(f"(!({name}=*))")
        clauses += [f"({name}={filter_value(name, v)})" for v in condition["values"]]
    return _and(clauses)


def changes_filter(changes: Sequence[dict[str, Any]]) -> str | None:
    """A filter that holds once a modify's ``changes`` are in the entry (for resuming)."""
    clauses: list[str] = []
    for change in changes:
        name = _check_attribute(change["attribute"])
        values = [escape_filter_value(v) for v in change["values"]]
        if change["op"] in ("add", "replace"):
            clauses += [f"({name}={v})" for v in values]
            if change["op"] == "replace" and not values:
                clauses.append(f"(!({name}=*))")
        elif values:
            clauses += [f"(!({name}={v}))" for v in values]
        else:
            clauses.append(f"(!({name}=*))")
    return _and(clauses)


MEMBER_ATTRIBUTES = frozenset({"member", "uniquemember"})
"""Attributes holding a group's members by DN."""

MEMBER_LISTS = MEMBER_ATTRIBUTES | {"memberuid"}
"""Attributes holding a group's members (whose removals are counted one by one)."""

NAME_ATTRIBUTES = MEMBER_LISTS | {"uid", "samaccountname"}
"""Attributes whose values name an account (a member DN, a memberUid, a login name):
a value written to one of them is checked against the protected keys, whatever
the event's labels say (``memberUid: administrator`` on a posixGroup, or a second
``uid: administrator`` on another entry)."""


def membership_event(event: Event) -> bool:
    """An event that changes a group's member list (``object.member_of``, or ``member`` changes)."""
    if event["object"].get("member_of") is not None:
        return True
    return any(c["attribute"].lower() in MEMBER_ATTRIBUTES for c in event["changes"])


def split_preconditions(event: Event) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(for the assertion control, to check by a search first)``.

    OpenLDAP's memberof overlay (2.5) applies a group modify's assertion control
    to its own internal update of each member's ``memberOf`` too, where it does
    not hold, and then silently leaves ``memberOf`` stale. So a membership event
    carries no assertion: its preconditions are the member values it deletes,
    which the modify checks by itself (a value already gone fails with 16), and
    any other precondition is checked with a base search just before sending
    (not atomic). Other events send all their preconditions as the control.
    """
    preconditions = list(event["preconditions"])
    if not membership_event(event):
        return preconditions, []
    deleted: dict[str, set[str]] = {}
    for change in event["changes"]:
        if change["op"] == "delete":
            deleted.setdefault(change["attribute"].lower(), set()).update(change["values"])
    rest = [
        c
        for c in preconditions
        if not c["values"] or not set(c["values"]) <= deleted.get(c["attribute"].lower(), set())
    ]
    return [], rest


def assertion_control(filter_text: str) -> tuple[str, bool, bytes]:
    """The RFC 4528 control for ``filter_text``: its BER-encoded Filter, critical."""
    tree = parse_filter(filter_text, None, True, False, None, False)
    ber: bytes = ber_encoder.encode(compile_filter(tree.elements[0]))
    return (ASSERTION_CONTROL, True, ber)


# -- plan-level checks -------------------------------------------------------------------


@dataclass(frozen=True)
class MassGuard:
    """One mass-change limit: what it counts, its ``[plan]`` keys and its override flag."""

    name: str
    count_key: str
    percent_key: str
    flag: str
    what: str  # "... {n} ...", after "the plan "


GUARDS = (
    MassGuard(
        "deletes", "max_deletes", "max_delete_percent", "--allow-mass-change",
        "deletes or disables {n} accounts",
    ),
    MassGuard(
        "value_removals", "max_value_removals", "max_value_removal_percent",
        "--allow-value-removals", "removes attribute values from {n} accounts",
    ),
    MassGuard(
        "membership_removals", "max_membership_removals", "max_membership_removal_percent",
        "--allow-membership-removals", "removes {n} group memberships",
    ),
    MassGuard(
        "modifies", "max_modifies", "max_modify_percent", "--allow-modifies",
        "sends {n} modifies",
    ),
)  # fmt: skip
"""Every mass-change limit ``apply`` and ``plan ldif`` enforce (docs/plan.md, Guards)."""


def _removes_values(event: Event) -> bool:
    """A modify that leaves some attribute with fewer values and none new: blanked,
    or cut down to some of its values (``delete: mail a, b, c`` then ``add: mail a``;
    ``replace: mail a`` where the preconditions saw ``a, b``). Values compare in
    :func:`match_form`; blanks and invisible characters are no value."""
    seen = {
        c["attribute"].lower(): {match_form(v) for v in c["values"]} - {""}
        for c in event["preconditions"]
    }
    gone: dict[str, set[str] | None] = {}  # None: every value
    added: dict[str, set[str]] = {}
    for change in event["changes"]:
        name = change["attribute"].lower()
        values = {match_form(v) for v in change["values"]} - {""}
        if change["op"] == "replace" or (change["op"] == "delete" and not change["values"]):
            gone[name] = None
        elif change["op"] == "delete":
            earlier = gone.setdefault(name, set())
            if earlier is not None:
                earlier.update(values)
        if change["op"] in ("add", "replace"):
            added.setdefault(name, set()).update(values)
    for name, lost in gone.items():
        new = added.get(name, set())
        old = lost if lost is not None else seen.get(name)
        if old is None:  # every value goes, which ones the plan does not say
            if not new:
                return True
        elif old - new and not new - old:
            return True
    return False


def _member_removals(event: Event) -> int:
    """Members a modify removes: each member value deleted (``member``,
    ``uniqueMember``, ``memberUid``), so that one event deleting 400 members
    counts 400; a value-less delete or a ``replace`` (a whole member list, refused
    by :func:`refusal`) counts 1."""
    removed = 0
    for change in event["changes"]:
        if change["attribute"].lower() not in MEMBER_LISTS or change["op"] == "add":
            continue
        removed += len(change["values"]) if change["op"] == "delete" and change["values"] else 1
    return removed


def _disables(event: Event, markers: Sequence[tuple[str, str]]) -> bool:
    """A modify that disables an account without saying so: it sets AD's
    ACCOUNTDISABLE bit in userAccountControl, OpenLDAP's pwdAccountLockedTime,
    389-DS's nsAccountLock, or a ``method = "attribute"`` value (``markers``:
    ``(attribute, value)`` in :func:`match_form`, from the plan and the config)."""
    for change in event["changes"]:
        if change["op"] not in ("add", "replace"):
            continue
        name = change["attribute"].lower()
        values = [match_form(v) for v in change["values"]]
        if name == "useraccountcontrol" and any(v.isdigit() and int(v) & 2 for v in values):
            return True
        if name == "pwdaccountlockedtime" and values:
            return True
        if name == "nsaccountlock" and "true" in values:
            return True
        if any(name == a and value in values for a, value in markers):
            return True
    return False


def _disable_markers(plan: Plan, config: Config | None) -> list[tuple[str, str]]:
    specs = [plan["endpoint"]["disable"]]
    if config is not None:
        specs.append(
            {"attribute": config.endpoint.disable.attribute, "value": config.endpoint.disable.value}
        )
    return [
        (str(spec["attribute"]).lower(), match_form(str(spec["value"])))
        for spec in specs
        if spec.get("attribute") and spec.get("value")
    ]


def mass_counts(plan: Plan, config: Config | None = None) -> dict[str, int]:
    """What each guard counts among the events ``apply`` runs: deletes and disables;
    accounts losing attribute values (a modify that deletes values and adds none to
    that attribute, blanks and invisible characters counting as none); members
    removed from groups (each value, :func:`_member_removals`); modify operations
    (enables included: a modify on the server). A modify that disables (AD's
    userAccountControl bit, a lock attribute, the configured disable value) counts
    as a disable too: relabelling a disable as a modify does not escape its limit."""
    counts = dict.fromkeys((g.name for g in GUARDS), 0)
    losing: set[str] = set()
    markers = _disable_markers(plan, config)
    for event in runnable(plan):
        operation = event["operation"]
        if operation in MASS_OPERATIONS or (
            operation == "modify" and _disables(event, markers)
        ):
            counts["deletes"] += 1
        if operation == "enable":  # a modify on the server: re-activating accounts
            counts["modifies"] += 1
        if operation != "modify":
            continue
        counts["modifies"] += 1
        removed = _member_removals(event)
        if removed or membership_event(event):
            counts["membership_removals"] += removed
        elif _removes_values(event):
            obj = event["object"]
            losing.add(str(obj.get("dn") or obj.get("key") or event["id"]).casefold())
    counts["value_removals"] = len(losing)
    return counts


def safety_limits(
    plan: Plan, config: Config | None = None
) -> dict[str, tuple[int, float, str, str]]:
    """Each guard's ``(count, percent, where, where)``: the stricter of the plan's
    ``safety`` and the config's ``[plan]`` (a plan written before a limit existed
    has the default); each ``where`` names the config when its value is in force."""
    defaults = PlanConfig()
    limits: dict[str, tuple[int, float, str, str]] = {}
    for guard in GUARDS:
        count = int(plan["safety"].get(guard.count_key, getattr(defaults, guard.count_key)))
        percent = float(plan["safety"].get(guard.percent_key, getattr(defaults, guard.percent_key)))
        count_where = percent_where = ""
        if config is not None:
            mine_count = int(getattr(config.plan, guard.count_key))
            mine_percent = float(getattr(config.plan, guard.percent_key))
            if mine_count < count:
                count, count_where = mine_count, f" in {config.path}"
            if mine_percent < percent:
                percent, percent_where = mine_percent, f" in {config.path}"
        limits[guard.name] = (count, percent, count_where, percent_where)
    return limits


class SafetyError(InputError):
    """The plan changes more than its mass-change limits allow: one line per limit."""

    def __init__(self, lines: Sequence[str]) -> None:
        clean = [" ".join(line.split()) for line in lines]
        Exception.__init__(self, "\n".join(clean))
        self.lines = clean


def check_safety(
    plan: Plan,
    allow: Mapping[str, int | None],
    source: Path | str,
    config: Config | None = None,
) -> None:
    """Refuse the whole apply (or LDIF) when the plan changes too much at once.

    ``allow`` maps a guard's name to the count its override flag accepts."""
    counts = mass_counts(plan, config)
    limits = safety_limits(plan, config)
    rows = plan["inputs"]["endpoint"]["rows"]
    over: list[str] = []
    for guard in GUARDS:
        count = counts[guard.name]
        limit, percent, count_where, percent_where = limits[guard.name]
        share = 100.0 * count / rows if rows else (100.0 if count else 0.0)
        if count <= limit and share <= percent:
            continue
        allowed = allow.get(guard.name)
        if allowed is not None and allowed >= count:
            continue
        over.append(
            f"{source}: the plan {guard.what.format(n=count)} ({share:.1f}% of the "
            f"endpoint's {rows} rows), over its safety limits ({guard.count_key} {limit}"
            f"{count_where}, {guard.percent_key} {percent:g}{percent_where}); review the plan, "
            f"then allow it with {guard.flag} {count}"
        )
    if over:
        raise SafetyError(over)


def config_named_by(plan: Plan) -> Config:
    """The config file the plan was made from, as it reads now: the config in
    force when ``apply`` is not given ``--config``."""
    named = Path(plan["config"]["path"])
    if not named.is_file():
        raise ConfigError(
            f"the plan was made from the config {named}, which is not here; pass the config "
            "in force with --config recondiff.toml (its protected keys and mass-change limits "
            "are enforced with the plan's)"
        )
    return load_config(named)


def check_plan(
    plan: Plan, config: Config | None, allow: Mapping[str, int | None], source: Path | str
) -> frozenset[str]:
    """What ``apply`` and ``plan ldif`` both check before any event: the config is
    the plan's endpoint's (:func:`check_config`) and the plan is within its
    mass-change limits (:func:`check_safety`). Returns the protected names in
    force (:func:`protected_names`)."""
    check_config(plan, config)
    check_safety(plan, allow, source, config)
    return protected_names(plan, config)


def check_config(plan: Plan, config: Config | None) -> None:
    """The config given at apply time must be the plan's endpoint's."""
    if config is not None and config.endpoint.name != plan["endpoint"]["name"]:
        raise ConfigError(
            f"{config.path}: [endpoint] name {config.endpoint.name!r} is not the plan's "
            f"endpoint {plan['endpoint']['name']!r}; pass the config the plan was made with"
        )


# -- protected accounts ----------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")


def match_form(value: str) -> str:
    """A name as LDAP string matching sees it (RFC 4518, loosely and on the safe
    side): compatibility-normalised, case-folded, format characters (zero-width
    space, soft hyphen, ...) dropped, runs of spaces one space, no outer spaces."""
    text = unicodedata.normalize("NFKC", value)
    # U+0130 (İ) case-folds to "i" + U+0307 in Python; OpenLDAP folds it to "i",
    # so uid=admİnistrator names the administrator on slapd.
    text = unicodedata.normalize("NFKC", text.casefold()).replace("i\u0307", "i")
    text = "".join(c for c in text if unicodedata.category(c) != "Cf")
    return " ".join(text.split())


def _ber_content(data: bytes) -> bytes:
    """The content octets of a BER TLV (``#04...`` in a DN), else the bytes as they are."""
    if len(data) < 2:
        return data
    length, at = data[1], 2
    if length & 0x80:
        size = length & 0x7F
        if size == 0 or len(data) < 2 + size:
            return data
        length, at = int.from_bytes(data[2 : 2 + size], "big"), 2 + size
    return data[at : at + length] if len(data) >= at + length else data


def first_rdn_values(dn: str | None) -> list[str]:
    """The values of a DN's first RDN, decoded as a server reads them (RFC 4514):
    ``\\hh`` and ``\\c`` escapes, ``#hex`` BER values, quoted values (RFC 1779),
    outer spaces ignored, ``+`` between values, ``,`` or ``;`` ending the RDN."""
    if not dn:
        return []
    values: list[str] = []
    i, n = 0, len(dn)
    while i < n:
        eq = dn.find("=", i)
        if eq < 0:
            break
        i = eq + 1
        while i < n and dn[i] == " ":
            i += 1
        raw = bytearray()
        if i < n and dn[i] == "#":
            j = i + 1
            while j < n and dn[j] in _HEX:
                j += 1
            digits = dn[i + 1 : j]
            try:
                raw += _ber_content(bytes.fromhex(digits[: len(digits) // 2 * 2]))
            except ValueError:
                raw += digits.encode()
            i = j
        elif i < n and dn[i] == '"':
            i += 1
            while i < n and dn[i] != '"':
                if dn[i] == "\\" and i + 1 < n:
                    i += 1
                raw += dn[i].encode()
                i += 1
            i += 1
        else:
            trailing = 0  # unescaped spaces at the end are not part of the value
            while i < n and dn[i] not in ",;+":
                pair = dn[i + 1 : i + 3]
                if dn[i] == "\\" and len(pair) == 2 and all(c in _HEX for c in pair):
                    raw.append(int(dn[i + 1 : i + 3], 16))
                    i += 3
                    trailing = 0
                elif dn[i] == "\\" and i + 1 < n:
                    raw += dn[i + 1].encode()
                    i += 2
                    trailing = 0
                else:
                    raw += dn[i].encode()
                    trailing = trailing + 1 if dn[i] == " " else 0
                    i += 1
            if trailing:
                del raw[-trailing:]
        values.append(raw.decode("utf-8", "replace"))
        while i < n and dn[i] == " ":
            i += 1
        if i >= n or dn[i] in ",;":
            break
        i += 1  # "+": the next value of a multi-valued RDN
    return values


def protected_names(plan: Plan, config: Config | None = None) -> frozenset[str]:
    """The plan's and the config's protected keys, in :func:`match_form`."""
    names = list(plan["endpoint"]["protected"])
    if config is not None:
        names += list(config.endpoint.protected)
    return frozenset(form for form in map(match_form, names) if form)


def _touched_names(event: Event, names: frozenset[str]) -> Iterator[str]:
    """Every name an event acts on: keys, the first RDN of its DN and its member's,
    the values it writes to ``names`` (:data:`NAME_ATTRIBUTES` and the key attribute),
    and for a membership event every value it sends (a member DN, or a memberUid)."""
    membership = membership_event(event)
    obj = event["object"]
    member = obj.get("member_of") or {}
    yield from (n for n in (obj.get("key"), member.get("key")) if n)
    yield from first_rdn_values(obj.get("dn"))
    yield from first_rdn_values(member.get("dn"))
    for change in event["changes"]:
        if membership or change["attribute"].lower() in names:
            for value in change["values"]:
                yield value
                yield from first_rdn_values(value)


def _sent_dns(event: Event) -> Iterator[str]:
    """The DNs an event names: its object's, its member's, the values of a membership change."""
    obj = event["object"]
    yield from (d for d in (obj.get("dn"), (obj.get("member_of") or {}).get("dn")) if d)
    if membership_event(event):
        yield from (v for c in event["changes"] for v in c["values"])


def refusal(plan: Plan, event: Event, protected: frozenset[str] | None = None) -> str | None:
    """Why ``event`` must not run at all (no DN, protected key, not an LDAP operation).

    ``protected``: :func:`protected_names` (default: the plan's own list)."""
    obj = event["object"]
    if not obj.get("dn"):
        return (
            "the endpoint snapshot had no DN column (dn or distinguishedName), "
            "so the event has no DN to change; export the DN and re-run compare"
        )
    member = obj.get("member_of")
    if member is not None and not member.get("dn"):
        return (
            "the endpoint snapshot had no DN column (dn or distinguishedName), "
            "so the member to add or remove has no DN; export the DN and re-run compare"
        )
    extended = next((n for n in _sent_dns(event) if n.lstrip().startswith("<")), None)
    if extended is not None:
        return (
            f"{extended} is in AD's extended DN form (<GUID=...>, <SID=...>), which names an "
            "entry without its name; recondiff sends only plain DNs, so that protected "
            "accounts are recognised: export distinguishedName as a plain DN"
        )
    whole = next(
        (
            c["attribute"]
            for c in event["changes"]
            if c["attribute"].lower() in MEMBER_LISTS
            and event["operation"] != "add"
            and (c["op"] == "replace" or (c["op"] == "delete" and not c["values"]))
        ),
        None,
    )
    if whole is not None:
        return (
            f"it replaces or empties the whole {whole} list of {obj['dn']}; recondiff adds "
            "and removes members one value at a time, so that each is checked and counted"
        )
    if protected is None:
        protected = protected_names(plan)
    names = NAME_ATTRIBUTES | {str(plan["endpoint"]["key_attribute"]).lower()}
    hit = next((n for n in _touched_names(event, names) if match_form(n) in protected), None)
    if hit is not None:
        return f"{hit} is a protected account ([endpoint] protected); recondiff never changes it"
    if event["operation"] not in ("add", "modify", "delete", "disable", "enable"):
        return f"operation {event['operation']} is not an endpoint operation"
    try:
        assertion_filter(event["preconditions"])
        changes_filter(event["changes"])
    except ValueError as exc:
        return str(exc)
    return None


# -- the journal -----------------------------------------------------------------------


def default_journal(plan_path: Path | str) -> Path:
    """``PLAN`` with ``.journal.jsonl`` (``out/plan.json`` -> ``out/plan.journal.jsonl``).

    A plan given by a symbolic link has the journal of the file it names, so
    the plan reached by its link and by its own name has one journal (and one
    lock), not two that each send everything."""
    path = Path(plan_path)
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    return path.with_suffix(".journal.jsonl")


class Journal:
    """The JSON Lines record of an apply; see the module docstring.

    :meth:`lock` takes ``JOURNAL.lock`` before :meth:`read` reads the journal,
    so two applies of one plan never act on the same reading; :meth:`read`
    refuses a file recondiff did not write, so :meth:`open` never cuts off
    anything but a half-written record of its own.
    """

    def __init__(self, path: Path, plan_id: str, digest: str) -> None:
        # Keyed by the plan id, not its digest: approving more events later
        # changes the digest but not the events, and a re-run with the same
        # journal must still skip what is done (event ids are content hashes).
        self.path = path
        self.plan_id = plan_id
        self.digest = digest
        self.last: dict[str, dict[str, Any]] = {}
        self.done: dict[str, dict[str, Any]] = {}
        """Each event's last ``applied``/``stale``/``failed`` line: never sent again."""
        self._handle: IO[str] | None = None
        self._lock: _Lock | None = None
        self._size = 0
        self._complete = 0

    def _check_kind(self) -> bool:
        """True when the journal exists (as a regular file: else refused)."""
        try:
            info = self.path.lstat()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot read the journal ({exc.strerror or exc})"
            ) from None
        if stat.S_ISLNK(info.st_mode):
            # As for the lock: a link planted in the output directory could
            # make apply create or append to any file of the operator's.
            raise JournalError(
                f"{self.path}: is a symbolic link; recondiff does not follow it (it could "
                "name any file): pass the journal file itself as --journal"
            )
        if not stat.S_ISREG(info.st_mode):
            raise JournalError(
                f"{self.path}: not a regular file; the journal is a file recondiff writes "
                "and resumes from: pass another --journal"
            )
        return True

    def lock(self) -> None:
        """Take the journal's lock (``JOURNAL.lock``), then read the journal."""
        if self._lock is not None:
            return
        self._check_kind()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        self._lock = _Lock(Path(f"{self.path}.lock"))
        try:
            self._lock.acquire(self.plan_id)
            self.read()
        except BaseException:
            self.close()
            raise

    def read(self) -> None:
        """Read what earlier runs recorded (a dry run reads without the lock)."""
        self.last.clear()
        self.done.clear()
        if not self._check_kind():
            self._size = self._complete = 0
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC | _NOFOLLOW)
            with os.fdopen(fd, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot read the journal ({exc.strerror or exc})"
            ) from None
        complete = data.rfind(b"\n") + 1
        for number, raw in enumerate(data[:complete].split(b"\n")[:-1], start=1):
            self._take(number, raw)
        # A last line without its newline was being written when the process died:
        # that state change never completed, so it is ignored (and cut off on append),
        # but only when it is the start of a record: another file is never cut.
        if not _record_start(data[complete:]):
            number = data.count(b"\n") + 1
            raise JournalError(
                f"{self.path}: line {number} is incomplete and not a recondiff "
                "journal record; recondiff does not overwrite a file it did not write: "
                "pass another --journal"
            )
        self._size = len(data)
        self._complete = complete

    def _take(self, number: int, raw: bytes) -> None:
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):  # RecursionError: brackets nested too deep
            record = None
        if not isinstance(record, dict):
            raise JournalError(
                f"{self.path}: line {number} is not a recondiff journal record (not a JSON "
                "object); recondiff does not overwrite a file it did not write: "
                "pass another --journal"
            )
        for name, kinds, expected in _RECORD_FIELDS:
            if name not in record:
                raise JournalError(
                    f"{self.path}: line {number} has no {name!r} field, so it is not a record "
                    "recondiff wrote; restore the journal or pass another --journal"
                )
            value = record[name]
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise JournalError(
                    f"{self.path}: line {number}: {name!r} is {_json_kind(value)}, not "
                    f"{expected}, so it is not a record recondiff wrote; restore the journal "
                    "or pass another --journal"
                )
        event, outcome, plan = record["event"], record["outcome"], record["plan"]
        if plan != self.plan_id:
            raise JournalError(
                f"{self.path}: this journal belongs to another plan ({plan}, "
                f"this plan is {self.plan_id}); pass a new --journal for this plan"
            )
        if outcome not in (*FINAL, "started", "skipped"):
            raise JournalError(f"{self.path}: line {number}: unknown outcome {outcome!r}")
        self.last[event] = record
        if outcome in FINAL:
            self.done[event] = record

    def outcome(self, event_id: str) -> str | None:
        record = self.last.get(event_id)
        return None if record is None else str(record["outcome"])

    def open(self) -> None:
        """Lock and read (unless done), open for appending, cut off a half-written last line."""
        self.lock()
        try:
            created = not os.path.lexists(self.path)
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW
            handle = os.fdopen(os.open(self.path, flags, 0o644), "a", encoding="utf-8")
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        # The journal itself is locked too: under another name (a hard link)
        # it has another JOURNAL.lock, but it is the same file.
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX: no lock
            pass
        except OSError as exc:
            handle.close()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise JournalError(
                    f"{self.path}: another recondiff apply is using this journal (under "
                    "another name: a link to it); wait for it to finish"
                ) from None
            raise JournalError(
                f"{self.path}: cannot lock the journal ({exc.strerror or exc})"
            ) from None
        size = os.fstat(handle.fileno()).st_size
        if size != self._size:
            handle.close()
            raise JournalError(
                f"{self.path}: the journal changed while recondiff was reading it "
                "(something other than recondiff apply writes it); pass another --journal"
            )
        if self._complete != size:
            handle.truncate(self._complete)
        self._handle = handle
        if created:
            fsync_directory(self.path.parent)

    def record(self, event_id: str, outcome: str, result: int | None, message: str) -> None:
        record = {
            "event": event_id,
            "outcome": outcome,
            "result": result,
            "message": message,
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "plan": self.plan_id,
            "digest": self.digest,
        }
        assert self._handle is not None
        line = json.dumps(record, ensure_ascii=False)
        if not line.isprintable():
            # JSON escapes only C0 controls: DEL, C1 (U+009B is CSI), bidirectional
            # overrides and lone surrogates from directory data are escaped too, so
            # `tail -f` of the journal is as safe on a terminal as apply's output.
            line = "".join(ch if ch.isprintable() else json.dumps(ch)[1:-1] for ch in line)
        try:
            self._handle.write(line + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        self.last[event_id] = record
        if outcome in FINAL:
            self.done[event_id] = record

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)

_RECORD_FIELDS: tuple[tuple[str, type | tuple[type, ...], str], ...] = (
    ("event", str, "a string"),
    ("outcome", str, "a string"),
    ("result", (int, type(None)), "a number or null"),
    ("message", str, "a string"),
    ("at", str, "a string"),
    ("plan", str, "a string"),
    ("digest", str, "a string"),
)
"""Every field :meth:`Journal.record` writes, with the JSON type it has."""

_RECORD_HEAD = b'{"event": "ev-################", "outcome": "'
"""How every record starts (``#``: a hex digit), as ``json.dumps`` writes it."""


def _record_start(tail: bytes) -> bool:
    """Could ``tail`` (a last line without its newline) be a record cut short?

    Empty, the start of a record, or NUL bytes (a file system may leave them
    after a power loss) are; anything else was not written by recondiff.
    """
    text = tail.rstrip(b"\0")
    for got, want in zip(text, _RECORD_HEAD, strict=False):
        if want == ord("#"):
            if got not in b"0123456789abcdef":
                return False
        elif got != want:
            return False
    return True


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


class _Lock:
    """``JOURNAL.lock``: an exclusive ``flock`` for the whole apply, naming its holder.

    The lock is the ``flock`` (the kernel drops it when the process dies, so a
    killed apply never leaves the journal locked); the file's content (pid,
    user, host, start time) only tells a second apply who holds it. It is
    removed while still locked, so a process that opened the old file checks
    that the path still names what it locked, else opens it again.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, plan_id: str) -> None:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        for _attempt in range(50):
            try:
                flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | _NOFOLLOW
                fd = os.open(self.path, flags, 0o644)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise JournalError(
                        f"{self.path}: is a symbolic link; recondiff does not follow it (it "
                        "could name any file): remove it"
                    ) from None
                raise JournalError(
                    f"{self.path}: cannot create the journal's lock ({exc.strerror or exc})"
                ) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _holder(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise JournalError(
                        f"{self.path}: another recondiff apply is using this journal "
                        f"({holder}); wait for it to finish"
                    ) from None
                raise JournalError(
                    f"{self.path}: cannot lock the journal ({exc.strerror or exc})"
                ) from None
            try:
                now = os.stat(self.path)
            except FileNotFoundError:
                now = None
            mine = os.fstat(fd)
            if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
                break
            os.close(fd)  # removed or replaced by the apply that held it: open it again
        else:  # pragma: no cover - fifty applies ending in turn meanwhile
            raise JournalError(f"{self.path}: cannot take the journal's lock; try again")
        if not stat.S_ISREG(mine.st_mode) or (mine.st_size and _holder_info(fd) is None):
            os.close(fd)
            raise JournalError(
                f"{self.path}: exists and is not a recondiff lock; recondiff does not "
                "overwrite a file it did not write: move it away"
            )
        self._fd = fd
        me = {
            "pid": os.getpid(),
            "user": _user(),
            "host": socket.gethostname(),
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
            "plan": plan_id,
        }
        with contextlib.suppress(OSError):  # only informative
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me, ensure_ascii=False).encode("utf-8") + b"\n", 0)

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            self.path.unlink()
        os.close(self._fd)
        self._fd = None


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no name for this uid (a container): the number
        return str(os.getuid())


def _holder_info(fd: int) -> dict[str, Any] | None:
    """The lock file's content, when it is what :meth:`_Lock.acquire` writes."""
    try:
        info = json.loads(os.pread(fd, 4096, 0))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("pid"), int):
        return None
    return info


def _holder(fd: int) -> str:
    """Who holds the lock, from the lock file (``pid 123, user@host, since …``)."""
    info = _holder_info(fd)
    if info is None:
        return "holder unknown: its lock file names none yet"
    user, host, since = (str(info.get(k))[:100] for k in ("user", "host", "since"))
    return f"pid {info['pid']}, {user}@{host}, since {since}"


# -- the connection ------------------------------------------------------------------


class _Lost(Exception):
    """The connection broke during an operation (becomes an :class:`LdapError`)."""


_CONNECTION_ERRORS = (
    ldap_exc.LDAPCommunicationError,
    ldap_exc.LDAPResponseTimeoutError,
    ldap_exc.LDAPMaximumRetriesError,
    ldap_exc.LDAPSocketOpenError,
    OSError,
)


def _server(target: LdapTarget) -> ldap3.Server:
    parts = urlsplit(target.url)
    scheme = parts.scheme.lower()
    if scheme not in ("ldap", "ldaps") or not parts.hostname:
        raise LdapError(
            f"{target.url}: not an LDAP URL; use ldap://HOST[:PORT] or ldaps://HOST[:PORT]"
        )
    if parts.path not in ("", "/") or parts.query:
        raise LdapError(f"{target.url}: give only the server (ldap://HOST:PORT), not a DN or query")
    if scheme == "ldaps" and target.starttls:
        raise LdapError(f"{target.url}: StartTLS is for ldap:// URLs; ldaps:// is TLS already")
    try:
        port = parts.port or (636 if scheme == "ldaps" else 389)
    except ValueError:
        raise LdapError(f"{target.url}: the port is not a number") from None
    tls = None
    if scheme == "ldaps" or target.starttls:
        if target.ca_file is not None and not Path(target.ca_file).is_file():
            raise LdapError(f"{target.ca_file}: no such CA file (--ca-file)")
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED,
            ca_certs_file=str(target.ca_file) if target.ca_file else None,
            sni=parts.hostname,
        )
    return ldap3.Server(
        unquote(parts.hostname),
        port=port,
        use_ssl=scheme == "ldaps",
        tls=tls,
        get_info=ldap3.NONE,
        connect_timeout=target.timeout,
    )


def connect(target: LdapTarget, *, read_only: bool = False) -> ldap3.Connection:
    """Open, secure and bind; any failure is one :class:`LdapError` line naming the URL."""
    if not target.password:
        raise LdapError(f"{target.url}: the bind password is empty; give the service account's")
    server = _server(target)
    if not server.ssl and not target.starttls and not target.allow_plaintext:
        raise LdapError(
            f"{target.url}: refusing to send the bind password unencrypted over ldap://; "
            "add --starttls or use ldaps://, or accept that anyone on the network path "
            "can read it with --allow-plaintext"
        )
    conn = ldap3.Connection(
        server,
        user=target.bind_dn,
        password=target.password,
        auto_bind=ldap3.AUTO_BIND_NONE,
        raise_exceptions=False,
        read_only=read_only,
        check_names=False,
        auto_referrals=False,
        receive_timeout=max(1, round(target.timeout)),
    )
    try:
        conn.open()
        if target.starttls and not conn.start_tls():
            raise LdapError(f"{target.url}: StartTLS failed ({_describe(conn.result)})")
        if not conn.bind():
            raise LdapError(
                f"{target.url}: bind as {target.bind_dn} failed ({_describe(conn.result)})"
            )
    except LdapError:
        _unbind(conn)
        raise
    except (ldap_exc.LDAPException, OSError) as exc:
        _unbind(conn)
        raise LdapError(f"{target.url}: cannot connect ({_exception_text(exc)})") from None
    return conn


def _unbind(conn: ldap3.Connection) -> None:
    with contextlib.suppress(Exception):
        conn.unbind()


def _exception_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


def _describe(result: dict[str, Any] | None) -> str:
    if not result:
        return "no answer"
    code = result.get("result")
    text = f"{result.get('description') or 'error'} ({code})"
    message = " ".join(str(result.get("message") or "").split())
    return f"{text}: {message}" if message else text


def supports_assertion(conn: ldap3.Connection) -> bool:
    """The root DSE lists the assertion control."""
    ok = conn.search("", "(objectClass=*)", ldap3.BASE, attributes=["supportedControl"])
    return bool(ok) and ASSERTION_CONTROL.encode() in _found(conn).get("supportedcontrol", [])


def _found(conn: ldap3.Connection) -> dict[str, list[bytes]]:
    """The raw values of the entry the last (base) search found, by lower-cased name."""
    if not conn.response:
        return {}
    raw: dict[str, list[bytes]] = conn.response[0].get("raw_attributes", {})
    return {name.lower(): values for name, values in raw.items()}


# -- one event -----------------------------------------------------------------------


def _modify_changes(changes: Sequence[dict[str, Any]]) -> dict[str, list[tuple[str, list[str]]]]:
    ops = {"add": ldap3.MODIFY_ADD, "delete": ldap3.MODIFY_DELETE, "replace": ldap3.MODIFY_REPLACE}
    grouped: dict[str, list[tuple[str, list[str]]]] = {}
    for change in changes:
        grouped.setdefault(change["attribute"], []).append(
            (ops[change["op"]], list(change["values"]))
        )
    return grouped


def _add_attributes(changes: Sequence[dict[str, Any]]) -> dict[str, list[str]]:
    attributes: dict[str, list[str]] = {}
    for change in changes:
        attributes.setdefault(change["attribute"], []).extend(change["values"])
    return attributes


class _Session:
    """A bound connection plus what an event needs: sending, checking, explaining."""

    def __init__(
        self,
        conn: ldap3.Connection,
        target: LdapTarget,
        assertion: bool,
        protected: frozenset[str],
        uuid_attribute: str | None,
        key_attributes: Sequence[str],
    ) -> None:
        self.conn = conn
        self.target = target
        self.assertion = assertion
        self.protected = protected
        self.uuid_attribute = uuid_attribute
        self.key_attributes = [a for a in dict.fromkeys(key_attributes) if _ATTRIBUTE.match(a)]
        self._memberof: bool | None = None

    def _call(self, operation: Callable[[], Any], event_id: str) -> dict[str, Any]:
        try:
            operation()
        except _CONNECTION_ERRORS as exc:
            raise _Lost(f"{_exception_text(exc)} during {event_id}") from None
        except ldap_exc.LDAPException as exc:
            # Refused by ldap3 before anything was sent (say, an add without objectClass).
            return {"result": None, "description": "not sent", "message": _exception_text(exc)}
        result: dict[str, Any] = dict(self.conn.result or {})
        if not result:
            raise _Lost(f"no answer to {event_id}")
        if result.get("result") in UNAVAILABLE_RESULTS:
            raise _Lost(f"the server answered {_describe(result)} to {event_id}")
        return result

    def exists(self, dn: str, filter_text: str | None, event_id: str) -> bool | None:
        """Base search: True if ``dn`` matches, False if it does not, None if no such entry."""
        result = self._call(
            lambda: self.conn.search(
                dn, filter_text or "(objectClass=*)", ldap3.BASE, attributes=["1.1"]
            ),
            event_id,
        )
        code = result.get("result")
        if code == 32:
            return None
        if code != 0:
            raise _SearchFailed(result)
        return bool(self.conn.response)

    def values(self, dn: str, attributes: Sequence[str], event_id: str) -> dict[str, list[str]]:
        result = self._call(
            lambda: self.conn.search(
                dn, "(objectClass=*)", ldap3.BASE, attributes=list(attributes)
            ),
            event_id,
        )
        if result.get("result") != 0:
            return {}
        return {
            name: [v.decode("utf-8", "replace") for v in values]
            for name, values in _found(self.conn).items()
        }

    def explain(self, event: Event) -> str:
        """Which preconditions no longer hold (best effort, for the message)."""
        wanted = [c["attribute"] for c in event["preconditions"]]
        if not wanted:
            return ""
        try:
            now = self.values(event["object"]["dn"], wanted, event["id"])
        except _Lost:
            return ""
        if not now:
            return ""
        parts = []
        for condition in event["preconditions"]:
            have = now.get(condition["attribute"].lower(), [])
            if condition["attribute"].lower() in UUID_ATTRIBUTES:
                try:
                    dn, check = event["object"]["dn"], assertion_filter([condition])
                    if self.exists(dn, check, event["id"]):
                        continue
                except (_Lost, _SearchFailed):
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
        for dn in dict.fromkeys(_sent_dns(event)):
            if event["operation"] == "add" and dn == event["object"]["dn"]:
                continue  # not there yet (if it is, the add fails by itself)
            entry = _UID_SUFFIX.sub("", dn)  # uniqueMember: DN#'0101'B
            if "=" not in entry:
                continue
            found = self.values(entry, self.key_attributes, event["id"])
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
        if operation != "add" and asserted:
            controls = [assertion_control(assertion_filter(asserted) or "")]
        precondition = assertion_filter(searched)
        if operation != "add" and precondition:
            # No assertion control for these: check first (not atomic, but never blind).
            try:
                holds = self.exists(dn, precondition, event["id"])
            except _SearchFailed as failed:
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
            attributes = _add_attributes(event["changes"])
            result = self._call(lambda: self.conn.add(dn, attributes=attributes), event["id"])
        elif operation == "delete":
            result = self._call(lambda: self.conn.delete(dn, controls=controls), event["id"])
        else:
            changes = _modify_changes(event["changes"])
            result = self._call(
                lambda: self.conn.modify(dn, changes, controls=controls), event["id"]
            )
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
            same = self.exists(member["dn"], assertion_filter([condition]), event["id"])
        except _SearchFailed:
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
            return EventOutcome(event["id"], "applied", 0, _summary(event))
        if code in STALE_RESULTS:
            why = self.explain(event) if code in (122, 16, 20) else ""
            message = f"{_describe(result)}: the object changed since the diff, not forced"
            return EventOutcome(event["id"], "stale", code, f"{message}; {why}" if why else message)
        return EventOutcome(event["id"], "failed", code, _describe(result))

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
                return bool(self.exists(dn, _and([f for f in ours if f]), event["id"]))
            if operation == "delete":
                return self.exists(dn, None, event["id"]) is None
            wanted = changes_filter(event["changes"])
            return bool(wanted) and bool(self.exists(dn, wanted, event["id"]))
        except _SearchFailed:
            return False

    def server_has_memberof(self, event_id: str) -> bool:
        """The server computes ``memberOf`` (its schema defines it: slapd's memberof
        overlay, AD); asked once per run."""
        if self._memberof is None:
            self._memberof = False
            root = self._call(
                lambda: self.conn.search(
                    "", "(objectClass=*)", ldap3.BASE, attributes=["subschemaSubentry"]
                ),
                event_id,
            )
            where = _found(self.conn).get("subschemasubentry", [])
            if root.get("result") == 0 and where:
                base = where[0].decode("utf-8", "replace")
                self._call(
                    lambda: self.conn.search(
                        base, "(objectClass=subschema)", ldap3.BASE, attributes=["attributeTypes"]
                    ),
                    event_id,
                )
                types = _found(self.conn).get("attributetypes", [])
                self._memberof = any(
                    re.search(rb"NAME\s+(?:\(\s*)?(?:'[^']*'\s+)*'memberOf'", t, re.I)
                    for t in types
                )
        return self._memberof

    def back_link_doubt(self, event: Event) -> str | None:
        """For a membership event found done on the group when resuming: does each
        member's computed ``memberOf`` agree? The group is updated first and the
        back-link after it, so a crash or hang between the two leaves the group
        done and memberOf not: then why, else None."""
        if not membership_event(event) or not self.server_has_memberof(event["id"]):
            return None
        group = event["object"]["dn"]
        group_key = dn_key(group)
        for change in event["changes"]:
            if change["attribute"].lower() not in MEMBER_ATTRIBUTES:
                continue
            for member in change["values"]:
                try:
                    links = self.values(member, ["memberOf"], event["id"]).get("memberof", [])
                except _SearchFailed:
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
                there = self.exists(dn, None, event["id"])
                if there is not None:
                    return EventOutcome(event["id"], "would_be_stale", 68, f"{dn} already exists")
                return EventOutcome(event["id"], "would_apply", None, _summary(event))
            # As sent: a membership's member values are checked by the modify (16).
            precondition = assertion_filter(
                [c for part in split_preconditions(event) for c in part]
            )
            conflicts = _conflicts(event) if event["operation"] != "delete" else []
            # One search when all is well: the preconditions hold and no value
            # the modify adds is there already, none it deletes is gone.
            clash = [clause for clause, _, _ in conflicts]
            none = f"(!{clash[0]})" if len(clash) == 1 else f"(!(|{''.join(clash)}))"
            holds = self.exists(
                dn, _and([f for f in (precondition, none if clash else None) if f]), event["id"]
            )
            if holds is False and conflicts and self.exists(dn, precondition, event["id"]):
                for clause, code, text in conflicts:
                    if self.exists(dn, clause, event["id"]):
                        message = f"{STALE_RESULTS[code]} ({code}): {text} on the server"
                        return EventOutcome(event["id"], "would_be_stale", code, message)
            replaced = self.member_replaced(event) if holds else None
        except _SearchFailed as failed:
            return EventOutcome(event["id"], "would_fail", failed.code, _describe(failed.result))
        if replaced is not None:
            return EventOutcome(event["id"], "would_be_stale", replaced[0], replaced[1])
        if holds is None:
            return EventOutcome(event["id"], "would_be_stale", 32, f"no such entry {dn}")
        if not holds:
            why = self.explain(event) or "its preconditions no longer hold"
            return EventOutcome(event["id"], "would_be_stale", 122, why)
        return EventOutcome(event["id"], "would_apply", None, _summary(event))


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
        name = _check_attribute(change["attribute"])
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


class _SearchFailed(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(_describe(result))
        self.result = result
        self.code: int | None = result.get("result")


def _show(values: Sequence[str]) -> str:
    if not values:
        return "absent"
    return ", ".join(repr(v) for v in values[:5]) + (", …" if len(values) > 5 else "")


def _summary(event: Event) -> str:
    obj = event["object"]
    member = obj.get("member_of")
    if member:
        ops = sorted({c["op"] for c in event["changes"]})
        return f"{'/'.join(ops)} member {member.get('dn') or member.get('key')} of {obj['dn']}"
    names = ", ".join(dict.fromkeys(c["attribute"] for c in event["changes"]))
    what = f" ({names})" if names and event["operation"] != "add" else ""
    return f"{event['operation']} {obj['dn']}{what}"


# -- the run -------------------------------------------------------------------------


def apply_plan(
    plan_path: Path | str,
    target: LdapTarget,
    *,
    journal_path: Path | str | None = None,
    dry_run: bool = False,
    allow_mass_change: int | None = None,
    progress: Progress | None = None,
    after_event: Callable[[EventOutcome], None] | None = None,
    config: Config | None = None,
    allow: Mapping[str, int | None] | None = None,
    config_from_plan: bool = False,
) -> ApplyResult:
    """Run the plan's approved and auto endpoint events against ``target``.

    ``after_event`` is called with every event's outcome as soon as it is
    journalled (the CLI prints it; tests use it to kill the server mid-run).
    Raises :class:`RecondiffError` subclasses (one line): the plan is unreadable
    or edited (:class:`InputError`), over its safety limits (:class:`SafetyError`),
    the journal belongs to another plan (:class:`JournalError`), or the server
    cannot be reached or the connection is lost (:class:`LdapError`; the journal
    then shows where it stopped and a re-run resumes).

    ``config`` is the config in force (``--config``): its protected keys are
    refused as well as the plan's, and each mass-change limit is the stricter
    of the two. ``allow`` maps a guard's name (:data:`GUARDS`) to the count its
    override flag accepts; ``allow_mass_change`` is the one of deletes and disables.
    With ``config_from_plan`` and no ``config``, the config is the file the plan
    names (``config.path``, as compare was given it), read as it is now.
    """
    plan = load_plan(plan_path)
    if config is None and config_from_plan:
        config = config_named_by(plan)
        if progress:
            progress(f"config in force: {config.path} (named by the plan; --config names another)")
    allowed = dict(allow or {})
    if allow_mass_change is not None:
        allowed["deletes"] = allow_mass_change
    protected = check_plan(plan, config, allowed, plan_path)
    journal = Journal(
        Path(journal_path) if journal_path else default_journal(plan_path),
        plan["plan_id"],
        plan["digest"],
    )
    to_run = runnable(plan)
    outcomes: list[EventOutcome] = []
    seen: dict[str, EventOutcome] = {}
    creations = _creations(plan)

    def report(outcome: EventOutcome) -> None:
        outcomes.append(outcome)
        seen[outcome.event_id] = outcome
        if after_event is not None:
            after_event(outcome)

    # The lock before the reading: a second apply must not act on what it read
    # before the first one finished (it would send everything again).
    if dry_run:
        journal.read()
    else:
        journal.lock()
    try:
        if progress:
            progress(f"connecting to {target.url}")
        conn = connect(target, read_only=dry_run)
    except BaseException:
        journal.close()
        raise
    try:
        if not dry_run:
            journal.open()
        try:
            session = _Session(
                conn,
                target,
                supports_assertion(conn),
                protected,
                plan["endpoint"].get("uuid_attribute"),
                [plan["endpoint"]["key_attribute"]]
                + ([config.endpoint.key] if config is not None else []),
            )
        except _CONNECTION_ERRORS as exc:
            raise LdapError(f"{target.url}: lost the connection ({_exception_text(exc)})") from None
        if progress:
            control = "with" if session.assertion else "without"
            progress(f"{len(to_run)} events to run, {control} the assertion control")
        done = 0
        for event in _endpoint_events(plan):
            state = event["approval"]["state"]
            runs = state in ("auto", "approved")
            if runs:
                done += 1
                if progress and (done % 100 == 0 or done == len(to_run)):
                    progress(f"event {done}/{len(to_run)}")
            try:
                if runs:
                    _run_one(event, plan, session, journal, dry_run, report, creations, seen)
                else:
                    _skip_one(event, plan, session, journal, dry_run, report)
            except _Lost as exc:
                where = (
                    ""
                    if dry_run
                    else f"; re-run the same command to resume from the journal {journal.path}"
                )
                raise LdapError(f"{target.url}: lost the connection ({exc}){where}") from None
    finally:
        journal.close()
        _unbind(conn)
    return ApplyResult(outcomes, journal.path, dry_run, session.assertion)


def _endpoint_events(plan: Plan) -> Iterator[Event]:
    return (e for e in plan["events"] if e["target"] == "endpoint")


def _rejected(event: Event) -> str:
    by = event["approval"].get("by")
    return f"rejected by {by}" if by else "rejected"


def _creations(plan: Plan) -> dict[str, Event]:
    """The plan's account creations (endpoint ``add`` events) by :func:`dn_key`."""
    return {
        dn_key(e["object"]["dn"]): e
        for e in _endpoint_events(plan)
        if e["operation"] == "add" and e["object"].get("dn")
    }


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


def _waits_for_creation(
    event: Event,
    creations: dict[str, Event],
    seen: dict[str, EventOutcome],
    done: dict[str, dict[str, Any]],
) -> EventOutcome | None:
    """A membership of an account this plan creates runs only once the creation
    is applied: if the add is stale (the DN holds an entry recondiff did not
    create) or failed, the membership is stale too; if it has not run (pending,
    rejected), the membership waits (``skipped``, sent by a later apply)."""
    member = event["object"].get("member_of") or {}
    # The member the modify sends, as well as the event's label for it.
    names = [member.get("dn") or ""] + [
        value
        for c in event["changes"]
        if c["attribute"].lower() in MEMBER_ATTRIBUTES
        for value in c["values"]
    ]
    add = next(
        (
            creations[key]
            for key in map(dn_key, names)
            if key in creations and creations[key]["id"] != event["id"]
        ),
        None,
    )
    if add is None:
        return None
    got = seen.get(add["id"])
    record = done.get(add["id"])
    if got is None and record is not None:
        # The add comes later in this plan's order, but an earlier apply ran it.
        got = EventOutcome(add["id"], record["outcome"], record["result"], record["message"])
    if got is not None and got.outcome in ("applied", "would_apply"):
        return None
    if got is None or got.outcome == "skipped":
        why = got.message if got is not None else "not run yet"
        message = f"waiting for the account's creation (add {add['id']}: {why})"
        return EventOutcome(event["id"], "skipped", None, message)
    outcome = {"would_be_stale": "stale", "would_fail": "failed"}.get(got.outcome, got.outcome)
    code = f" ({got.result})" if got.result is not None else ""
    message = (
        f"not sent: the account's creation (add {add['id']}) is {outcome}{code}, so the "
        "groups planned for the new account are not given to an entry recondiff did not create"
    )
    return EventOutcome(event["id"], "stale", None, message)


def _resumed(
    event: Event, session: _Session, journal: Journal, also: str = ""
) -> EventOutcome | None:
    """An event left ``started`` whose changes are on the server: ``applied``, or
    ``in_doubt`` when a membership's computed back-link disagrees."""
    started = journal.last.get(event["id"], {}).get("at")
    if not session.already_done(event, started):
        return None
    doubt = session.back_link_doubt(event)
    if doubt is not None:
        return EventOutcome(event["id"], "in_doubt", None, doubt)
    message = (
        f"{_summary(event)} (already on the server: the previous run stopped after "
        f"sending it{also})"
    )
    return EventOutcome(event["id"], "applied", 0, message)


def _skip_one(
    event: Event,
    plan: Plan,
    session: _Session,
    journal: Journal,
    dry_run: bool,
    report: Callable[[EventOutcome], None],
) -> None:
    """A pending or rejected event: not sent. But one already applied stays
    applied (a later approval must not send it again), and one left ``started``
    is looked up on the server, as a resume does."""
    event_id = event["id"]
    state = event["approval"]["state"]
    message = "pending approval" if state == "pending" else _rejected(event)
    done = journal.done.get(event_id)
    if done is not None:
        since = f"{done['message']} ({state} after it was {done['outcome']}: never sent again)"
        report(EventOutcome(event_id, done["outcome"], done["result"], since, previous=True))
        return
    resumed = None
    if journal.outcome(event_id) == "started" and refusal(plan, event) is None:
        resumed = _resumed(event, session, journal, f"; {state} since")
    _settle(resumed or EventOutcome(event_id, "skipped", None, message), journal, dry_run, report)


def _settle(
    outcome: EventOutcome, journal: Journal, dry_run: bool, report: Callable[[EventOutcome], None]
) -> None:
    """Journal ``outcome`` (not in a dry run, nor a ``skipped`` twice in a row), then report it."""
    repeated = outcome.outcome == "skipped" and journal.outcome(outcome.event_id) == "skipped"
    if not dry_run and not repeated:
        journal.record(outcome.event_id, outcome.outcome, outcome.result, outcome.message)
    report(outcome)


def _run_one(
    event: Event,
    plan: Plan,
    session: _Session,
    journal: Journal,
    dry_run: bool,
    report: Callable[[EventOutcome], None],
    creations: dict[str, Event],
    seen: dict[str, EventOutcome],
) -> None:
    event_id = event["id"]
    done = journal.done.get(event_id)
    if done is not None:
        report(
            EventOutcome(event_id, done["outcome"], done["result"], done["message"], previous=True)
        )
        return
    refused = refusal(plan, event, session.protected)
    if refused is not None:
        failed = "would_fail" if dry_run else "failed"
        _settle(EventOutcome(event_id, failed, None, refused), journal, dry_run, report)
        return
    if journal.outcome(event_id) == "started":
        resumed = _resumed(event, session, journal)
        if resumed is not None:
            _settle(resumed, journal, dry_run, report)
            return
    waiting = _waits_for_creation(event, creations, seen, journal.done)
    if waiting is not None:
        if dry_run and waiting.outcome == "stale":
            waiting = EventOutcome(event_id, "would_be_stale", None, waiting.message)
        _settle(waiting, journal, dry_run, report)
        return
    if dry_run:
        report(session.check(event))
        return
    journal.record(event_id, "started", None, _summary(event))
    _settle(session.send(event), journal, dry_run, report)
