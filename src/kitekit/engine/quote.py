"""The market state the engine consumes per instrument: last price, five levels a side, circuit limits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kitekit.clock import IST
from kitekit.wire.formats import format_timestamp, parse_kite_datetime

__all__ = ["Level", "MarketQuote"]


@dataclass(frozen=True, slots=True)
class Level:
    """One depth level: a price, the quantity resting there, and how many orders make it up."""

    price: float
    quantity: int
    orders: int = 0


@dataclass(frozen=True, slots=True)
class MarketQuote:
    """One instrument's market at one moment, as the engine matches against it.

    ``bids`` are best (highest) first and ``asks`` best (lowest) first; empty levels are left out. ``close`` is
    the previous session's close (Kite's ``ohlc.close``). A circuit limit of 0 means "not known".
    ``average_price`` is the day's average trade price (0: none known), the reference of the price bands.
    """

    instrument_token: int
    last_price: float
    timestamp: datetime
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    lower_circuit_limit: float = 0.0
    upper_circuit_limit: float = 0.0
    close: float = 0.0
    average_price: float = 0.0

    def __post_init__(self) -> None:
        if self.timestamp.tzinfo is None:
            raise ValueError("MarketQuote.timestamp must be timezone-aware")

    @classmethod
    def from_kite(cls, item: Mapping[str, Any], instrument_token: int | None = None) -> MarketQuote:
        """Build a quote from one item of Kite's ``GET /quote`` map, as sent or as the SDK returns it.

        The item's fields are in ``docs/protocol.md`` §6.

        The SDK turns ``timestamp`` into a naive datetime; Kite's times are IST, so a naive one is read as IST.
        ``/quote/ltp`` and ``/quote/ohlc`` items work too: they simply have no depth and no circuit limits.

        Args:
            item: the quote item (``instrument_token``, ``last_price``, ``timestamp``, ``depth``, …).
            instrument_token: the token, when the item lacks one.

        Raises:
            ValueError: the item has no token, no last price or no timestamp.
        """
        token = item.get("instrument_token", instrument_token)
        if token is None or item.get("last_price") is None:
            raise ValueError("a quote needs instrument_token and last_price")
        stamp = item.get("timestamp") or item.get("last_trade_time")
        if stamp is None:
            raise ValueError("a quote needs a timestamp to tell one market state from the next")
        depth = item.get("depth") or {}
        ohlc = item.get("ohlc") or {}
        return cls(
            instrument_token=int(token),
            last_price=float(item["last_price"]),
            timestamp=_moment(stamp),
            bids=_levels(depth.get("buy", ())),
            asks=_levels(depth.get("sell", ())),
            lower_circuit_limit=float(item.get("lower_circuit_limit") or 0.0),
            upper_circuit_limit=float(item.get("upper_circuit_limit") or 0.0),
            close=float(ohlc.get("close") or 0.0),
            average_price=float(item.get("average_price") or 0.0),
        )

    def as_kite(self) -> dict[str, Any]:
        """Return the fields of a ``/quote`` item this quote carries (for logs and fixtures)."""
        return {
            "instrument_token": self.instrument_token,
            "timestamp": format_timestamp(self.timestamp),
            "last_price": self.last_price,
            "lower_circuit_limit": self.lower_circuit_limit,
            "upper_circuit_limit": self.upper_circuit_limit,
            "average_price": self.average_price,
            "ohlc": {"close": self.close},
            "depth": {
                "buy": [{"price": lv.price, "quantity": lv.quantity, "orders": lv.orders} for lv in self.bids],
                "sell": [{"price": lv.price, "quantity": lv.quantity, "orders": lv.orders} for lv in self.asks],
            },
        }


def _moment(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=IST)
    return parse_kite_datetime(str(value))


def _levels(rows: Iterable[Mapping[str, Any]]) -> tuple[Level, ...]:
    # Kite always sends five levels a side, padding with zeros; a zero level holds nothing to trade against.
    out = []
    for row in rows:
        price, qty = float(row.get("price") or 0.0), int(row.get("quantity") or 0)
        if price > 0 and qty > 0:
            out.append(Level(price, qty, int(row.get("orders") or 0)))
    return tuple(out)
