"""The run's DuckDB connection: confined to the run's files, spilling into
the run's own directory, within the configured memory."""

from __future__ import annotations

from pathlib import Path

import duckdb

from recondiff.config.load import Config
from recondiff.engine.confine import lock_down, open_connection
from recondiff.errors import ConfigError
from recondiff.history import PreviousRun

DEFAULT_MEMORY_LIMIT = "1GB"


def connect(
    cfg: Config,
    work: Path,
    snapshots: list[Path],
    out: Path,
    previous: PreviousRun | None,
    spill: Path | None = None,
) -> duckdb.DuckDBPyConnection:
    """The run's connection, confined (recondiff.engine.confine.lock_down): it reads
    the snapshots and the previous run's ownerships, and reads and writes only
    in the run's work directory and the output directory, whatever a config
    expression asks. It spills into ``spill``
    (:func:`recondiff.engine.workdirs.spill_directory`, inside the config's
    temp_directory), else into the work directory; the config's temp_directory
    itself is never opened to queries."""
    con = open_connection()
    try:
        _configure(cfg, con, work, spill)
        owners = [previous.owners] if previous is not None and previous.owners else []
        return lock_down(con, files=[*snapshots, *owners], directories=[work, out])
    except BaseException:
        con.close()
        raise


def _configure(
    cfg: Config, con: duckdb.DuckDBPyConnection, work: Path, spill: Path | None
) -> None:
    # Naive ISO timestamps in the data are read as UTC (compare kind "date").
    con.execute("SET TimeZone = 'UTC'")
    # DuckDB lets queries into its temp_directory even with external access off,
    # so a run spills into a directory of its own (work/, or a locked and marked
    # recondiff-<pid>-* inside [engine] temp_directory), never the configured one
    # itself (which may be "/" or site-packages).
    if cfg.engine.temp_directory is not None and spill is None:
        raise ValueError("[engine] temp_directory is set: spill into spill_directory(cfg)")
    temp = spill or work / "duckdb-tmp"
    con.execute("SET temp_directory = $t", {"t": str(temp)})
    # Default 1GB: a 10M-account run then peaks under 2 GB resident and spills
    # the rest to temp_directory (benchmarks/RESULTS.md has both settings).
    memory_limit = cfg.engine.memory_limit or DEFAULT_MEMORY_LIMIT
    try:
        con.execute("SET memory_limit = $m", {"m": memory_limit})
    except duckdb.Error:
        raise ConfigError(
            f"{cfg.path}: [engine] memory_limit: {memory_limit!r} is not a size "
            'like "2GB" or "512MB"'
        ) from None
    # Hand memory back to the system after each task instead of caching up to
    # 128 MiB (DuckDB's default): a lower peak RSS at no cost in time
    # (benchmarks/NOTES.md, "compare").
    con.execute("SET allocator_flush_threshold = '16MB'")
    con.execute("SET allocator_bulk_deallocation_flush_threshold = '16MB'")
    if cfg.engine.threads:
        con.execute("SET threads = $n", {"n": cfg.engine.threads})
