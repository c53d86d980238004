"""Telling a split or bonus from corrected candles, from the candles alone (pure: no store, no server)."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from kitekit.clock import IST
from kitekit.history.compare import PRICES, compare

OPEN = datetime(2026, 11, 27, 9, 15, tzinfo=IST)


def prices(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Minute candles from 09:15 with the given open, high, low and close."""
    index = pd.DatetimeIndex([OPEN + timedelta(minutes=m) for m in range(len(rows))], name="date").as_unit("us")
    return pd.DataFrame(rows, index=index, columns=list(PRICES))


def walk(n: int, start: float = 1234.5) -> pd.DataFrame:
    """``n`` candles of a price walk on the 0.05 tick."""
    rng = np.random.default_rng(7)
    close = start + 0.05 * np.cumsum(rng.integers(-6, 7, n))
    opened = np.concatenate([[start], close[:-1]])
    return prices(
        [
            (round(o, 2), round(max(o, c) + 0.35, 2), round(min(o, c) - 0.2, 2), round(c, 2))
            for o, c in zip(opened.tolist(), close.tolist(), strict=True)
        ]
    )


def adjusted(frame: pd.DataFrame, factor: float) -> pd.DataFrame:
    """What Kite serves after a 1:``factor`` split: every price over the factor, rounded to the 0.05 tick."""
    return (frame / factor / 0.05).round() * 0.05


@pytest.mark.parametrize(
    "factor", [2.0, 5.0, 1.1, 1.5, 0.5], ids=["1:2 split", "1:5", "1:10 bonus", "1:2 bonus", "2:1 merge"]
)
def test_every_candle_off_by_one_factor_is_an_adjustment(factor: float) -> None:
    stored = walk(300)
    found = compare(stored, adjusted(stored, factor))
    assert found.adjusted and found.compared == len(found.changes) == 300
    assert found.factor == pytest.approx(factor, rel=1e-3)


def test_one_candle_never_decides_a_split() -> None:
    stored = walk(1)
    found = compare(stored, adjusted(stored, 2.0))
    assert found.scaled and not found.adjusted and len(found.changes) == 1


def test_a_candle_stored_while_forming_kept_its_open_and_is_no_split() -> None:
    forming = prices([(1321.1, 1321.1, 1321.1, 1321.1)])
    closed = prices([(1321.1, 1324.5, 1319.0, 1322.0)])
    found = compare(forming, closed)
    assert not found.scaled and not found.adjusted
    assert str(found.changes[0]) == "2026-11-27 09:15 1321.1/1321.1/1321.1/1321.1 -> 1321.1/1324.5/1319/1322"


def test_a_correction_among_unchanged_candles_is_no_split_even_if_scaled() -> None:
    stored = walk(50)
    kite = stored.copy()
    kite.iloc[[20, 21]] = adjusted(stored.iloc[[20, 21]], 2.0)  # two candles off by one factor, the rest equal
    found = compare(stored, kite)
    assert found.scaled and not found.adjusted and [c.time for c in found.changes] == list(stored.index[20:22])


def test_candles_after_the_ex_date_may_be_unchanged() -> None:
    stored = walk(60)
    kite = stored.copy()
    kite.iloc[:40] = adjusted(stored.iloc[:40], 2.0)  # Kite adjusted all before the ex-date; the store kept after
    found = compare(stored, kite)
    assert found.adjusted and len(found.changes) == 40


def test_changes_of_different_factors_are_corrections() -> None:
    stored = walk(10)
    kite = stored.copy()
    kite.iloc[:5] = adjusted(stored.iloc[:5], 2.0)
    kite.iloc[5:] = adjusted(stored.iloc[5:], 3.0)
    found = compare(stored, kite)
    assert found.factor is None and not found.adjusted and len(found.changes) == 10


def test_a_tiny_shared_ratio_is_no_split() -> None:
    stored = walk(10)
    found = compare(stored, stored * 1.002)
    assert not found.scaled and not found.adjusted


def test_only_the_times_both_hold_are_compared() -> None:
    stored = walk(10)
    assert compare(stored, walk(10).iloc[10:]).compared == 0 and compare(stored, walk(10).iloc[10:]).same
    found = compare(stored.iloc[3:5], walk(10))
    assert found.compared == 2 and found.same


def test_a_description_lists_the_first_changes_and_counts_the_rest() -> None:
    stored = walk(5)
    text = compare(stored, adjusted(stored, 2.0)).describe(limit=2)
    assert text.count("->") == 2 and text.endswith("; and 3 more")
