"""What the CLI modules share (CLI-only code: it may import click)."""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

import click

from recondiff.errors import ExitCode, InternalError, first_line, printable
from recondiff.plan.checks import GUARDS, SafetyError

DEBUG_ENV = "RECONDIFF_DEBUG"

REPORT_BUG = (
    "please report it to the recondiff maintainers with the output of the same "
    f"command run as 'recondiff --debug ...' (or with {DEBUG_ENV}=1)"
)


def progress(quiet: bool) -> Callable[[str], None] | None:
    """Progress lines with elapsed time on stderr: on a terminal, or when
    RECONDIFF_PROGRESS=1 (CI logs, tests); never with --quiet."""
    forced = os.environ.get("RECONDIFF_PROGRESS") == "1"
    if quiet or not (sys.stderr.isatty() or forced):
        return None
    start = time.monotonic()

    def show(message: str) -> None:
        click.echo(f"recondiff: [{time.monotonic() - start:6.1f} s] {message}…", err=True)

    return show


def echo_err(message: str, err: bool = True, nl: bool = True) -> None:
    """``click.echo(message, err=True)`` for the lines that end a run: a stderr
    that cannot be written (closed, ``2>>log`` on a full disk) must not turn
    the run's exit code into another one (an OSError there ended as exit 1,
    "differences found"); the line is lost, the code stays."""
    try:
        click.echo(message, err=err, nl=nl)
    except OSError:
        # the unwritten line stays buffered: send it (and the rest) to /dev/null
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stderr.fileno())


def debug_from_env() -> bool:
    return os.environ.get(DEBUG_ENV) == "1"


class _Signals:
    received: int | None = None


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Handle SIGTERM (a service manager stopping the job, ``kill``, a CI
    timeout) as Ctrl-C: a KeyboardInterrupt in the main thread, so every
    clean-up runs (temp directories, the staging directory, a journal line in
    flight) and DuckDB stops its query. :func:`interruption` then tells which
    signal it was. Outside the main thread (embedded use) nothing is changed."""
    _Signals.received = None
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        # Only the first signal interrupts: a second one (SIGTERM twice, Ctrl-C
        # then SIGTERM) raised inside the clean-up would cut it short and leave
        # TMPDIR/recondiff-* behind, and print the interruption twice.
        if _Signals.received is not None:
            return
        _Signals.received = signum
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    # Ctrl-C likewise, unless it is ignored (nohup, a background job).
    previous_int = signal.getsignal(signal.SIGINT)
    if previous_int is signal.default_int_handler:
        signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        if previous_int is signal.default_int_handler:
            signal.signal(signal.SIGINT, previous_int)


def interruption() -> int:
    """Say on stderr that the run was interrupted (or terminated); the exit code."""
    if _Signals.received == signal.SIGTERM:
        echo_err("recondiff: terminated (SIGTERM); no output was half-written", err=True)
        return ExitCode.TERMINATED
    echo_err("recondiff: interrupted; no output was half-written", err=True)
    return ExitCode.INTERRUPTED


def internal_error(exc: BaseException, debug: bool) -> int:
    """Say on stderr, in one line, that ``exc`` is a bug and where to report it
    (the traceback before it with ``debug``); the exit code."""
    if debug:
        echo_err("".join(traceback.format_exception(exc)), err=True, nl=False)
    if isinstance(exc, InternalError):
        what = str(exc)
    else:
        text = first_line(exc)
        name = type(exc).__name__
        what = name if text == name else f"{name}: {text}"
    what = printable(what[:400])  # whatever data the message carries: no control codes
    echo_err(
        "recondiff: internal error (a bug in recondiff, not a problem with your input): "
        f"{what}; {REPORT_BUG}",
        err=True,
    )
    return ExitCode.INTERNAL


# -- the options apply and plan ldif share -------------------------------------------


def config_option(default: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``-c/--config``: the config in force (``default``: which one without it)."""
    return click.option(
        "-c",
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"The recondiff.toml in force (default: {default}): its protected keys "
        "and limits apply too.",
    )


_ALLOWED = {
    "deletes": "deletes+disables",
    "value_removals": "accounts losing attribute values",
    "membership_removals": "group membership removals",
    "modifies": "modify operations",
}
"""What each mass-change guard's override flag accepts, for its help."""


def mass_change_options(deletes_over: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The override flag of each mass-change guard (:data:`recondiff.plan.checks.GUARDS`:
    --allow-mass-change, --allow-value-removals, --allow-membership-removals,
    --allow-modifies), given to the command as one ``allow`` mapping of a
    guard's name to the count accepted (None: not given). ``deletes_over``
    names the limits --allow-mass-change goes over, in its help."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def with_allow(*args: Any, **kwargs: Any) -> Any:
            allow = {guard.name: kwargs.pop(_parameter(guard.flag)) for guard in GUARDS}
            return command(*args, allow=allow, **kwargs)

        for guard in reversed(GUARDS):
            over = deletes_over if guard.name == "deletes" else "the safety limits"
            with_allow = click.option(
                guard.flag,
                _parameter(guard.flag),
                type=click.IntRange(min=0),
                metavar="N",
                help=f"Accept up to N {_ALLOWED[guard.name]} over {over}.",
            )(with_allow)
        return with_allow

    return decorate


def _parameter(flag: str) -> str:
    return flag[2:].replace("-", "_")


def safety_exit(exc: SafetyError) -> NoReturn:
    """One line per exceeded mass-change limit, exit 2."""
    for line in exc.lines:
        click.echo(f"recondiff: error: {line}", err=True)
    click.get_current_context().exit(exc.exit_code)
    raise AssertionError("unreachable")  # pragma: no cover


def signature_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--trust FILE`` (repeatable), ``--allow-unsigned``, ``--decisions-head HASH``:
    what apply and plan ldif check a plan's and its decisions' signatures against
    (docs/signing.md)."""
    from recondiff.cli.keys import trust_option

    f = click.option(
        "--decisions-head",
        metavar="HASH",
        help="The ledger's last decision as the change ticket recorded it (sha256: and "
        "at least 12 of its hex digits, as apply prints it): refuses decisions removed "
        "from the ledger's end.",
    )(f)
    f = click.option(
        "--allow-unsigned",
        is_flag=True,
        help="Run a plan or decisions without signatures: only accidental edits are "
        "caught (digest, hash chain); anyone who can write the files can forge approvals.",
    )(f)
    return trust_option(f)
