"""Keep a config's SQL inside its snapshots (docs/config.md, "A config is code").

Two layers, each enough on its own against the attacks they were built for:

1. :func:`recondiff.config.expression.expression_problem`, at load, accepts a
   config SQL expression (``scope``, ``endpoint_sql``, ``repository_sql``) only
   when DuckDB's parser reads it as exactly one plain expression (parsing only).
2. :func:`lock_down` (here) confines a connection: DuckDB may read and write only
   the files and directories a run names (the snapshots, the run's work and
   output directories), loads no extension, and the configuration is locked so
   that no later statement can widen it. Every query of a compare runs on such
   a connection (engine/connection.connect).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import duckdb

from recondiff.vocabulary import SITUATIONS

# Extensions are never installed or loaded by a query (a LOAD is refused too
# once external access is off).
_NO_EXTENSIONS: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
}


def open_connection() -> duckdb.DuckDBPyConnection:
    """An in-memory connection that never installs or loads an extension and
    holds the situations in their order (:data:`recondiff.vocabulary.SITUATIONS`,
    bound to the variable ``rd_situations`` that queries/macros/situations.sql
    reads). Apply its settings, then :func:`lock_down` it before running
    anything else."""
    con = duckdb.connect(":memory:", config=dict(_NO_EXTENSIONS))
    con.execute("SET VARIABLE rd_situations = $situations", {"situations": list(SITUATIONS)})
    return con


def lock_down(
    con: duckdb.DuckDBPyConnection,
    *,
    files: Iterable[Path | str],
    directories: Iterable[Path | str],
) -> duckdb.DuckDBPyConnection:
    """Confine ``con``: it may read and write only ``files`` and whatever is
    inside ``directories`` (DuckDB's allowed_paths and allowed_directories,
    which refuse a ``..`` out of them; a relative path in a query is taken
    from the working directory), reach no URL and load no extension.
    The configuration is then locked: no statement can change a setting, so
    set everything else (memory, threads, time zone) before."""
    paths = sorted({os.path.abspath(f) for f in files})
    dirs = sorted({os.path.abspath(d) for d in directories})
    con.execute("SET allowed_paths = $paths", {"paths": paths})
    con.execute("SET allowed_directories = $dirs", {"dirs": dirs})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con
