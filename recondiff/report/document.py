"""Read ``report.json`` (docs/report.md): the reader of the file that
:mod:`recondiff.report.build` writes, used by the renderer (:mod:`recondiff.report.render`).

``report.json`` already holds every count, top list and percentage; this module
reads it into frozen dataclasses (:class:`Report`), checking every key the page
uses, so that a file missing one fails with one line naming the key instead of
half a page. The side-by-side views' data is kept in the compact form the page's
script reads: attribute names once, values per pair, added/removed as indices.
Nothing here recomputes a finding.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recondiff.errors import InputError
from recondiff.report.values import REPORT_FORMAT

FIX = "run recondiff compare again to rewrite it"


# --- reading JSON with one-line errors ---------------------------------------------------


class Node:
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
        if type(value) in types:  # the usual case, first: exactly a type asked for
            return value
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

    def obj(self, key: str) -> Node:
        return Node(self._typed(key, (dict,), "an object", False), self._where(key), self.source)

    def opt_obj(self, key: str) -> Node | None:
        value = self._typed(key, (dict,), "an object or null", True)
        return None if value is None else Node(value, self._where(key), self.source)

    def objs(self, key: str) -> list[Node]:
        items: list[Any] = self._typed(key, (list,), "a list", False)
        return [Node(item, f"{self._where(key)}/{i}", self.source) for i, item in enumerate(items)]

    def strs(self, key: str) -> tuple[str, ...]:
        items: list[Any] = self._typed(key, (list,), "a list", False)
        try:
            "".join(items)  # checks every item is a string in one pass (a side-by-side
        except TypeError:  # view holds tens of thousands); then finds which is not
            i = next(i for i, item in enumerate(items) if not isinstance(item, str))
            raise self._fail(f"{key}/{i}", "expected a string") from None
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
    # an explored delta (recondiff/explore/): which entries it read, e.g.
    # "modifyTimestamp >= 20261207060000Z"; the others were not looked at
    incremental_since: str | None = None


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
class SituationsCsv:
    """What situations.csv holds: ``rows`` rows, every one but the linked
    accounts in sync (``in_sync_left_out``), which only ``every_record_in`` holds."""

    rows: int
    in_sync_left_out: int
    every_record_in: str


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
    # "delta": an incremental run, the counts speak of the delta's accounts only, and
    # ``carried`` previous findings of the others were carried over, not looked at
    scope: str = "all"
    carried: int = 0


@dataclass(frozen=True)
class Expected:
    """A drift row whose repository value an identity policy expects, and why."""

    endpoint_key: str | None
    identity_key: str | None
    attribute: str
    repository_attribute: str
    kind: str
    endpoint_value: str | None
    repository_value: str | None
    policy: str
    when: str
    detail: str | None


@dataclass(frozen=True)
class PolicyConflict:
    identity_key: str | None
    attribute: str
    policies: tuple[str, ...]
    values: tuple[str, ...]
    pass_: int


@dataclass(frozen=True)
class PolicyChange:
    """An identity whose record the policies change (the plan's repository event)."""

    identity_key: str | None
    allocated: tuple[str, ...]
    deallocated: tuple[str, ...]
    reallocated: tuple[str, ...]
    changes: tuple[str, ...]
    """"op attribute: value; value", as the plan view shows a change"""


@dataclass(frozen=True)
class PolicyPending:
    identity_key: str | None
    applied: tuple[str, ...]
    pending: tuple[str, ...]


@dataclass(frozen=True)
class Policies:
    """The identity policies' section (docs/report.md), of a run with [[policy]]."""

    counts: tuple[tuple[str, int], ...]
    expected: tuple[Expected, ...]
    expected_total: int
    conflicts: tuple[PolicyConflict, ...]
    conflicts_total: int
    changed: tuple[PolicyChange, ...]
    changed_total: int
    pending: tuple[PolicyPending, ...]
    pending_total: int


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
    policies: Policies | None = None
    """Only a run whose config has [[policy]] tables has this section."""
    situations_csv: SituationsCsv | None = None
    """What situations.csv leaves out; None for a report.json written before
    situations.csv left the linked accounts in sync out (it then held every record)."""




def read_report(data: Any, source: str = "report.json") -> Report:
    """Check ``data`` (report.json's content) and read what the page shows. The keys
    are read in a fixed order (the sections first), so the first one missing or
    wrong is the one named."""
    top = Node(data, "", source)
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
        run=_run(run),
        inputs=tuple(_input(side, inputs.obj(side)) for side in ("endpoint", "repository")),
        max_age_hours=staleness.number("max_age_hours"),
        max_apart_hours=staleness.number("max_apart_hours"),
        staleness_warnings=staleness.strs("warnings"),
        rows_per_table=top.obj("limits").integer("rows_per_table"),
        endpoint_records=totals.integer("endpoint_records"),
        identities=totals.integer("identities"),
        differences=totals.integer("differences"),
        situations=tuple(_situation(s) for s in top.objs("situations")),
        alerts=tuple(_alert(a) for a in top.objs("alerts")),
        drift_accounts=drift.integer("accounts"),
        attributes=tuple(_attribute_drift(a) for a in drift.objs("attributes")),
        top_values=tuple(_top_value(v) for v in drift.objs("top_values")),
        segments=None if segments is None else _segments(segments),
        tables=tuple(_table(t) for t in top.objs("tables")),
        details=_details(top.obj("details")),
        history=_history(history, previous),
        policies=_policies(top.obj("policies")) if "policies" in top.data else None,
        situations_csv=_situations_csv(top.obj("outputs")) if "outputs" in top.data else None,
    )


