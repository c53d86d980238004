"""Quotes, history and new instruments for a strategy, per mode: the backtest's data, or the live market's.

A backtest never looks ahead: ``history`` ends with the last bar closed by the run's time, and ``quote`` is the
simulated market at that time. Live, quotes are the latest ticks (``GET /quote`` for an instrument not ticked
yet) and history comes from the candle store, filled from Kite as needed, with the still-forming candle left out.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from kitekit.errors import RunError
from kitekit.runner.drivers import BarData, interval_span, merge_bars

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.history import History
    from kitekit.runner.market import TickQuotes
    from kitekit.runner.simbroker import BacktestBroker

__all__ = ["BarAccess", "LiveAccess", "TickAccess", "closed_history"]


def _lookback(interval: str, bars: int) -> timedelta:
    """Return a span of calendar time that holds ``bars`` candles of ``interval`` (nights and weekends included)."""
    span = interval_span(interval)
    if span >= timedelta(days=1):
        return timedelta(days=math.ceil(bars * 1.5) + 10)
    per_day = max(1, int(timedelta(minutes=375) / span))  # a session is 6h15m
    return timedelta(days=math.ceil(bars / per_day * 1.5) + 5)


def closed_history(history: History, key: str, interval: str, bars: int, now: datetime) -> pd.DataFrame:
    """Return the last ``bars`` candles of ``key`` that closed by ``now``, from the store (Kite's, filled as needed)."""
    span = interval_span(interval)
    frame = history.candles(key, interval, now - _lookback(interval, bars), now)
    import pandas as pd

    index = pd.DatetimeIndex(frame.index)
    closed = frame[index <= pd.Timestamp(now + timedelta(seconds=1) - span)]
    return closed.iloc[-bars:]


class BarAccess:
    """A backtest over candles: the loaded frames are its market and its history.

    Args:
        broker: the backtest's broker (its simulated market answers quotes).
        frames: the candles of each instrument (``History.candles`` shape), the range run and what came before.
        interval: the bars' interval.
        tokens: the instrument token of each key.
        load: loads more instruments' candles (``strategy.subscribe``) for the rest of the run; None: refused.
        history: where candles of another interval come from (None: only the run's interval).
    """

    def __init__(
        self,
        broker: BacktestBroker,
        frames: dict[str, pd.DataFrame],
        interval: str,
        tokens: Mapping[str, int],
        load: Callable[[Sequence[str]], Mapping[str, pd.DataFrame]] | None = None,
        history: History | None = None,
    ) -> None:
        self.broker = broker
        self.frames = frames
        self.interval = interval
        self.span = interval_span(interval)
        self.tokens = dict(tokens)
        self.load = load
        self.source = history
        self._added = False
        self._starts: dict[str, list[datetime]] = {}
        #: The last moment the backtest runs to (None: the data's end).
        self.end: datetime | None = None

    def quote(self, key: str, token: int, now: datetime) -> dict[str, Any]:
        """Return the simulated market of ``key`` at ``now``.

        Raises:
            RunError: no bar of it yet.
        """
        item = self.broker.quote_item(token, now)
        if item is None:
            raise RunError(f"no market for {key} yet: no bar of it has closed by {now:%Y-%m-%d %H:%M}")
        return item

    def history(self, key: str, interval: str, bars: int, now: datetime) -> pd.DataFrame:
        """Return the last ``bars`` candles of ``key`` closed by ``now`` (never a later one).

        Raises:
            RunError: another interval than the run's without a history source.
        """
        if interval == self.interval and key in self.frames:
            frame = self.frames[key]
            starts = self._starts.get(key)
            if starts is None:
                import pandas as pd

                starts = self._starts[key] = list(pd.DatetimeIndex(frame.index).to_pydatetime())
            end = bisect.bisect_right(starts, now - self.span + timedelta(seconds=1))
            if end >= bars or self.source is None:
                return frame.iloc[max(0, end - bars) : end]
        if self.source is None:
            raise RunError(f"no {interval} candles of {key} in this backtest (it runs on {self.interval} candles)")
        return closed_history(self.source, key, interval, bars, now)

    def subscribe(self, keys: Sequence[str], now: datetime) -> None:
        """Load the candles of ``keys`` for the rest of the run; the broker gets the bar of each that closed by now.

        Raises:
            RunError: this backtest cannot load more instruments.
        """
        from kitekit.runner.model import Bar

        if self.load is None:
            raise RunError("this backtest was given its candles and cannot load more instruments")
        for key, frame in self.load(keys).items():
            self.frames[key] = frame
            token = self.tokens.setdefault(key, self.broker.spec(key).instrument_token)
            self._starts.pop(key, None)
            current = self.history(key, self.interval, 1, now)
            if len(current):
                row = current.iloc[-1]
                start = current.index[-1].to_pydatetime()
                bar = Bar(key, token, start, float(row["open"]), float(row["high"]), float(row["low"]),
                          float(row["close"]), int(row["volume"]), self.span)  # fmt: skip
                self.broker.on_bar(bar, now)
        self._added = True

    def remaining(self, now: datetime) -> BarData | None:
        """Return every bar after ``now`` again, the new instruments' included, once instruments were added."""
        if not self._added:
            return None
        self._added = False
        data = merge_bars(self.frames, self.tokens).tail(now - self.span + timedelta(seconds=1))
        if self.end is not None:
            cut = bisect.bisect_right(data.starts, self.end)
            data = BarData(*(column[:cut] for column in data._columns()))
        return data


class TickAccess:
    """A backtest over recorded ticks: quotes from the last tick; history from a candle source, if given."""

    def __init__(self, broker: BacktestBroker, history: History | None = None) -> None:
        self.broker = broker
        self.source = history

    def quote(self, key: str, token: int, now: datetime) -> dict[str, Any]:
        """Return the last tick of ``key`` as a quote.

        Raises:
            RunError: no tick of it yet.
        """
        item = self.broker.quote_item(token, now)
        if item is None:
            raise RunError(f"no tick of {key} yet at {now:%Y-%m-%d %H:%M:%S}")
        return item

    def history(self, key: str, interval: str, bars: int, now: datetime) -> pd.DataFrame:
        """Return the last ``bars`` candles closed by ``now``, from the candle source.

        Raises:
            RunError: the backtest has no candle source.
        """
        if self.source is None:
            raise RunError("a backtest of recorded ticks has no candles to answer history() from")
        return closed_history(self.source, key, interval, bars, now)

    def subscribe(self, keys: Sequence[str], now: datetime) -> None:
        """Nothing to load: the recording holds the ticks it holds."""


class LiveAccess:
    """Paper and live: quotes from the latest ticks (``GET /quote`` otherwise), history from the candle store."""

    def __init__(self, quotes: TickQuotes, history: History | None) -> None:
        self.quotes = quotes
        self.source = history

    def quote(self, key: str, token: int, now: datetime) -> dict[str, Any]:
        """Return the latest quote of ``key``. Route: ``GET /quote`` when it has not ticked yet."""
        answer = self.quotes.quote(str(token))
        return dict(answer[str(token)])

    def history(self, key: str, interval: str, bars: int, now: datetime) -> pd.DataFrame:
        """Return the last ``bars`` closed candles. Route: ``GET /instruments/historical/…`` for what is missing.

        Raises:
            RunError: the run has no history source.
        """
        if self.source is None:
            raise RunError("this run has no candle source to answer history() from")
        return closed_history(self.source, key, interval, bars, now)

    def subscribe(self, keys: Sequence[str], now: datetime) -> None:
        """The driver subscribes them on the ticker."""
