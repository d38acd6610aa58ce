"""What a ``[[notify]]`` target is sent (docs/notify.md): a short text, the
summary.json for a JSON webhook, the do-nothing cases as a CSV attachment.

Every value that came from a snapshot (an account's key, an alert's value) is
written by :func:`inert`: quoted, control characters (CR and LF among them,
the bidirectional overrides too) spelled as escapes, cut at a length. The body
goes to Apprise as text, which escapes it for an HTML or Markdown target; the
title holds only the config's names and counts, and is one line.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Any

from recondiff.vocabulary import SITUATIONS

ALERTS_LISTED = 50  # alerts in the text; the rest are in report.json and report.html
VALUE_LENGTH = 120
JSON_SCHEMES = frozenset({"json", "jsons"})  # webhooks that get summary.json itself
_EXIT = {0: "in sync", 1: "differences found", 2: "usage, config or input error",
         3: "internal error (a bug)"}


_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#!|~])")
PLAIN_SCHEMES = frozenset({"mailto", "mailtos", *JSON_SCHEMES})
"""Targets that show the text as it is (a text/plain mail, a JSON field); any
other (a chat service) may render Markdown and mentions of its own, whatever
Apprise declares it to be, so values are escaped for Markdown there."""


def inert(value: Any, markdown: bool = False) -> str:
    """A value from the directory as plain, one-line, quoted text, cut at
    :data:`VALUE_LENGTH`; with ``markdown``, escaped as :func:`escaped` says."""
    if value is None:
        return "-"
    text = str(value)
    cut = len(text) > VALUE_LENGTH
    return '"' + escaped(text[:VALUE_LENGTH], markdown) + ('…"' if cut else '"')


def escaped(text: str, markdown: bool = False) -> str:
    """``text`` with quotes and backslashes escaped and control characters
    spelled ``\\uXXXX``; with ``markdown``, its Markdown punctuation
    backslash-escaped, its ``@``-mentions broken and its bare links (``://``,
    ``www.``) unlinked, each by a zero-width space."""
    out = []
    for c in text:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            out.append(f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}")
        else:
            out.append(_MARKDOWN.sub(r"\\\1", c) if markdown else c)
            if markdown and c == "@":
                out.append("\u200b")
    said = "".join(out)
    if markdown:  # a bare link, which chat clients make live themselves
        said = re.sub(r"(?i)(://|www\.)",
                      lambda m: m.group(1)[:-1] + "\u200b" + m.group(1)[-1:], said)
    return said


def one_line(text: str, limit: int = 200) -> str:
    """Text of the config's (a name, an error line) made a safe title or line."""
    text = "".join(c if c.isprintable() else " " for c in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run_title(summary: dict[str, Any], stale: bool) -> str:
    run = summary["run"]
    parts = [f"{summary['alerts']} alert{'s' if summary['alerts'] != 1 else ''}"]
    if stale:
        parts.append("stale inputs")
    parts.append(f"{summary['differences']} difference{'s' if summary['differences'] != 1 else ''}")
    return one_line(f"recondiff {run['endpoint']} vs {run['repository']}: {', '.join(parts)}")


def run_text(
    summary: dict[str, Any],
    alerts: tuple[dict[str, Any], ...],
    outdir: Path,
    exit_code: int,
    fired: list[str],
    attached: str | None,
    markdown: bool = False,
) -> str:
    """The short text of a finished run (``attached``: what the do-nothing
    attachment holds, when one goes with it; ``markdown``: the values escaped
    for a target that may render Markdown)."""
    run = summary["run"]
    lines = [
        f"recondiff compared {one_line(run['endpoint'])} (endpoint) with "
        f"{one_line(run['repository'])} (repository).",
        f"Config: {one_line(run['config'])}",
        f"Run: {run['id']}, finished {run['finished_at']}, exit {exit_code} "
        f"({_EXIT.get(exit_code, 'see the exit codes')})",
        f"Sent because: {', '.join(fired)}",
    ]
    if summary["warnings"]:
        lines += ["", "Warnings:"] + [f"- {one_line(w, 400)}" for w in summary["warnings"]]
    lines += ["", f"Alerts: {len(alerts)}"] + [_alert(a, markdown) for a in alerts[:ALERTS_LISTED]]
    if len(alerts) > ALERTS_LISTED:
        lines.append(f"- ... and {len(alerts) - ALERTS_LISTED} more: report.html, report.json")
    lines += ["", "Situations:", *_situations(summary)]
    lines += ["", f"Drift: {summary['drift']['accounts']} accounts, "
                  f"{summary['drift']['rows']} rows, by attribute:"]
    lines += [f"  {one_line(a)}: {n}" for a, n in summary["drift"]["by_attribute"].items() if n]
    plan = summary["plan"]
    lines += ["", f"Plan: {plan['events']} events, "
                  f"{plan.get('by_approval', {}).get('pending', 0)} waiting for approval "
                  "(plan.jsonl)",
              f"Do-nothing cases: {plan['do_nothing']}" + (f" ({attached})" if attached else "")]
    lines += ["", f"Outputs: {outdir.resolve()}",
              "  report.html, summary.json, situations.csv, drift.csv, plan.jsonl, "
              "do_nothing.csv"]
    return "\n".join(lines) + "\n"


def _alert(a: dict[str, Any], markdown: bool) -> str:
    where = f"account {inert(a.get('endpoint_key'), markdown)}"
    if a.get("identity_key") is not None:
        where += f", identity {inert(a['identity_key'], markdown)}"
    value = ""
    if a.get("attribute"):
        value = (f" ({inert(a['attribute'], markdown)} = "
                 f"{inert(a.get('value'), markdown)})")
    return f"- {a.get('situation')}: {where}: {inert(a.get('text'), markdown)}{value}"


def _situations(summary: dict[str, Any]) -> list[str]:
    sync = summary.get("sync_by_situation", {})
    out = []
    for s in SITUATIONS:
        n = summary["situations"][s]
        extra = ""
        if s in sync:
            extra = f" ({sync[s]['in_sync']} in sync, {sync[s]['drifted']} drifted)"
        out.append(f"  {s}: {n}{extra}")
    return out


def summary_json(summary: dict[str, Any]) -> str:
    """summary.json as a JSON webhook receives it (its ``message``)."""
    return json.dumps(summary, ensure_ascii=False, sort_keys=False)


def failure_title(config: str, exit_code: int) -> str:
    return one_line(f"recondiff {config}: the run failed (exit {exit_code})")


def failure_text(
    config: str, exit_code: int, error: str, outdir: Path | None, markdown: bool = False
) -> str:
    """A failed run's text; the error line may quote a value from the
    directory, so for a chat target (``markdown``) it is escaped as one."""
    said = escaped(one_line(error, 1000), markdown) if markdown else one_line(error, 1000)
    lines = [
        f"A recondiff run failed: exit {exit_code} ({_EXIT.get(exit_code, 'failed')}).",
        f"Config: {one_line(config)}",
        f"Error: {said}",
    ]
    if outdir is not None:
        lines.append(f"Outputs: {outdir.resolve()}: the previous run's results are as they were "
                     "(a failed run publishes nothing).")
    return "\n".join(lines) + "\n"


def capped_csv(source: Path, target: Path, max_bytes: int) -> tuple[int, int]:
    """The rows of ``source`` (a CSV with a header) that fit in ``max_bytes``,
    written to ``target``; returns (rows written, rows in all). Whole rows
    only: a quoted value holding a line break stays whole, a value of any
    length is read (no csv field limit), a byte-order mark ([report] csv_bom)
    is kept."""
    bom = source.read_bytes()[:3] == b"\xef\xbb\xbf"
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        return _capped(source, target, max_bytes, bom)
    finally:
        csv.field_size_limit(limit)


def _capped(source: Path, target: Path, max_bytes: int, bom: bool) -> tuple[int, int]:
    with source.open(newline="", encoding="utf-8-sig") as f:
        rows = csv.reader(f)
        header = next(rows, None)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        if header is not None:
            writer.writerow(header)
        size = len(buffer.getvalue().encode("utf-8"))
        kept = total = 0
        for row in rows:
            total += 1
            line = io.StringIO()
            csv.writer(line, lineterminator="\n").writerow(row)
            grown = size + len(line.getvalue().encode("utf-8"))
            if kept == total - 1 and grown <= max_bytes:
                buffer.write(line.getvalue())
                size = grown
                kept += 1
    target.write_text(buffer.getvalue(), encoding="utf-8-sig" if bom else "utf-8")
    return kept, total
