"""The charts of ``report.html``: geometry only (bar lengths, trend points);
every number comes from ``report.json`` as :mod:`recondiff.report.document` read it.
Drawn by ``reports/_charts.html.j2``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from recondiff.report.document import AttributeDrift, Report, TrendPoint


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    fraction: float
    """value / the chart's largest value, 0..1"""
    note: str
    kind: str
    part: float
    """a highlighted part of the bar (drifted of a segment's accounts), 0..1 of the largest"""


@dataclass(frozen=True)
class Trend:
    width: int
    height: int
    labels: tuple[tuple[float, str], ...]
    series: tuple[tuple[str, str, tuple[tuple[float, float, int], ...]], ...]
    """(name, css class, points (x, y, value))"""
    top: int


def _bars(items: list[tuple[str, int, str, str, int]]) -> tuple[Bar, ...]:
    """Bars of (label, value, note, kind, highlighted part), scaled to the largest value."""
    largest = max((item[1] for item in items), default=0)

    def scale(n: int) -> float:
        return round(n / largest, 4) if largest else 0.0

    return tuple(
        Bar(label, value, scale(value), note, kind, scale(part))
        for label, value, note, kind, part in items
    )


def _trend(points: tuple[TrendPoint, ...]) -> Trend | None:
    if len(points) < 2:
        return None
    width, height, pad = 640, 180, 30
    top = max(max(p.differences, p.drift_accounts) for p in points) or 1
    step = (width - 2 * pad) / (len(points) - 1)

    def xy(i: int, v: int) -> tuple[float, float, int]:
        return (round(pad + i * step, 1), round(height - pad - (height - 2 * pad) * v / top, 1), v)

    return Trend(
        width=width,
        height=height,
        labels=tuple((round(pad + i * step, 1), p.finished_at[:10]) for i, p in enumerate(points)),
        series=(
            ("differences", "s-diff", tuple(xy(i, p.differences) for i, p in enumerate(points))),
            (
                "drifted accounts",
                "s-drift",
                tuple(xy(i, p.drift_accounts) for i, p in enumerate(points)),
            ),
        ),
        top=top,
    )


def _drift_note(a: AttributeDrift) -> str:
    parts = [f"{a.changed} changed"] if a.changed or not (a.added or a.removed) else []
    if a.added or a.removed:
        parts.append(f"+{a.added} −{a.removed}")
    return ", ".join(parts)


def charts(report: Report) -> dict[str, Any]:
    """The page's charts, by name (``situations``, ``attributes``, ``top_values``,
    ``segments``, ``trend``); ``segments`` and ``trend`` may be None."""
    return {
        "situations": _bars(
            [(s.situation, s.count, f"{s.percent:g} %", s.situation, 0) for s in report.situations]
        ),
        "attributes": _bars(
            [(a.attribute, a.accounts, _drift_note(a), "drift", 0) for a in report.attributes]
        ),
        "top_values": _bars(
            [(f"{v.attribute}: {v.value}", v.count, v.kind, v.kind, 0) for v in report.top_values]
        ),
        "segments": None
        if report.segments is None
        else _bars(
            [
                (
                    r.value if r.value is not None else "(none)",
                    r.accounts,
                    f"{r.drifted} of {r.accounts} drifted",
                    "segment",
                    r.drifted,
                )
                for r in report.segments.rows
            ]
        ),
        "trend": _trend(report.history.trend),
    }
