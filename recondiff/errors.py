"""Errors and exit codes.

Every mistake a user must fix is a :class:`RecondiffError` (or a subclass).
Its message is one line that names the file, key or row and says what to do;
the CLI prints it to stderr and exits with :attr:`RecondiffError.exit_code`.
Nothing in the core imports click: the mapping to exit codes lives here and the
CLI only applies it.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes are an API: change-control pipelines branch on them."""

    IN_SYNC = 0
    """Every object is in sync (or, for commands that do not compare, success)."""
    DIFFERENCES = 1
    """The comparison found at least one difference."""
    USAGE = 2
    """Usage, config or input error: one line on stderr says what and where."""
    INTERRUPTED = 130
    """Interrupted (SIGINT); no output was half-written."""


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


def first_line(message: object) -> str:
    """The first line of an exception's (or any) message, for a one-line error;
    the exception's type name when the message is empty."""
    text = str(message).strip()
    return text.splitlines()[0] if text else type(message).__name__
