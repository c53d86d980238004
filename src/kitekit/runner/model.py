"""What a strategy is handed: bars, order events, the run's modes, and a position of the run as it stands."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from kitekit.orders import Order

__all__ = ["Bar", "OrderEvent", "OrderEventKind", "PositionView", "RunMode"]


class RunMode(StrEnum):
    """Where a strategy runs: the same file, unchanged, in each."""

    BACKTEST = "backtest"  # candles or recorded ticks, a simulated clock, fills by the engine
    PAPER = "paper"  # the live ticker (Kite's or a simulator's) and the paper broker
    LIVE = "live"  # the live ticker and real orders, only when asked for explicitly


class Bar(NamedTuple):
    """One OHLCV bar of one instrument; ``start`` is aware (IST), ``interval`` its length.

    A named tuple: a backtest makes one per bar, hundreds of thousands a second, and a tuple is the cheapest
    object Python makes (a slotted class's ``__init__`` costs twice as much). Bars are values: never changed.
    """

    key: str
    instrument_token: int
    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    interval: timedelta

    @property
    def end(self) -> datetime:
        """Return when the bar ended (its start plus its interval)."""
        return self.start + self.interval

    def __repr__(self) -> str:
        return (
            f"Bar({self.key} {self.start:%Y-%m-%d %H:%M} o={self.open:g} h={self.high:g} l={self.low:g} "
            f"c={self.close:g} v={self.volume})"
        )


class OrderEventKind(StrEnum):
    """What happened to one of the run's orders."""

    PLACED = "placed"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    MODIFIED = "modified"
    TRIGGERED = "triggered"  # a stop-loss order's trigger was reached: it is now a live order


@dataclass(frozen=True)
class OrderEvent:
    """One change of one of the run's orders, as ``on_order`` receives it.

    ``fill_quantity`` and ``fill_price`` are what this event filled (0 and 0.0 when it filled nothing); the
    order's totals are on ``order`` (``filled_quantity``, ``average_price``).
    """

    kind: OrderEventKind
    order: Order
    intent_id: str | None = None
    fill_quantity: int = 0
    fill_price: float = 0.0

    @property
    def key(self) -> str:
        """Return the order's ``EXCHANGE:TRADINGSYMBOL``."""
        return self.order.key


@dataclass(frozen=True)
class PositionView:
    """The run's own position in one instrument and product: its orders' fills, marked at the last price.

    ``quantity`` is signed (short below 0). ``realised`` is the P&L closed so far, before charges; ``charges``
    what the run's orders on it cost.
    """

    key: str
    product: str
    quantity: int
    average_price: float
    last_price: float
    realised: float
    unrealised: float
    charges: float

    @property
    def pnl(self) -> float:
        """Return realised plus unrealised P&L, less charges."""
        return self.realised + self.unrealised - self.charges
