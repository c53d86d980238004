"""Typed positions, holdings, funds and GTT triggers, read from Kite's dicts (§5, §9, §10)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kitekit.orders.model import amount, tolerant, whole
from kitekit.wire.orders import GttStatus, GttType, OrderType, Product, TransactionType

__all__ = ["Funds", "Gtt", "GttOrder", "GttRequest", "Holding", "Position", "Positions", "SegmentFunds"]


@dataclass(frozen=True)
class Position:
    """One position (``GET /portfolio/positions``); quantities signed, short below 0."""

    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: Product | str
    quantity: int
    average_price: float
    last_price: float
    pnl: float
    m2m: float
    realised: float
    unrealised: float
    buy_quantity: int = 0
    sell_quantity: int = 0
    buy_value: float = 0.0
    sell_value: float = 0.0
    overnight_quantity: int = 0
    multiplier: float = 1.0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``."""
        return f"{self.exchange}:{self.tradingsymbol}"

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Position:
        """Return the position of one Kite position object."""
        return cls(
            exchange=str(data.get("exchange", "")),
            tradingsymbol=str(data.get("tradingsymbol", "")),
            instrument_token=whole(data.get("instrument_token")),
            product=tolerant(Product, data.get("product")),
            quantity=whole(data.get("quantity")),
            average_price=amount(data.get("average_price")),
            last_price=amount(data.get("last_price")),
            pnl=amount(data.get("pnl")),
            m2m=amount(data.get("m2m")),
            realised=amount(data.get("realised")),
            unrealised=amount(data.get("unrealised")),
            buy_quantity=whole(data.get("buy_quantity")),
            sell_quantity=whole(data.get("sell_quantity")),
            buy_value=amount(data.get("buy_value")),
            sell_value=amount(data.get("sell_value")),
            overnight_quantity=whole(data.get("overnight_quantity")),
            multiplier=amount(data.get("multiplier")) or 1.0,
            raw=dict(data),
        )


@dataclass(frozen=True)
class Positions:
    """``net`` (the whole position, carried quantity included) and ``day`` (today's trades only)."""

    net: list[Position]
    day: list[Position]

    @property
    def pnl(self) -> float:
        """Return the P&L of every net position."""
        return sum(p.pnl for p in self.net)

    @classmethod
    def from_kite(cls, data: Mapping[str, Sequence[Mapping[str, Any]]]) -> Positions:
        """Return the positions of ``GET /portfolio/positions``'s ``{net, day}``."""
        net, day = data.get("net", ()), data.get("day", ())
        return cls([Position.from_kite(p) for p in net], [Position.from_kite(p) for p in day])


@dataclass(frozen=True)
class Holding:
    """One holding (``GET /portfolio/holdings``)."""

    exchange: str
    tradingsymbol: str
    instrument_token: int
    isin: str
    quantity: int
    t1_quantity: int
    average_price: float
    last_price: float
    close_price: float
    pnl: float
    day_change: float
    day_change_percentage: float
    used_quantity: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``."""
        return f"{self.exchange}:{self.tradingsymbol}"

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Holding:
        """Return the holding of one Kite holding object."""
        return cls(
            exchange=str(data.get("exchange", "")),
            tradingsymbol=str(data.get("tradingsymbol", "")),
            instrument_token=whole(data.get("instrument_token")),
            isin=str(data.get("isin") or ""),
            quantity=whole(data.get("quantity")),
            t1_quantity=whole(data.get("t1_quantity")),
            average_price=amount(data.get("average_price")),
            last_price=amount(data.get("last_price")),
            close_price=amount(data.get("close_price")),
            pnl=amount(data.get("pnl")),
            day_change=amount(data.get("day_change")),
            day_change_percentage=amount(data.get("day_change_percentage")),
            used_quantity=whole(data.get("used_quantity")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class SegmentFunds:
    """One segment of ``GET /user/margins``: what is available, what is used, and the net."""

    segment: str
    enabled: bool
    net: float
    cash: float
    opening_balance: float
    live_balance: float
    debits: float
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_kite(cls, segment: str, data: Mapping[str, Any]) -> SegmentFunds:
        """Return one segment's funds from its Kite object."""
        available, utilised = data.get("available") or {}, data.get("utilised") or {}
        return cls(
            segment=segment,
            enabled=bool(data.get("enabled", True)),
            net=amount(data.get("net")),
            cash=amount(available.get("cash")),
            opening_balance=amount(available.get("opening_balance")),
            live_balance=amount(available.get("live_balance")),
            debits=amount(utilised.get("debits")),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Funds:
    """``GET /user/margins``: the equity and commodity segments."""

    equity: SegmentFunds
    commodity: SegmentFunds

    @classmethod
    def from_kite(cls, data: Mapping[str, Mapping[str, Any]]) -> Funds:
        """Return both segments of ``GET /user/margins``."""
        return cls(
            SegmentFunds.from_kite("equity", data.get("equity") or {}),
            SegmentFunds.from_kite("commodity", data.get("commodity") or {}),
        )


@dataclass(frozen=True)
class GttOrder:
    """The order a GTT places when it fires."""

    transaction_type: TransactionType
    quantity: int
    price: float
    order_type: OrderType = OrderType.LIMIT
    product: Product = Product.CNC

    def to_kite(self) -> dict[str, Any]:
        """Return the order as the SDK's ``place_gtt`` takes it."""
        return {
            "transaction_type": self.transaction_type.value,
            "quantity": self.quantity,
            "price": self.price,
            "order_type": self.order_type.value,
            "product": self.product.value,
        }


@dataclass(frozen=True)
class GttRequest:
    """A GTT trigger to place or change: one trigger value (``single``) or two (``two-leg``, OCO)."""

    type: GttType
    exchange: str
    tradingsymbol: str
    trigger_values: tuple[float, ...]
    last_price: float
    orders: tuple[GttOrder, ...]

    def sdk_args(self) -> dict[str, Any]:
        """Return the keyword arguments of the SDK's ``place_gtt`` / ``modify_gtt``."""
        return {
            "trigger_type": self.type.value,
            "tradingsymbol": self.tradingsymbol,
            "exchange": self.exchange,
            "trigger_values": list(self.trigger_values),
            "last_price": self.last_price,
            "orders": [o.to_kite() for o in self.orders],
        }

    def form(self) -> dict[str, Any]:
        """Return the form of ``POST /gtt/triggers`` as the SDK builds it (``condition``, ``orders`` as JSON text)."""
        condition = {
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "trigger_values": list(self.trigger_values),
            "last_price": self.last_price,
        }
        legs = [{"exchange": self.exchange, "tradingsymbol": self.tradingsymbol, **o.to_kite()} for o in self.orders]
        return {"type": self.type.value, "condition": json.dumps(condition), "orders": json.dumps(legs)}


@dataclass(frozen=True)
class Gtt:
    """One GTT trigger (``GET /gtt/triggers``)."""

    id: int
    type: GttType | str
    status: GttStatus | str
    exchange: str
    tradingsymbol: str
    trigger_values: tuple[float, ...]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_kite(cls, data: Mapping[str, Any]) -> Gtt:
        """Return the trigger of one Kite GTT object."""
        condition = data.get("condition") or {}
        return cls(
            id=whole(data.get("id")),
            type=tolerant(GttType, data.get("type")),
            status=tolerant(GttStatus, data.get("status")),
            exchange=str(condition.get("exchange", "")),
            tradingsymbol=str(condition.get("tradingsymbol", "")),
            trigger_values=tuple(float(v) for v in condition.get("trigger_values") or ()),
            raw=dict(data),
        )
