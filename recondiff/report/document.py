"""Render ``report.html`` from ``report.json`` (and ``plan.json``): presentation only.

``report.json`` (docs/report.md) already holds every count, top list and
percentage; this module reads it into frozen dataclasses, checking every key
the page uses, so that a file missing one fails with one line naming the key
instead of half a page. One Jinja environment (autoescape on, StrictUndefined)
lays the data out through ``reports/report.html.j2``. The side-by-side views'
data is embedded as JSON (``tojson`` escapes ``<``, ``>`` and ``&``) in a compact
form: attribute names once, values per pair, added/removed as indices.

Nothing here recomputes a finding; the only tallies made here are of the plan's
events (by response and approval state), which change as approvers decide.
"""

from __future__ import annotations

import base64
import gc
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from recondiff.errors import InputError, RecondiffError
from recondiff.io.atomic import write_text_atomically
from recondiff.io.sqlfiles import reports_dir
from recondiff.plan.file import load_plan

REPORT_FORMAT = "recondiff-report/1"
TEMPLATE = "report.html.j2"
SCRIPT = "_script.js.j2"
STYLE = "_style.css.j2"
APPROVAL_STATES = ("auto", "pending", "approved", "rejected")
FIX = "run recondiff compare again to rewrite it"
SHOWN_MAX = 300
"""A value longer than this (in characters) is cut in the report
(queries/macros/output.sql rd_shown)."""
SHOWN_KEPT = 200


def shown(value: str | None) -> str | None:
    """A value as the report shows it: queries/macros/output.sql ``rd_shown``, for what the
    page takes from plan.json. Over :data:`SHOWN_MAX` characters it is cut to its
    first :data:`SHOWN_KEPT`, followed by its length and where the whole value is;
    a NUL becomes U+2400."""
    if value is None:
        return None
    if len(value) > SHOWN_MAX:
        value = (
            f"{value[:SHOWN_KEPT]}… [{len(value):,} characters; "
            "the whole value is in the CSV files or the snapshot]"
        )
    return value.replace("\x00", "\u2400") if "\x00" in value else value


# --- reading JSON with one-line errors ---------------------------------------------------


class _Node:
    """A JSON object being read: typed getters that name the missing or wrong key."""

    def __init__(self, data: Any, path: str, source: str) -> None:
        if not isinstance(data, dict):
            raise InputError(f"{source}: {path or '(top level)'} is not an object; {FIX}")
        self.data: dict[str, Any] = data
        self.path, self.source = path, source

    def _where(self, key: str) -> str:
        return f"{self.path}/{key}" if self.path else key

    def _fail(self, key: str, what: str) -> InputError:
        return InputError(f"{self.source}: {self._where(key)}: {what}; {FIX}")

    def raw(self, key: str) -> Any:
        if key not in self.data:
            raise self._fail(key, "missing")
        return self.data[key]

    def _typed(self, key: str, types: tuple[type, ...], what: str, optional: bool) -> Any:
        value = self.raw(key)
        if value is None and optional:
            return None
        if isinstance(value, bool) and bool not in types:
            raise self._fail(key, f"expected {what}, found {value!r}")
        if not isinstance(value, types):
            raise self._fail(key, f"expected {what}, found {type(value).__name__}")
        return value

    def text(self, key: str) -> str:
        value: str = self._typed(key, (str,), "a string", False)
        return value

    def opt_text(self, key: str) -> str | None:
        value: str | None = self._typed(key, (str,), "a string or null", True)
        return value

    def integer(self, key: str) -> int:
        value: int = self._typed(key, (int,), "an integer", False)
        return value

    def opt_integer(self, key: str) -> int | None:
        value: int | None = self._typed(key, (int,), "an integer or null", True)
        return value

    def number(self, key: str) -> float:
        value: float = self._typed(key, (int, float), "a number", False)
        return float(value)

    def flag(self, key: str) -> bool:
        value: bool = self._typed(key, (bool,), "true or false", False)
        return value

    def obj(self, key: str) -> _Node:
        return _Node(self._typed(key, (dict,), "an object", False), self._where(key), self.source)

    def opt_obj(self, key: str) -> _Node | None:
        value = self._typed(key, (dict,), "an object or null", True)
        return None if value is None else _Node(value, self._where(key), self.source)

    def objs(self, key: str) -> list[_Node]:
        items: list[Any] = self._typed(key, (list,), "a list", False)
        return [_Node(item, f"{self._where(key)}/{i}", self.source) for i, item in enumerate(items)]

    def strs(self, key: str) -> tuple[str, ...]:
        items: list[Any] = self._typed(key, (list,), "a list", False)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self._fail(f"{key}/{i}", "expected a string")
        return tuple(items)


