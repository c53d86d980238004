"""A parameter grid: one backtest per combination, in parallel processes, ranked by a statistic.

``--grid fast=10,20,30 slow=50,100`` runs the six combinations of the strategy on the same candles. The candles
are read once, by the caller, and handed to each worker with the instruments they need, so workers neither
fetch nor lock the candle store; each worker writes its combination's report files (no HTML) under the grid's
folder, and the caller ranks the results.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.errors import RunError

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.runner.instruments import StaticInstruments
    from kitekit.runner.risk import RiskLimits

__all__ = ["GridJob", "combinations", "parse_grid", "rank", "run_grid"]

#: What ranks a grid unless told otherwise, and which statistics rank lowest-first.
DEFAULT_METRIC = "sharpe"
_LOWER_IS_BETTER = {"max_drawdown_duration_days", "longest_losing_streak", "charges"}


def parse_grid(specs: Sequence[str]) -> dict[str, list[str]]:
    """Return ``name=v1,v2,…`` specs as the values of each parameter, in the order given.

    Raises:
        RunError: a spec without ``=`` or values, or a parameter given twice.
    """
    grid: dict[str, list[str]] = {}
    for spec in specs:
        for part in spec.split():
            name, sep, values = part.partition("=")
            items = [v.strip() for v in values.split(",") if v.strip()]
            if not sep or not name or not items:
                raise RunError(f"{part!r} is not a grid axis: write it like fast=10,20,30")
            if name in grid:
                raise RunError(f"parameter {name!r} is given twice in the grid")
            grid[name] = items
    return grid


def combinations(grid: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Return every combination of the grid's values (the last parameter varies fastest)."""
    names = list(grid)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*(grid[n] for n in names))]


@dataclass(frozen=True)
class GridJob:
    """One combination to backtest (everything a worker process needs, picklable)."""

    path: Path
    params: dict[str, str]
    frames: dict[str, pd.DataFrame]
    instruments: StaticInstruments
    start: datetime | None
    end: datetime | None
    interval: str | None
    capital: float
    limits: RiskLimits | None
    folder: Path


def _label(params: Mapping[str, str]) -> str:
    return "_".join(f"{k}-{v}" for k, v in params.items()) or "defaults"


def _run_one(job: GridJob) -> dict[str, Any]:
    """Backtest one combination; return its parameters and statistics (runs in a worker process)."""
    from kitekit.runner.run import backtest
    from kitekit.runner.state import RunFolder
    from kitekit.runner.strategy import load_strategy

    strategy = load_strategy(job.path, job.params)
    folder = RunFolder(job.folder / _label(job.params)).create()
    result = backtest(
        strategy, instruments=job.instruments, bars=job.frames, start=job.start, end=job.end, interval=job.interval,
        capital=job.capital, limits=job.limits, source=str(job.path), html=False, folder=folder,
    )  # fmt: skip
    return {**job.params, **result.stats, "folder": str(folder.path)}


def run_grid(
    jobs: Sequence[GridJob],
    *,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every job in worker processes (``workers``, default the CPU count); return their results in job order.

    Raises:
        RunError: a combination failed (the first failure is named; the others still ran).
    """
    import os

    results: list[dict[str, Any] | None] = [None] * len(jobs)
    failures: list[str] = []
    count = max(1, min(workers or os.cpu_count() or 1, len(jobs)))
    done = 0
    if progress is not None:
        progress(0, len(jobs))
    import multiprocessing

    # Spawned, not forked: the caller may run threads (a simulator, a ticker) whose locks a fork would copy held.
    with ProcessPoolExecutor(max_workers=count, mp_context=multiprocessing.get_context("spawn")) as pool:
        pending: dict[Future[dict[str, Any]], int] = {pool.submit(_run_one, job): i for i, job in enumerate(jobs)}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                i = pending.pop(future)
                try:
                    results[i] = future.result()
                except Exception as exc:  # one bad combination must not lose the others
                    failures.append(f"{_label(jobs[i].params)}: {type(exc).__name__}: {exc}")
                done += 1
                if progress is not None:
                    progress(done, len(jobs))
    if failures:
        raise RunError(f"{len(failures)} of {len(jobs)} combinations failed; first: {failures[0]}")
    return [r for r in results if r is not None]


def rank(results: Sequence[Mapping[str, Any]], metric: str = DEFAULT_METRIC) -> list[dict[str, Any]]:
    """Return the results best first by ``metric`` (NaN last); each gains its ``rank``."""

    def score(row: Mapping[str, Any]) -> float:
        value = row.get(metric)
        if not isinstance(value, int | float) or math.isnan(value):
            return math.inf
        return float(value) if metric in _LOWER_IS_BETTER else -float(value)

    ordered = sorted(results, key=score)
    return [{"rank": i, **row} for i, row in enumerate(ordered, 1)]
