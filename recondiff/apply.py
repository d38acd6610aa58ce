"""Execute an approved plan against an LDAP server (``recondiff apply``, docs/plan.md).

Only :func:`recondiff.plan.runnable` events run (approved or auto endpoint
events, in plan order); pending and rejected ones are journalled ``skipped``;
repository events never run. Each event is one LDAP operation (add, delete or
one modify), carrying its ``preconditions`` as an RFC 4528 assertion control
when the server supports it, so that a value changed since the diff fails the
operation atomically on the server (the event is then ``stale``, never forced).

The journal (JSON Lines, one fsynced line per state change) makes a re-run
resume: events whose last line is ``applied``, ``stale`` or ``failed`` are not
sent again, and one left ``started`` (the process or the server died after it
was sent) is looked up on the server and recorded ``applied`` if its changes
are there, else sent again. A lost connection therefore stops the run with a
one-line error instead of recording the event ``failed``: re-running the same
command applies every event exactly once.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import ssl
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

import ldap3
from ldap3.core import exceptions as ldap_exc
from ldap3.operation.search import compile_filter, parse_filter
from pyasn1.codec.ber import encoder as ber_encoder

from recondiff.atomic import fsync_directory
from recondiff.config import Config, PlanConfig
from recondiff.errors import ConfigError, ExitCode, InputError, RecondiffError
from recondiff.plan import Event, Plan, load_plan, runnable

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
    """A modify that leaves some attribute with fewer values and none new (blanked)."""
    removed: set[str] = set()
    added: set[str] = set()
    for change in event["changes"]:
        name = change["attribute"].lower()
        if change["op"] in ("delete", "replace"):
            removed.add(name)
        if change["op"] in ("add", "replace") and any(v.strip() for v in change["values"]):
            added.add(name)
    return bool(removed - added)


def mass_counts(plan: Plan) -> dict[str, int]:
    """What each guard counts among the events ``apply`` runs: deletes and disables;
    accounts losing attribute values (a modify that deletes values and adds none to
    that attribute); membership events that remove a member; modify operations."""
    counts = dict.fromkeys((g.name for g in GUARDS), 0)
    losing: set[str] = set()
    for event in runnable(plan):
        operation = event["operation"]
        if operation in MASS_OPERATIONS:
            counts["deletes"] += 1
        if operation != "modify":
            continue
        counts["modifies"] += 1
        if membership_event(event):
            if any(c["op"] in ("delete", "replace") for c in event["changes"]):
                counts["membership_removals"] += 1
        elif _removes_values(event):
            obj = event["object"]
            losing.add(str(obj.get("dn") or obj.get("key") or event["id"]).casefold())
    counts["value_removals"] = len(losing)
    return counts


def mass_change_count(plan: Plan) -> int:
    """Deletes and disables among the events ``apply`` runs."""
    return mass_counts(plan)["deletes"]


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
    allow: Mapping[str, int | None] | int | None,
    source: Path | str,
    config: Config | None = None,
) -> None:
    """Refuse the whole apply (or LDIF) when the plan changes too much at once.

    ``allow`` maps a guard's name to the count its override flag accepts (an
    int alone is ``--allow-mass-change``, for deletes and disables)."""
    if not isinstance(allow, Mapping):
        allow = {"deletes": allow}
    counts = mass_counts(plan)
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
    text = unicodedata.normalize("NFKC", text.casefold())
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


def _touched_names(event: Event) -> Iterator[str]:
    """Every name an event acts on: keys, the first RDN of its DN and its member's,
    and for a membership event every value it sends (a member DN, or a memberUid)."""
    obj = event["object"]
    member = obj.get("member_of") or {}
    yield from (n for n in (obj.get("key"), member.get("key")) if n)
    yield from first_rdn_values(obj.get("dn"))
    yield from first_rdn_values(member.get("dn"))
    if membership_event(event):
        for change in event["changes"]:
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
    if protected is None:
        protected = protected_names(plan)
    hit = next((n for n in _touched_names(event) if match_form(n) in protected), None)
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
    """``PLAN`` with ``.journal.jsonl`` (``out/plan.json`` -> ``out/plan.journal.jsonl``)."""
    return Path(plan_path).with_suffix(".journal.jsonl")


class Journal:
    """The JSON Lines record of an apply; see the module docstring."""

    def __init__(self, path: Path, plan_id: str, digest: str) -> None:
        # Keyed by the plan id, not its digest: approving more events later
        # changes the digest but not the events, and a re-run with the same
        # journal must still skip what is done (event ids are content hashes).
        self.path = path
        self.plan_id = plan_id
        self.digest = digest
        self.last: dict[str, dict[str, Any]] = {}
        self._handle: IO[str] | None = None
        self._read()

    def _read(self) -> None:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot read the journal ({exc.strerror or exc})"
            ) from None
        lines = data.split(b"\n")
        # A last line without its newline was being written when the process died:
        # that state change never completed, so it is ignored (and cut off on append).
        for number, raw in enumerate(lines[:-1], start=1):
            try:
                record = json.loads(raw)
                event, outcome, plan = record["event"], record["outcome"], record["plan"]
            except (ValueError, TypeError, KeyError):
                raise JournalError(
                    f"{self.path}: line {number} is not a recondiff journal record; "
                    "pass another --journal"
                ) from None
            if plan != self.plan_id:
                raise JournalError(
                    f"{self.path}: this journal belongs to another plan ({plan}, "
                    f"this plan is {self.plan_id}); pass a new --journal for this plan"
                )
            if outcome not in (*FINAL, "started", "skipped"):
                raise JournalError(f"{self.path}: line {number}: unknown outcome {outcome!r}")
            self.last[event] = record

    def outcome(self, event_id: str) -> str | None:
        record = self.last.get(event_id)
        return None if record is None else str(record["outcome"])

    def open(self) -> None:
        """Open for appending, cut off a half-written last line, lock against a second apply."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            handle = self.path.open("a+", encoding="utf-8")
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        try:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - not POSIX
            pass
        except OSError:
            handle.close()
            raise JournalError(
                f"{self.path}: another recondiff apply is using this journal; wait for it"
            ) from None
        size = os.fstat(handle.fileno()).st_size
        if size:
            with self.path.open("rb") as reader:
                data = reader.read()
            keep = data.rfind(b"\n") + 1
            if keep != size:
                handle.truncate(keep)
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
        try:
            self._handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            self._handle.flush()
            os.fsync(self._handle.fileno())
        except OSError as exc:
            raise JournalError(
                f"{self.path}: cannot write the journal ({exc.strerror or exc})"
            ) from None
        self.last[event_id] = record

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


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
    if not ok or not conn.response:
        return False
    raw: dict[str, list[bytes]] = conn.response[0].get("raw_attributes", {})
    values = next((v for k, v in raw.items() if k.lower() == "supportedcontrol"), [])
    return ASSERTION_CONTROL.encode() in values


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
        protected: frozenset[str] | None = None,
        uuid_attribute: str | None = None,
    ) -> None:
        self.conn = conn
        self.target = target
        self.assertion = assertion
        self.protected = protected
        self.uuid_attribute = uuid_attribute
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
        if result.get("result") != 0 or not self.conn.response:
            return {}
        raw = self.conn.response[0].get("raw_attributes", {})
        return {k.lower(): [v.decode("utf-8", "replace") for v in vals] for k, vals in raw.items()}

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

    def send(self, event: Event) -> EventOutcome:
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

    def already_done(self, event: Event) -> bool:
        """Are the changes of an event left ``started`` on the server already?"""
        dn = event["object"]["dn"]
        operation = event["operation"]
        try:
            if operation == "add":
                return self.exists(dn, None, event["id"]) is not None
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
            raw = self.conn.response[0].get("raw_attributes", {}) if self.conn.response else {}
            where: list[bytes] = next(
                (v for k, v in raw.items() if k.lower() == "subschemasubentry"), []
            )
            if root.get("result") == 0 and where:
                base = where[0].decode("utf-8", "replace")
                self._call(
                    lambda: self.conn.search(
                        base, "(objectClass=subschema)", ldap3.BASE, attributes=["attributeTypes"]
                    ),
                    event_id,
                )
                raw = self.conn.response[0].get("raw_attributes", {}) if self.conn.response else {}
                types: list[bytes] = next(
                    (v for k, v in raw.items() if k.lower() == "attributetypes"), []
                )
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
        for change in event["changes"]:
            if change["attribute"].lower() not in MEMBER_ATTRIBUTES:
                continue
            for member in change["values"]:
                try:
                    links = self.values(member, ["memberOf"], event["id"]).get("memberof", [])
                except _SearchFailed:
                    links = []
                listed = _dn_key(group) in {_dn_key(v) for v in links}
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
        try:
            if event["operation"] == "add":
                there = self.exists(dn, None, event["id"])
                if there is not None:
                    return EventOutcome(event["id"], "would_be_stale", 68, f"{dn} already exists")
                return EventOutcome(event["id"], "would_apply", None, _summary(event))
            precondition = assertion_filter(event["preconditions"])
            holds = self.exists(dn, precondition, event["id"])
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


