"""The order state machine: accepting, rejecting, opening, triggering, filling, modifying and cancelling orders.

Each transition appends the full order object to the order's history (``docs/protocol.md`` §8.4), so ``order_history``
reads ``PUT ORDER REQ RECEIVED → VALIDATION PENDING → OPEN PENDING → OPEN → …`` oldest first, and every
state a client would see pushed (everything but the transient ones) goes to the update stream, with
``UPDATE`` standing for a partial fill or a modification.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

from kitekit.clock import IST
from kitekit.engine import risk
from kitekit.engine.account import Account
from kitekit.engine.charges import charges_total
from kitekit.engine.margins import closable, margin_total
from kitekit.engine.matching import auto_protection, protection_cap, stop_triggered
from kitekit.engine.order import Order, Snapshot, Trade
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentResolver, InstrumentSpec
from kitekit.engine.validation import invalid
from kitekit.markethours import MarketPhase, TradingCalendar
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.order_rules import MARKET_RULES, TRIGGER_RULES, Facts, Scopes, band_reference
from kitekit.wire.order_terms import OrderLimits, PlaceRequest
from kitekit.wire.orders import OrderStatus as S
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety
from kitekit.wire.price_bands import band_range

__all__ = ["OrderFlow"]

_DELIVERY = (Product.CNC, Product.MTF)
# Members bound once: reading one off its enum class costs as much as a dict lookup, and an order reads dozens.
_CO, _AMO_VARIETY = Product.CO, Variety.AMO
_CO_VARIETY = Variety.CO
_MARKET, _SL_M = OrderType.MARKET, OrderType.SL_M
_PRICED = frozenset({OrderType.LIMIT, OrderType.SL})
_STOPS = frozenset({OrderType.SL, OrderType.SL_M})
_UNPRICED = frozenset({OrderType.MARKET, OrderType.SL_M})
_TTL, _IOC = Validity.TTL, Validity.IOC
_PUT, _VALIDATING, _OPEN_PENDING = S.PUT_ORDER_REQ_RECEIVED, S.VALIDATION_PENDING, S.OPEN_PENDING
_OPEN, _TRIGGER_PENDING, _COMPLETE = S.OPEN, S.TRIGGER_PENDING, S.COMPLETE
_CANCEL_PENDING, _CANCELLED, _REJECTED, _AMO = S.CANCEL_PENDING, S.CANCELLED, S.REJECTED, S.AMO_REQ_RECEIVED
_UPDATE = S.UPDATE
_BUY = TransactionType.BUY


class OrderFlow:
    """Moves one account's orders through Kite's states against the quotes it is given."""

    def __init__(
        self,
        account: Account,
        resolve: InstrumentResolver,
        limits: OrderLimits,
        calendar: TradingCalendar,
    ) -> None:
        self.account = account
        self.resolve = resolve
        self.limits = limits
        self.calendar = calendar
        #: The updates since they were last drained, oldest first, three items each (see :meth:`emit`).
        self.updates: list[Any] = []
        self._session: tuple[datetime | None, datetime | None] = (None, None)
        # The running session's [open, close), once a moment in it was seen: most moments fall inside it.
        self._window: tuple[datetime, datetime] | None = None
        self._day: tuple[datetime | None, date] = (None, date.min)  # the last fill's moment and its IST date
        # Per instrument, what the market rules judged its last order against: built again only when the quote
        # or the spec changed (by identity: both are frozen), not at every order; and the market rules that
        # apply to each order type and variety on its exchange.
        self._facts: dict[int, tuple[Facts, Scopes]] = {}
        #: Called with (order, now) when an order completes or stops; the variety logic hooks in here.
        self.on_done: Callable[[Order, datetime], None] = lambda order, now: None

    # -- lookups ------------------------------------------------------------------------------------
    def spec_of(self, exchange: str, tradingsymbol: str) -> InstrumentSpec | None:
        """Resolve an instrument and remember it (positions must outlive the resolver's dump)."""
        spec = self.resolve(exchange, tradingsymbol)
        if spec is not None:
            specs = self.account.specs
            known = specs.get(spec.instrument_token)
            if known is not spec:
                specs[spec.instrument_token] = spec
                if known != spec:  # a new lot size or multiplier changes what its positions block
                    self.account.remargin(spec.instrument_token)
        return spec

    def emit(self, order: Order, snap: Snapshot, status: S | None = None) -> None:
        """Queue a state of an order (one :meth:`Order.enter` returned) as an update, reporting ``status`` instead
        if given. It becomes Kite's dict when drained (:meth:`drain`)."""
        # Flat, three items an update: no tuple per update for the garbage collector to track until drained.
        self.updates += (order, snap, status)

    def drain(self) -> list[dict[str, Any]]:
        """Return the queued updates as Kite's order objects, oldest first, and forget them."""
        queued, self.updates = self.updates, []
        return [order.kite_of(snap, status) for order, snap, status in zip(*[iter(queued)] * 3, strict=True)]

    def get(self, order_id: str, variety: str | None = None) -> Order:
        """Return an order of today's book.

        Raises:
            RejectionError: OrderException if there is no such order; InputException for another variety.
        """
        order = self.account.orders.get(order_id)
        if order is None:
            # An unknown id is the caller's mistake, not an OMS failure: 400, never a 500.
            raise RejectionError(ErrorType.ORDER, "Order not found", 400)
        if variety is not None and str(variety) != str(order.variety):
            raise invalid(f"Order {order_id} is a {order.variety} order, not {variety}.")
        return order

    def session_start(self, now: datetime) -> datetime | None:
        """Return 09:15 IST of the running session if the market is open at ``now``, else None."""
        window = self._window
        if window is not None and window[0] <= now < window[1]:
            return window[0]  # a backtest asks at every bar: no calendar lookup while the session runs
        moment, start = self._session
        if moment != now:  # one calendar lookup per moment, however many orders match at it
            is_open = self.calendar.phase(now) is MarketPhase.OPEN
            start = self.calendar.session_open(now.astimezone(IST).date()) if is_open else None
            self._session = (now, start)
            if start is not None:
                self._window = (start, self.calendar.session_close(start.date()))
        return start

    def fresh_quote(self, token: int, now: datetime) -> MarketQuote | None:
        """Return the instrument's quote if it was received in the running session (stale books never fill).

        Freshness goes by when the quote arrived, not by its exchange timestamp: an illiquid stock's last trade
        may be old while its depth is live. Yesterday's book, still held when AMOs go out at 09:15, is stale.
        """
        quote = self.account.quotes.get(token)
        window = self._window  # session_start's own first test, without the call: every match asks
        start = window[0] if window is not None and window[0] <= now < window[1] else self.session_start(now)
        seen = self.account.quoted_at.get(token)
        if quote is None or start is None or seen is None or seen < start:
            return None
        return quote

    # -- placement ----------------------------------------------------------------------------------
    def submit(
        self,
        req: PlaceRequest,
        spec: InstrumentSpec,
        now: datetime,
        *,
        strict: bool = False,
        order_id: str | None = None,
        tags: Sequence[str] = (),
        meta: dict[str, Any] | None = None,
    ) -> Order:
        """Run the RMS checks and, unless they reject, open (or queue as AMO) a new order.

        Args:
            req: the checked request.
            spec: its instrument.
            now: the time of placement.
            strict: raise an RMS rejection instead of recording a REJECTED order (autoslice children).
            order_id: use this id instead of the next one.
            tags: tags added after the user's own.
            meta: the order's ``meta``.

        Raises:
            RejectionError: only with ``strict``, for an RMS rejection.
        """
        # The RMS judges the order as sent; the margin and the book take it as Kite books it (an order without
        # market protection as it is: protected() returns it unchanged, untagged).
        booked = req
        if req.market_protection:
            booked, mktp = self.protected(req, spec)
            tags = (*tags, *mktp)
        rejection, required = self.rms(req, spec, booked)
        req = booked
        if rejection is not None and strict:
            raise rejection.error()
        order = self.new_order(req, spec, now, order_id=order_id, tags=tags, meta=meta)
        order.enter(_PUT, now)
        order.pass_to(_VALIDATING)
        if rejection is not None:
            order.status_message_raw = rejection.raw
            self.settle(order, _REJECTED, now, rejection.message)
            return order
        order.blocked = required
        self.account.funds[spec.funds_segment].blocked += required
        if req.variety is _AMO_VARIETY:
            self.settle(order, _AMO, now)
        else:
            self.open(order, now, unchanged=True)
        return order

    def new_order(
        self,
        req: PlaceRequest,
        spec: InstrumentSpec,
        now: datetime,
        *,
        order_id: str | None = None,
        parent_order_id: str | None = None,
        tags: Sequence[str] = (),
        meta: dict[str, Any] | None = None,
    ) -> Order:
        """Create an order object (not yet in any state) and put it in the book."""
        ids = self.account.ids
        oid = order_id or ids.order_id(now)
        all_tags = (req.tag, *tags) if req.tag else tuple(tags)
        user = self.account.user_id
        # Positional, in the fields' order: binding 25 keywords against 45 parameters cost more than the rest
        # of making the order (each keyword is looked for among the names).
        order = Order(
            oid,
            req.variety,
            spec.exchange,
            spec.tradingsymbol,
            spec.instrument_token,
            req.transaction_type,
            req.order_type,
            # Cover orders are placed as MIS and show as CO in the order book (``docs/protocol.md`` §8.1).
            _CO if req.variety is _CO_VARIETY else req.product,
            req.validity,
            req.quantity,
            req.price,
            req.trigger_price,
            now,  # placed_at
            req.validity_ttl if req.validity is _TTL else None,
            req.disclosed_quantity,
            req.market_protection,
            req.tag,
            all_tags,
            _PUT,  # status: every order starts as the request received
            None,  # status_message
            None,  # status_message_raw
            None,  # exchange_order_id
            None,  # exchange_timestamp
            None,  # exchange_update_timestamp
            parent_order_id,
            req.auction_number,
            0,  # filled_quantity
            0.0,  # average_price
            0,  # cancelled_quantity
            False,  # modified
            0,  # modifications
            "",  # guid: made from the id and the account's seed when first read (Order.guid)
            user,  # placed_by
            user,  # account_id
            req.algo_id,
            meta or {},
        )
        order._guid_seed = ids.seed
        self.account.add(order)
        return order

    def rms(
        self, req: PlaceRequest, spec: InstrumentSpec, booked: PlaceRequest | None = None
    ) -> tuple[risk.Rejection | None, float]:
        """Return the RMS verdict on a request and the margin it would block (at ``booked``'s price, if given:
        a protected market order blocks margin at its protection price)."""
        acct = self.account
        token = spec.instrument_token
        quote = acct.quotes.get(token)
        variety, is_buy = req.variety, req.transaction_type is _BUY
        product = _CO if variety is _CO_VARIETY else req.product
        priced = booked or req
        ref = priced.price or (priced.trigger_price if priced.order_type is _SL_M else 0.0)
        ref = ref or (quote.last_price if quote else 0.0)
        # An AMO's quote is the last session's; the exchange judges it at the open.
        found = None
        if quote is not None and variety is not _AMO_VARIETY:
            kept = self._facts.get(token)
            if kept is None or (facts := kept[0]).quote is not quote or facts.spec is not spec:
                scopes = kept[1] if kept is not None and kept[0].spec is spec else Scopes(MARKET_RULES, spec.exchange)
                kept = self._facts[token] = (risk.market_facts(spec, quote), scopes)
            rules = kept[1].of(req.order_type, variety)  # risk.market(), its rules kept for the instrument
            if rules:
                found = risk.judged(rules, req, quote, kept[0])
        if found is None and ref <= 0:
            found = risk.Rejection(ErrorType.ORDER, f"No market price is available for {spec.key} right now.")
        if req.product in _DELIVERY and not is_buy:
            holding = risk.holdings(spec.tradingsymbol, req.quantity, acct.sellable(token))
            return found or holding, 0.0
        position = acct.open_quantity(token, product)
        against = -position if is_buy else position
        # Orders already working against the position close it first; summing them only matters if there is one.
        queued = acct.pending(token, product, req.transaction_type) if against > 0 else 0
        opening = req.quantity - min(req.quantity, closable(position, queued, is_buy))
        required = margin_total(spec, product, is_buy, opening, ref, req.trigger_price)
        if found is None:
            found = risk.funds(required, acct.available(spec.funds_segment))
        return found, required

    def open(self, order: Order, now: datetime, *, unchanged: bool = False) -> None:
        """Send an order to the exchange: OPEN PENDING, then OPEN (or TRIGGER PENDING), then match it.

        ``unchanged``: nothing the order's states show changed since its last state, at ``now`` (a new order
        just validated), so OPEN PENDING is noted as that state's status alone (:meth:`Order.pass_to`).
        """
        if unchanged:
            order.pass_to(_OPEN_PENDING)
        else:
            order.enter(_OPEN_PENDING, now)
        order.exchange_order_id = self.account.ids.exchange_order_id()
        order.exchange_timestamp = now
        if order.validity is _TTL and order.validity_ttl:
            order.expires_at = now + timedelta(minutes=order.validity_ttl)
        if order.order_type in _STOPS and not order.triggered:
            self.settle(order, _TRIGGER_PENDING, now)
            return
        # Most orders that arrive marketable fill at once: filing one among the resting orders only to take it
        # out again cost every such order a round of the live index. Matching reads only the quote, so the
        # order is filed after it, if it is still open (a completed or lapsed one was settled inside).
        self.updates += (order, order.enter(_OPEN, now), None)  # emit(), inlined
        self.match(order, now, arriving=True)
        if order.status is _OPEN:
            self.account.track(order)

    def protected(self, req: PlaceRequest, spec: InstrumentSpec) -> tuple[PlaceRequest, tuple[str, ...]]:
        """Return a protected MARKET or SL-M order as Kite books it, and the tags that say so.

        Kite's OMS turns a protected MARKET order into a LIMIT at the protection price (``market_protection``
        percent beyond the last price, or the automatic band for -1), and an SL-M into an SL priced the same
        way from its trigger; the order book shows the LIMIT or SL, ``market_protection`` 0 and the tags
        ``mktp`` and ``mktp:<percent, two decimals>`` (kiteconnect-mocks' ``orders.json``). An AMO, or a
        MARKET order with no price to start from, stays as it is until it meets a live quote (:meth:`arm`).
        """
        market = req.order_type is _MARKET
        if not req.market_protection or not (market or req.order_type is _SL_M) or req.variety is _AMO_VARIETY:
            return req, ()
        quote = self.account.quotes.get(spec.instrument_token)
        reference = (quote.last_price if quote is not None else 0.0) if market else req.trigger_price
        if reference <= 0:
            return req, ()
        pct = auto_protection(spec, reference) if req.market_protection == -1 else req.market_protection
        # A stop's band is judged when it triggers, on the market then (TRIGGER_RULES), not on today's.
        band = band_range(spec, band_reference(quote)) if market and quote is not None else None
        cap = protection_cap(req.is_buy, reference, pct, quote, spec.tick_size, band)
        booked = dataclasses.replace(
            req, order_type=OrderType.LIMIT if market else OrderType.SL, price=cap, market_protection=0.0
        )
        return booked, ("mktp", f"mktp:{pct:.2f}")

    def arm(self, order: Order, quote: MarketQuote) -> None:
        """Book a protected market order still unpriced (an AMO at the open, a cover order's stop-loss leg) as a
        LIMIT at its protection price, from the first live quote it meets (see :meth:`protected`)."""
        if order.order_type not in _UNPRICED or not order.market_protection:
            return
        spec = self.account.specs[order.instrument_token]
        pct = auto_protection(spec, quote.last_price) if order.market_protection == -1 else order.market_protection
        band = band_range(spec, band_reference(quote))
        order.price = protection_cap(order.is_buy, quote.last_price, pct, quote, spec.tick_size, band)
        order.order_type, order.market_protection = OrderType.LIMIT, 0.0
        kept = [t for t in order.tags if t != "mktp" and not t.startswith("mktp:")]
        order.retag([*kept, "mktp", f"mktp:{pct:.2f}"])  # the one change that comes without a new state
        self.account.track(order)  # it rests at its protection price from now on

    # -- matching -----------------------------------------------------------------------------------
    def on_quote(self, quote: MarketQuote, now: datetime) -> None:
        """Take a new quote: trigger stops it reaches and fill open orders against its depth."""
        acct = self.account
        token = quote.instrument_token
        acct.quotes[token] = quote
        acct.quoted_at[token] = now
        held = acct.held(token)
        if held:
            for pos in held:
                pos.last_price, pos.close_price = quote.last_price, quote.close or pos.close_price
            acct.remargin(token)  # its unrealised P&L moved
        holding = acct.holdings.get(token)
        if holding is not None:
            holding.last_price, holding.close_price = quote.last_price, quote.close or holding.close_price
        live = acct.live_orders(token)
        if not live or self.fresh_quote(token, now) is None:
            return
        for order in live:
            reached = stop_triggered(order.is_buy, order.trigger_price, quote.last_price)
            if order.status is _TRIGGER_PENDING and reached:
                self.trigger(order, now)
            elif order.status is _OPEN:
                self.match(order, now, arriving=False)

    def trigger(self, order: Order, now: datetime) -> None:
        """Fire a stop: it becomes a live LIMIT (SL) or protected MARKET (SL-M) order and matches at once.

        An SL order's price meets the exchange's price band now, on the market at the trigger: outside it,
        the order is REJECTED (:data:`~kitekit.wire.order_rules.TRIGGER_RULES`).
        """
        order.triggered = True
        spec = self.account.specs[order.instrument_token]
        quote = self.account.quotes.get(order.instrument_token)
        found = risk.market(TRIGGER_RULES, self.request_of(order), spec, quote)
        if found is not None:
            self.reject(order, now, found.message)
            return
        self.settle(order, _OPEN, now)
        self.match(order, now, arriving=True)

    def match(self, order: Order, now: datetime, arriving: bool) -> None:
        """Fill an OPEN order against the current depth as far as its price allows.

        A resting order with a disclosed quantity shows only that much, so it fills at most that much per
        quote; an IOC order gets one attempt, on arrival, and the rest is cancelled.
        """
        if order.status is not _OPEN:
            return
        quote = self.fresh_quote(order.instrument_token, now)
        fills: list[tuple[float, int]] = []
        if quote is not None:
            spec = self.account.specs[order.instrument_token]
            if order.order_type not in _PRICED:
                self.arm(order, quote)  # a protected market order still unpriced is booked as a LIMIT now
            limit = order.price if order.order_type in _PRICED else (order.cap_price or None)
            # The order is OPEN here and fills leave it so: its pending quantity, without the property's call.
            want = order.quantity - order.filled_quantity - order.cancelled_quantity
            if order.disclosed_quantity and not arriving:
                want = min(want, order.disclosed_quantity)
            fills = self.account.liquidity.fill(quote, order.transaction_type is _BUY, want, limit, spec.lot_size)
            for price, qty in fills:
                self.execute(order, price, qty, now)
        if order.quantity - order.filled_quantity - order.cancelled_quantity == 0:  # still OPEN: as above
            self.settle(order, _COMPLETE, now)
            self.on_done(order, now)
        elif fills:
            self.emit(order, order.enter(_OPEN, now), _UPDATE)
        if order.validity is _IOC and order.status is _OPEN:
            self.lapse(order, now)

    def execute(self, order: Order, price: float, quantity: int, now: datetime) -> None:
        """Book one fill: the trade, the order's fill, the position, realised P&L, charges and margin."""
        acct = self.account
        spec = acct.specs[order.instrument_token]
        acct.trades.append(
            Trade(
                acct.ids.trade_id(),
                order.order_id,
                order.exchange_order_id or "",
                order.exchange,
                order.tradingsymbol,
                order.instrument_token,
                order.product,
                order.transaction_type,
                quantity,
                price,
                now,
                order.placed_at,
            )
        )
        pending_before = order.pending_quantity
        order.add_fill(price, quantity)
        funds = acct.funds[spec.funds_segment]
        is_buy = order.transaction_type is _BUY
        realised = acct.position(spec, order.product).apply_fill(is_buy, quantity, price)
        acct.remargin(spec.instrument_token)
        if realised:
            funds.credit_realised(realised)
        day = self._day
        if day[0] is not now:  # the fills of one moment share its date
            day = self._day = (now, now.astimezone(IST).date())
        charged = charges_total(spec, order.product, is_buy, order.filled_quantity, order.average_price, day[1])
        funds.debit_charges(charged - order.charged)
        order.charged = charged
        # _release(), inlined: the margin goes back to the funds of this very segment.
        released = order.blocked * quantity / pending_before if pending_before else order.blocked
        if released:
            order.blocked -= released
            funds.blocked -= released

    # -- ending -------------------------------------------------------------------------------------
    def cancel(self, order: Order, now: datetime) -> None:
        """Cancel a live order at the user's request: CANCEL PENDING, then CANCELLED.

        Raises:
            RejectionError: InputException if the order is no longer live.
        """
        if not order.status.is_live:
            raise invalid(f"Order cannot be cancelled as it is {order.status.lower()}.")
        order.enter(_CANCEL_PENDING, now)
        self.lapse(order, now)

    def lapse(self, order: Order, now: datetime, message: str | None = None) -> None:
        """Cancel what is left of an order on the exchange's side (IOC remainder, TTL, end of day)."""
        order.cancelled_quantity = order.quantity - order.filled_quantity
        self._release(order, order.blocked)
        self.settle(order, _CANCELLED, now, message)
        self.on_done(order, now)

    def reject(self, order: Order, now: datetime, message: str) -> None:
        """Reject a live order (a queued AMO the exchange refuses at the open)."""
        self._release(order, order.blocked)
        self.settle(order, _REJECTED, now, message)

    def _release(self, order: Order, amount: float) -> None:
        if amount:
            order.blocked -= amount
            self.account.funds[self.account.specs[order.instrument_token].funds_segment].blocked -= amount

    def settle(self, order: Order, status: S, now: datetime, message: str | None = None) -> None:
        """Enter ``status``, update the live index and push the new state to the update stream."""
        snap = order.enter(status, now, message)
        self.account.track(order)
        self.updates += (order, snap, None)  # emit(), inlined: every order is settled at least once

    def request_of(self, order: Order) -> PlaceRequest:
        """Return the request that would place ``order`` as it stands (to re-check a modification)."""
        return PlaceRequest(
            variety=order.variety,
            exchange=order.exchange,
            tradingsymbol=order.tradingsymbol,
            transaction_type=order.transaction_type,
            order_type=order.order_type,
            product=Product.MIS if order.product is _CO else order.product,
            quantity=order.quantity,
            price=order.price,
            trigger_price=order.trigger_price,
            validity=order.validity,
            validity_ttl=order.validity_ttl,
            disclosed_quantity=order.disclosed_quantity,
            auction_number=order.auction_number,
            tag=order.tag,
            market_protection=order.market_protection,
            algo_id=order.algo_id,
        )

    @staticmethod
    def opposite(side: TransactionType) -> TransactionType:
        """Return the other side."""
        return TransactionType.SELL if side is TransactionType.BUY else TransactionType.BUY
