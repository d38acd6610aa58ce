"""`recondiff plan …`: review an action plan (part of the thin CLI; see cli.py)."""

from __future__ import annotations

import click


@click.group(name="plan")
def plan_group() -> None:
    """Review an action plan: show, approve, reject, decisions round trip, LDIF, feed.

    Example: recondiff plan show out/plan.json
    """
