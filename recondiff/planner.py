"""Build the action plan of a compare run (docs/plan.md).

DuckDB selects the rows the plan acts on and decides each drift row's response
(``queries/plan_*.sql``); this module turns those rows into events: one atomic
modify per account for its attribute changes, one event per capability value,
one per account operation, and repository-side events for the identity
system's change feed.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from recondiff import __version__
from recondiff.config import REVIEW_PROPOSALS, SITUATIONS, AttributeMapping, Config
from recondiff.errors import ConfigError
from recondiff.plan import PLAN_FORMAT, Event, Plan, event_id, plan_id
from recondiff.queries import fetch_batches
from recondiff.sqlgen import Column, list_of

if TYPE_CHECKING:
    from recondiff.compare import InputSummary

# responses -> (target, operation)
_ACCOUNT_OPS = {
    "delete_from_endpoint": ("endpoint", "delete"),
    "disable_in_endpoint": ("endpoint", "disable"),
    "add_to_endpoint": ("endpoint", "add"),
    "link": ("repository", "link"),
    "unlink": ("repository", "unlink"),
    "assign_default_user": ("repository", "link"),
    "add_to_repository": ("repository", "add"),
    "delete_from_repository": ("repository", "delete"),
}
# drift responses that push the repository's value to the endpoint
_TO_ENDPOINT = {"update_endpoint": False, "reject": False, "review": True}
_ATTENTION = ("collision", "ambiguous", "excluded", "duplicate_key")
_AD_DISABLED = 2
_LOCKED_FOREVER = "000001010000Z"  # OpenLDAP ppolicy: locked until an administrator unlocks


@dataclass(frozen=True)
class _Decision:
    """What a situation's response means for one row."""

    response: str  # as configured (review, reject, ...)
    action: str  # the operation-level response (disable_in_endpoint, link, ...)
    review: bool


Step = Callable[..., duckdb.DuckDBPyConnection]