# --- the report's data ---------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    id: str
    config: str
    config_sha256: str
    endpoint: str
    repository: str
    started_at: str
    finished_at: str
    recondiff_version: str
    incremental: bool


@dataclass(frozen=True)
class Input:
    side: str
    path: str
    format: str | None
    rows: int
    captured_at: str
    sha256: str


@dataclass(frozen=True)
class Situation:
    situation: str
    count: int
    percent: float
    response: str
    in_sync: int | None
    drifted: int | None


@dataclass(frozen=True)
class Alert:
    kind: str
    text: str
    situation: str
    endpoint_key: str | None
    identity_key: str | None
    attribute: str | None
    value: str | None
    detail: str | None
    event_id: str | None


@dataclass(frozen=True)
class Transition:
    old: str | None
    new: str | None
    count: int


@dataclass(frozen=True)
class AttributeDrift:
    attribute: str
    repository_attribute: str
    compare: str
    accounts: int
    changed: int
    only_endpoint: int
    only_repository: int
    both_differ: int
    added: int
    removed: int
    transitions: tuple[Transition, ...]


@dataclass(frozen=True)
class TopValue:
    attribute: str
    kind: str
    value: str
    count: int


@dataclass(frozen=True)
class SegmentRow:
    value: str | None
    drifted: int
    accounts: int


@dataclass(frozen=True)
class Segments:
    attribute: str
    rows: tuple[SegmentRow, ...]


@dataclass(frozen=True)
class Row:
    endpoint_key: str | None
    endpoint_dn: str | None
    identity_key: str | None
    rule: str | None
    candidates: tuple[str, ...]
    drift_attributes: int | None
    first_seen: str | None
    age_days: int | None
    status: str | None
    detail: str | None


@dataclass(frozen=True)
class Table:
    id: str
    situation: str
    sync: str | None
    title: str
    response: str
    hidden: bool
    total: int
    shown: int
    files: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class ResolvedRow:
    situation: str
    endpoint_key: str | None
    identity_key: str | None


@dataclass(frozen=True)
class TrendPoint:
    id: str
    finished_at: str
    situations: tuple[tuple[str, int], ...]
    drift_accounts: int
    differences: int


@dataclass(frozen=True)
class History:
    previous_run_id: str | None
    previous_finished_at: str | None
    new: int
    resolved: int
    persisting: int
    resolved_rows: tuple[ResolvedRow, ...]
    trend: tuple[TrendPoint, ...]


@dataclass(frozen=True)
class Report:
    run: Run
    inputs: tuple[Input, ...]
    max_age_hours: float
    max_apart_hours: float
    staleness_warnings: tuple[str, ...]
    rows_per_table: int
    endpoint_records: int
    identities: int
    differences: int
    situations: tuple[Situation, ...]
    alerts: tuple[Alert, ...]
    drift_accounts: int
    attributes: tuple[AttributeDrift, ...]
    top_values: tuple[TopValue, ...]
    segments: Segments | None
    tables: tuple[Table, ...]
    details: dict[str, Any]
    """The side-by-side data in the compact form the page's script reads."""
    history: History


