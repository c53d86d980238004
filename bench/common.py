"""Helpers shared by the benchmarks: timing, a simulator to measure against, and result lines."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from datetime import datetime

from kitekit.clock import IST, ManualClock
from kitekit.sim import SimConfig, SimServer

#: Benchmarks run against a frozen Friday mid-session so every run sees the same market.
BENCH_NOW = datetime(2026, 11, 27, 11, 0, tzinfo=IST)


def timeit(fn: Callable[[], object], repeat: int = 5, warmup: int = 1) -> tuple[float, float]:
    """Run ``fn`` warmup + repeat times; return (median, min) seconds of the timed runs."""
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs), min(runs)


def bench_sim(config: SimConfig | None = None) -> SimServer:
    """Return a started simulator with rate limits off, on the frozen benchmark clock."""
    cfg = config or SimConfig(rate_limit_enabled=False)
    return SimServer(cfg, ManualClock(BENCH_NOW)).start()


def report(label: str, ours: float, baseline: float, unit: str = "s") -> None:
    """Print one side-by-side line with the speed-up ratio."""
    scale = 1e3 if unit == "ms" else 1.0
    print(
        f"{label:<48} kitekit {ours * scale:>10.4f}{unit}   "
        f"baseline {baseline * scale:>10.4f}{unit}   ratio {baseline / ours:>8.1f}x"
    )
