"""Render ``report.html`` from ``report.json`` (and ``plan.jsonl``): presentation only.

:mod:`recondiff.report.document` reads and checks report.json,
:mod:`recondiff.report.plan_view` the plan's part, :mod:`recondiff.report.charts`
lays out the charts; here one Jinja environment (autoescape on, StrictUndefined)
lays it all out through ``reports/report.html.j2``. The side-by-side views' data
is embedded as JSON (``tojson`` escapes ``<``, ``>`` and ``&``); the page's inline
script and style are allowed by their hashes in its Content-Security-Policy.
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from recondiff.errors import InputError, RecondiffError
from recondiff.io.atomic import write_text_atomically
from recondiff.io.sqlfiles import reports_dir
from recondiff.plan.file import load_plan
from recondiff.report.charts import charts
from recondiff.report.document import FIX, load_report, read_report
from recondiff.report.plan_view import read_plan
from recondiff.report.values import cyclic_gc_paused

TEMPLATE = "report.html.j2"
SCRIPT = "_script.js.j2"
STYLE = "_style.css.j2"


@cache
def environment() -> jinja2.Environment:
    """The one Jinja environment of recondiff's HTML (autoescape, StrictUndefined)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(reports_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    # tojson (which escapes <, > and &) writes compact, UTF-8 JSON in the order given.
    env.policies["json.dumps_kwargs"] = {
        "sort_keys": False,
        "separators": (",", ":"),
        "ensure_ascii": False,
    }
    return env


def render_html(report_data: dict[str, Any], plan: dict[str, Any] | None) -> str:
    """``report.html`` of ``report.json``'s content and, if any, ``plan.jsonl``'s.

    Raises :class:`InputError` (one line) when the data lacks a key the page uses."""
    with cyclic_gc_paused():
        report = read_report(report_data)
        plan_view = None if plan is None else read_plan(plan, report)
        env = environment()
        script, style = env.get_template(SCRIPT).render(), env.get_template(STYLE).render()
        try:
            return env.get_template(TEMPLATE).render(
                report=report,
                plan=plan_view,
                charts=charts(report),
                visible=[t for t in report.tables if not t.hidden],
                hidden=[t for t in report.tables if t.hidden],
                script=Markup(script),
                script_hash=_csp_hash(script),
                style=Markup(style),
                style_hash=_csp_hash(style),
            )
        except jinja2.UndefinedError as exc:  # a template bug or an unchecked key
            raise InputError(f"report.json: {exc.message}; {FIX}") from None


def _csp_hash(text: str) -> str:
    """The Content-Security-Policy source that lets exactly this inline text run."""
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode()


def render_report(rundir: Path) -> Path:
    """Render ``RUNDIR/report.html`` from ``RUNDIR/report.json`` and, when there is
    one, ``RUNDIR/plan.jsonl`` (so approvals made since the run show). Atomic."""
    rundir = Path(rundir)
    source = rundir / "report.json"
    data = load_report(source)
    plan_path = rundir / "plan.jsonl"
    plan = load_plan(plan_path) if plan_path.exists() else None
    try:
        html = render_html(data, plan)
    except RecondiffError as exc:
        message = str(exc)
        if message.startswith("report.json:"):
            message = f"{source}:{message.removeprefix('report.json:')}"
        elif message.startswith("plan.jsonl:"):
            message = f"{plan_path}:{message.removeprefix('plan.jsonl:')}"
        raise InputError(message) from None
    out = rundir / "report.html"
    write_text_atomically(out, html, "the report")
    return out
