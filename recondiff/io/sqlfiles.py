"""Load the SQL files of ``queries/`` by name and fill their ``{{slot}}`` markers.

Installed, the files live inside the package (``recondiff/queries``, mapped by
the wheel build); in a checkout they are the top-level ``queries/`` directory.
Slots take only what :mod:`recondiff.engine.slots` emits (quoted identifiers, macro
calls, validated config expressions); values are always bound parameters.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import duckdb

_SLOT = re.compile(r"\{\{\s*(\w+)\s*\}\}")


def _resource_dir(name: str) -> Path:
    package = Path(__file__).resolve().parents[1]
    for candidate in (package / name, package.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"recondiff is installed without its {name}/ directory")


def query_dir() -> Path:
    return _resource_dir("queries")


def reports_dir() -> Path:
    return _resource_dir("reports")


# The macro files, in the order they are created: each may call those before it.
MACROS = ("macros/text", "macros/kinds", "macros/situations", "macros/output", "macros/events")


# The macro files the Spark steps call (engine/spark_run.py; macros/output and
# macros/events serve the steps after them, on DuckDB).
SPARK_MACROS = tuple(m for m in MACROS if m not in ("macros/output", "macros/events"))


def macros() -> str:
    """Every ``rd_*`` macro of ``queries/macros/``: run first on each connection."""
    return "\n".join(load(name) for name in MACROS)


@cache
def load(name: str) -> str:
    """The text of ``queries/<name>.sql`` (``name`` such as ``"classify/situations"``)."""
    return (query_dir() / f"{name}.sql").read_text(encoding="utf-8")


def render(name: str, **fills: str) -> str:
    """``queries/<name>.sql`` with every ``{{slot}}`` replaced; all must be given."""
    text = load(name)
    wanted = set(_SLOT.findall(text))
    if wanted != set(fills):
        raise ValueError(f"queries/{name}.sql: slots {sorted(wanted)} but filled {sorted(fills)}")
    return _SLOT.sub(lambda m: fills[m.group(1)], text)


class Rows:
    """The rows of an executed statement, already fetched. DuckDB runs a SELECT
    only as its rows are fetched, so a step fetches them at once, where its
    errors and interrupts are mapped (engine/steps.run_step), not later in a caller."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self.description = cursor.description
        self._rows: list[Any] = cursor.fetchall()

    def fetchall(self) -> list[Any]:
        rows, self._rows = self._rows, []
        return rows


# What the planner and the reporter are given to run a step (engine/steps.run_step bound
# to the run's connection): step(name, params, **slots) -> Rows.
Step = Callable[..., Rows]


def fetch_dicts(cursor: duckdb.DuckDBPyConnection | Rows) -> list[dict[str, Any]]:
    """Every row of an executed query as a dict keyed by column name."""
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