def read_report(data: Any, source: str = "report.json") -> Report:
    """Check ``data`` (report.json's content) and read what the page shows."""
    top = _Node(data, "", source)
    fmt = top.text("format")
    if fmt != REPORT_FORMAT:
        raise InputError(f"{source}: format is {fmt!r}, not {REPORT_FORMAT!r}; {FIX}")
    run = top.obj("run")
    inputs = top.obj("inputs")
    staleness = top.obj("staleness")
    totals = top.obj("totals")
    drift = top.obj("drift")
    history = top.obj("history")
    previous = history.opt_obj("previous_run")
    segments = drift.opt_obj("segments")
    return Report(
        run=Run(
            id=run.text("id"),
            config=run.text("config"),
            config_sha256=run.text("config_sha256"),
            endpoint=run.text("endpoint"),
            repository=run.text("repository"),
            started_at=run.text("started_at"),
            finished_at=run.text("finished_at"),
            recondiff_version=run.text("recondiff_version"),
            incremental=run.flag("incremental"),
        ),
        inputs=tuple(
            Input(
                side=side,
                path=node.text("path"),
                format=node.opt_text("format") if "format" in node.data else None,
                rows=node.integer("rows"),
                captured_at=node.text("captured_at"),
                sha256=node.text("sha256"),
            )
            for side in ("endpoint", "repository")
            for node in [inputs.obj(side)]
        ),
        max_age_hours=staleness.number("max_age_hours"),
        max_apart_hours=staleness.number("max_apart_hours"),
        staleness_warnings=staleness.strs("warnings"),
        rows_per_table=top.obj("limits").integer("rows_per_table"),
        endpoint_records=totals.integer("endpoint_records"),
        identities=totals.integer("identities"),
        differences=totals.integer("differences"),
        situations=tuple(
            Situation(
                situation=s.text("situation"),
                count=s.integer("count"),
                percent=s.number("percent"),
                response=s.text("response"),
                in_sync=s.opt_integer("in_sync") if "in_sync" in s.data else None,
                drifted=s.opt_integer("drifted") if "drifted" in s.data else None,
            )
            for s in top.objs("situations")
        ),
        alerts=tuple(
            Alert(
                kind=a.text("kind"),
                text=a.text("text"),
                situation=a.text("situation"),
                endpoint_key=a.opt_text("endpoint_key"),
                identity_key=a.opt_text("identity_key"),
                attribute=a.opt_text("attribute"),
                value=a.opt_text("value"),
                detail=a.opt_text("detail"),
                event_id=a.opt_text("event_id") if "event_id" in a.data else None,
            )
            for a in top.objs("alerts")
        ),
        drift_accounts=drift.integer("accounts"),
        attributes=tuple(
            AttributeDrift(
                attribute=a.text("attribute"),
                repository_attribute=a.text("repository_attribute"),
                compare=a.text("compare"),
                accounts=a.integer("accounts"),
                changed=a.integer("changed"),
                only_endpoint=a.integer("only_endpoint"),
                only_repository=a.integer("only_repository"),
                both_differ=a.integer("both_differ"),
                added=a.integer("added"),
                removed=a.integer("removed"),
                transitions=tuple(
                    Transition(
                        old=t.opt_text("from"), new=t.opt_text("to"), count=t.integer("count")
                    )
                    for t in a.objs("transitions")
                ),
            )
            for a in drift.objs("attributes")
        ),
        top_values=tuple(
            TopValue(
                attribute=v.text("attribute"),
                kind=v.text("kind"),
                value=v.text("value"),
                count=v.integer("count"),
            )
            for v in drift.objs("top_values")
        ),
        segments=None
        if segments is None
        else Segments(
            attribute=segments.text("attribute"),
            rows=tuple(
                SegmentRow(value=r.opt_text("value"), drifted=r.integer("drifted"),
                           accounts=r.integer("accounts"))
                for r in segments.objs("rows")
            ),
        ),
        tables=tuple(_table(t) for t in top.objs("tables")),
        details=_details(top.obj("details")),
        history=History(
            previous_run_id=None if previous is None else previous.text("id"),
            previous_finished_at=None if previous is None else previous.text("finished_at"),
            new=history.integer("new"),
            resolved=history.integer("resolved"),
            persisting=history.integer("persisting"),
            resolved_rows=tuple(
                ResolvedRow(
                    situation=r.text("situation"),
                    endpoint_key=r.opt_text("endpoint_key"),
                    identity_key=r.opt_text("identity_key"),
                )
                for r in history.objs("resolved_rows")
            ),
            trend=tuple(
                TrendPoint(
                    id=t.text("id"),
                    finished_at=t.text("finished_at"),
                    situations=tuple(
                        (name, _count(t, "situations", name, n))
                        for name, n in t.obj("situations").data.items()
                    ),
                    drift_accounts=t.integer("drift_accounts"),
                    differences=t.integer("differences"),
                )
                for t in history.objs("trend")
            ),
        ),
    )


