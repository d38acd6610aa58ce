"""``[policies]`` and ``[[policy]]``: identity policies (seed 003, docs/policies.md).

Each error is one line naming the file, the policy and the key. The checks
that need the repository snapshot (does the column exist, is it multi-valued)
are :mod:`recondiff.engine.policies`' at compare.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recondiff.config.model import (
    POLICY_RESPONSES,
    PoliciesConfig,
    PolicyConfig,
    RepositoryConfig,
)
from recondiff.config.section import Section
from recondiff.errors import ConfigError

MAX_RECURSION = 10
MAX_POLICIES = 1_000
MAX_GRANT_VALUES = 1_000
_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")

Check = Callable[[Path, str, str, Path], None]


def parse_policies(
    file: Path, raw_policies: Any, raw_list: Any, repository: RepositoryConfig, check: Check
) -> PoliciesConfig:
    """The ``[policies]`` table and the ``[[policy]]`` list; ``check`` refuses a
    SQL expression that is not one plain expression (config/expression.py)."""
    s = Section(file, "[policies]", raw_policies)
    applied = s.string("applied")
    recursion = s.integer("max_recursion", maximum=MAX_RECURSION)
    response = s.choice("response", POLICY_RESPONSES, "update_repository") or "update_repository"
    s.finish()
    if not isinstance(raw_list, list):
        raise ConfigError(f"{file}: policy must be written [[policy]] (a list of tables)")
    if len(raw_list) > MAX_POLICIES:
        raise ConfigError(
            f"{file}: {len(raw_list)} [[policy]] tables; at most {MAX_POLICIES} are allowed"
        )
    policies: list[PolicyConfig] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(raw_list, 1):
        policy = _policy(file, i, raw, repository.snapshot, check)
        if policy.name.lower() in names:
            raise ConfigError(
                f"{file}: [[policy]] #{i} name '{policy.name}' is used by [[policy]] "
                f"#{names[policy.name.lower()]} too; names must be unique (case-insensitively)"
            )
        names[policy.name.lower()] = i
        policies.append(policy)
    config = PoliciesConfig(
        applied=applied,
        max_recursion=recursion if recursion is not None else 3,
        response=response,
        policies=tuple(policies),
    )
    if policies and not applied:
        raise ConfigError(
            f'{file}: [[policy]] needs [policies] applied = "COLUMN": the repository column '
            "that lists the policies already applied to each identity (docs/policies.md)"
        )
    _check_targets(file, config, repository)
    _check_applied(file, config, repository)
    return config


def _check_applied(file: Path, config: PoliciesConfig, repository: RepositoryConfig) -> None:
    """The applied list is a column of its own: the policies write policy names into it."""
    applied = (config.applied or "").lower()
    roles = {
        (repository.key or "").lower(): "[repository] key",
        (repository.link or "").lower(): "[repository] link",
        (repository.status or "").lower(): "[repository] status",
    }
    if applied and applied in roles:
        raise ConfigError(
            f"{file}: [policies] applied = '{config.applied}' is {roles[applied]}; name the "
            "column that lists the policies applied to each identity (docs/policies.md)"
        )


def _policy(file: Path, i: int, raw: Any, snapshot: Path, check: Check) -> PolicyConfig:
    s = Section(file, f"[[policy]] #{i}", raw)
    name = s.req_string("name")
    if not _NAME.fullmatch(name):
        raise s.err(
            "name",
            f"{name!r} is not a policy name; use 1 to 64 letters, digits, '.', '_' or '-'",
        )
    where = f"[[policy]] #{i} ('{name}')"
    when = s.req_string("when")
    check(file, f"{where} when", when, snapshot)
    sets = _sets(file, where, s.table("set"))
    set_sql = _set_sql(file, where, s.table("set_sql"), snapshot, check)
    grants = _grants(file, where, s.table("grant"))
    reapply = s.boolean("reapply", False)
    s.finish()
    if not (sets or set_sql or grants):
        raise ConfigError(
            f"{file}: {where} changes nothing; give set, set_sql or grant (docs/policies.md)"
        )
    both = {c.lower() for c, _ in sets} & {c.lower() for c, _ in set_sql}
    if both:
        raise ConfigError(
            f"{file}: {where} sets '{sorted(both)[0]}' in both set and set_sql; keep one"
        )
    return PolicyConfig(name, when, sets, set_sql, grants, reapply)


def _table(file: Path, where: str, key: str, raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{file}: {where} {key} must be a table of column = value, like "
            f'{key} = {{ department = "Finance" }}'
        )
    seen: dict[str, str] = {}
    for column in raw:
        if not column.strip():
            raise ConfigError(f"{file}: {where} {key} names an empty column")
        if column.lower() in seen:
            raise ConfigError(
                f"{file}: {where} {key} names '{seen[column.lower()]}' and '{column}', one "
                "column (names match case-insensitively); keep one"
            )
        seen[column.lower()] = column
    return raw


def _sets(file: Path, where: str, raw: Any) -> tuple[tuple[str, str], ...]:
    """``set``: constants, kept as text (the column's type is checked at compare)."""
    out = []
    for column, value in _table(file, where, "set", raw).items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, int):
            text = str(value)
        elif isinstance(value, float) and math.isfinite(value):
            text = repr(value)
        elif isinstance(value, str) and "\x00" not in value:
            text = value
        else:
            raise ConfigError(
                f"{file}: {where} set {column}: {value!r} is not a constant; give a string "
                "(no NUL character), number or true/false (set_sql takes an expression, "
                "grant a list)"
            )
        out.append((column, text))
    return tuple(out)