class Planner:
    def __init__(
        self,
        cfg: Config,
        step: Step,
        ep_attrs: list[Column],
        ep_columns: dict[str, Column],
        repo_key: Column,
    ) -> None:
        self.cfg, self.step = cfg, step
        self.ep_attrs, self.ep_columns, self.repo_key = ep_attrs, ep_columns, repo_key
        self.link_attr = cfg.repository.link or "link"
        self.mappings = dict(enumerate(cfg.attributes, 1))
        key = cfg.endpoint.key.lower()
        # the attributes an account's preconditions assert, by their index in the
        # fetched values (memberOf-like values are computed by the directory)
        self.asserted = [
            (i, a.endpoint)
            for i, a in enumerate(cfg.attributes)
            if not a.membership and a.endpoint.lower() != key
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
        situations_parquet: Path,
        ep_in: InputSummary,
        repo_in: InputSummary,
        created_at: datetime,
    ) -> tuple[Plan, Iterator[Event]]:
        """The plan's header and its events, produced one at a time (a plan of half
        a million events is never all in memory; :class:`recondiff.plan.PlanWriter`
        writes them as they come). The header's ``attention`` list fills up while
        the events are consumed; its counts and digest come from the writer."""
        cfg = self.cfg
        decisions = {s: self.decision(s) for s in SITUATIONS}
        acting = [s for s, d in decisions.items() if d is not None]
        attention_situations = [s for s in _ATTENTION if cfg.response_for(s) == "review"]
        # Everything the events need is fetched before the rows are streamed: one
        # DuckDB connection runs one query at a time.
        drift = _drift_by_row(self._drift_rows(params))
        accounts = self._accounts(
            params,
            [
                s
                for s, d in decisions.items()
                if d is not None
                and d.action in ("delete_from_endpoint", "disable_in_endpoint", "add_to_repository")
            ],
        )
        missing = decisions.get("missing")
        identities = (
            self._identities(params)
            if missing is not None and missing.action == "add_to_endpoint"
            else {}
        )
        attention: list[dict[str, Any]] = []
        header: Plan = {
            "format": PLAN_FORMAT,
            "plan_id": plan_id(_sha256_of(cfg.path), ep_in.sha256, repo_in.sha256),
            "created_at": created_at.isoformat(timespec="seconds"),
            "recondiff_version": __version__,
            "config": {"path": str(cfg.path), "sha256": _sha256_of(cfg.path)},
            "inputs": {"endpoint": _input(ep_in), "repository": _input(repo_in)},
            "endpoint": {
                "name": cfg.endpoint.name,
                "kind": cfg.endpoint.kind,
                "key_attribute": cfg.endpoint.key,
                "protected": list(cfg.endpoint.protected),
                "disable": {
                    "method": cfg.endpoint.disable.method,
                    "attribute": cfg.endpoint.disable.attribute,
                    "value": cfg.endpoint.disable.value,
                },
            },
            "safety": {
                "max_deletes": cfg.plan.max_deletes,
                "max_delete_percent": cfg.plan.max_delete_percent,
            },
            "counts": {},
            "attention": attention,
        }
        cursor = self.step(
            "plan_situations",
            {
                "situations_parquet": str(situations_parquet),
                "situations": acting + attention_situations,
            },
        )
        names, batches = fetch_batches(cursor, 10_000)

        def events() -> Iterator[Event]:
            for batch in batches:
                for values in batch:
                    row = dict(zip(names, values, strict=True))
                    situation = row["situation"]
                    if situation in attention_situations:
                        attention.append(
                            {
                                "situation": situation,
                                "endpoint_key": row["endpoint_key"],
                                "endpoint_dn": row["endpoint_dn"],
                                "identity_key": row["identity_key"],
                                "rule": row["rule"],
                                "candidates": list(row["candidates"] or []),
                            }
                        )
                        continue
                    decision = decisions.get(situation)
                    if decision is not None:
                        event = self._account_event(row, decision, accounts, identities)
                        if event is not None:
                            yield event
                            if event["operation"] == "add" and event["target"] == "endpoint":
                                record = identities.get(_fold(row["identity_key"]), {})
                                yield from self._new_memberships(event, record, decision)
                    if row["sync"] == "drifted":
                        rows = drift.pop(row["endpoint_record"], [])
                        yield from self._drift_events(
                            row, [dict(zip(drift.names, r, strict=True)) for r in rows]
                        )

        return header, events()

    # --- queries ----------------------------------------------------------------

    def _drift_rows(self, params: dict[str, Any]) -> duckdb.DuckDBPyConnection:
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
        on_drift = [a.on_drift for a in self.cfg.attributes]
        return self.step("plan_drift", params | {"rules": rules, "on_drift": on_drift})

    def _accounts(
        self, params: dict[str, Any], situations: list[str]
    ) -> dict[int, tuple[list[list[str]], list[str]]]:
        """Raw values of the accounts the plan deletes, disables or copies, by record."""
        if not situations:
            return {}
        extra = self._disable_column()
        _, batches = fetch_batches(
            self.step(
                "plan_accounts",
                params | {"situations": situations},
                values=list_of([c.values() for c in self.ep_attrs], "VARCHAR[]"),
                extra=extra.values() if extra else "CAST([] AS VARCHAR[])",
            )
        )
        return {
            int(ep_row): (
                [v if _is_clean(v) else _clean(v) for v in (vals or [])],
                _clean(extra_vals),
            )
            for batch in batches
            for ep_row, vals, extra_vals in batch
        }

    def _identities(self, params: dict[str, Any]) -> dict[str, dict[str, Any]]:
        """The whole repository record of every missing identity, by folded key."""
        names, batches = fetch_batches(
            self.step("plan_identities", params, key=self.repo_key.first())
        )
        names = [n.lower() for n in names]
        records = (dict(zip(names, row, strict=True)) for batch in batches for row in batch)
        return {_fold(r.pop("rd_identity_key")): r for r in records}

    # --- events -----------------------------------------------------------------

    def _account_event(
        self,
        row: dict[str, Any],
        decision: _Decision,
        accounts: dict[int, tuple[list[list[str]], list[str]]],
        identities: dict[str, dict[str, Any]],
    ) -> Event | None:
        action = decision.action
        target, operation = _ACCOUNT_OPS[action]
        key, dn, identity = row["endpoint_key"], row["endpoint_dn"], row["identity_key"]
        obj: dict[str, Any] = {"key": key, "dn": dn, "identity_key": identity}
        changes: list[dict[str, Any]] = []
        pre: list[dict[str, Any]] = []
        if action in ("delete_from_endpoint", "disable_in_endpoint"):
            values, extra = accounts.get(row["endpoint_record"], ([], []))
            pre = self._account_preconditions(key, values)
            if action == "disable_in_endpoint":
                disabled = self._disable_changes(extra, pre)
                if disabled is None:  # already disabled: nothing to do
                    return None
                changes = disabled
        elif action == "add_to_endpoint":
            record = identities.get(_fold(identity))
            obj["dn"], changes = self._new_entry(key, record or {})
        elif action in ("link", "assign_default_user"):
            if action == "assign_default_user":
                obj["identity_key"] = self.cfg.plan.default_identity
            changes = [_change("replace", self.link_attr, [key])]
            pre = [{"attribute": self.link_attr, "values": []}]
        elif action == "unlink":
            if key is None or (row["situation"] == "missing" and row["rule"] != "link"):
                return None
            changes = [_change("delete", self.link_attr, [key])]
            pre = [{"attribute": self.link_attr, "values": [key]}]
        elif action == "add_to_repository":
            values, _ = accounts.get(row["endpoint_record"], ([], []))
            changes = [
                _change("add", a.repository, v)
                for a, v in zip(self.cfg.attributes, values, strict=True)
                if v
            ] + [_change("add", self.link_attr, [key])]
        elif action == "delete_from_repository":
            pass
        return _event(
            target,
            operation,
            decision.response,
            obj,
            changes,
            pre,
            {"situation": row["situation"], "rule": row["rule"]},
            None,
            decision.review,
        )

    def _account_preconditions(
        self, key: str | None, values: list[list[str]]
    ) -> list[dict[str, Any]]:
        pre = [{"attribute": self.cfg.endpoint.key, "values": [key] if key else []}]
        pre.extend(
            {"attribute": name, "values": values[i]} for i, name in self.asserted if i < len(values)
        )
        return pre

    def _disable_changes(
        self, extra: list[str], pre: list[dict[str, Any]]
    ) -> list[dict[str, Any]] | None:
        disable = self.cfg.endpoint.disable
        if disable.method == "ad":
            if self._disable_column() is None:
                raise ConfigError(
                    f"{self.cfg.path}: disabling accounts on [endpoint] kind 'ad' needs a "
                    f"userAccountControl column in {self.cfg.endpoint.snapshot}; add it to "
                    "the export, or set [endpoint.disable] attribute and value"
                )
            old = extra[0] if extra else ""
            try:
                flags = int(old)
            except ValueError:
                raise ConfigError(
                    f"{self.cfg.endpoint.snapshot}: userAccountControl {old!r} is not a number; "
                    "export it as the integer AD stores"
                ) from None
            if flags & _AD_DISABLED:
                return None
            pre.append({"attribute": "userAccountControl", "values": [old]})
            return [
                _change("delete", "userAccountControl", [old]),
                _change("add", "userAccountControl", [str(flags | _AD_DISABLED)]),
            ]
        if disable.method == "openldap":
            if extra:
                return None
            pre.append({"attribute": "pwdAccountLockedTime", "values": []})
            return [_change("add", "pwdAccountLockedTime", [_LOCKED_FOREVER])]
        assert disable.attribute and disable.value
        if self._disable_column() is not None:
            if [v.casefold() for v in extra] == [disable.value.casefold()]:
                return None
            pre.append({"attribute": disable.attribute, "values": extra})
        return [_change("replace", disable.attribute, [disable.value])]

    def _new_entry(
        self, key: str | None, record: dict[str, Any]
    ) -> tuple[str | None, list[dict[str, Any]]]:
        """DN and attributes of an account to create from its identity's record
        (``record``'s column names are lower-case)."""
        fields = record
        changes = []
        if self.cfg.endpoint.create_object_class:
            changes.append(
                _change("add", "objectClass", list(self.cfg.endpoint.create_object_class))
            )
        if key:
            changes.append(_change("add", self.cfg.endpoint.key, [key]))
        for a in self.cfg.attributes:
            # only what the endpoint is meant to follow; memberships are events of their own
            if a.membership or a.on_drift in ("do_nothing", "update_repository"):
                continue
            if a.endpoint.lower() == self.cfg.endpoint.key.lower():
                continue
            values = _clean(_as_list(fields.get(a.repository.lower())))
            if values:
                changes.append(_change("add", a.endpoint, values))
        template = self.cfg.endpoint.create_dn
        return (_fill_dn(template, fields | {"key": key}) if template else None), changes

    def _new_memberships(
        self, added: Event, record: dict[str, Any], decision: _Decision
    ) -> list[Event]:
        """A created account's groups: one membership event per group, after the add."""
        dn = added["object"]["dn"]
        if not dn:
            return []
        fields = record
        events = []
        for a in self.cfg.attributes:
            if not a.membership or a.on_drift in ("do_nothing", "update_repository"):
                continue
            for group in _clean(_as_list(fields.get(a.repository.lower()))):
                obj = {
                    "key": None,
                    "dn": group,
                    "identity_key": added["object"]["identity_key"],
                    "member_of": {"key": added["object"]["key"], "dn": dn},
                }
                events.append(
                    _event(
                        "endpoint",
                        "modify",
                        decision.response,
                        obj,
                        [_change("add", a.membership, [dn])],
                        [],
                        dict(added["reason"]),
                        None,
                        decision.review,
                    )
                )
        return events

    def _drift_events(self, row: dict[str, Any], drift: list[dict[str, Any]]) -> list[Event]:
        """One modify of the account for its plain attributes, one event per capability
        value, and the repository-side equivalents for update_repository rows."""
        mappings = self.mappings
        key, dn, identity = row["endpoint_key"], row["endpoint_dn"], row["identity_key"]
        account = {"key": key, "dn": dn, "identity_key": identity}
        reason_base = {"situation": row["situation"], "rule": row["rule"]}
        events: list[Event] = []
        plain: list[dict[str, Any]] = []
        repo_plain: list[dict[str, Any]] = []
        for d in drift:
            response = d["response"]
            if response == "do_nothing":
                continue
            mapping = mappings[d["attr_idx"]]
            if response == "update_repository":
                if mapping.capability:
                    events.append(self._repository_change_event(account, reason_base, [d], mapping))
                else:
                    repo_plain.append(d)
                continue
            if mapping.capability:
                events.append(self._capability_event(account, reason_base, d, mapping))
            else:
                plain.append(d)
        if plain:
            changes: list[dict[str, Any]] = []
            pre: list[dict[str, Any]] = []
            for d in plain:
                mapping = mappings[d["attr_idx"]]
                old, new = _old_new(d)
                if d["kind"] == "changed" or d["kind"] == "added":
                    pre.append({"attribute": mapping.endpoint, "values": old})
                if old:
                    changes.append(_change("delete", mapping.endpoint, old))
                if new:
                    changes.append(_change("add", mapping.endpoint, new))
            events.insert(
                0,
                _event(
                    "endpoint",
                    "modify",
                    _response_of(plain),
                    account,
                    changes,
                    _merge_preconditions(pre),
                    reason_base | {"drift": [_reason(d) for d in plain]},
                    _alert_of(plain),
                    any(_TO_ENDPOINT[d["response"]] for d in plain),
                ),
            )
        if repo_plain:
            events.append(self._repository_change_event(account, reason_base, repo_plain, None))
        return events

    def _capability_event(
        self,
        account: dict[str, Any],
        reason_base: dict[str, Any],
        d: dict[str, Any],
        mapping: AttributeMapping,
    ) -> Event:
        value = d["endpoint_value"] if d["kind"] == "added" else d["repository_value"]
        op = "delete" if d["kind"] == "added" else "add"
        if mapping.membership:
            # memberOf is computed by the directory: change the group's member list
            obj = {
                "key": None,
                "dn": value,
                "identity_key": account["identity_key"],
                "member_of": {"key": account["key"], "dn": account["dn"]},
            }
            member = [account["dn"]] if account["dn"] else []
            changes = [_change(op, mapping.membership, member)]
            pre = [{"attribute": mapping.membership, "values": member}] if op == "delete" else []
        else:
            obj = dict(account)
            changes = [_change(op, mapping.endpoint, [value])]
            pre = [{"attribute": mapping.endpoint, "values": [value]}] if op == "delete" else []
        return _event(
            "endpoint",
            "modify",
            d["response"],
            obj,
            changes,
            pre,
            reason_base | {"drift": [_reason(d)]},
            d["alert"],
            _TO_ENDPOINT[d["response"]],
        )

    def _repository_change_event(
        self,
        account: dict[str, Any],
        reason_base: dict[str, Any],
        rows: list[dict[str, Any]],
        mapping: AttributeMapping | None,
    ) -> Event:
        mappings = self.mappings
        changes: list[dict[str, Any]] = []
        pre: list[dict[str, Any]] = []
        for d in rows:
            m = mapping or mappings[d["attr_idx"]]
            if d["kind"] == "changed":
                endpoint_values = _clean(d["endpoint_values"])
                changes.append(_change("replace", m.repository, endpoint_values))
                pre.append({"attribute": m.repository, "values": _clean(d["repository_values"])})
            elif d["kind"] == "added":
                changes.append(_change("add", m.repository, [d["endpoint_value"]]))
            else:
                changes.append(_change("delete", m.repository, [d["repository_value"]]))
                pre.append({"attribute": m.repository, "values": [d["repository_value"]]})
        return _event(
            "repository",
            "modify",
            "update_repository",
            dict(account),
            changes,
            _merge_preconditions(pre),
            reason_base | {"drift": [_reason(d) for d in rows]},
            _alert_of(rows),
            False,
        )


