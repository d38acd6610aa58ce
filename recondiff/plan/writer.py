"""Writing a plan whose events arrive one at a time (compare's planner): the
events go to a temporary file as they come, tallied and hashed on the way,
and the header (its counts and digest known only at the end) goes in front.
The file's format is :mod:`recondiff.plan.file`'s."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import IO

import orjson

from recondiff.io.canonical import canonical
from recondiff.plan.file import Event, Plan, Sign, Tally, check_header, digest_with, header_line


class PlanWriter:
    """Writes a plan whose events arrive one at a time (compare's planner).

    Events go to a temporary file beside ``path`` as they come, tallied and
    hashed on the way; :meth:`finish` then writes the header (whose counts and
    digest are only known at the end) and copies the events after it. Memory
    stays flat however many events there are. ``keep`` events of each kind the
    report shows (alerts, pending, decided) are kept in memory for it.
    """

    def __init__(self, path: Path, keep: int) -> None:
        self.path = path
        self.keep = keep
        self.tally = Tally()
        self.kept: list[Event] = []
        self._kept_by = Counter[str]()
        self._hash = hashlib.sha256()
        self._temp = path.with_name(f".{path.name}.events")
        self._out: IO[bytes] = self._temp.open("wb")
        self._written = 0

    def add_batch(self, rows: Sequence[tuple[str, str, str, str, str | None]]) -> None:
        """Events as rows of (line, operation, response, state, alert)
        (queries/plan/events.sql), a few thousand at a time: the plan of a 10M
        run has 550,000. DuckDB writes the \\u escape of a control character in
        upper case: a line holding an escape is re-encoded to the canonical form."""
        if not rows:
            return
        lines = [row[0] for row in rows]
        text = "\n".join(lines)
        if "\\u" in text:  # rare: only values holding control characters
            lines = [
                canonical(orjson.loads(line)).decode("utf-8") if "\\u" in line else line
                for line in lines
            ]
            text = "\n".join(lines)
        self._write(text.encode("utf-8"), len(lines))
        counted = Counter((row[1], row[2], row[3], row[4] or None) for row in rows)
        for (operation, response, state, alert), n in counted.items():
            self.tally.count(operation, response, state, alert, n)
        alerts = self._kept_by["alerts"] < self.keep
        pending = self._kept_by["pending"] < self.keep
        decided = self._kept_by["decided"] < self.keep
        if not (alerts or pending or decided):
            return
        for line, (_, _, _, state, alert) in zip(lines, rows, strict=True):
            # the report's lists (alerts, pending, decided) that still take events
            if (
                (alert and alerts)
                or (state == "pending" and pending)
                or (decided and state in ("approved", "rejected"))
            ):
                kinds = self._kinds(state, alert)
                if kinds:
                    self._keep(orjson.loads(line), kinds)
                    alerts = self._kept_by["alerts"] < self.keep
                    pending = self._kept_by["pending"] < self.keep
                    decided = self._kept_by["decided"] < self.keep

    def _write(self, lines: bytes, n: int) -> None:
        """``n`` canonical lines joined by newlines: written and hashed each followed
        by a newline, exactly as the plan file holds them after its header."""
        self._hash.update(lines)
        self._hash.update(b"\n")
        self._out.write(lines)
        self._out.write(b"\n")
        self._written += n

    def _kinds(self, state: str, alert: str | None) -> list[str]:
        """The report's lists an event belongs to that are not full yet."""
        kinds = ["alerts"] if alert else []
        kinds += ["pending"] if state == "pending" else []
        kinds += ["decided"] if state in ("approved", "rejected") else []
        return kinds if any(self._kept_by[k] < self.keep for k in kinds) else []

    def _keep(self, event: Event, kinds: list[str]) -> None:
        self.kept.append(event)
        for k in kinds:
            self._kept_by[k] += 1

    def finish(self, header: Plan, sign: Sign | None = None) -> Plan:
        """Write the file (the header line, then the events); return the header with
        its counts, digest and (``sign``) signature, and as its ``events`` only the
        kept ones (the file has them all)."""
        self._out.close()
        header = {k: v for k, v in header.items() if k not in ("events", "digest", "signature")}
        header["counts"] = self.tally.as_dict()
        header["digest"] = digest_with(header, self._hash.hexdigest())
        if sign is not None:
            header["signature"] = sign(header["digest"])
        check_header(header, self.path)
        try:
            with self.path.open("wb") as out, self._temp.open("rb") as events:
                out.write(header_line(header))
                # 8 MB reads: a 10M run's events in few calls
                shutil.copyfileobj(events, out, 8 << 20)
                out.flush()
                os.fsync(out.fileno())
        finally:
            self._temp.unlink(missing_ok=True)
        return header | {"events": self.kept}

    def abort(self) -> None:
        self._out.close()
        self._temp.unlink(missing_ok=True)
