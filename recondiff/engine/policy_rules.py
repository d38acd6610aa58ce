"""Identity policies, resolved: the ``[[policy]]`` tables checked against the
repository snapshot (columns, types, expressions, roles) into what the SQL of
:mod:`recondiff.engine.policy_slots` is written from (docs/policies.md). Every
check raises the one-line error of docs/config.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import duckdb

from recondiff.config.expression import expression_columns
from recondiff.config.model import Config, PolicyConfig
from recondiff.engine.fills import Fills
from recondiff.engine.slots import ELEMENT_MACRO, Column
from recondiff.errors import ConfigError, InputError
from recondiff.io.sqlfiles import render
from recondiff.vocabulary import SET_KINDS

# The types a `set` may write: scalars DuckDB casts text to and back unchanged.
_SCALAR_TYPE = re.compile(
    r"VARCHAR|BOOLEAN|TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER"
    r"|UBIGINT|FLOAT|DOUBLE|DATE|TIMESTAMP|TIMESTAMP WITH TIME ZONE|DECIMAL\(\d{1,2},\d{1,2}\)"
)
_RESERVED_PREFIX = "__rd_"


@dataclass
class Target:
    """A column the policies change (index j, from 1): single-valued (set) or a list (grant)."""

    j: int
    column: Column
    grant: bool
    norm: str  # the macro normalising a list's values ('' = compared as written)
    setters: list[tuple[int, str]] = field(default_factory=list)  # (policy i, value SQL)
    granters: list[tuple[int, int]] = field(default_factory=list)  # (policy i, grant g)


class Resolved:
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
        self.targets: dict[str, Target] = {}
        self.set_values: list[str] = []
        self.grant_values: list[list[str]] = []
        types, at = self._probe_all(), [0]
        for i, p in enumerate(self.policies, 1):
            self._policy(i, p, types, at)
        self._reserved_names()
        self._check_roles()
        self.grant_norms = self._normalised_grants()

    # --- resolving ------------------------------------------------------------------

    def _target(self, name: str, key: str, grant: bool) -> Target:
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
            target = Target(len(self.targets) + 1, column, grant, self._norm(column))
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
        sql = render(
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
            render("policies/check_value", type=column.type), {"value": value}
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
                render("policies/normalise", element=norm),
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
