"""Helpers shared by the benchmarks: timing in process and of whole processes, a simulator, result lines."""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import kitekit
from kitekit.clock import IST, ManualClock
from kitekit.sim import SimConfig, SimServer

#: Benchmarks run against a frozen Friday mid-session so every run sees the same market.
BENCH_NOW = datetime(2026, 11, 27, 11, 0, tzinfo=IST)

#: What a benchmark's ``main`` returns: its headline figures by name (CI checks they are there).
Figures = dict[str, float]


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


@dataclass(frozen=True)
class Spread:
    """Wall times of repeated runs: the median and the range, in seconds."""

    median: float
    low: float
    high: float
    runs: int

    def __str__(self) -> str:
        return f"{self.median * 1e3:7.0f} ms  ({self.low * 1e3:.0f}–{self.high * 1e3:.0f} ms, {self.runs} runs)"


def whole_processes(
    commands: Mapping[str, Sequence[str]],
    runs: int,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    expect: Mapping[str, int] | None = None,
) -> dict[str, Spread]:
    """Time each command as a whole process, ``runs`` times, interleaved so machine load hits all alike.

    Args:
        commands: argv by label.
        runs: how many times each runs.
        env: variables added to the environment.
        cwd: the working directory.
        expect: the exit code a command must end with, by label (0 when not given).

    kitekit's modules are byte-compiled first, as ``pip install`` does for an installed package: an editable
    install where ``PYTHONDONTWRITEBYTECODE`` is set (CI, containers) would otherwise compile every module
    from source in every run, ~25 ms that no installed copy pays.

    Raises:
        RuntimeError: a command ended otherwise (its stderr is in the message).
    """
    compileall.compile_dir(Path(kitekit.__file__).parent, quiet=1)
    times: dict[str, list[float]] = {name: [] for name in commands}
    full_env = {**os.environ, **(env or {})}
    for _ in range(runs):
        for name, argv in commands.items():
            started = time.perf_counter()
            done = subprocess.run(list(argv), env=full_env, cwd=cwd, capture_output=True, check=False)
            times[name].append(time.perf_counter() - started)
            if done.returncode != (expect or {}).get(name, 0):
                raise RuntimeError(f"{name} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
    return {name: Spread(statistics.median(t), min(t), max(t), len(t)) for name, t in times.items()}


def bench_sim(config: SimConfig | None = None) -> SimServer:
    """Return a started simulator with rate limits off, on the frozen benchmark clock."""
    cfg = config or SimConfig(rate_limit_enabled=False)
    return SimServer(cfg, ManualClock(BENCH_NOW)).start()


def report(label: str, ours: float, baseline: float, unit: str = "s") -> float:
    """Print one side-by-side line with the speed-up ratio; return the ratio."""
    scale = 1e3 if unit == "ms" else 1.0
    print(
        f"{label:<52} kitekit {ours * scale:>10.4f}{unit}   "
        f"baseline {baseline * scale:>10.4f}{unit}   ratio {baseline / ours:>8.1f}x"
    )
    return baseline / ours
