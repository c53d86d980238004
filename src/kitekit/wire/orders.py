"""Kite's order vocabulary as ``StrEnum``s whose values are the wire strings (``docs/protocol.md`` §8–§10)."""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "Exchange",
    "GttStatus",
    "GttType",
    "OrderStatus",
    "OrderType",
    "PositionType",
    "Product",
    "TransactionType",
    "Validity",
    "Variety",
]


class Variety(StrEnum):
    """The ``{variety}`` path segment of ``/orders/{variety}`` (bracket orders were withdrawn)."""

    REGULAR = "regular"
    AMO = "amo"
    CO = "co"
    ICEBERG = "iceberg"
    AUCTION = "auction"


class OrderType(StrEnum):
    """``order_type``."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    SL = "SL"
    SL_M = "SL-M"


class Product(StrEnum):
    """``product``; ``CO`` is never sent, it only appears in the order book for cover orders."""

    CNC = "CNC"
    NRML = "NRML"
    MIS = "MIS"
    MTF = "MTF"
    CO = "CO"


class TransactionType(StrEnum):
    """``transaction_type``."""

    BUY = "BUY"
    SELL = "SELL"


class Validity(StrEnum):
    """``validity``; ``TTL`` needs ``validity_ttl`` minutes."""

    DAY = "DAY"
    IOC = "IOC"
    TTL = "TTL"


class Exchange(StrEnum):
    """Exchanges orders can be placed on (NCO appears only on the ticker)."""

    NSE = "NSE"
    BSE = "BSE"
    NFO = "NFO"
    CDS = "CDS"
    BFO = "BFO"
    MCX = "MCX"
    BCD = "BCD"


class OrderStatus(StrEnum):
    """Every ``status`` an order object can carry (``docs/protocol.md`` §8.3)."""

    PUT_ORDER_REQ_RECEIVED = "PUT ORDER REQ RECEIVED"
    VALIDATION_PENDING = "VALIDATION PENDING"
    OPEN_PENDING = "OPEN PENDING"
    MODIFY_VALIDATION_PENDING = "MODIFY VALIDATION PENDING"
    MODIFY_PENDING = "MODIFY PENDING"
    MODIFIED = "MODIFIED"
    CANCEL_PENDING = "CANCEL PENDING"
    AMO_REQ_RECEIVED = "AMO REQ RECEIVED"
    OPEN = "OPEN"
    TRIGGER_PENDING = "TRIGGER PENDING"
    COMPLETE = "COMPLETE"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"
    LAPSED = "LAPSED"
    #: Sent only on postbacks and the WebSocket, for a partial fill or a modification; never in a history.
    UPDATE = "UPDATE"

    @property
    def is_terminal(self) -> bool:
        """Return True for states an order never leaves."""
        return self in _TERMINAL

    @property
    def is_live(self) -> bool:
        """Return True while the order can still fill or be modified (incl. a queued AMO)."""
        return self in _LIVE


_TERMINAL = frozenset({OrderStatus.COMPLETE, OrderStatus.CANCELLED, OrderStatus.REJECTED, OrderStatus.LAPSED})
_LIVE = frozenset({OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING, OrderStatus.AMO_REQ_RECEIVED})


class PositionType(StrEnum):
    """``position_type`` of ``PUT /portfolio/positions`` (convert position)."""

    DAY = "day"
    OVERNIGHT = "overnight"


class GttType(StrEnum):
    """GTT ``type``: one trigger value, or two (one cancels the other)."""

    SINGLE = "single"
    TWO_LEG = "two-leg"


class GttStatus(StrEnum):
    """GTT ``status`` (``docs/protocol.md`` §10)."""

    ACTIVE = "active"
    TRIGGERED = "triggered"
    DISABLED = "disabled"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    DELETED = "deleted"
