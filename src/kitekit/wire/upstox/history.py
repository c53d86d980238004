"""Upstox's candle intervals and span caps, v2 and v3, and the candle row: ``[time, o, h, l, c, volume, oi]``.

v2 names five intervals (``1minute``, ``30minute``, ``day``, ``week``, ``month``); v3 takes a unit and a
count (``minutes`` 1–300, ``hours`` 1–5, ``days``/``weeks``/``months`` 1). A request spanning more than its
interval's cap is refused, not truncated. Candles come newest first, times ISO 8601 with ``+05:30``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from kitekit.clock import IST

__all__ = [
    "V2_INTERVALS",
    "V2_INTRADAY",
    "Span",
    "Unit",
    "V3Interval",
    "candle_time",
    "check_span",
    "parse_v2_interval",
    "parse_v3_interval",
]


class Unit(StrEnum):
    """v3's interval units (the path's ``{unit}``)."""

    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"
    MONTHS = "months"


@dataclass(frozen=True)
class Span:
    """The most one request may span (``months`` calendar months, None for no cap) and the first day served."""

    months: int | None
    earliest: date


@dataclass(frozen=True)
class V3Interval:
    """A v3 interval: a unit and a count (``minutes/5``); ``seconds`` is one candle's length (0 beyond a day)."""

    unit: Unit
    count: int

    @property
    def seconds(self) -> int:
        """Return the candle length in seconds for minutes and hours, 0 for day-and-longer candles."""
        return {Unit.MINUTES: 60, Unit.HOURS: 3600}.get(self.unit, 0) * self.count

    @property
    def span(self) -> Span:
        """Return this interval's cap: minutes ≤15 a month, other minutes and hours a quarter, days a decade."""
        if self.unit is Unit.MINUTES:
            return Span(1 if self.count <= 15 else 3, date(2022, 1, 1))
        if self.unit is Unit.HOURS:
            return Span(3, date(2022, 1, 1))
        if self.unit is Unit.DAYS:
            return Span(120, date(2000, 1, 1))
        return Span(None, date(2000, 1, 1))


_V3_COUNTS: dict[Unit, range] = {
    Unit.MINUTES: range(1, 301),
    Unit.HOURS: range(1, 6),
    Unit.DAYS: range(1, 2),
    Unit.WEEKS: range(1, 2),
    Unit.MONTHS: range(1, 2),
}

#: v2's intervals as v3 intervals, with v2's own caps. SIM: v2's caps are not in the SDK; these follow
#: Upstox's v2 page as summarised (1minute a month, 30minute a year, day a decade, week/month none).
V2_INTERVALS: dict[str, tuple[V3Interval, Span]] = {
    "1minute": (V3Interval(Unit.MINUTES, 1), Span(1, date(2022, 1, 1))),
    "30minute": (V3Interval(Unit.MINUTES, 30), Span(12, date(2022, 1, 1))),
    "day": (V3Interval(Unit.DAYS, 1), Span(120, date(2000, 1, 1))),
    "week": (V3Interval(Unit.WEEKS, 1), Span(None, date(2000, 1, 1))),
    "month": (V3Interval(Unit.MONTHS, 1), Span(None, date(2000, 1, 1))),
}

#: The intraday routes take these v2 intervals.
V2_INTRADAY = ("1minute", "30minute")


def parse_v3_interval(unit: str, count: str) -> V3Interval | None:
    """Return the v3 interval of path parts ``unit`` and ``count``, or None when Upstox refuses them."""
    try:
        u = Unit(unit)
    except ValueError:
        return None
    if not (count.isascii() and count.isdigit()) or int(count) not in _V3_COUNTS[u]:
        return None
    return V3Interval(u, int(count))


def parse_v2_interval(name: str) -> tuple[V3Interval, Span] | None:
    """Return a v2 interval name's interval and cap, or None."""
    return V2_INTERVALS.get(name)


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def check_span(span: Span, start: date, end: date) -> str | None:
    """Return why Upstox refuses ``start``..``end`` (inclusive) under ``span``, or None when it is served."""
    if end < start:
        return "to_date must be greater than or equal to from_date"
    if span.months is not None and _add_months(start, span.months) <= end:
        return f"Invalid date range: at most {span.months} month(s) per request for this interval"
    return None


def candle_time(moment: datetime) -> str:
    """Return a candle's time as Upstox writes it: ``2025-01-02T09:15:00+05:30``."""
    return moment.astimezone(IST).replace(microsecond=0).isoformat()
