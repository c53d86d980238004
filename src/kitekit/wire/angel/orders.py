"""Angel's order vocabulary as ``StrEnum``s (the value is the wire string) and its string-or-number fields.

SmartAPI takes numbers as JSON strings or numbers alike (``"quantity": "1"`` and ``1``), and answers most of
them as strings in the books; :func:`wire_int` and :func:`wire_price` read either.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any

__all__ = [
    "Duration",
    "Exchange",
    "OrderStatus",
    "OrderType",
    "ProductType",
    "TransactionType",
    "Variety",
    "wire_int",
    "wire_price",
]


class Variety(StrEnum):
    """Order varieties: NORMAL, STOPLOSS (a stop-loss order), AMO (after market), ROBO (bracket)."""

    NORMAL = "NORMAL"
    STOPLOSS = "STOPLOSS"
    AMO = "AMO"
    ROBO = "ROBO"


class OrderType(StrEnum):
    """Order types."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOPLOSS_LIMIT = "STOPLOSS_LIMIT"
    STOPLOSS_MARKET = "STOPLOSS_MARKET"


class ProductType(StrEnum):
    """Product types: DELIVERY (cash and carry), CARRYFORWARD (F&O normal), MARGIN, INTRADAY, BO (bracket)."""

    DELIVERY = "DELIVERY"
    CARRYFORWARD = "CARRYFORWARD"
    MARGIN = "MARGIN"
    INTRADAY = "INTRADAY"
    BO = "BO"


class Duration(StrEnum):
    """Order validity."""

    DAY = "DAY"
    IOC = "IOC"


class TransactionType(StrEnum):
    """Buy or sell."""

    BUY = "BUY"
    SELL = "SELL"


class Exchange(StrEnum):
    """Exchanges (the scrip master's ``exch_seg``)."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    BFO = "BFO"
    MCX = "MCX"
    CDS = "CDS"
    NCDEX = "NCDEX"


class OrderStatus(StrEnum):
    """An order's ``status`` (and ``orderstatus``) in the order book: lower-case words, as Angel writes them."""

    OPEN = "open"
    OPEN_PENDING = "open pending"
    TRIGGER_PENDING = "trigger pending"
    COMPLETE = "complete"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    MODIFIED = "modified"
    VALIDATION_PENDING = "validation pending"
    AMO_RECEIVED = "after market order req received"


def wire_int(value: Any) -> int:
    """Return an integer field sent as a number or a string of digits.

    Raises:
        ValueError: anything else (a float with a fraction, a bool, text, a non-finite number).
    """
    if isinstance(value, bool):
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.lstrip("-").isdigit():
            return int(text)
    raise ValueError(f"not an integer: {value!r}")


def wire_price(value: Any) -> float:
    """Return a price field sent as a number or a decimal string (``"194.50"``).

    Raises:
        ValueError: anything else, or a value that is not finite.
    """
    if isinstance(value, bool):
        raise ValueError(f"not a price: {value!r}")
    if isinstance(value, int | float):
        price = float(value)
    elif isinstance(value, str) and value.strip().isascii():
        try:
            price = float(value.strip())
        except ValueError:
            raise ValueError(f"not a price: {value!r}") from None
    else:
        raise ValueError(f"not a price: {value!r}")
    if not math.isfinite(price):
        raise ValueError(f"not a price: {value!r}")
    return price
