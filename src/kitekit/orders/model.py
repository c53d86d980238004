"""Typed order requests, changes, placements and orders, convertible to and from Kite's dicts (§8)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from kitekit.clock import IST
from kitekit.wire.formats import parse_kite_datetime
from kitekit.wire.orders import Exchange, OrderStatus, OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "Charges",
    "Order",
    "OrderChange",
    "OrderRequest",
    "Placement",
    "Trade",
    "amount",
    "kite_time",
    "tolerant",
    "whole",
]

E = TypeVar("E", bound=StrEnum)


def tolerant(cls: type[E], value: Any) -> E | str:
    """Return ``value`` as a member of ``cls``, or the raw text when Kite sends a value we do not know yet.

    Kite adds statuses and products from time to time; reading the order book must not fail on one.
    """
    text = "" if value is None else str(value)
    try:
        return cls(text)
    except ValueError:
        return text


def kite_time(value: Any) -> datetime | None:
    """Return an aware IST datetime from a Kite timestamp: text, the SDK's naive datetime, or None."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=IST)
    try:
        return parse_kite_datetime(str(value))
    except ValueError:
        return None  # trades' order_timestamp is a bare HH:MM:SS: no date to attach


def amount(value: Any) -> float:
    """Return a Kite number as a float (0.0 for a missing one)."""
    return float(value) if value not in (None, "") else 0.0


def whole(value: Any) -> int:
    """Return a Kite count as an int (0 for a missing one); ``"10"`` and ``10.0`` both work."""
    return int(float(value)) if value not in (None, "") else 0


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


@dataclass(frozen=True)
class OrderRequest:
    """A new order, in Kite's terms (``POST /orders/{variety}``).

    ``product`` None means the segment's carry product: CNC in the cash market, NRML in derivatives
    (validation fills it in). ``market_protection`` None on a MARKET or SL-M order gets the validator's
    default (-1, Kite's automatic protection). Tags are not part of a request: the gateway derives one from
    the intent id.
    """

    exchange: Exchange
    tradingsymbol: str
    transaction_type: TransactionType
    quantity: int
    order_type: OrderType = OrderType.MARKET
    product: Product | None = None
    price: float | None = None
    trigger_price: float | None = None
    variety: Variety = Variety.REGULAR
    validity: Validity = Validity.DAY
    validity_ttl: int | None = None
    disclosed_quantity: int | None = None
    iceberg_legs: int | None = None
    iceberg_quantity: int | None = None
    auction_number: str | None = None
    market_protection: float | None = None

    @classmethod
    def buy(cls, key: str, quantity: int, **terms: Any) -> OrderRequest:
        """Return a BUY of ``key`` (``EXCHANGE:TRADINGSYMBOL``); see :meth:`of` for ``terms``."""
        return cls.of(key, TransactionType.BUY, quantity, **terms)

    @classmethod
    def sell(cls, key: str, quantity: int, **terms: Any) -> OrderRequest:
        """Return a SELL of ``key`` (``EXCHANGE:TRADINGSYMBOL``); see :meth:`of` for ``terms``."""
        return cls.of(key, TransactionType.SELL, quantity, **terms)

    @classmethod
    def of(cls, key: str, side: TransactionType | str, quantity: int, **terms: Any) -> OrderRequest:
        """Return an order on ``key``; without ``order_type`` it follows from the prices given.

        A price alone makes a LIMIT, a price and a trigger an SL, a trigger alone an SL-M, neither a MARKET.

        Raises:
            ValueError: ``key`` is not ``EXCHANGE:TRADINGSYMBOL`` or names an unknown exchange.
        """
        exchange, sep, symbol = key.partition(":")
        if not sep or not symbol:
            raise ValueError(f"{key!r} is not EXCHANGE:TRADINGSYMBOL (e.g. NSE:INFY)")
        if "order_type" not in terms:
            price, trigger = terms.get("price"), terms.get("trigger_price")
            if price is not None:
                terms["order_type"] = OrderType.SL if trigger is not None else OrderType.LIMIT
            else:
                terms["order_type"] = OrderType.SL_M if trigger is not None else OrderType.MARKET
        return cls.from_kite(
            {
                **terms,
                "exchange": exchange.upper(),
                "tradingsymbol": symbol,
                "transaction_type": side,
                "quantity": quantity,
            }
        )

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``."""
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_buy(self) -> bool:
        """Return True for a BUY."""
        return self.transaction_type is TransactionType.BUY

    def replace(self, **changes: Any) -> OrderRequest:
        """Return a copy with some fields changed."""
        return dataclasses.replace(self, **changes)

    def to_kite(self, tag: str | None = None) -> dict[str, Any]:
        """Return the keyword arguments of the SDK's ``place_order`` (wire strings; unset fields left out)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.value if isinstance(value, StrEnum) else value
        if tag is not None:
            out["tag"] = tag
        return out

    def margin_item(self) -> dict[str, Any]:
        """Return the order as ``POST /margins/orders`` takes it (the calculator's fields only)."""
        fields = ("exchange", "tradingsymbol", "transaction_type", "variety", "product", "order_type", "quantity")
        item = {name: value for name, value in self.to_kite().items() if name in fields}
        item.update(price=self.price or 0.0, trigger_price=self.trigger_price or 0.0)
        return item

    @classmethod
    def from_kite(cls, params: Mapping[str, Any]) -> OrderRequest:
        """Return the request of ``place_order`` keyword arguments or form fields (strings are fine).

        A ``tag`` is ignored (the gateway derives one); unknown keys are refused.

        Raises:
            ValueError: a missing field, an unknown key, or a value that is not one of Kite's.
        """
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(params) - names - {"tag", "autoslice", "algo_id"}
        if unknown:
            raise ValueError(f"unknown order field(s): {', '.join(sorted(unknown))}")
        missing = {"exchange", "tradingsymbol", "transaction_type", "quantity"} - set(params)
        if missing:
            raise ValueError(f"missing order field(s): {', '.join(sorted(missing))}")

        def opt(name: str, kind: Any) -> Any:
            value = params.get(name)
            return None if value in (None, "") else kind(value)

        return cls(
            exchange=Exchange(str(params["exchange"]).upper()),
            tradingsymbol=str(params["tradingsymbol"]),
            transaction_type=TransactionType(str(params["transaction_type"]).upper()),
            quantity=whole(params["quantity"]),
            order_type=OrderType(str(params.get("order_type") or "MARKET").upper()),
            product=opt("product", lambda v: Product(str(v).upper())),
            price=opt("price", float),
            trigger_price=opt("trigger_price", float),
            variety=Variety(str(params.get("variety") or "regular").lower()),
            validity=Validity(str(params.get("validity") or "DAY").upper()),
            validity_ttl=opt("validity_ttl", whole),
            disclosed_quantity=opt("disclosed_quantity", whole),
            iceberg_legs=opt("iceberg_legs", whole),
            iceberg_quantity=opt("iceberg_quantity", whole),
            auction_number=opt("auction_number", str),
            market_protection=opt("market_protection", float),
        )


