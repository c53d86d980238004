"""An EMA crossover on minute bars: long while the fast EMA is above the slow one, short while below.

The runner warms the EMAs on the bars before the start (``warmup``), so the run takes its side at once instead
of a bar (or ``slow`` bars) later. Intraday (MIS): no new position after ``last_entry``; the run squares off at
its limit (15:10 by default).

    kitekit --sim run examples/ema_cross.py --backtest --from 2026-11-27 --to 2026-11-27
    kitekit --sim run examples/ema_cross.py --paper --param fast=5 --param slow=20
"""

from __future__ import annotations

from datetime import time
from typing import Any

from kitekit.runner import Bar, Strategy

OPEN = time(9, 15)  # no order before the session opens (a run started early takes its side at the open bar)


class EmaCross(Strategy):
    """Long above, short below: one order a cross, sized to go from one side to the other."""

    symbols = ("NSE:INFY",)
    interval = "minute"
    params = {"fast": 10, "slow": 30, "quantity": 10, "last_entry": "15:00"}

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.warmup = 3 * self.p.slow  # bars before the start the runner hands on_bar: the EMAs settle on them
        self.cutoff = time.fromisoformat(self.p.last_entry)
        self.fast: dict[str, float] = {}
        self.slow: dict[str, float] = {}
        self.seen: dict[str, int] = {}

    def on_load(self, state: dict[str, Any]) -> None:
        # The EMAs so far: a restart goes on with them (the runner does not warm a restored run again).
        self.fast = dict(state.get("fast", {}))
        self.slow = dict(state.get("slow", {}))
        self.seen = dict(state.get("seen", {}))

    def on_start(self) -> None:
        # Warmed up: take the side the EMAs say now rather than at the next cross (or the next bar).
        for key in self.symbols:
            self._trade(key, self.clock.now().time())

    def _update(self, key: str, price: float) -> None:
        fast = self.fast.get(key, price)
        slow = self.slow.get(key, price)
        self.fast[key] = fast + 2.0 / (self.p.fast + 1) * (price - fast)
        self.slow[key] = slow + 2.0 / (self.p.slow + 1) * (price - slow)
        self.seen[key] = self.seen.get(key, 0) + 1

    def on_bar(self, bar: Bar) -> None:
        self._update(bar.key, bar.close)
        if not self.warming:  # the warm-up's bars are the past: they set the EMAs, never an order
            self._trade(bar.key, bar.end.time())

    def _trade(self, key: str, at: time) -> None:
        fast, slow = self.fast.get(key), self.slow.get(key)
        if fast is None or slow is None or self.seen.get(key, 0) < self.p.slow or fast == slow:
            return
        if not OPEN <= at <= self.cutoff:
            return
        want = self.p.quantity if fast > slow else -self.p.quantity
        held = self.position(key)
        if want == held or self.open_orders(key):
            return
        if want > held:
            self.buy(key, want - held, product="MIS")
        else:
            self.sell(key, held - want, product="MIS")

    def on_save(self) -> dict[str, Any]:
        return {"fast": self.fast, "slow": self.slow, "seen": self.seen}
