"""The exchanges' limit-price protection bands of equity derivatives, once: how far a LIMIT may stray.

NSE and BSE refuse an F&O limit order priced too far from the market: a band around a reference price (the
recent average trade price; Kite's quote carries it as ``average_price``, the last price when there has been
no trade), a flat width in rupees up to a price and a percentage above it. The two meet where they join
(40% of 50 is 20), so the band widens smoothly with the price.

Source: the figures of NSE's limit price protection (LPP) for the F&O segment as kitekit issue 23 states
them (November 2026); the exchange's circular itself was not at hand, so they are unconfirmed against it.
The exchanges revise them by circular; this table is the one place to change them. Currency and commodity
derivatives and the cash market have no such band here (their orders meet the circuit limits only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

__all__ = ["BAND_EXCHANGES", "INDEX_FUTURE", "OPTION", "STOCK_FUTURE", "Band", "Banded", "band_of", "band_range"]

#: The exchanges whose derivatives the bands apply to (equity F&O).
BAND_EXCHANGES = frozenset({"NFO", "BFO"})

# Index derivatives by underlying name (the dump's ``name`` column); everything else on NFO/BFO is a stock's.
_INDICES = frozenset({"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX", "SENSEX50"})


@dataclass(frozen=True, slots=True)
class Band:
    """A band: ``flat`` rupees either side of a reference up to ``upto``, ``percent`` of it above."""

    upto: float
    flat: float
    percent: float

    def width(self, reference: float) -> float:
        """Return how far from ``reference`` a price may lie, either side."""
        return self.flat if reference <= self.upto else reference * self.percent / 100


#: Options (index and stock): ±20 rupees up to a reference of 50, ±40% above.
OPTION = Band(upto=50.0, flat=20.0, percent=40.0)
#: Index futures: ±200 rupees up to 10,000, ±2% above.
INDEX_FUTURE = Band(upto=10_000.0, flat=200.0, percent=2.0)
#: Stock futures: ±1.5 rupees up to 50, ±3% above.
STOCK_FUTURE = Band(upto=50.0, flat=1.5, percent=3.0)


class Banded(Protocol):
    """What the band of an instrument depends on (an instrument spec is one)."""

    @property
    def exchange(self) -> str: ...
    @property
    def instrument_type(self) -> str: ...  # FUT, CE, PE, EQ
    @property
    def name(self) -> str: ...  # the underlying
    @property
    def tick_size(self) -> float: ...


def band_of(contract: Banded) -> Band | None:
    """Return the band an instrument's limit orders must keep to, or None when there is none."""
    if contract.exchange not in BAND_EXCHANGES:
        return None
    if contract.instrument_type in ("CE", "PE"):
        return OPTION
    if contract.instrument_type == "FUT":
        return INDEX_FUTURE if contract.name.upper() in _INDICES else STOCK_FUTURE
    return None


def band_range(contract: Banded, reference: float) -> tuple[float, float] | None:
    """Return the lowest and highest limit price the band allows around ``reference``, on the tick.

    The edges are rounded inwards to the instrument's tick (a price on the tick within the band is allowed);
    the lower edge never goes below one tick. None when the instrument has no band or there is no reference.
    """
    band = band_of(contract)
    if band is None or reference <= 0:
        return None
    tick = contract.tick_size if contract.tick_size > 0 else 0.05
    width = band.width(reference)
    low = math.ceil((reference - width) / tick - 1e-9) * tick
    high = math.floor((reference + width) / tick + 1e-9) * tick
    return round(max(low, tick), 4), round(high, 4)
