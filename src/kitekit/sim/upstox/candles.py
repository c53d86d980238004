"""Candles of any Upstox interval from the shared market's minute and day candles, newest first.

The market model serves Kite's intervals; Upstox's (``minutes/1..300``, ``hours/1..5``, ``days``, ``weeks``,
``months``) are built here by folding minute candles into buckets counted from the session's 09:15 open, and
day candles into ISO weeks (starting Monday) and calendar months. A bucket is stamped with its first candle's
time; rows are ``[time, open, high, low, close, volume, oi]`` with ``oi`` 0 outside derivatives.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from kitekit.clock import IST
from kitekit.sim.market import Market
from kitekit.sim.upstox.catalog import UpstoxListing
from kitekit.wire.history import Interval
from kitekit.wire.upstox.history import Unit, V3Interval, candle_time

__all__ = ["upstox_candles"]

_OPEN = time(9, 15)


def _fold(rows: list[list[object]], key_of: object) -> list[list[object]]:
    out: list[list[object]] = []
    last_key: object = None
    for row in rows:
        key = key_of(row[0])  # type: ignore[operator]
        if out and key == last_key:
            bucket = out[-1]
            bucket[2] = max(float(bucket[2]), float(row[2]))  # type: ignore[arg-type]
            bucket[3] = min(float(bucket[3]), float(row[3]))  # type: ignore[arg-type]
            bucket[4] = row[4]
            bucket[5] = int(bucket[5]) + int(row[5])  # type: ignore[call-overload]
            bucket[6] = row[6]
        else:
            out.append(list(row))
            last_key = key
    return out


def upstox_candles(
    market: Market, listing: UpstoxListing, row: int, interval: V3Interval, start: date, end: date, now: datetime
) -> list[list[object]]:
    """Return the candles of ``row`` whose day lies in ``start``..``end``, newest first, nothing after ``now``."""
    uni = listing.universe
    begin = datetime.combine(start, time(0, 0), IST)
    finish = datetime.combine(end, time(23, 59, 59), IST)
    base = Interval.DAY if interval.seconds == 0 else Interval.MINUTE
    rows = market.candles(uni, row, base, begin, finish, now, oi=True)
    for r in rows:
        if len(r) < 7:
            r.append(0)
    if interval.unit in (Unit.MINUTES, Unit.HOURS) and interval.seconds > 60:
        size = interval.seconds

        def bucket(moment: datetime) -> tuple[date, int]:
            local = moment.astimezone(IST)
            since_open = (local - datetime.combine(local.date(), _OPEN, IST)).total_seconds()
            return local.date(), int(since_open // size)

        rows = _fold(rows, bucket)
    elif interval.unit is Unit.WEEKS:
        rows = _fold(rows, lambda m: m.astimezone(IST).date() - timedelta(days=m.astimezone(IST).weekday()))
    elif interval.unit is Unit.MONTHS:
        rows = _fold(rows, lambda m: (m.astimezone(IST).year, m.astimezone(IST).month))
    out = [[candle_time(r[0]), *r[1:7]] for r in rows]  # type: ignore[arg-type]
    out.reverse()  # Upstox answers newest first
    return out
