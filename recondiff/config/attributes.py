"""``[[attribute]]`` and its ``[[attribute.rule]]`` tables (docs/config.md).

Each side of a mapping is a column (``endpoint``, ``repository``) or a SQL
expression over that side's columns (``endpoint_sql``, ``repository_sql``:
"Derived values"), checked as ``scope`` is (parsed only here; bound on the run's
confined connection by :mod:`recondiff.engine.fills`). A plan never writes an
expression: a response that would write the endpoint is refused for an
``endpoint_sql`` mapping, ``update_repository`` for a ``repository_sql`` one.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from recondiff.config.model import AttributeMapping, DriftRule, EndpointConfig, RepositoryConfig
from recondiff.config.section import Section
from recondiff.errors import ConfigError
from recondiff.vocabulary import (
    COMPARE_KINDS,
    DRIFT_KINDS,
    DRIFT_RESPONSES,
    SET_KINDS,
    UNKNOWN_TYPE,
    drift_group,
)

# The drift responses whose events write the endpoint (review proposes update_endpoint)
ENDPOINT_WRITES = ("update_endpoint", "reject", "review")
# ... and the repository
REPOSITORY_WRITES = ("update_repository",)
# An attribute's name: what drift.csv, the report and the plan call a derived value
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.;-]{0,63}")


def parse_attributes(
    file: Path, raw: Any, endpoint: EndpointConfig, repository: RepositoryConfig
) -> tuple[AttributeMapping, ...]:
    """[[attribute]]: each endpoint attribute mapped once, each name used once."""
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: attribute must be written [[attribute]] (a list of tables)")
    attributes = []
    seen: dict[str, int] = {}
    names: dict[str, int] = {}
    types: dict[tuple[str, str], tuple[int, str]] = {}
    for i, raw_attr in enumerate(raw, 1):
        mapping = _attribute(file, i, raw_attr, endpoint, repository)
        # the endpoint column when there is one, else the name
        mapped = mapping.endpoint if mapping.endpoint is not None else mapping.name
        what = "endpoint" if mapping.endpoint is not None else "name"
        if mapped.lower() in seen:
            raise ConfigError(
                f"{file}: [[attribute]] #{i} {what} '{mapped}' is already mapped by "
                f"[[attribute]] #{seen[mapped.lower()]}; map each endpoint attribute once"
            )
        seen[mapped.lower()] = i
        if mapping.name.lower() in names:
            raise ConfigError(
                f"{file}: [[attribute]] #{i} name '{mapping.name}' is already the name of "
                f"[[attribute]] #{names[mapping.name.lower()]}; give each attribute its own name"
            )
        names[mapping.name.lower()] = i
        if mapping.endpoint is not None:
            key = attribute_type_key(mapping.endpoint)
            if key in types:
                first, name = types[key]
                raise ConfigError(
                    f"{file}: [[attribute]] #{i} endpoint '{mapping.endpoint}' is another name "
                    f"of '{name}', mapped by [[attribute]] #{first} (one LDAP attribute type); "
                    "map each endpoint attribute once, under one name"
                )
            types[key] = (i, mapping.endpoint)
        attributes.append(mapping)
    return tuple(attributes)


def attribute_type_key(endpoint: str) -> tuple[str, str]:
    """The LDAP attribute type an endpoint attribute name writes, and its options:
    ``surname`` and ``2.5.4.4`` are ``sn`` (recondiff.vocabulary.drift_group);
    ``mail;lang-en`` is a subtype of ``mail``, not ``mail`` itself. An OID
    recondiff cannot name is only itself."""
    base, _, options = endpoint.strip().lower().partition(";")
    kind = drift_group(base)
    return (base if kind == UNKNOWN_TYPE else kind, options)


def _attribute(
    file: Path, i: int, raw: Any, endpoint: EndpointConfig, repository: RepositoryConfig
) -> AttributeMapping:
    """[[attribute]] #i and its [[attribute.rule]] tables."""
    s = Section(file, f"[[attribute]] #{i}", raw)
    name = s.string("name")
    ep, ep_sql = _side(s, "endpoint")
    repo, repo_sql = _side(s, "repository")
    mapping = AttributeMapping(
        endpoint=ep,
        repository=repo,
        endpoint_sql=ep_sql,
        repository_sql=repo_sql,
        name=(name or ep or "").strip(),
        compare=s.choice("compare", COMPARE_KINDS, "exact") or "exact",
        on_drift=s.choice("on_drift", DRIFT_RESPONSES, "review") or "review",
    )
    capability = s.boolean("capability", False)
    membership = s.string("membership")
    mapping = replace(
        mapping,
        capability=capability or membership is not None,
        membership=membership,
        rules=_rules(file, i, s.table("rule")),
    )
    s.finish()
    where = f"{file}: [[attribute]] #{i}"
    if ep_sql is not None and name is None:
        raise ConfigError(
            f"{where} has endpoint_sql and no 'name'; name the derived value "
            '(name = "disabled"): drift.csv, the report and the plan call it so'
        )
    if name is not None and not _NAME.fullmatch(name):
        raise ConfigError(
            f"{where} name {name!r} is not an attribute name; use up to 64 letters, digits, "
            "'-', '_', '.' or ';', starting with a letter or digit"
        )
    if mapping.membership and mapping.compare not in SET_KINDS:
        raise ConfigError(
            f"{where} membership needs a set compare kind "
            f"(set, casefold_set, dn_set), not {mapping.compare!r}"
        )
    _check_expressions(file, i, mapping, endpoint, repository)
    _check_writes(where, mapping, "on_drift" not in s.data)
    return mapping


