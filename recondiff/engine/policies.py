"""The policies phase: identity policies evaluated over every identity before
anything is compared (seed 003, docs/policies.md; queries/policies/).

The repository's columns are what an identity *is*; its policies say what it
should therefore *hold*. This phase resolves the ``[[policy]]`` tables against
the repository snapshot, runs up to ``[policies] max_recursion`` evaluation
passes in DuckDB (one statement per pass over all identities, no per-identity
Python), and writes the repository snapshot every later step reads instead of
the original: the same rows and columns, with the columns the policies change
(and the applied list) holding the final state. It also writes
``expected.parquet`` (why each value is expected), ``policies.parquet`` (the
applied lists, per identity) and ``policy_conflicts.csv``, and leaves in the
connection the tables the plan reads: ``policy_why``, ``policy_conflict`` and
``policy_change``.

Everything spliced into the SQL is a quoted column name, a type from the
short list :data:`_SCALAR_TYPE`, an index, an ``rd_*`` macro, or a config
``when``/``set_sql`` expression (checked like ``scope``); every name and value
is bound.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recondiff.config.expression import expression_columns
from recondiff.config.model import Config, PolicyConfig
from recondiff.engine.fills import Fills
from recondiff.engine.publish import POLICY_FILES
from recondiff.engine.slots import ELEMENT_MACRO, Column
from recondiff.engine.steps import Session
from recondiff.errors import ConfigError, InputError
from recondiff.vocabulary import SET_KINDS

# The types a `set` may write: scalars DuckDB casts text to and back unchanged.
_SCALAR_TYPE = re.compile(
    r"VARCHAR|BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER"
    r"|UBIGINT|FLOAT|DOUBLE|DATE|TIMESTAMP|TIMESTAMP WITH TIME ZONE|DECIMAL\(\d{1,2},\d{1,2}\)"
)
_RESERVED_PREFIX = "__rd_"

OUTPUTS = POLICY_FILES  # published by engine/publish.py; a run without policies has none


@dataclass
class _Target:
    """A column the policies change (index j, from 1): single-valued (set) or a list (grant)."""

    j: int
    column: Column
    grant: bool
    norm: str  # the macro normalising a list's values ('' = compared as written)
    setters: list[tuple[int, str]] = field(default_factory=list)  # (policy i, value SQL)
    granters: list[tuple[int, int]] = field(default_factory=list)  # (policy i, grant g)


@dataclass
class PolicyRun:
    """What the phase made: the derived snapshot, the outputs in ``work``, the counts."""

    derived: Path
    outputs: dict[str, Path]
    summary: dict[str, int]

    def publish_into(self, staging: Path) -> None:
        """The outputs moved into the run's staging directory (engine/publish.py)."""
        for name, path in self.outputs.items():
            shutil.move(path, staging / name)


