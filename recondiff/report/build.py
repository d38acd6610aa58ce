"""Build ``report.json``: the plain data the analysts' report is drawn from. This is
the *writer* of report.json; :mod:`recondiff.report.document` is its reader.

Runs inside a compare, while its staged situations table (the view
``situations_out``, the rows of ``situations.parquet``) and ``drift`` table are
alive; every count and top list is a DuckDB query (``queries/report/*.sql``).
docs/report.md describes the result; :mod:`recondiff.report.render` renders it
into HTML without recomputing anything (and imports nothing from here).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from recondiff.config.load import Config
from recondiff.engine.results import stale_inputs
from recondiff.engine.slots import Column, kinds_of, list_of, norm_of
from recondiff.history import History, PreviousRun
from recondiff.io.sqlfiles import Step, fetch_dicts
from recondiff.plan.file import Plan
from recondiff.plan.privileged import PRIVILEGED_OWNERS, privileged
from recondiff.report import policy_data
from recondiff.report.values import REPORT_FORMAT, cyclic_gc_paused, shown
from recondiff.vocabulary import ADMIN_COUNT_ALERT, PRIVILEGED_GROUP_ALERT, SET_KINDS, SITUATIONS

TOP = 10
TOP_SEGMENTS = 12
TREND_RUNS = 30


def _when(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, UTC)


class ReportBuilder:
    def __init__(
        self,
        cfg: Config,
        step: Step,
        ep_attrs: list[Column],
        repo_attrs: list[Column],
        ep_columns: dict[str, Column],
    ) -> None:
        self.cfg, self.step = cfg, step
        self.ep_attrs, self.repo_attrs, self.ep_columns = ep_attrs, repo_attrs, ep_columns

    def build(
        self,
        params: dict[str, Any],
        outputs: Path,
        segments: dict[str, Any] | None,
        summary: dict[str, Any],
        plan: Plan,
        previous: PreviousRun | None,
        history: History,
        history_key: str,
    ) -> dict[str, Any]:
        """report.json's data (``outputs``: the run's staging directory, where the
        identity policies left their files; ``segments``: :meth:`segments`' result)."""
        cfg = self.cfg
        limit = cfg.report.rows_per_table
        finished = datetime.fromisoformat(summary["run"]["finished_at"])
        common = params  # the rows from situations_out, the staged table: no file read back
        attributes = self._attributes(params)
        rows = fetch_dicts(
            self.step(
                "report/rows", common | {"limit": limit, "now": finished.isoformat()}
            )
        )
        alerts, alert_rows = self._alerts(common, plan)
        # the drift a policy explains (docs/policies.md): only a run with [[policy]]
        has_policies = "policies" in summary
        expected, expected_total = (
            policy_data.expected_drift(self.step, cfg, limit) if has_policies else ([], 0)
        )
        with cyclic_gc_paused():  # tens of thousands of small lists: see there
            details = self._details(
                common, rows, alert_rows + [int(r["ep_row"]) for r in expected]
            )
        detail_ids = {key: f"d{i}" for i, key in enumerate(details, 1)}
        for alert in alerts:
            alert["detail"] = detail_ids.get(alert.pop("_detail"))
        policies = (
            {"policies": policy_data.section(self.step, summary, outputs, expected,
                                             expected_total, detail_ids, limit)}
            if has_policies else {}
        )
        return {
            "format": REPORT_FORMAT,
            "run": summary["run"] | {"recondiff_version": summary["recondiff_version"]},
            "inputs": summary["inputs"],
            "staleness": self._staleness(summary, finished),
            "limits": {"rows_per_table": limit},
            "totals": {
                "endpoint_records": summary["inputs"]["endpoint"]["rows"],
                "identities": summary["inputs"]["repository"]["rows"],
                "differences": summary["differences"],
            },
            "outputs": summary["outputs"],
            "situations": self._situations(summary),
            "alerts": alerts,
            "drift": {
                "accounts": summary["drift"]["accounts"],
                "attributes": attributes,
                "top_values": [
                    {"attribute": r["attribute"], "kind": r["kind"], "value": r["value"],
                     "count": r["n"]}
                    for r in fetch_dicts(self.step("report/top_values", {"top": TOP}))
                ],
                "segments": segments,
            },
            "tables": self._tables(summary, rows, detail_ids, finished),
            "details": {detail_ids[k]: v for k, v in details.items()},
            "history": self._history(common, previous, history, history_key, summary, limit),
            "accepted": _accepted(plan, limit),
            "accepted_total": len(plan.get("accepted", [])),
            **policies,
        }

    # --- sections ---------------------------------------------------------------

    def _situations(self, summary: dict[str, Any]) -> list[dict[str, Any]]:
        counts = summary["situations"]
        records = summary["inputs"]["endpoint"]["rows"] or 0
        identities = summary["inputs"]["repository"]["rows"] or 0
        sync = _sync_counts(summary)
        out: list[dict[str, Any]] = []
        for s in SITUATIONS:
            base = identities if s == "missing" else records
            out.append(
                {
                    "situation": s,
                    "count": counts[s],
                    "percent": round(100.0 * counts[s] / base, 1) if base else 0.0,
                    "response": self.cfg.response_for(s),
                    "in_sync": sync.get((s, "in_sync"), 0) if s in ("linked", "correlated")
                    else None,
                    "drifted": sync.get((s, "drifted"), 0) if s in ("linked", "correlated")
                    else None,
                }
            )
        return out

    def _staleness(self, summary: dict[str, Any], now: datetime) -> dict[str, Any]:
        report = self.cfg.report
        return {
            "max_age_hours": report.max_age_hours,
            "max_apart_hours": report.max_apart_hours,
            "warnings": stale_inputs(report, summary["inputs"], now),
        }

    def _attributes(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        stats = {r["attr_idx"]: r for r in fetch_dicts(self.step("report/attributes", params))}
        transitions: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for r in fetch_dicts(self.step("report/transitions", {"top": TOP})):
            transitions[r["attr_idx"]].append(
                {"from": r["endpoint_value"], "to": r["repository_value"], "count": r["n"]}
            )
        out = []
        for i, a in enumerate(self.cfg.attributes, 1):
            s = stats[i]
            out.append(
                {
                    "attribute": a.name,
                    "repository_attribute": a.repository_label,
                    "compare": a.compare,
                    **{k: int(s[k]) for k in (
                        "accounts", "changed", "only_endpoint", "only_repository",
                        "both_differ", "added", "removed")},
                    "transitions": transitions[i],
                }
            )
        return out

    def segments(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """report.json's drift segments: they count every linked and correlated
        account, so compare asks for them before the staged situations table is cut
        down to the rows the plan and the report show (results/release_in_sync.sql);
        :meth:`build` takes them."""
        expression, name = self._segment_expression()
        if expression is None:
            return None
        rows = fetch_dicts(self.step("report/segments", params | {"top": TOP_SEGMENTS},
                                segment=expression))
        return {
            "attribute": name,
            "rows": [
                {"value": r["value"], "drifted": r["drifted"], "accounts": r["accounts"]}
                for r in rows
            ],
        }

    def _segment_expression(self) -> tuple[str | None, str]:
        configured = self.cfg.report.segment
        if configured:
            column = self.ep_columns.get(configured.lower())
            return (column.first() if column else None), configured
        department = self.ep_columns.get("department")
        if department is not None:
            return department.first(), department.name
        dn = self.ep_columns.get("dn") or self.ep_columns.get("distinguishedname")
        if dn is not None:
            # the DN without its first RDN: the account's container (OU)
            return (
                rf"regexp_extract({dn.first()}, '^(?:[^,\\]|\\.)*,\s*(.*)$', 1)",
                "parent of the DN",
            )
        return None, ""

    def _alerts(
        self, params: dict[str, Any], plan: Plan
    ) -> tuple[list[dict[str, Any]], list[int]]:
        """Alert rule matches (from the plan's events) and unmatched accounts holding a
        value an alerting pattern matches. Returns them and the records they name."""
        unmatched = self._unmatched_alerts(params)
        alerts = (self._rule_alerts(params, plan) + unmatched
                  + self._default_alerts(params, unmatched))
        rows = [a["_detail"] for a in alerts if a["_detail"] is not None]
        return alerts, rows

    def _rule_alerts(self, params: dict[str, Any], plan: Plan) -> list[dict[str, Any]]:
        """The plan's events an alert rule matched, each with the record it names."""
        events = [e for e in plan["events"] if e["alert"]]
        keys = [_event_key(e) for e in events]
        key_rows = self._key_rows(params, [k for k in keys if k])
        alerts = []
        for event, key in zip(events, keys, strict=True):
            drift = (event["reason"].get("drift") or [{}])[0]
            alerts.append(
                {
                    "kind": "rule",
                    "text": event["alert"],
                    "situation": event["reason"]["situation"],
                    "endpoint_key": shown(key),
                    "identity_key": shown(event["object"]["identity_key"]),
                    "attribute": drift.get("attribute"),
                    "value": shown(drift.get("endpoint_value") or drift.get("repository_value")),
                    "event_id": event["id"],
                    "_detail": key_rows.get(key) if key else None,
                }
            )
        return alerts

    def _unmatched_alerts(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        """Unmatched accounts holding a value an alerting rule (kind any or added)
        matches: no event names them, as no identity owns them."""
        rules = [
            {"attr_idx": i, "pattern": r.match, "compare": a.compare, "alert": r.alert}
            for i, a in enumerate(self.cfg.attributes, 1)
            for r in a.rules
            if r.alert and r.kind in ("any", "added")
        ]
        if not rules:
            return []
        held = fetch_dicts(
            self.step(
                "report/privileged",
                params | {"rules": rules},
                values=list_of([c.values() for c in self.ep_attrs], "VARCHAR[]"),
                norm_value=norm_of("value", "compare", kinds_of(self.cfg.attributes)),
                norm_pattern=norm_of("pattern", "compare", kinds_of(self.cfg.attributes)),
            )
        )
        keys = self._keys_of(params, [int(h["ep_row"]) for h in held])
        return [
            {
                "kind": "privileged_unmatched",
                "text": f"{h['alert']} (an account no identity owns)",
                "situation": "unmatched",
                "endpoint_key": keys.get(int(h["ep_row"])),
                "identity_key": None,
                "attribute": self.cfg.attributes[int(h["attr_idx"]) - 1].name,
                "value": h["value"],
                "event_id": None,
                "_detail": int(h["ep_row"]),
            }
            for h in held
        ]

    def _default_alerts(
        self, params: dict[str, Any], rule_alerts: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Accounts no live identity owns holding a privileged group or adminCount = 1
        (recondiff/plan/privileged.py), but for those an alert rule already names."""
        defaults = privileged(self.cfg)
        if defaults is None:
            return []
        group_columns = self._group_columns(defaults.group_attrs)
        admin_count = self.ep_columns.get("admincount") if defaults.admin_count else None
        primary_group = (self.ep_columns.get("primarygroupid") if defaults.admin_count
                         else None)
        if not group_columns and admin_count is None and primary_group is None:
            return []
        held = fetch_dicts(
            self.step(
                "report/privileged_default",
                params | defaults.params() | {
                    "group_columns": len(group_columns),
                    "admin_count": defaults.admin_count,
                },
                groups=list_of([c.values() for c in group_columns], "VARCHAR[]"),
                admin_count=admin_count.text() if admin_count else "CAST(NULL AS VARCHAR)",
                primary_group=primary_group.text() if primary_group else "CAST(NULL AS VARCHAR)",
            )
        )
        named = {(a["_detail"], (a["attribute"] or "").lower()) for a in rule_alerts}
        keys = self._keys_of(params, [int(h["ep_row"]) for h in held])
        alerts = []
        for h in held:
            column = (group_columns[h["col"] - 1] if h["col"] > 0
                      else admin_count if h["col"] == 0 else primary_group)
            assert column is not None
            if (int(h["ep_row"]), column.name.lower()) in named:
                continue
            text = ADMIN_COUNT_ALERT if h["col"] == 0 else PRIVILEGED_GROUP_ALERT
            owner = PRIVILEGED_OWNERS.get(h["situation"], f"an account in situation "
                                          f"{h['situation']}")
            alerts.append({
                "kind": "privileged_unmatched",
                "text": f"{text} ({owner})",
                "situation": h["situation"],
                "endpoint_key": keys.get(int(h["ep_row"])),
                "identity_key": None,
                "attribute": column.name,
                "value": h["value"],
                "event_id": None,
                "_detail": int(h["ep_row"]),
            })
        return alerts

    def _group_columns(self, group_attrs: list[int]) -> list[Column]:
        """The endpoint's group columns: memberOf and the mapped group attributes."""
        mapped = (self.cfg.attributes[i - 1].endpoint for i in group_attrs)
        names = ["memberof"] + [name.lower() for name in mapped if name is not None]
        columns: list[Column] = []
        for name in dict.fromkeys(names):
            column = self.ep_columns.get(name)
            if column is not None and column not in columns:
                columns.append(column)
        return columns

    def _key_rows(self, params: dict[str, Any], keys: list[str]) -> dict[str, int]:
        """Endpoint key -> record, for the linked/correlated accounts alerts name."""
        if not keys:
            return {}
        rows = self.step("report/key_rows", params | {"keys": keys}).fetchall()
        return {str(k): int(r) for k, r in rows}

    def _keys_of(self, params: dict[str, Any], ep_rows: list[int]) -> dict[int, str]:
        if not ep_rows:
            return {}
        rows = self.step("report/keys_of", params | {"ep_rows": ep_rows}).fetchall()
        return {int(r): str(k) for r, k in rows}

    def _details(
        self, params: dict[str, Any], rows: list[dict[str, Any]], alert_rows: list[int]
    ) -> dict[Any, dict[str, Any]]:
        """Side-by-side data, keyed by endpoint record (or ('missing', identity key))."""
        ep_rows = sorted({int(r["endpoint_record"]) for r in rows if r["endpoint_record"]}
                         | set(alert_rows))
        missing_keys = [r["identity_key"] for r in rows if r["situation"] == "missing"]
        if not ep_rows and not missing_keys:
            return {}
        picked = self.step(
            "report/details",
            params | {"ep_rows": ep_rows, "missing_keys": missing_keys},
            values=list_of([c.values() for c in self.ep_attrs], "VARCHAR[]"),
            repository_values=list_of([c.values() for c in self.repo_attrs], "VARCHAR[]"),
        ).fetchall()
        drift = self._detail_drift(ep_rows)
        by_row = {int(r["endpoint_record"]): r for r in rows if r["endpoint_record"]}
        by_missing = {r["identity_key"]: r for r in rows if r["situation"] == "missing"}
        mapped = [
            _Mapped(i, a.name, a.repository_label, a.compare, a.compare in SET_KINDS)
            for i, a in enumerate(self.cfg.attributes, 1)
        ]
        details: dict[Any, dict[str, Any]] = {}
        for ep_row, _id_row, situation, identity_key, e_vals, r_vals in picked:
            record = int(ep_row) if ep_row is not None else None
            key: Any = record if record is not None else ("missing", identity_key)
            row = by_row.get(record) if record is not None else by_missing.get(identity_key)
            details[key] = {
                "endpoint_key": row["endpoint_key"] if row else None,
                "identity_key": row["identity_key"] if row else None,
                "situation": situation,
                "endpoint_dn": row["endpoint_dn"] if row else None,
                "attributes": [
                    _pair(m, situation, e_vals, r_vals,
                          () if record is None else drift.get((record, m.position), ()))
                    for m in mapped
                ],
            }
        return details

    def _detail_drift(self, ep_rows: list[int]) -> dict[tuple[int, int], list[_DriftRow]]:
        """(endpoint record, attribute index) -> its drift rows (kind, endpoint value,
        repository value), for the records the side-by-side views show."""
        drift: dict[tuple[int, int], list[_DriftRow]] = {}
        for ep_row, attr_idx, kind, e_value, r_value, policy, when in self.step(
            "report/detail_drift",
            {"ep_rows": ep_rows,
             "repository_columns": policy_data.repository_columns(self.cfg)},
        ).fetchall():
            drift.setdefault((int(ep_row), int(attr_idx)), []).append(
                (kind, e_value, r_value, policy, when)
            )
        return drift

    def _tables(
        self,
        summary: dict[str, Any],
        rows: list[dict[str, Any]],
        detail_ids: dict[Any, str],
        now: datetime,
    ) -> list[dict[str, Any]]:
        sync = _sync_counts(summary)
        grouped: dict[tuple[str, str | None], list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            grouped[(r["situation"], r["sync"])].append(r)
        tables = []
        for s in SITUATIONS:
            parts: list[str | None] = (
                ["drifted", "in_sync"] if s in ("linked", "correlated") else [None]
            )
            for part in parts:
                total = sync.get((s, part), 0) if part else summary["situations"][s]
                if total == 0:
                    continue
                response = self.cfg.response_for(s)
                hidden = s == "excluded" or part == "in_sync" or (
                    response == "do_nothing" and part != "drifted"
                )
                shown = grouped[(s, part)]
                tables.append(
                    {
                        "id": f"{s}-{part}" if part else s,
                        "situation": s,
                        "sync": part,
                        "title": f"{s}, {part.replace('_', ' ')}" if part else s,
                        "response": response,
                        "hidden": hidden,
                        "total": total,
                        "shown": len(shown),
                        "files": _files(s, part),
                        "rows": [self._row(r, detail_ids, now) for r in shown],
                    }
                )
        return tables

    @staticmethod
    def _row(r: dict[str, Any], detail_ids: dict[Any, str], now: datetime) -> dict[str, Any]:
        key: Any = (
            int(r["endpoint_record"]) if r["endpoint_record"]
            else ("missing", r["identity_key"])
        )
        first_seen = _when(int(r["first_seen_us"])) if r["is_finding"] else None
        return {
            "endpoint_key": r["endpoint_key"],
            "endpoint_dn": r["endpoint_dn"],
            "identity_key": r["identity_key"],
            "rule": r["rule"],
            "candidates": list(r["candidates"] or []),
            "drift_attributes": r["drift_attributes"],
            "first_seen": first_seen.isoformat(timespec="seconds") if first_seen else None,
            "age_days": (now - first_seen).days if first_seen else None,
            "status": ("new" if r["is_new"] else "persisting") if r["is_finding"] else None,
            "detail": detail_ids.get(key),
        }

    def _history(
        self,
        common: dict[str, Any],
        previous: PreviousRun | None,
        history: History,
        history_key: str,
        summary: dict[str, Any],
        limit: int,
    ) -> dict[str, Any]:
        found = fetch_dicts(self.step("report/history_counts", common | {"limit": limit}))
        counts = found[0]
        earlier = list(reversed(history.runs(history_key, limit=TREND_RUNS - 1)))
        trend = [
            {
                "id": r["run_id"],
                "finished_at": r["finished_at"].isoformat(timespec="seconds"),
                "situations": r["summary"]["situations"],
                "drift_accounts": r["summary"]["drift"]["accounts"],
                "differences": r["summary"]["differences"],
            }
            for r in earlier
        ] + [
            {
                "id": summary["run"]["id"],
                "finished_at": summary["run"]["finished_at"],
                "situations": summary["situations"],
                "drift_accounts": summary["drift"]["accounts"],
                "differences": summary["differences"],
            }
        ]
        return {
            "previous_run": {
                "id": previous.run_id,
                "finished_at": previous.finished_at.isoformat(timespec="seconds"),
            }
            if previous
            else None,
            # an incremental run judges only the delta's accounts: the counts speak of
            # them, and the previous findings of the others are carried over
            # (queries/report/history_counts.sql)
            "scope": "delta" if summary["run"].get("incremental") else "all",
            "new": int(counts["new"]),
            "resolved": int(counts["resolved"]),
            "persisting": int(counts["persisting"]),
            "carried": int(counts["carried"]),
            "resolved_rows": [
                {"situation": r["situation"], "endpoint_key": r["endpoint_key"],
                 "identity_key": r["identity_key"]}
                for r in found[1:]
            ],
            "trend": trend,
        }


_DriftRow = tuple[str, str | None, str | None, str | None, str | None]
"""One drift row of an attribute: kind, endpoint value, repository value, and the
identity policy that expects the repository value with its ``when`` (or None)."""


class _Mapped(NamedTuple):
    """A configured attribute as the side-by-side views show it."""

    position: int
    endpoint: str
    repository: str
    compare: str
    is_set: bool


def _accepted(plan: Plan, limit: int) -> list[dict[str, Any]]:
    """What an exception accepts, proposed no more (docs/plan.md, "Decisions that
    persist"): the first ``limit`` of the plan header's list, long texts cut as
    every value of report.json is."""
    return [
        {k: shown(v) if isinstance(v, str) else v for k, v in row.items()}
        for row in plan.get("accepted", [])[:limit]
    ]


def _pair(
    m: _Mapped,
    situation: str,
    e_vals: list[list[str | None] | None] | None,
    r_vals: list[list[str | None] | None] | None,
    drift: Sequence[_DriftRow],
) -> dict[str, Any]:
    """One attribute of a side-by-side view: both sides' values, its state, (for
    a set) the values drift found added or removed, and (only when there is one)
    the identity policy that expects a drifting repository value."""
    e = _clean(e_vals[m.position - 1]) if e_vals is not None else []
    r = _clean(r_vals[m.position - 1]) if r_vals is not None else []
    if e_vals is None or r_vals is None:
        state = "one_side"
    elif situation in ("linked", "correlated"):
        state = "changed" if drift else "equal"
    else:  # pairs recondiff does not compare attribute by attribute
        state = "changed" if e != r else "equal"
    pair: dict[str, Any] = {
        "attribute": m.endpoint,
        "repository_attribute": m.repository,
        "compare": m.compare,
        "endpoint": e,
        "repository": r,
        "state": state,
        "added": [d[1] for d in drift if d[0] == "added"] if m.is_set else [],
        "removed": [d[2] for d in drift if d[0] == "removed"] if m.is_set else [],
    }
    expected = [{"value": d[2], "policy": d[3], "when": d[4]} for d in drift if d[3]]
    if expected:  # absent without policies: the report of such a run is unchanged
        pair["expected"] = expected
    return pair


def _event_key(event: dict[str, Any]) -> str | None:
    """The endpoint key an event is about (a membership's: its account's)."""
    obj = event["object"]
    key: str | None = obj["key"] or (obj.get("member_of") or {}).get("key")
    return key


def _files(situation: str, sync: str | None) -> list[str]:
    """Where a situation table's rows are: situations.csv holds every row but
    the linked accounts in sync, which only situations.parquet holds."""
    if (situation, sync) == ("linked", "in_sync"):
        return ["situations.parquet"]
    return ["situations.csv", "situations.parquet"]


def _sync_counts(summary: dict[str, Any]) -> dict[tuple[str, str | None], int]:
    return {
        (s, state): int(n)
        for s, states in summary.get("sync_by_situation", {}).items()
        for state, n in states.items()
    }


def _clean(values: list[str | None] | None) -> list[str]:
    """The values (VARCHARs) that are not null or blank. For a non-empty string
    ``not v.isspace()`` is ``bool(v.strip())`` without building the stripped copy."""
    if not values:
        return []
    return [v for v in values if v and not v.isspace()]




