"""The run's own directories: its work directory (in TMPDIR), its spill
directory (inside ``[engine] temp_directory``) and its staging directory (inside
OUTDIR), each made, locked and marked so that a later run's sweep removes
what a killed run left, and never a live run's directory or one another tool
made."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recondiff.config.load import Config
from recondiff.errors import ConfigError, InputError

WORK_PREFIX = "recondiff-"
"""The run's work directory in the system's temp directory (TMPDIR): ingested
snapshots, the previous run's findings, DuckDB's spill files."""
STAGING_PREFIX = ".recondiff-tmp-"
"""The staging directory inside OUTDIR, renamed from at the end."""


OWNER_MARK = ".recondiff-run"
"""An empty file in every directory :func:`owned_directory` makes: the sweep
removes only directories that hold it, never a look-alike another tool or the
user made."""


def owned_directory(parent: Path, prefix: str) -> tuple[Path, int]:
    """Create ``parent/<prefix><pid>-<random>`` and lock it (flock) for this
    process; return it and the lock's descriptor (close it after removing the
    directory). Leftovers of earlier runs killed before their clean-up could
    run (SIGKILL, a power cut, the OOM killer) are removed first."""
    remove_leftovers(parent, prefix)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    with contextlib.suppress(OSError):  # a file system without locks: the pid alone tells
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        (path / OWNER_MARK).touch()
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)
        raise
    return path, fd


@contextmanager
def work_directory() -> Iterator[Path]:
    """The run's work directory (:data:`WORK_PREFIX`), removed after the run,
    also on Ctrl-C and SIGTERM (which the CLI turns into KeyboardInterrupt)."""
    parent = Path(tempfile.gettempdir())
    try:
        path, lock = owned_directory(parent, WORK_PREFIX)
    except OSError as exc:
        raise InputError(
            f"{parent}: cannot create the run's temporary directory ({exc.strerror or exc}); "
            "set TMPDIR to a writable directory with free space"
        ) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


@contextmanager
def spill_directory(cfg: Config) -> Iterator[Path | None]:
    """The run's spill directory inside ``[engine] temp_directory`` (None when
    that is not set: the run spills into its work directory). Made, locked and
    marked as the work directory is, so that a sweep by a later run (also one
    in another PID namespace sharing the directory) leaves it alone while the
    run lives, and removes it when a killed run left it. Close the connection
    that spills into it before this exits."""
    parent = cfg.engine.temp_directory
    if parent is None:
        yield None
        return
    try:
        parent.mkdir(parents=True, exist_ok=True)
        path, lock = owned_directory(parent, WORK_PREFIX)
    except OSError as exc:
        raise ConfigError(
            f"{cfg.path}: [engine] temp_directory: cannot create a directory in "
            f"{parent}: {exc.strerror or exc}"
        ) from None
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


def remove_leftovers(parent: Path, prefix: str) -> None:
    """Remove ``parent``'s directories ``<prefix><pid>-<random>`` (and the UTF-16
    transcoding files ``<prefix><pid>-<random>.csv`` of recondiff.ingest.exports) that this
    user owns, whose process no longer runs and whose lock nobody holds: what a
    killed run left. A live run's directory (in another container or host
    too: its lock) and anything not made by recondiff stay."""
    # mkdtemp/mkstemp's 8 random characters
    pattern = re.compile(re.escape(prefix) + r"(\d+)-[a-z0-9_]{8}(\.csv)?")
    try:
        entries = [e for e in os.scandir(parent) if pattern.fullmatch(e.name)]
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        assert match is not None
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        is_file = match[2] is not None
        kind = stat.S_ISREG if is_file else stat.S_ISDIR
        if not kind(info.st_mode) or info.st_uid != os.geteuid():
            continue
        if _process_runs(int(match[1])):
            continue
        flags = os.O_RDONLY | os.O_NOFOLLOW | (0 if is_file else os.O_DIRECTORY)
        try:
            fd = os.open(entry.path, flags)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live run holds it (or no locks here: leave it)
            os.close(fd)
            continue
        try:
            if is_file:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            elif not _marked(fd):
                pass  # named like ours, but not made by recondiff: leave it
            else:
                shutil.rmtree(entry.path, ignore_errors=True)
        finally:
            os.close(fd)


def _marked(directory_fd: int) -> bool:
    try:
        info = os.stat(OWNER_MARK, dir_fd=directory_fd, follow_symlinks=False)
    except OSError:
        return False
    return stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()


def _process_runs(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return pid > 0  # another user's process (or a number no pid can be)
    return True
