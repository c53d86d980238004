"""How fast the strategy runner backtests: bars per second through the whole run loop, and orders per second.

Run: ``./dev bench runner`` (``--quick`` for CI: a tenth of the bars). The workload is 187,500 one-minute bars of
one instrument (500 NSE sessions of 375 minutes, two years), synthetic and seeded, run side by side in one
process:

* a strategy that does nothing, through the runner in backtest mode (target: 300,000 bars/s), beside the floor
  of the same work without the runner: a loop that makes each bar object and calls ``on_bar``;
* an SMA 20/50 crossover that reverses its position on every cross, through the runner and the real engine
  (charges and margins as Kite computes them): bars per second and orders per second.

The crossover against backtrader on the same bars, and the engine's cost per order at 1×, 4× and 16× open
positions, are measured by ``./dev bench backtest``.
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
from collections.abc import Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from bench.common import Figures
from kitekit.clock import IST
from kitekit.markethours import TradingCalendar
from kitekit.runner import Bar, RiskLimits, StaticInstruments, Strategy, backtest
from kitekit.runner.model import Bar as BarClass
from kitekit.wire.instruments_csv import Instrument

#: Two years of NSE sessions of one-minute bars.
BARS = 187_500
SESSION_MINUTES = 375
KEY = "NFO:SYNTH26DECFUT"
TOKEN = 13_000_001
TARGET_BARS_PER_S = 300_000


def synthetic_bars(n: int, seed: int = 7, first: date = date(2024, 1, 1)) -> pd.DataFrame:
    """Return ``n`` one-minute bars on consecutive NSE sessions: a seeded random walk, OHLCV, IST index."""
    calendar = TradingCalendar()
    days: list[date] = []
    day = calendar.on_or_after(first)
    while len(days) * SESSION_MINUTES < n:
        days.append(day)
        day = calendar.next(day)
    minutes = np.arange(SESSION_MINUTES, dtype="timedelta64[m]")
    opens = np.array([np.datetime64(calendar.session_open(d).astimezone(IST).replace(tzinfo=None)) for d in days])
    stamps = (opens[:, None] + minutes[None, :]).ravel()[:n]
    rng = np.random.default_rng(seed)
    closes = 20_000.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0006, n)))
    opens_ = np.concatenate([[closes[0]], closes[:-1]])
    spread = np.abs(rng.normal(0.0, 0.0004, n)) * closes
    highs = np.maximum(opens_, closes) + spread
    lows = np.minimum(opens_, closes) - spread
    tick = 0.05
    frame = pd.DataFrame(
        {
            "open": np.round(opens_ / tick) * tick,
            "high": np.round(highs / tick) * tick,
            "low": np.round(lows / tick) * tick,
            "close": np.round(closes / tick) * tick,
            "volume": rng.integers(5_000, 50_000, n),
        },
        index=pd.DatetimeIndex(stamps, name="date").tz_localize(IST),
    )
    return frame


def instruments(expiry: date) -> StaticInstruments:
    """Return the one futures contract the bench trades (lot of 25, NRML: positions carry overnight)."""
    return StaticInstruments(
        [Instrument(TOKEN, TOKEN >> 8, KEY.split(":")[1], "SYNTH", 0.0, expiry, 0.0, 0.05, 25, "FUT", "NFO-FUT", "NFO")]
    )


class DoNothing(Strategy):
    """Receives every bar and does nothing with it."""

    symbols = (KEY,)

    def on_bar(self, bar: Bar) -> None:
        pass


class SmaCross(Strategy):
    """SMA 20/50 crossover reversing its position on every cross: one order a cross, twice the lot after the first."""

    symbols = (KEY,)
    params: ClassVar[Mapping[str, Any]] = {"fast": 20, "slow": 50, "quantity": 25}

    def on_start(self) -> None:
        self.window: collections.deque[float] = collections.deque(maxlen=self.p.slow)
        self.fast_sum = self.slow_sum = 0.0
        self.side = 0

    def on_bar(self, bar: Bar) -> None:
        window, price = self.window, bar.close
        if len(window) == window.maxlen:
            self.slow_sum -= window[0]
        if len(window) >= self.p.fast:
            self.fast_sum -= window[-self.p.fast]
        window.append(price)
        self.slow_sum += price
        self.fast_sum += price
        if len(window) < self.p.slow:
            return
        side = 1 if self.fast_sum / self.p.fast > self.slow_sum / self.p.slow else -1
        if side != self.side:
            quantity = self.p.quantity * (1 if self.side == 0 else 2)
            (self.buy if side > 0 else self.sell)(bar.key, quantity, product="NRML")
            self.side = side


def floor(frame: pd.DataFrame) -> float:
    """Return seconds for the same bars made into bar objects and handed to a no-op ``on_bar``, without a runner."""
    strategy = DoNothing()
    span = timedelta(minutes=1)
    starts = list(pd.DatetimeIndex(frame.index).to_pydatetime())
    o, h, lo, c = (frame[k].tolist() for k in ("open", "high", "low", "close"))
    v = frame["volume"].tolist()
    started = time.perf_counter()
    on_bar = strategy.on_bar
    make = tuple.__new__  # as the runner makes its bars: the cheapest way Python builds one
    for start, op, hi, low, close, volume in zip(starts, o, h, lo, c, v, strict=True):
        on_bar(make(BarClass, (KEY, TOKEN, start, op, hi, low, close, volume, span)))
    return time.perf_counter() - started


def through_runner(strategy: Strategy, frame: pd.DataFrame, root: Path) -> tuple[float, Any]:
    """Return seconds for a backtest of ``strategy`` over ``frame`` (report files not written), and its result."""
    last = frame.index[-1].to_pydatetime().date()
    limits = RiskLimits(max_orders_per_day=None, order_rate=None, squareoff_at=None)
    started = time.perf_counter()
    result = backtest(
        strategy,
        instruments=instruments(last + timedelta(days=60)),
        bars={KEY: frame},
        capital=1e12,
        limits=limits,
        root=root,
        report=False,
    )
    return time.perf_counter() - started, result


def main(argv: list[str]) -> Figures:
    """Measure and print the runner's backtest speed."""
    parser = argparse.ArgumentParser(prog="bench runner")
    parser.add_argument("--quick", action="store_true", help="a tenth of the bars, one repeat")
    args = parser.parse_args(argv)
    n, repeat = (BARS // 10, 1) if args.quick else (BARS, 3)
    frame = synthetic_bars(n)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        base = min(floor(frame) for _ in range(repeat))
        idle = min(through_runner(DoNothing(), frame, root)[0] for _ in range(repeat))
        runs = [through_runner(SmaCross(), frame, root) for _ in range(repeat)]
        cross, result = min(runs, key=lambda r: r[0])
    orders = len(result.core.order_rows)
    filled = sum(1 for row in result.core.trade_rows)
    print(f"{n:,} one-minute bars of {KEY} ({n // SESSION_MINUTES} sessions), best of {repeat}")
    print(f"floor: bar objects + a no-op on_bar, no runner   {n / base:>12,.0f} bars/s  ({base:.3f}s)")
    ok = "yes" if n / idle >= TARGET_BARS_PER_S else "NO"
    print(
        f"do-nothing strategy through the runner          {n / idle:>12,.0f} bars/s  ({idle:.3f}s)   "
        f"target {TARGET_BARS_PER_S:,}: {ok}   ({idle / base:.1f}x the floor)"
    )
    print(
        f"SMA 20/50 reversing crossover, engine + charges {n / cross:>12,.0f} bars/s  ({cross:.3f}s)   "
        f"{orders:,} orders ({filled:,} filled): {orders / cross:,.0f} orders/s of run time"
    )
    return {
        "floor_bars_per_s": n / base,
        "idle_bars_per_s": n / idle,
        "cross_bars_per_s": n / cross,
        "cross_orders": float(orders),
        "cross_orders_per_s": orders / cross,
    }
