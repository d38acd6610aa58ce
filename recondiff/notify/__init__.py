"""Notifications (docs/notify.md): a run that nobody watches tells the people
in ``[[notify]]`` what they must know, through Apprise.

After a run (:func:`after_run`): each target whose ``on`` fired gets the short
text (a JSON webhook: summary.json), a ``do_nothing`` target the do-nothing
cases as a capped CSV; summary.json then records, per target, whether it was
sent and why not. After a failed run (:func:`after_failure`, exit 2 or 3): the
targets on ``failure`` or ``always`` get the one-line error. :func:`test`
sends a test message to every target.

A notification never costs a run: a target that fails is a :class:`Delivery`
with a reason (recondiff/notify/send.py), the caller says it in one line, and
the outputs and the exit code stay the reconciliation's.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recondiff.config.model import Config
from recondiff.config.notify import NotifyTarget
from recondiff.errors import RecondiffError
from recondiff.io.atomic import write_text_atomically
from recondiff.notify import message as msg
from recondiff.notify.send import Delivery, Message, deliver

__all__ = ["Delivery", "Notified", "after_failure", "after_run", "due", "test"]


@dataclass(frozen=True)
class Notified:
    deliveries: list[Delivery | None]  # per target, in file order; None: not due
    warning: str | None = None  # summary.json could not record them (a full disk)


def due(
    target: NotifyTarget, summary: dict[str, Any], exit_code: int, stale: bool
) -> list[str]:
    """What fired for ``target`` in a finished run: a subset of its ``on`` (and
    ``situation NAME`` for each of its situations that is non-zero)."""
    fired = []
    on = target.on
    if "always" in on:
        fired.append("always")
    if "alerts" in on and (summary["alerts"] or stale):
        fired.append("alerts")
    if "differences" in on and exit_code == 1:
        fired.append("differences")
    if "do_nothing" in on and summary["plan"]["do_nothing"]:
        fired.append("do_nothing")
    fired += [f"situation {s}" for s in target.situations if summary["situations"][s]]
    return fired


def after_run(
    cfg: Config,
    summary: dict[str, Any],
    alerts: tuple[dict[str, Any], ...],
    stale: tuple[str, ...],
    outdir: Path,
    exit_code: int,
    environ: Mapping[str, str] | None = None,
) -> Notified:
    """Notify the targets due after a finished run, in file order, then record
    ``notifications`` in OUTDIR/summary.json (and in ``summary``). Never
    raises for a target's sake, nor for summary.json's: the run is done."""
    if not cfg.notify:
        return Notified([])
    results: list[Delivery | None] = []
    entries = []
    with tempfile.TemporaryDirectory(prefix="recondiff-notify-") as tmp:
        for target in cfg.notify:
            fired = due(target, summary, exit_code, bool(stale))
            delivery = None
            if fired:
                try:
                    message = _run_message(target, summary, alerts, outdir, exit_code, fired,
                                           bool(stale), Path(tmp))
                except Exception as exc:  # this target's message, not the others', is lost
                    delivery = Delivery(target, False, f"the message could not be made: "
                                                       f"{type(exc).__name__}")
                else:
                    delivery = deliver(target, message, environ)
            results.append(delivery)
            entries.append({
                "target": target.label,
                "status": "not_due" if delivery is None else
                          "sent" if delivery.sent else "failed",
                "on": fired,
                "why": delivery.why if delivery else None,
            })
    summary["notifications"] = entries
    text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
    try:
        write_text_atomically(outdir / "summary.json", text, "summary.json")
    except RecondiffError as exc:
        return Notified(results, f"summary.json does not record the notifications: {exc}")
    return Notified(results)


def _run_message(
    target: NotifyTarget,
    summary: dict[str, Any],
    alerts: tuple[dict[str, Any], ...],
    outdir: Path,
    exit_code: int,
    fired: list[str],
    stale: bool,
    tmp: Path,
) -> Message:
    attachment, attached = None, None
    if "do_nothing" in fired:
        attachment = tmp / f"{target.index}" / "do_nothing.csv"
        attachment.parent.mkdir()
        kept, total = msg.capped_csv(outdir / "do_nothing.csv", attachment,
                                     target.max_attachment_kb * 1024)
        attached = (f"attached: do_nothing.csv, all {total}" if kept == total else
                    f"attached: the first {kept} of {total} in do_nothing.csv; all of them: "
                    f"{(outdir / 'do_nothing.csv').resolve()}")
    title = msg.run_title(summary, stale)
    body = msg.run_text(summary, alerts, outdir, exit_code, fired, attached,
                        markdown=target.scheme not in msg.PLAIN_SCHEMES)
    if target.scheme in msg.JSON_SCHEMES:
        body = msg.summary_json(summary)
    kind = "warning" if summary["alerts"] or stale else "info"
    return Message(title=title, body=body, kind=kind, attachment=attachment)


def after_failure(
    cfg: Config,
    exit_code: int,
    error: str,
    outdir: Path | None,
    environ: Mapping[str, str] | None = None,
) -> list[Delivery]:
    """Notify the targets on ``failure`` or ``always`` of a run that failed
    (exit 2 or 3) with the one-line ``error``."""
    title = msg.failure_title(f"{cfg.endpoint.name} vs {cfg.repository.name}", exit_code)
    return [
        deliver(target, Message(title=title, kind="failure", body=msg.failure_text(
            str(cfg.path), exit_code, error, outdir,
            markdown=target.scheme not in msg.PLAIN_SCHEMES)), environ)
        for target in cfg.notify
        if "failure" in target.on or "always" in target.on
    ]


def test(cfg: Config, environ: Mapping[str, str] | None = None) -> list[Delivery]:
    """A test message to every target (``recondiff notify test``)."""
    title = msg.one_line(f"recondiff {cfg.endpoint.name}: a test message")
    body = (f"A test message from recondiff, config {msg.one_line(str(cfg.path))}: "
            "this target is reachable and will receive what its `on` asks for.\n")
    return [deliver(target, Message(title=title, body=body), environ) for target in cfg.notify]
