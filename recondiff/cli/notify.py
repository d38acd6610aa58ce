"""``[[notify]]`` on the command line (docs/notify.md): what compare says of
its notifications, the failure hook, and ``recondiff notify test``.

A notification never changes an exit code: a target not reached is one
warning line on stderr (even with -q: an alert nobody received must not go
unsaid), and the code stays the reconciliation's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from recondiff.cli.common import echo_err
from recondiff.errors import ExitCode, InternalError, RecondiffError, first_line, printable

if TYPE_CHECKING:  # (not loaded at start: every command would pay for the config's imports)
    from recondiff.compare import CompareResult
    from recondiff.config.load import Config
    from recondiff.notify import Delivery

FAILURE_HOOK = "recondiff.notify_failure"
"""ctx.meta key: what the group calls when a command ends with exit 2 or 3."""


def after_run(cfg: Config, result: CompareResult, quiet: bool) -> None:
    """Notify the targets due after a finished compare; say which were not reached."""
    click.get_current_context().meta.pop(FAILURE_HOOK, None)  # the run did not fail
    if not cfg.notify:
        return
    from recondiff import notify

    try:
        notified = notify.after_run(cfg, result.summary, result.alerts, result.stale,
                                    result.outdir, result.exit_code)
    except Exception as exc:  # a bug in the news must not cost the run its exit code
        echo_err(f"recondiff: warning: notifications not sent: "
                 f"{printable(type(exc).__name__ + ': ' + first_line(exc))[:300]}", err=True)
        return
    _say(notified.deliveries, quiet, "")
    if notified.warning:
        echo_err(f"recondiff: warning: {notified.warning}", err=True)


def say_unverified(cfg: Config) -> None:
    """A target whose URL turns TLS certificate checks off (``verify=no``):
    said at every run, even with -q, as for a live source (docs/explore.md)."""
    for target in cfg.notify:
        if target.tls_unverified:
            echo_err(f"recondiff: warning: notify {target.label}: TLS certificate verification "
                     "is OFF (verify=no in its url): anyone on the way can read and change "
                     "what is sent", err=True)


def on_failure(cfg: Config, outdir: Path | None, quiet: bool) -> None:
    """From now on, a command that ends with exit 2 or 3 tells the [[notify]]
    targets on ``failure`` (or ``always``), after its one-line error."""
    if not any("failure" in t.on or "always" in t.on for t in cfg.notify):
        return

    def hook(code: int, exc: BaseException | None) -> None:
        from recondiff import notify

        try:
            deliveries = notify.after_failure(cfg, code, _error_line(code, exc), outdir)
        except Exception as failed:  # the failure is the run's; this is only its news
            echo_err(f"recondiff: warning: the failure was not notified: {first_line(failed)}",
                     err=True)
            return
        _say(deliveries, quiet, " of the failure")

    click.get_current_context().meta[FAILURE_HOOK] = hook


def _error_line(code: int, exc: BaseException | None) -> str:
    """The one line the run's error printed, as near as can be said again."""
    if isinstance(exc, RecondiffError):
        return str(exc)
    if exc is None:
        return "the run failed; see its stderr"
    if code == ExitCode.USAGE:  # a full disk, said by the group (cli/main.py)
        return printable(first_line(exc)[:400]) + "; free some space and run again"
    what = (str(exc) if isinstance(exc, InternalError)
            else f"{type(exc).__name__}: {first_line(exc)}")
    return "internal error (a bug in recondiff): " + printable(what[:400])


def _say(deliveries: Sequence[Delivery | None], quiet: bool, what: str) -> None:
    for d in deliveries:
        if d is None:
            continue
        if not d.sent:  # one line: why is scrubbed and made one (notify/send.py)
            echo_err(f"recondiff: warning: notify {d.target.label}: not sent: {d.why}", err=True)
        elif not quiet:
            echo_err(f"recondiff: notified {d.target.label}{what}", err=True)


@click.group(name="notify")
def notify_group() -> None:
    """The [[notify]] targets of a config (docs/notify.md).

    Example: recondiff notify test -c recondiff.toml
    """


@notify_group.command(name="test")
@click.option(
    "-c",
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The recondiff.toml whose [[notify]] targets to test.",
)
def notify_test(config_path: Path) -> Any:
    """Send a test message to every [[notify]] target and say which succeeded.

    \b
    stdout, one line per target: sent<TAB>TARGET, or failed<TAB>TARGET<TAB>WHY.
    Exit status: 0 every target reached, 1 some not, 2 a config without
    [[notify]] or with a mistake in it.

    Example: recondiff notify test -c recondiff.toml
    """
    from recondiff import notify
    from recondiff.config.load import load_config

    cfg = load_config(config_path)
    say_unverified(cfg)
    if not cfg.notify:
        raise click.UsageError(f"{config_path}: no [[notify]] table to test (docs/notify.md)")
    deliveries = notify.test(cfg)
    for d in deliveries:
        fields = ["sent", d.target.label] if d.sent else ["failed", d.target.label, d.why or ""]
        click.echo("\t".join(fields))
    failed = sum(not d.sent for d in deliveries)
    click.get_current_context().exit(ExitCode.DIFFERENCES if failed else ExitCode.IN_SYNC)
