"""An index option short straddle: sell the at-the-money call and put, each with a stop-loss, out before the close.

At ``entry`` (IST) it sells ``lots`` of the nearest expiry's call and put at the strike nearest the index, at
market. Each filled leg gets a stop-loss buy (SL) ``stop`` above its premium (0.3: 30%); a leg whose stop fills
is done. At ``exit`` every open stop is cancelled and what is left is bought back; the run's own intraday
square-off (15:10 by default) is there behind it, before the broker's at 15:20.

    kitekit --sim run examples/short_straddle.py --backtest --from 2026-11-27 --to 2026-11-27
    kitekit --sim run examples/short_straddle.py --paper --param entry=11:05 --param exit=11:30
"""

from __future__ import annotations

from typing import Any

from kitekit.orders import OrderType, nearest_tick
from kitekit.runner import OrderEvent, OrderEventKind, Strategy, Timer


class ShortStraddle(Strategy):
    """Sell the ATM straddle at ``entry``, stop each leg at ``stop`` above its premium, buy back at ``exit``."""

    symbols = ("NSE:NIFTY 50",)
    interval = "minute"
    params = {"underlying": "NIFTY", "entry": "09:20", "exit": "15:00", "lots": 1, "stop": 0.3}

    def on_start(self) -> None:
        saved = getattr(self, "saved", {})
        self.legs: list[str] = list(saved.get("legs", []))
        self.stops: dict[str, str] = dict(saved.get("stops", {}))
        self.clock.at(self.p.entry, self.enter, name="entry")
        self.clock.at(self.p.exit, self.leave, name="exit")

    def enter(self, timer: Timer) -> None:
        if self.positions or self.legs:
            return  # entered already today (a restart: the legs are in the run's book)
        spot = float(self.quote(self.symbols[0])["last_price"])
        chain = self.instruments.option_chain(self.p.underlying)
        row = chain.iloc[(chain["strike"] - spot).abs().argsort().iloc[0]]
        exchange = self.instruments.instrument(int(row["ce_token"])).exchange
        self.legs = [f"{exchange}:{row['ce_symbol']}", f"{exchange}:{row['pe_symbol']}"]
        self.subscribe(*self.legs)
        quantity = int(row["lot_size"]) * self.p.lots
        day = self.clock.now().date().isoformat()
        for leg in self.legs:
            self.sell(leg, quantity, f"short-{leg}-{day}", product="MIS")
        self.log.info("short straddle at %s (spot %.2f): %s", row["strike"], spot, ", ".join(self.legs))

    def on_order(self, event: OrderEvent) -> None:
        order = event.order
        if event.kind is not OrderEventKind.FILLED or not (event.intent_id or "").startswith("short-"):
            return
        tick = self.instruments.instrument(event.key).tick_size
        trigger = nearest_tick(order.average_price * (1 + self.p.stop), tick)
        limit = nearest_tick(trigger * 1.05, tick)  # options take no SL-M: a stop with a limit a little above
        placed = self.buy(event.key, order.filled_quantity, f"stop-{event.intent_id}", price=limit,
                          trigger_price=trigger, order_type=OrderType.SL, product="MIS")  # fmt: skip
        self.stops[event.key] = placed.order_id

    def leave(self, timer: Timer) -> None:
        for order in self.open_orders():
            self.orders.cancel(order.order_id)
        for key in list(self.positions):
            self.close(key)
        self.legs = []

    def on_save(self) -> dict[str, Any]:
        return {"legs": self.legs, "stops": self.stops}

    def on_load(self, state: dict[str, Any]) -> None:
        self.saved = state
