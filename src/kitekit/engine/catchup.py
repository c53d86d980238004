"""Catching an account up with a market that moved while nothing ran: minute candles fed as price paths.

One rule for everyone who judges resting orders after a gap (the paper broker on fetched candles, the simulator's
exchange on its own market model): minute by minute, each instrument's path through its candle
(:func:`kitekit.engine.path.candle_path`, through every price something rests at) is merged with the others' in
time order and fed to the engine, so a limit fills at its price at the moment the market reached it, and a stop
triggers there. The resting prices are read again every minute: an order filled or a stop fired a minute ago
changes what rests now.

Between two observations of the market (quotes fetched now and then, live ticks) the same holds: the price went
from one to the other through every resting price in between, so those are fed first (:func:`feed_quotes`,
:func:`feed_ticks`). The paper broker and a backtest on recorded ticks judge orders with these very functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

from kitekit.engine.engine import Engine
from kitekit.engine.path import Candle, PathPoint, candle_path, path_quotes, through
from kitekit.engine.quote import MarketQuote

__all__ = ["MinuteOf", "TickFed", "crossings", "feed_minute", "feed_quotes", "feed_ticks"]


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


class TickFed(NamedTuple):
    """One tick :func:`feed_ticks` fed: its instrument, its last price, whether it carried depth (the engine's
    quote of the instrument is then the tick's own book), and whether something rested on it before."""

    instrument_token: int
    last_price: float
    depth: bool
    resting: bool


def crossings(engine: Engine, quote: MarketQuote, now: datetime, levels: list[float] | None) -> list[MarketQuote]:
    """Return path quotes for the resting ``levels`` crossed (or reached) from the last price known to ``quote``'s."""
    before = engine.last_quote(quote.instrument_token)
    if not levels or before is None:
        return []
    start = PathPoint(before.timestamp, before.last_price)
    points = through([PathPoint(now, quote.last_price)], levels, start=start)
    if not any(abs(quote.last_price - level) < 1e-9 for level in levels):
        points = points[:-1]  # the price itself is the quote's own; a level right at it is reached, too
    return path_quotes(quote.instrument_token, points, template=quote)


def feed_quotes(engine: Engine, quotes: Iterable[MarketQuote], now: datetime, *, paths: bool = True) -> None:
    """Feed quotes observed at ``now``, each after the crossings between the last price known and its own.

    Args:
        engine: the account.
        quotes: the quotes, one per instrument.
        now: when they were observed.
        paths: False to feed the quotes alone, with no path between observations.
    """
    levels = engine.resting_levels() if paths else {}
    for quote in quotes:
        engine.on_quotes([*crossings(engine, quote, now, levels.get(quote.instrument_token)), quote], now)


def feed_ticks(
    engine: Engine, ticks: Iterable[Mapping[str, Any]], now: datetime, *, paths: bool = True
) -> list[TickFed]:
    """Feed live ticks (Kite's tick dicts) of the instruments the engine watches, each after its crossings.

    A tick without depth (``ltp`` and ``quote`` modes) becomes a quote at its last price (see
    :func:`~kitekit.engine.path.path_quotes`), so orders still meet a book; circuit limits, the close and the
    average price a tick lacks come from the last quote known.

    Returns:
        The ticks fed, in order.
    """
    watched = set(engine.watched_tokens())
    levels = engine.resting_levels()
    fed = []
    for tick in ticks:
        token, price = tick.get("instrument_token"), tick.get("last_price")
        if token not in watched or price is None:
            continue
        token = int(token)
        stamp = tick.get("exchange_timestamp") or tick.get("last_trade_time") or now
        template = engine.last_quote(token)
        quote = MarketQuote.from_kite({**tick, "timestamp": stamp})
        if template is not None and not quote.lower_circuit_limit:
            quote = MarketQuote(
                token, quote.last_price, quote.timestamp, quote.bids, quote.asks,
                template.lower_circuit_limit, template.upper_circuit_limit, quote.close or template.close,
                quote.average_price or template.average_price,
            )  # fmt: skip
        feed = crossings(engine, quote, now, levels.get(token)) if paths else []
        depth = bool(quote.bids or quote.asks)
        if depth:
            feed.append(quote)
        elif not feed or feed[-1].last_price != quote.last_price:
            feed.extend(path_quotes(token, [PathPoint(quote.timestamp, quote.last_price)], template=quote))
        engine.on_quotes(feed, now)
        fed.append(TickFed(token, quote.last_price, depth, token in levels))
    return fed
