"""The matching engine of one account: Kite's order, portfolio, GTT and calculator routes as pure calls.

Every call takes ``now`` (an aware datetime) and first brings the account up to that moment (TTL expiry,
square-off, close, next session); the engine has no clock and does no I/O. Market data comes in through
:meth:`Engine.on_quotes`; :meth:`Engine.watched_tokens` says which instruments it needs. Results are Kite's
``data`` payloads, so the simulator can send them as they are and the paper broker can return them to code
written for the SDK. The engine is not thread-safe: callers serialise access per account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from kitekit.clock import IST, ensure_aware
from kitekit.engine import calculators, codec
from kitekit.engine.account import Account
from kitekit.engine.changes import ChangeTracker
from kitekit.engine.daycycle import DayCycle
from kitekit.engine.desk import OrderDesk
from kitekit.engine.flow import OrderFlow
from kitekit.engine.funds import Funds
from kitekit.engine.gtt import Gtt, parse_gtt
from kitekit.engine.holdings import Holding
from kitekit.engine.matching import Liquidity
from kitekit.engine.order import Ids
from kitekit.engine.portfolio import convert_position
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentResolver
from kitekit.engine.validation import invalid
from kitekit.markethours import TradingCalendar
from kitekit.wire.envelope import RejectionError
from kitekit.wire.order_terms import OrderLimits, PlaceRequest
from kitekit.wire.orders import GttStatus, OrderStatus

__all__ = ["STATE_VERSION", "Engine", "EngineConfig"]

#: Bumped whenever the shape of :meth:`Engine.to_state` changes incompatibly.
STATE_VERSION = 1


@dataclass(frozen=True)
class EngineConfig:
    """Settings of an account that are not state: who it is, what it starts with, which rules apply."""

    user_id: str = "KK1234"
    #: Keeps the ids of accounts sharing one simulator apart.
    seed: int = 0
    equity_funds: float = 1_000_000.0
    commodity_funds: float = 250_000.0
    limits: OrderLimits = field(default_factory=OrderLimits)
    #: When MIS and CO positions are squared off (Zerodha: 15:20 for equity); None never.
    squareoff_at: time | None = time(15, 20)
    gtt_lifetime: timedelta = timedelta(days=365)
    calendar: TradingCalendar = field(default_factory=TradingCalendar)


class Engine:
    """One account's exchange: orders, trades, positions, holdings, funds and GTTs, filled against quotes."""

    def __init__(
        self,
        resolve: InstrumentResolver,
        now: datetime,
        config: EngineConfig | None = None,
        *,
        liquidity: Liquidity | None = None,
        account: Account | None = None,
    ) -> None:
        """Open an account (or resume ``account``) at ``now``.

        Args:
            resolve: looks instruments up by exchange and tradingsymbol.
            now: the current time, aware.
            config: the account's settings.
            liquidity: share one with other accounts' engines to have them compete for the same depth.
            account: a restored account (see :meth:`from_state`).
        """
        self.config = config or EngineConfig()
        now = ensure_aware(now)
        cal = self.config.calendar
        if account is None:
            eq, co = self.config.equity_funds, self.config.commodity_funds
            account = Account(
                user_id=self.config.user_id,
                now=now,
                day=cal.last_session_start(now).date(),
                ids=Ids(seed=self.config.seed),
                funds={"equity": Funds(eq, eq), "commodity": Funds(co, co)},
            )
        if liquidity is not None:
            account.liquidity = liquidity
        self._account = account
        self._flow = OrderFlow(account, resolve, self.config.limits, cal)
        self._desk = OrderDesk(self._flow)
        self._cycle = DayCycle(self._flow, self.config.squareoff_at)
        self._cycle.advance(now)
        self._tracker = ChangeTracker(account)

    # -- state --------------------------------------------------------------------------------------
    def to_state(self) -> dict[str, Any]:
        """Return the whole account as plain JSON-able values."""
        return {"version": STATE_VERSION, "account": codec.dump(self._account)}

    def changes(self) -> dict[str, Any]:
        """Return what changed since the engine was built or restored, or since the last call, as JSON-able values.

        The cost follows the change, not the day (:mod:`kitekit.engine.changes`): a store writes
        :meth:`to_state` now and then and these between, and :func:`~kitekit.engine.changes.apply_changes`
        folds them back into the state.
        """
        return self._tracker.changes()

    @classmethod
    def from_state(
        cls,
        state: Mapping[str, Any],
        resolve: InstrumentResolver,
        config: EngineConfig | None = None,
        *,
        liquidity: Liquidity | None = None,
    ) -> Engine:
        """Resume an account saved by :meth:`to_state`.

        Raises:
            ValueError: the state is of another version.
        """
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"engine state version {state.get('version')!r} is not {STATE_VERSION}")
        account = codec.load(Account, state["account"])
        account.reindex()
        return cls(resolve, account.now, config, liquidity=liquidity, account=account)

    # -- time and market ----------------------------------------------------------------------------
    @property
    def now(self) -> datetime:
        """Return the moment the account is at (the latest ``now`` it was given)."""
        return self._account.now

    def advance(self, now: datetime) -> None:
        """Let time pass to ``now``: TTL expiry, square-off, close, the next session and its AMOs."""
        self._cycle.advance(ensure_aware(now))

    def on_quotes(self, quotes: Iterable[MarketQuote], now: datetime) -> None:
        """Take new market data: fire stops and GTTs it reaches and fill orders against its depth."""
        now = self._cycle.advance(ensure_aware(now))
        for quote in quotes:
            self._flow.on_quote(quote, now)
            self._fire_gtts(quote, now)

    def watched_tokens(self) -> list[int]:
        """Return the instruments whose quotes matter: live orders, open positions, holdings, active GTTs."""
        acct = self._account
        tokens = acct.live_tokens()
        tokens.update(p.instrument_token for p in acct.positions.values() if p.quantity)
        tokens.update(acct.holdings)
        tokens.update(g.instrument_token for g in acct.gtts.values() if g.status is GttStatus.ACTIVE)
        return sorted(tokens)

    def last_quote(self, token: int) -> MarketQuote | None:
        """Return the last quote the engine was given of an instrument, or None."""
        return self._account.quotes.get(token)

    def resting_levels(self) -> dict[int, list[float]]:
        """Return, per instrument, the prices something rests at, ascending: what a price path must not skip.

        Those are the limit prices of open orders (and the band edge a protected market order rests at), the
        triggers of stops not yet fired, and the trigger values of active GTTs. Queued AMOs rest nowhere yet.
        """
        levels = self._account.resting_prices()  # kept as orders change: no walk over every live order
        for gtt in self._account.gtts.values():
            if gtt.status is GttStatus.ACTIVE:
                levels.setdefault(gtt.instrument_token, set()).update(gtt.trigger_values)
        return {token: sorted(prices) for token, prices in levels.items()}

    def drain_updates(self) -> list[dict[str, Any]]:
        """Return the order updates since the last call (WebSocket/postback payloads), oldest first.

        Updates are kept as references to order states until drained, and built into Kite's dicts here: a
        caller that never reads them (a backtest) never pays for them. Drain now and then to keep them few.
        """
        return self._flow.drain()

    # -- orders -------------------------------------------------------------------------------------
    def place_order(self, variety: str, params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``POST /orders/{variety}``: return ``{"order_id"}`` (with ``children`` for autoslice).

        The form fields are parsed into a :class:`~kitekit.wire.order_terms.PlaceRequest` and placed as
        :meth:`submit` places one.

        Raises:
            RejectionError: the request is refused outright (validation, market hours, …).
        """
        return self._desk.place(variety, params, self._cycle.advance(ensure_aware(now)))

    def submit(self, request: PlaceRequest, now: datetime) -> dict[str, Any]:
        """Place a typed order request: ``POST /orders/{variety}`` without Kite's form fields to parse.

        The fast path for code that builds its orders itself (a backtest, a strategy runner): the same checks,
        RMS, matching, charges and margins as :meth:`place_order`, which parses its form into this very
        request. MARKET and SL-M requests must carry ``price=0``, as parsing leaves them.

        Args:
            request: the order; its enums must be the wire enums and its numbers finite.
            now: the time of placement, aware.

        Returns:
            ``{"order_id"}`` (with ``children`` for autoslice), as :meth:`place_order` returns.

        Raises:
            RejectionError: the request is refused outright (validation, market hours, …).
        """
        return self._desk.submit(request, self._cycle.advance(ensure_aware(now)))

    def modify_order(self, variety: str, order_id: str, params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``PUT /orders/{variety}/{order_id}``: return ``{"order_id"}``.

        Raises:
            RejectionError: unknown or finished order, too many modifications, or refused new terms.
        """
        return self._desk.modify(variety, order_id, params, self._cycle.advance(ensure_aware(now)))

    def cancel_order(
        self, variety: str, order_id: str, now: datetime, parent_order_id: str | None = None
    ) -> dict[str, Any]:
        """``DELETE /orders/{variety}/{order_id}``: return ``{"order_id"}``.

        Raises:
            RejectionError: unknown or finished order.
        """
        return self._desk.cancel(variety, order_id, self._cycle.advance(ensure_aware(now)), parent_order_id)

    def exit_order(
        self, variety: str, order_id: str, now: datetime, parent_order_id: str | None = None
    ) -> dict[str, Any]:
        """``DELETE /orders/{variety}/{order_id}`` for a cover order: its stop-loss leg goes at market.

        Raises:
            RejectionError: unknown or finished order.
        """
        return self._desk.exit(variety, order_id, self._cycle.advance(ensure_aware(now)), parent_order_id)

    def orders(self, now: datetime) -> list[dict[str, Any]]:
        """``GET /orders``: the day's orders, oldest first."""
        self.advance(now)
        return [o.as_kite() for o in self._account.orders.values()]

    def order_history(self, order_id: str, now: datetime) -> list[dict[str, Any]]:
        """``GET /orders/{order_id}``: one full order object per state, oldest first.

        Raises:
            RejectionError: OrderException for an unknown order.
        """
        self.advance(now)
        return [dict(state) for state in self._flow.get(order_id).history]

    def trades(self, now: datetime) -> list[dict[str, Any]]:
        """``GET /trades``: the day's fills, oldest first."""
        self.advance(now)
        return [t.as_kite() for t in self._account.trades]

    def order_trades(self, order_id: str, now: datetime) -> list[dict[str, Any]]:
        """``GET /orders/{order_id}/trades``.

        Raises:
            RejectionError: OrderException for an unknown order.
        """
        self.advance(now)
        self._flow.get(order_id)
        return [t.as_kite() for t in self._account.trades if t.order_id == order_id]

    # -- portfolio and funds ------------------------------------------------------------------------
    def positions(self, now: datetime) -> dict[str, list[dict[str, Any]]]:
        """``GET /portfolio/positions``: ``{"net": [...], "day": [...]}``."""
        self.advance(now)
        items = list(self._account.positions.values())
        return {"net": [p.as_kite() for p in items], "day": [p.as_kite(True) for p in items if p.active_today]}

    def holdings(self, now: datetime) -> list[dict[str, Any]]:
        """``GET /portfolio/holdings``."""
        self.advance(now)
        acct = self._account
        return [h.as_kite(acct.used_holdings(t)) for t, h in acct.holdings.items()]

    def convert_position(self, params: Mapping[str, Any], now: datetime) -> bool:
        """``PUT /portfolio/positions``: move a position between products; return True.

        Raises:
            RejectionError: no such position or quantity, a product the segment refuses, or not enough funds.
        """
        convert_position(self._flow, params, self._cycle.advance(ensure_aware(now)))
        return True

    def add_holding(
        self, exchange: str, tradingsymbol: str, quantity: int, average_price: float, now: datetime
    ) -> None:
        """Seed a settled holding (a new account's starting portfolio).

        Raises:
            RejectionError: InputException for an unknown instrument.
        """
        self.advance(now)
        spec = self._flow.spec_of(exchange, tradingsymbol)
        if spec is None:
            raise invalid(f"Invalid `tradingsymbol`: {exchange}:{tradingsymbol} is not a known instrument.")
        held = self._account.holdings.get(spec.instrument_token)
        if held is None:
            held = Holding(spec.instrument_token, spec.exchange, spec.tradingsymbol, spec.isin)
            self._account.holdings[spec.instrument_token] = held
        total = held.quantity + quantity
        held.average_price = (held.average_price * held.quantity + average_price * quantity) / total
        held.quantity = total
        held.opening_quantity = held.total
        held.authorised_date = self._account.now.astimezone(IST).date()

    def margins(self, now: datetime, segment: str | None = None) -> dict[str, Any]:
        """``GET /user/margins[/{segment}]``: funds and what is blocked, per segment.

        Raises:
            RejectionError: InputException for a segment other than equity or commodity.
        """
        self.advance(now)
        acct = self._account
        both = {name: acct.funds[name].as_kite(acct.utilised(name)) for name in ("equity", "commodity")}
        if segment is None:
            return both
        if segment not in both:
            raise invalid("Invalid segment. Use `equity` or `commodity`.")
        return both[segment]

    # -- calculators --------------------------------------------------------------------------------
    def order_margins(self, orders: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """``POST /margins/orders``: a margin block (with charges) per order."""
        now = self._cycle.advance(ensure_aware(now))
        return calculators.order_margins(orders, self._flow.spec_of, self._account, now.astimezone(IST).date())

    def basket_margins(
        self,
        orders: Iterable[Mapping[str, Any]],
        now: datetime,
        consider_positions: bool = False,
        compact: bool = False,
    ) -> dict[str, Any]:
        """``POST /margins/basket``: ``{initial, final, orders, charges}``."""
        now = self._cycle.advance(ensure_aware(now))
        day = now.astimezone(IST).date()
        return calculators.basket_margins(orders, self._flow.spec_of, self._account, day, consider_positions, compact)

    def order_charges(self, orders: Iterable[Mapping[str, Any]], now: datetime) -> list[dict[str, Any]]:
        """``POST /charges/orders``: the charges of executed orders (virtual contract note)."""
        now = self._cycle.advance(ensure_aware(now))
        return calculators.contract_note(orders, self._flow.spec_of, self._account, now.astimezone(IST).date())

    # -- GTT ----------------------------------------------------------------------------------------
    def place_gtt(self, params: Mapping[str, Any], now: datetime) -> dict[str, int]:
        """``POST /gtt/triggers``: return ``{"trigger_id"}``.

        Raises:
            RejectionError: InputException for a malformed trigger.
        """
        now = self._cycle.advance(ensure_aware(now))
        acct = self._account
        gtt = parse_gtt(acct.ids.gtt_id(), params, self._flow.spec_of, now, self.config.gtt_lifetime)
        gtt.user_id = acct.user_id
        acct.gtts[gtt.id] = gtt
        return {"trigger_id": gtt.id}

    def modify_gtt(self, trigger_id: int, params: Mapping[str, Any], now: datetime) -> dict[str, int]:
        """``PUT /gtt/triggers/{id}``: replace an active trigger's condition and orders.

        Raises:
            RejectionError: unknown or no longer active trigger, or a malformed one.
        """
        now = self._cycle.advance(ensure_aware(now))
        old = self._active_gtt(trigger_id, "modified")
        new = parse_gtt(old.id, params, self._flow.spec_of, now, self.config.gtt_lifetime)
        new.user_id, new.created_at, new.expires_at = old.user_id, old.created_at, old.expires_at
        self._account.gtts[old.id] = new
        return {"trigger_id": old.id}

    def delete_gtt(self, trigger_id: int, now: datetime) -> dict[str, int]:
        """``DELETE /gtt/triggers/{id}``.

        Raises:
            RejectionError: unknown or no longer active trigger.
        """
        now = self._cycle.advance(ensure_aware(now))
        gtt = self._active_gtt(trigger_id, "deleted")
        gtt.status, gtt.updated_at = GttStatus.DELETED, now
        return {"trigger_id": gtt.id}

    def gtts(self, now: datetime) -> list[dict[str, Any]]:
        """``GET /gtt/triggers``: every trigger, newest first."""
        self.advance(now)
        return [g.as_kite() for g in reversed(self._account.gtts.values())]

    def gtt(self, trigger_id: int, now: datetime) -> dict[str, Any]:
        """``GET /gtt/triggers/{id}``.

        Raises:
            RejectionError: InputException for an unknown trigger.
        """
        self.advance(now)
        return self._gtt(trigger_id).as_kite()

    def _gtt(self, trigger_id: int) -> Gtt:
        gtt = self._account.gtts.get(int(trigger_id))
        if gtt is None:
            raise invalid(f"Trigger {trigger_id} not found.")
        return gtt

    def _active_gtt(self, trigger_id: int, verb: str) -> Gtt:
        gtt = self._gtt(trigger_id)
        if gtt.status is not GttStatus.ACTIVE:
            raise invalid(f"Trigger {trigger_id} cannot be {verb} as it is {gtt.status}.")
        return gtt

    def _fire_gtts(self, quote: MarketQuote, now: datetime) -> None:
        if not self._account.gtts or self._flow.fresh_quote(quote.instrument_token, now) is None:
            return  # GTTs trigger only on live prices in market hours
        for gtt in list(self._account.gtts.values()):
            if gtt.instrument_token != quote.instrument_token:
                continue
            index = gtt.fired_leg(quote.last_price)
            if index is None:
                continue
            leg = gtt.orders[index]
            gtt.status, gtt.updated_at = GttStatus.TRIGGERED, now
            outcome: dict[str, Any] = {"status": "success", "order_id": "", "rejection_reason": ""}
            try:
                order_id = self._desk.place("regular", leg.order_params(), now)["order_id"]
                order = self._account.orders[order_id]
                outcome["order_id"] = order_id
                if order.status is OrderStatus.REJECTED:
                    outcome.update(status="failed", rejection_reason=order.status_message or "")
            except RejectionError as exc:
                gtt.status = GttStatus.REJECTED
                outcome.update(status="failed", rejection_reason=exc.message)
            leg.result = {
                "account_id": self._account.user_id,
                "exchange": leg.exchange,
                "tradingsymbol": leg.tradingsymbol,
                "validity": "DAY",
                "product": str(leg.product),
                "order_type": str(leg.order_type),
                "transaction_type": str(leg.transaction_type),
                "quantity": leg.quantity,
                "price": leg.price,
                "meta": f'{{"gtt": {gtt.id}}}',
                "timestamp": now.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S"),
                "triggered_at": quote.last_price,
                "order_result": outcome,
            }
