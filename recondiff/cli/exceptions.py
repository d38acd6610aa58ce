"""``recondiff exceptions list|revoke``: the persistent decisions in the run history.

An exception is a reviewer's accept or reject of one finding, recorded from a
plan's decisions ledger (docs/plan.md, "Decisions that persist"); the next
compare of the same config proposes nothing for it while it is active.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from recondiff.errors import InputError, printable
from recondiff.history import HISTORY_FILE, History, exceptions_clock


def _history(state_dir: Path | None, outdir: Path | None) -> History:
    """The history of ``--state DIR`` or of the OUTDIR argument (default: out)."""
    if state_dir is not None and outdir is not None:
        raise click.UsageError("give --state DIR or OUTDIR, not both")
    folder = state_dir or outdir or Path("out")
    path = folder / HISTORY_FILE
    if not path.exists():
        raise InputError(
            f"{path}: no run history here; pass --state DIR (compare's --state, or its -o)"
        )
    return History(path)


_STATE = click.option(
    "--state",
    "state_dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="The directory holding history.duckdb (compare's --state, or its -o; default: out).",
)
_OUTDIR = click.argument(
    "outdir", required=False, type=click.Path(path_type=Path, file_okay=False)
)


@click.group(name="exceptions")
def exceptions_group() -> None:
    """Accepted and rejected findings that later runs no longer propose: list, revoke.

    Example: recondiff exceptions list out
    """


@exceptions_group.command(name="list")
@_OUTDIR
@_STATE
@click.option("--json", "as_json", is_flag=True, help="Print the exceptions as JSON.")
@click.option("--all", "everything", is_flag=True, help="Also the revoked and expired ones.")
def list_command(
    outdir: Path | None, state_dir: Path | None, as_json: bool, everything: bool
) -> None:
    """List the active exceptions of the history in OUTDIR (or --state DIR), newest
    first; with --all also the revoked and expired ones.

    Example: recondiff exceptions list --state out
    """
    history = _history(state_dir, outdir)
    rows = history.exceptions(exceptions_clock(datetime.now(UTC)), everything=everything)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    header = ("id", "state", "decision", "account", "situation", "attribute", "by", "until",
              "reason")
    table = [header, *(_cells(r) for r in rows)]
    if not sys.stdout.isatty():  # data for scripts: tab-separated, no padding
        for row in table:
            click.echo("\t".join(row))
        return
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def _cells(row: dict[str, Any]) -> tuple[str, ...]:
    return tuple(
        printable(str(v)) if v is not None else "-"
        for v in (
            row["id"], row["state"], row["decision"], row["account"], row["situation"],
            row["attribute"], row["by"], row["until"], row["reason"],
        )
    )


@exceptions_group.command(name="revoke")
@click.argument("exception_id", metavar="ID")
@_OUTDIR
@_STATE
@click.option("--by", required=True, help="Who revokes it.")
@click.option("--reason", default=None, help="Why (recorded with it).")
def revoke_command(
    exception_id: str, outdir: Path | None, state_dir: Path | None, by: str,
    reason: str | None,
) -> None:
    """Revoke exception ID: the next compare proposes its finding again.

    The exception is kept, marked revoked (when, by whom, why).

    Example: recondiff exceptions revoke ex-0123456789abcdef --state out --by "J. Smith"
    """
    history = _history(state_dir, outdir)
    history.revoke_exception(exception_id.strip(), by, reason, datetime.now(UTC))
    click.echo(f"recondiff: revoked {exception_id.strip()}", err=True)