@dataclass(frozen=True)
class OrderChange:
    """A modification (``PUT /orders/{variety}/{order_id}``): None leaves a term as it is."""

    quantity: int | None = None
    price: float | None = None
    trigger_price: float | None = None
    order_type: OrderType | None = None
    validity: Validity | None = None
    disclosed_quantity: int | None = None

    def to_kite(self) -> dict[str, Any]:
        """Return the given terms as keyword arguments of the SDK's ``modify_order``."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is not None:
                out[f.name] = value.value if isinstance(value, StrEnum) else value
        return out

    def is_empty(self) -> bool:
        """Return True when nothing would change."""
        return not self.to_kite()

    def applied_to(self, order: Order) -> bool:
        """Return True when ``order`` already carries every term of this change (a repeat would be a no-op)."""
        for name, wanted in self.to_kite().items():
            have = getattr(order, name)
            if isinstance(wanted, float) or isinstance(have, float):
                if abs(float(have or 0.0) - float(wanted)) > 1e-9:
                    return False
            elif str(have) != str(wanted):
                return False
        return True


@dataclass(frozen=True)
class Placement:
    """What a placement produced: the exchange's order id for an intent, and how it was settled.

    ``replayed`` is True when the intent had been placed before, by an earlier call or another process (the
    journal answered, after waiting for that process if it was still sending; nothing was sent from here),
    ``recovered`` True when an ambiguous failure was settled by finding the order by its tag.
    """

    intent_id: str
    tag: str
    order_id: str
    replayed: bool = False
    recovered: bool = False


@dataclass(frozen=True)
class Order:
    """One order as Kite reports it (``GET /orders``, ``GET /orders/{id}``); ``raw`` keeps every field."""

    order_id: str
    status: OrderStatus | str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    transaction_type: TransactionType
    order_type: OrderType
    product: Product | str
    variety: Variety | str
    validity: Validity | str
    quantity: int
    price: float
    trigger_price: float
    average_price: float
    filled_quantity: int
    pending_quantity: int
    cancelled_quantity: int
    disclosed_quantity: int = 0
    tag: str | None = None
    status_message: str | None = None
    order_timestamp: datetime | None = None
    exchange_order_id: str | None = None
    parent_order_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``."""
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def is_terminal(self) -> bool:
        """Return True once the order can no longer change (COMPLETE, CANCELLED, REJECTED, LAPSED)."""
        return isinstance(self.status, OrderStatus) and self.status.is_terminal

    @property
    def is_live(self) -> bool:
        """Return True while it can fill, be modified or be cancelled (OPEN, TRIGGER PENDING, a queued AMO)."""
        return isinstance(self.status, OrderStatus) and self.status.is_live

    @property
    def is_cancelled(self) -> bool:
        """Return True once cancelled, or while a cancel is on its way (CANCEL PENDING): asking again is moot."""
        return self.status in (OrderStatus.CANCELLED, OrderStatus.CANCEL_PENDING)

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Order:
        """Return the order of one Kite order object (as sent, or as the SDK returns it)."""
        return cls(
            order_id=str(data["order_id"]),
            status=tolerant(OrderStatus, data.get("status")),
            exchange=str(data.get("exchange", "")),
            tradingsymbol=str(data.get("tradingsymbol", "")),
            instrument_token=whole(data.get("instrument_token")),
            transaction_type=TransactionType(str(data.get("transaction_type", "BUY"))),
            order_type=OrderType(str(data.get("order_type", "MARKET"))),
            product=tolerant(Product, data.get("product")),
            variety=tolerant(Variety, data.get("variety")),
            validity=tolerant(Validity, data.get("validity")),
            quantity=whole(data.get("quantity")),
            price=amount(data.get("price")),
            trigger_price=amount(data.get("trigger_price")),
            average_price=amount(data.get("average_price")),
            filled_quantity=whole(data.get("filled_quantity")),
            pending_quantity=whole(data.get("pending_quantity")),
            cancelled_quantity=whole(data.get("cancelled_quantity")),
            disclosed_quantity=whole(data.get("disclosed_quantity")),
            tag=_text(data.get("tag")),
            status_message=_text(data.get("status_message")),
            order_timestamp=kite_time(data.get("order_timestamp")),
            exchange_order_id=_text(data.get("exchange_order_id")),
            parent_order_id=_text(data.get("parent_order_id")),
            raw=dict(data),
        )

    def to_kite(self) -> dict[str, Any]:
        """Return the Kite order object this was read from."""
        return dict(self.raw)

    def contract_note_item(self) -> dict[str, Any]:
        """Return the order as ``POST /charges/orders`` takes it: what was filled, at the average price."""
        return {
            "order_id": self.order_id,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "transaction_type": str(self.transaction_type),
            "variety": str(self.variety),
            "product": str(self.product),
            "order_type": str(self.order_type),
            "quantity": self.filled_quantity,
            "average_price": self.average_price,
        }

    def carries(self, tag: str) -> bool:
        """Return True if the order is tagged ``tag`` (in ``tag`` or in the newer ``tags`` list)."""
        return self.tag == tag or tag in (self.raw.get("tags") or ())


