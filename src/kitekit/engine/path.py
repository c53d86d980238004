"""The path a price takes through minute candles, as engine quotes: pure, no I/O, no clock.

A candle tells where the price opened, how high and low it went and where it closed, not in which order. The
path here is the conventional one: the open, then the nearer extreme, then the other one, then the close (a
tie goes the way the candle closed: the low first for a rising candle, the high first for a falling one), each
leg a straight line in time, so its moments are proportional to the distance travelled. Every *level* a leg
crosses (a price something rests at: a limit, a stop's trigger, a GTT's trigger value) becomes a point of its
own, stamped when the line reaches it. Fed to :class:`~kitekit.engine.Engine` in order as
:func:`path_quotes`, a resting buy at P meets a quote at exactly P at that moment and fills at P; a candle that
opens through P fills it at the open instead (a gap: nothing traded in between). Stops trigger the same way.

The same crossing rule joins successive observations (ticks, or quotes fetched now and then) with
:func:`through`: between two observed prices the market traded through every level in between, at a moment
no later than the second observation.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from kitekit.clock import ensure_aware
from kitekit.engine.quote import Level, MarketQuote

__all__ = ["MINUTE", "UNBOUNDED", "Candle", "PathPoint", "candle_path", "path_quotes", "price_path", "through"]

#: The span of a minute candle.
MINUTE = timedelta(minutes=1)
#: The quantity a path quote offers when the candle's volume is not known.
UNBOUNDED = 10**12
#: Price tolerance for comparing levels on floats.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Candle:
    """One candle: its start time (aware), open, high, low, close and volume (0 when not known)."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int = 0

    def __post_init__(self) -> None:
        ensure_aware(self.start)

    @classmethod
    def from_kite(cls, row: Mapping[str, Any] | Sequence[Any]) -> Candle:
        """Build a candle from a row of Kite's historical answer.

        Args:
            row: a dict as the SDK's ``historical_data()`` returns (``date``, ``open``, …), or a list as Kite
                sends it (``[time, open, high, low, close, volume(, oi)]``, the time an ISO text with offset).

        Raises:
            ValueError: the row has no time zone or too few fields.
        """
        if isinstance(row, Mapping):
            start, values = row["date"], [row["open"], row["high"], row["low"], row["close"], row.get("volume", 0)]
        else:
            if len(row) < 5:
                raise ValueError(f"a candle row needs time, open, high, low and close, not {row!r}")
            start, values = row[0], [*row[1:5], row[5] if len(row) > 5 else 0]
        moment = start if isinstance(start, datetime) else datetime.fromisoformat(str(start))
        o, h, lo, c = (float(v) for v in values[:4])
        return cls(ensure_aware(moment), o, h, lo, c, int(values[4] or 0))


class PathPoint(NamedTuple):
    """One point of a price path: when, at what price, and the volume its candle traded (0: not known)."""

    time: datetime
    price: float
    volume: int = 0


def _crossed(a: float, b: float, levels: Sequence[float]) -> list[float]:
    """Return the levels strictly between ``a`` and ``b``, in the order a move from ``a`` to ``b`` meets them."""
    if b > a:
        return [x for x in levels if a + _EPS < x < b - _EPS]
    return [x for x in reversed(levels) if b + _EPS < x < a - _EPS]


def _vertices(candle: Candle) -> list[float]:
    """Return the prices the path turns at: open, the nearer extreme, the other, close."""
    high = max(candle.high, candle.open, candle.close)  # a bad row (high under the close) is read as what it implies
    low = min(candle.low, candle.open, candle.close)
    down, up = candle.open - low, high - candle.open
    low_first = down < up or (down == up and candle.close >= candle.open)
    return [candle.open, low, high, candle.close] if low_first else [candle.open, high, low, candle.close]


def _walk(prices: list[float], levels: Sequence[float]) -> list[tuple[float, float]]:
    """Return ``(price, distance travelled)`` for the turning prices and every level crossed between them."""
    out = [(prices[0], 0.0)]
    travelled = 0.0
    for a, b in itertools.pairwise(prices):
        if abs(b - a) <= _EPS:
            continue
        for x in [*_crossed(a, b, levels), b]:
            out.append((x, travelled + abs(x - a)))
        travelled += abs(b - a)
    return out


