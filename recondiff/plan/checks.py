"""What must hold before any event of a plan is sent or written (``apply``, ``plan ldif``).

The mass-change limits (:data:`GUARDS`: what each counts, the stricter of the
plan's and the config's limits, :func:`check_safety`), the protected accounts
(:func:`protected_names`, recognised in every name an event touches, in
:func:`match_form`), the events that must never run (:func:`refusal`), and
:func:`check_plan`, which ``apply`` and ``plan ldif`` both call first.
Pure Python: ``plan ldif`` does not import the LDAP client (docs/plan.md, Guards).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from recondiff.config.load import Config, PlanConfig
from recondiff.errors import ConfigError, InputError
from recondiff.plan.assertions import (
    MEMBER_LISTS,
    assertion_filter,
    changes_filter,
    membership_event,
)
from recondiff.plan.file import Event, Plan, runnable
from recondiff.vocabulary import attribute_type

MASS_OPERATIONS = ("delete", "disable")
"""Operations counted as deletes and disables (with the modifies that disable)."""

# -- mass-change limits ------------------------------------------------------------------


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
        if attribute_type(change["attribute"]) not in MEMBER_LISTS or change["op"] == "add":
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
        name = attribute_type(change["attribute"])
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
        (attribute_type(str(spec["attribute"])), match_form(str(spec["value"])))
        for spec in specs
        if spec.get("attribute") and spec.get("value")
    ]


def mass_counts(
    plan: Plan, config: Config | None = None, events: Iterable[Event] | None = None
) -> dict[str, int]:
    """What each guard counts among the events ``apply`` runs: deletes and disables;
    accounts losing attribute values (a modify that deletes values and adds none to
    that attribute, blanks and invisible characters counting as none); members
    removed from groups (each value, :func:`_member_removals`); modify operations
    (enables included: a modify on the server). A modify that disables (AD's
    userAccountControl bit, a lock attribute, the configured disable value) counts
    as a disable too: relabelling a disable as a modify does not escape its limit.

    ``events``: the runnable events, streamed by the caller (default: the plan's)."""
    counts = dict.fromkeys((g.name for g in GUARDS), 0)
    losing: set[str] = set()
    markers = _disable_markers(plan, config)
    for event in runnable(plan) if events is None else events:
        operation = event["operation"]
        if operation in MASS_OPERATIONS or (operation == "modify" and _disables(event, markers)):
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
    counts: Mapping[str, int] | None = None,
) -> None:
    """Refuse the whole apply (or LDIF) when the plan changes too much at once.

    ``allow`` maps a guard's name to the count its override flag accepts;
    ``counts``: :func:`mass_counts`, when the caller streamed the events."""
    counts = mass_counts(plan, config) if counts is None else counts
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


FEED_GUARD = GUARDS[3]
"""The limit ``plan feed`` enforces on the repository events it writes: the modifies'
(``max_modifies``, ``max_modify_percent`` of the repository's rows, ``--allow-modifies``)."""


def check_feed_safety(
    plan: Plan,
    events: int,
    allowed: int | None,
    source: Path | str,
    config: Config | None = None,
) -> None:
    """Refuse the whole feed when it writes ``events`` repository events, more than
    the modifies' limits allow of the repository's rows (``inputs.repository.rows``;
    the stricter of the plan's ``safety`` and the config's ``[plan]``), unless
    ``allowed`` (``--allow-modifies N``) accepts that many: a careless policy
    ``when`` rewrites every identity's record (docs/plan.md, Guards)."""
    guard = FEED_GUARD
    limit, percent, count_where, percent_where = safety_limits(plan, config)[guard.name]
    rows = int(plan["inputs"]["repository"]["rows"] or 0)
    share = 100.0 * events / rows if rows else (100.0 if events else 0.0)
    if events <= limit and share <= percent:
        return
    if allowed is not None and allowed >= events:
        return
    raise SafetyError(
        [
            f"{source}: the feed writes {events} repository events ({share:.1f}% of the "
            f"repository's {rows} rows), over its safety limits ({guard.count_key} {limit}"
            f"{count_where}, {guard.percent_key} {percent:g}{percent_where}); review the "
            f"plan, then allow it with {guard.flag} {events}; nothing written"
        ]
    )


def check_plan(
    plan: Plan,
    config: Config | None,
    allow: Mapping[str, int | None],
    source: Path | str,
    counts: Mapping[str, int] | None = None,
) -> frozenset[str]:
    """What ``apply`` and ``plan ldif`` both check before any event: the config is
    the plan's endpoint's (:func:`check_config`) and the plan is within its
    mass-change limits (:func:`check_safety`; ``counts`` when streamed). Returns
    the protected names in force (:func:`protected_names`)."""
    check_config(plan, config)
    check_safety(plan, allow, source, config, counts)
    return protected_names(plan, config)


def check_config(plan: Plan, config: Config | None) -> None:
    """The config given at apply time must be the plan's endpoint's."""
    if config is not None and config.endpoint.name != plan["endpoint"]["name"]:
        raise ConfigError(
            f"{config.path}: [endpoint] name {config.endpoint.name!r} is not the plan's "
            f"endpoint {plan['endpoint']['name']!r}; pass the config the plan was made with"
        )


# -- protected accounts ----------------------------------------------------------------

NAME_ATTRIBUTES = MEMBER_LISTS | {"uid", "samaccountname"}
"""Attributes whose values name an account (a member DN, a memberUid, a login name):
a value written to one of them is checked against the protected keys, whatever
the event's labels say (``memberUid: administrator`` on a posixGroup, or a second
``uid: administrator`` on another entry)."""

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
        if membership or attribute_type(change["attribute"]) in names:
            for value in change["values"]:
                yield value
                yield from first_rdn_values(value)


def sent_dns(event: Event) -> Iterator[str]:
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
    extended = next((n for n in sent_dns(event) if n.lstrip().startswith("<")), None)
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
            if attribute_type(c["attribute"]) in MEMBER_LISTS
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
    names = NAME_ATTRIBUTES | {attribute_type(str(plan["endpoint"]["key_attribute"]))}
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
