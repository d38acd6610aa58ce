"""Findings that persist across runs (docs/plan.md, "Decisions that persist").

Every event of a plan carries the keys of the findings it comes from
(``findings``: ``[{"attribute": NAME | null, "key": "fd-..."}]``). A finding's
key is the same in the next run for the same finding: the account (and its
entry's UUID), the identity, the situation, the attribute type and the values,
normalised and order-free (queries/macros/situations.sql ``rd_finding_key``);
another value, another attribute or a worse situation is another key.

A reviewer's persistent accept or reject of an event is recorded in the run
history as exceptions keyed by these finding keys (:mod:`recondiff.history`).
The next compare of the same config loads the exceptions active at its clock
(``plan_exception``), and :func:`find_and_suppress` drops what they accept from
the rows the events are built of, before the events are built; the header lists
what was dropped under ``accepted``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recondiff.config.model import AttributeMapping
from recondiff.engine.slots import COSTLY_KINDS, Column, kinds_of, list_of, norm_of, normalised
from recondiff.errors import RecondiffError
from recondiff.history import PERSISTENT, History
from recondiff.io.signing import Trust, TrustConfigLike
from recondiff.io.sqlfiles import Step, fetch_dicts
from recondiff.plan import choices, file, ledger
from recondiff.plan.trust import verify
from recondiff.vocabulary import UNKNOWN_TYPE, attribute_type, drift_group


def finding_attribute(name: str) -> str:
    """The attribute a finding is about, as its key takes it: the attribute type
    (:func:`recondiff.vocabulary.drift_group`: ``surname`` and ``2.5.4.4`` are
    ``sn``), with its options (``mail;lang-en`` is not ``mail``: both may be
    mapped) and an OID recondiff cannot name as itself (never the shared
    ``*``, which would make two unknown attributes one)."""
    base, _, options = name.strip().partition(";")
    group = drift_group(base)
    if group == UNKNOWN_TYPE:
        group = attribute_type(base)
    opts = sorted(o.strip().lower() for o in options.split(";") if o.strip())
    return ";".join([group, *opts])


def _finding_attribute(a: AttributeMapping) -> str:
    """:func:`finding_attribute` of a mapping's endpoint attribute; a derived value
    (endpoint_sql) is its name, as written (no LDAP type to fold it into)."""
    return finding_attribute(a.endpoint) if a.endpoint is not None else a.name.strip().lower()


def finding_values(columns: list[Column], attributes: Sequence[AttributeMapping]) -> str:
    """One side's mapped attributes as a list of value lists, for an account's own
    finding: a cheap kind normalised (one value), a costly kind (DN, set kinds;
    as in the staging hash, recondiff.engine.slots.hashed) or a multi-valued
    column raw and sorted. Normalising every DN of every account the plan acts
    on cost seconds at 1M; a value spelled otherwise makes a new finding, never
    hides one (benchmarks/NOTES.md)."""
    return list_of(
        [
            f"list_sort({c.values()})"
            if c.is_list or a.compare in COSTLY_KINDS
            else f"[{normalised(c, a.compare)}]"
            for c, a in zip(columns, attributes, strict=True)
        ],
        "VARCHAR[]",
    )


def find_and_suppress(
    step: Step,
    params: dict[str, Any],
    attributes: Sequence[AttributeMapping],
    repo_attrs: list[Column],
) -> list[dict[str, Any]]:
    """Key every drift row and every situations row the plan acts on
    (plan/finding_drift.sql, plan/finding_accounts.sql: the endpoint's values
    were read by plan/accounts.sql, :func:`finding_values`), drop what an active
    exception accepts (plan/accepted.sql, plan/suppress.sql: ``plan_exception``
    must exist, history/load_exceptions.sql or history/no_exceptions.sql), and
    return the header's ``accepted`` list."""
    step(
        "plan/finding_drift",
        {"finding_attrs": [_finding_attribute(a) for a in attributes]},
        norm=norm_of("raw", "compare", kinds_of(attributes)),
    )
    step(
        "plan/finding_accounts",
        params,
        repository_values=finding_values(repo_attrs, attributes),
    )
    step("plan/accepted", {})
    accepted = fetch_dicts(step("plan/accepted_list", {}))
    step("plan/suppress", {})
    return [{k: v for k, v in row.items() if v is not None} for row in accepted]


# --- harvest: the replaced plan's persistent decisions into the history ----------------


@dataclass(frozen=True)
class Harvested:
    """What :func:`harvest` found beside the output directory's plan."""

    digest: str | None  # the replaced plan's digest (None: no plan there)
    added: int = 0  # exceptions recorded (0: none decided, or recorded before)
    warning: str | None = None  # why its decisions were not recorded, if they were not


def harvest(
    plan_path: Path, history: History, trust: TrustConfigLike, key: str | None = None
) -> Harvested:
    """Record the persistent decisions of the plan at ``plan_path`` (the one a
    compare is about to replace) before the run reads them: ``accepted`` and
    ``rejected`` as exceptions (:meth:`History.record_exceptions`), ``assigned``
    owners as assignments (:meth:`History.record_assignments`); both idempotent. The plan's
    digest, its ledger's chain and, when the config trusts keys (``[trust]``),
    every signature are checked as ``apply`` checks them; a plan or ledger that
    fails is not recorded, and the run goes on with a warning (its findings are
    proposed again: failing safe). ``key``: the config of the compare harvesting;
    a plan a run of another config wrote is not recorded (its ledger would be
    checked against this config's ``[trust]``, not that config's)."""
    if not plan_path.exists():
        return Harvested(None)
    digest = None
    try:
        header = file.read_header(plan_path)
        digest = str(header["digest"])
        lines = ledger.read(plan_path, header)
        if not any(line.decision in (*PERSISTENT, "assigned") for line in lines):
            return Harvested(digest)
        trusted = Trust.from_config(trust)
        if trusted:
            verify(plan_path, header, lines, trusted)
        last = ledger.Decisions(lines, ledger.ledger_path(plan_path)).last
        decided = [
            (event, last[event["id"]])
            for event in file.iter_events(plan_path, header)  # the digest checked at its end
            if event["id"] in last
        ]
    except RecondiffError as exc:
        return Harvested(
            digest, 0, f"{plan_path}: its decisions were not recorded as exceptions ({exc})"
        )
    persistent = [(event, line) for event, line in decided if line.decision in PERSISTENT]
    try:
        # the owners reviewers chose (plan assign): the next classify links them
        assigned = choices.assignments_of(header, lines, (event for event, _ in decided))
        recorded = history.record_exceptions(digest, persistent, config_key=key)
    except (RecondiffError, ValueError) as exc:  # a hand-written line's time, by
        return Harvested(
            digest, 0, f"{plan_path}: its decisions were not recorded as exceptions ({exc})"
        )
    if assigned and recorded.config_key is not None:
        history.record_assignments(recorded.config_key, assigned)
    if recorded.foreign is not None:
        return Harvested(
            digest, 0,
            f"{plan_path}: its decisions were not recorded as exceptions (a run of another "
            f"config, {recorded.foreign}, wrote this plan)",
        )
    if recorded.config_key is None:
        return Harvested(
            digest, 0,
            f"{plan_path}: its decisions were not recorded as exceptions (no run of "
            f"{history.path} wrote this plan)",
        )
    return Harvested(digest, recorded.added)

