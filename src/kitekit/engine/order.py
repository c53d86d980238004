"""Orders and trades as the engine keeps them, their Kite wire shapes (docs/protocol.md §8.2, §8.6), and their ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from kitekit.clock import IST
from kitekit.wire.formats import format_timestamp
from kitekit.wire.orders import OrderStatus, OrderType, Product, TransactionType, Validity, Variety

__all__ = ["TERMINAL_ID", "Ids", "Order", "Trade", "json_number"]

#: What the simulator puts in an order's ``terminal_id`` (unconfirmed: Kite's value for API orders is not public).
TERMINAL_ID = "API"


@dataclass(slots=True)
class Ids:
    """Deterministic id sequences of one account; ``seed`` keeps accounts of one simulator apart."""

    seed: int = 0
    orders: int = 0
    trades: int = 0
    exchange: int = 0
    gtts: int = 0

    def order_id(self, now: datetime) -> str:
        """Return the next order id: ``yymmdd`` + 4 seed digits + 9-digit sequence (Kite's 19-digit form)."""
        self.orders += 1
        return f"{now.astimezone(IST):%y%m%d}{self.seed % 10_000:04d}{self.orders:09d}"

    def exchange_order_id(self) -> str:
        """Return the next exchange order id (16 digits, as NSE's)."""
        self.exchange += 1
        return f"1{self.seed % 1000:03d}{self.exchange:012d}"

    def trade_id(self) -> str:
        """Return the next trade id (8 digits or more)."""
        self.trades += 1
        return f"{self.seed % 100:02d}{self.trades:06d}"

    def gtt_id(self) -> int:
        """Return the next GTT trigger id (an integer on the wire)."""
        self.gtts += 1
        return (self.seed % 1000 + 1) * 1_000_000 + self.gtts

    def guid(self, order_id: str) -> str:
        """Return a stable ``guid`` for an order (Kite's look like ``78288X5zHhm5FGkv``)."""
        digest = hashlib.sha256(f"{self.seed}:{order_id}".encode()).hexdigest()
        return f"{int(digest[:5], 16) % 100000:05d}X{digest[5:15]}"


@dataclass(slots=True)
class Order:
    """One order: its spec, its fills, its state and every state it has been in (``history``)."""

    order_id: str
    variety: Variety
    exchange: str
    tradingsymbol: str
    instrument_token: int
    transaction_type: TransactionType
    order_type: OrderType
    product: Product
    validity: Validity
    quantity: int
    price: float
    trigger_price: float
    placed_at: datetime
    validity_ttl: int | None = None
    disclosed_quantity: int = 0
    market_protection: float = 0.0
    tag: str | None = None
    tags: list[str] = field(default_factory=list)
    status: OrderStatus = OrderStatus.PUT_ORDER_REQ_RECEIVED
    status_message: str | None = None
    status_message_raw: str | None = None
    exchange_order_id: str | None = None
    exchange_timestamp: datetime | None = None
    exchange_update_timestamp: datetime | None = None
    parent_order_id: str | None = None
    auction_number: str | None = None
    filled_quantity: int = 0
    average_price: float = 0.0
    cancelled_quantity: int = 0
    modified: bool = False
    modifications: int = 0
    guid: str = ""
    placed_by: str = ""
    #: The account the order is for (the user's own, for orders placed through the API).
    account_id: str = ""
    #: The exchange-approved algorithm's id the order was placed with (``algo_id``), if any.
    algo_id: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Engine side, never on the wire: the protected market order's worst price, whether a stop has fired,
    # the TTL deadline, margin still blocked for the pending quantity, and charges debited so far.
    cap_price: float = 0.0
    triggered: bool = False
    expires_at: datetime | None = None
    blocked: float = 0.0
    charged: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)
    #: The account's set of changed order ids (derived, never saved), told of every change: see :meth:`touch`.
    _changed: set[str] | None = field(default=None, repr=False, compare=False)

    def report_changes_to(self, changed: set[str] | None) -> None:
        """Tell ``changed`` this order's id whenever it changes (the account's incremental writes read it)."""
        self._changed = changed

    def touch(self) -> None:
        """Note that the order changed. Every change goes through a new state or a fill, but for one: a
        protected market order's band (``cap_price``), set from the first quote it meets."""
        if self._changed is not None:
            self._changed.add(self.order_id)

    @property
    def is_buy(self) -> bool:
        """Return True for a BUY."""
        return self.transaction_type is TransactionType.BUY

    @property
    def pending_quantity(self) -> int:
        """Return what is still to fill; 0 once the order is terminal (as Kite reports it)."""
        if self.status.is_terminal:
            return 0
        return self.quantity - self.filled_quantity - self.cancelled_quantity

    @property
    def is_stop(self) -> bool:
        """Return True for SL and SL-M orders, which wait for their trigger."""
        return self.order_type in (OrderType.SL, OrderType.SL_M)

    def enter(self, status: OrderStatus, now: datetime, message: str | None = None) -> None:
        """Move to ``status`` at ``now`` and record the full order object in the history."""
        self.status = status
        if message is not None:
            self.status_message = message
        if self.exchange_order_id is not None:
            self.exchange_update_timestamp = now
        self.history.append(self.as_kite())
        self.touch()

    def add_fill(self, price: float, quantity: int) -> None:
        """Fold one fill into ``filled_quantity`` and ``average_price``."""
        total = self.average_price * self.filled_quantity + price * quantity
        self.filled_quantity += quantity
        self.average_price = round(total / self.filled_quantity, 6)
        self.touch()

    def as_kite(self, status: OrderStatus | None = None) -> dict[str, Any]:
        """Return the order object in Kite's shape (optionally reporting another status, e.g. UPDATE).

        Prices are numbers as Kite's JSON writes them: a whole one without a fraction (``72``, ``0``), as in
        kiteconnect-mocks' ``orders.json``.
        """
        out: dict[str, Any] = {
            "account_id": self.account_id or self.placed_by,
            "placed_by": self.placed_by,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "parent_order_id": self.parent_order_id,
            "status": (status or self.status).value,
            "status_message": self.status_message,
            "status_message_raw": self.status_message_raw,
            "order_timestamp": _stamp(self.placed_at),
            "exchange_update_timestamp": _maybe_stamp(self.exchange_update_timestamp),
            "exchange_timestamp": _maybe_stamp(self.exchange_timestamp),
            "variety": self.variety.value,
            "modified": self.modified,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "order_type": self.order_type.value,
            "transaction_type": self.transaction_type.value,
            "validity": self.validity.value,
            "product": self.product.value,
            "quantity": self.quantity,
            "disclosed_quantity": self.disclosed_quantity,
            # SL-M and MARKET orders report price 0 (``docs/protocol.md`` §8.2).
            "price": json_number(self.price),
            "trigger_price": json_number(self.trigger_price),
            "average_price": json_number(self.average_price),
            "filled_quantity": self.filled_quantity,
            "pending_quantity": self.pending_quantity,
            "cancelled_quantity": self.cancelled_quantity,
            "market_protection": json_number(self.market_protection),
            "meta": dict(self.meta),
            "tag": self.tag,
            "guid": self.guid,
            # SIM: Kite's 2026 order book carries these two; what they hold for API orders is not public.
            "terminal_id": TERMINAL_ID,
            "meta_raw": json.dumps(self.meta, separators=(",", ":")) if self.meta else "",
        }
        if self.validity is Validity.TTL:
            out["validity_ttl"] = self.validity_ttl
        if self.auction_number is not None:
            out["auction_number"] = self.auction_number
        if self.tags:
            out["tags"] = list(self.tags)
        if self.algo_id is not None:
            out["algo_id"] = self.algo_id
        return out


