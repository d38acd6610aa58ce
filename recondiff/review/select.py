"""Selecting plan events by what they are (``plan approve|reject --response …``).

A pure function over events, so that a decisions ledger can reuse it and record
the selector it was given (:meth:`Selector.describe`). Semantics (docs/plan.md,
"Selectors"): different options combine with AND, the values of a repeated
option with OR; every comparison is case-insensitive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import lru_cache
from typing import Any

from recondiff.errors import RecondiffError
from recondiff.vocabulary import (
    OPERATIONS,
    POLICY_SITUATION,
    RESPONSES,
    SITUATIONS,
    UNKNOWN_TYPE,
    attribute_type,
    drift_group,
)

Event = dict[str, Any]


class SelectorError(RecondiffError):
    """A selector names a value that cannot exist (a typo), or selects nothing."""


def _checked(option: str, values: Sequence[str], valid: Sequence[str]) -> tuple[str, ...]:
    out = tuple(v.strip().lower() for v in values)
    for value, given in zip(out, values, strict=True):
        if value not in valid:
            raise SelectorError(f"{option} {given!r} is not one of: {', '.join(valid)}")
    return out


@dataclass(frozen=True)
class Selector:
    """What to select; an empty tuple means "any". Build with :meth:`parse`."""

    responses: tuple[str, ...] = ()
    situations: tuple[str, ...] = ()
    operations: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()

    @classmethod
    def parse(
        cls,
        *,
        responses: Iterable[str] = (),
        situations: Iterable[str] = (),
        operations: Iterable[str] = (),
        attributes: Iterable[str] = (),
        accounts: Iterable[str] = (),
        rules: Iterable[str] = (),
    ) -> Selector:
        """Check the closed vocabularies (a typo is an error listing the valid
        values, never a silent zero) and normalise case."""
        return cls(
            responses=_checked("--response", tuple(responses), RESPONSES),
            situations=_checked(
                "--situation", tuple(situations), (*SITUATIONS, POLICY_SITUATION)
            ),
            operations=_checked("--operation", tuple(operations), OPERATIONS),
            attributes=tuple(a.strip().lower() for a in attributes),
            accounts=tuple(a.strip().lower() for a in accounts),
            rules=tuple(r.strip().lower() for r in rules),
        )

    def is_empty(self) -> bool:
        return not any(
            (
                self.responses,
                self.situations,
                self.operations,
                self.attributes,
                self.accounts,
                self.rules,
            )
        )

    def describe(self) -> str:
        """The selector as command-line options, e.g. ``--response review --account 'j*'``."""
        parts: list[str] = []
        for option, values in (
            ("--response", self.responses),
            ("--situation", self.situations),
            ("--operation", self.operations),
            ("--attribute", self.attributes),
            ("--account", self.accounts),
            ("--rule", self.rules),
        ):
            parts.extend(f"{option} {_quote(v)}" for v in values)
        return " ".join(parts)


def _quote(value: str) -> str:
    if not value.isprintable():  # a newline or escape sequence: shell $'...' form, one line
        return "$'" + value.encode("unicode_escape").decode("ascii").replace("'", "\\'") + "'"
    plain = value and all(c.isalnum() or c in "-_.@" for c in value)
    return value if plain else "'" + value.replace("'", "'\\''") + "'"


def _lower(value: object) -> str | None:
    return value.lower() if isinstance(value, str) else None


def account_keys(event: Event) -> list[str]:
    """The keys ``--account`` matches: the account's endpoint key (for a membership
    event, the member account's), and the identity key it is linked to."""
    obj = event.get("object") or {}
    member = obj.get("member_of") or {}
    keys = (obj.get("key"), member.get("key"), obj.get("identity_key"))
    return [k for k in (_key_lower(k) for k in keys) if k]


def _key_lower(value: object) -> str | None:
    """Lower case, unless that makes another key of it: KELVIN SIGN lowers to an ASCII
    k, so '\u212aadmin' would match ``--account kadmin``; such a key keeps its case."""
    low = _lower(value)
    return low if low is None or low.upper() == str(value).upper() else str(value)


