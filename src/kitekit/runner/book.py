"""The run's own book: positions from its orders' fills, realised and marked-to-market P&L, charges, round trips.

The broker's positions are the account's, which may hold more than one strategy's; the runner keeps the run's
own from the fills of the orders it placed, at average cost, the way Kite's positions compute P&L. Marks are
kept incrementally (the unrealised total moves by the change of one instrument's price), so marking costs the
same with one position or fifty, and a backtest can mark on every bar.

A *round trip* runs from a flat position to the next flat one (a reversal closes one and opens the next); its
P&L, less the charges of the orders that made it, is what the win rate and profit factor count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kitekit.runner.model import PositionView

__all__ = ["Book", "Lot", "RoundTrip"]


@dataclass
class RoundTrip:
    """One round trip of one instrument and product: from flat to flat."""

    key: str
    product: str
    side: str  # "long" or "short"
    opened: datetime
    closed: datetime | None = None
    quantity: int = 0  # the largest absolute quantity held
    realised: float = 0.0
    charges: float = 0.0
    entry_value: float = 0.0  # what the opening fills cost (price × quantity, rupees)

    @property
    def net(self) -> float:
        """Return the round trip's P&L after charges."""
        return self.realised - self.charges

    def to_json(self) -> dict[str, Any]:
        """Return the round trip as JSON-able values."""
        return {
            "key": self.key,
            "product": self.product,
            "side": self.side,
            "opened": self.opened.isoformat(),
            "closed": self.closed.isoformat() if self.closed else None,
            "quantity": self.quantity,
            "realised": self.realised,
            "charges": self.charges,
            "entry_value": self.entry_value,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RoundTrip:
        """Return the round trip :meth:`to_json` wrote."""
        closed = data.get("closed")
        return cls(
            str(data["key"]),
            str(data["product"]),
            str(data["side"]),
            datetime.fromisoformat(str(data["opened"])),
            datetime.fromisoformat(str(closed)) if closed else None,
            int(data["quantity"]),
            float(data["realised"]),
            float(data["charges"]),
            float(data["entry_value"]),
        )


class Lot:
    """The run's position in one instrument and product."""

    __slots__ = (
        "average",
        "charges",
        "instrument_token",
        "key",
        "last",
        "multiplier",
        "product",
        "quantity",
        "realised",
        "trip",
    )

    def __init__(self, key: str, instrument_token: int, product: str, multiplier: float = 1.0) -> None:
        self.key = key
        self.instrument_token = instrument_token
        self.product = product
        self.multiplier = multiplier
        self.quantity = 0
        self.average = 0.0
        self.realised = 0.0
        self.charges = 0.0
        self.last = 0.0
        self.trip: RoundTrip | None = None

    @property
    def unrealised(self) -> float:
        """Return the open quantity's P&L at the last price."""
        return self.quantity * (self.last - self.average) * self.multiplier if self.quantity else 0.0

    def view(self) -> PositionView:
        """Return the position as the strategy sees it."""
        return PositionView(
            self.key,
            self.product,
            self.quantity,
            self.average,
            self.last,
            self.realised,
            self.unrealised,
            self.charges,
        )


@dataclass
class _Portion:
    trip: RoundTrip
    quantity: int


@dataclass
class Book:
    """Every position of the run, its P&L, and the round trips closed so far."""

    lots: dict[tuple[str, str], Lot] = field(default_factory=dict)
    trips: list[RoundTrip] = field(default_factory=list)
    realised: float = 0.0
    charges: float = 0.0
    unrealised: float = 0.0
    #: How many lots hold a quantity (kept as fills come, so "is the run in the market" costs nothing).
    held: int = 0
    #: The lots of each instrument (what a new price marks).
    by_token: dict[int, list[Lot]] = field(default_factory=dict, repr=False)
    _portions: dict[str, list[_Portion]] = field(default_factory=dict, repr=False)

    # -- reading ------------------------------------------------------------------------------------
    @property
    def pnl(self) -> float:
        """Return the run's P&L so far: realised plus unrealised, less charges."""
        return self.realised + self.unrealised - self.charges

    def quantity(self, key: str, product: str | None = None) -> int:
        """Return the signed quantity held in ``key`` (in ``product``, or over every product)."""
        if product is not None:
            lot = self.lots.get((key, product))
            return lot.quantity if lot else 0
        return sum(lot.quantity for (k, _), lot in self.lots.items() if k == key)

    def open_lots(self) -> list[Lot]:
        """Return the lots with a quantity, in the order they were first traded."""
        return [lot for lot in self.lots.values() if lot.quantity]

    def exposure(self) -> float:
        """Return the gross value held (every position's absolute quantity at its last price, in rupees)."""
        return sum(abs(lot.quantity) * (lot.last or lot.average) * lot.multiplier for lot in self.lots.values())

    def last_price(self, instrument_token: int) -> float | None:
        """Return the last price the book marked an instrument at, None if never."""
        lots = self.by_token.get(instrument_token)
        return lots[0].last if lots and lots[0].last else None

    # -- changing -----------------------------------------------------------------------------------
    def lot(self, key: str, instrument_token: int, product: str, multiplier: float = 1.0) -> Lot:
        """Return the lot of ``key`` in ``product``, opening an empty one the first time."""
        lot = self.lots.get((key, product))
        if lot is None:
            lot = self.lots[(key, product)] = Lot(key, instrument_token, product, multiplier)
            self.by_token.setdefault(instrument_token, []).append(lot)
            same = self.by_token[instrument_token]
            if len(same) > 1 and same[0].last:
                lot.last = same[0].last
        return lot

    def fill(
        self,
        order_id: str,
        key: str,
        instrument_token: int,
        product: str,
        is_buy: bool,
        quantity: int,
        price: float,
        at: datetime,
        multiplier: float = 1.0,
    ) -> float:
        """Book one fill at average cost; return the P&L it realised (before charges).

        A fill that takes a position through zero closes it (realising its P&L) and opens the rest the other way.
        """
        if quantity <= 0:
            return 0.0
        lot = self.lot(key, instrument_token, product, multiplier)
        before = lot.unrealised
        was_held = lot.quantity != 0
        if not lot.last:
            lot.last = price
        signed = quantity if is_buy else -quantity
        realised = 0.0
        portions = self._portions.setdefault(order_id, [])
        if lot.quantity == 0 or (lot.quantity > 0) == is_buy:
            opening = signed
        else:
            closing = min(quantity, abs(lot.quantity))
            realised = closing * (price - lot.average) * (1 if lot.quantity > 0 else -1) * lot.multiplier
            lot.quantity += closing if is_buy else -closing
            trip = lot.trip
            if trip is not None:
                trip.realised += realised
                portions.append(_Portion(trip, closing))
                if lot.quantity == 0:
                    trip.closed = at
                    self.trips.append(trip)
                    lot.trip = None
            if lot.quantity == 0:
                lot.average = 0.0
            opening = signed - (closing if is_buy else -closing)
        if opening:
            if lot.quantity == 0:
                lot.trip = RoundTrip(key, product, "long" if opening > 0 else "short", at)
                lot.average = price
            else:
                lot.average = (lot.average * abs(lot.quantity) + price * abs(opening)) / (
                    abs(lot.quantity) + abs(opening)
                )
            lot.quantity += opening
            trip = lot.trip
            if trip is not None:
                trip.quantity = max(trip.quantity, abs(lot.quantity))
                trip.entry_value += abs(opening) * price * lot.multiplier
                portions.append(_Portion(trip, abs(opening)))
        lot.realised += realised
        self.realised += realised
        self.unrealised += lot.unrealised - before
        self.held += (lot.quantity != 0) - was_held
        return realised

    def charge(self, order_id: str, key: str, product: str, amount: float) -> None:
        """Book what an order cost in charges, on its lot and on the round trips its fills made."""
        if not amount:
            return
        lot = self.lots.get((key, product))
        if lot is not None:
            lot.charges += amount
        self.charges += amount
        portions = self._portions.pop(order_id, [])
        total = sum(p.quantity for p in portions)
        for portion in portions:
            portion.trip.charges += amount * portion.quantity / total

    def mark(self, instrument_token: int, price: float) -> None:
        """Mark every lot of an instrument at ``price`` (the unrealised total moves by the change alone)."""
        lots = self.by_token.get(instrument_token)
        if not lots:
            return
        for lot in lots:
            if lot.quantity:
                self.unrealised += lot.quantity * (price - lot.last) * lot.multiplier
            lot.last = price

    def set_quantity(self, key: str, product: str, quantity: int, at: datetime) -> None:
        """Take ``quantity`` as the position the broker holds (it closed some itself: an auto square-off).

        What was closed is realised at the last price known.
        """
        lot = self.lots.get((key, product))
        if lot is None or lot.quantity == quantity:
            return
        change = quantity - lot.quantity
        self.fill(f"reconcile-{key}-{at.isoformat()}", key, lot.instrument_token, product, change > 0, abs(change),
                  lot.last or lot.average, at, lot.multiplier)  # fmt: skip

    # -- state --------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Return the book as JSON-able values (the run's state file keeps it across restarts)."""
        return {
            "lots": [
                {
                    "key": lot.key,
                    "instrument_token": lot.instrument_token,
                    "product": lot.product,
                    "multiplier": lot.multiplier,
                    "quantity": lot.quantity,
                    "average": lot.average,
                    "realised": lot.realised,
                    "charges": lot.charges,
                    "last": lot.last,
                    "trip": lot.trip.to_json() if lot.trip else None,
                }
                for lot in self.lots.values()
            ],
            "trips": [trip.to_json() for trip in self.trips],
            "realised": self.realised,
            "charges": self.charges,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Book:
        """Return the book :meth:`to_json` wrote."""
        book = cls(realised=float(data.get("realised", 0.0)), charges=float(data.get("charges", 0.0)))
        book.trips = [RoundTrip.from_json(t) for t in data.get("trips", [])]
        for item in data.get("lots", []):
            lot = book.lot(str(item["key"]), int(item["instrument_token"]), str(item["product"]),
                           float(item.get("multiplier", 1.0)))  # fmt: skip
            lot.quantity, lot.average = int(item["quantity"]), float(item["average"])
            lot.realised, lot.charges, lot.last = float(item["realised"]), float(item["charges"]), float(item["last"])
            trip = item.get("trip")
            lot.trip = RoundTrip.from_json(trip) if trip else None
            book.unrealised += lot.unrealised
            book.held += lot.quantity != 0
        return book