def _situations_csv(outputs: Node) -> SituationsCsv:
    csv = outputs.obj("situations_csv")
    return SituationsCsv(
        rows=csv.integer("rows"),
        in_sync_left_out=csv.integer("in_sync_left_out"),
        every_record_in=csv.text("every_record_in"),
    )


def _run(run: Node) -> Run:
    return Run(
        id=run.text("id"),
        config=run.text("config"),
        config_sha256=run.text("config_sha256"),
        endpoint=run.text("endpoint"),
        repository=run.text("repository"),
        started_at=run.text("started_at"),
        finished_at=run.text("finished_at"),
        recondiff_version=run.text("recondiff_version"),
        incremental=run.flag("incremental"),
        incremental_since=run.opt_text("incremental_since")
        if "incremental_since" in run.data
        else None,
    )


def _input(side: str, node: Node) -> Input:
    return Input(
        side=side,
        path=node.text("path"),
        format=node.opt_text("format") if "format" in node.data else None,
        rows=node.integer("rows"),
        captured_at=node.text("captured_at"),
        sha256=node.text("sha256"),
    )


def _situation(s: Node) -> Situation:
    return Situation(
        situation=s.text("situation"),
        count=s.integer("count"),
        percent=s.number("percent"),
        response=s.text("response"),
        in_sync=s.opt_integer("in_sync") if "in_sync" in s.data else None,
        drifted=s.opt_integer("drifted") if "drifted" in s.data else None,
    )


def _alert(a: Node) -> Alert:
    return Alert(
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


def _attribute_drift(a: Node) -> AttributeDrift:
    return AttributeDrift(
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
            Transition(old=t.opt_text("from"), new=t.opt_text("to"), count=t.integer("count"))
            for t in a.objs("transitions")
        ),
    )


def _top_value(v: Node) -> TopValue:
    return TopValue(
        attribute=v.text("attribute"),
        kind=v.text("kind"),
        value=v.text("value"),
        count=v.integer("count"),
    )


def _segments(segments: Node) -> Segments:
    return Segments(
        attribute=segments.text("attribute"),
        rows=tuple(
            SegmentRow(value=r.opt_text("value"), drifted=r.integer("drifted"),
                       accounts=r.integer("accounts"))
            for r in segments.objs("rows")
        ),
    )


def _history(history: Node, previous: Node | None) -> History:
    return History(
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
        trend=tuple(_trend_point(t) for t in history.objs("trend")),
        # absent from a report.json written before incremental runs had them
        scope=history.text("scope") if "scope" in history.data else "all",
        carried=history.integer("carried") if "carried" in history.data else 0,
    )


def _trend_point(t: Node) -> TrendPoint:
    return TrendPoint(
        id=t.text("id"),
        finished_at=t.text("finished_at"),
        situations=tuple(
            (name, _count(t, "situations", name, n))
            for name, n in t.obj("situations").data.items()
        ),
        drift_accounts=t.integer("drift_accounts"),
        differences=t.integer("differences"),
    )