class _Resolved:
    """The [[policy]] tables resolved against the repository snapshot."""

    def __init__(self, cfg: Config, fills: Fills) -> None:
        self.cfg, self.fills = cfg, fills
        pol = cfg.policies
        repo = fills.repo
        self.key = fills.repo_key
        assert pol.applied is not None
        self.applied = repo.find(pol.applied, "[policies] applied")
        if self.applied.type != "VARCHAR[]":
            raise ConfigError(
                f"{cfg.path}: [policies] applied = '{pol.applied}' is {self.applied.type} in "
                f"{repo.file}, not a list; name it in [repository] multi_valued"
            )
        self.policies = pol.policies
        self.targets: dict[str, _Target] = {}
        self.set_values: list[str] = []
        self.grant_values: list[list[str]] = []
        for i, p in enumerate(self.policies, 1):
            self._policy(i, p)
        self._reserved_names()

    # --- resolving ------------------------------------------------------------------

    def _target(self, name: str, key: str, grant: bool) -> _Target:
        column = self.fills.repo.find(name, key)
        target = self.targets.get(column.name.lower())
        if target is None:
            where = f"{self.cfg.path}: {key} = '{name}' is {column.type} in {self.fills.repo.file}"
            if grant and column.type != "VARCHAR[]":
                raise ConfigError(
                    f"{where}; grant needs a list column (name it in [repository] multi_valued)"
                )
            if not grant and not _SCALAR_TYPE.fullmatch(column.type):
                raise ConfigError(
                    f"{where}; set needs a single-valued column (grant adds values to a list)"
                )
            target = _Target(len(self.targets) + 1, column, grant, self._norm(column))
            self.targets[column.name.lower()] = target
        return target

    def _norm(self, column: Column) -> str:
        """The compare kind of the [[attribute]] that maps this repository column,
        for a list's values (a granted DN is found whatever its spelling)."""
        for a in self.cfg.attributes:
            if (a.repository or "").lower() == column.name.lower() and a.compare in SET_KINDS:
                return ELEMENT_MACRO[a.compare]
        return ""

    def _policy(self, i: int, p: PolicyConfig) -> None:
        where = f"[[policy]] #{i} ('{p.name}')"
        self.fills.repository_predicate(p.when, f"{where} when")
        for name, value in p.sets:
            target = self._target(name, f"{where} set", grant=False)
            self._check_value(where, name, value, target.column)
            self.set_values.append(value)
            target.setters.append((i, f"__rd_set_values[{len(self.set_values)}]"))
        for name, expression in p.set_sql:
            target = self._target(name, f"{where} set_sql", grant=False)
            self.fills.repository_expression(expression, f"{where} set_sql {name}")
            target.setters.append((i, f"CAST(({expression}) AS VARCHAR)"))
        for name, values in p.grants:
            target = self._target(name, f"{where} grant", grant=True)
            self.grant_values.append(list(values))
            target.granters.append((i, len(self.grant_values)))

    def _check_value(self, where: str, name: str, value: str, column: Column) -> None:
        if column.type == "VARCHAR":
            return
        (ok,) = self.fills.con.execute(
            _render("policies/check_value", type=column.type), {"value": value}
        ).fetchone() or (False,)
        if not ok:
            raise ConfigError(
                f"{self.cfg.path}: {where} set {name} = {value!r} is not a {column.type}, "
                f"the type of '{column.name}' in {self.fills.repo.file}"
            )

    def _reserved_names(self) -> None:
        for column in self.fills.repo.columns.values():
            if column.name.lower().startswith(_RESERVED_PREFIX):
                raise InputError(
                    f"{self.fills.repo.file}: column '{column.name}' starts with "
                    f"'{_RESERVED_PREFIX}', which recondiff keeps for its own columns "
                    "when policies run; rename it"
                )

    # --- what the state holds ---------------------------------------------------------

    def state_columns(self) -> list[Column]:
        """The key, the applied list, the changed columns and every column a
        `when` or `set_sql` reads, each once."""
        repo = self.fills.repo.columns
        names = [self.key.name, self.applied.name, *(t.column.name for t in self.targets.values())]
        for p in self.policies:
            for expression in [p.when, *(e for _, e in p.set_sql)]:
                names += [n for n in expression_columns(expression) if n.lower() in repo]
        seen: dict[str, Column] = {}
        for n in names:
            seen.setdefault(n.lower(), repo[n.lower()])
        return list(seen.values())

    def params(self) -> dict[str, Any]:
        return {
            "names": [p.name for p in self.policies],
            "lower_names": [p.name.lower() for p in self.policies],
            "whens": [p.when for p in self.policies],
            "set_values": self.set_values or [""],
            "grant_values": self.grant_values or [[""]],
            "columns": [t.column.name for t in self.targets.values()],
        }


def _render(name: str, **fills: str) -> str:
    from recondiff.io.sqlfiles import render

    return render(name, **fills)


# --- the SQL of each slot ---------------------------------------------------------------