def _stamp(walked: list[tuple[float, float]], first: datetime, last: datetime, volume: int) -> list[PathPoint]:
    # Moments go in whole seconds (Kite's resolution), proportional to the distance travelled, never backwards.
    total = walked[-1][1]
    seconds = max((last - first).total_seconds(), 0.0)
    points = []
    for price, distance in walked:
        offset = math.floor(seconds * distance / total) if total > 0 else 0
        points.append(PathPoint(first + timedelta(seconds=offset), price, volume))
    return points


def candle_path(
    candle: Candle, levels: Iterable[float] = (), *, span: timedelta = MINUTE, start: PathPoint | None = None
) -> list[PathPoint]:
    """Return the points the price takes through ``candle``, the ``levels`` it crosses inserted in order.

    The open is at the candle's start and the close at its last whole second (``span`` after the start, less
    one second); the points between are stamped in proportion to the distance travelled.

    Args:
        candle: the candle.
        levels: the prices that matter (limits, triggers); the order does not matter.
        span: the candle's length.
        start: a point already known inside the candle (the last price seen at some moment of it): the path
            then runs from it straight to the close, since the candle cannot tell whether its high and low came
            before or after that moment; ``start`` itself is not returned.

    Returns:
        The points, oldest first; consecutive repeats of one price are left out.
    """
    ordered = sorted(set(levels))
    end = candle.start + span - timedelta(seconds=1)
    if start is None:
        return _stamp(_walk(_vertices(candle), ordered), candle.start, end, candle.volume)
    if abs(start.price - candle.close) <= _EPS:
        return []
    return _stamp(_walk([start.price, candle.close], ordered), start.time, end, candle.volume)[1:]


def price_path(
    candles: Iterable[Candle],
    levels: Iterable[float] = (),
    *,
    span: timedelta = MINUTE,
    start: PathPoint | None = None,
) -> list[PathPoint]:
    """Return the path through consecutive candles (see :func:`candle_path`), oldest first.

    Args:
        candles: the candles, in any order.
        levels: the prices that matter.
        span: each candle's length.
        start: the last point already known: candles that ended by then are skipped, the one it falls in
            (after its first moment) is taken from it to its close, later ones whole.
    """
    ordered = sorted(set(levels))
    out: list[PathPoint] = []
    for candle in sorted(candles, key=lambda c: c.start):
        if start is not None and candle.start + span <= start.time:
            continue
        inside = start is not None and candle.start < start.time  # a start right at the open takes it whole
        out.extend(candle_path(candle, ordered, span=span, start=start if inside else None))
    return out


def through(
    points: Iterable[PathPoint], levels: Iterable[float] = (), *, start: PathPoint | None = None
) -> list[PathPoint]:
    """Return observed points (ticks, quotes) with every level crossed between two of them inserted.

    Between two observations the price went from one to the other, through every level in between, at some
    moment no later than the second: the crossings are stamped with the second's time (and volume).

    Args:
        points: the observations, oldest first.
        levels: the prices that matter.
        start: the observation before ``points`` (not returned).
    """
    ordered = sorted(set(levels))
    out: list[PathPoint] = []
    previous = start
    for point in points:
        if previous is not None:
            out.extend(PathPoint(point.time, x, point.volume) for x in _crossed(previous.price, point.price, ordered))
        out.append(point)
        previous = point
    return out


def path_quotes(
    instrument_token: int, points: Iterable[PathPoint], *, template: MarketQuote | None = None
) -> list[MarketQuote]:
    """Return a quote per point: the point's price as the last price and as the one level on each side.

    Each quote offers the point's volume at its price, both sides (:data:`UNBOUNDED` when the volume is not
    known), so an order resting at or through that price fills there. Circuit limits and the previous close
    come from ``template`` (the last real quote), when given.
    """
    lower = template.lower_circuit_limit if template else 0.0
    upper = template.upper_circuit_limit if template else 0.0
    close = template.close if template else 0.0
    average = template.average_price if template else 0.0  # the price bands' reference
    out = []
    for point in points:
        level = (Level(point.price, point.volume or UNBOUNDED, 1),)
        out.append(MarketQuote(instrument_token, point.price, point.time, level, level, lower, upper, close, average))
    return out
