"""Comparing two runs of one strategy on the same market: the orders it asked for, and how they filled.

The same recorded ticks give the same intents and fills in a backtest and on paper over ``kitekit sim --replay``
(both fill with the one engine, against the ticks' own books). Live against a replaying simulator they may not:
:func:`compare_runs` lists each difference with its cause, as far as the runs tell it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Difference", "compare_runs", "fills_of", "intents_of"]

#: Prices closer than this are equal.
_EPS = 1e-6


@dataclass(frozen=True)
class Difference:
    """One way two runs differ: what (an intent or a fill), which one (its place in order), each side, and why."""

    kind: str
    index: int
    left: dict[str, Any] | None
    right: dict[str, Any] | None
    cause: str

    def __str__(self) -> str:
        return f"{self.kind} #{self.index + 1}: {self.left} vs {self.right} — {self.cause}"


def intents_of(orders: pd.DataFrame) -> list[dict[str, Any]]:
    """Return what the strategy asked for, in order: intent name, instrument, side, quantity, type, prices."""
    columns = ["intent", "key", "side", "quantity", "order_type", "price", "trigger_price"]
    return [{c: row[c] for c in columns} for row in orders.to_dict("records")] if len(orders) else []


def fills_of(trades: pd.DataFrame) -> list[dict[str, Any]]:
    """Return the filled orders, in order: intent name, instrument, side, quantity, average price."""
    columns = ["intent", "key", "side", "quantity", "average_price"]
    return [{c: row[c] for c in columns} for row in trades.to_dict("records")] if len(trades) else []


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key, value in a.items():
        other = b.get(key)
        if isinstance(value, float) or isinstance(other, float):
            if abs(float(value or 0.0) - float(other or 0.0)) > _EPS:
                return False
        elif value != other:
            return False
    return True


def compare_runs(left: Any, right: Any, *, right_is_live: bool = False) -> list[Difference]:
    """Return how two runs' intents and fills differ (empty: the same orders, filled the same).

    Args:
        left: a run's report (``RunResult.report`` or ``load_report``): the reference, e.g. the backtest.
        right: the other run's report.
        right_is_live: the right run traded at an exchange (its own book, its own pace), which explains price and
            timing differences.
    """
    out: list[Difference] = []
    first_fill_diff: int | None = None
    lf, rf = fills_of(left.trades), fills_of(right.trades)
    for i in range(max(len(lf), len(rf))):
        a = lf[i] if i < len(lf) else None
        b = rf[i] if i < len(rf) else None
        if a is not None and b is not None and _same(a, b):
            continue
        if first_fill_diff is None:
            first_fill_diff = i
        if a is None or b is None:
            cause = "the other run's orders differ before it" if i > 0 else "the strategy decided otherwise"
        elif a["intent"] == b["intent"] and a["quantity"] == b["quantity"]:
            cause = (
                "filled at the exchange's own book and moment, not at the recorded tick's (the order reached the "
                "exchange after the tick it was decided on)"
                if right_is_live
                else "filled at another price: the books the two runs met differ"
            )
        else:
            cause = "a different order filled here: an earlier difference changed what the strategy did"
        out.append(Difference("fill", i, a, b, cause))
    li, ri = intents_of(left.orders), intents_of(right.orders)
    for i in range(max(len(li), len(ri))):
        a = li[i] if i < len(li) else None
        b = ri[i] if i < len(ri) else None
        if a is not None and b is not None and _same(a, b):
            continue
        if first_fill_diff is not None:
            cause = f"follows from fill #{first_fill_diff + 1}, which differed (the strategy prices its exits from it)"
        else:
            cause = "the strategy saw different ticks (a frame lost, or the recording cut differently)"
        out.append(Difference("intent", i, a, b, cause))
    return out
