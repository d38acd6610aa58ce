"""What a reviewer chooses per event beyond approve or reject (docs/plan.md).

Two choices, both recorded in the decisions ledger, never in the plan (which
is immutable):

- **The owner** of an account (``plan assign``): an owner decision (response
  ``assign_owner``, an ``owner`` object listing the candidates) takes the
  ``identity`` of an ``assigned`` ledger line. :func:`owner_choice` checks the
  identity may be chosen; :func:`assigned_link` is the link event the feed
  then writes.
- **Delete or disable** a rejected new account (``plan approve --action``): an
  event with ``choices`` runs the operation the ledger line's ``action`` names
  (:func:`action_choice` checks it; :func:`chosen` gives the event ``apply``
  and ``plan ldif`` run, :func:`check_chosen_deletes` the guard on a delete
  chosen where the plan proposed a disable).

Pure functions over events (dicts): no ledger, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from recondiff.errors import InputError
from recondiff.history import Assignment
from recondiff.plan.file import Event
from recondiff.plan.ledger import Line

OWNER_RESPONSE = "assign_owner"
ACTIONS = ("delete", "disable")


def fold_key(key: str) -> str:
    """An identity key as compare matches keys (case-folded, outer spaces dropped)."""
    return " ".join(key.split()).casefold()


# -- owners --------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerChoice:
    """A valid owner choice: what the ledger line records (``decision``
    ``"assigned"``, ``ids``, ``identity``), and where the identity came from."""

    event_id: str
    identity: str  # as the plan (or the repository snapshot) spells it
    source: str  # "candidate", "default" or "repository"

    def ledger(self) -> dict[str, Any]:
        """The keyword arguments of the ledger's append (the lead's ``ledger.append``)."""
        return {
            "decision": "assigned",
            "ids": [self.event_id],
            "selector": "--event",
            "identity": self.identity,
        }


def is_owner_event(event: Event) -> bool:
    return event.get("response") == OWNER_RESPONSE and isinstance(event.get("owner"), dict)


def owner_choice(
    event: Event,
    identity: str,
    *,
    any_identity: bool = False,
    repository_key: Callable[[str], str | None] | None = None,
) -> OwnerChoice:
    """Check that ``identity`` may own the account of the owner decision ``event``:
    one of its candidates, or its default identity, or, with ``any_identity``,
    an identity of the repository snapshot (``repository_key``: the snapshot's
    spelling of a key, None when it has no such identity; asked only then).
    Keys compare as compare folds them. Raises :class:`InputError` (one line)
    otherwise."""
    if not is_owner_event(event):
        raise InputError(
            f"event {event.get('id')} is not an owner decision (response {OWNER_RESPONSE}); "
            "plan assign takes the events plan show lists as assign_owner"
        )
    wanted = fold_key(identity)
    if not wanted:
        raise InputError("--identity is blank: give the key of the identity that owns it")
    owner = event["owner"]
    for candidate in owner.get("candidates") or []:
        if fold_key(candidate["identity_key"]) == wanted:
            return OwnerChoice(event["id"], candidate["identity_key"], "candidate")
    default = owner.get("default_identity")
    if default and fold_key(default) == wanted:
        return OwnerChoice(event["id"], default, "default")
    if not any_identity:
        raise InputError(
            f"{identity} is not a candidate of event {event['id']} ({_offered(owner)}); choose "
            "one of them, or pass --any-identity to choose another identity of the repository "
            "snapshot"
        )
    known = repository_key(identity) if repository_key is not None else None
    if known is None:
        raise InputError(
            f"{identity} is not an identity of the repository snapshot; an account is "
            "assigned only to an identity that exists"
        )
    return OwnerChoice(event["id"], known, "repository")


def _offered(owner: Mapping[str, Any]) -> str:
    keys = [c["identity_key"] for c in owner.get("candidates") or []]
    if owner.get("default_identity"):
        keys.append(f"default {owner['default_identity']}")
    return "offered: " + ", ".join(keys) if keys else "it offers none"


def assignment(
    event: Event,
    identity: str,
    *,
    plan_digest: str,
    seq: int,
    by: str | None,
    at: datetime,
    comment: str | None = None,
) -> Assignment:
    """The history row (table ``assignments``) of an ``assigned`` ledger line on the
    owner decision ``event``: what the next compare links (classify/assigned_links.sql).
    The harvest of the ledger into history calls it for each such line."""
    owner = event.get("owner") or {}
    return Assignment(
        plan_digest=plan_digest,
        seq=seq,
        event_id=event["id"],
        endpoint_key=event["object"]["key"],
        endpoint_uuid=owner.get("uuid"),
        identity_key=identity,
        assigned_by=by,
        assigned_at=at,
        comment=comment,
    )


def assignments_of(
    header: dict[str, Any], lines: Sequence[Line], events: Iterable[Event]
) -> list[Assignment]:
    """The history rows of a plan's ``assigned`` ledger lines (the harvest's part for
    owners): one per line and owner decision it names, when that line is the event's
    last decision (a later assignment replaces the earlier; a later reject or
    approve overturns it, as the feed reads the ledger)."""
    last: dict[str, Line] = {}
    for line in lines:
        for event_id in line.ids:
            last[event_id] = line
    rows: list[Assignment] = []
    for event in events:
        chosen_by = last.get(event["id"])
        if (
            chosen_by is None
            or chosen_by.decision != "assigned"
            or chosen_by.identity is None
            or not is_owner_event(event)
        ):
            continue
        rows.append(
            assignment(
                event, chosen_by.identity, plan_digest=str(header["digest"]),
                seq=chosen_by.seq, by=chosen_by.by, at=datetime.fromisoformat(chosen_by.at),
                comment=chosen_by.comment,
            )
        )
    return rows


def assigned_link(event: Event, identity: str) -> Event:
    """The repository link an assigned owner decision writes (the feed's row):
    the decision's event, its identity the chosen one."""
    return {**event, "object": {**event["object"], "identity_key": identity}}


# -- delete or disable ---------------------------------------------------------------


def action_choice(event: Event, action: str) -> dict[str, Any]:
    """Check that a reviewer may pick ``action`` (delete or disable) for ``event``;
    the ledger line's keyword (``{"action": action}``). Raises :class:`InputError`."""
    if action not in ACTIONS:
        raise InputError(f"--action {action}: choose delete or disable")
    choices = event.get("choices")
    if not isinstance(choices, dict):
        raise InputError(
            f"event {event.get('id')} offers no choice of action; --action is for a "
            "rejected new account (an unmatched account the plan deletes or disables)"
        )
    if choices.get(action) is None:
        raise InputError(
            f"event {event['id']} cannot {action} the account (it is already disabled); "
            "approve it without --action"
        )
    return {"action": action}


def check_action(events: Iterable[Event], action: str) -> dict[str, Any]:
    """``plan approve --action``: every event decided must offer ``action``
    (:func:`action_choice`); the ledger line's keyword (``{"action": action}``)."""
    result = {"action": action}
    for event in events:
        result = action_choice(event, action)
    return result


def chosen(event: Event) -> Event:
    """The event ``apply`` and ``plan ldif`` run: with the operation, changes and
    preconditions of the action its approval chose (``approval.action``, from
    the ledger), else as planned. An action the event does not offer is a
    tampered or foreign decision: :class:`InputError`."""
    action = (event.get("approval") or {}).get("action")
    if not action or action == event["operation"]:
        return event
    choice = (event.get("choices") or {}).get(action) if action in ACTIONS else None
    if choice is None:
        raise InputError(
            f"event {event['id']}: its decision chooses {action!r}, which the plan does not "
            "offer for it; the decisions ledger does not belong to this plan"
        )
    return {
        **event,
        "operation": action,
        "changes": choice["changes"],
        "preconditions": choice["preconditions"],
    }


def with_choices(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan with every event :func:`chosen`."""
    return {**plan, "events": [chosen(e) for e in plan["events"]]}


def _is_chosen_delete(event: Event) -> bool:
    action = (event.get("approval") or {}).get("action")
    return action == "delete" and event["operation"] != "delete"


class ChosenDeletes:
    """The events a stream turns into a delete by a reviewer's choice where the plan
    proposed another operation (a disable), noted as :meth:`chosen` streams them."""

    def __init__(self) -> None:
        self.ids: list[str] = []

    def chosen(self, events: Iterable[Event]) -> Iterator[Event]:
        """``events`` as they run (:func:`chosen`), noting the chosen deletes."""
        for event in events:
            if _is_chosen_delete(event):
                self.ids.append(event["id"])
            yield chosen(event)

    def check(self, allow_delete: bool, source: Path | str) -> None:
        """A delete a reviewer chose where the plan proposed a disable runs only with
        ``--allow-delete``: the person running apply agrees to what cannot be undone."""
        if self.ids and not allow_delete:
            ids = self.ids
            shown = ", ".join(ids[:3]) + (f" and {len(ids) - 3} more" if len(ids) > 3 else "")
            raise InputError(
                f"{source}: {len(ids)} event(s) delete an account where the plan proposed to "
                f"disable it, by a reviewer's choice ({shown}); review them, then allow it "
                "with --allow-delete"
            )


def chosen_deletes(events: Iterable[Event]) -> list[str]:
    """The ids of events a reviewer's choice turns into a delete where the plan
    proposed another operation (a disable)."""
    return [e["id"] for e in events if _is_chosen_delete(e)]


def check_chosen_deletes(
    events: Collection[Event], allow_delete: bool, source: Path | str
) -> None:
    """:meth:`ChosenDeletes.check` over ``events`` (as planned, before :func:`chosen`)."""
    choices = ChosenDeletes()
    for _ in choices.chosen(events):
        pass
    choices.check(allow_delete, source)