@dataclass(slots=True)
class Trade:
    """One fill of an order against one depth level."""

    trade_id: str
    order_id: str
    exchange_order_id: str
    exchange: str
    tradingsymbol: str
    instrument_token: int
    product: Product
    transaction_type: TransactionType
    quantity: int
    average_price: float
    fill_timestamp: datetime
    order_timestamp: datetime

    def as_kite(self) -> dict[str, Any]:
        """Return the trade in Kite's shape; ``order_timestamp`` is a bare ``HH:MM:SS`` (``docs/protocol.md`` §8.6)."""
        return {
            "trade_id": self.trade_id,
            "order_id": self.order_id,
            "exchange_order_id": self.exchange_order_id,
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "instrument_token": self.instrument_token,
            "product": self.product.value,
            "transaction_type": self.transaction_type.value,
            "quantity": self.quantity,
            "average_price": json_number(self.average_price),
            "fill_timestamp": _stamp(self.fill_timestamp),
            "exchange_timestamp": _stamp(self.fill_timestamp),
            "order_timestamp": self.order_timestamp.astimezone(IST).strftime("%H:%M:%S"),
        }


def json_number(value: float) -> float | int:
    """Return a price as Kite's JSON writes it: a whole number as an integer (``0``, ``72``), else as it is."""
    return int(value) if float(value).is_integer() else value


@lru_cache(maxsize=1024)
def _stamp(moment: datetime) -> str:
    # Every state of a burst of orders carries the same few moments: format each once.
    return format_timestamp(moment)


def _maybe_stamp(moment: datetime | None) -> str | None:
    return None if moment is None else _stamp(moment)
