"""Build the action plan of a compare run (docs/plan.md).

This module decides the policy (which response each situation gets, from the
config) and the plan's header; DuckDB selects the rows the plan acts on,
decides each drift row's response and writes every event's JSON line
(``queries/plan/*.sql``): per account one atomic modify for its automatic
attribute changes and one for those to review (an attribute with any change to
review is held whole, so the two never touch the same attribute), one event per
capability value, one per account operation, and repository-side events for the
identity system's change feed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from recondiff import __version__
from recondiff.config.expression import expression_columns
from recondiff.config.model import AttributeMapping, Config
from recondiff.engine.slots import Column, kinds_of, list_of, norm_of
from recondiff.errors import ConfigError
from recondiff.io.sqlfiles import Step, fetch_dicts
from recondiff.plan.file import PLAN_FORMAT, Plan, plan_id
from recondiff.plan.findings import find_and_suppress, finding_values
from recondiff.plan.privileged import plan_params, privileged
from recondiff.vocabulary import REVIEW_PROPOSALS, SITUATIONS, drift_group

if TYPE_CHECKING:
    from recondiff.engine.resolve import InputSummary

POLICY_CONFLICTS_LISTED = 50
"""How many policy conflicts the plan's header lists (``policy_conflicts.rows``);
``total`` counts them all, ``policy_conflicts.csv`` holds them all."""
POLICY_CONFLICTS_FILE = "policy_conflicts.csv"

# situations listed in the header for attention when their response is review
_ATTENTION = ("collision", "ambiguous", "excluded", "duplicate_key")


@dataclass(frozen=True)
class _Decision:
    """What a situation's response means for one row."""

    response: str  # as configured (review, reject, ...)
    action: str  # the operation-level response (disable_in_endpoint, link, ...)
    review: bool


@dataclass(frozen=True)
class _DnTemplate:
    """``[endpoint] create_dn`` as plan/identities.sql and plan/events.sql take it."""

    literals: list[str] | None  # None: no template
    key_slots: list[int]
    values: list[str]  # SQL of each placeholder's value


Batches = Callable[..., Iterator[Any]]


