"""An EMA crossover on minute bars: long while the fast EMA is above the slow one, short while below.

Intraday (MIS): no new position after ``last_entry``; the run squares off at its limit (15:10 by default).

    kitekit --sim run examples/ema_cross.py --backtest --from 2026-11-27 --to 2026-11-27
    kitekit --sim run examples/ema_cross.py --paper --param fast=5 --param slow=20
"""

from __future__ import annotations

from datetime import time
from typing import Any

from kitekit.runner import Bar, Strategy


class EmaCross(Strategy):
    """Long above, short below: one order a cross, sized to go from one side to the other."""

    symbols = ("NSE:INFY",)
    interval = "minute"
    params = {"fast": 10, "slow": 30, "quantity": 10, "last_entry": "15:00"}

    def on_load(self, state: dict[str, Any]) -> None:
        self.saved = state  # the EMAs so far: a restart goes on with them instead of warming up again

    def on_start(self) -> None:
        saved = getattr(self, "saved", {})
        self.fast: dict[str, float] = dict(saved.get("fast", {}))
        self.slow: dict[str, float] = dict(saved.get("slow", {}))
        self.seen: dict[str, int] = dict(saved.get("seen", {}))
        self.cutoff = time.fromisoformat(self.p.last_entry)
        for symbol in self.symbols:
            key = self.instruments.key(symbol)
            if key in self.seen:
                continue
            # Warm up on the candles before the start (none: it warms up on the bars to come).
            try:
                closes = self.history(key, bars=self.p.slow * 3)["close"].tolist()
            except Exception as exc:
                self.log.info("no history to warm up %s on (%s); warming up on live bars", key, exc)
                continue
            for price in closes:
                self._update(key, price)

    def _update(self, key: str, price: float) -> tuple[float, float, int]:
        fast = self.fast.get(key, price)
        slow = self.slow.get(key, price)
        fast = self.fast[key] = fast + 2.0 / (self.p.fast + 1) * (price - fast)
        slow = self.slow[key] = slow + 2.0 / (self.p.slow + 1) * (price - slow)
        seen = self.seen[key] = self.seen.get(key, 0) + 1
        return fast, slow, seen

    def on_bar(self, bar: Bar) -> None:
        key = bar.key
        fast, slow, seen = self._update(key, bar.close)
        if seen < self.p.slow or bar.end.time() > self.cutoff or fast == slow:
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
