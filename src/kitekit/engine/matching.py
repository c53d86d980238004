"""Filling against a quote's depth: walking levels, liquidity already taken, stop triggers, market protection."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from kitekit.engine.quote import Level, MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.wire.order_terms import Quoted

__all__ = ["Liquidity", "auto_protection", "protection_cap", "stop_triggered", "walk"]

#: Price tolerance for tick arithmetic on floats.
EPS = 1e-9


@dataclass(slots=True)
class _Taken:
    """Quantity already taken from each price level of one quote."""

    timestamp: datetime
    last_price: float
    bids: dict[float, int] = field(default_factory=dict)
    asks: dict[float, int] = field(default_factory=dict)


@dataclass(slots=True)
class Liquidity:
    """Depth consumed per instrument, so two orders never both fill against the same quantity of one quote.

    A quote is told apart from the next by its timestamp and last price; a new quote is a fresh book. Engines
    of several accounts may share one ``Liquidity`` so they compete for the same depth.
    """

    taken: dict[int, _Taken] = field(default_factory=dict)

    def _entry(self, quote: MarketQuote) -> _Taken:
        entry = self.taken.get(quote.instrument_token)
        if entry is None or entry.timestamp != quote.timestamp or entry.last_price != quote.last_price:
            entry = _Taken(quote.timestamp, quote.last_price)
            self.taken[quote.instrument_token] = entry
        return entry

    def fill(
        self, quote: MarketQuote, is_buy: bool, quantity: int, limit: float | None, lot: int = 1
    ) -> list[tuple[float, int]]:
        """Take up to ``quantity`` from the opposite side of ``quote`` at prices no worse than ``limit``.

        Args:
            quote: the current market of the instrument.
            is_buy: True to take asks, False to take bids.
            quantity: the most to take.
            limit: the worst acceptable price (None: any price in the depth).
            lot: fills come in whole lots (derivatives trade in lots).

        Returns:
            ``(price, quantity)`` per level taken, best price first; empty when nothing is available.
        """
        entry = self._entry(quote)
        taken = entry.asks if is_buy else entry.bids
        fills = walk(quote.asks if is_buy else quote.bids, taken, limit, is_buy, quantity, lot)
        for price, qty in fills:
            taken[price] = taken.get(price, 0) + qty
        return fills


def walk(
    levels: Sequence[Level], taken: dict[float, int], limit: float | None, is_buy: bool, quantity: int, lot: int
) -> list[tuple[float, int]]:
    """Return the fills a marketable order gets walking ``levels`` (best first), without recording them."""
    fills: list[tuple[float, int]] = []
    remaining = quantity
    for level in levels:
        if remaining <= 0:
            break
        if limit is not None and (level.price > limit + EPS if is_buy else level.price < limit - EPS):
            break
        free = level.quantity - taken.get(level.price, 0)
        take = min(free, remaining)
        take -= take % max(lot, 1)
        if take > 0:
            fills.append((level.price, take))
            remaining -= take
    return fills


def stop_triggered(is_buy: bool, trigger_price: float, last_price: float) -> bool:
    """Return True once the last price reaches a stop: at or above it for a buy, at or below for a sell."""
    return last_price >= trigger_price - EPS if is_buy else last_price <= trigger_price + EPS


# SIM: Kite's "auto" protection (-1) picks a band by instrument and price; the exact table is not published,
# so these bands follow the ones traders report: wider for cheap instruments and options.
_AUTO_BANDS: tuple[tuple[float, float, float], ...] = (
    # (price below, equity/futures %, options %)
    (10.0, 5.0, 10.0),
    (100.0, 2.0, 5.0),
    (500.0, 1.0, 3.0),
    (math.inf, 0.5, 2.0),
)


def auto_protection(spec: InstrumentSpec, last_price: float) -> float:
    """Return the protection percentage ``market_protection=-1`` stands for at this price."""
    for below, plain, option in _AUTO_BANDS:
        if last_price < below:
            return option if spec.is_option else plain
    return 0.5  # pragma: no cover - the last band is unbounded


def protection_cap(
    is_buy: bool,
    reference: float,
    percent: float,
    quote: Quoted | None,
    tick: float,
    band: tuple[float, float] | None = None,
) -> float:
    """Return the worst price a protected market order may fill at: ``percent`` beyond ``reference``.

    The cap is rounded inwards to a tick and never beyond the circuit limits nor the price band (``band``,
    the lowest and highest price it allows): the exchange refuses a limit price beyond either.
    """
    tick = tick if tick > 0 else 0.05
    if is_buy:
        cap = math.floor(reference * (1 + percent / 100) / tick + EPS) * tick
        if quote is not None and quote.upper_circuit_limit > 0:
            cap = min(cap, quote.upper_circuit_limit)
        if band is not None:
            cap = min(cap, band[1])
    else:
        cap = math.ceil(reference * (1 - percent / 100) / tick - EPS) * tick
        if quote is not None and quote.lower_circuit_limit > 0:
            cap = max(cap, quote.lower_circuit_limit)
        if band is not None:
            cap = max(cap, band[0])
    return round(max(cap, tick), 4)