class Planner:
    def __init__(
        self,
        cfg: Config,
        step: Step,
        batches: Batches,
        ep_attrs: list[Column],
        ep_columns: dict[str, Column],
        repo_key: Column,
        repo_attrs: list[Column],
        repo_columns: dict[str, Column],
    ) -> None:
        """``*_columns``: each snapshot's columns by lower-case name."""
        self.cfg, self.step, self.batches = cfg, step, batches
        self.ep_attrs, self.ep_columns, self.repo_key = ep_attrs, ep_columns, repo_key
        self.repo_attrs, self.repo_columns = repo_attrs, repo_columns
        self.link_attr = cfg.repository.link or "link"
        key = cfg.endpoint.key.lower()
        # the attributes an account's preconditions assert, by their index in the
        # fetched values (memberOf-like values are computed by the directory; a
        # derived value, endpoint_sql, is no attribute of the entry)
        self.asserted = [
            (i, a.endpoint)
            for i, a in enumerate(cfg.attributes)
            if a.endpoint is not None and not a.membership and a.endpoint.lower() != key
        ]

    # --- policy -------------------------------------------------------------

    def decision(self, situation: str) -> _Decision | None:
        response = self.cfg.response_for(situation)
        if response == "do_nothing":
            return None
        action = REVIEW_PROPOSALS.get(situation) if response == "review" else response
        if action == "reject":
            action = (
                "delete_from_endpoint"
                if self.cfg.plan.new_account_rejected_action == "delete"
                else "disable_in_endpoint"
            )
        if action is None:
            return None
        return _Decision(response, action, response == "review")

    def _disable_column(self) -> Column | None:
        disable = self.cfg.endpoint.disable
        name = {"ad": "userAccountControl", "openldap": "pwdAccountLockedTime"}.get(
            disable.method, disable.attribute or ""
        )
        return self.ep_columns.get(name.lower())

    # --- build ----------------------------------------------------------------

    def build(
        self,
        params: dict[str, Any],
        outputs: Path,
        ep_in: InputSummary,
        repo_in: InputSummary,
        created_at: datetime,
    ) -> tuple[Plan, Iterator[Any]]:
        """The plan's header and its events, as lists of rows of their JSON
        lines and counted fields (a plan of half a million events is never all
        in memory; :meth:`recondiff.plan.writer.PlanWriter.add_batch` writes them as they
        come). ``outputs``: the run's staging directory, where the identity
        policies left expected.parquet. DuckDB builds each event's canonical JSON line
        (queries/plan/events.sql): building them in Python was far slower.

        The steps, in order: the situations that act, the drift rows' responses,
        the accounts (with the disable column), the entries' UUIDs, the
        identities (with the DN template's values), the findings (and what an
        exception accepts dropped: ``plan_exception`` must exist,
        recondiff/plan/findings.py), the attention list, the header; the events
        are then streamed from plan/events.sql."""
        attention_situations = self._select_situations(params)
        if self.cfg.policies.policies:  # why the drifted values are expected (policies/why.sql)
            self.step(
                "policies/why",
                {
                    "expected_path": str(outputs / "expected.parquet"),
                    "names": [p.name for p in self.cfg.policies.policies],
                    "whens": [p.when for p in self.cfg.policies.policies],
                },
            )
        self._drift_rows(params)
        extra = self._accounts(params)
        uuid_attr = self._uuids(params)
        dn_template = self._identities(params)
        accepted = find_and_suppress(self.step, params, self.cfg.attributes, self.repo_attrs)
        self._owners(params)
        attention = self._attention(attention_situations)
        header = self._header(ep_in, repo_in, created_at, uuid_attr, attention)
        header["accepted"] = accepted
        if self.cfg.policies.policies:
            header["policy_conflicts"] = self._policy_conflicts()
        return header, self._events(extra, uuid_attr, dn_template)

    def do_nothing(self, path: Path) -> int:
        """do_nothing.csv at ``path``, after the events (plan/do_nothing_csv.sql:
        the findings the plan proposes nothing for); returns its rows."""
        situations = [s for s in SITUATIONS if s not in ("linked", "excluded")
                      and self.cfg.response_for(s) == "do_nothing"]
        rows = self.step("plan/do_nothing_csv",
                         {"situations": situations, "path": str(path)}).fetchall()
        return int(rows[0][0]) if rows else 0

    def _select_situations(self, params: dict[str, Any]) -> list[str]:
        """plan/situations: the rows whose situation's response acts (from the staged
        situations table, situations_out; situations.parquet is not read back);
        returns the situations listed for attention (their response is review)."""
        decisions = {s: self.decision(s) for s in SITUATIONS}
        acting = [
            {"situation": s, "response": d.response, "action": d.action, "review": d.review}
            for s, d in decisions.items()
            if d is not None
        ]
        attention = [s for s in _ATTENTION if self.cfg.response_for(s) == "review"]
        self.step(
            "plan/situations",
            {
                "endpoint_path": params["endpoint_path"],
                "decisions": acting,
                "attention": attention,
            },
        )
        return attention

    def _accounts(self, params: dict[str, Any]) -> Column | None:
        """plan/accounts: the accounts' values, and the column that says whether
        one is disabled (None: the export lacks it), checked for AD; with the
        endpoint's values plan/finding_accounts keys (one read of the file)."""
        extra = self._disable_column()
        self.step(
            "plan/accounts",
            params,
            values=list_of([c.clean_values() for c in self.ep_attrs], "VARCHAR[]"),
            extra=extra.values() if extra else "CAST([] AS VARCHAR[])",
            finding_values=finding_values(self.ep_attrs, self.cfg.attributes),
        )
        self._check_disable(extra)
        return extra

    def _uuids(self, params: dict[str, Any]) -> str | None:
        """plan/uuids: each entry's UUID, when the export has one; its attribute."""
        uuid_attr, uuid_column = self._uuid_column()
        if uuid_column is not None:
            self.step("plan/uuids", params, uuid=uuid_column.first())
        else:
            self.step("plan/uuids_none", {})
        return uuid_attr

    def _identities(self, params: dict[str, Any]) -> _DnTemplate:
        """plan/identities: the identities' values and the DN template's values
        (the missing identities from situations_out)."""
        dn_template = self._dn_template()
        self.step(
            "plan/identities",
            params,
            key=self.repo_key.first(),
            values=list_of([c.clean_values() for c in self.repo_attrs], "VARCHAR[]"),
            dn_values=list_of(dn_template.values, "VARCHAR"),
        )
        return dn_template

    def _owners(self, params: dict[str, Any]) -> None:
        """plan/owner_candidates and plan/owners: the owner decisions of the accounts
        whose situation asks for one (:func:`owner_situations`), with their scored
        candidates (none to score: plan/owner_candidates_none, which spares
        planning the normalisation)."""
        situations = owner_situations(self.cfg)
        owner_params = params | {"owner_situations": situations}
        (hits,) = self.step("plan/owner_hit_count", {}).fetchall()[0]
        if situations and hits:
            self.step(
                "plan/owner_candidates",
                owner_params | {"max_candidates": MAX_CANDIDATES},
                endpoint_values=list_of([c.values() for c in self.ep_attrs], "VARCHAR[]"),
                repository_values=list_of([c.values() for c in self.repo_attrs], "VARCHAR[]"),
                norm=norm_of("raw", "compare", kinds_of(self.cfg.attributes)),
            )
        else:
            self.step("plan/owner_candidates_none", {})
        self.step(
            "plan/owners",
            owner_params
            | {"link_attr": self.link_attr, "default_identity": self._default_identity(params)},
        )

    def _default_identity(self, params: dict[str, Any]) -> str | None:
        """``[plan] default_identity`` as the repository snapshot spells it; None when
        unset or when the snapshot has no such identity (it is never offered then)."""
        default = self.cfg.plan.default_identity
        if not default:
            return None
        rows = self.step(
            "plan/repository_identity",
            {"repository_path": params["repository_path"], "identity": default},
            key=self.repo_key.first(),
            scope=self.cfg.repository.scope or "TRUE",
        ).fetchall()
        return str(rows[0][0]) if rows else None

    def _attention(self, situations: list[str]) -> list[dict[str, Any]]:
        """The header's attention list: the records of ``situations``."""
        return [
            row | {"candidates": list(row["candidates"] or [])}
            for row in fetch_dicts(self.step("plan/attention", {"attention": situations}))
        ]

    def _policy_conflicts(self) -> dict[str, Any]:
        """The header's ``policy_conflicts`` (with identity policies): how many
        conflicts the run found, where they all are, and the first
        :data:`POLICY_CONFLICTS_LISTED` (queries/plan/policy_conflicts.sql)."""
        rows = fetch_dicts(
            self.step("plan/policy_conflicts", {"limit": POLICY_CONFLICTS_LISTED})
        )
        return {
            "total": int(rows[0]["total"]) if rows else 0,
            "file": POLICY_CONFLICTS_FILE,
            "rows": [
                {
                    "identity_key": r["identity_key"],
                    "attribute": r["attribute"],
                    "policies": list(r["policies"] or []),
                    "values": list(r["values"] or []),
                }
                for r in rows
            ],
        }

    def _header(
        self,
        ep_in: InputSummary,
        repo_in: InputSummary,
        created_at: datetime,
        uuid_attr: str | None,
        attention: list[dict[str, Any]],
    ) -> Plan:
        """The plan's header before its counts (docs/plan.md)."""
        cfg = self.cfg
        config_sha256 = _sha256_of(cfg.path)
        return {
            "format": PLAN_FORMAT,
            "plan_id": plan_id(config_sha256, ep_in.sha256, repo_in.sha256),
            "created_at": created_at.isoformat(timespec="seconds"),
            "recondiff_version": __version__,
            "config": {"path": str(cfg.path), "sha256": config_sha256},
            "inputs": {"endpoint": _input(ep_in), "repository": _input(repo_in)},
            "endpoint": {
                "name": cfg.endpoint.name,
                "kind": cfg.endpoint.kind,
                "key_attribute": cfg.endpoint.key,
                "protected": list(cfg.endpoint.protected),
                # asserted on every event of an existing entry; None: the export lacks it
                "uuid_attribute": uuid_attr,
                "disable": {
                    "method": cfg.endpoint.disable.method,
                    "attribute": cfg.endpoint.disable.attribute,
                    "value": cfg.endpoint.disable.value,
                },
            },
            "safety": {
                "max_deletes": cfg.plan.max_deletes,
                "max_delete_percent": cfg.plan.max_delete_percent,
                "max_value_removals": cfg.plan.max_value_removals,
                "max_value_removal_percent": cfg.plan.max_value_removal_percent,
                "max_membership_removals": cfg.plan.max_membership_removals,
                "max_membership_removal_percent": cfg.plan.max_membership_removal_percent,
                "max_modifies": cfg.plan.max_modifies,
                "max_modify_percent": cfg.plan.max_modify_percent,
            },
            "counts": {},
            "attention": attention,
        }

    def _events(
        self, extra: Column | None, uuid_attr: str | None, dn_template: _DnTemplate
    ) -> Iterator[Any]:
        """plan/events, streamed 5,000 lines at a time: a batch's lines are all in
        memory, and larger batches cost memory for no time."""
        cfg = self.cfg
        disable = cfg.endpoint.disable
        return self.batches(
            "plan/events",
            {
                "key_attr": cfg.endpoint.key,
                "link_attr": self.link_attr,
                "default_identity": cfg.plan.default_identity,
                "asserted": [{"idx": i + 1, "name": name} for i, name in self.asserted],
                "attrs": [self._event_attribute(a) for a in cfg.attributes],
                "drift_groups": [_drift_group(a) for a in cfg.attributes],
                "disable_method": disable.method,
                "disable_attribute": disable.attribute,
                "disable_value": disable.value,
                "disable_has_column": extra is not None,
                "object_class": list(cfg.endpoint.create_object_class),
                "uuid_attr": uuid_attr,
                "dn_literals": dn_template.literals,
                "dn_key_slots": dn_template.key_slots,
                # the identity policies' repository events (docs/policies.md)
                "policy_response": cfg.policies.response,
                "policy_review": cfg.policies.response == "review",
            },
            5_000,
        )

    def _event_attribute(self, a: AttributeMapping) -> dict[str, Any]:
        """One [[attribute]] as plan/events.sql reads it. A derived side (endpoint_sql,
        repository_sql) is NULL: no event writes it (config/attributes.py refuses the
        responses that would), no created account or record gets it."""
        skipped = ("do_nothing", "update_repository")
        return {
            "endpoint": a.endpoint,
            "repository": a.repository,
            "capability": a.capability,
            "membership": a.membership,
            # what a created account gets: only what the endpoint is
            # meant to follow; memberships are events of their own
            "creates": a.endpoint is not None
            and not a.membership
            and a.on_drift not in skipped
            and a.endpoint.lower() != self.cfg.endpoint.key.lower(),
            "joins": bool(a.membership) and a.on_drift not in skipped,
        }

    def _drift_rows(self, params: dict[str, Any]) -> None:
        rules = [
            {
                "attr_idx": i,
                "pos": j,
                "pattern": r.match,
                "kind": r.kind,
                "response": r.response,
                "alert": r.alert,
            }
            for i, a in enumerate(self.cfg.attributes, 1)
            for j, r in enumerate(a.rules, 1)
        ]
        if rules:
            kinds = kinds_of(self.cfg.attributes)
            self.step(
                "plan/drift_rules",
                {"rules": rules},
                norm_value=norm_of("coalesce(d.endpoint_value, d.repository_value)", "d.compare",
                                   kinds),
                norm_pattern=norm_of("r.pattern", "d.compare", kinds),
            )
        else:
            self.step("plan/drift_no_rules", {})
        on_drift = [a.on_drift for a in self.cfg.attributes]
        defaults = privileged(self.cfg)
        if defaults is not None and (defaults.group_attrs or defaults.admin_count_attrs):
            self.step("plan/privileged", plan_params(self.cfg, defaults))
        self.step("plan/drift", params | {"on_drift": on_drift})
        if self.cfg.policies.policies:
            self.step(
                "plan/policy_holds",
                {
                    "policy_reads": policy_reads(self.cfg),
                    "policy_review": self.cfg.policies.response == "review",
                },
            )

    def _uuid_column(self) -> tuple[str | None, Column | None]:
        """The export's column naming each entry for good: ``entryUUID`` (OpenLDAP,
        389-DS: ``ldapsearch ... '*' entryUUID`` or slapcat) or ``objectGUID`` (AD),
        as ``(the attribute to assert, its column)``; ``(None, None)`` without one."""
        order = ("objectGUID", "entryUUID")
        if self.cfg.endpoint.kind != "ad":
            order = order[::-1]
        for name in order:
            column = self.ep_columns.get(name.lower())
            if column is not None:
                return name, column
        return None, None

    def _check_disable(self, extra: Column | None) -> None:
        """Refuse a plan that disables AD accounts it cannot: no userAccountControl
        column in the export, or a value that is not a number."""
        if self.cfg.endpoint.disable.method != "ad":
            return
        disabling, value = self.step("plan/disable_check", {}).fetchall()[0]
        if not disabling:
            return
        if extra is None:
            raise ConfigError(
                f"{self.cfg.path}: disabling accounts on [endpoint] kind 'ad' needs a "
                f"userAccountControl column in {self.cfg.endpoint.snapshot}; add it to "
                "the export, or set [endpoint.disable] attribute and value"
            )
        if value is not None:
            raise ConfigError(
                f"{self.cfg.endpoint.snapshot}: userAccountControl {value!r} is not a number; "
                "export it as the integer AD stores"
            )

    def _dn_template(self) -> _DnTemplate:
        """``[endpoint] create_dn`` split for plan/events.sql: its literal pieces,
        the (1-based) placeholders that name the account's key, and for each
        placeholder the SQL of its value in the repository record (the first
        non-blank value of that column; NULL for the key or an unknown column)."""
        template = self.cfg.endpoint.create_dn
        if not template:
            return _DnTemplate(None, [], [])
        literals: list[str] = []
        key_slots: list[int] = []
        values: list[str] = []
        at = 0
        for match in _PLACEHOLDER.finditer(template):
            literals.append(template[at : match.start()])
            at = match.end()
            name = match.group(1).strip().lower()
            column = self.repo_columns.get(name)
            if name == "key":
                key_slots.append(len(values) + 1)
                column = None
            values.append(f"({column.clean_values()})[1]" if column else "CAST(NULL AS VARCHAR)")
        literals.append(template[at:])
        return _DnTemplate(literals, key_slots, values)


