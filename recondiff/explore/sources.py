"""compare's first step when the config names live sources (docs/explore.md,
"Exploring from compare"): each ``[side.source]`` without a ``snapshot`` key is
explored into ``OUTDIR/snapshots/<side>-<UTC time>.parquet`` and the run goes on
with the config pointing there (``dataclasses.replace``). The snapshots stay in
OUTDIR, the newest ``keep_snapshots`` of each side, so that every run can be
audited and re-run offline (:attr:`ExploreOptions.offline`, or a snapshot named
with ``--endpoint-snapshot`` / ``--repository-snapshot``).

The high-water marks of the reads are recorded, and older snapshots removed,
only once the compare has published its results (:meth:`Sources.finish`): a
compare that fails after exploring leaves its snapshot (whole) and never moves
the mark, so the next ``--since-last`` reads those changes again.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recondiff.config.load import Config
from recondiff.errors import ConfigError, InputError
from recondiff.explore.side import Explored, delta_of, explore_side
from recondiff.history import History
from recondiff.ingest.snapshot import META_FORMAT, detect_format

SNAPSHOTS = "snapshots"
"""OUTDIR/snapshots/: the snapshots compare explored."""

_NAME = re.compile(r"^(endpoint|repository)-(\d{8}T\d{6})Z(?:-(\d+))?\.parquet$")

Say = Callable[[str], None]


@dataclass(frozen=True)
class ExploreOptions:
    """How compare treats the config's sources."""

    since_last: bool = False  # the endpoint: only the entries changed since the last explore
    since: datetime | None = None  # the endpoint: only the entries changed since then
    offline: bool = False  # no server: the newest snapshot kept in OUTDIR/snapshots/
    endpoint_snapshot: Path | None = None  # this snapshot instead of the endpoint's source
    repository_snapshot: Path | None = None


@dataclass
class Sources:
    """The config the run goes on with, and what exploring found."""

    config: Config
    explored: list[Explored] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    endpoint_delta: str | None = None  # the endpoint snapshot is a delta: since when
    out: Path | None = None

    def run_fields(self) -> dict[str, Any]:
        """What summary.json's ``run`` (and so the report) says about the sources."""
        fields: dict[str, Any] = {}
        if self.explored:
            fields["explored"] = {e.side: e.as_json() for e in self.explored}
        if self.endpoint_delta is not None:
            fields["incremental_since"] = self.endpoint_delta
        return fields

    def finish(self, history: History) -> None:
        """The run published: record each read's mark, remove the older snapshots."""
        for explored in self.explored:
            if explored.record is not None:
                explored.record.record(history)
            if self.out is not None:
                prune(self.out / SNAPSHOTS, explored.side, explored.source.keep_snapshots)


def explore_config(cfg: Config, outdir: Path, history: History, **options: Any) -> Config:
    """The config with every source explored (see :func:`explore_sources`)."""
    return explore_sources(cfg, outdir, history, ExploreOptions(**options)).config


def explore_sources(
    cfg: Config,
    outdir: Path,
    history: History,
    options: ExploreOptions = ExploreOptions(),
    say: Say | None = None,
) -> Sources:
    """Explore the config's sources into ``outdir/snapshots/`` (or, offline, take
    the newest kept there), and say whether the endpoint snapshot is a delta."""
    say = say or (lambda _message: None)
    incremental = options.since_last or options.since is not None
    ep_source = cfg.endpoint.source is not None and cfg.endpoint.snapshot_from_source
    if incremental and (not ep_source or options.endpoint_snapshot or options.offline):
        raise ConfigError(
            f"{cfg.path}: --since-last and --since read the endpoint's [endpoint.source] "
            "(with no snapshot key); this run does not explore it"
        )
    sources = Sources(cfg, out=outdir)
    for side in ("endpoint", "repository"):
        _side(sources, side, outdir, history, options, say)
    _check_deltas(sources)
    return sources


def _side(
    sources: Sources, side: str, outdir: Path, history: History, options: ExploreOptions,
    say: Say,
) -> None:  # fmt: skip
    cfg = sources.config
    section = cfg.endpoint if side == "endpoint" else cfg.repository
    given = options.endpoint_snapshot if side == "endpoint" else options.repository_snapshot
    if given is not None:
        path: Path = given
    elif section.source is None or not section.snapshot_from_source:
        return
    elif options.offline:
        path = _newest(outdir / SNAPSHOTS, side, cfg)
    else:
        explored = _explore(cfg, side, outdir, history, options, say)
        sources.explored.append(explored)
        sources.warnings += explored.warnings
        path = explored.info.path
    section = replace(section, snapshot=path, snapshot_from_source=False)
    if side == "endpoint":
        sources.config = replace(cfg, endpoint=section)  # type: ignore[arg-type]
    else:
        sources.config = replace(cfg, repository=section)  # type: ignore[arg-type]