@lru_cache(maxsize=4096)  # a plan names few attributes, a selector reads them per event
def attribute_name(description: str) -> str:
    """The name ``--attribute`` compares: lower case, no options, an alias or OID by
    its usual name (``surname``, ``2.5.4.4`` and ``sn;lang-en`` are all ``sn``)."""
    name = drift_group(description)
    return attribute_type(description) if name == UNKNOWN_TYPE else name


@lru_cache(maxsize=64)
def _names(attributes: tuple[str, ...]) -> frozenset[str]:
    return frozenset(attribute_name(a) for a in attributes)


def matches(event: Event, selector: Selector) -> bool:
    """Whether ``event`` is of the kind ``selector`` names (its state is not looked at)."""
    reason = event.get("reason") or {}
    # each test only when its option is given: a selector reads every event of the plan
    if selector.responses and _lower(event.get("response")) not in selector.responses:
        return False
    if selector.operations and _lower(event.get("operation")) not in selector.operations:
        return False
    if selector.situations and _lower(reason.get("situation")) not in selector.situations:
        return False
    if selector.rules and _lower(reason.get("rule")) not in selector.rules:
        return False
    if selector.attributes:
        wanted = _names(selector.attributes)
        # Every attribute the event changes must be named: an event is decided
        # whole, so "--attribute mail" must not approve an add that also sets mail.
        changes = event.get("changes") or ()
        if not changes or any(attribute_name(c["attribute"]) not in wanted for c in changes):
            return False
    if selector.accounts:
        keys = account_keys(event)
        if not any(fnmatchcase(k, p) for k in keys for p in selector.accounts):
            return False
    return True


def select(events: Iterable[Event], selector: Selector) -> list[Event]:
    """The events of the kind ``selector`` names, in plan order, whatever their state."""
    return [e for e in events if matches(e, selector)]


@dataclass
class Selection:
    """What a selector hit: the ids of the pending events it decides (with their
    operations and responses counted) and how many it leaves alone. Counts, not
    events: a selector over a 10M run's plan hits hundreds of thousands."""

    selector: Selector
    pending: list[str] = field(default_factory=list)
    operations: Counter[str] = field(default_factory=Counter)
    responses: Counter[str] = field(default_factory=Counter)
    decided: Counter[str] = field(default_factory=Counter)
    auto: int = 0

    def add(self, event: Event) -> None:
        """Count ``event``, which the selector hit, by its (effective) approval state."""
        state = event["approval"]["state"]
        if state == "pending":
            self.pending.append(event["id"])
            self.operations[event["operation"]] += 1
            self.responses[event["response"]] += 1
        elif state == "auto":
            self.auto += 1
        else:
            self.decided[state] += 1

    def merge(self, later: Selection) -> Selection:
        """This selection followed by ``later``'s (the events after these)."""
        self.pending.extend(later.pending)
        self.operations.update(later.operations)
        self.responses.update(later.responses)
        self.decided.update(later.decided)
        self.auto += later.auto
        return self

    def report_lines(self) -> list[str]:
        """How many events the selector hits, by operation and by response, and
        how many it skips (one line each)."""
        lines = [f"selector {self.selector.describe()} hits {_events(len(self.pending))}"]
        if self.pending:
            lines.append("  by operation: " + _breakdown(self.operations))
            lines.append("  by response: " + _breakdown(self.responses))
        skipped = sum(self.decided.values())
        if skipped:
            states = _breakdown(self.decided)
            lines.append(f"  skipped {_events(skipped)} already decided ({states})")
        if self.auto:
            lines.append(f"  skipped {_events(self.auto)} decided automatically (auto)")
        return lines


def _events(n: int) -> str:
    return "1 event" if n == 1 else f"{n} events"


def _breakdown(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def choose(events: Iterable[Event], selector: Selector) -> Selection:
    """:func:`select`, counted by approval state: only pending events are decided."""
    selection = Selection(selector)
    for event in events:
        if matches(event, selector):
            selection.add(event)
    return selection