def _side(s: Section, side: str) -> tuple[str | None, str | None]:
    """One side of [[attribute]]: exactly one of ``side`` (a column) or ``side_sql``."""
    column, expression = s.string(side), s.string(f"{side}_sql")
    if column is None and expression is None:
        raise ConfigError(
            f"{s.file}: {s.where} is missing required key '{side}'"
            f" (a column; or '{side}_sql', a SQL expression over the {side}'s columns)"
        )
    if column is not None and expression is not None:
        raise ConfigError(
            f"{s.file}: {s.where} has both '{side}' and '{side}_sql'; keep one: "
            f"'{side}' names a column, '{side}_sql' computes the value from several"
        )
    return column, expression


def _check_expressions(
    file: Path, i: int, a: AttributeMapping, endpoint: EndpointConfig, repository: RepositoryConfig
) -> None:
    """Each *_sql is one plain expression (parsed only, as scope is)."""
    from recondiff.config import expression  # here: it imports DuckDB

    if a.endpoint_sql is not None:
        key = f"[[attribute]] #{i} endpoint_sql"
        expression.check_expression(file, key, a.endpoint_sql, endpoint.snapshot)
    if a.repository_sql is not None:
        key = f"[[attribute]] #{i} repository_sql"
        expression.check_expression(file, key, a.repository_sql, repository.snapshot)


def _check_writes(where: str, a: AttributeMapping, default: bool) -> None:
    """Refuse a response that would write a side that is an expression
    (``default``: on_drift was not written, so it is the default review)."""
    if a.endpoint_sql is not None:
        if a.capability:
            key = "membership" if a.membership is not None else "capability"
            raise ConfigError(
                f"{where} has endpoint_sql and {key}: the plan adds and removes a capability's "
                "values on the endpoint, which an expression cannot take; map the endpoint "
                "column with 'endpoint' instead"
            )
        _refuse(where, "endpoint_sql", a, default, ENDPOINT_WRITES,
                "the endpoint side is computed, so the plan cannot write it; use "
                "update_repository or do_nothing, or map the column with 'endpoint'")
    if a.repository_sql is not None:
        _refuse(where, "repository_sql", a, default, REPOSITORY_WRITES,
                "the repository side is computed, so the plan cannot write it; use "
                "update_endpoint, review, reject or do_nothing, or map the column with "
                "'repository'")


def _refuse(
    where: str, key: str, a: AttributeMapping, default: bool, writes: tuple[str, ...], fix: str
) -> None:
    if a.on_drift in writes:
        given = " (the default)" if default else ""
        raise ConfigError(f"{where} has {key} and on_drift {a.on_drift!r}{given}: {fix}")
    for j, rule in enumerate(a.rules, 1):
        if rule.response in writes:
            raise ConfigError(
                f"{where} rule #{j} response {rule.response!r} with {key}: {fix}"
            )


def _rules(file: Path, i: int, raw: Any) -> tuple[DriftRule, ...]:
    """[[attribute.rule]] tables of attribute #i."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: [[attribute]] #{i} rule must be written [[attribute.rule]]")
    rules = []
    for j, raw_rule in enumerate(raw, 1):
        s = Section(file, f"[[attribute]] #{i} rule #{j}", raw_rule)
        rule = DriftRule(
            match=s.req_string("match"),
            kind=s.choice("kind", DRIFT_KINDS, "any") or "any",
            response=s.choice("response", DRIFT_RESPONSES, "review") or "review",
            alert=s.string("alert"),
        )
        s.finish()
        rules.append(rule)
    return tuple(rules)
