"""Reviewing an action plan: summary, decisions, the decisions sheet, the repository feed.

The library behind ``recondiff plan …`` (docs/plan.md, "Commands"); the CLI
(:mod:`recondiff.cli.plan`) only parses and calls these. Plans are loaded and
saved only through :mod:`recondiff.plan.file` (schema and digest checked on every
load, a fresh digest written atomically on every save).

* :mod:`~recondiff.review.summary`: one line per event, ``plan show``;
* :mod:`~recondiff.review.decisions`: ``plan approve|reject``;
* :mod:`~recondiff.review.select`: selectors (``--response``, ``--account`` …);
* :mod:`~recondiff.review.sheet`: ``plan export-decisions|import-decisions``;
* :mod:`~recondiff.review.feed`: ``plan feed``.

Every mistake raises :class:`~recondiff.errors.InputError` with one line that
names the file, the row and column (spreadsheet numbering: the header is row
1) or the event, and says what to do.
"""

from __future__ import annotations

from recondiff.review.decisions import (
    Request,
    decide_file,
    decide_selected,
    decisions_head,
    read_decided,
    show_file,
)
from recondiff.review.feed import (
    FEED_COLUMNS,
    FEED_CSV,
    FEED_JSONL,
    FeedResult,
    feed_rows,
    write_feed,
)
from recondiff.review.select import Selection, Selector, SelectorError, choose, select
from recondiff.review.sheet import (
    DECISION_COLUMNS,
    Decision,
    ImportResult,
    decision_rows,
    export_decisions,
    import_decisions,
    parse_decision,
    read_decisions,
)
from recondiff.review.summary import LIMIT, describe, reason_line, summarise, summary_lines

__all__ = [
    "DECISION_COLUMNS",
    "FEED_COLUMNS",
    "FEED_CSV",
    "FEED_JSONL",
    "LIMIT",
    "Decision",
    "FeedResult",
    "ImportResult",
    "Request",
    "Selection",
    "Selector",
    "SelectorError",
    "choose",
    "decide_file",
    "decide_selected",
    "decision_rows",
    "decisions_head",
    "describe",
    "export_decisions",
    "feed_rows",
    "import_decisions",
    "parse_decision",
    "read_decided",
    "read_decisions",
    "reason_line",
    "select",
    "show_file",
    "summarise",
    "summary_lines",
    "write_feed",
]
