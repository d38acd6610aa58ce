"""Incremental explores (docs/explore.md, "Incremental runs"): where the last
successful explore of a source got to, kept in the run history
(``history.duckdb``, table ``explores``), and the lower bound of the next read.

A source is the same source when its kind, URL, base, scope and filter are the
same (:func:`source_key`). Changes are read by ``modifyTimestamp`` (OpenLDAP,
389-DS; GeneralizedTime, one-second resolution) or, on Active Directory, by
``uSNChanged`` (``--since-last``) and ``whenChanged`` (``--since T``).

The high-water mark is the largest change value the read saw (M). The next
read asks for the entries changed *after* M's second, unless the last read may
have raced with changes: an entry changed while the read ran, after its page
had gone by, can carry a value below M (when M itself came from a change
during the read), or M's own second (when the read started within it). Both
need the read to have started before the end of M's second on the server's
clock. So with ``modifyTimestamp`` the next read starts at ``M + 1 s`` only when
the last read started at least :data:`CLOCK_MARGIN` seconds after that on this
machine's clock (a directory quiet during the read; clocks within the margin,
as NTP keeps them); otherwise it starts ``read_seconds + 1`` before M, which
covers every change made during the last read (the server's clock at its
start was at least ``M - read_seconds``) and reads a few entries again, which
is harmless. ``uSNChanged`` is a counter, not a clock: the next read starts
after M, and a change made *during* the previous read may wait for a full run
(docs/explore.md says so).
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recondiff.config.source import SourceConfig
from recondiff.errors import InputError
from recondiff.history import History

CLOCK_MARGIN = 2.0
"""Seconds this machine's clock may be ahead of the directory's (see the module doc)."""

USN = "uSNChanged"
MODIFY_TIMESTAMP = "modifyTimestamp"
WHEN_CHANGED = "whenChanged"

_GENERALIZED = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})?(\d{2})?(?:[.,](\d{1,6})\d*)?(Z|[+-]\d{2}(?:\d{2})?)?$"
)


def source_key(source: SourceConfig) -> str:
    """The identity of a source for its high-water mark: kind, URL, base, scope, filter."""
    parts = [source.kind, source.url, source.base or "", source.search_scope, source.filter]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def source_label(source: SourceConfig) -> str:
    """URL, base and filter, as a person reads them (no password: the URL holds none)."""
    if source.kind != "ldap":
        return source.url
    return f"{source.url} {source.base} {source.filter}"


def change_attribute(ad: bool) -> str:
    """What ``--since-last`` reads changes by."""
    return USN if ad else MODIFY_TIMESTAMP


@dataclass(frozen=True)
class Lower:
    """The lower bound of an incremental read: entries whose ``attribute`` is at
    least ``value`` (its LDAP form); ``shown`` says it for people."""

    attribute: str
    value: str
    shown: str
    mark: str | None = None  # the recorded high-water mark it came from (--since-last)


def since_time(when: datetime, ad: bool) -> Lower:
    """``--since T``: entries changed at or after T (whenChanged on AD)."""
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    attribute = WHEN_CHANGED if ad else MODIFY_TIMESTAMP
    return Lower(attribute, generalized_time(when), when.astimezone(UTC).isoformat())


def since_last(history: History, source: SourceConfig, ad: bool, where: str) -> Lower:
    """``--since-last``: from the last successful explore of the same source in ``history``.
    Raises InputError when there is none (a first run must be a full one)."""
    attribute = change_attribute(ad)
    last = history.last_explore(source_key(source), attribute)
    if last is None:
        raise InputError(
            f"{history.path}: no earlier explore of {source_label(source)} is recorded here "
            f"({where}); run once without --since-last (a full read), or pass --state DIR "
            "where that run recorded it"
        )
    mark = str(last["high_water"])
    if attribute == USN:
        try:
            after = str(int(mark) + 1)
        except ValueError:
            raise InputError(
                f"{history.path}: the recorded high-water mark {mark!r} of "
                f"{source_label(source)} is not a uSNChanged number; run once without --since-last"
            ) from None
        return Lower(USN, after, f"uSNChanged {after}", mark)
    when = parse_time(mark)
    if when is None:
        raise InputError(
            f"{history.path}: the recorded high-water mark {mark!r} of {source_label(source)} "
            "is not a time; run once without --since-last"
        )
    explored_at, read_seconds = last["explored_at"], float(last["read_seconds"])
    latest = latest_mark(explored_at, read_seconds)
    if when > latest:
        print(
            f"recondiff: WARNING: {history.path}: the recorded high-water mark {mark} of "
            f"{source_label(source)} is later than that explore ended ({latest.isoformat()}): "
            "the directory's clock or data is wrong; reading the changes since that explore "
            "began instead",
            file=sys.stderr,
            flush=True,
        )
        when = explored_at
        mark = generalized_time(when)
    start = next_start(when, explored_at, read_seconds)
    return Lower(MODIFY_TIMESTAMP, generalized_time(start), start.isoformat(), mark)


def latest_mark(explored_at: datetime, read_seconds: float) -> datetime:
    """The latest high-water mark an explore that began at ``explored_at`` and took
    ``read_seconds`` can truly have seen (clocks within :data:`CLOCK_MARGIN`)."""
    return explored_at + timedelta(seconds=read_seconds + CLOCK_MARGIN)


def next_start(mark: datetime, explored_at: datetime, read_seconds: float) -> datetime:
    """Where the read after one that saw ``mark`` starts (see the module doc)."""
    second = mark.replace(microsecond=0)
    try:
        after = second + timedelta(seconds=1)
        if explored_at >= after + timedelta(seconds=CLOCK_MARGIN):
            return after
    except OverflowError:  # a mark at the end of time (9999): never after it
        pass
    return second - timedelta(seconds=math.ceil(read_seconds) + 1)


def generalized_time(when: datetime) -> str:
    """``YYYYmmddHHMMSSZ`` (GeneralizedTime, UTC, whole seconds rounded down)."""
    return when.astimezone(UTC).strftime("%Y%m%d%H%M%SZ")


def parse_time(text: str) -> datetime | None:
    """A GeneralizedTime (``20261207060518Z``, with fractions or an offset) or an
    ISO 8601 time as an aware UTC datetime; None when it is neither."""
    text = text.strip()
    m = _GENERALIZED.match(text)
    if m:
        year, month, day, hour, minute, second, fraction, zone = m.groups()
        try:
            when = datetime(
                int(year), int(month), int(day), int(hour), int(minute or 0), int(second or 0),
                int((fraction or "0").ljust(6, "0")), tzinfo=UTC,
            )  # fmt: skip
        except ValueError:
            return None
        if zone and zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[3:5] or 0))
            when -= sign * offset
        return when
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def newer_mark(attribute: str, old: str | None, seen: Any) -> str | None:
    """The larger of a recorded mark and what a read saw (``new`` as the reader
    gives it: text, a number or a datetime; None: the read saw no entry)."""
    if seen is None or seen == "":
        return old
    new = generalized_time(seen) if isinstance(seen, datetime) else str(seen)
    if old is None:
        return new
    if attribute == USN:
        try:
            return new if int(new) >= int(old) else old
        except ValueError:
            return new
    a, b = parse_time(old), parse_time(new)
    if a is None or b is None:
        return new
    return new if b >= a else old


@dataclass(frozen=True)
class ExploreRecord:
    """One successful explore, for :meth:`History.record_explore`."""

    source: SourceConfig
    attribute: str
    explored_at: datetime
    read_seconds: float
    high_water: str | None
    lower: Lower | None
    entries: int
    snapshot: Path

    def record(self, history: History) -> None:
        history.record_explore(
            {
                "source_key": source_key(self.source),
                "source": source_label(self.source),
                "explored_at": self.explored_at,
                "read_seconds": self.read_seconds,
                "change_attribute": self.attribute,
                "high_water": self.high_water,
                "delta": self.lower is not None,
                "since": None if self.lower is None else self.lower.value,
                "entries": self.entries,
                "snapshot": str(self.snapshot),
            }
        )
