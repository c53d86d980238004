"""The one run loop: a strategy's events in every mode, its orders through the risk guard, its book and its state.

:class:`RunCore` is what stays the same whether the market comes from stored candles, recorded ticks or a live
ticker; the drivers (:mod:`kitekit.runner.drivers`) only bring events in time order and set the clock (simulated
in a backtest, the market's on paper and live). For each moment the loop, in this order:

1. starts a new day when the date changed (daily counters; a halt ends, a kill does not);
2. looks at the kill switch (paper and live), fires due timers, squares off intraday positions at the limit's
   time;
3. gives the broker the market (a backtest's engine; the paper broker's ticks), collects what happened to the
   run's orders and books the fills, charges and round trips;
4. marks the book, checks the day's loss against the limits (reducing-only, then halt and flatten);
5. hands the strategy its bars, ticks and order events, one at a time, never re-entrantly: an order placed in
   ``on_bar`` that fills at once is reported by ``on_order`` after ``on_bar`` returns.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from kitekit.clock import IST, Clock
from kitekit.errors import IntentConflictError, OrderStateError, OrderValidationError, RiskLimitError, RunError
from kitekit.orders import Order, OrderChange, OrderGateway, OrderRequest, OrderStatus, Placement, Product
from kitekit.runner.book import Book
from kitekit.runner.killswitch import KillRequest, KillSwitch
from kitekit.runner.model import Bar, OrderEvent, OrderEventKind, PositionView, RunMode
from kitekit.runner.orders import RunOrders, intent_suffix
from kitekit.runner.risk import SQUAREOFF_EXCHANGES, ExposureView, RiskGuard, RiskLimits, RiskState
from kitekit.runner.state import JsonLines, RunFolder, RunState, tag_prefix
from kitekit.runner.strategy import Strategy
from kitekit.runner.timers import StrategyClock, Timer

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["EVENT_KINDS", "MarketAccess", "RunCore", "Tracked"]

log = logging.getLogger("kitekit.runner")

#: The kinds of the run's event record (``events.jsonl``): its orders (placed, refused, cancelled, rejected...), its
#: fills, its risk state (reducing, halted, the square-off), a kill, the run's stop, and the rest (a new day...).
EVENT_KINDS = ("order", "fill", "risk", "kill", "stop", "info")

#: Order events handled in one go before the loop calls it a runaway (a strategy answering each fill with an order
#: that fills at once, forever).
MAX_CASCADE = 10_000


class MarketAccess(Protocol):
    """What a mode gives the strategy besides orders: quotes, history, more instruments."""

    def quote(self, key: str, token: int, now: datetime) -> dict[str, Any]:
        """Return the latest ``/quote`` item of an instrument."""
        ...

    def history(self, key: str, interval: str, bars: int, now: datetime) -> pd.DataFrame:
        """Return the last ``bars`` closed candles up to ``now``."""
        ...

    def subscribe(self, keys: Sequence[str], now: datetime) -> None:
        """Start delivering bars (and ticks) of ``keys`` from ``now`` on."""
        ...


@dataclass(slots=True)
class Tracked:
    """What the run knows of one of its orders: its last state, and what the book has taken of its fills."""

    order_id: str
    intent: str
    key: str
    instrument_token: int
    product: str
    is_buy: bool
    status: str | None = None
    quantity: int = 0
    price: float = 0.0
    trigger_price: float = 0.0
    filled: int = 0
    average: float = 0.0
    realised: float = 0.0
    charged: bool = False
    placed_at: str = ""
    order_type: str = ""

    @property
    def live(self) -> bool:
        """Return True while the order may still fill."""
        return self.status is not None and self.status not in _TERMINAL

    def to_json(self) -> dict[str, Any]:
        """Return the record as JSON-able values."""
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tracked:
        """Return the record :meth:`to_json` wrote."""
        return cls(**{name: data[name] for name in cls.__slots__ if name in data})


_TERMINAL = frozenset(str(s) for s in OrderStatus if s.is_terminal)


def _short(intent: str) -> str | None:
    """Return the strategy's own name of an intent (``<run>:<day>:<name>`` → ``<name>``)."""
    parts = intent.split(":", 2)
    return parts[2] if len(parts) == 3 else (intent or None)


def _is_refusal(exc: BaseException) -> bool:
    """Return True for an order refused (by the limits, the pre-trade rules, or Kite): the run goes on after one."""
    import sys

    if isinstance(exc, RiskLimitError | OrderValidationError | OrderStateError | IntentConflictError):
        return True
    kite = sys.modules.get("kiteconnect.exceptions")
    return kite is not None and isinstance(exc, kite.KiteException)


_LIVE_ENTRY = frozenset({"OPEN", "TRIGGER PENDING", "AMO REQ RECEIVED"})


@dataclass
class Sample:
    """The equity curve: one point per moment sampled, with whether the run held anything then."""

    times: list[datetime] = field(default_factory=list)
    equity: list[float] = field(default_factory=list)
    exposed: list[bool] = field(default_factory=list)


