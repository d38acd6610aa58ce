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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from recondiff.config.expression import expression_columns
from recondiff.config.model import Config, PolicyConfig
from recondiff.engine.fills import Fills
from recondiff.engine.publish import POLICY_FILES
from recondiff.engine.slots import ELEMENT_MACRO, Column
from recondiff.engine.steps import Session
from recondiff.errors import (
    ConfigError,
    InputError,
    InternalError,
    RecondiffError,
    first_line,
)
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

    def warnings(self, cfg: Config) -> list[str]:
        """What an operator must hear of even in a run nobody reads: conflicts,
        and policies the recursion limit left for the next sync."""
        out = []
        conflicts, pending = self.summary["conflicts"], self.summary["pending"]
        if conflicts:
            out.append(
                f"{cfg.path}: {conflicts} identity policy conflict(s): two policies set one "
                "attribute to different values; no value chosen, no event proposed "
                "(policy_conflicts.csv)"
            )
        if pending:
            out.append(
                f"{cfg.path}: {pending} identit{'y has' if pending == 1 else 'ies have'} "
                f"policies left for the next sync by [policies] max_recursion = "
                f"{cfg.policies.max_recursion} (policies.parquet, pending)"
            )
        return out

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
        types, at = self._probe_all(), [0]
        for i, p in enumerate(self.policies, 1):
            self._policy(i, p, types, at)
        self._reserved_names()
        self._check_roles()
        self.grant_norms = self._normalised_grants()

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

    def _probe_all(self) -> dict[str, str] | None:
        """The type of every `when` and `set_sql`, bound in one statement
        (queries/policies/probe.sql); None when one fails: each is then checked
        alone, so that the error names it."""
        expressions = [p.when for p in self.policies]
        expressions += [e for p in self.policies for _, e in p.set_sql]
        if not expressions:
            return None
        sql = _render(
            "policies/probe",
            expressions=", ".join(f"({e}) AS __rd_e{k}" for k, e in enumerate(expressions)),
        )
        try:
            cursor = self.fills.con.execute(sql, {"path": self.fills.params["repository_path"]})
        except duckdb.Error:
            return None
        return {f"__rd_e{k}": str(d[1]) for k, d in enumerate(cursor.description or [])}

    def _policy(self, i: int, p: PolicyConfig, types: dict[str, str] | None, at: list[int]) -> None:
        """One [[policy]] resolved; ``types`` (from :meth:`_probe_all`) by expression,
        ``at`` the running index of the next expression in it."""
        where = f"[[policy]] #{i} ('{p.name}')"
        key = f"{where} when"
        if types is None:
            self.fills.repository_predicate(p.when, key)
        else:
            self.fills.check_predicate(types[f"__rd_e{i - 1}"], key)
        for name, value in p.sets:
            target = self._target(name, f"{where} set", grant=False)
            self.set_values.append(self._check_value(where, name, value, target.column))
            target.setters.append((i, f"__rd_set_values[{len(self.set_values)}]"))
        for name, expression in p.set_sql:
            target = self._target(name, f"{where} set_sql", grant=False)
            key = f"{where} set_sql {name}"
            if types is None:
                kind = self.fills.repository_expression(expression, key)
            else:
                kind = types[f"__rd_e{len(self.policies) + at[0]}"]
                at[0] += 1
            if kind.endswith("]") or kind.upper().startswith(("STRUCT", "MAP", "UNION")):
                raise ConfigError(
                    f"{self.cfg.path}: {key} gives {kind}, not a single value for "
                    f"'{target.column.name}'; a set_sql writes one value (grant adds to lists)"
                )
            value = f"CAST(({expression}) AS VARCHAR)"
            if target.column.type != "VARCHAR":  # the one spelling of its type, as a constant's
                value = f"CAST(CAST(({expression}) AS {target.column.type}) AS VARCHAR)"
            value = (
                f"CASE WHEN contains({value}, chr(0)) THEN error('[[policy]] ' || "
                f"__rd_names[{i}] || ': a set_sql gives a NUL character, which no directory "
                f"value may hold') ELSE {value} END"
            )
            target.setters.append((i, value))
        for name, values in p.grants:
            target = self._target(name, f"{where} grant", grant=True)
            self.grant_values.append(list(values))
            target.granters.append((i, len(self.grant_values)))

    def _check_value(self, where: str, name: str, value: str, column: Column) -> str:
        """A `set` constant as its column's type spells it (queries/policies/check_value.sql)."""
        if column.type == "VARCHAR":
            return value
        (text,) = self.fills.con.execute(
            _render("policies/check_value", type=column.type), {"value": value}
        ).fetchone() or (None,)
        if text is None:
            raise ConfigError(
                f"{self.cfg.path}: {where} set {name} = {value!r} is not a {column.type}, "
                f"the type of '{column.name}' in {self.fills.repo.file}"
            )
        return str(text)

    def _normalised_grants(self) -> list[list[str]]:
        """Each grant's values as its column's compare kind normalises them
        (queries/policies/normalise.sql, one statement per kind): computed once,
        bound to every pass."""
        norms = {g: t.norm for t in self.targets.values() for _, g in t.granters}
        out = [list(v) for v in self.grant_values]
        for norm in sorted({n for n in norms.values() if n}):
            picked = [g for g, n in sorted(norms.items()) if n == norm]
            row = self.fills.con.execute(
                _render("policies/normalise", element=norm),
                {"values": [self.grant_values[g - 1] for g in picked]},
            ).fetchone()
            for g, values in zip(picked, row[0] if row else [], strict=True):
                out[g - 1] = list(values)
        return out

    def _check_roles(self) -> None:
        """What the policies change must not change what decides the reconciliation
        itself: the columns [repository] scope reads (an identity would leave scope
        through a change the identity system has not made, and its live account turn
        `unmatched`), nor be what an [[attribute]] accepts endpoint values into
        (update_repository: the policy would undo it, and two repository events
        would disagree); the applied list is no compared attribute."""
        path, repo = self.cfg.path, self.cfg.repository
        scoped = {c.lower() for c in expression_columns(repo.scope)} if repo.scope else set()
        for name, target in self.targets.items():
            if name in scoped:
                raise ConfigError(
                    f"{path}: a [[policy]] changes '{target.column.name}', which [repository] "
                    "scope reads; a policy may not move identities in or out of scope"
                )
        for i, a in enumerate(self.cfg.attributes, 1):
            column = (a.repository or "").lower()
            if column == self.applied.name.lower():
                raise ConfigError(
                    f"{path}: [policies] applied = '{self.applied.name}' is compared by "
                    f"[[attribute]] #{i}; the applied list is a column of its own"
                )
            responses = {a.on_drift, *(r.response for r in a.rules)}
            if column in self.targets and "update_repository" in responses:
                raise ConfigError(
                    f"{path}: [[attribute]] #{i} accepts endpoint values into "
                    f"'{self.targets[column].column.name}' (update_repository), which a "
                    "[[policy]] sets or grants: the policy would undo it on the next sync; "
                    "use update_endpoint, review or do_nothing"
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
            "grant_norms": self.grant_norms or [[""]],
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

    @staticmethod
    def _applying(i: int) -> str:
        """Allocated or reallocated and not held by a conflict: its effects apply
        (a held policy applies none of them: it is not recorded as applied, and
        nothing would ever take a grant of it back)."""
        return f"((__rd_l{i} OR __rd_r{i}) AND NOT __rd_h{i})"

    def _names_where(self, condition: str, names: str = "__rd_names") -> str:
        items = ", ".join(
            f"CASE WHEN {condition.format(i=i)} THEN {names}[{i}] END" for i in range(1, self.n + 1)
        )
        return f"list_filter([{items}], lambda x: x IS NOT NULL)"

    def state(self) -> dict[str, str]:
        columns = self.r.state_columns()
        originals = [f"{t.column.ident} AS __rd_o{t.j}" for t in self.targets]
        originals.append(f"{self.r.applied.ident} AS __rd_oa")
        # a column conflicted in a pass keeps its value for the rest of the sync
        originals += [f"false AS __rd_f{t.j}" for t in self._sets()]
        return {
            "columns": ", ".join(c.ident for c in columns),
            "originals": ", ".join(originals),
            "applied": self.r.applied.ident,
            "scope": self.r.cfg.repository.scope or "TRUE",
        }

    @staticmethod
    def _any(conditions: list[str]) -> str:
        return "(" + " OR ".join(conditions) + ")" if conditions else "false"

    @staticmethod
    def _guard(condition: str, value: str, empty: str = "CAST([] AS VARCHAR[])") -> str:
        """``value`` only for the rows where ``condition`` holds (most rows of a
        settled directory change nothing: they never build the lists)."""
        return f"CASE WHEN {condition} THEN {value} ELSE {empty} END"

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
        every = range(1, n + 1)
        any_flags = ", ".join(
            [
                *self._set_values(),
                f"{self._any([f'__rd_d{i}' for i in every])} AS __rd_any_d",
                f"{self._any([f'(__rd_l{i} AND NOT __rd_h{i})' for i in every])} AS __rd_any_l",
                f"{self._any([f'(__rd_r{i} AND NOT __rd_h{i})' for i in every])} AS __rd_any_r",
            ]
        )
        allocated_folded = self._names_where("__rd_l{i} AND NOT __rd_h{i}", "__rd_lower_names")
        names = ", ".join(
            [
                f"{self._guard('__rd_any_d', self._names_where('__rd_d{i}', '__rd_lower_names'))}"
                " AS __rd_dl",
                f"{self._guard('__rd_any_d', self._names_where('__rd_d{i}'))} AS __rd_dn",
                f"{self._guard('__rd_any_l', self._names_where('__rd_l{i} AND NOT __rd_h{i}'))}"
                " AS __rd_al",
                f"{self._guard('__rd_any_l', allocated_folded)} AS __rd_all",
                f"{self._guard('__rd_any_r', self._names_where('__rd_r{i} AND NOT __rd_h{i}'))}"
                " AS __rd_rl",
            ]
        )
        return {
            "evaluate": evaluate,
            "lists": lists,
            "candidates": self._candidates(),
            "held": self._held(),
            "any": any_flags,
            "names": names,
            "grant_lists": self._grant_lists(),
            "grant_removed": self._grant_removed(),
            "grant_added": self._grant_added(),
            "new_values": self._new_values(),
            "changed": self._changed(),
            "outputs": self._outputs(),
            "original_columns": ", ".join(
                [f"__rd_o{t.j}" for t in self.targets]
                + ["__rd_oa", "__rd_scope"]
                + [f"(__rd_f{t.j} OR len(__rd_c{t.j}) > 1) AS __rd_f{t.j}" for t in self._sets()]
            ),
            "conflicts": self._conflicts(),
        }

    def _candidates(self) -> str:
        items = []
        for t in self.targets:
            if t.grant:
                continue
            values = ", ".join(f"CASE WHEN {self._acting(i)} THEN {v} END" for i, v in t.setters)
            some = self._any([self._acting(i) for i, _ in t.setters])
            items.append(
                self._guard(
                    some,
                    f"list_sort(list_distinct(list_filter([{values}], lambda x: x IS NOT NULL)))",
                )
                + f" AS __rd_c{t.j}"
            )
        return ", ".join(items) or "NULL AS __rd_c_none"

    def _sets(self) -> list[_Target]:
        return [t for t in self.targets if not t.grant]

    def _set_values(self) -> list[str]:
        """Per set column, the values the policies that apply it (not held) set:
        at most one (two would have been a conflict, which holds them all)."""
        items = []
        for t in self._sets():
            values = ", ".join(f"CASE WHEN {self._applying(i)} THEN {v} END" for i, v in t.setters)
            some = self._any([self._applying(i) for i, _ in t.setters])
            listed = f"list_distinct(list_filter([{values}], lambda x: x IS NOT NULL))"
            items.append(f"{self._guard(some, listed)} AS __rd_v{t.j}")
        return items

    def _held(self) -> str:
        conflicts: dict[int, list[str]] = {}
        for t in self.targets:
            for i, _ in t.setters:
                conflicts.setdefault(i, []).append(f"len(__rd_c{t.j}) > 1 OR __rd_f{t.j}")
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
                f"CASE WHEN __rd_w{i} THEN __rd_grant_norms[{g}] ELSE [] END" for i, g in t.granters
            )
            gone = ", ".join(
                f"CASE WHEN __rd_d{i} THEN __rd_grant_norms[{g}] ELSE [] END" for i, g in t.granters
            )
            add = ", ".join(
                f"CASE WHEN {self._applying(i)} THEN __rd_grant_values[{g}] ELSE [] END"
                for i, g in t.granters
            )
            dealloc = self._any([f"__rd_d{i}" for i, _ in t.granters])
            acting = self._any([self._applying(i) for i, _ in t.granters])
            removed = (
                f"list_filter(flatten([{gone}]), lambda x: NOT list_contains(flatten([{kept}]), x))"
            )
            items.append(
                f"{self._guard(dealloc, removed)} AS __rd_gr{t.j}, "
                f"{self._guard(acting, f'rd_dedupe(flatten([{add}]))')} AS __rd_ga{t.j}"
            )
        return ", ".join(items) or "NULL AS __rd_g_none"

    def _grant_removed(self) -> str:
        return (
            ", ".join(
                self._guard(
                    f"len(__rd_gr{t.j}) > 0",
                    f"list_filter(coalesce({t.column.ident}, []), lambda x: NOT list_contains("
                    f"__rd_gr{t.j}, {self._norm(t, 'x')}))",
                    f"coalesce({t.column.ident}, [])",
                )
                + f" AS __rd_g1_{t.j}"
                for t in self._grants()
            )
            or "NULL AS __rd_g1_none"
        )

    def _grant_added(self) -> str:
        """The granted values the list lacks: first as written (cheap), then, for
        those left, as the column's compare kind normalises them."""
        items = []
        for t in self._grants():
            exact = f"list_filter(__rd_ga{t.j}, lambda x: NOT list_contains(__rd_g1_{t.j}, x))"
            missing = exact
            if t.norm:
                normalised = (
                    f"list_filter({exact}, lambda x: NOT list_contains(list_transform("
                    f"__rd_g1_{t.j}, lambda y: {self._norm(t, 'y')}), {self._norm(t, 'x')}))"
                )
                missing = self._guard(f"len({exact}) > 0", normalised)
            items.append(f"{self._guard(f'len(__rd_ga{t.j}) > 0', missing)} AS __rd_add{t.j}")
        return ", ".join(items) or "NULL AS __rd_add_none"

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
                    f"CASE WHEN NOT __rd_f{t.j} AND len(__rd_v{t.j}) = 1 THEN "
                    f"CAST(__rd_v{t.j}[1] AS {t.column.type}) ELSE {col} END AS __rd_n{t.j}"
                )
        applied = self.r.applied.ident
        items.append(
            f"CASE WHEN NOT __rd_any_d AND NOT __rd_any_l THEN {applied} ELSE "
            f"CAST(list_filter(coalesce({applied}, []), lambda x: NOT list_contains(__rd_dl, "
            f"lower(trim(x)))) || __rd_al AS VARCHAR[]) END AS __rd_na"
        )
        items.append(
            "CASE WHEN NOT __rd_any_d AND NOT __rd_any_l THEN __rd_a ELSE "
            "list_filter(__rd_a, lambda x: NOT list_contains(__rd_dl, x)) || __rd_all END "
            "AS __rd_na_lower"
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
        items.append("__rd_na_lower AS __rd_a")
        return ", ".join(items)

    def _conflicts(self) -> str:
        """Per conflicted column, the policies and the value each sets, in config order."""
        items, some = [], []
        for t in self._sets():
            pairs = ", ".join(
                f"CASE WHEN {self._acting(i)} THEN {{'p': __rd_names[{i}], 'v': {v}}} END"
                for i, v in t.setters
            )
            setters = f"list_filter([{pairs}], lambda x: x IS NOT NULL AND x.v IS NOT NULL)"
            items.append(
                f"CASE WHEN len(__rd_c{t.j}) > 1 THEN {{'attribute': __rd_columns[{t.j}], "
                f"'policies': list_transform({setters}, lambda x: x.p), "
                f"'values': list_transform({setters}, lambda x: x.v), 'pass': __rd_pass}} END"
            )
            some.append(f"len(__rd_c{t.j}) > 1")
        empty = (
            "CAST([] AS STRUCT(attribute VARCHAR, policies VARCHAR[], "
            '"values" VARCHAR[], pass INTEGER)[])'
        )
        if not items:
            return empty
        listed = "list_filter([" + ", ".join(items) + "], lambda x: x IS NOT NULL)"
        return self._guard(self._any(some), listed, empty)

    def derive(self) -> str:
        """derive.sql: the changed columns and the applied list from the state."""
        columns = [self.r.applied.ident] + [t.column.ident for t in self.targets]
        return ", ".join(f"s.{c} AS {c}" for c in columns)

    def effects(self) -> str:
        """expected.sql: per policy that applies and is applied (__rd_ok<i>), each
        value of the final state it sets or grants, as {attribute, policy, value, when}."""
        items = []

        def row(i: int, j: int, value: str) -> str:
            return (
                f"{{'attribute': __rd_columns[{j}], 'policy': __rd_names[{i}], "
                f"'value': {value}}}"
            )

        for t in self.targets:
            col = t.column.ident
            if t.grant:
                for i, g in t.granters:
                    items.append(
                        f"CASE WHEN __rd_ok{i} THEN list_transform(list_filter("
                        f"__rd_gp{t.j}, lambda p: list_contains(__rd_grant_norms[{g}], p.n)), "
                        f"lambda p: {row(i, t.j, 'p.v')}) ELSE [] END"
                    )
                continue
            for i, value in t.setters:
                items.append(
                    f"CASE WHEN __rd_ok{i} AND CAST({col} AS VARCHAR) = {value} "
                    f"THEN [{row(i, t.j, f'CAST({col} AS VARCHAR)')}] ELSE [] END"
                )
        if not items:
            return "[]"
        return ", ".join(items)

    def ok(self) -> str:
        """expected.sql: each policy is in the identity's applied list and applies to
        it; each list column's values beside their normalised form (__rd_gp<j>)."""
        pairs = [
            f"list_transform(coalesce({t.column.ident}, []), lambda x: "
            f"{{'n': {self._norm(t, 'x')}, 'v': x}}) AS __rd_gp{t.j}"
            for t in self._grants()
        ]
        return ", ".join(
            pairs
            + [
                f"(list_contains(__rd_a, __rd_lower_names[{i}]) AND "
                f"coalesce(CAST(({p.when}) AS BOOLEAN), false)) AS __rd_ok{i}"
                for i, p in enumerate(self.r.policies, 1)
            ]
        )

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
        # pass k reads the identities pass k-1 changed (all of them first): an
        # identity no pass changed would only be evaluated to the same result
        with _culprit(session, resolved):
            session.step("policies/pass", base | {"pass": k}, **fill)
        (changed,) = session.step("policies/changed", {}).fetchall()[0]
        if k > limit:
            break
        session.step("policies/swap" if k == 1 else "policies/merge", {})
        if changed == 0:
            break
        passes = k
    if changed == 0:
        session.step("policies/eval_state", {})  # every identity is synchronised
    else:
        session.step("policies/eval_next", {})  # what the limit left for the next sync
    return _write(session, resolved, slots, base, work, passes)


@contextmanager
def _culprit(session: Session, r: _Resolved) -> Iterator[None]:
    """A step that fails on the data names the [[policy]] whose `when` or `set_sql`
    fails (queries/policies/culprit.sql, each alone over the state), not only
    "a policy": with fifty of them, the operator must know which."""
    try:
        yield
    except (RecondiffError, InternalError):
        for i, p in enumerate(r.policies, 1):
            when = f"coalesce(CAST(({p.when}) AS BOOLEAN), false)"
            checks = [(f"when = {p.when!r}", when)]
            checks += [
                (f"set_sql {name} = {e!r}", f"CASE WHEN {when} THEN CAST(({e}) AS VARCHAR) END")
                for name, e in p.set_sql
            ]
            for what, expression in checks:
                try:
                    session.con.execute(_render("policies/culprit", expression=expression))
                except duckdb.Error as exc:
                    raise InputError(
                        f"{r.fills.repo.file}: [[policy]] #{i} ('{p.name}') {what} fails on "
                        f"its data: {first_line(exc)}; fix the expression in {r.cfg.path} "
                        "or the data"
                    ) from None
        raise


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
    with _culprit(session, r):
        session.step(
            "policies/expected",
            params,
            key=key,
            ok=slots.ok(),
            effects=slots.effects(),
        )
    session.step("policies/state_out", params, key=key, applied=r.applied.ident)
    session.step("policies/conflicts", params, key=key)
    session.step("policies/conflicts_csv", params)
    session.step("policies/changes", params, **slots.changes())
    session.step("policies/why_none", {})  # the planner fills it (policies/why.sql)
    summary = _summary(session, r, passes)
    session.step("policies/release", {})
    return PolicyRun(derived=derived, outputs=out, summary=summary)


def _summary(session: Session, r: _Resolved, passes: int) -> dict[str, int]:
    row = session.step(
        "policies/summary",
        {"lower_names": [p.name.lower() for p in r.policies]},
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
