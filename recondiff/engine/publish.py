"""The publish phase: a run's outputs are written into a staging directory
inside OUTDIR and renamed into place at the end, ``summary.json`` last, so a
failed or interrupted run never leaves a half-written result.

:func:`staging` makes the directory and removes it after; while it is open,
a Python write that fails (a full disk, mostly; DuckDB's writes fail in
:mod:`recondiff.engine.steps`) becomes one line saying whether the previous
results are untouched. :meth:`Staging.publish` does the renames.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from recondiff.engine.workdirs import STAGING_PREFIX, owned_directory
from recondiff.errors import InputError, first_line, no_space

OUTPUT_FILES = (
    "situations.parquet",
    "situations.csv",
    "drift.parquet",
    "drift.csv",
    "drift_diff.csv",
    "plan.jsonl",
    "do_nothing.csv",
    "report.json",
    "report.html",
)
"""Every file a run publishes but summary.json, in the order they are renamed."""

POLICY_FILES = ("expected.parquet", "policies.parquet", "policy_conflicts.csv")
"""The files only a run with identity policies publishes (engine/policies.py); a run
without removes those a previous run left, so OUTDIR never mixes two runs."""

SUMMARY = "summary.json"


@dataclass
class Staging:
    path: Path  # the staging directory
    out: Path  # where its files go
    swapping: bool = False  # the renames have begun

    def write_summary(self, summary: dict[str, Any]) -> None:
        """summary.json, staged last: it holds the timings of every phase before it."""
        text = json.dumps(summary, indent=2, ensure_ascii=False) + "\n"
        (self.path / SUMMARY).write_text(text, encoding="utf-8")

    def publish(self) -> None:
        """Rename every output into place, summary.json last (each flushed to
        disk first). summary.json marks a complete result: it leaves first and
        comes back last, and an interrupt waits until the swap is done."""
        optional = [name for name in POLICY_FILES if (self.path / name).exists()]
        for name in (*OUTPUT_FILES, *optional, SUMMARY):
            _fsync(self.path / name)
        with _interrupts_deferred():
            self.swapping = True
            archive_decided_plan(self.out)
            (self.out / SUMMARY).unlink(missing_ok=True)
            for name in POLICY_FILES:
                if name not in optional:
                    (self.out / name).unlink(missing_ok=True)
            for name in (*OUTPUT_FILES, *optional, SUMMARY):
                os.replace(self.path / name, self.out / name)


DECIDED = "decided"
"""OUTDIR/decided/: the plans a later run replaced, each with its decisions and journal."""

_PLAN_FILES = ("plan.jsonl", "plan.decisions.jsonl", "plan.journal.jsonl")


def archive_decided_plan(out: Path) -> Path | None:
    """Move the plan a new run replaces into ``OUTDIR/decided/PLAN_ID-DIGEST/``
    with its decisions ledger and apply journal, when it has either: they belong
    to that plan (its digest), not to the new one, and are the record of what
    was decided and done. A plan nobody decided on is simply replaced."""
    plan, ledger, journal = (out / name for name in _PLAN_FILES)
    if not any(p.exists() or p.is_symlink() for p in (ledger, journal)):
        return None
    decided = out / DECIDED
    if decided.is_symlink() or (decided.exists() and not decided.is_dir()):
        raise InputError(
            f"{decided}: not a directory recondiff made (a symbolic link?); the replaced "
            "plan and its decisions go there: remove it and run again"
        )
    target = decided / _archive_name(plan)
    target.mkdir(parents=True, exist_ok=True)
    for path in (plan, ledger, journal):
        if path.exists() or path.is_symlink():
            os.replace(path, target / path.name)
    return target


def _archive_name(plan: Path) -> str:
    """``PLAN_ID-DIGEST12`` of the plan's header line; a time stamp if unreadable."""
    try:
        with plan.open("rb") as f:
            header = json.loads(f.readline())
        name = f"{header['plan_id']}-{header['digest'].removeprefix('sha256:')[:12]}"
        if all(c.isalnum() or c == "-" for c in name):
            return name
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return "unreadable-" + str(time.time_ns())


@contextmanager
def staging(out: Path) -> Iterator[Staging]:
    """A staging directory inside ``out`` (made, with ``out``, if need be),
    removed on the way out. An OSError inside is one line: the previous
    results are untouched, or, once the renames have begun, incomplete."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        path, lock = owned_directory(out, STAGING_PREFIX)
    except OSError as exc:
        raise InputError(
            f"{out}: cannot write the output directory ({exc.strerror}); pass another -o"
        ) from None
    staged = Staging(path, out)
    try:
        yield staged
    except OSError as exc:  # a full disk, mostly: Python's writes (DuckDB's: steps.py)
        what = "no space left on device" if no_space(exc) else (exc.strerror or first_line(exc))
        kept = (
            "the results there are incomplete (no summary.json); run again"
            if staged.swapping
            else "the previous results are untouched; free some space or pass another -o"
        )
        raise InputError(f"{out}: cannot write the results ({what}); {kept}") from exc
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(lock)


@contextmanager
def _interrupts_deferred() -> Iterator[None]:
    """Hold SIGINT and SIGTERM (in the main thread) for a few renames; they arrive after.

    Their Python handlers are swapped for one that only notes the signal, and
    the first one noted is raised again after. Blocking them in the main
    thread (pthread_sigmask) was not enough: the kernel hands a process signal
    to any thread that does not block it (DuckDB's workers), and Python then
    runs the handler in the main thread at once, between two renames."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    held = (signal.SIGINT, signal.SIGTERM)
    previous = {s: signal.getsignal(s) for s in held}
    for s in held:
        if previous[s] is not None:  # None: not set from Python, leave it
            signal.signal(s, hold)
    try:
        yield
    finally:
        for s, handler in previous.items():
            if handler is not None:
                signal.signal(s, handler)
        if pending:
            signal.raise_signal(pending[0])


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
