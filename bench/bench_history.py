"""Backfilling a year of minute candles for 20 instruments against the simulator's enforced 3/s limit.

Run: ``./dev bench history`` (``--quick``: 3 instruments, 120 days, a few seconds). The simulator runs in this
process with Kite's rate limits on (historical: 3 requests/s per api_key, 429 beyond), frozen on a Friday at
11:00 IST, so every run fetches the same candles.

* kitekit: ``History.backfill`` into a fresh DuckDB candle store, on a client with kitekit's transport (the
  shared pacer at 3/s less its 2% margin, several windows in flight). Issue 14 asks for a wall time within
  10% of the floor the limit sets (windows ÷ 3 per second), with no 429, and for a second run of the same
  backfill to make at most one request per instrument.
* baseline, for scale: what a first script does, the SDK's ``historical_data()`` window after window with
  ``time.sleep(1/3)`` between calls (the usual fix for 429s), then ``pd.DataFrame``, for the first two
  instruments only (it is the slow part of a run); its time per window is set beside kitekit's.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import pandas as pd
from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures
from kitekit.clock import ManualClock
from kitekit.history import CandleStore, History
from kitekit.instruments import InstrumentStore
from kitekit.rest.pacer import Pacer
from kitekit.rest.transport import install_transport
from kitekit.sim import SimConfig, SimServer
from kitekit.sim.pytest_plugin import login_via_redirect

INDICES = ["NIFTY 50", "NIFTY BANK"]
HISTORICAL = "GET /instruments/historical/"
MARGIN = 0.10


def historical_requests(server: SimServer) -> int:
    """Return how many historical requests the simulator has received."""
    return sum(n for route, n in dict(server.sim.requests).items() if route.startswith(HISTORICAL))


def instruments(store: InstrumentStore, count: int) -> list[str]:
    """Return ``count`` instruments: the two big indices, then NSE equities in the dump's order."""
    equities = store.frame(exchange="NSE", instrument_type="EQ")["tradingsymbol"].tolist()
    return (INDICES + [f"NSE:{s}" for s in equities])[:count]


def baseline(kite: KiteConnect, history: History, names: list[str], days: int) -> tuple[int, float]:
    """The SDK window after window with a sleep between calls; return (windows, seconds)."""
    windows = 0
    started = time.perf_counter()
    for name in names:
        request = history.request(name, "minute", BENCH_NOW - timedelta(days=days), BENCH_NOW)
        for window in request.windows():
            records = kite.historical_data(request.instrument.instrument_token, window.start, window.end, "minute")
            pd.DataFrame(records)
            windows += 1
            time.sleep(1 / 3)
    return windows, time.perf_counter() - started


def main(argv: list[str]) -> Figures:
    """Run the backfill twice, then the baseline, and print the figures."""
    parser = argparse.ArgumentParser(prog="bench history")
    parser.add_argument("--quick", action="store_true", help="3 instruments, 120 days (for CI)")
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args(argv)
    count, days = (3, 120) if args.quick else (args.instruments, args.days)

    clock = ManualClock(BENCH_NOW)
    with tempfile.TemporaryDirectory(prefix="kitekit-bench-") as tmp, SimServer(SimConfig(), clock) as server:
        root = Path(tmp)
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        install_transport(kite, Pacer(root / "pacing.sqlite3"))
        store = InstrumentStore(root / "instruments", kite, clock=clock).load()
        names = instruments(store, count)
        candles = CandleStore(root / "candles.duckdb")
        history = History(kite, store, candles, clock=clock)
        start = BENCH_NOW - timedelta(days=days)

        before, rejected = historical_requests(server), server.sim.limiter.rejected
        started = time.perf_counter()
        filled = history.backfill(names, "minute", start, BENCH_NOW)
        first_run = time.perf_counter() - started
        windows = sum(f.windows for f in filled)
        sent = historical_requests(server) - before
        floor = windows / 3
        limited = server.sim.limiter.rejected - rejected
        stored = sum(info.candles for info in candles.series())

        before = historical_requests(server)
        started = time.perf_counter()
        again = history.backfill(names, "minute", start, BENCH_NOW)
        second_run = time.perf_counter() - started
        second = historical_requests(server) - before

        print(f"{count} instruments, {days} days of minute candles, simulator enforcing 3 historical requests/s")
        print(f"first run : {windows} windows ({sent} requests), {stored:,} candles stored")
        within = first_run <= floor * (1 + MARGIN)
        print(
            f"  wall {first_run:.2f} s, floor {floor:.2f} s (windows / 3 per s): "
            f"{first_run / floor:.3f}x the floor (target <= {1 + MARGIN:.2f}x) {'yes' if within else 'NO'}"
        )
        print(f"  429s sent by the simulator: {limited} {'yes' if limited == 0 else 'NO'}")
        print(
            f"second run: {second} requests for {count} instruments in {second_run:.2f} s "
            f"(target <= 1 per instrument) {'yes' if second <= count and all(f.windows <= 1 for f in again) else 'NO'}"
        )
        print(f"  store size {candles.path.stat().st_size / 1e6:.1f} MB")

        base_names = names[: 1 if args.quick else 2]
        plain = KiteConnect(kite.api_key, access_token=kite.access_token, root=server.url)  # no kitekit transport
        base_windows, base_time = baseline(plain, history, base_names, days)
        print(
            f"baseline (SDK historical_data + sleep(1/3), one window at a time, {len(base_names)} instruments): "
            f"{base_windows} windows in {base_time:.2f} s, {base_time / base_windows:.3f} s a window "
            f"vs kitekit {first_run / windows:.3f} s a window ({base_time / base_windows / (first_run / windows):.1f}x)"
        )
    return {
        "first_run_s": first_run,
        "wall_over_floor": first_run / floor,
        "windows": float(windows),
        "second_run_requests": float(second),
        "rate_limited": float(limited),
        "baseline_speedup_per_window": base_time / base_windows / (first_run / windows),
    }