class _Slots:
    """The per-policy SQL of queries/policies/*.sql's {{slots}}."""

    def __init__(self, r: _Resolved) -> None:
        self.r = r
        self.n = len(r.policies)
        self.targets = list(r.targets.values())

    @staticmethod
    def _norm(t: _Target, x: str) -> str:
        return f"{t.norm}({x})" if t.norm else x

    @staticmethod
    def _acting(i: int) -> str:
        return f"(__rd_l{i} OR __rd_r{i})"

    def _names_where(self, condition: str, names: str = "__rd_names") -> str:
        items = ", ".join(
            f"CASE WHEN {condition.format(i=i)} THEN {names}[{i}] END" for i in range(1, self.n + 1)
        )
        return f"list_filter([{items}], lambda x: x IS NOT NULL)"

    def state(self) -> dict[str, str]:
        columns = self.r.state_columns()
        originals = [f"{t.column.ident} AS __rd_o{t.j}" for t in self.targets]
        originals.append(f"{self.r.applied.ident} AS __rd_oa")
        return {"columns": ", ".join(c.ident for c in columns), "originals": ", ".join(originals)}

    def grant_norm(self) -> str:
        items = []
        for t in self.targets:
            for _, g in t.granters:
                values = f"__rd_grant_values[{g}]"
                norm = f"list_transform({values}, lambda x: {t.norm}(x))" if t.norm else values
                items.append(f"{norm} AS __rd_gn{g}")
        return ", ".join(items) or "NULL AS __rd_gn_none"

    def pass_fills(self) -> dict[str, str]:
        r, n = self.r, self.n
        evaluate = ", ".join(
            f"coalesce(CAST(({p.when}) AS BOOLEAN), false) AS __rd_w{i}, "
            f"list_contains(__rd_a, __rd_lower_names[{i}]) AS __rd_in{i}"
            for i, p in enumerate(r.policies, 1)
        )
        lists = ", ".join(
            f"(__rd_in{i} AND NOT __rd_w{i}) AS __rd_d{i}, (__rd_w{i} AND NOT __rd_in{i}) AS "
            f"__rd_l{i}, ({f'__rd_w{i} AND __rd_in{i}' if p.reapply else 'false'}) "
            f"AS __rd_r{i}"
            for i, p in enumerate(r.policies, 1)
        )
        return {
            "applied": r.applied.ident,
            "grant_norm": self.grant_norm(),
            "evaluate": evaluate,
            "lists": lists,
            "candidates": self._candidates(),
            "held": self._held(),
            "names": ", ".join(
                [
                    f"{self._names_where('__rd_d{i}', '__rd_lower_names')} AS __rd_dl",
                    f"{self._names_where('__rd_d{i}')} AS __rd_dn",
                    f"{self._names_where('__rd_l{i} AND NOT __rd_h{i}')} AS __rd_al",
                    f"{self._names_where('__rd_r{i} AND NOT __rd_h{i}')} AS __rd_rl",
                    "list_filter(["
                    + ", ".join(f"CASE WHEN __rd_w{i} THEN {i} END" for i in range(1, n + 1))
                    + "], lambda x: x IS NOT NULL) AS __rd_ap",
                ]
            ),
            "grant_lists": self._grant_lists(),
            "grant_removed": self._grant_removed(),
            "grant_added": self._grant_added(),
            "new_values": self._new_values(),
            "changed": self._changed(),
            "outputs": self._outputs(),
            "original_columns": ", ".join([f"__rd_o{t.j}" for t in self.targets] + ["__rd_oa"]),
            "conflicts": self._conflicts(),
        }

    def _candidates(self) -> str:
        items = []
        for t in self.targets:
            if t.grant:
                continue
            values = ", ".join(f"CASE WHEN {self._acting(i)} THEN {v} END" for i, v in t.setters)
            items.append(
                f"list_sort(list_distinct(list_filter([{values}], lambda x: x IS NOT NULL))) "
                f"AS __rd_c{t.j}"
            )
        return ", ".join(items) or "NULL AS __rd_c_none"

    def _held(self) -> str:
        conflicts: dict[int, list[str]] = {}
        for t in self.targets:
            for i, _ in t.setters:
                conflicts.setdefault(i, []).append(f"len(__rd_c{t.j}) > 1")
        return ", ".join(
            f"({self._acting(i)} AND ({' OR '.join(conflicts[i])})) AS __rd_h{i}"
            if i in conflicts
            else f"false AS __rd_h{i}"
            for i in range(1, self.n + 1)
        )

    def _grants(self) -> list[_Target]:
        return [t for t in self.targets if t.grant]

    def _grant_lists(self) -> str:
        items = []
        for t in self._grants():
            kept = ", ".join(
                f"CASE WHEN __rd_w{i} THEN __rd_gn{g} ELSE [] END" for i, g in t.granters
            )
            gone = ", ".join(
                f"CASE WHEN __rd_d{i} THEN __rd_gn{g} ELSE [] END" for i, g in t.granters
            )
            add = ", ".join(
                f"CASE WHEN {self._acting(i)} THEN __rd_grant_values[{g}] ELSE [] END"
                for i, g in t.granters
            )
            items.append(
                f"list_filter(flatten([{gone}]), lambda x: NOT list_contains(flatten([{kept}]), x))"
                f" AS __rd_gr{t.j}, rd_dedupe(flatten([{add}])) AS __rd_ga{t.j}"
            )
        return ", ".join(items) or "NULL AS __rd_g_none"

    def _grant_removed(self) -> str:
        return (
            ", ".join(
                f"list_filter(coalesce({t.column.ident}, []), lambda x: NOT list_contains("
                f"__rd_gr{t.j}, {self._norm(t, 'x')})) AS __rd_g1_{t.j}"
                for t in self._grants()
            )
            or "NULL AS __rd_g1_none"
        )

    def _grant_added(self) -> str:
        return (
            ", ".join(
                f"list_filter(__rd_ga{t.j}, lambda x: NOT list_contains(list_transform("
                f"__rd_g1_{t.j}, lambda y: {self._norm(t, 'y')}), {self._norm(t, 'x')})) "
                f"AS __rd_add{t.j}"
                for t in self._grants()
            )
            or "NULL AS __rd_add_none"
        )

    def _new_values(self) -> str:
        items = []
        for t in self.targets:
            col = t.column.ident
            if t.grant:
                items.append(
                    f"CASE WHEN len(__rd_g1_{t.j}) = len(coalesce({col}, [])) AND "
                    f"len(__rd_add{t.j}) = 0 THEN {col} ELSE CAST(__rd_g1_{t.j} || "
                    f"__rd_add{t.j} AS VARCHAR[]) END AS __rd_n{t.j}"
                )
            else:
                items.append(
                    f"CASE WHEN len(__rd_c{t.j}) = 1 THEN CAST(__rd_c{t.j}[1] AS {t.column.type}) "
                    f"ELSE {col} END AS __rd_n{t.j}"
                )
        applied = self.r.applied.ident
        items.append(
            f"CASE WHEN len(__rd_dl) = 0 AND len(__rd_al) = 0 THEN {applied} ELSE "
            f"CAST(list_filter(coalesce({applied}, []), lambda x: NOT list_contains(__rd_dl, "
            f"lower(trim(x)))) || __rd_al AS VARCHAR[]) END AS __rd_na"
        )
        return ", ".join(items)

    def _changed(self) -> str:
        parts = [f"({t.column.ident} IS DISTINCT FROM __rd_n{t.j})" for t in self.targets]
        parts.append(f"({self.r.applied.ident} IS DISTINCT FROM __rd_na)")
        return " OR ".join(parts)

    def _outputs(self) -> str:
        by_name = {t.column.name.lower(): t for t in self.targets}
        items = []
        for c in self.r.state_columns():
            if c.name.lower() == self.r.applied.name.lower():
                items.append(f"__rd_na AS {c.ident}")
            elif c.name.lower() in by_name:
                items.append(f"__rd_n{by_name[c.name.lower()].j} AS {c.ident}")
            else:
                items.append(c.ident)
        return ", ".join(items)

    def _conflicts(self) -> str:
        items = []
        for t in self.targets:
            if t.grant:
                continue
            names = ", ".join(
                f"CASE WHEN {self._acting(i)} THEN __rd_names[{i}] END" for i, _ in t.setters
            )
            items.append(
                f"CASE WHEN len(__rd_c{t.j}) > 1 THEN {{'attribute': __rd_columns[{t.j}], "
                f"'policies': list_filter([{names}], lambda x: x IS NOT NULL), "
                f"'values': __rd_c{t.j}, 'pass': __rd_pass}} END"
            )
        if not items:
            return (
                "CAST([] AS STRUCT(attribute VARCHAR, policies VARCHAR[], "
                '"values" VARCHAR[], pass INTEGER)[])'
            )
        return "list_filter([" + ", ".join(items) + "], lambda x: x IS NOT NULL)"

    def derive(self) -> str:
        items = [f"s.{self.r.applied.ident} AS {self.r.applied.ident}"]
        items += [f"s.{t.column.ident} AS {t.column.ident}" for t in self.targets]
        return ", ".join(items)

    def effects(self) -> str:
        """expected.sql: per policy that applies and is applied (__rd_ok), each
        value of the final state it sets or grants, as {attribute, policy, value, when}."""
        items = []

        def row(i: int, j: int, value: str) -> str:
            return (
                f"{{'attribute': __rd_columns[{j}], 'policy': __rd_names[{i}], "
                f"'value': {value}, 'when': __rd_whens[{i}]}}"
            )

        for t in self.targets:
            col = t.column.ident
            if t.grant:
                for i, g in t.granters:
                    items.append(
                        f"CASE WHEN list_contains(__rd_ok, {i}) THEN list_transform(list_filter("
                        f"coalesce({col}, []), lambda x: list_contains(__rd_gn{g}, "
                        f"{self._norm(t, 'x')})), lambda x: {row(i, t.j, 'x')}) ELSE [] END"
                    )
                continue
            for i, value in t.setters:
                items.append(
                    f"CASE WHEN list_contains(__rd_ok, {i}) AND CAST({col} AS VARCHAR) = {value} "
                    f"THEN [{row(i, t.j, f'CAST({col} AS VARCHAR)')}] ELSE [] END"
                )
        if not items:
            return "[]"
        return ", ".join(items)

    def changes(self) -> dict[str, str]:
        changes, pres, differs = [], [], []
        for t in self.targets:
            col, old, name = t.column.ident, f"__rd_o{t.j}", f"__rd_columns[{t.j}]"
            differs.append(f"({col} IS DISTINCT FROM {old})")
            if t.grant:
                gone = _minus(old, col)
                new = _minus(col, old)
                changes.append(
                    f"CASE WHEN len({gone}) > 0 THEN [rd_change('delete', {name}, {gone})] "
                    "ELSE rd_no_changes() END"
                )
                changes.append(
                    f"CASE WHEN len({new}) > 0 THEN [rd_change('add', {name}, {new})] "
                    "ELSE rd_no_changes() END"
                )
                pres.append(
                    f"CASE WHEN len({gone}) > 0 THEN [rd_pre({name}, {gone})] ELSE rd_no_pre() END"
                )
            else:
                changes.append(
                    f"CASE WHEN {col} IS DISTINCT FROM {old} THEN [rd_change('replace', {name}, "
                    f"rd_clean_one(CAST({col} AS VARCHAR)))] ELSE rd_no_changes() END"
                )
                pres.append(
                    f"CASE WHEN {col} IS DISTINCT FROM {old} THEN [rd_pre({name}, "
                    f"rd_clean_one(CAST({old} AS VARCHAR)))] ELSE rd_no_pre() END"
                )
        applied = self.r.applied.ident
        differs.append(f"({applied} IS DISTINCT FROM __rd_oa)")
        changes.append(
            f"CASE WHEN {applied} IS DISTINCT FROM __rd_oa THEN [rd_change('replace', "
            f"__rd_applied_name, rd_clean(coalesce({applied}, [])))] ELSE rd_no_changes() END"
        )
        pres.append(
            f"CASE WHEN {applied} IS DISTINCT FROM __rd_oa THEN [rd_pre(__rd_applied_name, "
            "rd_clean(coalesce(__rd_oa, [])))] ELSE rd_no_pre() END"
        )
        return {
            "key": self.r.key.first(),
            "changes": ", ".join(changes),
            "preconditions": ", ".join(pres),
            "differs": " OR ".join(differs),
        }


