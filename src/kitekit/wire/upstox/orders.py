"""Upstox's order vocabulary (``StrEnum`` = wire value), its status names, and request bodies (typed).

The SDK's request models check these values on construction: ``product`` I, D, CO, OCO, MTF on v2 (I, D,
MTF on v3 and multi-order), ``validity`` DAY or IOC, ``order_type`` MARKET, LIMIT, SL, SL-M,
``transaction_type`` BUY or SELL. Statuses are lowercase; the list is Upstox's documented one (the SDK types
``status`` as free text).
"""

from __future__ import annotations

from enum import StrEnum
from typing import NotRequired, TypedDict

__all__ = [
    "ModifyOrderBody",
    "MultiOrderLine",
    "OrderStatus",
    "OrderType",
    "PlaceOrderBody",
    "Product",
    "TransactionType",
    "Validity",
    "kite_product",
    "upstox_product",
]


class Product(StrEnum):
    """``product``: I intraday, D delivery (cash) or carry-forward (F&O), CO cover, OCO, MTF margin trading."""

    I = "I"  # noqa: E741 - Upstox's wire value
    D = "D"
    CO = "CO"
    OCO = "OCO"
    MTF = "MTF"


class Validity(StrEnum):
    """``validity``."""

    DAY = "DAY"
    IOC = "IOC"


class OrderType(StrEnum):
    """``order_type`` (Kite's names too)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"


class TransactionType(StrEnum):
    """``transaction_type``."""

    BUY = "BUY"
    SELL = "SELL"


class OrderStatus(StrEnum):
    """Every ``status`` an Upstox order can show: the OMS's states, lowercase."""

    PUT_ORDER_REQ_RECEIVED = "put order req received"
    VALIDATION_PENDING = "validation pending"
    OPEN_PENDING = "open pending"
    OPEN = "open"
    TRIGGER_PENDING = "trigger pending"
    MODIFY_VALIDATION_PENDING = "modify validation pending"
    MODIFY_PENDING = "modify pending"
    MODIFIED = "modified"
    NOT_MODIFIED = "not modified"
    CANCEL_PENDING = "cancel pending"
    NOT_CANCELLED = "not cancelled"
    AFTER_MARKET_ORDER_REQ_RECEIVED = "after market order req received"
    MODIFY_AFTER_MARKET_ORDER_REQ_RECEIVED = "modify after market order req received"
    CANCELLED_AFTER_MARKET_ORDER = "cancelled after market order"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @classmethod
    def from_kite(cls, status: str) -> OrderStatus:
        """Return the Upstox name of a Kite OMS status (the same OMS states; Kite writes them in capitals)."""
        if status == "AMO REQ RECEIVED":
            return cls.AFTER_MARKET_ORDER_REQ_RECEIVED
        if status == "LAPSED":  # Kite's expired AMO/GTT; Upstox shows a cancelled order
            return cls.CANCELLED
        try:
            return cls(status.lower())
        except ValueError:
            return cls.OPEN


# Kite's products in Upstox's terms: MIS is I; CNC (cash) and NRML (F&O) are both D.
_TO_KITE_CASH = {Product.I: "MIS", Product.D: "CNC", Product.CO: "CO", Product.MTF: "MTF"}
_TO_KITE_FO = {Product.I: "MIS", Product.D: "NRML", Product.CO: "CO", Product.MTF: "MTF"}


def kite_product(product: Product, derivative: bool) -> str | None:
    """Return Kite's product for an Upstox one (None for OCO, which Kite has no product for)."""
    return (_TO_KITE_FO if derivative else _TO_KITE_CASH).get(product)


def upstox_product(kite: str) -> Product:
    """Return Upstox's product for a Kite one."""
    return {"MIS": Product.I, "CO": Product.CO, "MTF": Product.MTF}.get(kite, Product.D)


class PlaceOrderBody(TypedDict):
    """``POST /v2/order/place`` and ``/v3/order/place`` (JSON). v3 adds ``slice`` and ``market_protection``."""

    quantity: int
    product: str
    validity: str
    price: float
    instrument_token: str
    order_type: str
    transaction_type: str
    disclosed_quantity: int
    trigger_price: float
    is_amo: bool
    tag: NotRequired[str]
    slice: NotRequired[bool]
    market_protection: NotRequired[float]


class MultiOrderLine(PlaceOrderBody):
    """One line of ``POST /v2/order/multi/place`` (a JSON array of at most 25)."""

    correlation_id: str


class ModifyOrderBody(TypedDict):
    """``PUT /v2/order/modify`` and ``/v3/order/modify`` (JSON)."""

    order_id: str
    validity: str
    price: float
    order_type: str
    trigger_price: float
    quantity: NotRequired[int]
    disclosed_quantity: NotRequired[int]