class _SearchFailed(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__(_describe(result))
        self.result = result
        self.code: int | None = result.get("result")


def _dn_key(dn: str) -> str:
    """A DN compared loosely: case-folded, no spaces around its separators."""
    return ",".join(
        "=".join(p.strip() for p in rdn.split("=", 1)) for rdn in re.split(r"(?<!\\),", dn)
    ).casefold()


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
    """
    plan = load_plan(plan_path)
    check_config(plan, config)
    allowed = dict(allow or {})
    if allow_mass_change is not None:
        allowed["deletes"] = allow_mass_change
    check_safety(plan, allowed, plan_path, config)
    journal = Journal(
        Path(journal_path) if journal_path else default_journal(plan_path),
        plan["plan_id"],
        plan["digest"],
    )
    to_run = runnable(plan)
    outcomes: list[EventOutcome] = []

    def report(outcome: EventOutcome) -> None:
        outcomes.append(outcome)
        if after_event is not None:
            after_event(outcome)

    if progress:
        progress(f"connecting to {target.url}")
    conn = connect(target, read_only=dry_run)
    try:
        if not dry_run:
            journal.open()
        try:
            session = _Session(
                conn,
                target,
                supports_assertion(conn),
                protected_names(plan, config),
                plan["endpoint"].get("uuid_attribute"),
            )
        except _CONNECTION_ERRORS as exc:
            raise LdapError(f"{target.url}: lost the connection ({_exception_text(exc)})") from None
        if progress:
            control = "with" if session.assertion else "without"
            progress(f"{len(to_run)} events to run, {control} the assertion control")
        done = 0
        for event in _endpoint_events(plan):
            state = event["approval"]["state"]
            if state not in ("auto", "approved"):
                message = "pending approval" if state == "pending" else _rejected(event)
                if not dry_run and journal.outcome(event["id"]) != "skipped":
                    journal.record(event["id"], "skipped", None, message)
                report(EventOutcome(event["id"], "skipped", None, message))
                continue
            done += 1
            if progress and (done % 100 == 0 or done == len(to_run)):
                progress(f"event {done}/{len(to_run)}")
            try:
                _run_one(event, plan, session, journal, dry_run, report)
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


def _run_one(
    event: Event,
    plan: Plan,
    session: _Session,
    journal: Journal,
    dry_run: bool,
    report: Callable[[EventOutcome], None],
) -> None:
    event_id = event["id"]
    last = journal.last.get(event_id)
    if last is not None and last["outcome"] in FINAL:
        report(
            EventOutcome(event_id, last["outcome"], last["result"], last["message"], previous=True)
        )
        return
    refused = refusal(plan, event, session.protected)
    if refused is not None:
        if dry_run:
            report(EventOutcome(event_id, "would_fail", None, refused))
            return
        journal.record(event_id, "failed", None, refused)
        report(EventOutcome(event_id, "failed", None, refused))
        return
    if dry_run:
        report(session.check(event))
        return
    if last is not None and last["outcome"] == "started" and session.already_done(event):
        doubt = session.back_link_doubt(event)
        if doubt is not None:
            journal.record(event_id, "in_doubt", None, doubt)
            report(EventOutcome(event_id, "in_doubt", None, doubt))
            return
        message = (
            f"{_summary(event)} (already on the server: the previous run stopped after sending it)"
        )
        journal.record(event_id, "applied", 0, message)
        report(EventOutcome(event_id, "applied", 0, message))
        return
    journal.record(event_id, "started", None, _summary(event))
    outcome = session.send(event)
    journal.record(event_id, outcome.outcome, outcome.result, outcome.message)
    report(outcome)