def _count(node: Node, key: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{node.source}: {node.path}/{key}/{name}: expected an integer; {FIX}")
    return value


def _table(t: Node) -> Table:
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




POLICY_COUNTS = (
    "policies", "passes", "identities_changed", "allocated", "deallocated", "reallocated",
    "pending", "conflicts", "unknown_applied",
)


def _policies(p: Node) -> Policies:
    counts = p.obj("counts")
    expected, conflicts = p.obj("expected"), p.obj("conflicts")
    changed, pending = p.obj("changed"), p.obj("pending")
    return Policies(
        counts=tuple((name, counts.integer(name)) for name in POLICY_COUNTS),
        expected=tuple(_expected(r) for r in expected.objs("rows")),
        expected_total=expected.integer("total"),
        conflicts=tuple(
            PolicyConflict(
                identity_key=r.opt_text("identity_key"),
                attribute=r.text("attribute"),
                policies=r.strs("policies"),
                values=r.strs("values"),
                pass_=r.integer("pass"),
            )
            for r in conflicts.objs("rows")
        ),
        conflicts_total=conflicts.integer("total"),
        changed=tuple(
            PolicyChange(
                identity_key=r.opt_text("identity_key"),
                allocated=r.strs("allocated"),
                deallocated=r.strs("deallocated"),
                reallocated=r.strs("reallocated"),
                changes=tuple(
                    f"{c.text('op')} {c.text('attribute')}: " + "; ".join(c.strs("values"))
                    for c in r.objs("changes")
                ),
            )
            for r in changed.objs("rows")
        ),
        changed_total=changed.integer("total"),
        pending=tuple(
            PolicyPending(
                identity_key=r.opt_text("identity_key"),
                applied=r.strs("applied"),
                pending=r.strs("pending"),
            )
            for r in pending.objs("rows")
        ),
        pending_total=pending.integer("total"),
    )


def _expected(r: Node) -> Expected:
    return Expected(
        endpoint_key=r.opt_text("endpoint_key"),
        identity_key=r.opt_text("identity_key"),
        attribute=r.text("attribute"),
        repository_attribute=r.text("repository_attribute"),
        kind=r.text("kind"),
        endpoint_value=r.opt_text("endpoint_value"),
        repository_value=r.opt_text("repository_value"),
        policy=r.text("policy"),
        when=r.text("when"),
        detail=r.opt_text("detail"),
    )


_STATES = {"equal": "e", "changed": "c", "one_side": "o"}


def _details(details: Node) -> dict[str, Any]:
    """The side-by-side data, compact: ``{"attrs": [[attribute, repository_attribute,
    compare], …], "d": {id: [endpoint_key, identity_key, situation, endpoint_dn,
    [[attr index, state, endpoint values, repository values or 0 when the same,
    added indices, removed indices, added values not found among the endpoint's,
    removed values not found among the repository's, [[value, policy, when] an
    identity policy expects, …]], …]]}}``, trailing empty lists dropped.
    ``state`` is ``e`` (equal), ``c`` (changed) or ``o`` (one side).
    Every value is checked through :class:`Node`."""
    attrs: dict[tuple[str, str, str], int] = {}
    out: dict[str, Any] = {}
    for key in details.data:
        d = details.obj(key)
        rows = [_pair(a, attrs) for a in d.objs("attributes")]
        out[key] = [
            d.opt_text("endpoint_key"),
            d.opt_text("identity_key"),
            d.text("situation"),
            d.opt_text("endpoint_dn"),
            rows,
        ]
    return {"attrs": [list(names) for names in attrs], "d": out}


def _pair(a: Node, attrs: dict[tuple[str, str, str], int]) -> list[Any]:
    """One attribute of a side-by-side view, compact (see :func:`_details`); its
    names are numbered in ``attrs`` the first time they are seen."""
    names = (a.text("attribute"), a.text("repository_attribute"), a.text("compare"))
    index = attrs.setdefault(names, len(attrs))
    state = a.text("state")
    if state not in _STATES:
        raise InputError(
            f"{a.source}: {a.path}/state: {state!r} is not equal, changed or one_side; {FIX}"
        )
    endpoint, repository = list(a.strs("endpoint")), list(a.strs("repository"))
    added, removed = a.strs("added"), a.strs("removed")
    expected = _expected_values(a)
    row: list[Any] = [index, _STATES[state], endpoint, 0 if repository == endpoint else repository]
    if added or removed or expected:
        added_at, added_rest = _marks(added, endpoint)
        removed_at, removed_rest = _marks(removed, repository)
        row += [added_at, removed_at, added_rest, removed_rest, expected]
        while len(row) > 4 and not row[-1]:  # trailing empty lists dropped
            row.pop()
    return row


def _expected_values(a: Node) -> list[list[str]]:
    """A pair's ``expected`` (only in a run with identity policies), compact: per
    drifting repository value a policy expects, ``[value, policy, when]``."""
    return [
        [e.text("value"), e.text("policy"), e.text("when")]
        for e in (a.objs("expected") if "expected" in a.data else ())
    ]


def _loose(value: str) -> str:
    """Close enough to the normalised forms (case, spaces, DN spacing) to find a value."""
    return "".join(value.casefold().split())


def _marks(marked: tuple[str, ...], values: list[str]) -> tuple[list[int], list[str]]:
    """Indices in ``values`` of the ``marked`` values (exact first, then loosely), and
    the marked values found nowhere (normalised forms no raw value spells alike)."""
    at: list[int] = []
    rest: list[str] = []
    used: set[int] = set()
    # indices by value and by loose value, built once: searched value by value, one
    # account with thousands of groups took minutes (benchmarks/NOTES.md, "Report")
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




def load_report(path: Path) -> dict[str, Any]:
    """report.json's content, or one line saying why there is none to read."""
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
