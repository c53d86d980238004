"""``BacktestBroker``: the paper broker's engine, in memory, fed by the backtest's bars or recorded ticks.

It implements :class:`~kitekit.orders.OrderGateway`, so a strategy's orders go through the same pre-trade rules,
the same idempotent intents and the same matching engine (depth, charges and margins as Kite computes them) as
on paper, with no ledger on disk and no quote requests: the market is what the backtest feeds it.

- Bars: the engine is told of a bar only when it has something there (a resting order: the bar's path, open
  then the nearer extreme, the other, then the close, through every resting price; a position: the close, at a
  session event such as the intraday square-off). An order placed in ``on_bar`` meets a book modelled around
  the bar's close (:class:`~kitekit.runner.market.DepthModel`) at the bar's last second.
- Ticks: each frame is judged as :meth:`PaperBroker.on_ticks <kitekit.orders.PaperBroker.on_ticks>` judges it
  (the same code), and an order meets the last tick's own book, as a paper order does on the same ticks.

The one call into the engine that places an order is :meth:`BacktestBroker._send`: the engine's typed fast path
goes there when it lands, nothing else changes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from kitekit.clock import IST, Clock
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, MarketQuote
from kitekit.engine.path import Candle, candle_path, path_quotes
from kitekit.errors import IntentConflictError, OrderStateError, UnknownInstrumentError
from kitekit.orders import (
    Charges,
    Funds,
    Gtt,
    GttRequest,
    Holding,
    Order,
    OrderChange,
    OrderRequest,
    Placement,
    Positions,
    PreTradeRules,
    Product,
    Trade,
    Validator,
    new_intent_id,
)
from kitekit.orders.catchup import MarketPath
from kitekit.runner.market import DepthModel, tick_item
from kitekit.runner.model import Bar
from kitekit.wire.envelope import RejectionError, exception_class

__all__ = ["BacktestBroker"]

#: "No session event to wait for": the engine holds nothing.
_NEVER = datetime.max.replace(tzinfo=IST)


class _Validator(Validator):
    """The pre-trade rules with each instrument's spec built once (a backtest checks thousands of orders)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._specs: dict[str, InstrumentSpec] = {}

    def spec(self, key: str) -> InstrumentSpec:
        """Return the engine's view of ``key``, built once."""
        spec = self._specs.get(key)
        if spec is None:
            spec = self._specs[key] = super().spec(key)
        return spec


