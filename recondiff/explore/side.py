"""One side explored into a snapshot (docs/explore.md): a directory through
:func:`recondiff.ingest.ldap_read.read_ldap`, an identity database through
:func:`recondiff.ingest.sql_read.read_postgresql`; full, or incremental from a
lower bound (:mod:`recondiff.explore.state`).

An incremental snapshot says so in its metadata (:data:`META_DELTA`,
:data:`META_SINCE`): compare then treats the endpoint as incremental (nothing is
``missing``, no shrink check), whichever way the snapshot reaches it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recondiff.config.load import Config
from recondiff.config.source import SourceConfig
from recondiff.errors import ConfigError, InputError
from recondiff.explore import state as _state
from recondiff.explore.attributes import needed_attributes
from recondiff.explore.state import (
    ExploreRecord,
    Lower,
    change_attribute,
    newer_mark,
    source_label,
)
from recondiff.history import History, history_path
from recondiff.ingest.snapshot import SnapshotInfo, read_snapshot_info, snapshot_metadata

META_SINCE = "recondiff.since"
"""``attribute>=value`` on a snapshot that holds only the entries changed since
then (written by :func:`recondiff.ingest.ldap_read.read_ldap`)."""

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Explored:
    """One side explored: the snapshot, how it was read, and what to record."""

    side: str
    source: SourceConfig
    info: SnapshotInfo
    lower: Lower | None  # the lower bound of an incremental read (None: a full one)
    record: ExploreRecord | None  # for the state (None: a source without change marks)
    warnings: tuple[str, ...] = ()

    @property
    def delta(self) -> bool:
        return self.lower is not None

    def as_json(self) -> dict[str, Any]:
        """What ``recondiff explore`` prints and summary.json's ``explored`` holds."""
        return {
            "side": self.side,
            "path": str(self.info.path),
            "rows": self.info.rows,
            "source": source_label(self.source),
            "captured_at": self.info.captured_at.isoformat(),
            "sha256": self.info.sha256,
            "delta": self.delta,
            "since": None if self.lower is None else self.lower.shown,
            "high_water": None if self.record is None else self.record.high_water,
        }


def source_of(cfg: Config, side: str) -> SourceConfig:
    section = cfg.endpoint if side == "endpoint" else cfg.repository
    if section.source is None:
        raise ConfigError(
            f"{cfg.path}: [{side}] has no [{side}.source] to explore; add one "
            "(docs/explore.md) or run recondiff explore --url URL --base DN"
        )
    return section.source


def explore_side(
    cfg: Config,
    side: str,
    out: Path,
    *,
    since_last: bool = False,
    since: datetime | None = None,
    state: Path | None = None,
    progress: Progress | None = None,
    ca_file: Path | None = None,
    insecure: bool | None = None,
) -> Explored:
    """Explore ``[side.source]`` of ``cfg`` into the snapshot ``out`` (atomically:
    nothing is left at ``out`` when it fails). ``since_last`` reads only the
    entries changed since the last explore recorded in ``state``'s
    history.duckdb (default: ``out``'s directory), ``since`` those changed since
    that time. ``ca_file`` and ``insecure`` override the source's. Nothing is
    recorded here: :meth:`ExploreRecord.record` does it once the caller is done."""
    source = source_of(cfg, side)
    if ca_file is not None or insecure is not None:
        source = replace(
            source,
            ca_file=ca_file if ca_file is not None else source.ca_file,
            insecure_skip_tls_verify=bool(insecure) or source.insecure_skip_tls_verify,
        )
    multi = cfg.endpoint.multi_valued if side == "endpoint" else cfg.repository.multi_valued
    if source.kind == "postgresql":
        incremental = since_last or since is not None
        return _explore_postgresql(source, side, out, incremental, multi, progress)
    ad = side == "endpoint" and cfg.endpoint.kind == "ad"
    attributes = [a for a in needed_attributes(cfg, side) if a.lower() != "dn"]
    lower = None
    if since_last:
        history = History(history_path(out.parent if state is None else state, None))
        lower = _state.since_last(history, source, ad, source.where)
    elif since is not None:
        lower = _state.since_time(since, ad)
    return explore_ldap(
        source, side, out, attributes=tuple(attributes), ad=ad, lower=lower,
        multi_valued=multi, progress=progress,
    )  # fmt: skip