def _set_sql(
    file: Path, where: str, raw: Any, snapshot: Path, check: Check
) -> tuple[tuple[str, str], ...]:
    out = []
    for column, value in _table(file, where, "set_sql", raw).items():
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(
                f"{file}: {where} set_sql {column}: must be a SQL expression as a string, "
                f"got {value!r}"
            )
        check(file, f"{where} set_sql {column}", value, snapshot)
        out.append((column, value))
    return tuple(out)


def _grants(file: Path, where: str, raw: Any) -> tuple[tuple[str, tuple[str, ...]], ...]:
    out = []
    for column, values in _table(file, where, "grant", raw).items():
        if (
            not isinstance(values, list)
            or not values
            or not all(isinstance(v, str) and v.strip() and "\x00" not in v for v in values)
        ):
            raise ConfigError(
                f"{file}: {where} grant {column}: must be a non-empty list of values (no NUL "
                "character), like "
                f'{column} = ["cn=Staff,ou=Groups,dc=example,dc=com"], got {values!r}'
            )
        if len(values) > MAX_GRANT_VALUES:
            raise ConfigError(
                f"{file}: {where} grant {column}: {len(values)} values; at most "
                f"{MAX_GRANT_VALUES} are allowed"
            )
        out.append((column, tuple(dict.fromkeys(values))))
    return tuple(out)


def _check_targets(file: Path, config: PoliciesConfig, repository: RepositoryConfig) -> None:
    """No policy changes what identifies or links an identity, nor the applied
    list itself; no column is both set (single-valued) and granted (a list)."""
    reserved = {
        (repository.key or "").lower(): "[repository] key",
        (repository.link or "").lower(): "[repository] link",
        (repository.status or "").lower(): "[repository] status",
        (config.applied or "").lower(): "[policies] applied",
    }
    reserved.pop("", None)
    set_by: dict[str, str] = {}
    granted_by: dict[str, str] = {}
    for p in config.policies:
        for column in [c for c, _ in p.sets] + [c for c, _ in p.set_sql]:
            set_by.setdefault(column.lower(), p.name)
        for column, _ in p.grants:
            granted_by.setdefault(column.lower(), p.name)
        for column in [c for c, _ in p.sets + p.set_sql] + [c for c, _ in p.grants]:
            if column.lower() in reserved:
                raise ConfigError(
                    f"{file}: [[policy]] '{p.name}' changes '{column}', which is "
                    f"{reserved[column.lower()]}; a policy may not change it"
                )
    for column, name in set_by.items():
        if column in granted_by:
            raise ConfigError(
                f"{file}: [[policy]] '{name}' sets '{column}' and [[policy]] "
                f"'{granted_by[column]}' grants values of it; a column is either "
                "single-valued (set) or a list (grant)"
            )
