"""Seeded synthetic minute bars and the backtrader baseline, shared by the backtest benchmarks (issue 24).

:func:`minute_bars` makes NSE sessions of one-minute bars (375 a session, 09:15–15:29 IST, on the trading
days of :class:`~kitekit.markethours.TradingCalendar`) from a seeded random walk on the tick. The same seed
gives the same bars on every machine.

:func:`run_backtrader` is the baseline strategy: an SMA fast/slow crossover that reverses its position on
every cross, in backtrader with its fastest settings (preloaded data, vectorised indicators, no observers).
Orders fill at the close of the bar that signalled (cheat-on-close), which is what an engine fed that bar's
close as its quote does, so both sides make the same fills at the same prices. :func:`crossings` is the
same signal (:class:`Crossover`, bar by bar), computed the way backtrader computes it, for any other side to
follow.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd

from kitekit.clock import IST
from kitekit.markethours import TradingCalendar

__all__ = ["BARS_PER_SESSION", "Bars", "Crossover", "Fill", "crossings", "minute_bars", "run_backtrader"]

#: One-minute bars in an NSE session (09:15–15:30).
BARS_PER_SESSION = 375
TICK = 0.05


@dataclass(frozen=True)
class Bars:
    """One instrument's minute bars: ``moments`` are the bars' start times, aware, IST."""

    moments: list[datetime]
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def __len__(self) -> int:
        return len(self.moments)

    def frame(self) -> pd.DataFrame:
        """Return the bars as a DataFrame indexed by naive IST times (backtrader's feeds take naive times)."""
        index = pd.DatetimeIndex([m.replace(tzinfo=None) for m in self.moments], name="datetime")
        columns = {"open": self.open, "high": self.high, "low": self.low, "close": self.close}
        return pd.DataFrame({**columns, "volume": self.volume}, index=index)


def minute_bars(sessions: int, seed: int = 24, start: date = date(2024, 1, 1), price: float = 1000.0) -> Bars:
    """Return ``sessions`` trading sessions of seeded minute bars from the first trading day on or after ``start``.

    Prices are whole ticks (₹0.05), a random walk of about 0.05% a minute that never drops below ₹10.
    """
    cal = TradingCalendar()
    days: list[date] = []
    day = cal.on_or_after(start)
    while len(days) < sessions:
        days.append(day)
        day = cal.next(day)
    moments = [
        datetime.combine(d, datetime.min.time(), tzinfo=IST) + timedelta(hours=9, minutes=15 + m)
        for d in days
        for m in range(BARS_PER_SESSION)
    ]
    rng = np.random.default_rng(seed)
    n = len(moments)
    steps = np.rint(rng.normal(0.0, price * 0.0005 / TICK, n)).astype(np.int64)
    ticks = np.maximum(np.int64(round(price / TICK)) + np.cumsum(steps), 200)
    close_ticks = ticks
    open_ticks = np.concatenate(([close_ticks[0]], close_ticks[:-1]))
    wick = np.abs(np.rint(rng.normal(0.0, price * 0.0002 / TICK, (2, n)))).astype(np.int64)
    high_ticks = np.maximum(open_ticks, close_ticks) + wick[0]
    low_ticks = np.maximum(np.minimum(open_ticks, close_ticks) - wick[1], 1)

    def rupees(t: np.ndarray) -> np.ndarray:
        return np.round(t * TICK, 2)

    volume = rng.integers(1_000, 50_000, n)
    return Bars(moments, rupees(open_ticks), rupees(high_ticks), rupees(low_ticks), rupees(close_ticks), volume)


class Crossover:
    """backtrader's ``CrossOver`` of a fast and a slow ``SMA``, taken one bar at a time.

    Each average is ``math.fsum`` of its window over the period, as backtrader's; the difference remembers its
    last non-zero value, and a cross needs that value's sign and the bar's strict order to disagree. The first
    cross can come on bar ``slow`` (0-based), as in backtrader.
    """

    def __init__(self, fast: int, slow: int) -> None:
        self.fast, self.slow = fast, slow
        self._last = 0.0

    def step(self, closes: list[float], i: int) -> int:
        """Return +1 if bar ``i`` (with every bar before it already stepped) crosses up, -1 down, else 0."""
        fast, slow = self.fast, self.slow
        if i < slow - 1:
            return 0
        f = math.fsum(closes[i - fast + 1 : i + 1]) / fast
        s = math.fsum(closes[i - slow + 1 : i + 1]) / slow
        last, cross = self._last, 0
        if i >= slow:
            if last < 0.0 and f > s:
                cross = 1
            elif last > 0.0 and f < s:
                cross = -1
        d = f - s
        self._last = d if d or i == slow - 1 else last
        return cross


def crossings(closes: list[float], fast: int, slow: int) -> Iterator[tuple[int, int]]:
    """Yield ``(bar index, +1 or -1)`` for every cross of :class:`Crossover` over ``closes``."""
    signal = Crossover(fast, slow)
    for i in range(len(closes)):
        cross = signal.step(closes, i)
        if cross:
            yield i, cross


@dataclass(frozen=True)
class Fill:
    """One executed order: the bar whose close it took, its signed quantity, its price."""

    bar: int
    quantity: int
    price: float


def run_backtrader(bars: Bars, fast: int = 20, slow: int = 50, size: int = 100) -> list[Fill]:
    """Run the crossover in backtrader over ``bars``; return its fills, oldest first.

    A cross up makes the position ``+size``, a cross down ``-size`` (``order_target_size``), filled at the
    signalling bar's close (``coc``). An order signalled on the last bar has no next bar to execute on.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # backtrader imports modules that warn on Python 3.11
        import backtrader as bt

    fills: list[Fill] = []
    stamps = {m.replace(tzinfo=None): i for i, m in enumerate(bars.moments)}

    class Crossover(bt.Strategy):  # type: ignore[misc]
        params = (("fast", fast), ("slow", slow), ("size", size))

        def __init__(self) -> None:
            self.cross = bt.ind.CrossOver(bt.ind.SMA(period=self.p.fast), bt.ind.SMA(period=self.p.slow))
            self.signalled: dict[int, int] = {}

        def next(self) -> None:
            if self.cross[0] > 0:
                self.order_target_size(target=self.p.size)
            elif self.cross[0] < 0:
                self.order_target_size(target=-self.p.size)

        def notify_order(self, order: bt.Order) -> None:
            if order.status == order.Completed:
                bar = stamps[bt.num2date(order.created.dt)]
                fills.append(Fill(bar, int(order.executed.size), float(order.executed.price)))

    cerebro = bt.Cerebro(stdstats=False)
    cerebro.adddata(bt.feeds.PandasData(dataname=bars.frame()))
    cerebro.addstrategy(Crossover)
    cerebro.broker.set_coc(True)
    cerebro.broker.setcash(1e9)
    cerebro.broker.setcommission(commission=0.0003)  # a flat share of turnover: brokerage, roughly
    cerebro.run()
    return fills
