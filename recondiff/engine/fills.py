"""The slot fills: the config resolved against both snapshots' columns.

Column names and per-attribute normalisations cannot be bound parameters;
:class:`Fills` checks every name the config gives against the snapshot it
names and builds the ``{{slot}}`` text of each step from
:mod:`recondiff.engine.slots`. Config expressions are checked here too, on the
run's confined connection (``queries/check/expression.sql``).
"""

from __future__ import annotations

import difflib
from typing import Any

import duckdb

from recondiff.config.load import Config, CorrelationRule, check_expression, dn_placeholders
from recondiff.engine.resolve import Side
from recondiff.engine.slots import (
    Column,
    Expression,
    correlation_values,
    element_values,
    hash_of,
    hashed,
    list_of,
    null_or,
    quote_ident,
)
from recondiff.errors import ConfigError, first_line
from recondiff.ingest.snapshot import type_supported
from recondiff.io.sqlfiles import render


class Fills:
    """Resolves the config against both snapshots and builds the slot fills."""

    def __init__(
        self,
        cfg: Config,
        ep: Side,
        repo: Side,
        con: duckdb.DuckDBPyConnection,
        params: dict[str, Any],
    ) -> None:
        self.cfg, self.ep, self.repo, self.con, self.params = cfg, ep, repo, con, params
        self.ep_key = ep.find(cfg.endpoint.key, "[endpoint] key")
        self.repo_key = repo.find(cfg.repository.key, "[repository] key")
        self.link = (
            repo.find(cfg.repository.link, "[repository] link") if cfg.repository.link else None
        )
        self.status = (
            repo.find(cfg.repository.status, "[repository] status")
            if cfg.repository.status
            else None
        )
        self.ep_attrs: list[Column] = []
        self.repo_attrs: list[Column] = []
        for i, a in enumerate(cfg.attributes, 1):
            self.ep_attrs.append(self._attribute("endpoint", i, a.endpoint, a.endpoint_sql, a.name))
            self.repo_attrs.append(
                self._attribute("repository", i, a.repository, a.repository_sql, a.name)
            )
        for name in cfg.endpoint.multi_valued:
            ep.find(name, "[endpoint] multi_valued")
        for name in cfg.repository.multi_valued:
            repo.find(name, "[repository] multi_valued")
        self.ep_scope = self._predicate("endpoint", cfg.endpoint.scope)
        self.repo_scope = self._predicate("repository", cfg.repository.scope)
        self.ep_corr = [
            self._corr_values("endpoint", i, r) for i, r in enumerate(cfg.correlation, 1)
        ]
        self.repo_corr = [
            self._corr_values("repository", i, r) for i, r in enumerate(cfg.correlation, 1)
        ]
        self._check_create_dn()

    def _probe(self, side: str, expression: str, key: str) -> str:
        """Check a config SQL expression against the snapshot; return its type.
        It is checked to be one plain expression first (as load_config does, for
        a Config built in code), then bound on the confined connection over no row."""
        snapshot = self.ep.file if side == "endpoint" else self.repo.file
        check_expression(self.cfg.path, key, expression, snapshot)
        sql = render("check/expression", expression=expression)
        try:
            cursor = self.con.execute(sql, {"path": self.params[f"{side}_path"]})
        except duckdb.Error as exc:
            first = first_line(exc)
            raise ConfigError(
                f"{self.cfg.path}: {key} is not a valid SQL expression over "
                f"{self.ep.file if side == 'endpoint' else self.repo.file}: {first}"
            ) from None
        return str(cursor.description[0][1]) if cursor.description else "NULL"

    def _attribute(
        self, side: str, i: int, column: str | None, expression: str | None, name: str
    ) -> Column:
        """One side of [[attribute]] #i: its column, or its expression (checked and
        bound like scope) as an :class:`Expression` of the type it gives."""
        if column is not None:
            source = self.ep if side == "endpoint" else self.repo
            return source.find(column, f"[[attribute]] #{i} {side}")
        assert expression is not None, "load_config gives each side a column or an expression"
        key = f"[[attribute]] #{i} {side}_sql"
        kind = self._probe(side, expression, key)
        if not type_supported(kind):
            raise ConfigError(
                f"{self.cfg.path}: {key} gives {kind}, which recondiff does not compare; "
                "CAST it to text, a number, a boolean, a date or a list of one of those"
            )
        return Expression(name, kind, expression)

    def _predicate(self, side: str, scope: str | None) -> str:
        if not scope:
            return "TRUE"
        kind = self._probe(side, scope, f"[{side}] scope")
        if kind.upper() not in ("BOOLEAN", '"NULL"', "NULL"):
            raise ConfigError(
                f"{self.cfg.path}: [{side}] scope must be a predicate (true or false), "
                f"but it gives {kind}; write a comparison such as \"employeeType <> 'Service'\""
            )
        return scope

    def repository_predicate(self, expression: str, key: str) -> None:
        """A [[policy]] `when`: a predicate over the repository's columns, checked
        as a scope is (recondiff/engine/policies.py)."""
        self.check_predicate(self._probe("repository", expression, key), key)

    def check_predicate(self, kind: str, key: str) -> None:
        """A [[policy]] `when` of type ``kind`` is a predicate, or one line naming ``key``."""
        if kind.upper() not in ("BOOLEAN", '"NULL"', "NULL"):
            raise ConfigError(
                f"{self.cfg.path}: {key} must be a predicate (true or false), but it gives "
                f"{kind}; write a comparison such as \"department = 'Finance'\""
            )

    def repository_expression(self, expression: str, key: str) -> str:
        """A [[policy]] `set_sql`: one expression over the repository's columns; its type."""
        return self._probe("repository", expression, key)

    def _corr_values(self, side: str, i: int, rule: CorrelationRule) -> str:
        attr = getattr(rule, side)
        if attr is not None:
            source = self.ep if side == "endpoint" else self.repo
            column = source.find(attr, f"[[correlation]] #{i} {side}")
            return correlation_values(column, rule.compare)
        expression = getattr(rule, f"{side}_sql")
        kind = self._probe(side, expression, f"[[correlation]] #{i} {side}_sql")
        if kind.endswith("[]"):
            values = f"CAST(({expression}) AS VARCHAR[])"
        else:
            values = f"[CAST(({expression}) AS VARCHAR)]"
        return element_values(values, rule.compare)

    def _check_create_dn(self) -> None:
        """Every {column} of [endpoint] create_dn is a repository column: one
        that is not would give an add event with no DN (recondiff/plan/build.py fills it)."""
        for name in dn_placeholders(self.cfg.endpoint.create_dn or ""):
            if name.lower() == "key" or name.lower() in self.repo.columns:
                continue
            names = [c.name for c in self.repo.columns.values()]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f" (did you mean {{{close[0]}}}?)" if close else ""
            raise ConfigError(
                f"{self.cfg.path}: [endpoint] create_dn: {{{name}}} is not a column of "
                f"{self.repo.file}{hint}; name a repository column, or {{key}} for the "
                "account's key"
            )

    def _dn(self) -> str:
        dn = self.ep.optional("dn", "distinguishedName")
        return null_or(dn.first() if dn else None)

    def stage_endpoint(self) -> dict[str, str]:
        return {
            "key": self.ep_key.first(),
            "scope": self.ep_scope,
            "attr_hash": hash_of(
                [
                    hashed(c, a.compare)
                    for c, a in zip(self.ep_attrs, self.cfg.attributes, strict=True)
                ]
            ),
        }

    def stage_repository(self) -> dict[str, str]:
        return {
            "key": self.repo_key.first(),
            "link": null_or(self.link.first() if self.link else None),
            "status": null_or(self.status.first() if self.status else None),
            "scope": self.repo_scope,
            "attr_hash": hash_of(
                [
                    hashed(c, a.compare)
                    for c, a in zip(self.repo_attrs, self.cfg.attributes, strict=True)
                ]
            ),
        }

    def correlate_endpoint(self) -> dict[str, str]:
        return {"endpoint_values": list_of(self.ep_corr, "VARCHAR[]")}

    def diff_cells(self) -> dict[str, str]:
        # one column per compared attribute, named as configured (quoted)
        return {
            "cells": "".join(
                f",\n        rd_csv(first(cell) FILTER (WHERE attr_idx = {i})) AS "
                f"{quote_ident(a.name)}"
                for i, a in enumerate(self.cfg.attributes, 1)
            )
        }

    def uuid_value(self) -> str:
        """The endpoint export's entryUUID (objectGUID first for AD) as SQL, else NULL:
        the column recondiff/plan/build.py asserts on every event."""
        order = ("objectguid", "entryuuid") if self.cfg.endpoint.kind == "ad" else (
            "entryuuid", "objectguid")
        column = next((self.ep.columns[n] for n in order if n in self.ep.columns), None)
        return null_or(column.first() if column else None)

    def situations_out(self) -> dict[str, str]:
        return {"key": self.ep_key.first(), "dn": self._dn()}