@dataclass(frozen=True)
class Trade:
    """One fill (``GET /trades``); ``raw`` keeps every field."""

    trade_id: str
    order_id: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: Product | str
    transaction_type: TransactionType
    quantity: int
    average_price: float
    fill_timestamp: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def value(self) -> float:
        """Return quantity × price."""
        return self.quantity * self.average_price

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Trade:
        """Return the trade of one Kite trade object."""
        return cls(
            trade_id=str(data["trade_id"]),
            order_id=str(data.get("order_id", "")),
            exchange=str(data.get("exchange", "")),
            tradingsymbol=str(data.get("tradingsymbol", "")),
            instrument_token=whole(data.get("instrument_token")),
            product=tolerant(Product, data.get("product")),
            transaction_type=TransactionType(str(data.get("transaction_type", "BUY"))),
            quantity=whole(data.get("quantity")),
            average_price=amount(data.get("average_price")),
            fill_timestamp=kite_time(data.get("fill_timestamp")),
            raw=dict(data),
        )

    def to_kite(self) -> dict[str, Any]:
        """Return the Kite trade object this was read from."""
        return dict(self.raw)


@dataclass(frozen=True)
class Charges:
    """What an executed order cost beyond its price, in rupees: Kite's ``charges`` block (§11).

    ``transaction_tax`` is STT, or CTT on commodities (``transaction_tax_type`` says which); ``gst`` is the
    total of the GST parts.
    """

    total: float
    brokerage: float = 0.0
    transaction_tax: float = 0.0
    transaction_tax_type: str = ""
    exchange_turnover_charge: float = 0.0
    sebi_turnover_charge: float = 0.0
    stamp_duty: float = 0.0
    gst: float = 0.0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Charges:
        """Return the charges of one ``charges`` block (of a contract note item or a margin block)."""
        gst = data.get("gst")
        return cls(
            total=amount(data.get("total")),
            brokerage=amount(data.get("brokerage")),
            transaction_tax=amount(data.get("transaction_tax")),
            transaction_tax_type=str(data.get("transaction_tax_type") or ""),
            exchange_turnover_charge=amount(data.get("exchange_turnover_charge")),
            sebi_turnover_charge=amount(data.get("sebi_turnover_charge")),
            stamp_duty=amount(data.get("stamp_duty")),
            gst=amount(gst.get("total") if isinstance(gst, Mapping) else gst),
            raw=dict(data),
        )