class RunCore:
    """One run of one strategy (see the module docstring).

    Args:
        strategy: the strategy.
        mode: backtest, paper or live.
        broker: the broker (a :class:`~kitekit.runner.simbroker.BacktestBroker`, ``PaperBroker`` or ``LiveBroker``).
        clock: the run's clock.
        instruments: the instrument store (``instrument(key)``; ``key(query)`` when it has one).
        folder: the run's folder.
        limits: the risk limits.
        capital: the equity the run starts with (the equity curve's origin), in rupees.
        symbols: the instruments' keys (``EXCHANGE:TRADINGSYMBOL``).
        interval: the bar interval.
        market: quotes, history and subscriptions of the mode.
        kill: the kill switch (paper and live).
        durable: keep the state on disk as the run goes (paper and live: a restart goes on from it).
    """

    def __init__(
        self,
        strategy: Strategy,
        *,
        mode: RunMode,
        broker: OrderGateway,
        clock: Clock,
        instruments: Any,
        folder: RunFolder,
        limits: RiskLimits,
        capital: float,
        symbols: Sequence[str],
        interval: str,
        market: MarketAccess,
        kill: KillSwitch | None = None,
        durable: bool = False,
        tag_length: int = 20,
    ) -> None:
        self.strategy = strategy
        self.mode = mode
        self.broker = broker
        self.clock = clock
        self.instruments = instruments
        self.folder = folder
        self.name = folder.name
        self.guard = RiskGuard(limits)
        self.capital = capital
        self.symbols = list(dict.fromkeys(symbols))
        self.interval = interval
        self.market = market
        self.kill_switch = kill
        self.durable = durable
        #: The longest order tag the order broker takes (Kite and Upstox 20, Angel 19).
        self.tag_length = tag_length
        self.book = Book()
        self.state = RunState()
        self.timers = StrategyClock(clock, on_change=self._timer_set)
        self.orders = RunOrders(self)
        self.tracked: dict[str, Tracked] = {}
        #: The run's orders that may still fill (sent, not yet known to be final): what a new order is weighed
        #: with, kept as orders change so its cost does not grow with the day's orders.
        self.working: dict[str, Tracked] = {}
        self.tokens: dict[str, int] = {}
        self.keys: dict[int, str] = {}
        self.samples = Sample()
        self.trade_rows: list[dict[str, Any]] = []
        self.order_rows: list[dict[str, Any]] = []
        self.events: collections.deque[str] = collections.deque(maxlen=12)
        self.log = logging.getLogger(f"kitekit.runner.{self.name}")
        self.active = True
        self.stopping: str | None = None
        self._stopped = False
        self._strategy_started = False
        #: True while the warm-up's bars go to the strategy (``Strategy.warming``).
        self.warming = False
        #: Set when the strategy added instruments (the driver loads or subscribes them, then clears it).
        self.subscribed = False
        self._new_keys: list[str] = []
        #: The earliest moment :meth:`advance` has anything to do (a new day, a timer, the square-off): drivers
        #: compare each event's time against it alone. The kill switch is looked at by live drivers on their own.
        self.next_check: datetime = datetime.min.replace(tzinfo=IST)
        self.started_at: datetime | None = None
        self._pending: collections.deque[OrderEvent] = collections.deque()
        #: True when an order may have changed: the run looks at its orders before the next event.
        self.dirty = False
        self._dispatching = False
        self._prefix = ""
        self._squareoff: time | None = limits.squareoff_at
        self._next_day: datetime | None = None
        #: True when a loss limit is set: marks are checked against it.
        self.checks_loss = limits.max_daily_loss is not None or limits.reduce_at is not None
        self.on_save_state: Callable[[], None] | None = None
        self._logs = {
            # The equity curve and the event record are for looking at: not worth an fsync each.
            name: JsonLines(folder.file(f"{name}.jsonl"), durable=name not in ("equity", "events"))
            for name in ("equity", "trades", "orders", "events")
        }
        for key in self.symbols:
            self.token_of(key)

    # -- names --------------------------------------------------------------------------------------
    def token_of(self, key: str) -> int:
        """Return the instrument token of ``key`` (looked up once)."""
        token = self.tokens.get(key)
        if token is None:
            token = int(self.instruments.instrument(key).instrument_token)
            self.tokens[key], self.keys[token] = token, key
        return token

    def key_of(self, instrument_token: int) -> str | None:
        """Return the key of one of the run's instruments by its token, None for another."""
        return self.keys.get(instrument_token)

    def resolve(self, query: str | int) -> str:
        """Return the ``EXCHANGE:TRADINGSYMBOL`` of a symbol, name or token."""
        if isinstance(query, str) and query in self.tokens:
            return query
        finder = getattr(self.instruments, "key", None)
        if callable(finder):
            return str(finder(query))
        return str(query)

    # -- starting -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Restore the state (paper, live), reconcile with the broker, then start the strategy.

        Raises:
            RunError: the run was killed and the flag is still set, or the state cannot be read.
        """
        now = self.clock.now()
        self.started_at = now
        self.folder.create()
        if self.durable:
            self._restore()
        if self.kill_switch is not None:
            flag = self.kill_switch.check(force=True)
            if flag is not None:
                raise RunError(
                    f"run {self.name} is killed ({flag.reason}); clear the flag first: kitekit kill {self.name} --clear"
                )
            if self.guard.state is RiskState.KILLED:
                self.guard.state, self.guard.reason, self.state.killed = RiskState.ACTIVE, "", None
        self._start_day(now, first=True)
        if self.mode is not RunMode.BACKTEST:
            self.reconcile()
        strategy = self.strategy
        vars(strategy)["symbols"] = tuple(self.symbols)  # the run's instruments (--symbols), not only the class's
        strategy.orders = self.orders
        strategy.clock = self.timers
        strategy.log = self.log
        strategy._host = self
        if self.state.strategy:
            strategy.on_load(dict(self.state.strategy))
        if self.guard.state is RiskState.HALTED:
            self.active = False
            self.note(f"halted for the day: {self.guard.reason}", "risk")
            self._flatten("halt")
        if not self.state.strategy:  # a restart's saved state already holds what the bars before taught it
            self.warm_up(self.symbols)
        try:
            strategy.on_start()
        except Exception as exc:
            self.refused(exc)
        self._strategy_started = True
        self.after()
        self.reschedule()
        self.save()

    def _restore(self) -> None:
        try:
            saved = self.folder.load_state()
        except ValueError as exc:
            raise RunError(str(exc)) from None
        if saved is None:
            return
        self.state = saved
        self.guard.load(saved.risk)
        self.book = Book.from_json(saved.book) if saved.book else Book()
        self.tracked = {oid: Tracked.from_json(data) for oid, data in saved.orders.items()}
        self.working = {oid: t for oid, t in self.tracked.items() if t.status is None or t.live}
        for item in self.tracked.values():
            self.tokens.setdefault(item.key, item.instrument_token)
            self.keys.setdefault(item.instrument_token, item.key)
        for record in self._logs["equity"].load():
            self.samples.times.append(datetime.fromisoformat(str(record["time"])))
            self.samples.equity.append(float(record["equity"]))
            self.samples.exposed.append(bool(record["exposed"]))
        for name, rows in (("trades", self.trade_rows), ("orders", self.order_rows)):
            for record in self._logs[name].load():
                record["time"] = datetime.fromisoformat(str(record["time"]))
                rows.append(record)
        self.note(
            f"resumed: {len(self.tracked)} orders, {len(self.book.open_lots())} positions, risk {self.guard.state}"
        )

    def reconcile(self) -> None:
        """Take the broker's word for the run's orders and positions (after a restart, a crash, a gap).

        Orders in the account's book carrying the run's tag are its own: their fills since the run last saw them
        are booked (and reported to ``on_order`` once the strategy starts). An intent written down before a crash
        is found by its tag, or known never to have reached the exchange. A position the broker closed (its own
        intraday square-off, a manual exit) is closed in the run's book too.

        Route: the broker's ``orders()`` and ``positions()`` (``GET /orders``, ``GET /portfolio/positions``).
        """
        orders = self.broker.orders()
        by_tag = {o.tag: o for o in orders if o.tag}
        for full, intent in self.state.intents.items():
            if intent.get("order_id") or intent.get("error"):
                continue
            found = by_tag.get(str(intent.get("tag")))
            if found is None:
                intent["error"] = "never reached the exchange (not in the order book after a restart)"
                self.note(f"intent {full} never reached the exchange", "order")
            else:
                intent["order_id"] = found.order_id
                self._track(found, full, intent)
        for order in orders:
            if order.order_id in self.tracked or (order.tag and order.tag.startswith(self._prefix)):
                self.process(order)
        self._reconcile_positions()
        self.save()

    def _reconcile_positions(self) -> None:
        lots = self.book.open_lots()
        if not lots:
            return
        try:
            held = {(p.key, str(p.product)): p.quantity for p in self.broker.positions().net}
        except Exception as exc:  # positions cannot be read: keep the run's book, say so
            self.note(f"positions not reconciled: {type(exc).__name__}: {exc}")
            return
        now = self.clock.now()
        for lot in lots:
            broker = held.get((lot.key, lot.product), 0)
            if broker == lot.quantity:
                continue
            if broker == 0 or (broker > 0) != (lot.quantity > 0) or abs(broker) < abs(lot.quantity):
                kept = broker if broker and (broker > 0) == (lot.quantity > 0) else 0
                self.note(f"{lot.key} {lot.product}: the broker holds {broker}, the run {lot.quantity}; now {kept}")
                self.book.set_quantity(lot.key, lot.product, kept, now)

    # -- days ---------------------------------------------------------------------------------------
    def _start_day(self, now: datetime, first: bool = False) -> None:
        local = now.astimezone(IST)
        day = local.date().isoformat()
        self._prefix = tag_prefix(self.name, local.date(), self.tag_length - 8)
        self._next_day = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=IST)
        if day == self.state.day:
            if self.guard.day != day:
                self.guard.new_day(day)
            return
        if not first and self.mode is not RunMode.BACKTEST:
            self._reconcile_positions()
        self.state.day = day
        self.guard.new_day(day)
        self.state.day_start_pnl = self.book.pnl
        if self.guard.state is not RiskState.KILLED:
            self.active = True
        if not first:
            self.note(f"new day {day}")
            self.save()

    # -- each moment --------------------------------------------------------------------------------
    def advance(self, now: datetime) -> None:
        """Bring the run to ``now``: a new day, the kill switch, due timers, the intraday square-off."""
        assert self._next_day is not None  # noqa: S101 - set by start()
        if now >= self._next_day:
            self._start_day(now)
        if self.kill_switch is not None:
            flag = self.kill_switch.check()
            if flag is not None:
                self.kill(flag)
                return
        due = self.timers.next_due
        if due is not None and now >= due:
            for timer in self.timers.due(now):
                self._fire(timer)
        if self._squareoff is not None and self.state.squared_off != self.state.day:
            local = now.astimezone(IST)
            if local.time() >= self._squareoff:
                self.squareoff(local)
        self.after()
        self.reschedule()

    def reschedule(self) -> None:
        """Compute :attr:`next_check` again (a timer was set, a day began, the square-off was done)."""
        assert self._next_day is not None  # noqa: S101 - set by start()
        moments = [self._next_day]
        if self.timers.next_due is not None:
            moments.append(self.timers.next_due)
        if self._squareoff is not None and self.state.squared_off != self.state.day:
            moments.append(datetime.combine(self._next_day.date() - timedelta(days=1), self._squareoff, tzinfo=IST))
        if self.kill_switch is not None:
            moments = [datetime.min.replace(tzinfo=IST)]  # live: every moment looks at the kill switch
        self.next_check = min(moments)

    def refused(self, exc: Exception) -> None:
        """Note an order the strategy let a refusal of escape (the run goes on); raise anything else."""
        if not _is_refusal(exc):
            raise exc
        self.note(f"the strategy's order was refused: {type(exc).__name__}: {exc}", "order")

    def _timer_set(self, due: datetime) -> None:
        if due < self.next_check:
            self.next_check = due

    def _fire(self, timer: Timer) -> None:
        if not self.active:
            return
        try:
            if timer.callback is not None:
                timer.callback(timer)
            else:
                self.strategy.on_timer(timer)
        except Exception as exc:
            self.refused(exc)
        self.after()

    def warm_up(self, keys: Sequence[str]) -> None:
        """Hand the strategy the last ``warmup`` closed bars of ``keys`` through ``on_bar``, flagged as warming.

        Nothing else sees them: the book is not marked, no limit is checked, the broker is not fed (they are the
        past). See :mod:`kitekit.runner.warmup`.
        """
        from kitekit.runner.warmup import warmup_bars

        count = int(getattr(self.strategy, "warmup", 0) or 0)
        if count <= 0 or not keys:
            return
        now = self.clock.now()
        tokens = {key: self.token_of(key) for key in keys}
        bars, failed = warmup_bars(self.market.history, keys, tokens, self.interval, count, now)
        for key, why in failed.items():
            self.note(f"no warm-up for {key}: {why}")
        self.warming = True
        try:
            for bar in bars:
                try:
                    self.strategy.on_bar(bar)
                except Exception as exc:
                    self.refused(exc)
        finally:
            self.warming = False
        if bars:
            self.note(f"warmed up on {len(bars)} bars of {len(keys) - len(failed)} instruments")
        self.after()

    def deliver_bar(self, bar: Bar) -> None:
        """Mark the book at the bar's close, then give the bar to the strategy."""
        self.book.mark(bar.instrument_token, bar.close)
        if self.checks_loss:
            self.check_loss()
        if self.active:
            try:
                self.strategy.on_bar(bar)
            except Exception as exc:
                self.refused(exc)
            if self.dirty:
                self.after()

    def deliver_ticks(self, ticks: list[dict[str, Any]]) -> None:
        """Mark the book at the ticks' prices, then give the frame to the strategy (when it takes ticks)."""
        mark = self.book.mark
        for tick in ticks:
            price = tick.get("last_price")
            if price:
                mark(int(tick["instrument_token"]), float(price))
        if self.checks_loss:
            self.check_loss()
        if self.active and self.strategy.ticks:
            try:
                self.strategy.on_tick(ticks)
            except Exception as exc:
                self.refused(exc)
            self.after()

    def sample(self, now: datetime) -> None:
        """Add a point to the equity curve."""
        samples = self.samples
        equity, exposed = self.capital + self.book.pnl, self.book.held > 0
        samples.times.append(now)
        samples.equity.append(equity)
        samples.exposed.append(exposed)
        if self.durable:
            self._logs["equity"].append({"time": now.isoformat(), "equity": equity, "exposed": exposed})

    # -- orders -------------------------------------------------------------------------------------
    def touched(self) -> None:
        """Note that an order changed: the run looks at its orders before the next event."""
        self.dirty = True

    def place(self, request: OrderRequest, intent_id: str | None, *, quote: Any = None,
              internal: str | None = None) -> Placement:  # fmt: skip
        """Check ``request`` against the limits, name and tag it, write it ahead, then send it (see RunOrders)."""
        now = self.clock.now()
        key = request.key
        token = self.token_of(key)
        day = self.state.day
        if intent_id is not None:
            full = f"{self.name}:{day}:{intent_id}"
            known = self.state.intents.get(full)
            if known is not None and known.get("order_id"):
                return Placement(full, str(known["tag"]), str(known["order_id"]), replayed=True)
        product = str(request.product) if request.product is not None else self._default_product(key)
        record: dict[str, Any] = {
            "key": key,
            "side": str(request.transaction_type),
            "quantity": request.quantity,
            "order_type": str(request.order_type),
            "product": product,
            "price": request.price,
            "trigger_price": request.trigger_price,
            "at": now.isoformat(),
        }
        if internal is None:
            try:
                if (
                    product == "MIS"
                    and self.state.squared_off == day
                    and request.exchange in SQUAREOFF_EXCHANGES
                    and not self._reduces(key, request)
                ):
                    raise RiskLimitError(
                        "squareoff_at", f"intraday (MIS) orders are closed after {self._squareoff} today"
                    )
                price = request.price or request.trigger_price or self._last_price(key, token, now)
                self.guard.check_order(key, request.is_buy, request.quantity, price, now, self._exposure())
            except RiskLimitError as exc:
                self._row(intent_id or "", record, now, None, f"refused: {exc.limit}")
                raise
        self.state.seq += 1
        seq = self.state.seq
        name = intent_id if intent_id is not None else (f"{internal}-{seq}" if internal else f"n{seq}")
        full = f"{self.name}:{day}:{name}"
        suffix = f"{seq:08d}"[-8:] if intent_id is None else intent_suffix(name)
        tag = f"{self._prefix}{suffix}"
        record["tag"] = tag
        self.state.intents[full] = record
        self.save()  # written ahead: after a crash the run finds the order by this tag
        try:
            placement = self.broker.place(request, full, tag=tag, quote=quote)
        except Exception as exc:
            record["error"] = f"{type(exc).__name__}: {exc}"
            self.note(f"refused {name} {record['side']} {request.quantity} {key}: {exc}", "order")
            self._row(name, record, now, None, "refused")
            self.save()
            raise
        record["order_id"] = placement.order_id
        order_type = str(request.order_type)
        self.working[placement.order_id] = self.tracked.setdefault(
            placement.order_id,
            Tracked(placement.order_id, full, key, token, product, request.is_buy, placed_at=now.isoformat(),
                    order_type=order_type, quantity=request.quantity, price=request.price or 0.0,
                    trigger_price=request.trigger_price or 0.0),
        )  # fmt: skip
        self._row(name, record, now, placement.order_id, "placed")
        self.note(f"placed {name}: {record['side']} {request.quantity} {key} {order_type}", "order")
        self.dirty = True
        return placement

    def _row(self, name: str, record: Mapping[str, Any], now: datetime, order_id: str | None, outcome: str) -> None:
        self._keep("orders", self.order_rows, {
            "time": now,
            "intent": name,
            "order_id": order_id or "",
            "key": record["key"],
            "side": record["side"],
            "quantity": int(record["quantity"]),
            "order_type": record["order_type"],
            "product": record["product"],
            "price": float(record["price"] or 0.0),
            "trigger_price": float(record["trigger_price"] or 0.0),
            "outcome": outcome,
        })  # fmt: skip

    def _keep(self, log_name: str, rows: list[dict[str, Any]], row: dict[str, Any]) -> None:
        rows.append(row)
        if self.durable:
            self._logs[log_name].append(row)

    def modify(self, order_id: str, change: OrderChange) -> str:
        """Check a modification against the limits, then send it."""
        tracked = self.tracked[order_id]
        now = self.clock.now()
        added = (change.quantity - tracked.quantity) if change.quantity is not None else 0
        price = change.price or tracked.price or self._last_price(tracked.key, tracked.instrument_token, now)
        self.guard.check_change(tracked.key, tracked.is_buy, added, price, now, self._exposure())
        result = str(self.broker.modify(order_id, change))
        self.dirty = True
        return result

    def _default_product(self, key: str) -> str:
        exchange = key.split(":", 1)[0]
        return "NRML" if exchange in ("NFO", "BFO", "CDS", "BCD", "MCX") else "CNC"

    def _reduces(self, key: str, request: OrderRequest) -> bool:
        held = self.book.quantity(key)
        return held != 0 and (held > 0) != request.is_buy and request.quantity <= abs(held)

    def _last_price(self, key: str, token: int, now: datetime) -> float:
        known = self.book.last_price(token)
        if known:
            return known
        try:
            return float(self.market.quote(key, token, now).get("last_price") or 0.0)
        except Exception:  # no quote at hand: the value limits cannot price a MARKET order
            return 0.0

    def _exposure(self) -> ExposureView:
        positions: dict[str, int] = {}
        prices: dict[str, float] = {}
        for lot in self.book.lots.values():
            if lot.quantity:
                positions[lot.key] = positions.get(lot.key, 0) + lot.quantity
                prices[lot.key] = lot.last or lot.average
        pending: dict[str, tuple[int, int]] = {}
        for item in self.working.values():
            if item.live or item.status is None:
                buys, sells = pending.get(item.key, (0, 0))
                left = max(item.quantity - item.filled, 0)
                pending[item.key] = (buys + left, sells) if item.is_buy else (buys, sells + left)
                prices.setdefault(item.key, item.price)
        return ExposureView(positions, prices, pending)

    # -- what happened to the orders ----------------------------------------------------------------
    def after(self) -> None:
        """Collect what happened to the run's orders since the last look, then hand the events to the strategy."""
        if self._dispatching:
            return
        self._dispatching = True
        try:
            handled = 0
            while True:
                if self.dirty:
                    self.dirty = False
                    self.poll()
                if not self._pending:
                    break
                event = self._pending.popleft()
                handled += 1
                if handled > MAX_CASCADE:
                    raise RunError(f"the strategy answered {MAX_CASCADE:,} order events with more orders: a runaway")
                if self.active:
                    try:
                        self.strategy.on_order(event)
                    except Exception as exc:
                        self.refused(exc)
        finally:
            self._dispatching = False

    def poll(self) -> None:
        """Read the run's orders from the broker and book what changed (a backtest drains its engine's updates)."""
        drain = getattr(self.broker, "drain", None)
        if callable(drain):
            # An order placed and filled at once sends several states; its last one says it all (its fills, its
            # status), and is read once.
            latest: dict[str, dict[str, Any]] = {}
            for payload in drain():
                latest.pop(str(payload["order_id"]), None)
                latest[str(payload["order_id"])] = payload
            for payload in latest.values():
                self.process(Order.from_kite(payload))
            return
        if not self.working:
            return
        for order in self.broker.orders():
            if order.order_id in self.tracked:
                self.process(order)

    def process(self, order: Order) -> None:
        """Book one order's new state: fills into the book, charges once it is done, events for the strategy."""
        tracked = self.tracked.get(order.order_id)
        if tracked is None:
            if self.mode is not RunMode.BACKTEST and not (order.tag and order.tag.startswith(self._prefix)):
                return
            tracked = self._track(order, self._intent_of(order), None)
        if (tracked.status is not None and tracked.status in _TERMINAL) or order.filled_quantity < tracked.filled:
            return  # news older than what the run knows (a poll and a push crossing): never backwards
        status = str(order.status)
        if status == str(OrderStatus.UPDATE):
            status = tracked.status if tracked.status and tracked.status not in _TERMINAL else "OPEN"
        previous = tracked.status
        events: list[tuple[OrderEventKind, int, float]] = []
        if previous is None:
            events.append((OrderEventKind.PLACED, 0, 0.0))
        delta = order.filled_quantity - tracked.filled
        price = 0.0
        if delta > 0:
            value = order.average_price * order.filled_quantity - tracked.average * tracked.filled
            price = round(value / delta, 4)
            when = order.order_timestamp or self.clock.now()
            tracked.realised += self.book.fill(
                order.order_id, tracked.key, tracked.instrument_token, tracked.product, tracked.is_buy, delta, price,
                when, self._multiplier(tracked.key),
            )  # fmt: skip
            tracked.filled, tracked.average = order.filled_quantity, order.average_price
        if status != previous:
            if status == "COMPLETE":
                events.append((OrderEventKind.FILLED, delta, price))
                delta = 0
            elif status == "CANCELLED":
                if delta > 0:
                    events.append((OrderEventKind.PARTIALLY_FILLED, delta, price))
                    delta = 0
                events.append((OrderEventKind.CANCELLED, 0, 0.0))
            elif status == "REJECTED":
                events.append((OrderEventKind.REJECTED, 0, 0.0))
            elif previous == "TRIGGER PENDING" and status == "OPEN":
                events.append((OrderEventKind.TRIGGERED, 0, 0.0))
        if delta > 0:
            events.append((OrderEventKind.PARTIALLY_FILLED, delta, price))
        changed = (order.quantity, order.price, order.trigger_price) != (
            tracked.quantity,
            tracked.price,
            tracked.trigger_price,
        )
        if previous is not None and status not in _TERMINAL and changed and status in _LIVE_ENTRY:
            events.append((OrderEventKind.MODIFIED, 0, 0.0))
        tracked.status = status
        tracked.quantity, tracked.price, tracked.trigger_price = order.quantity, order.price, order.trigger_price
        if status in _TERMINAL:
            self.working.pop(order.order_id, None)
        if status in _TERMINAL and tracked.filled > 0 and not tracked.charged:
            self._charge(order, tracked)
        if self.durable:
            self.state.orders[order.order_id] = tracked.to_json()
        intent = _short(tracked.intent)
        for kind, quantity, fill_price in events:
            self._pending.append(OrderEvent(kind, order, intent, quantity, fill_price))
            if kind is not OrderEventKind.PLACED:
                what = f" {quantity} @ {fill_price:,.2f}" if quantity else ""
                self.note(f"{kind} {order.order_id} {order.key}{what}", "fill" if quantity else "order")
        if events and self.checks_loss:
            self.check_loss()

    def _track(self, order: Order, intent: str, record: Mapping[str, Any] | None) -> Tracked:
        tracked = Tracked(
            order.order_id, intent, order.key, order.instrument_token or self.token_of(order.key), str(order.product),
            order.transaction_type == "BUY", quantity=order.quantity, price=order.price,
            trigger_price=order.trigger_price, order_type=str(order.order_type),
            placed_at=(order.order_timestamp or self.clock.now()).isoformat(),
        )  # fmt: skip
        self.tracked[order.order_id] = tracked
        self.working[order.order_id] = tracked
        self.tokens.setdefault(order.key, tracked.instrument_token)
        self.keys.setdefault(tracked.instrument_token, order.key)
        return tracked

    def _intent_of(self, order: Order) -> str:
        for full, intent in self.state.intents.items():
            if intent.get("tag") == order.tag or intent.get("order_id") == order.order_id:
                return full
        return ""

    def _multiplier(self, key: str) -> float:
        spec = getattr(self.broker, "spec", None)
        if callable(spec):
            return float(spec(key).multiplier)
        return 1.0

    def _charge(self, order: Order, tracked: Tracked) -> None:
        tracked.charged = True
        try:
            charges = self.broker.charges([order])[0]
        except Exception as exc:  # the contract note is not at hand: the trade is kept, its charges unknown
            self.note(f"charges of {order.order_id} unknown: {type(exc).__name__}: {exc}")
            return
        self.book.charge(order.order_id, tracked.key, tracked.product, charges.total)
        self._keep("trades", self.trade_rows, {
            "time": order.order_timestamp or self.clock.now(),
            "order_id": order.order_id,
            "intent": _short(tracked.intent) or "",
            "key": tracked.key,
            "product": tracked.product,
            "side": "BUY" if tracked.is_buy else "SELL",
            "quantity": tracked.filled,
            "average_price": tracked.average,
            "value": tracked.filled * tracked.average,
            "realised": tracked.realised,
            "brokerage": charges.brokerage,
            "stt": charges.transaction_tax,
            "exchange_fees": charges.exchange_turnover_charge,
            "sebi_fees": charges.sebi_turnover_charge,
            "stamp_duty": charges.stamp_duty,
            "gst": charges.gst,
            "charges": charges.total,
            "net": tracked.realised - charges.total,
        })  # fmt: skip

    # -- risk ---------------------------------------------------------------------------------------
    def day_pnl(self) -> float:
        """Return the day's P&L: realised plus marked-to-market, less charges, since the day began."""
        return self.book.pnl - self.state.day_start_pnl

    def check_loss(self) -> None:
        """Move to reducing-only or halt when the day's loss crosses a limit."""
        moved = self.guard.on_loss(self.day_pnl())
        if moved is RiskState.HALTED:
            self.note(f"HALTED: {self.guard.reason}; cancelling and flattening", "risk")
            self.log.warning("run %s halted: %s", self.name, self.guard.reason)
            self.active = False
            self._flatten("halt")
            self.save()
        elif moved is RiskState.REDUCING:
            self.note(f"REDUCING only: {self.guard.reason}", "risk")
            self.log.warning("run %s may only reduce positions: %s", self.name, self.guard.reason)
            for item in list(self.working.values()):
                held = self.book.quantity(item.key)
                if item.live and not (held and (held > 0) != item.is_buy):
                    self._cancel(item)
            self.save()

    def kill(self, flag: KillRequest) -> None:
        """Obey the kill switch: no new orders, open ones cancelled, positions closed if asked; the run ends."""
        self.guard.kill(flag.reason)
        self.state.killed = {"reason": flag.reason, "flatten": flag.flatten, "at": self.clock.now().isoformat()}
        self.note(f"KILLED: {flag.reason}{' (flattening)' if flag.flatten else ''}", "kill")
        self.log.warning("run %s killed: %s", self.name, flag.reason)
        self.active = False
        if flag.flatten:
            self._flatten("kill")
        else:
            self._cancel_all()
        self.stopping = "killed"
        self.save()

    def squareoff(self, now: datetime) -> None:
        """Close the run's intraday (MIS) positions and cancel its open intraday orders, once a day."""
        self.state.squared_off = self.state.day
        lots = [
            lot
            for lot in self.book.open_lots()
            if lot.product == "MIS" and lot.key.split(":", 1)[0] in SQUAREOFF_EXCHANGES
        ]
        live = [t for t in self.working.values() if t.live and t.product == "MIS"]
        if not lots and not live:
            return
        self.note(f"intraday square-off at {now:%H:%M}: {len(lots)} positions, {len(live)} open orders", "risk")
        for item in live:
            self._cancel(item)
        for lot in lots:
            self._close_lot(lot.key, lot.product, lot.quantity, "squareoff")
        self.after()
        self.save()

    def _flatten(self, why: str) -> None:
        self._cancel_all()
        for lot in self.book.open_lots():
            self._close_lot(lot.key, lot.product, lot.quantity, why)
        self.after()

    def _cancel_all(self) -> None:
        for item in list(self.working.values()):
            if item.live or item.status is None:
                self._cancel(item)
        self.after()

    def _cancel(self, item: Tracked) -> None:
        try:
            self.broker.cancel(item.order_id)
        except OrderStateError:
            pass  # it filled or ended meanwhile: the next poll says which
        except Exception as exc:  # the cancel failed: said, and the loop goes on
            self.note(f"cancel of {item.order_id} failed: {type(exc).__name__}: {exc}", "order")
        self.dirty = True

    def _close_lot(self, key: str, product: str, quantity: int, why: str) -> None:
        if not quantity:
            return
        request = OrderRequest.of(key, "SELL" if quantity > 0 else "BUY", abs(quantity), product=Product(product))
        try:
            self.place(request, None, internal=why)
        except Exception as exc:  # a refusal is said; the position stays for the user to see
            self.note(f"could not close {key} ({why}): {type(exc).__name__}: {exc}", "order")

    def close_position(self, key: str) -> list[Placement]:
        """Close the run's position in ``key`` (every product) at market, within the limits."""
        placed = []
        for lot in self.book.open_lots():
            if lot.key == key:
                request = OrderRequest.of(key, "SELL" if lot.quantity > 0 else "BUY", abs(lot.quantity),
                                          product=Product(lot.product))  # fmt: skip
                placed.append(self.place(request, None))
        return placed

    # -- what the strategy reads --------------------------------------------------------------------
    def positions(self) -> dict[str, PositionView]:
        """Return the run's open positions by key."""
        return {lot.key: lot.view() for lot in self.book.lots.values() if lot.quantity}

    def position(self, key: str) -> int:
        """Return the run's signed quantity in ``key``."""
        return self.book.quantity(key)

    def open_orders(self, key: str | None = None) -> list[Order]:
        """Return the run's live orders (of ``key``), as the broker has them."""
        live = {oid for oid, item in self.working.items() if item.live and (key is None or item.key == key)}
        if not live:
            return []
        return [o for o in self.broker.orders() if o.order_id in live]

    def quote(self, key: str) -> dict[str, Any]:
        """Return the latest quote of ``key``."""
        return self.market.quote(key, self.token_of(key), self.clock.now())

    def history(self, key: str, interval: str | None, bars: int) -> pd.DataFrame:
        """Return the last ``bars`` candles of ``key`` up to now."""
        return self.market.history(key, interval or self.interval, bars, self.clock.now())

    def subscribe(self, keys: Iterable[str]) -> list[str]:
        """Add instruments to the run."""
        added = []
        for query in keys:
            key = self.resolve(query)
            self.token_of(key)
            if key not in self.symbols:
                self.symbols.append(key)
                added.append(key)
        if added:
            self.market.subscribe(added, self.clock.now())
            self.warm_up(added)
            self._new_keys.extend(added)
            self.subscribed = self.dirty = True
        return [self.resolve(k) for k in keys]

    def subscribed_keys(self) -> list[str]:
        """Return the instruments added since the last call (for a live driver's ticker)."""
        added, self._new_keys = self._new_keys, []
        self.subscribed = False
        return added

    # -- ending -------------------------------------------------------------------------------------
    def stop(self, reason: str, *, cancel_orders: bool = True, flatten: bool = False) -> None:
        """End the run: ``on_stop``, cancel the run's open orders (paper, live), save, close the equity curve."""
        if self._stopped:
            return
        self._stopped = True
        now = self.clock.now()
        if self.active:
            self.strategy.on_stop()
            self.after()
        if self.mode is not RunMode.BACKTEST:
            if flatten:
                self._flatten("stop")
            elif cancel_orders:
                self._cancel_all()
        self.after()
        self.sample(now)
        self.stopping = f"stopped: {reason}"
        self.note(f"stopped: {reason}", "stop")
        self.save()

    # -- records ------------------------------------------------------------------------------------
    def note(self, text: str, kind: str = "info") -> None:
        """Keep a line for the live status (the last few events) and, paper and live, in the run's event record.

        ``events.jsonl`` (time, kind, text) is what the dashboard lists as the run's recent events; ``kind`` is
        one of :data:`EVENT_KINDS`.
        """
        stamp = self.clock.now().astimezone(IST)
        self.events.append(f"{stamp:%H:%M:%S} {text}")
        log.info("%s: %s", self.name, text)
        if self.durable:
            self._logs["events"].append({"time": stamp.isoformat(), "kind": kind, "text": text})

    def save(self) -> None:
        """Write the run's state (paper and live; a backtest keeps it in memory)."""
        if not self.durable:
            return
        state = self.state
        state.risk = self.guard.to_json()
        state.book = self.book.to_json()
        if self._strategy_started:
            try:
                state.strategy = dict(self.strategy.on_save() or {})
            except Exception as exc:  # a strategy's on_save failing must not lose the run's own state
                self.note(f"on_save failed: {type(exc).__name__}: {exc}")
        self.folder.save_state(state)
        if self.on_save_state is not None:
            self.on_save_state()