def _count(node: _Node, key: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{node.source}: {node.path}/{key}/{name}: expected an integer; {FIX}")
    return value


def _table(t: _Node) -> Table:
    return Table(
        id=t.text("id"),
        situation=t.text("situation"),
        sync=t.opt_text("sync"),
        title=t.text("title"),
        response=t.text("response"),
        hidden=t.flag("hidden"),
        total=t.integer("total"),
        shown=t.integer("shown"),
        files=t.strs("files"),
        rows=tuple(
            Row(
                endpoint_key=r.opt_text("endpoint_key"),
                endpoint_dn=r.opt_text("endpoint_dn"),
                identity_key=r.opt_text("identity_key"),
                rule=r.opt_text("rule"),
                candidates=r.strs("candidates"),
                drift_attributes=r.opt_integer("drift_attributes"),
                first_seen=r.opt_text("first_seen"),
                age_days=r.opt_integer("age_days"),
                status=r.opt_text("status"),
                detail=r.opt_text("detail"),
            )
            for r in t.objs("rows")
        ),
    )


_STATES = {"equal": "e", "changed": "c", "one_side": "o"}


def _details(details: _Node) -> dict[str, Any]:
    """The side-by-side data, compact: ``{"attrs": [[attribute, repository_attribute,
    compare], …], "d": {id: [endpoint_key, identity_key, situation, endpoint_dn,
    [[attr index, state, endpoint values, repository values or 0 when the same,
    added indices, removed indices, added values not found among the endpoint's,
    removed values not found among the repository's], …]]}}``, trailing empty
    lists dropped. ``state`` is ``e`` (equal), ``c`` (changed) or ``o`` (one side).

    Read by :func:`_details_fast`; data it does not take (anything that is not as
    compare writes it) is read again by :func:`_details_checked`, which builds the
    same result or fails with the one line naming the key."""
    try:
        return _details_fast(details.data)
    except _NotFast:
        return _details_checked(details)


class _NotFast(Exception):
    """The data is not as compare writes it: read it again with every check named."""


def _details_fast(data: dict[str, Any]) -> dict[str, Any]:
    """:func:`_details_checked` with the checks it makes on each value done inline
    on the raw dicts, no ``_Node`` per detail and attribute: on a 1M-account run
    (2,500 details of 13 attributes) 0.5 s -> 0.07 s. Raises :class:`_NotFast`
    on anything the checked reader might refuse; never builds another result."""
    attrs: dict[tuple[str, str, str], int] = {}
    out: dict[str, Any] = {}
    states = _STATES
    try:
        for key, d in data.items():
            if not isinstance(d, dict) or not isinstance(d["attributes"], list):
                raise _NotFast
            rows: list[list[Any]] = []
            for a in d["attributes"]:
                if not isinstance(a, dict):
                    raise _NotFast
                names = (a["attribute"], a["repository_attribute"], a["compare"])
                endpoint, repository = a["endpoint"], a["repository"]
                added, removed = a["added"], a["removed"]
                if not (isinstance(endpoint, list) and isinstance(repository, list)
                        and isinstance(added, list) and isinstance(removed, list)):
                    raise _NotFast
                # str.join takes only strings (TypeError otherwise): one C-level pass
                # instead of an isinstance per value.
                "".join(names), "".join(endpoint), "".join(repository)
                "".join(added), "".join(removed)
                state = states[a["state"]]
                index = attrs.setdefault(names, len(attrs))
                endpoint, repository = list(endpoint), list(repository)
                row: list[Any] = [index, state, endpoint,
                                  0 if repository == endpoint else repository]
                if added or removed:
                    added_at, added_rest = _marks(tuple(added), endpoint)
                    removed_at, removed_rest = _marks(tuple(removed), repository)
                    row += [added_at, removed_at, added_rest, removed_rest]
                    while len(row) > 4 and not row[-1]:
                        row.pop()
                rows.append(row)
            endpoint_key, identity_key = d["endpoint_key"], d["identity_key"]
            situation, endpoint_dn = d["situation"], d["endpoint_dn"]
            if not (isinstance(situation, str)
                    and (endpoint_key is None or isinstance(endpoint_key, str))
                    and (identity_key is None or isinstance(identity_key, str))
                    and (endpoint_dn is None or isinstance(endpoint_dn, str))):
                raise _NotFast
            out[key] = [endpoint_key, identity_key, situation, endpoint_dn, rows]
    except (KeyError, TypeError):
        raise _NotFast from None
    return {"attrs": [list(names) for names in attrs], "d": out}


def _details_checked(details: _Node) -> dict[str, Any]:
    """:func:`_details`, every value checked through :class:`_Node`."""
    attrs: dict[tuple[str, str, str], int] = {}
    out: dict[str, Any] = {}
    for key in details.data:
        d = details.obj(key)
        rows: list[list[Any]] = []
        for a in d.objs("attributes"):
            names = (a.text("attribute"), a.text("repository_attribute"), a.text("compare"))
            index = attrs.setdefault(names, len(attrs))
            state = a.text("state")
            if state not in _STATES:
                raise InputError(
                    f"{a.source}: {a.path}/state: {state!r} is not equal, changed or "
                    f"one_side; {FIX}"
                )
            endpoint, repository = list(a.strs("endpoint")), list(a.strs("repository"))
            added_at, added_rest = _marks(a.strs("added"), endpoint)
            removed_at, removed_rest = _marks(a.strs("removed"), repository)
            row: list[Any] = [
                index, _STATES[state], endpoint, 0 if repository == endpoint else repository,
                added_at, removed_at, added_rest, removed_rest,
            ]
            while len(row) > 4 and not row[-1]:
                row.pop()
            rows.append(row)
        out[key] = [
            d.opt_text("endpoint_key"),
            d.opt_text("identity_key"),
            d.text("situation"),
            d.opt_text("endpoint_dn"),
            rows,
        ]
    return {"attrs": [list(names) for names in attrs], "d": out}


def _loose(value: str) -> str:
    """Close enough to the normalised forms (case, spaces, DN spacing) to find a value."""
    return "".join(value.casefold().split())


def _marks(marked: tuple[str, ...], values: list[str]) -> tuple[list[int], list[str]]:
    """Indices in ``values`` of the ``marked`` values (exact first, then loosely), and
    the marked values found nowhere (normalised forms no raw value spells alike)."""
    at: list[int] = []
    rest: list[str] = []
    used: set[int] = set()
    # indices by value and by loose value (built once: one account's 10,000 group
    # values took 2.9 s per 5,000 searched value by value, 60 s per 10,000)
    exact: dict[str, list[int]] = {}
    for i, v in enumerate(values):
        exact.setdefault(v, []).append(i)
    loose: dict[str, list[int]] | None = None
    for value in marked:
        found = next((i for i in exact.get(value, ()) if i not in used), None)
        if found is None:
            if loose is None:
                loose = {}
                for i, v in enumerate(values):
                    loose.setdefault(_loose(v), []).append(i)
            found = next((i for i in loose.get(_loose(value), ()) if i not in used), None)
        if found is None:
            rest.append(value)
        else:
            used.add(found)
            at.append(found)
    return sorted(at), rest


# --- the plan's part --------------------------------------------------------------------


@dataclass(frozen=True)
class PlanEvent:
    id: str
    target: str
    operation: str
    response: str
    account: str | None
    dn: str | None
    identity_key: str | None
    situation: str
    reasons: tuple[str, ...]
    changes: tuple[str, ...]
    alert: str | None
    state: str
    by: str | None
    at: str | None
    comment: str | None


@dataclass(frozen=True)
class PlanView:
    plan_id: str
    created_at: str
    digest: str
    events: int
    attention: int
    states: tuple[str, ...]
    matrix: tuple[tuple[str, tuple[int, ...], int], ...]
    """(response, count per state in ``states``, row total)"""
    state_totals: tuple[int, ...]
    alerts: tuple[PlanEvent, ...]
    alerts_total: int
    pending: tuple[PlanEvent, ...]
    pending_total: int
    decided: tuple[PlanEvent, ...]
    decided_total: int
    mismatch: str | None
    """Why this plan may not belong to the report's run, if it may not."""


def read_plan(plan: Any, report: Report, source: str = "plan.json") -> PlanView:
    """The plan's part of the page. The tallies come from the header's counts
    (derived from every event, and covered by the digest); only the events shown
    (at most ``limits.rows_per_table`` of each list) are read, so the plan compare
    passes may hold just those."""
    top = _Node(plan, "", source)
    limit = report.rows_per_table
    tally: Counter[tuple[str, str]] = Counter()
    picked: dict[str, list[_Node]] = {"alerts": [], "pending": [], "decided": []}
    counts = top.obj("counts")
    for response, states_of in counts.data["by_response_approval"].items():
        for state, n in states_of.items():
            tally[(str(response), str(state))] += int(n)
    by_approval = counts.data["by_approval"]
    totals = Counter(
        {
            "alerts": int(counts.data["alerts"]),
            "pending": int(by_approval.get("pending", 0)),
            "decided": int(by_approval.get("approved", 0)) + int(by_approval.get("rejected", 0)),
        }
    )
    for e in top.objs("events"):
        state = e.obj("approval").text("state")
        lists = ["pending"] if state == "pending" else []
        lists += ["decided"] if state in ("approved", "rejected") else []
        lists += ["alerts"] if e.opt_text("alert") else []
        for name in lists:
            if len(picked[name]) < limit:
                picked[name].append(e)
    states = tuple(s for s in APPROVAL_STATES if any(st == s for _, st in tally))
    responses = sorted({r for r, _ in tally})
    matrix = tuple(
        (r, tuple(tally[(r, s)] for s in states), sum(tally[(r, s)] for s in states))
        for r in responses
    )
    return PlanView(
        plan_id=top.text("plan_id"),
        created_at=top.text("created_at"),
        digest=top.text("digest"),
        events=int(counts.data["events"]),
        attention=len(top.objs("attention")),
        states=states,
        matrix=matrix,
        state_totals=tuple(sum(n for (_, st), n in tally.items() if st == s) for s in states),
        alerts=tuple(_event(e) for e in picked["alerts"]),
        alerts_total=totals["alerts"],
        pending=tuple(_event(e) for e in picked["pending"]),
        pending_total=totals["pending"],
        decided=tuple(_event(e) for e in picked["decided"]),
        decided_total=totals["decided"],
        mismatch=_mismatch(top, report),
    )


def _event(e: _Node) -> PlanEvent:
    obj = e.obj("object")
    member_of = obj.opt_obj("member_of") if "member_of" in obj.data else None
    reason = e.obj("reason")
    approval = e.obj("approval")
    reasons = []
    for d in reason.objs("drift") if "drift" in reason.data else []:
        old, new = shown(d.opt_text("endpoint_value")), shown(d.opt_text("repository_value"))
        kind = d.text("kind")
        if kind == "added":
            what = f"{d.text('attribute')}: added {old}"
        elif kind == "removed":
            what = f"{d.text('attribute')}: removed {new}"
        else:
            what = f"{d.text('attribute')}: {old} → {new}"
        reasons.append(f"{what} ({d.text('response')})")
    changes = tuple(
        f"{c.text('op')} {c.text('attribute')}: "
        + "; ".join(str(shown(v)) for v in c.strs("values"))
        for c in e.objs("changes")
    )
    return PlanEvent(
        id=e.text("id"),
        target=e.text("target"),
        operation=e.text("operation"),
        response=e.text("response"),
        account=shown(
            obj.opt_text("key") or (member_of.opt_text("key") if member_of else None)
        ),
        dn=shown(obj.opt_text("dn")),
        identity_key=shown(obj.opt_text("identity_key")),
        situation=reason.text("situation"),
        reasons=tuple(reasons),
        changes=changes,
        alert=e.opt_text("alert"),
        state=approval.text("state"),
        by=approval.opt_text("by"),
        at=approval.opt_text("at"),
        comment=shown(approval.opt_text("comment")),
    )


def _mismatch(plan: _Node, report: Report) -> str | None:
    digests = {i.side: i.sha256 for i in report.inputs}
    inputs = plan.obj("inputs")
    if plan.obj("config").text("sha256") != report.run.config_sha256 or any(
        inputs.obj(side).text("sha256") != digests[side] for side in ("endpoint", "repository")
    ):
        return (
            "plan.json was made from other inputs or another config than this report; "
            "re-run recondiff compare so that both come from the same run"
        )
    return None


# --- charts (geometry only; every number comes from report.json) -------------------------


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    fraction: float
    """value / the chart's largest value, 0..1"""
    note: str
    kind: str
    part: float
    """a highlighted part of the bar (drifted of a segment's accounts), 0..1 of the largest"""


@dataclass(frozen=True)
class Trend:
    width: int
    height: int
    labels: tuple[tuple[float, str], ...]
    series: tuple[tuple[str, str, tuple[tuple[float, float, int], ...]], ...]
    """(name, css class, points (x, y, value))"""
    top: int


def _bars(items: list[tuple[str, int, str, str, int]]) -> tuple[Bar, ...]:
    """Bars of (label, value, note, kind, highlighted part), scaled to the largest value."""
    largest = max((item[1] for item in items), default=0)

    def scale(n: int) -> float:
        return round(n / largest, 4) if largest else 0.0

    return tuple(
        Bar(label, value, scale(value), note, kind, scale(part))
        for label, value, note, kind, part in items
    )


def _trend(points: tuple[TrendPoint, ...]) -> Trend | None:
    if len(points) < 2:
        return None
    width, height, pad = 640, 180, 30
    top = max(max(p.differences, p.drift_accounts) for p in points) or 1
    step = (width - 2 * pad) / (len(points) - 1)

    def xy(i: int, v: int) -> tuple[float, float, int]:
        return (round(pad + i * step, 1), round(height - pad - (height - 2 * pad) * v / top, 1), v)

    return Trend(
        width=width,
        height=height,
        labels=tuple((round(pad + i * step, 1), p.finished_at[:10]) for i, p in enumerate(points)),
        series=(
            ("differences", "s-diff", tuple(xy(i, p.differences) for i, p in enumerate(points))),
            (
                "drifted accounts",
                "s-drift",
                tuple(xy(i, p.drift_accounts) for i, p in enumerate(points)),
            ),
        ),
        top=top,
    )


def _drift_note(a: AttributeDrift) -> str:
    parts = [f"{a.changed} changed"] if a.changed or not (a.added or a.removed) else []
    if a.added or a.removed:
        parts.append(f"+{a.added} −{a.removed}")
    return ", ".join(parts)


def _charts(report: Report) -> dict[str, Any]:
    return {
        "situations": _bars(
            [(s.situation, s.count, f"{s.percent:g} %", s.situation, 0) for s in report.situations]
        ),
        "attributes": _bars(
            [(a.attribute, a.accounts, _drift_note(a), "drift", 0) for a in report.attributes]
        ),
        "top_values": _bars(
            [(f"{v.attribute}: {v.value}", v.count, v.kind, v.kind, 0) for v in report.top_values]
        ),
        "segments": None
        if report.segments is None
        else _bars(
            [
                (
                    r.value if r.value is not None else "(none)",
                    r.accounts,
                    f"{r.drifted} of {r.accounts} drifted",
                    "segment",
                    r.drifted,
                )
                for r in report.segments.rows
            ]
        ),
        "trend": _trend(report.history.trend),
    }


# --- rendering ----------------------------------------------------------------------------


@cache
def environment() -> jinja2.Environment:
    """The one Jinja environment of recondiff's HTML (autoescape, StrictUndefined)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # tojson (which escapes <, > and &) writes compact, UTF-8 JSON in the order given.
    env.policies["json.dumps_kwargs"] = {
        "sort_keys": False,
        "separators": (",", ":"),
        "ensure_ascii": False,
    }
    return env


def render_html(report_data: dict[str, Any], plan: dict[str, Any] | None) -> str:
    """``report.html`` of ``report.json``'s content and, if any, ``plan.json``'s.

    Raises :class:`InputError` (one line) when the data lacks a key the page uses."""
    with cyclic_gc_paused():
        report = read_report(report_data)
        plan_view = None if plan is None else read_plan(plan, report)
        env = environment()
        script, style = env.get_template(SCRIPT).render(), env.get_template(STYLE).render()
        try:
            return env.get_template(TEMPLATE).render(
                report=report,
                plan=plan_view,
                charts=_charts(report),
                visible=[t for t in report.tables if not t.hidden],
                hidden=[t for t in report.tables if t.hidden],
                script=Markup(script),
                script_hash=_csp_hash(script),
                style=Markup(style),
                style_hash=_csp_hash(style),
            )
        except jinja2.UndefinedError as exc:  # a template bug or an unchecked key
            raise InputError(f"report.json: {exc.message}; {FIX}") from None


@contextmanager
def cyclic_gc_paused() -> Iterator[None]:
    """Hold off Python's cyclic garbage collector (reference counting still frees
    everything) while the report makes its tens of thousands of small, acyclic
    lists and dicts: each of them counts towards a collection, and inside a 1M
    compare a full one walks a large heap (about 0.1 s). Measured at 1M accounts
    (gc.callbacks): building the side-by-side views triggered two full collections,
    0.27 s of its 1.2 s. A collector already disabled by the caller stays so."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _csp_hash(text: str) -> str:
    """The Content-Security-Policy source that lets exactly this inline text run."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def load_report(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(
            f"{path}: no report.json in this run directory; run recondiff compare first"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}); run recondiff compare first") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "run recondiff compare first to write it again"
        ) from None
    except RecursionError:  # brackets nested deeper than Python's parser goes
        raise InputError(
            f"{path}: not a recondiff report (JSON nested too deeply); run recondiff "
            "compare first to write it again"
        ) from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: not a recondiff report; run recondiff compare first")
    return data


def render_report(rundir: Path) -> Path:
    """Render ``RUNDIR/report.html`` from ``RUNDIR/report.json`` and, when there is
    one, ``RUNDIR/plan.json`` (so approvals made since the run show). Atomic."""
    rundir = Path(rundir)
    source = rundir / "report.json"
    data = load_report(source)
    plan_path = rundir / "plan.json"
    plan = load_plan(plan_path) if plan_path.exists() else None
    try:
        html = render_html(data, plan)
    except RecondiffError as exc:
        message = str(exc)
        if message.startswith("report.json:"):
            message = f"{source}:{message.removeprefix('report.json:')}"
        elif message.startswith("plan.json:"):
            message = f"{plan_path}:{message.removeprefix('plan.json:')}"
        raise InputError(message) from None
    out = rundir / "report.html"
    write_text_atomically(out, html, "the report")
    return out
