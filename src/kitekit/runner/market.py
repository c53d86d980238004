"""Prices as the engine meets them during a run: depth modelled from bars, ticks as quotes, the latest of each.

A candle tells a price and a volume, not a book. :class:`DepthModel` gives the engine one to match against:
five levels a side around the price, one tick apart, each holding a share of the bar's volume, so a small
order fills at the price and a large one walks the book (its slippage grows with its size, as it would).

A tick in full mode carries the real five levels; :func:`tick_item` turns it into a ``/quote`` item, as the
paper broker reads one, and :class:`TickQuotes` serves the latest of them to a paper broker instead of asking
``GET /quote``, so paper fills meet exactly the book the strategy saw (a replayed recording included).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kitekit.engine import Level, MarketQuote

__all__ = ["DepthModel", "TickQuotes", "tick_item"]

#: The quantity a level offers when the bar's volume is not known (indices, a bar with no volume).
UNBOUNDED = 10**12


@dataclass(frozen=True)
class DepthModel:
    """How a bar's price becomes a book: ``levels`` a side, ``tick`` apart, each ``share`` of the bar's volume.

    Attributes:
        levels: levels a side (Kite shows five).
        half_spread: ticks between the price and the best bid and offer (0: both at the price).
        share: the share of the bar's volume each level holds.
        min_lots: the least a level holds, in lots.
    """

    levels: int = 5
    half_spread: int = 0
    share: float = 0.05
    min_lots: int = 1

    def quote(
        self, token: int, price: float, when: datetime, tick: float, lot: int, volume: int, close: float = 0.0
    ) -> MarketQuote:
        """Return the book around ``price`` at ``when`` for a bar that traded ``volume``."""
        tick = tick if tick > 0 else 0.05
        lot = max(lot, 1)
        size = max(self.min_lots * lot, int(volume * self.share) // lot * lot) if volume > 0 else UNBOUNDED
        bids = []
        asks = []
        for i in range(self.levels):
            step = (self.half_spread + i) * tick
            bid = round(price - step, 4)
            if bid > 0:
                bids.append(Level(bid, size, 1))
            asks.append(Level(round(price + step, 4), size, 1))
        return MarketQuote(token, price, when, tuple(bids), tuple(asks), 0.0, 0.0, close)


def tick_item(tick: Mapping[str, Any]) -> dict[str, Any]:
    """Return a tick (Kite's dict) as the ``/quote`` item it stands for: its time is its exchange timestamp."""
    return {**tick, "timestamp": tick.get("exchange_timestamp") or tick.get("last_trade_time")}


class TickQuotes:
    """A quote source answering from the latest tick of each instrument, the rest from ``fallback``.

    Args:
        fallback: where instruments never ticked are quoted (``GET /quote`` of the client).
        token: the instrument token of an ``EXCHANGE:TRADINGSYMBOL`` (the instrument store's ``token``).
    """

    #: A paper broker fed by this source judges resting orders on the ticks alone (not on fetched candles).
    serves_candles = False

    def __init__(self, fallback: Any, token: Callable[[str], int]) -> None:
        self.fallback = fallback
        self.token = token
        self.latest: dict[int, dict[str, Any]] = {}
        self._tokens: dict[str, int] = {}

    def update(self, ticks: Iterable[Mapping[str, Any]]) -> None:
        """Keep the latest tick of each instrument (call with every frame, before the broker sees it)."""
        for tick in ticks:
            if tick.get("exchange_timestamp") or tick.get("last_trade_time"):
                self.latest[int(tick["instrument_token"])] = tick_item(tick)

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return a ``/quote`` item per instrument: the latest tick's, else the fallback's. Route: ``GET /quote``."""
        out: dict[Any, Mapping[str, Any]] = {}
        missing = []
        for instrument in instruments:
            item = self.latest.get(self._token_of(instrument))
            if item is None:
                missing.append(instrument)
            else:
                out[instrument] = item
        if missing:
            out.update(self.fallback.quote(*missing))
        return out

    def _token_of(self, instrument: Any) -> int:
        text = str(instrument)
        if text.isdigit():
            return int(text)
        token = self._tokens.get(text)
        if token is None:
            token = self._tokens[text] = self.token(text)
        return token
