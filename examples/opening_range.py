"""An opening-range breakout on ticks: the first minutes set a range; a tick through it enters, once a day.

The range is the high and low of the first ``range_minutes`` of ticks the run sees each day (from the open
when it runs all day). A tick above the range buys, below it sells short (MIS), at market; a stop-loss order
and a target order then bracket the position, and whichever fills first cancels the other. The run's
intraday square-off closes whatever is left.

    kitekit --sim run examples/opening_range.py --paper
    kitekit run examples/opening_range.py --backtest --ticks ticks/    # a recording of `kitekit record`
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kitekit.orders import OrderType, nearest_tick
from kitekit.runner import OrderEvent, OrderEventKind, Strategy


class OpeningRangeBreakout(Strategy):
    """One breakout trade a day per instrument, bracketed by a stop and a target."""

    symbols = ("NSE:RELIANCE",)
    interval = "minute"
    ticks = True
    params = {"range_minutes": 15, "quantity": 5, "stop": 0.005, "target": 0.01}

    def on_start(self) -> None:
        self.day: dict[str, str] = {}
        self.began: dict[str, datetime] = {}
        self.high: dict[str, float] = {}
        self.low: dict[str, float] = {}
        self.traded: set[str] = set()
        self.exits: dict[str, list[str]] = {}

    def on_tick(self, ticks: list[dict[str, Any]]) -> None:
        for tick in ticks:
            key = self.key_of(tick["instrument_token"])
            stamp = tick.get("exchange_timestamp")
            if key is None or not isinstance(stamp, datetime):
                continue
            price = float(tick["last_price"])
            day = stamp.date().isoformat()
            if self.day.get(key) != day:  # a new day: a new range
                self.day[key], self.began[key] = day, stamp
                self.high[key] = self.low[key] = price
                self.traded.discard(key)
                continue
            if stamp - self.began[key] < timedelta(minutes=self.p.range_minutes):
                self.high[key] = max(self.high[key], price)
                self.low[key] = min(self.low[key], price)
            elif key not in self.traded and (price > self.high[key] or price < self.low[key]):
                self.traded.add(key)
                side = self.buy if price > self.high[key] else self.sell
                side(key, self.p.quantity, f"entry-{day}", product="MIS")

    def on_order(self, event: OrderEvent) -> None:
        order, key = event.order, event.key
        if event.kind is OrderEventKind.FILLED and event.intent_id and event.intent_id.startswith("entry-"):
            long = order.transaction_type == "BUY"
            tick = self.instruments.instrument(key).tick_size
            entry = order.average_price
            stop = nearest_tick(entry * (1 - self.p.stop if long else 1 + self.p.stop), tick)
            target = nearest_tick(entry * (1 + self.p.target if long else 1 - self.p.target), tick)
            close = self.sell if long else self.buy
            placed = [
                close(key, order.filled_quantity, f"stop-{event.intent_id}", trigger_price=stop,
                      order_type=OrderType.SL_M, product="MIS"),
                close(key, order.filled_quantity, f"target-{event.intent_id}", price=target, product="MIS"),
            ]  # fmt: skip
            self.exits[key] = [p.order_id for p in placed]
        elif event.kind is OrderEventKind.FILLED and order.order_id in self.exits.get(key, []):
            for other in self.exits.pop(key):  # one exit filled: the other goes
                if other != order.order_id:
                    self.orders.cancel(other)