# --- helpers ----------------------------------------------------------------------


def _event(
    target: str,
    operation: str,
    response: str,
    obj: dict[str, Any],
    changes: list[dict[str, Any]],
    preconditions: list[dict[str, Any]],
    reason: dict[str, Any],
    alert: str | None,
    review: bool,
) -> Event:
    return {
        "id": event_id(target, operation, obj, changes),
        "target": target,
        "operation": operation,
        "response": response,
        "object": obj,
        "changes": changes,
        "preconditions": preconditions,
        "reason": reason,
        "alert": alert,
        "approval": {
            "required": review,
            "state": "pending" if review else "auto",
            "by": None,
            "at": None,
            "comment": None,
        },
    }


def _change(op: str, attribute: str, values: Iterable[str]) -> dict[str, Any]:
    return {"op": op, "attribute": attribute, "values": list(values)}


def _old_new(d: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Values to delete from and add to the endpoint for one plain drift row."""
    if d["kind"] == "changed":
        return _clean(d["endpoint_values"]), _clean(d["repository_values"])
    if d["kind"] == "added":
        return [d["endpoint_value"]], []
    return [], [d["repository_value"]]


def _merge_preconditions(pre: list[dict[str, Any]]) -> list[dict[str, Any]]:
    merged: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    for p in pre:
        k = p["attribute"].lower()
        names.setdefault(k, p["attribute"])
        bucket = merged.setdefault(k, [])
        bucket.extend(v for v in p["values"] if v not in bucket)
    return [{"attribute": names[k], "values": v} for k, v in merged.items()]


def _reason(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "attribute": d["attribute"],
        "kind": d["kind"],
        "endpoint_value": d["endpoint_value"],
        "repository_value": d["repository_value"],
        "response": d["response"],
    }


def _response_of(rows: list[dict[str, Any]]) -> str:
    responses = {d["response"] for d in rows}
    for r in ("review", "reject", "update_endpoint"):
        if r in responses:
            return r
    return str(rows[0]["response"])


def _alert_of(rows: list[dict[str, Any]]) -> str | None:
    return next((d["alert"] for d in rows if d["alert"]), None)


class _DriftRows(dict[int, list[tuple[Any, ...]]]):
    """Drift rows by endpoint record, kept as tuples (a third of the memory of dicts)."""

    names: list[str]


def _drift_by_row(cursor: duckdb.DuckDBPyConnection) -> _DriftRows:
    by_row = _DriftRows()
    by_row.names, batches = fetch_batches(cursor)
    at = by_row.names.index("ep_row")
    for batch in batches:
        for r in batch:
            by_row.setdefault(int(r[at]), []).append(r)
    return by_row


def _clean(values: Iterable[Any] | None) -> list[str]:
    """Non-blank values as strings, in order, each once."""
    out: list[str] = []
    for v in values or []:
        if v is None:
            continue
        text = str(v)
        if text.strip() and text not in out:
            out.append(text)
    return out


def _is_clean(values: list[Any] | None) -> bool:
    """Whether ``_clean`` would return ``values`` unchanged (the common case, checked
    without building a new list)."""
    if not values:
        return values is not None
    if len(values) == 1:
        v = values[0]
        return isinstance(v, str) and bool(v.strip())
    return all(isinstance(v, str) and v.strip() for v in values) and len(set(values)) == len(values)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    return [value]


def _fold(value: Any) -> str:
    return str(value or "").strip().casefold()


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


def _fill_dn(template: str, fields: dict[str, Any]) -> str | None:
    """Fill ``{column}`` placeholders with RFC 4514-escaped values; None if one is blank."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        raw = _clean(_as_list(fields.get(match.group(1).strip().lower())))
        if not raw:
            missing = True
            return ""
        return escape_dn_value(raw[0])

    dn = _PLACEHOLDER.sub(value, template)
    return None if missing else dn


def escape_dn_value(value: str) -> str:
    """Escape an attribute value for use in a DN (RFC 4514 section 2.4)."""
    out = []
    for i, ch in enumerate(value):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(value) - 1)):
            out.append("\\" + ch)
        elif ch == "\x00":
            out.append("\\00")
        else:
            out.append(ch)
    return "".join(out)
