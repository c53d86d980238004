"""One account's books (orders, trades, positions, holdings, funds, GTTs, last quotes) and the sums over them.

The margin the open positions block and their unrealised P&L are kept as running totals per funds segment,
each instrument's share re-margined only when its positions or its price moved (:meth:`Account.remargin`), so
what a new order's funds check costs does not grow with the number of open positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from kitekit.engine.funds import Funds, Utilised
from kitekit.engine.gtt import Gtt
from kitekit.engine.holdings import Holding
from kitekit.engine.margins import Margin, margin_for, margin_total
from kitekit.engine.matching import Liquidity
from kitekit.engine.order import Ids, Order, Trade
from kitekit.engine.positions import Position
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.wire.orders import OrderStatus, OrderType, Product, TransactionType

__all__ = ["Account"]

_DELIVERY = (Product.CNC, Product.MTF)
_CO, _MIS = Product.CO, Product.MIS
_LIVE = frozenset({OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING, OrderStatus.AMO_REQ_RECEIVED})
# Live and on the exchange's book (a queued AMO is live but rests nowhere yet).
_BOOKED = frozenset({OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING})
_PRICED = frozenset({OrderType.LIMIT, OrderType.SL})


@dataclass(slots=True)
class Account:
    """Everything the engine persists for one account; the engine's state is exactly this, serialized.

    ``day`` is the trading session the books belong to; ``squared_off`` and ``closed`` record which of that
    session's end-of-day steps have run.
    """

    user_id: str
    now: datetime
    day: date
    squared_off: bool = False
    closed: bool = False
    ids: Ids = field(default_factory=Ids)
    orders: dict[str, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    positions: dict[str, Position] = field(default_factory=dict)
    holdings: dict[int, Holding] = field(default_factory=dict)
    funds: dict[str, Funds] = field(default_factory=dict)
    gtts: dict[int, Gtt] = field(default_factory=dict)
    quotes: dict[int, MarketQuote] = field(default_factory=dict)
    #: When each instrument's quote was received: only quotes received in the running session fill orders.
    quoted_at: dict[int, datetime] = field(default_factory=dict)
    specs: dict[int, InstrumentSpec] = field(default_factory=dict)
    liquidity: Liquidity = field(default_factory=Liquidity)
    # Live orders by instrument (OPEN, TRIGGER PENDING, AMO REQ RECEIVED); derived, never serialized.
    _live: dict[int, dict[str, Order]] = field(default_factory=dict)
    _ttl: dict[str, Order] = field(default_factory=dict)
    # Ids of orders changed since the account was last written (kitekit.engine.changes); derived, never serialized.
    _changed: set[str] = field(default_factory=set)
    # The prices live orders rest at, per instrument, with how many rest at each (kept by track); derived.
    _levels: dict[int, dict[float, int]] = field(default_factory=dict)
    _resting: dict[str, tuple[float, ...]] = field(default_factory=dict)
    # Positions by instrument; each instrument's (segment, margin, unrealised P&L) share of the running totals
    # per segment; the instruments to re-margin before the totals are next read. Derived, never serialized.
    _held: dict[int, list[Position]] = field(default_factory=dict)
    _shares: dict[int, tuple[str, float, float]] = field(default_factory=dict)
    _margin: dict[str, float] = field(default_factory=dict)
    _unrealised: dict[str, float] = field(default_factory=dict)
    _margined: dict[str, int] = field(default_factory=dict)
    _dirty: set[int] = field(default_factory=set)

    def add(self, order: Order) -> None:
        """Put a new order in the book; its changes are noted from now on."""
        oid = order.order_id
        self.orders[oid] = order
        order._changed = self._changed  # report_changes_to(), inlined: every order is added
        self._changed.add(oid)

    def take_changed(self) -> set[str]:
        """Return the ids of orders changed since the last call (still in the book or not), and forget them."""
        changed = set(self._changed)
        self._changed.clear()  # in place: every order holds this very set
        return changed

    def track(self, order: Order) -> None:
        """Keep the live-order index in step with ``order``'s status (call after every status change)."""
        self._rest(order)
        book = self._live.get(order.instrument_token)
        if book is None:
            book = self._live[order.instrument_token] = {}
        if order.status in _LIVE:
            book[order.order_id] = order
            if order.expires_at is not None:
                self._ttl[order.order_id] = order
        else:
            book.pop(order.order_id, None)
            self._ttl.pop(order.order_id, None)

    def _rest(self, order: Order) -> None:
        """Keep the resting prices in step with ``order``: its limit, its stop's trigger, its protection band."""
        now: tuple[float, ...] = ()
        if order.status in _BOOKED:
            limit = order.price if order.order_type in _PRICED else 0.0
            trigger = order.trigger_price if order.is_stop and not order.triggered else 0.0
            cap = order.cap_price
            if trigger or cap:
                now = tuple(p for p in (limit, trigger, cap) if p)
            elif limit:
                now = (limit,)  # a plain limit order, the common case
        before = self._resting.pop(order.order_id, ())
        if now:
            self._resting[order.order_id] = now
        if before == now:
            return
        levels = self._levels.setdefault(order.instrument_token, {})
        for price in before:
            levels[price] -= 1
            if not levels[price]:
                del levels[price]
        for price in now:
            levels[price] = levels.get(price, 0) + 1
        if not levels:
            del self._levels[order.instrument_token]

    def resting_prices(self) -> dict[int, set[float]]:
        """Return the prices live orders rest at (queued AMOs rest nowhere yet), per instrument."""
        return {token: set(levels) for token, levels in self._levels.items()}

    def live_tokens(self) -> set[int]:
        """Return the instruments with live orders (incl. queued AMOs)."""
        return {token for token, book in self._live.items() if book}

    def live(self) -> list[Order]:
        """Return every live order, by instrument, oldest first within one."""
        return [order for book in self._live.values() for order in book.values()]

    def expiring(self) -> list[Order]:
        """Return the live orders that have a TTL deadline."""
        return list(self._ttl.values())

    def reindex(self) -> None:
        """Rebuild the derived indexes: live orders (after loading a saved state, or a new session's book), and
        the positions by instrument with their margin totals."""
        self._live, self._ttl, self._levels, self._resting = {}, {}, {}, {}
        self._changed.clear()  # a new book (loaded, or a new session's) is written whole anyway
        for order in self.orders.values():
            self.track(order)
            order.report_changes_to(self._changed)
        self._held, self._shares, self._margin, self._unrealised, self._margined = {}, {}, {}, {}, {}
        for pos in self.positions.values():
            self._held.setdefault(pos.instrument_token, []).append(pos)
        self._dirty = set(self._held)

    # -- lookups ------------------------------------------------------------------------------------
    def position(self, spec: InstrumentSpec, product: Product) -> Position:
        """Return the position of ``spec`` in ``product``, creating a flat one if needed."""
        key = f"{spec.instrument_token}:{product._value_}"
        pos = self.positions.get(key)
        if pos is None:
            quote = self.quotes.get(spec.instrument_token)
            pos = Position(
                spec.instrument_token,
                spec.exchange,
                spec.tradingsymbol,
                product,
                spec.multiplier,
                close_price=quote.close if quote else 0.0,
                last_price=quote.last_price if quote else 0.0,
            )
            self.positions[key] = pos
            self._held.setdefault(spec.instrument_token, []).append(pos)
        return pos

    def held(self, token: int) -> list[Position]:
        """Return the positions of an instrument, one per product it was traded in (open or flat)."""
        return self._held.get(token, [])

    def open_quantity(self, token: int, product: Product) -> int:
        """Return the signed open quantity in ``product`` (0 when there is no position)."""
        pos = self.positions.get(f"{token}:{product._value_}")
        return pos.quantity if pos else 0

    def live_orders(self, token: int) -> list[Order]:
        """Return the orders of ``token`` that can still fill (incl. queued AMOs), oldest first."""
        return list(self._live.get(token, {}).values())

    def pending(self, token: int, product: Product | tuple[Product, ...], side: TransactionType) -> int:
        """Return the quantity still pending in live orders of ``token`` on one side, in the product(s) given."""
        book = self._live.get(token)
        if not book:  # the common case when orders fill on arrival: nothing of the instrument is working
            return 0
        products = product if isinstance(product, tuple) else (product,)
        return sum(o.pending_quantity for o in book.values() if o.transaction_type is side and o.product in products)

    def sellable(self, token: int) -> int:
        """Return the delivery quantity a new sell may take: holdings and today's delivery buys, less sales."""
        holding = self.holdings.get(token)
        held = holding.total if holding else 0
        today = sum(self.open_quantity(token, p) for p in _DELIVERY)
        return held + today - self.pending(token, _DELIVERY, TransactionType.SELL)

    def used_holdings(self, token: int) -> int:
        """Return how much of a holding today's delivery sells have taken."""
        return max(0, -sum(self.open_quantity(token, p) for p in _DELIVERY))

    # -- money --------------------------------------------------------------------------------------
    def position_margins(self, segment: str) -> tuple[Margin, Margin, float]:
        """Return (delivery margin, other margin, unrealised P&L) of the open positions of a funds segment.

        This walks every position, split by kind as ``/user/margins`` reports it; a funds check reads the
        running totals instead (:meth:`available`).
        """
        delivery, other, unrealised = Margin(), Margin(), 0.0
        for pos in self.positions.values():
            spec = self.specs.get(pos.instrument_token)
            if spec is None or spec.funds_segment != segment or pos.quantity == 0:
                continue
            need = margin_for(spec, _margined_as(pos), pos.quantity > 0, abs(pos.quantity), pos.net.average)
            if pos.product in _DELIVERY:
                delivery = delivery + need
            else:
                other = other + need
                unrealised += pos.unrealised()
        return delivery, other, unrealised

    def remargin(self, token: int) -> None:
        """Note that an instrument's positions or price moved: its share of the totals is redone when next read."""
        self._dirty.add(token)

    def available(self, segment: str) -> float:
        """Return the margin a new order of a funds segment may block."""
        if self._dirty:
            for token in self._dirty:
                self._margin_instrument(token)
            self._dirty.clear()
        return self.funds[segment].available(self._margin.get(segment, 0.0), self._unrealised.get(segment, 0.0))

    def _margin_instrument(self, token: int) -> None:
        """Replace an instrument's share of its segment's totals: margin of its open positions, their P&L."""
        old = self._shares.pop(token, None)
        if old is not None:
            segment, margin, unrealised = old
            left = self._margined[segment] - 1
            self._margined[segment] = left
            # With nothing left open the totals are exactly zero, not what subtracting left of them.
            self._margin[segment] = self._margin[segment] - margin if left else 0.0
            self._unrealised[segment] = self._unrealised[segment] - unrealised if left else 0.0
        spec = self.specs.get(token)
        if spec is None:
            return
        margin = unrealised = 0.0
        open_any = False
        for pos in self._held.get(token, ()):
            net = pos.net  # its quantity and product read once, without a call each (every fill comes here)
            quantity, product = net.quantity, pos.product
            if quantity == 0:
                continue
            open_any = True
            margined_as = _MIS if product is _CO else product  # _margined_as()
            margin += margin_total(spec, margined_as, quantity > 0, abs(quantity), net.average)
            if product not in _DELIVERY:
                unrealised += pos.unrealised()
        if not open_any:
            return
        segment = spec.funds_segment
        self._shares[token] = (segment, margin, unrealised)
        self._margined[segment] = self._margined.get(segment, 0) + 1
        self._margin[segment] = self._margin.get(segment, 0.0) + margin
        self._unrealised[segment] = self._unrealised.get(segment, 0.0) + unrealised

    def utilised(self, segment: str) -> Utilised:
        """Return what is blocked in a funds segment, by kind, for ``/user/margins``."""
        delivery, other, unrealised = self.position_margins(segment)
        for order in self.live():
            spec = self.specs.get(order.instrument_token)
            if order.blocked <= 0 or spec is None or spec.funds_segment != segment:
                continue
            # Only the total is kept per order; report it under the kind of margin its product blocks.
            kind = margin_for(spec, order.product, order.is_buy, 1, max(order.price, order.trigger_price, 1.0))
            scale = order.blocked / kind.total if kind.total else 0.0
            share = Margin(kind.span * scale, kind.exposure * scale, kind.option_premium * scale, kind.var * scale)
            if order.product in _DELIVERY:
                delivery = delivery + share
            else:
                other = other + share
        return Utilised.of(delivery, other, unrealised)


def _margined_as(pos: Position) -> Product:
    """Return the product a position is margined as: a cover order's as MIS (its stop is an order of its own)."""
    return _MIS if pos.product is _CO else pos.product