class BacktestBroker:
    """Orders filled by :class:`kitekit.engine.Engine` in memory, at the prices a backtest feeds it.

    Args:
        instruments: the instrument store (rules and the engine's instrument specs).
        clock: the backtest's simulated clock.
        funds: the account's equity funds, in rupees.
        rules: the pre-trade rules.
        depth: how a bar's price becomes a book.
        engine_config: the engine's settings (its equity funds are replaced by ``funds``).
        account: the account's name.
    """

    paper = True

    def __init__(
        self,
        instruments: Any,
        clock: Clock,
        *,
        funds: float = 1_000_000.0,
        rules: PreTradeRules | None = None,
        depth: DepthModel | None = None,
        engine_config: EngineConfig | None = None,
        account: str = "BACKTEST",
    ) -> None:
        self.clock = clock
        self.instruments = instruments
        self.depth = depth or DepthModel()
        self.validator = _Validator(instruments.instrument, rules, lambda: clock.now().astimezone(IST).date())
        base = engine_config or EngineConfig()
        self.config = EngineConfig(**{**base.__dict__, "user_id": account, "equity_funds": funds})
        self.engine = Engine(self._resolve, clock.now(), self.config)
        self.path = MarketPath(None, self.config.calendar)
        self.account = account
        self._intents: dict[str, dict[str, Any]] = {}
        self._tags: set[str] = set()
        #: The latest bar of each instrument (a backtest's driver keeps it: most bars need nothing else).
        self.last_bars: dict[int, Bar] = {}
        self._ticks: dict[int, dict[str, Any]] = {}  # the latest tick of each instrument (as a /quote item)
        self._fresh: dict[int, datetime] = {}  # when the engine last got the instrument's current market
        #: The instruments the engine holds something in: a bar of another only needs keeping in last_bars.
        self.watched: set[int] = set()
        self._levels: dict[int, list[float]] = {}
        #: The next moment the engine's day changes something (the square-off, the close, the next open).
        self.next_event = self._session_event(clock.now())
        #: True once the engine may have changed an order since the last :meth:`drain`.
        self.touched = False

    def _resolve(self, exchange: str, tradingsymbol: str) -> InstrumentSpec | None:
        try:
            return self.validator.spec(f"{exchange}:{tradingsymbol}")
        except UnknownInstrumentError:
            return None

    def spec(self, key: str) -> InstrumentSpec:
        """Return the engine's view of ``key`` (tick, lot, segment)."""
        return self.validator.spec(key)

    # -- the market ---------------------------------------------------------------------------------
    def on_bar(self, bar: Bar, now: datetime) -> None:
        """Take a bar that ended by ``now``: resting orders meet its path; positions get its close at session events."""
        token = bar.instrument_token
        self.last_bars[token] = bar
        if now >= self.next_event:
            self._session_events(now)
        if token not in self.watched:
            return
        levels = self._levels.get(token)
        if levels:
            engine = self.engine
            close = self._bar_quote(bar, now)
            candle = Candle(bar.start, bar.open, bar.high, bar.low, bar.close, bar.volume)
            points = candle_path(candle, levels, span=bar.interval)
            for quote in path_quotes(token, points, template=close):
                engine.on_quotes([quote], quote.timestamp)
            engine.on_quotes([close], now)
            self._fresh[token] = now
            self.touched = True
            self._refresh_watch()

    def on_ticks(self, ticks: Sequence[Mapping[str, Any]], now: datetime) -> None:
        """Take a frame of ticks at ``now``: resting orders are judged on them as a paper broker judges them."""
        for tick in ticks:
            if tick.get("exchange_timestamp") or tick.get("last_trade_time"):
                self._ticks[int(tick["instrument_token"])] = tick_item(tick)
        if now >= self.next_event:
            self._session_events(now)
        if not self.watched:
            return
        engine = self.engine
        self.path.catch_up(engine, now)
        for token in self.path.on_ticks(engine, ticks, now):
            self._fresh[token] = now
        self.touched = True
        self._refresh_watch()

    def current_quote(self, token: int, now: datetime) -> MarketQuote | None:
        """Return the market of ``token`` at ``now``: its last tick's book, else one modelled on its last bar."""
        item = self._ticks.get(token)
        if item is not None:
            return MarketQuote.from_kite(item)
        bar = self.last_bars.get(token)
        return self._bar_quote(bar, now) if bar is not None else None

    def quote_item(self, token: int, now: datetime) -> dict[str, Any] | None:
        """Return the market of ``token`` at ``now`` as a ``/quote`` item (what ``Strategy.quote`` answers)."""
        item = self._ticks.get(token)
        if item is not None:
            return dict(item)
        quote = self.current_quote(token, now)
        if quote is None:
            return None
        bar = self.last_bars[token]
        out = quote.as_kite()
        out["ohlc"] = {"open": bar.open, "high": bar.high, "low": bar.low, "close": quote.close}
        out["volume"] = bar.volume
        return out

    def _bar_quote(self, bar: Bar, now: datetime) -> MarketQuote:
        spec = self.validator.spec(bar.key)
        return self.depth.quote(bar.instrument_token, bar.close, now, spec.tick_size, spec.lot_size, bar.volume)

    def _push(self, token: int, now: datetime) -> None:
        """Give the engine the current market of ``token`` (once per moment), through every price crossed since."""
        if self._fresh.get(token) == now:
            return
        quote = self.current_quote(token, now)
        if quote is None:
            return
        self.path.observe(self.engine, [quote], now)
        self._fresh[token] = now

    def _session_events(self, now: datetime) -> None:
        """Before the engine's square-off or close, give it the current market of everything it holds.

        An engine that holds nothing has nothing to do at a session event: it catches up by itself at its next
        order, so a backtest that trades seldom does not walk every session's events.
        """
        if not self.watched:
            self.next_event = _NEVER
            return
        for token in sorted(self.watched):
            self._push(token, now)
        self.engine.advance(now)
        self.next_event = self._session_event(now)
        self.touched = True
        self._refresh_watch()

    def _session_event(self, now: datetime) -> datetime:
        """Return the next moment the engine's day changes something: the square-off, the close, the next open."""
        cal = self.config.calendar
        day = now.astimezone(IST).date()
        moments = [cal.session_open(cal.next(day))]
        if cal.is_trading_day(day):
            moments.append(cal.session_close(day))
            if self.config.squareoff_at is not None:
                moments.append(datetime.combine(day, self.config.squareoff_at, tzinfo=IST))
        later = [m for m in moments if m > now]
        return min(later) if later else now + timedelta(hours=1)

    def _refresh_watch(self) -> None:
        self.touched = True
        self.watched = set(self.engine.watched_tokens())
        self._levels = self.engine.resting_levels()
        if self.watched and self.next_event is _NEVER:
            self.next_event = self._session_event(self.clock.now())

    def drain(self) -> list[dict[str, Any]]:
        """Return the order updates since the last call (the engine's order-update payloads), oldest first."""
        self.touched = False
        return self.engine.drain_updates()

    # -- placing ------------------------------------------------------------------------------------
    def check(self, request: OrderRequest, quote: Any = None) -> OrderRequest:
        """Return ``request`` as it would be placed: checked by the pre-trade rules and completed."""
        return self.validator.check(request, quote)

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: Any = None
    ) -> Placement:
        """Validate ``request`` and place it once for ``intent_id``; the same intent again returns its order.

        Raises:
            OrderValidationError: a pre-trade rule is broken.
            IntentConflictError: the id or tag was used for a different order.
            kiteconnect.exceptions.KiteException: the engine refused it as Kite would.
        """
        if tag is not None:
            tag = self.validator.check_tag(tag)
        intent_id = intent_id or tag or new_intent_id()
        now = self.clock.now()
        token = self.validator.spec(request.key).instrument_token
        self._push(token, now)
        at_hand = quote if quote is not None else self.engine.last_quote(token)
        checked = self.validator.check(request, at_hand)
        tag = tag or _tag_of(intent_id)
        params = checked.to_kite(tag)
        known = self._intents.get(intent_id)
        if known is not None:
            if json.dumps(known["request"], sort_keys=True) != json.dumps(params, sort_keys=True):
                raise IntentConflictError(f"intent {intent_id!r} was already used for another order")
            if "order_id" not in known:
                raise exception_class(known["error_type"])(known["message"], code=known["status"])
            return Placement(intent_id, known["tag"], known["order_id"], replayed=True)
        if tag in self._tags:
            raise IntentConflictError(f"tag {tag!r} already belongs to another intent; give another")
        self._tags.add(tag)
        try:
            order_id = self._send(checked, params, now)
        except RejectionError as exc:
            self._intents[intent_id] = {"tag": tag, "request": params, "error_type": exc.error_type,
                                        "status": exc.status, "message": exc.message}  # fmt: skip
            raise exception_class(exc.error_type)(exc.message, code=exc.status) from exc
        finally:
            self._refresh_watch()
        self._intents[intent_id] = {"tag": tag, "request": params, "order_id": order_id}
        self.path.restart(self.engine, token, now)
        return Placement(intent_id, tag, order_id)

    def _send(self, checked: OrderRequest, params: Mapping[str, Any], now: datetime) -> str:
        """Place a checked order on the engine: the one call of the backtest into its matching (see the module)."""
        return str(self.engine.place_order(checked.variety, params, now)["order_id"])

    def place_sliced(self, request: OrderRequest, intent_id: str | None = None) -> list[Placement]:
        """Place ``request`` in slices within the freeze quantity, each its own intent (``<id>-s1``, …)."""
        intent_id = intent_id or new_intent_id()
        parts = self.validator.slices(request)
        if len(parts) == 1:
            return [self.place(parts[0], intent_id)]
        return [self.place(part, f"{intent_id}-s{i}") for i, part in enumerate(parts, 1)]

    # -- changing orders ----------------------------------------------------------------------------
    def modify(self, order_id: str, change: OrderChange) -> str:
        """Change a live order; one already carrying the change is left alone.

        Raises:
            OrderStateError: the order is no longer live.
            kiteconnect.exceptions.KiteException: the engine refused the change.
        """
        order = self.order(order_id)
        if change.applied_to(order):
            return order_id
        if not order.is_live:
            raise OrderStateError(f"order {order_id} is {order.status}; it cannot be modified")
        self.validator.check_change(order, change)
        now = self.clock.now()
        self._push(order.instrument_token, now)
        self._engine_call(lambda: self.engine.modify_order(str(order.variety), order_id, change.to_kite(), now))
        self.path.restart(self.engine, order.instrument_token, now)
        return order_id

    def cancel(self, order_id: str) -> str:
        """Cancel an order; one already cancelled succeeds.

        Raises:
            OrderStateError: the order filled or was rejected.
        """
        order = self.order(order_id)
        if order.is_cancelled:
            return order_id
        if not order.is_live:
            raise OrderStateError(f"order {order_id} is {order.status}; it cannot be cancelled")
        now = self.clock.now()
        self._engine_call(lambda: self.engine.cancel_order(str(order.variety), order_id, now, order.parent_order_id))
        return order_id

    def exit(self, order_id: str) -> str:
        """Exit a cover order (its stop-loss leg at market); other orders are cancelled."""
        order = self.order(order_id)
        if str(order.variety) != "co":
            return self.cancel(order_id)
        now = self.clock.now()
        self._engine_call(lambda: self.engine.exit_order("co", order_id, now, order.parent_order_id))
        return order_id

    def _engine_call(self, call: Any) -> Any:
        try:
            return call()
        except RejectionError as exc:
            raise exception_class(exc.error_type)(exc.message, code=exc.status) from exc
        finally:
            self._refresh_watch()

    # -- reading ------------------------------------------------------------------------------------
    def orders(self) -> list[Order]:
        """Return the day's orders, oldest first."""
        return [Order.from_kite(o) for o in self.engine.orders(self.clock.now())]

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state of an order, oldest first."""
        now = self.clock.now()
        return [Order.from_kite(o) for o in self._engine_call(lambda: self.engine.order_history(order_id, now))]

    def order(self, order_id: str) -> Order:
        """Return an order's current state."""
        return self.order_history(order_id)[-1]

    def trades(self) -> list[Trade]:
        """Return the day's fills."""
        return [Trade.from_kite(t) for t in self.engine.trades(self.clock.now())]

    def positions(self) -> Positions:
        """Return net and day positions."""
        return Positions.from_kite(self.engine.positions(self.clock.now()))

    def holdings(self) -> list[Holding]:
        """Return the holdings."""
        return [Holding.from_kite(h) for h in self.engine.holdings(self.clock.now())]

    def margins(self) -> Funds:
        """Return funds and margins."""
        return Funds.from_kite(self.engine.margins(self.clock.now()))

    def margin_required(self, request: OrderRequest) -> float:
        """Return the margin ``request`` needs if placed alone (``/margins/orders``)."""
        now = self.clock.now()
        self._push(self.validator.spec(request.key).instrument_token, now)
        return float(self.engine.order_margins([request.margin_item()], now)[0]["total"])

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return what each order's fills cost, as Kite's contract note computes it (on the order's own day).

        The contract note's own function (:func:`kitekit.engine.charges.order_charges`), called directly: the
        backtest asks once per filled order, and the calculator route would parse each order again.
        """
        from kitekit.engine.charges import order_charges

        out = []
        for order in orders:
            spec = self.validator.spec(order.key)
            day = (order.order_timestamp or self.clock.now()).astimezone(IST).date()
            block = order_charges(spec, Product(str(order.product)), order.transaction_type == "BUY",
                                  order.filled_quantity, order.average_price, day)  # fmt: skip
            out.append(Charges.from_kite(block))
        return out

    # -- GTT ----------------------------------------------------------------------------------------
    def gtts(self) -> list[Gtt]:
        """Return the GTT triggers."""
        return [Gtt.from_kite(g) for g in self.engine.gtts(self.clock.now())]

    def place_gtt(self, request: GttRequest) -> int:
        """Place a GTT trigger; return its id."""
        now = self.clock.now()
        placed = self._engine_call(lambda: self.engine.place_gtt(request.form(), now))
        return int(placed["trigger_id"])

    def modify_gtt(self, trigger_id: int, request: GttRequest) -> int:
        """Change an active GTT trigger; return its id."""
        now = self.clock.now()
        return int(self._engine_call(lambda: self.engine.modify_gtt(trigger_id, request.form(), now))["trigger_id"])

    def delete_gtt(self, trigger_id: int) -> int:
        """Delete a GTT trigger; return its id."""
        now = self.clock.now()
        return int(self._engine_call(lambda: self.engine.delete_gtt(trigger_id, now))["trigger_id"])

    def state(self) -> dict[str, Any]:
        """Return the engine's whole state (``Engine.to_state``), e.g. to compare two runs."""
        return self.engine.to_state()

    def advance(self, now: datetime) -> None:
        """Let the engine's day run to ``now`` (square-off, close, next session), with the market it needs."""
        self._session_events(now)


def _tag_of(intent_id: str) -> str:
    """Return a tag for an intent given no tag: letters and digits of its hash (backtests have no journal)."""
    import hashlib

    return "bt" + hashlib.sha256(intent_id.encode()).hexdigest()[:18]
