"""An order's terms as Kite reads them, and the limits and tables that bound them (``docs/protocol.md`` §8).

The rules in :mod:`kitekit.wire.order_rules` read these: the client's pre-trade check builds a
:class:`PlaceRequest` from its typed request, the simulator's exchange parses one from the form fields, and
both are then judged by the same checks against the same limits. What an instrument and a quote must tell a
rule is written here as two protocols, so this module needs nothing above ``wire/``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "FREEZE_QUANTITIES",
    "MAX_NUMBER",
    "Contract",
    "ModifyRequest",
    "OrderLimits",
    "PlaceRequest",
    "Quoted",
    "freeze_quantity",
    "merge",
    "slice_size",
]

# Members bound once (a request's properties are read by every rule of every order).
_BUY = TransactionType.BUY
_PRICED = frozenset({OrderType.LIMIT, OrderType.SL})
_STOPS = frozenset({OrderType.SL, OrderType.SL_M})

#: The largest magnitude a price, quantity or amount may have: far beyond any real order, small enough that
#: price × quantity and every sum over them stay finite.
MAX_NUMBER = 1e12

#: NSE's quantity freeze limits of index derivatives, by underlying: the most one order may carry (units, not
#: lots). Source: NSE's circular of 31 October 2025 (effective 3 November 2025). They change a few times a
#: year; the client takes a table of its own (``PreTradeRules(freeze_quantities=...)``) for when they do, and
#: for stock derivatives, whose limit per stock Kite's dump does not carry.
FREEZE_QUANTITIES: Mapping[str, int] = {
    "NIFTY": 1800,
    "BANKNIFTY": 600,
    "FINNIFTY": 1800,
    "MIDCPNIFTY": 2800,
    "NIFTYNXT50": 600,
}


def freeze_quantity(exchange: str, tradingsymbol: str, name: str, table: Mapping[str, int] = FREEZE_QUANTITIES) -> int:
    """Return the most one order on an instrument may carry, 0 when ``table`` sets no limit.

    ``table`` is keyed by ``EXCHANGE:TRADINGSYMBOL``, tradingsymbol or underlying name, looked up in that order.
    """
    for key in (f"{exchange}:{tradingsymbol}", tradingsymbol, name):
        if key in table:
            return table[key]
    return 0


def slice_size(lot_size: int, freeze: int) -> int:
    """Return the largest whole-lot quantity within ``freeze`` (at least one lot; 0: no limit).

    Exchanges publish freeze limits in units, not lots (NIFTY: 1800 with a lot of 65), so a slice is the
    largest whole number of lots within the limit.
    """
    lot = max(lot_size, 1)
    return max(freeze // lot * lot, lot) if freeze else 0


@dataclass(frozen=True, slots=True)
class OrderLimits:
    """The order rules that are settings rather than facts (limits Kite has changed over time)."""

    max_modifications: int = 25
    #: Kite documents 2-10 legs (its staff later said up to 50).
    max_iceberg_legs: int = 10
    #: Letters and digits only (it was 8 before 2024).
    max_tag_length: int = 20
    #: A TTL order lives at most a day.
    max_ttl_minutes: int = 24 * 60
    #: From this day a market order must carry market protection (FORUM: 1 April 2026); None to never.
    protection_required_from: date | None = date(2026, 4, 1)
    #: The most slices one autoslice order may be cut into (Kite refuses it beyond).
    max_autoslices: int = 10


class Contract(Protocol):
    """What the rules read of an instrument (:class:`kitekit.engine.InstrumentSpec` is one)."""

    @property
    def exchange(self) -> str: ...
    @property
    def instrument_type(self) -> str: ...  # FUT, CE, PE, EQ (the price band depends on it)
    @property
    def name(self) -> str: ...  # the underlying
    @property
    def lot_size(self) -> int: ...
    @property
    def tick_size(self) -> float: ...
    @property
    def freeze_quantity(self) -> int: ...  # 0: no limit
    @property
    def tradable(self) -> bool: ...  # False for an index
    @property
    def is_derivative(self) -> bool: ...  # futures and options
    @property
    def products(self) -> tuple[Product, ...]: ...  # the products the segment takes


class Quoted(Protocol):
    """What the market rules read of a quote (:class:`kitekit.engine.MarketQuote` is one)."""

    @property
    def last_price(self) -> float: ...
    @property
    def lower_circuit_limit(self) -> float: ...  # 0: not known
    @property
    def upper_circuit_limit(self) -> float: ...  # 0: not known
    @property
    def average_price(self) -> float: ...  # the day's average trade price, 0: no trade yet


@dataclass(frozen=True, slots=True, init=False)
class PlaceRequest:
    """The terms of a ``POST /orders/{variety}``: MARKET and SL-M prices are 0, unset numbers 0."""

    variety: Variety
    exchange: str
    tradingsymbol: str
    transaction_type: TransactionType
    order_type: OrderType
    product: Product
    quantity: int
    price: float = 0.0
    trigger_price: float = 0.0
    validity: Validity = Validity.DAY
    validity_ttl: int | None = None
    disclosed_quantity: int = 0
    iceberg_legs: int = 0
    iceberg_quantity: int = 0
    auction_number: str | None = None
    tag: str | None = None
    #: -1 (automatic) or a percentage above 0 up to 100, fractions allowed (2.5); 0 none.
    market_protection: float = 0.0
    autoslice: bool = False
    #: The exchange-approved algorithm's id, kept on the order.
    algo_id: str | None = None

    def __init__(
        self,
        variety: Variety,
        exchange: str,
        tradingsymbol: str,
        transaction_type: TransactionType,
        order_type: OrderType,
        product: Product,
        quantity: int,
        price: float = 0.0,
        trigger_price: float = 0.0,
        validity: Validity = Validity.DAY,
        validity_ttl: int | None = None,
        disclosed_quantity: int = 0,
        iceberg_legs: int = 0,
        iceberg_quantity: int = 0,
        auction_number: str | None = None,
        tag: str | None = None,
        market_protection: float = 0.0,
        autoslice: bool = False,
        algo_id: str | None = None,
    ) -> None:
        # The dataclass's own __init__, with each field set through its slot's setter bound once (_SETTERS): a
        # frozen dataclass sets them through object.__setattr__, which costs about twice as much, 19 times for
        # every request (a backtest builds one per order). The parameters are the fields, in their order, with
        # their defaults (tests/test_engine_typed.py holds them to it).
        (
            set_variety,
            set_exchange,
            set_tradingsymbol,
            set_transaction_type,
            set_order_type,
            set_product,
            set_quantity,
            set_price,
            set_trigger_price,
            set_validity,
            set_validity_ttl,
            set_disclosed_quantity,
            set_iceberg_legs,
            set_iceberg_quantity,
            set_auction_number,
            set_tag,
            set_market_protection,
            set_autoslice,
            set_algo_id,
        ) = _SETTERS
        set_variety(self, variety)
        set_exchange(self, exchange)
        set_tradingsymbol(self, tradingsymbol)
        set_transaction_type(self, transaction_type)
        set_order_type(self, order_type)
        set_product(self, product)
        set_quantity(self, quantity)
        set_price(self, price)
        set_trigger_price(self, trigger_price)
        set_validity(self, validity)
        set_validity_ttl(self, validity_ttl)
        set_disclosed_quantity(self, disclosed_quantity)
        set_iceberg_legs(self, iceberg_legs)
        set_iceberg_quantity(self, iceberg_quantity)
        set_auction_number(self, auction_number)
        set_tag(self, tag)
        set_market_protection(self, market_protection)
        set_autoslice(self, autoslice)
        set_algo_id(self, algo_id)

    @property
    def is_buy(self) -> bool:
        """Return True for a BUY."""
        return self.transaction_type is _BUY

    @property
    def priced(self) -> bool:
        """Return True for the order types that carry a price (LIMIT, SL)."""
        return self.order_type in _PRICED

    @property
    def stop(self) -> bool:
        """Return True for the order types that carry a trigger (SL, SL-M)."""
        return self.order_type in _STOPS


#: The slots' setters of :class:`PlaceRequest`'s fields, in their order.
_SETTERS: tuple[Callable[[PlaceRequest, Any], None], ...] = tuple(
    getattr(PlaceRequest, f.name).__set__ for f in dataclasses.fields(PlaceRequest)
)


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """The terms of a ``PUT /orders/{variety}/{order_id}``: None leaves a term as it is."""

    quantity: int | None = None
    price: float | None = None
    order_type: OrderType | None = None
    trigger_price: float | None = None
    validity: Validity | None = None
    disclosed_quantity: int | None = None
    market_protection: float | None = None


def merge(req: PlaceRequest, mod: ModifyRequest) -> PlaceRequest:
    """Return the terms an order would have after a modification (to judge them as a new order's)."""
    changes: dict[str, Any] = {k: v for k, v in dataclasses.asdict(mod).items() if v is not None}
    merged = dataclasses.replace(req, **changes)
    if merged.order_type in (OrderType.MARKET, OrderType.SL_M):
        merged = dataclasses.replace(merged, price=0.0)
    # A cover order keeps its stop whatever its entry becomes; any other LIMIT or MARKET order drops it.
    if merged.order_type in (OrderType.MARKET, OrderType.LIMIT) and req.variety is not Variety.CO:
        merged = dataclasses.replace(merged, trigger_price=0.0)
    return merged
