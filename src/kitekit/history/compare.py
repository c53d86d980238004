"""Stored candles against Kite's answer for the same times: unchanged, corrected, or adjusted for a split.

Kite rewrites an instrument's history for a split or a bonus: every candle before the ex-date gets its prices
divided by one factor. It also corrects a candle now and then, and a candle stored while it was still forming
(a clock running ahead of the data's) differs from the closed one. Only an adjustment calls for fetching the
series again; the others are put right by replacing the candles that changed. :func:`compare` tells them
apart from the candles alone. An adjustment is:

* at least two changed candles (one changed candle never decides it);
* whose open, high, low and close all share one ratio to Kite's (within the rounding of Kite's adjusted prices
  to the tick), clearly away from 1 (a forming candle kept its open, so its ratio includes 1);
* with every compared candle before the newest changed one changed too (an adjustment covers all the history
  before its date; a correction of two candles among unchanged ones is not one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from kitekit.clock import IST

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PRICES", "Change", "Comparison", "compare"]

#: The columns compared: volume and open interest are not (Kite's adjustment scales volume the other way).
PRICES = ("open", "high", "low", "close")
#: A ratio within this of 1 is no split or bonus (the smallest, 1 bonus share for 10, is 1.1).
_NOT_ONE = 0.005
_SAME = 1e-9  # stored doubles of Kite's own decimals compare exactly; this only absorbs float noise
_DEFAULT_TICK = 0.05


@dataclass(frozen=True)
class Change:
    """One stored candle whose prices differ from Kite's now."""

    time: datetime
    stored: tuple[float, float, float, float]
    kite: tuple[float, float, float, float]

    def __str__(self) -> str:
        def prices(values: tuple[float, ...]) -> str:
            return "/".join(f"{v:g}" for v in values)

        return f"{self.time.astimezone(IST):%Y-%m-%d %H:%M} {prices(self.stored)} -> {prices(self.kite)}"


@dataclass(frozen=True)
class Comparison:
    """What comparing stored candles with Kite's found (see the module docstring)."""

    compared: int
    changes: tuple[Change, ...]
    factor: float | None  # stored / Kite's, when every changed price shares it
    adjusted: bool

    @property
    def same(self) -> bool:
        """Return True if every candle both hold is unchanged (or there was none to compare)."""
        return not self.changes

    @property
    def scaled(self) -> bool:
        """Return True if every changed price shares one factor clearly away from 1, as a split's do.

        A changed candle that is not scaled (a forming one kept its open) cannot be a split's work.
        """
        return self.factor is not None and abs(self.factor - 1) > _NOT_ONE

    def describe(self, limit: int = 3) -> str:
        """Return the changes in a line: ``time open/high/low/close -> Kite's``, the first ``limit`` of them."""
        shown = "; ".join(str(c) for c in self.changes[:limit])
        more = len(self.changes) - limit
        return shown + (f"; and {more:,} more" if more > 0 else "")


def compare(stored: pd.DataFrame, kite: pd.DataFrame, tick: float = _DEFAULT_TICK) -> Comparison:
    """Compare the candles ``stored`` and ``kite`` both hold (by time), on their open, high, low and close.

    Args:
        stored: candles from the store, indexed by time.
        kite: Kite's answer for (at least some of) the same times.
        tick: the instrument's tick size: Kite rounds adjusted prices to it, so a ratio is read within it.

    Returns:
        The comparison; ``adjusted`` says whether the changes are a split or bonus.
    """
    import pandas as pd

    common = stored.index.intersection(kite.index).sort_values()
    if not len(common):
        return Comparison(0, (), None, False)
    mine = stored.loc[common, list(PRICES)].to_numpy(dtype=np.float64)
    theirs = kite.loc[common, list(PRICES)].to_numpy(dtype=np.float64)
    changed = ~np.isclose(mine, theirs, rtol=_SAME, atol=_SAME).all(axis=1)
    if not changed.any():
        return Comparison(len(common), (), None, False)
    times = pd.DatetimeIndex(common).to_pydatetime()
    rows = [int(i) for i in np.flatnonzero(changed)]
    changes = tuple(Change(times[i], _four(mine[i]), _four(theirs[i])) for i in rows)
    factor = _shared_ratio(mine[changed], theirs[changed], tick if tick > 0 else _DEFAULT_TICK)
    newest = rows[-1]
    found = Comparison(len(common), changes, factor, adjusted=False)
    if found.scaled and len(rows) >= 2 and bool(changed[: newest + 1].all()):
        return Comparison(len(common), changes, factor, adjusted=True)
    return found


def _shared_ratio(mine: np.ndarray, theirs: np.ndarray, tick: float) -> float | None:
    """Return the one ratio ``mine / theirs`` every price shares, or None if they share none."""
    if not (np.isfinite(mine).all() and np.isfinite(theirs).all()) or (theirs <= 0).any():
        return None
    factor = float(np.median(mine / theirs))
    # Kite's adjusted price is the old one over the factor, rounded to the tick: off by half a tick at most.
    slack = factor * tick + 1e-6 * np.abs(mine)
    return factor if bool((np.abs(mine - factor * theirs) <= slack).all()) else None


def _four(values: np.ndarray) -> tuple[float, float, float, float]:
    return float(values[0]), float(values[1]), float(values[2]), float(values[3])
