"""Identity policies, as SQL: the per-policy text of queries/policies/*.sql's
``{{slots}}`` (docs/policies.md). Everything written here is a quoted column
name, a type from the short list of :mod:`recondiff.engine.policy_rules`, an
index, an ``rd_*`` macro, or a config ``when``/``set_sql`` expression (checked
like ``scope``); every name and value is bound.
"""

from __future__ import annotations

from recondiff.engine.policy_rules import Resolved, Target


class Slots:
    """The per-policy SQL of queries/policies/*.sql's {{slots}}."""

    def __init__(self, r: Resolved) -> None:
        self.r = r
        self.n = len(r.policies)
        self.targets = list(r.targets.values())

    @staticmethod
    def _norm(t: Target, x: str) -> str:
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

    def _sets(self) -> list[Target]:
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

    def _grants(self) -> list[Target]:
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
                f"{{'attribute': __rd_columns[{j}], 'policy': __rd_names[{i}], 'value': {value}}}"
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
