"""Write a file so that readers see the old content or the new, never half."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from recondiff.errors import InputError


def write_bytes_atomically(path: Path, data: bytes, what: str = "the file") -> None:
    """Write ``data`` to a synced temp file beside ``path``, then rename it over ``path``."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{path}: cannot create its directory ({exc.strerror or exc})") from exc
    temp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(6)}")
    try:
        with temp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write {what} ({exc.strerror or exc})") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


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
