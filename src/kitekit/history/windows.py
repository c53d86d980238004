"""Splitting a historical range into the request windows Kite serves, each candle asked for exactly once.

Kite caps the span of one ``GET /instruments/historical`` request by interval (``Interval.max_days``) and
treats ``from`` and ``to`` as both inclusive, at one-second resolution (``yyyy-mm-dd hh:mm:ss``). A range
is therefore cut into windows that together cover every second of it once:

* **Intraday intervals** split greedily from the range's own start: each window spans exactly the
  interval's maximum (``to - from == max_days``, the limit itself is allowed), and the next one starts one
  second after the previous one ends. The fewest requests, so the fewest slots of the 3/s budget; a
  candle stamped at a seam belongs to the window that ends there. Sub-second parts are rounded inward
  (start up, end down), since the wire format cannot carry them and candles are stamped on whole seconds.
* **Day candles** are stamped ``00:00`` IST, one per date, so a day range covers whole IST dates: from the
  start's date to the end's date, both included, even when ``start`` is later in its day. Every window
  runs from one date's midnight to a later date's midnight (``max_days`` apart at most, so a window holds
  up to ``max_days + 1`` candles) and the next starts at the following date's midnight.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from kitekit.clock import IST
from kitekit.errors import HistoryRangeError
from kitekit.wire.history import Interval

__all__ = ["Window", "coerce_interval", "split_windows"]

_SECOND = timedelta(seconds=1)


class Window(NamedTuple):
    """One request's range in IST, both ends inclusive as Kite reads ``from`` and ``to``."""

    start: datetime
    end: datetime


def coerce_interval(interval: Interval | str) -> Interval:
    """Return ``interval`` as an :class:`Interval`, accepting its wire name (``"5minute"``).

    Raises:
        HistoryRangeError: not one of the eight intervals Kite serves; the message lists them.
    """
    try:
        return Interval(interval)
    except ValueError:
        allowed = ", ".join(i.value for i in Interval)
        raise HistoryRangeError(f"unknown candle interval {interval!r}; Kite serves {allowed}") from None


def split_windows(start: datetime, end: datetime, interval: Interval | str) -> list[Window]:
    """Return the consecutive request windows covering ``[start, end]``, each within Kite's span limit.

    See the module docstring for how windows align; the limits come from ``Interval.max_days``.

    Args:
        start: the first moment wanted, timezone-aware (any zone; windows are in IST).
        end: the last moment wanted (inclusive), timezone-aware.
        interval: the candle interval, as an :class:`Interval` or its wire name.

    Returns:
        Windows in time order, gap-free and non-overlapping. Empty only for an intraday range that holds
        no whole second (both ends inside the same second), where no candle can be stamped.

    Raises:
        HistoryRangeError: a naive datetime, ``start`` after ``end``, or an unknown interval.
    """
    chosen = coerce_interval(interval)
    first, last = _aware(start, "start").astimezone(IST), _aware(end, "end").astimezone(IST)
    if first > last:
        raise HistoryRangeError(
            f"start {first.isoformat()} is after end {last.isoformat()}; "
            "give start <= end (both ends are inclusive, so start == end asks for one moment)"
        )
    span = timedelta(days=chosen.max_days)
    if not chosen.intraday:
        return _day_windows(first.date(), last.date(), span)
    at, stop = _ceil_second(first), last.replace(microsecond=0)
    windows: list[Window] = []
    while at <= stop:
        until = min(at + span, stop)
        windows.append(Window(at, until))
        at = until + _SECOND
    return windows


def _day_windows(first: date, last: date, span: timedelta) -> list[Window]:
    windows: list[Window] = []
    while first <= last:
        until = min(first + span, last)
        windows.append(Window(_midnight(first), _midnight(until)))
        first = until + timedelta(days=1)
    return windows


def _aware(moment: datetime, name: str) -> datetime:
    if not isinstance(moment, datetime):
        raise HistoryRangeError(
            f"{name} must be a timezone-aware datetime, got {type(moment).__name__} {moment!r}; "
            "e.g. datetime(2024, 1, 1, 9, 15, tzinfo=kitekit.clock.IST)"
        )
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise HistoryRangeError(
            f"{name} {moment.isoformat()} is a naive datetime; attach a timezone, "
            "e.g. datetime(2024, 1, 1, 9, 15, tzinfo=kitekit.clock.IST)"
        )
    return moment


def _ceil_second(moment: datetime) -> datetime:
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + _SECOND


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=IST)
