"""Live candles: ticks into 1-minute and N-minute OHLCV bars, cut the way Kite cuts its historical candles."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any

import numpy as np

from kitekit.clock import IST, Clock, SystemClock
from kitekit.wire.ticks import TickColumns

__all__ = ["Candle", "CandleBuilder"]


@dataclass
class Candle:
    """One bar of one instrument; ``start`` is aware (IST). ``partial`` marks a bar the builder did not see whole.

    A bar is partial when it is the first of its instrument (the builder started inside it, and the volume
    traded before its first tick is unknown) or when ticks may have been lost inside it (:meth:`CandleBuilder.gap`).
    """

    instrument_token: int
    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    ticks: int = 0
    partial: bool = False


class CandleBuilder:
    """Builds OHLCV bars of ``minutes`` minutes from ticks as they arrive.

    Each tick lands in the bar of its exchange timestamp (full-mode ticks carry it; other ticks are placed
    by the time they arrive). Bars start every ``minutes`` from ``anchor`` (09:15 IST, like Kite's intraday
    candles), open, high, low and close follow the last price, and volume is the rise of ``volume_traded``
    (the day's cumulative volume) across the bar. A bar closes when a tick of a later bar arrives for its
    instrument, or at :meth:`close_until`. On a simulator that delivered every tick, each whole (not partial)
    bar equals the historical API's candle for the same minutes.

    Args:
        minutes: the bar length (1 for minute candles).
        on_candle: called with each bar as it closes.
        anchor: the time of day (IST) bars are counted from.
        clock: the time of ticks that carry none.
    """

    def __init__(
        self,
        minutes: int = 1,
        on_candle: Callable[[Candle], None] | None = None,
        anchor: time = time(9, 15),
        clock: Clock | None = None,
    ) -> None:
        if minutes < 1:
            raise ValueError(f"a bar lasts at least one minute, got {minutes}")
        self.minutes = minutes
        self.on_candle = on_candle
        self.anchor = anchor
        self.clock = clock or SystemClock()
        #: Ticks that arrived for a bar already closed (out of order), and were left out.
        self.late = 0
        self._bars: dict[int, Candle] = {}
        self._base: dict[int, int | None] = {}  # volume_traded before the forming bar
        self._volume: dict[int, int] = {}  # volume_traded of the instrument's last tick
        self._gapped: set[int] = set()

    def update(
        self, ticks: Iterable[dict[str, Any]] | TickColumns, received_at: datetime | None = None
    ) -> list[Candle]:
        """Fold ticks (the SDK's dicts or columns) in; return the bars they closed, oldest first.

        Args:
            ticks: one frame's ticks.
            received_at: when they arrived (aware), for ticks without an exchange timestamp; default now.
        """
        fallback = (received_at or self.clock.now()).astimezone(IST)
        closed: list[Candle] = []
        for token, moment, price, volume in _rows(ticks, fallback):
            bar = self._add(token, moment, price, volume)
            if bar is not None:
                closed.append(bar)
        self._emit(closed)
        return closed

    def close_until(self, now: datetime) -> list[Candle]:
        """Close every bar that ended at or before ``now`` (aware); return them."""
        span = timedelta(minutes=self.minutes)
        done = [bar for bar in self._bars.values() if bar.start + span <= now]
        for bar in done:
            del self._bars[bar.instrument_token]
        done.sort(key=lambda bar: (bar.start, bar.instrument_token))
        self._emit(done)
        return done

    def gap(self) -> None:
        """Note that ticks may have been lost (a reconnect): forming bars and the next ones become partial."""
        for bar in self._bars.values():
            bar.partial = True
        self._gapped.update(self._volume)
        self._gapped.update(self._bars)

    def forming(self, instrument_token: int) -> Candle | None:
        """Return the bar still forming for an instrument, if any."""
        return self._bars.get(instrument_token)

    def bar_start(self, moment: datetime) -> datetime:
        """Return the start of the bar ``moment`` (aware) falls in."""
        local = moment.astimezone(IST)
        origin = datetime.combine(local.date(), self.anchor, tzinfo=IST)
        k = math.floor((local - origin).total_seconds() / (60 * self.minutes))
        return origin + timedelta(minutes=k * self.minutes)

    def _add(self, token: int, moment: datetime, price: float, volume: int | None) -> Candle | None:
        start = self.bar_start(moment)
        bar = self._bars.get(token)
        closed = None
        if bar is not None and start < bar.start:
            self.late += 1
            return None
        if bar is not None and start > bar.start:
            closed, bar = self._bars.pop(token), None
        if bar is None:
            known = token in self._volume or token in self._base
            bar = Candle(token, start, price, price, price, price, 0, partial=not known or token in self._gapped)
            self._gapped.discard(token)
            self._base[token] = self._volume.get(token)
            self._bars[token] = bar
        else:
            bar.high = max(bar.high, price)
            bar.low = min(bar.low, price)
            bar.close = price
        bar.ticks += 1
        if volume is not None:
            base = self._base.get(token)
            if base is None:
                base = self._base[token] = volume  # the first tick seen: what came before it is unknown
            elif volume < base:
                base = self._base[token] = 0  # a new session: volume_traded starts again from zero
            bar.volume = volume - base
            self._volume[token] = volume
        return closed

    def _emit(self, bars: list[Candle]) -> None:
        if self.on_candle is not None:
            for bar in bars:
                self.on_candle(bar)


def _rows(
    ticks: Iterable[dict[str, Any]] | TickColumns, fallback: datetime
) -> Iterator[tuple[int, datetime, float, int | None]]:
    """Yield (token, time, last price, volume_traded or None) for each tick."""
    if isinstance(ticks, TickColumns):
        has_volume = ticks.carries("volume_traded")
        stamps = ticks.exchange_timestamp.astype("datetime64[s]").astype(np.int64).tolist()
        missing = np.isnat(ticks.exchange_timestamp).tolist()
        for token, price, volume, carried, stamp, absent in zip(
            ticks.instrument_token.tolist(),
            ticks.last_price.tolist(),
            ticks.volume_traded.tolist(),
            has_volume.tolist(),
            stamps,
            missing,
            strict=True,
        ):
            moment = fallback if absent else datetime.fromtimestamp(stamp, IST)
            yield token, moment, price, volume if carried else None
        return
    for tick in ticks:
        stamp = tick.get("exchange_timestamp")
        # The SDK gives naive local time of this machine (§15.6): astimezone() reads it as exactly that.
        moment = stamp.astimezone(IST) if isinstance(stamp, datetime) else fallback
        yield tick["instrument_token"], moment, float(tick["last_price"]), tick.get("volume_traded")
