"""A backtest's core through the matching engine against backtrader doing the same crossover (issue 24).

Run: ``./dev bench backtest`` (``--quick`` for 20 sessions instead of 500, as CI runs it).

The workload: 187,500 seeded synthetic one-minute bars of one NSE stock (500 sessions, two years; see
:mod:`bench.backtest_data`) and an SMA 20/50 crossover that reverses its position on every cross.

* kitekit: each bar's close goes to :class:`~kitekit.engine.Engine` as that minute's quote (one level a side
  at the close), the averages are taken the way backtrader takes them, and a cross submits a typed MARKET
  order (:meth:`Engine.submit`) for the change of position, MIS with market protection: validation, RMS
  margin, matching, the order's states, the position, charges and margins, as any order; sessions open
  and close around it (square-off off, so the position carries overnight as backtrader's does).
* baseline: backtrader, preloaded and vectorised, no observers, cheat-on-close, so its market orders fill at
  the close of the bar that signalled: the same fills at the same prices, which the benchmark checks.

Both sides start from the same bars in memory; each is timed from there to its last fill, in CPU time of this
process (both are single-threaded with no I/O; the machine is shared, and wall time there counts other
people's work too), median of several interleaved runs.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from dataclasses import dataclass
from typing import Any

from bench.backtest_data import BARS_PER_SESSION, Bars, Crossover, Fill, minute_bars, run_backtrader
from bench.common import Figures
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, Level, MarketQuote, PlaceRequest, resolver_of
from kitekit.wire.orders import OrderType, Product, TransactionType, Variety

SPEC = InstrumentSpec(3_456_001, "NSE", "SYNTH", "NSE", "EQ", 0.05, 1)
#: Shares a side at the close: far more than any order takes, so every order fills at the close.
DEPTH = 10**9


FUNDS = 1e9


@dataclass(frozen=True)
class EngineRun:
    """What the engine side did: its fills, its open position and its cash at the end."""

    fills: list[Fill]
    position: int
    cash: float


def run_engine(bars: Bars, fast: int = 20, slow: int = 50, size: int = 100) -> EngineRun:
    """Run the crossover through the engine over ``bars`` (see the module docstring)."""
    moments, closes = bars.moments, bars.close.tolist()
    eng = Engine(resolver_of([SPEC]), moments[0], EngineConfig(equity_funds=FUNDS, squareoff_at=None))
    token, signal = SPEC.instrument_token, Crossover(fast, slow)

    def request(side: TransactionType, quantity: int) -> PlaceRequest:
        return PlaceRequest(Variety.REGULAR, "NSE", "SYNTH", side, OrderType.MARKET, Product.MIS, quantity, 0.0,
                            market_protection=-1)  # fmt: skip

    # By change of position: a reversal is one order for twice the size, the first entry one for the size.
    orders = {
        size: request(TransactionType.BUY, size),
        2 * size: request(TransactionType.BUY, 2 * size),
        -size: request(TransactionType.SELL, size),
        -2 * size: request(TransactionType.SELL, 2 * size),
    }
    placed: dict[str, tuple[int, int]] = {}
    fills: list[Fill] = []
    position, final = 0, len(closes) - 1
    for i, (moment, close) in enumerate(zip(moments, closes, strict=True)):
        book = (Level(close, DEPTH),)
        eng.on_quotes((MarketQuote(token, close, moment, book, book),), moment)
        if i % BARS_PER_SESSION == BARS_PER_SESSION - 1:
            # Updates wait in the engine until read; a runner reads them as they come, here once a session.
            _collect(eng.drain_updates(), placed, fills)
        # The averages as backtrader's SMA takes them, so both sides see one signal.
        cross = signal.step(closes, i)
        if not cross or i == final:  # backtrader has no bar to fill an order of its last bar on
            continue
        target = size if cross > 0 else -size
        if target != position:
            placed[eng.submit(orders[target - position], moment)["order_id"]] = (i, target - position)
            position = target
    _collect(eng.drain_updates(), placed, fills)
    end = moments[-1]
    held = sum(p["quantity"] for p in eng.positions(end)["net"])
    return EngineRun(fills, held, eng.margins(end, "equity")["available"]["cash"])


def _collect(updates: list[dict[str, Any]], placed: dict[str, tuple[int, int]], into: list[Fill]) -> None:
    for update in updates:
        if update["status"] == "COMPLETE":
            bar, signed = placed[update["order_id"]]
            into.append(Fill(bar, signed, update["average_price"]))


def main(argv: list[str]) -> Figures:
    """Time the crossover both ways; print the ratio."""
    parser = argparse.ArgumentParser(prog="bench backtest")
    parser.add_argument("--quick", action="store_true", help="20 sessions instead of 500, once")
    parser.add_argument("--runs", type=int, default=3, help="interleaved runs of each side (median reported)")
    args = parser.parse_args(argv)
    sessions, runs = (20, 1) if args.quick else (500, args.runs)
    bars = minute_bars(sessions)
    ours: list[float] = []
    theirs: list[float] = []
    result: EngineRun | None = None
    baseline: list[Fill] = []
    for _ in range(runs):
        gc.collect()
        started = time.process_time()
        result = run_engine(bars)
        ours.append(time.process_time() - started)
        gc.collect()
        started = time.process_time()
        baseline = run_backtrader(bars)
        theirs.append(time.process_time() - started)
    if result is None or result.fills != baseline:
        raise RuntimeError("the engine and backtrader filled differently: the benchmark compares unequal work")
    n, ours_s, theirs_s = len(bars), statistics.median(ours), statistics.median(theirs)
    ratio = theirs_s / ours_s
    verdict = "yes" if ratio >= 3 else "NO"
    print(f"{n:,} minute bars ({sessions} sessions), SMA 20/50 crossover, {len(baseline)} fills on both sides")
    print(f"kitekit engine (charges, margins, sessions):   {ours_s:8.3f} s   {n / ours_s:>10,.0f} bars/s")
    print(f"backtrader 1.9.78 (runonce, cheat-on-close):   {theirs_s:8.3f} s   {n / theirs_s:>10,.0f} bars/s")
    print(f"ratio: {ratio:.1f}x  (target >= 3x: {verdict}; median of {runs} interleaved runs each)")
    pnl = result.cash - FUNDS
    print(f"engine account at the end: position {result.position:+d}, cash {pnl:+,.2f} (realised less charges)")
    if result.position != sum(f.quantity for f in baseline):
        raise RuntimeError("the engine's position is not the sum of its fills")
    return {"bars": float(n), "engine_s": ours_s, "backtrader_s": theirs_s, "ratio": ratio}
