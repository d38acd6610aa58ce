"""Errors and exit codes.

Every mistake a user must fix is a :class:`RecondiffError` (or a subclass).
Its message is one line that names the file, key or row and says what to do;
the CLI prints it to stderr and exits with :attr:`RecondiffError.exit_code`.
Nothing in the core imports click: the mapping to exit codes lives here and the
CLI only applies it.
"""

from __future__ import annotations

import errno
import os
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are an API: change-control pipelines branch on them."""

    IN_SYNC = 0
    """Every object is in sync (or, for commands that do not compare, success)."""
    DIFFERENCES = 1
    """The comparison found at least one difference."""
    USAGE = 2
    """Usage, config or input error: one line on stderr says what and where."""
    INTERNAL = 3
    """An internal error: a bug in recondiff, not a problem with the input. One
    line on stderr says so and where to report it; ``--debug`` (or
    ``RECONDIFF_DEBUG=1``) adds the traceback."""
    INTERRUPTED = 130
    """Interrupted (SIGINT, Ctrl-C); no output was half-written."""
    BROKEN_PIPE = 141
    """stdout was closed before everything was written (``| head``): 128 +
    SIGPIPE, as a shell reports for a command its reader left; never 1."""
    TERMINATED = 143
    """Terminated (SIGTERM), handled as an interrupt; no output was half-written."""


class RecondiffError(Exception):
    """A mistake the user must fix. The message is a single line."""

    exit_code: int = ExitCode.USAGE

    def __init__(self, message: str) -> None:
        # Keep the message on one line whatever the caller passed.
        super().__init__(" ".join(str(message).split()))


class ConfigError(RecondiffError):
    """The configuration file is wrong: unknown or missing key, bad value."""


class InputError(RecondiffError):
    """An input file (export or snapshot) cannot be read as promised."""


class InternalError(Exception):
    """Something recondiff did not expect (a failed query that no user input
    explains): a bug to report, not a mistake to fix. Not a RecondiffError: the
    CLI exits :attr:`ExitCode.INTERNAL`, as for any unexpected exception. The
    message is a single line; the cause is chained for ``--debug``."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


# What a full disk (or an exceeded quota) says, from Python (errno) or from
# DuckDB and Arrow (in their message text).
_NO_SPACE_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
_NO_SPACE_TEXTS = tuple(os.strerror(e).lower() for e in _NO_SPACE_ERRNOS)


def no_space(exc: BaseException) -> bool:
    """Whether ``exc`` says a write failed for lack of disk space (or quota)."""
    if getattr(exc, "errno", None) in _NO_SPACE_ERRNOS:
        return True
    text = str(exc).lower()
    return any(t in text for t in _NO_SPACE_TEXTS)


def first_line(message: object) -> str:
    """The first line of an exception's (or any) message, for a one-line error;
    the exception's type name when the message is empty."""
    text = str(message).strip()
    return text.splitlines()[0] if text else type(message).__name__


def printable(text: str) -> str:
    """``text`` with every non-printable character escaped: safe on a terminal, one line."""
    if text.isprintable():
        return text
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in text
    )