def _minus(a: str, b: str) -> str:
    """The values of list ``a`` that list ``b`` lacks (as written), in order."""
    return f"list_filter(coalesce({a}, []), lambda x: NOT list_contains(coalesce({b}, []), x))"


# --- the phase --------------------------------------------------------------------------


def apply_policies(session: Session, fills: Fills, cfg: Config, work: Path) -> PolicyRun | None:
    """Evaluate the config's policies over every identity (docs/policies.md) and
    write the derived repository snapshot into ``work``; None without policies
    (the plan's tables are then created empty)."""
    if not cfg.policies.policies:
        session.step("policies/none", {})
        return None
    resolved = _Resolved(cfg, fills)
    slots = _Slots(resolved)
    base = session.params | resolved.params()
    session.step("policies/state", base, **slots.state())
    fill = slots.pass_fills()
    passes, changed = 0, 0
    limit = cfg.policies.max_recursion
    for k in range(1, limit + 2):
        session.step("policies/pass", base | {"pass": k}, **fill)
        (changed,) = session.step("policies/changed", {}).fetchall()[0]
        if changed == 0 or k > limit:
            break
        session.step("policies/swap", {})
        passes = k
    if changed == 0:
        session.step(
            "policies/swap", {}
        )  # the pass changed nothing: its lists are the final state's
        session.step("policies/eval_state", {})
    else:
        session.step("policies/eval_next", {})
    return _write(session, resolved, slots, base, work, passes)


