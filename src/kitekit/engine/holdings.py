"""Demat holdings: settled and T1 quantities, delivery settlement at the session change, Kite's holding shape."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

__all__ = ["Holding"]


@dataclass(slots=True)
class Holding:
    """One stock in the demat account.

    ``quantity`` is settled, ``t1_quantity`` was bought in the previous session and settles at the next one
    (T+1). ``mtf_quantity`` is the part bought with the margin trading facility.
    """

    instrument_token: int
    exchange: str
    tradingsymbol: str
    isin: str = ""
    quantity: int = 0
    t1_quantity: int = 0
    average_price: float = 0.0
    mtf_quantity: int = 0
    mtf_average_price: float = 0.0
    opening_quantity: int = 0
    authorised_date: date | None = None
    close_price: float = 0.0
    last_price: float = 0.0

    @property
    def total(self) -> int:
        """Return settled plus T1 quantity: what can be sold."""
        return self.quantity + self.t1_quantity

    def settle(self) -> None:
        """Move last session's T1 quantity to settled (T+1 settlement)."""
        self.quantity += self.t1_quantity
        self.t1_quantity = 0

    def add_t1(self, quantity: int, price: float, mtf: bool = False) -> None:
        """Add a delivery buy of the session that just ended, at its average cost."""
        held = self.total
        self.average_price = (self.average_price * held + price * quantity) / (held + quantity)
        self.t1_quantity += quantity
        if mtf:
            self.mtf_average_price = (self.mtf_average_price * self.mtf_quantity + price * quantity) / (
                self.mtf_quantity + quantity
            )
            self.mtf_quantity += quantity

    def remove(self, quantity: int) -> None:
        """Take a delivered sale out, settled quantity first (it is the older)."""
        from_settled = min(quantity, self.quantity)
        self.quantity -= from_settled
        self.t1_quantity -= quantity - from_settled
        self.mtf_quantity = min(self.mtf_quantity, self.total)
        if self.total == 0:
            self.average_price = 0.0

    def as_kite(self, used_quantity: int = 0) -> dict[str, Any]:
        """Return the holding in Kite's shape; ``used_quantity`` is what today's sells have taken."""
        held = self.total
        last = self.last_price or self.close_price
        change = last - self.close_price if self.close_price else 0.0
        return {
            "tradingsymbol": self.tradingsymbol,
            "exchange": self.exchange,
            "instrument_token": self.instrument_token,
            "isin": self.isin,
            "product": "CNC",
            "price": 0.0,
            "quantity": self.quantity,
            "used_quantity": used_quantity,
            "t1_quantity": self.t1_quantity,
            "realised_quantity": self.quantity,
            "authorised_quantity": 0,
            "authorised_date": f"{self.authorised_date.isoformat()} 00:00:00" if self.authorised_date else "",
            "authorisation": {},
            "opening_quantity": self.opening_quantity,
            "short_quantity": 0,
            "collateral_quantity": 0,
            "collateral_type": "",
            "discrepancy": False,
            "average_price": self.average_price,
            "last_price": last,
            "close_price": self.close_price,
            "pnl": (last - self.average_price) * held,
            "day_change": change,
            "day_change_percentage": change / self.close_price * 100 if self.close_price else 0.0,
            "mtf": {
                "quantity": self.mtf_quantity,
                "used_quantity": 0,
                "average_price": self.mtf_average_price,
                "value": self.mtf_quantity * self.mtf_average_price,
                "initial_margin": 0.0,
            },
        }
