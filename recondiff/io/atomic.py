"""Write a file so that readers see the old content or the new, never half."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Callable
from pathlib import Path

from recondiff.errors import InputError, no_space


def write_atomically(
    path: Path, write: Callable[[Path], object], what: str = "the file", hidden: bool = True
) -> None:
    """Call ``write(temp)`` for a temp file beside ``path`` (a dot file when
    ``hidden``), fsync it and rename it over ``path``; on any failure the temp
    file goes and ``path`` is as it was. OSError becomes one InputError line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create its directory ({exc.strerror or exc})") from exc
    temp = path.with_name(f"{'.' if hidden else ''}{path.name}.tmp-{secrets.token_hex(6)}")
    try:
        write(temp)
        with temp.open("rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        # pyarrow's words are "Error writing bytes to file. Detail: [errno 28] No space..."
        reason = os.strerror(errno.ENOSPC) if no_space(exc) else (exc.strerror or exc)
        raise InputError(f"{path}: cannot write {what} ({reason})") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_bytes_atomically(path: Path, data: bytes, what: str = "the file") -> None:
    """Write ``data`` to ``path`` through :func:`write_atomically`."""
    write_atomically(path, lambda temp: temp.write_bytes(data), what)


def write_text_atomically(path: Path, text: str, what: str = "the file") -> None:
    write_bytes_atomically(path, text.encode("utf-8"), what)


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (best effort: not every platform allows it)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
