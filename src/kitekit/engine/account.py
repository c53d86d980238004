"""One account's books (orders, trades, positions, holdings, funds, GTTs, last quotes) and the sums over them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from kitekit.engine.funds import Funds, Utilised
from kitekit.engine.gtt import Gtt
from kitekit.engine.holdings import Holding
from kitekit.engine.margins import Margin, margin_for
from kitekit.engine.matching import Liquidity
from kitekit.engine.order import Ids, Order, Trade
from kitekit.engine.positions import Position
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.wire.orders import OrderStatus, OrderType, Product, TransactionType

__all__ = ["Account"]

_DELIVERY = (Product.CNC, Product.MTF)


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

    def add(self, order: Order) -> None:
        """Put a new order in the book; its changes are noted from now on."""
        self.orders[order.order_id] = order
        order.report_changes_to(self._changed)
        order.touch()

    def take_changed(self) -> set[str]:
        """Return the ids of orders changed since the last call (still in the book or not), and forget them."""
        changed = set(self._changed)
        self._changed.clear()  # in place: every order holds this very set
        return changed

    def track(self, order: Order) -> None:
        """Keep the live-order index in step with ``order``'s status (call after every status change)."""
        self._rest(order)
        book = self._live.setdefault(order.instrument_token, {})
        if order.status.is_live:
            book[order.order_id] = order
            if order.expires_at is not None:
                self._ttl[order.order_id] = order
        else:
            book.pop(order.order_id, None)
            self._ttl.pop(order.order_id, None)

    def _rest(self, order: Order) -> None:
        """Keep the resting prices in step with ``order``: its limit, its stop's trigger, its protection band."""
        now: tuple[float, ...] = ()
        if order.status.is_live and order.status is not OrderStatus.AMO_REQ_RECEIVED:
            limit = order.price if order.order_type in (OrderType.LIMIT, OrderType.SL) else 0.0
            trigger = order.trigger_price if order.is_stop and not order.triggered else 0.0
            now = tuple(p for p in (limit, trigger, order.cap_price) if p)
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
        """Rebuild the live-order index from the orders (after loading a saved state, or a new session's book)."""
        self._live, self._ttl, self._levels, self._resting = {}, {}, {}, {}
        self._changed.clear()  # a new book (loaded, or a new session's) is written whole anyway
        for order in self.orders.values():
            self.track(order)
            order.report_changes_to(self._changed)

    # -- lookups ------------------------------------------------------------------------------------
    def position(self, spec: InstrumentSpec, product: Product) -> Position:
        """Return the position of ``spec`` in ``product``, creating a flat one if needed."""
        key = f"{spec.instrument_token}:{product}"
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
        return pos

    def open_quantity(self, token: int, product: Product) -> int:
        """Return the signed open quantity in ``product`` (0 when there is no position)."""
        pos = self.positions.get(f"{token}:{product}")
        return pos.quantity if pos else 0

    def live_orders(self, token: int) -> list[Order]:
        """Return the orders of ``token`` that can still fill (incl. queued AMOs), oldest first."""
        return list(self._live.get(token, {}).values())

    def pending(self, token: int, product: Product | tuple[Product, ...], side: TransactionType) -> int:
        """Return the quantity still pending in live orders of ``token`` on one side, in the product(s) given."""
        products = product if isinstance(product, tuple) else (product,)
        return sum(
            o.pending_quantity for o in self.live_orders(token) if o.transaction_type is side and o.product in products
        )

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
        """Return (delivery margin, other margin, unrealised P&L) of the open positions of a funds segment."""
        delivery, other, unrealised = Margin(), Margin(), 0.0
        for pos in self.positions.values():
            spec = self.specs.get(pos.instrument_token)
            if spec is None or spec.funds_segment != segment or pos.quantity == 0:
                continue
            # A cover order's position is margined like MIS: its stop is a separate order by then.
            product = Product.MIS if pos.product is Product.CO else pos.product
            need = margin_for(spec, product, pos.quantity > 0, abs(pos.quantity), pos.net.average)
            if pos.product in _DELIVERY:
                delivery = delivery + need
            else:
                other = other + need
                unrealised += pos.unrealised()
        return delivery, other, unrealised

    def available(self, segment: str) -> float:
        """Return the margin a new order of a funds segment may block."""
        delivery, other, unrealised = self.position_margins(segment)
        return self.funds[segment].available(delivery.total + other.total, unrealised)

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