# --- helpers ----------------------------------------------------------------------


def _drift_group(a: AttributeMapping) -> str:
    """The attribute type an [[attribute]]'s endpoint changes (the auto/reviewed
    split, plan/events.sql); a derived value's own name, as no event changes it."""
    if a.endpoint is None:
        return f"derived:{a.name.lower()}"
    return drift_group(a.endpoint)


MAX_CANDIDATES = 5
"""The owner candidates an owner decision lists at most (best first)."""

def policy_reads(cfg: Config) -> list[dict[str, Any]]:
    """Per [[attribute]] (by index from 1), the repository columns it reads, folded:
    its column, or those its repository_sql names (plan/policy_holds.sql)."""
    out = []
    for i, a in enumerate(cfg.attributes, 1):
        columns = [a.repository] if a.repository else expression_columns(a.repository_sql or "")
        out += [{"attr_idx": i, "col": c.lower()} for c in dict.fromkeys(columns)]
    return out


OWNER_SITUATIONS = ("unmatched", "ambiguous", "collision")


def owner_situations(cfg: Config) -> list[str]:
    """The situations whose accounts get an owner decision: unmatched, ambiguous and
    collision, when their response leaves the owner open (``review``, ``reject``);
    ``do_nothing`` asks for nothing, and ``assign_default_user`` and
    ``add_to_repository`` already decide the owner."""
    return [s for s in OWNER_SITUATIONS if cfg.response_for(s) in ("review", "reject")]


def _input(summary: InputSummary) -> dict[str, Any]:
    return {
        "path": str(summary.path),
        "rows": summary.rows,
        "captured_at": summary.captured_at.isoformat(),
        "sha256": summary.sha256,
    }


def _sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")
