"""Incremental explores (docs/explore.md, "Incremental runs"): where the last
successful explore of a source got to, kept in the run history
(``history.duckdb``, table ``explores``), and the lower bound of the next read.

A source is the same source when its kind, URL, base, scope and filter are the
same (:func:`source_key`). Changes are read by ``modifyTimestamp`` (OpenLDAP,
389-DS; GeneralizedTime, one-second resolution) or, on Active Directory, by
``uSNChanged`` (``--since-last``) and ``whenChanged`` (``--since T``).

The high-water mark is the largest change value the read saw. An entry changed
*while* the read ran, after its page had gone by, may carry a smaller value than
an entry read later, so the next read starting at the mark would miss it. For
``modifyTimestamp`` the next read therefore starts ``read_seconds + 1`` before
the mark: the server's clock at the start of the previous read was at least
``mark - read_seconds`` (the mark was seen during the read), and any change the
read could miss was made after it started. ``uSNChanged`` is a counter, not a
clock: the next read starts at the mark itself, and a change made during the
previous read may wait for a full run (docs/explore.md says so).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from recondiff.config.source import SourceConfig
from recondiff.errors import InputError
from recondiff.history import History

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
        return Lower(USN, mark, f"uSNChanged {mark}", mark)
    when = parse_time(mark)
    if when is None:
        raise InputError(
            f"{history.path}: the recorded high-water mark {mark!r} of {source_label(source)} "
            "is not a time; run once without --since-last"
        )
    start = when - timedelta(seconds=float(last["read_seconds"]) + 1)
    return Lower(MODIFY_TIMESTAMP, generalized_time(start), start.isoformat(), mark)


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
