"""What the CLI modules share (CLI-only code: it may import click)."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable

import click


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
