"""`recondiff report`: render report.html again from a run's report.json and plan.jsonl
(part of the thin CLI; see cli.py). The work is :func:`recondiff.report.render.render_report`."""

from __future__ import annotations

from pathlib import Path

import click


@click.command(name="report")
@click.argument(
    "rundir", metavar="RUNDIR", type=click.Path(file_okay=False, path_type=Path)
)
def report_command(rundir: Path) -> None:
    """Render RUNDIR/report.html from RUNDIR/report.json and RUNDIR/plan.jsonl.

    Nothing is recomputed: the report shows the run's findings and the plan's
    approval states as they are now (run it again after plan approve/reject).
    plan.jsonl is optional. The page is written atomically; its path is printed.

    Example: recondiff report out
    """
    from recondiff.report.render import render_report  # here: jinja2 and duckdb load only for it

    click.echo(str(render_report(rundir)))
