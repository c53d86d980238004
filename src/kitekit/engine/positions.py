"""Net and day positions per instrument and product, their P&L, and Kite's position shape (``docs/protocol.md`` §9)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kitekit.wire.orders import Product

__all__ = ["CostBook", "Position", "marked_pnl"]


def marked_pnl(sell_value: float, buy_value: float, quantity: int, last_price: float, multiplier: float) -> float:
    """Return Kite's P&L of a position: what was sold, less what was bought, plus the open quantity at ``last_price``.

    The one formula of a position's ``pnl`` (and, on the m2m values, of its ``m2m``): the engine's positions and
    the dashboard, which marks positions again at each tick, both use it, so neither can drift from the other.
    """
    return sell_value - buy_value + quantity * last_price * multiplier


@dataclass(slots=True)
class CostBook:
    """An open quantity at its average cost; shrinking it realises P&L against that average."""

    quantity: int = 0
    average: float = 0.0
    realised: float = 0.0

    def apply(self, signed_quantity: int, price: float, multiplier: float) -> float:
        """Add a signed fill and return the P&L it realises (0 when it only opens or adds)."""
        q = self.quantity
        if q == 0 or (q > 0) == (signed_quantity > 0):
            total = abs(q) + abs(signed_quantity)
            self.average = (self.average * abs(q) + price * abs(signed_quantity)) / total
            self.quantity = q + signed_quantity
            return 0.0
        closed = min(abs(q), abs(signed_quantity))
        direction = 1 if q > 0 else -1
        realised = (price - self.average) * closed * direction * multiplier
        self.realised += realised
        self.quantity = q + signed_quantity
        if self.quantity == 0:
            self.average = 0.0
        elif (self.quantity > 0) != (q > 0):
            # The fill went through zero: what is left was opened at this fill's price.
            self.average = price
        return realised


@dataclass(slots=True)
class Position:
    """One instrument in one product: the quantity carried from earlier sessions and today's buys and sells.

    Values include the contract ``multiplier``, as Kite's ``buy_value``/``sell_value`` do.
    """

    instrument_token: int
    exchange: str
    tradingsymbol: str
    product: Product
    multiplier: float = 1.0
    overnight_quantity: int = 0
    overnight_price: float = 0.0
    close_price: float = 0.0
    last_price: float = 0.0
    day_buy_quantity: int = 0
    day_buy_value: float = 0.0
    day_sell_quantity: int = 0
    day_sell_value: float = 0.0
    net: CostBook = field(default_factory=CostBook)
    day: CostBook = field(default_factory=CostBook)

    @property
    def quantity(self) -> int:
        """Return the signed open quantity (short < 0)."""
        return self.net.quantity

    @property
    def day_quantity(self) -> int:
        """Return today's signed net quantity (buys minus sells today)."""
        return self.day_buy_quantity - self.day_sell_quantity

    @property
    def active_today(self) -> bool:
        """Return True if the position traded today."""
        return self.day_buy_quantity > 0 or self.day_sell_quantity > 0

    def apply_fill(self, is_buy: bool, quantity: int, price: float) -> float:
        """Record a fill and return the P&L it realises."""
        value = quantity * price * self.multiplier
        if is_buy:
            self.day_buy_quantity += quantity
            self.day_buy_value += value
        else:
            self.day_sell_quantity += quantity
            self.day_sell_value += value
        signed = quantity if is_buy else -quantity
        self.day.apply(signed, price, self.multiplier)
        return self.net.apply(signed, price, self.multiplier)

    def unrealised(self) -> float:
        """Return the P&L of the open quantity at the last price."""
        if self.net.quantity == 0:
            return 0.0
        return (self.last_price - self.net.average) * self.net.quantity * self.multiplier

    def carry(self) -> None:
        """Start a new session: the open quantity becomes the overnight quantity; today's trades are cleared."""
        self.overnight_quantity = self.net.quantity
        self.overnight_price = self.net.average
        self.close_price = self.last_price or self.close_price
        self.net = CostBook(self.net.quantity, self.net.average, 0.0)
        self.day = CostBook()
        self.day_buy_quantity = self.day_sell_quantity = 0
        self.day_buy_value = self.day_sell_value = 0.0

    def move(self, is_long: bool, quantity: int, overnight: bool, into: Position) -> None:
        """Move ``quantity`` of the long (or short) side into another product's position, at average cost."""
        signed = quantity if is_long else -quantity
        price = self.net.average or self.last_price
        value = quantity * price * self.multiplier
        if overnight:
            self.overnight_quantity -= signed
            into.overnight_quantity += signed
            into.overnight_price = self.overnight_price
        elif is_long:
            self.day_buy_quantity -= quantity
            self.day_buy_value -= value
            into.day_buy_quantity += quantity
            into.day_buy_value += value
            self.day.quantity -= signed
            into.day.apply(signed, price, into.multiplier)
        else:
            self.day_sell_quantity -= quantity
            self.day_sell_value -= value
            into.day_sell_quantity += quantity
            into.day_sell_value += value
            self.day.quantity -= signed
            into.day.apply(signed, price, into.multiplier)
        self.net.quantity -= signed
        if self.net.quantity == 0:
            self.net.average = 0.0
        into.net.apply(signed, price, into.multiplier)
        into.last_price, into.close_price = self.last_price, self.close_price

    def as_kite(self, day_only: bool = False) -> dict[str, Any]:
        """Return the position in Kite's shape: the net view, or today's trades alone (``day_only``)."""
        on = 0 if day_only else self.overnight_quantity
        m = self.multiplier
        long_on, short_on = max(on, 0), max(-on, 0)
        buy_q = self.day_buy_quantity + long_on
        sell_q = self.day_sell_quantity + short_on
        buy_value = self.day_buy_value + long_on * self.overnight_price * m
        sell_value = self.day_sell_value + short_on * self.overnight_price * m
        buy_m2m = self.day_buy_value + long_on * self.close_price * m
        sell_m2m = self.day_sell_value + short_on * self.close_price * m
        book = self.day if day_only else self.net
        quantity = book.quantity
        pnl = marked_pnl(sell_value, buy_value, quantity, self.last_price, m)
        return {
            "tradingsymbol": self.tradingsymbol,
            "exchange": self.exchange,
            "instrument_token": self.instrument_token,
            "product": str(self.product),
            "quantity": quantity,
            "overnight_quantity": on,
            "multiplier": m,
            "average_price": book.average if quantity else 0.0,
            "close_price": self.close_price,
            "last_price": self.last_price,
            # Kite's value is sell value minus buy value (negative for a fresh long).
            "value": sell_value - buy_value,
            "pnl": pnl,
            "m2m": marked_pnl(sell_m2m, buy_m2m, quantity, self.last_price, m),
            "unrealised": pnl - book.realised,
            "realised": book.realised,
            "buy_quantity": buy_q,
            "buy_price": _price(buy_value, buy_q, m),
            "buy_value": buy_value,
            "buy_m2m": buy_m2m,
            "sell_quantity": sell_q,
            "sell_price": _price(sell_value, sell_q, m),
            "sell_value": sell_value,
            "sell_m2m": sell_m2m,
            "day_buy_quantity": self.day_buy_quantity,
            "day_buy_price": _price(self.day_buy_value, self.day_buy_quantity, m),
            "day_buy_value": self.day_buy_value,
            "day_sell_quantity": self.day_sell_quantity,
            "day_sell_price": _price(self.day_sell_value, self.day_sell_quantity, m),
            "day_sell_value": self.day_sell_value,
        }


def _price(value: float, quantity: int, multiplier: float) -> float:
    return value / (quantity * multiplier) if quantity else 0.0