def _write(
    session: Session, r: _Resolved, slots: _Slots, base: dict[str, Any], work: Path, passes: int
) -> PolicyRun:
    derived = work / "repository-policies.parquet"
    out = {name: work / f"policy-output-{name}" for name in OUTPUTS}
    key = r.key.first()
    params = base | {
        "derived_path": str(derived),
        "expected_path": str(out["expected.parquet"]),
        "policies_path": str(out["policies.parquet"]),
        "conflicts_path": str(out["policy_conflicts.csv"]),
        "applied_name": r.applied.name,
        "max_recursion": r.cfg.policies.max_recursion,
    }
    session.step("policies/derive", params, replace=slots.derive())
    session.step(
        "policies/expected",
        params,
        key=key,
        applied=r.applied.ident,
        grant_norm=slots.grant_norm(),
        effects=slots.effects(),
    )
    session.step("policies/state_out", params, key=key, applied=r.applied.ident)
    session.step("policies/conflicts", params, key=key)
    session.step("policies/conflicts_csv", params)
    session.step("policies/changes", params, **slots.changes())
    session.step("policies/why", params)
    summary = _summary(session, r, passes)
    session.step("policies/release", {})
    return PolicyRun(derived=derived, outputs=out, summary=summary)


def _summary(session: Session, r: _Resolved, passes: int) -> dict[str, int]:
    row = session.step(
        "policies/summary",
        {"lower_names": [p.name.lower() for p in r.policies]},
        applied=r.applied.ident,
    ).fetchall()[0]
    identities, allocated, deallocated, reallocated, pending, unknown, conflicts = row
    return {
        "policies": len(r.policies),
        "passes": passes,
        "identities_changed": int(identities),
        "allocated": int(allocated),
        "deallocated": int(deallocated),
        "reallocated": int(reallocated),
        "pending": int(pending),
        "conflicts": int(conflicts),
        "unknown_applied": int(unknown),
    }