def _explore(
    cfg: Config, side: str, outdir: Path, history: History, options: ExploreOptions, say: Say
) -> Explored:
    folder = outdir / SNAPSHOTS
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise InputError(
            f"{folder}: not a directory recondiff made (a symbolic link?); the explored "
            "snapshots go there, and older ones are removed: remove it and run again"
        )
    made = [d for d in (outdir, folder) if not d.exists()]
    out: Path | None = None
    say(f"exploring the {side} ({_label(cfg, side)})")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        out = _new_name(folder, side)
        endpoint = side == "endpoint"
        return explore_side(
            cfg,
            side,
            out,
            since_last=options.since_last and endpoint,
            since=options.since if endpoint else None,
            state=history.path.parent,
            progress=counter(say, f"exploring the {side}"),
        )
    except BaseException:
        if out is not None:  # the name claimed, still empty: the read failed
            with contextlib.suppress(OSError):
                out.unlink()
        for directory in reversed(made):  # leave OUTDIR as it was
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise


def _label(cfg: Config, side: str) -> str:
    source = (cfg.endpoint if side == "endpoint" else cfg.repository).source
    return "" if source is None else source.url


def counter(say: Say, what: str, every: float = 2.0) -> Callable[[int], None]:
    """A reader's progress (entries so far) as a line at most every ``every`` seconds."""
    start = last = time.monotonic()

    def progress(entries: int) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= every:
            last = now
            rate = entries / max(now - start, 1e-9)
            say(f"{what}: {entries:,} entries ({rate:,.0f}/s)")

    return progress


def _new_name(folder: Path, side: str) -> Path:
    """``folder/<side>-<UTC second>.parquet``, or ``-1``, ``-2``... after it,
    claimed by creating it empty (O_EXCL): another compare into the same OUTDIR
    in the same second gets another name. The reader replaces the empty file."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    for n in range(10_000):
        path = folder / (f"{side}-{stamp}.parquet" if n == 0 else f"{side}-{stamp}-{n}.parquet")
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:
            continue
        except OSError as exc:
            why = exc.strerror or exc
            raise InputError(f"{path}: cannot create the snapshot ({why})") from None
        return path
    raise InputError(f"{folder}: no free name for a {side} snapshot; remove old ones")


def kept(folder: Path, side: str) -> list[Path]:
    """The snapshots of ``side`` compare wrote into ``folder``, oldest first."""
    found = []
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            m = _NAME.match(path.name)
            ours = m and m.group(1) == side and path.is_file() and not path.is_symlink()
            if m and ours and _written_by_recondiff(path):
                found.append(((m.group(2), int(m.group(3) or 0)), path))
    return [p for _, p in sorted(found)]


def _written_by_recondiff(path: Path) -> bool:
    """Whether ``path`` is a whole Parquet snapshot recondiff wrote (its
    ``recondiff.format`` metadata): anything else is never taken, nor removed."""
    import pyarrow as pa  # here: a compare of snapshots alone never loads pyarrow
    import pyarrow.parquet as pq

    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowException):
        return False
    return META_FORMAT.encode() in metadata


def _newest(folder: Path, side: str, cfg: Config) -> Path:
    snapshots = kept(folder, side)
    if not snapshots:
        raise InputError(
            f"{folder}: no {side} snapshot kept here to re-run offline ([{side}.source] in "
            f"{cfg.path}); run once without --offline, or pass --{side}-snapshot PATH"
        )
    return snapshots[-1]


def prune(folder: Path, side: str, keep: int) -> None:
    """Remove all but the newest ``keep`` snapshots of ``side`` compare wrote
    (:func:`kept`: files of another name or content, links, are left alone)."""
    snapshots = kept(folder, side)
    for path in snapshots[: max(0, len(snapshots) - keep)]:
        path.unlink(missing_ok=True)


def _delta(path: Path, fmt: str | None) -> tuple[str, str] | None:
    try:
        parquet = detect_format(path, fmt) == "parquet"
    except InputError:
        return None  # read_input says what is wrong with it
    return delta_of(path) if parquet else None


def _check_deltas(sources: Sources) -> None:
    """An endpoint delta makes the run incremental; a repository delta is refused."""
    cfg = sources.config
    repo = _delta(cfg.repository.snapshot, cfg.repository.format)
    if repo is not None:
        raise InputError(
            f"{cfg.repository.snapshot}: an incremental snapshot (changes since {repo[1]}); "
            "the repository must be read whole, or every identity it lacks looks gone"
        )
    ep = _delta(cfg.endpoint.snapshot, cfg.endpoint.format)
    if ep is None:
        return
    attribute, value = ep
    sources.endpoint_delta = f"{attribute} >= {value}"
    if not cfg.endpoint.incremental:
        endpoint = replace(cfg.endpoint, incremental=True)
        sources.config = replace(cfg, endpoint=endpoint)
    rows = next((e.info.rows for e in sources.explored if e.side == "endpoint"), None)
    held = f"the {rows} entries" if rows is not None else "the entries"
    sources.warnings.append(
        f"incremental run: the endpoint snapshot {cfg.endpoint.snapshot} holds only {held} "
        f"changed since {attribute} {value}; accounts unchanged since then were not looked "
        "at, and no identity is counted missing. Deletions show only in a full run"
    )