def explore_ldap(
    source: SourceConfig,
    side: str,
    out: Path,
    *,
    attributes: tuple[str, ...] | None,
    ad: bool,
    lower: Lower | None,
    multi_valued: tuple[str, ...] = (),
    progress: Progress | None = None,
) -> Explored:
    """Read an LDAP source into ``out``; an incremental one (``lower``) is marked a delta."""
    from recondiff.ingest.ldap_read import LdapRead, Since, read_ldap

    warnings = tls_warnings(source)
    spec = LdapRead(
        url=source.url,
        base=source.base or "",
        scope=source.search_scope,
        filter=source.filter,
        bind_dn=source.bind_dn,
        password=source.password(),
        start_tls=source.start_tls,
        ca_file=source.ca_file,
        verify=not source.insecure_skip_tls_verify,
        page_size=source.page_size,
        size_limit=source.size_limit,
        time_limit=source.time_limit,
        attributes=attributes,
        ad=ad,
        since=None if lower is None else Since(lower.attribute, lower.value),
    )
    started = datetime.now(UTC)
    t0 = time.monotonic()
    read = read_ldap(spec, out, multi_valued=multi_valued, progress=progress, captured_at=started)
    seconds = time.monotonic() - t0
    info: SnapshotInfo = read
    if read.rows == 0 and attributes:
        info = _with_columns(out, attributes, multi_valued)
    attribute = change_attribute(ad)
    mark = None if lower is None else lower.mark
    # the reader's mark is of the attribute it read by: whenChanged for AD's --since T
    seen = read.high_water if lower is None or lower.attribute == attribute else None
    record = ExploreRecord(
        source=source,
        attribute=attribute,
        explored_at=started,
        read_seconds=round(seconds, 3),
        high_water=newer_mark(attribute, mark, seen),
        lower=lower,
        entries=info.rows,
        snapshot=out,
    )
    return Explored(side, source, info, lower, record, tuple(warnings))


def _explore_postgresql(
    source: SourceConfig,
    side: str,
    out: Path,
    incremental: bool,
    multi_valued: tuple[str, ...],
    progress: Progress | None,
) -> Explored:
    if incremental:
        raise ConfigError(
            f"{source.where}: a postgresql source is always read whole; --since-last and "
            "--since are for LDAP directories"
        )
    from recondiff.ingest.snapshot import ReadOptions
    from recondiff.ingest.sql_read import read_postgresql

    info = read_postgresql(
        source.url,
        source.query or "",
        out,
        password=source.password(),
        captured_at=datetime.now(UTC),
        progress=progress,
        options=ReadOptions(multi_valued=multi_valued),
        ca_file=source.ca_file,
        verify=not source.insecure_skip_tls_verify,
    )
    return Explored(side, source, info, None, None, ())


def tls_warnings(source: SourceConfig) -> list[str]:
    """What is unsafe about how a source is reached: verification turned off. (A
    password sent in clear to another host is refused by the reader.)"""
    warnings = []
    if source.insecure_skip_tls_verify:
        warnings.append(
            f"{source.where}: TLS certificate verification is OFF (insecure_skip_tls_verify / "
            f"--insecure-skip-tls-verify): anyone between here and {source.url} can read the "
            "bind password and forge the directory's answers; give ca_file instead"
        )
    return warnings


def _with_columns(out: Path, attributes: tuple[str, ...], multi_valued: tuple[str, ...]
                  ) -> SnapshotInfo:  # fmt: skip
    """A read that found no entry (an incremental one, mostly) holds only ``dn``:
    write it again with the columns asked for, still empty, so that compare
    finds the key and the compared attributes and classifies nothing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from recondiff.ingest.columns import STRING, STRING_LIST
    from recondiff.io.atomic import write_atomically

    schema = pq.read_schema(out)
    names = {n.lower() for n in schema.names}
    lists = {m.lower() for m in multi_valued}
    for name in attributes:
        if name.lower() not in names:
            names.add(name.lower())
            schema = schema.append(pa.field(name, STRING_LIST if name.lower() in lists else STRING))
    table = schema.empty_table()
    write_atomically(out, lambda temp: pq.write_table(table, temp, compression="zstd"),
                     "the snapshot", hidden=False)  # fmt: skip
    return read_snapshot_info(out)


def delta_of(path: Path) -> tuple[str, str] | None:
    """``(attribute, value)`` of a snapshot's delta metadata, or None for a full one
    (or a file that is not a Parquet snapshot)."""
    if not os.path.isfile(path):
        return None
    try:
        _, meta = snapshot_metadata(path)
    except InputError:
        return None
    since = meta.get(META_SINCE)
    if not since:
        return None
    attribute, _, value = since.partition(">=")
    return attribute, value
