"""Judging resting paper orders on the market's path since they were placed, not on the quote of the moment.

Between two calls of the paper broker the market moved; an order resting at a price the market traded through
meanwhile must have filled, at that price, when the market got there. :class:`MarketPath` keeps, per instrument
where something rests (limits, stop triggers, GTT triggers: ``Engine.resting_levels``), a *mark*: the moment
(and price) up to which the market was judged. On each call it

1. fetches the minute candles completed since the mark (one ``historical_data()`` call per instrument, through
   the source's pacer: Kite allows 3 a second) and feeds their path (:mod:`kitekit.engine.path`) through the
   engine in time order, minute by minute across instruments, so each fill happens at its own moment;
2. joins the quote it fetches now to the last price known with every resting level in between (a level the
   price crossed since was reached, by now at the latest), then feeds the quote itself.

Live ticks (:meth:`MarketPath.on_ticks`) are judged the same way as they arrive, and move the mark with them.
A placement or modification restarts the instrument's path at that moment: in that minute only the move from
the price then to the minute's close is certain to have come after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from kitekit.clock import IST
from kitekit.engine import Engine, MarketQuote
from kitekit.engine.catchup import MinuteOf, feed_minute, feed_quotes, feed_ticks
from kitekit.engine.path import MINUTE, Candle, PathPoint
from kitekit.markethours import TradingCalendar
from kitekit.orders.quotes import CandleSource
from kitekit.wire.envelope import ErrorType, error_type_of

__all__ = ["Mark", "MarketPath"]

log = logging.getLogger("kitekit.orders")


@dataclass(frozen=True, slots=True)
class Mark:
    """How far an instrument's market was judged: up to ``time``, last at ``price`` (None: not known).

    ``ticks`` says the mark came from a live tick: the minute it falls in was judged by the ticks themselves.
    """

    time: datetime
    price: float | None = None
    ticks: bool = False

    def dump(self) -> list[Any]:
        """Return the mark as JSON-able values."""
        return [self.time.isoformat(), self.price, self.ticks]

    @classmethod
    def load(cls, value: list[Any]) -> Mark:
        """Return a mark :meth:`dump` produced."""
        return cls(datetime.fromisoformat(value[0]), value[1], bool(value[2]))


def _minute(moment: datetime) -> datetime:
    return moment.astimezone(IST).replace(second=0, microsecond=0)


class MarketPath:
    """The marks of one paper account and the catching up they drive.

    Args:
        candles: where minute candles come from (None: quotes and ticks only).
        calendar: trading sessions (no candles are asked of hours with none).
        lag: how long after a minute ends its candle is taken as final (Kite publishes it within seconds).
        reach: how far back the path is followed after a long gap (older minutes are not fetched).
        enabled: False to judge only on each quote and tick as it is fed, with no path between them.
    """

    def __init__(
        self,
        candles: CandleSource | None,
        calendar: TradingCalendar,
        *,
        lag: timedelta = timedelta(seconds=5),
        reach: timedelta = timedelta(days=7),
        enabled: bool = True,
    ) -> None:
        self.enabled = enabled
        self.candles = candles if enabled else None
        self.calendar = calendar
        self.lag = lag
        self.reach = reach
        self.marks: dict[int, Mark] = {}

    # -- state --------------------------------------------------------------------------------------
    def dump(self) -> dict[str, list[Any]]:
        """Return the marks as JSON-able values (kept in the ledger)."""
        return {str(token): mark.dump() for token, mark in self.marks.items()}

    def load(self, data: Mapping[str, list[Any]]) -> None:
        """Replace the marks by those :meth:`dump` produced."""
        self.marks = {int(token): Mark.load(value) for token, value in data.items()}

    def restart(self, engine: Engine, token: int, now: datetime) -> None:
        """Start an instrument's path afresh at ``now`` (an order on it was placed or changed)."""
        quote = engine.last_quote(token)
        self.marks[token] = Mark(now, quote.last_price if quote else None)

    # -- catching up --------------------------------------------------------------------------------
    def pending(self, engine: Engine, now: datetime) -> set[int]:
        """Return the instruments whose path :meth:`catch_up` would fetch candles of now (to quote them too)."""
        if self.candles is None:
            return set()
        return set(self._windows(engine, now, None))

    def catch_up(
        self, engine: Engine, now: datetime, ranges: Mapping[int, tuple[float, float]] | None = None
    ) -> set[int]:
        """Feed the engine the path of every instrument where something rests, from its mark to ``now``.

        Route: the candle source's ``historical_data()`` (``GET /instruments/historical/{token}/minute``), one
        call per instrument with a completed minute not yet judged, unless ``ranges`` rules it out.

        Args:
            engine: the account.
            now: the moment to catch up to.
            ranges: the day's low and high so far per instrument, from quotes fetched now (``ohlc``): when
                today's path is all that is missing and every resting price lies outside the day's range,
                no candle can have reached one, and none is fetched.

        Returns:
            The instruments whose path was fed: the engine's quote of each is now a path point, and a real one
            must follow before an order meets it.
        """
        if not self.enabled:
            return set()
        opens = self.calendar.last_session_start(now)
        fed = set()
        if engine.now < opens:
            # Past sessions first (their day orders lapse at their close), then the open: queued AMOs go to
            # the exchange there and rest from then on.
            fed = self._judge(engine, now, opens, {})
            engine.advance(opens)
        return fed | self._judge(engine, now, None, ranges or {})

    def _windows(self, engine: Engine, now: datetime, until: datetime | None) -> dict[int, datetime]:
        """Mark what newly rests and return, per instrument, the first minute whose candle is due."""
        levels = engine.resting_levels()
        self.marks = {t: m for t, m in self.marks.items() if t in levels}
        for token in levels:
            if token not in self.marks:
                quote = engine.last_quote(token)
                self.marks[token] = Mark(engine.now, quote.last_price if quote else None)
        last = self._last(now, until)
        oldest = _minute(now - self.reach)
        due: dict[int, datetime] = {}
        for token, mark in self.marks.items():
            first = _minute(mark.time)
            if mark.ticks and mark.time > first:
                first += MINUTE  # the ticks judged the minute they came in
            first = max(first, oldest)
            if first <= last and self._trading(first, last + MINUTE):
                due[token] = first
        return due

    def _last(self, now: datetime, until: datetime | None) -> datetime:
        """Return the start of the last minute whose candle is final (and before ``until``)."""
        last = _minute(now - self.lag) - MINUTE
        return last if until is None else min(last, _minute(until) - MINUTE)

    def _judge(
        self, engine: Engine, now: datetime, until: datetime | None, ranges: Mapping[int, tuple[float, float]]
    ) -> set[int]:
        """Feed the candles completed since each mark (and before ``until``); return the instruments fed."""
        due = self._windows(engine, now, until)
        if self.candles is None or not due:
            return set()
        last, today = self._last(now, until), self.calendar.last_session_start(now)
        levels = engine.resting_levels()
        by_minute: dict[datetime, list[tuple[int, Candle]]] = {}
        judged: dict[int, float | None] = {}
        for token, first in due.items():
            low, high = ranges.get(token, (0.0, 0.0))
            if first >= today and low > 0 and all(p < low - 1e-9 or p > high + 1e-9 for p in levels[token]):
                judged[token] = None  # today's range never reached a resting price: nothing to fetch
                continue
            candles = self._fetch(token, first, last)
            if candles is None:
                continue
            judged[token] = self.marks[token].price
            for candle in candles:
                by_minute.setdefault(candle.start, []).append((token, candle))
                judged[token] = candle.close
        for minute in sorted(by_minute):
            self._feed_minute(engine, by_minute[minute])
        for token, price in judged.items():
            self.marks[token] = Mark(last + MINUTE, price)
        return {token for candles in by_minute.values() for token, _ in candles}

    def _feed_minute(self, engine: Engine, candles: list[tuple[int, Candle]]) -> None:
        """Feed one minute's paths of several instruments (:func:`kitekit.engine.catchup.feed_minute`)."""
        minute = []
        for token, candle in candles:
            mark = self.marks[token]
            start = None
            if candle.start < mark.time < candle.start + MINUTE and mark.price is not None and not mark.ticks:
                start = PathPoint(mark.time, mark.price)
            minute.append(MinuteOf(token, candle, start))
        feed_minute(engine, minute)

    def _trading(self, start: datetime, end: datetime) -> bool:
        """Return True if a session is open at some moment of [start, end)."""
        day = start.astimezone(IST).date()
        while day <= end.astimezone(IST).date():
            cal = self.calendar
            if cal.is_trading_day(day) and cal.session_open(day) < end and cal.session_close(day) > start:
                return True
            day += timedelta(days=1)
        return False

    def _fetch(self, token: int, first: datetime, last: datetime) -> list[Candle] | None:
        """Return the minute candles of ``token`` starting in [first, last]; None if they cannot be had now."""
        assert self.candles is not None  # noqa: S101 - asked only with a source
        try:
            rows = self.candles.historical_data(token, first, last, "minute")
        except Exception as exc:  # any failure leaves the quotes to judge; the order call itself goes on
            kind = error_type_of(exc)
            if kind is ErrorType.PERMISSION:
                log.warning("paper: no historical data on this account (%s); judging on quotes and ticks only", exc)
                self.candles = None
            elif kind is ErrorType.INPUT:
                log.warning("paper: no minute candles of instrument %s (%s); judging it on quotes", token, exc)
                return []
            else:
                log.warning("paper: could not fetch the minute candles of %s (%s); trying again next call", token, exc)
            return None
        candles = [Candle.from_kite(row) for row in rows]
        return [c for c in candles if first <= c.start <= last]

    # -- observations ----------------------------------------------------------------------------------
    def observe(self, engine: Engine, quotes: Iterable[MarketQuote], now: datetime) -> None:
        """Feed fetched quotes, each after the crossings between the last price known and its own
        (:func:`kitekit.engine.catchup.feed_quotes`)."""
        feed_quotes(engine, quotes, now, paths=self.enabled)

    def on_ticks(self, engine: Engine, ticks: Iterable[Mapping[str, Any]], now: datetime) -> list[int]:
        """Feed live ticks of the instruments the engine watches (:func:`kitekit.engine.catchup.feed_ticks`);
        move the marks with them.

        Returns:
            The instruments a tick with depth was fed for (their quotes are fresh).
        """
        fed = feed_ticks(engine, ticks, now, paths=self.enabled)
        if self.enabled:
            for tick in fed:
                if tick.resting:
                    self.marks[tick.instrument_token] = Mark(now, tick.last_price, ticks=True)
        return [tick.instrument_token for tick in fed if tick.depth]
