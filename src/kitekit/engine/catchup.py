"""Catching an account up with a market that moved while nothing ran: minute candles fed as price paths.

One rule for everyone who judges resting orders after a gap (the paper broker on fetched candles, the simulator's
exchange on its own market model): minute by minute, each instrument's path through its candle
(:func:`kitekit.engine.path.candle_path`, through every price something rests at) is merged with the others' in
time order and fed to the engine, so a limit fills at its price at the moment the market reached it, and a stop
triggers there. The resting prices are read again every minute: an order filled or a stop fired a minute ago
changes what rests now.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from kitekit.engine.engine import Engine
from kitekit.engine.path import Candle, PathPoint, candle_path, path_quotes
from kitekit.engine.quote import MarketQuote

__all__ = ["MinuteOf", "feed_minute"]


class MinuteOf(NamedTuple):
    """One instrument's candle of a minute, and the point already known inside it (from there to its close)."""

    instrument_token: int
    candle: Candle
    start: PathPoint | None = None


def feed_minute(engine: Engine, minute: Iterable[MinuteOf]) -> None:
    """Feed ``engine`` one minute's paths of several instruments, merged in time order.

    Instruments where nothing rests are skipped: their quotes would change nothing a path must not skip. At the
    same moment, instruments go in the order given.
    """
    levels = engine.resting_levels()
    quotes: list[tuple[datetime, int, MarketQuote]] = []
    for rank, (token, candle, start) in enumerate(minute):
        if token not in levels:
            continue
        points = candle_path(candle, levels[token], start=start)
        quotes.extend((q.timestamp, rank, q) for q in path_quotes(token, points, template=engine.last_quote(token)))
    for _, _, quote in sorted(quotes, key=lambda item: (item[0], item[1])):
        engine.on_quotes([quote], quote.timestamp)
