"""Kite's :class:`~kitekit.quotes.MarketData` and :class:`~kitekit.history.History` behind the neutral services."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from kitekit.brokers.kite.convert import quote_of
from kitekit.brokers.market import Moment
from kitekit.brokers.model import QuoteSet
from kitekit.errors import PartialDataError
from kitekit.wire.routes import QuoteEndpoint

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.history import History
    from kitekit.instruments import InstrumentStore
    from kitekit.quotes import MarketData

__all__ = ["KiteHistory", "KiteQuotes"]


class KiteQuotes:
    """Neutral quotes over :class:`~kitekit.quotes.MarketData`: its batching, pacing and gap reasons, unchanged.

    Args:
        data: the batched quotes layer (its resolver names instruments without an exchange).
        store: the instrument store, which gives each quote its neutral key (a token asked for is named).
    """

    def __init__(self, data: MarketData, store: InstrumentStore) -> None:
        self.data = data
        self.store = store

    def ltp(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return last prices. Route: ``GET /quote/ltp`` (1,000 per call)."""
        return self._fetch(QuoteEndpoint.LTP, instruments, strict)

    def ohlc(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return last prices and the day's OHLC. Route: ``GET /quote/ohlc`` (1,000 per call)."""
        return self._fetch(QuoteEndpoint.OHLC, instruments, strict)

    def quote(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return full quotes. Route: ``GET /quote`` (500 per call)."""
        return self._fetch(QuoteEndpoint.QUOTE, instruments, strict)

    def _fetch(self, kind: QuoteEndpoint, instruments: Iterable[str | int], strict: bool) -> QuoteSet:
        got = self.data.fetch(kind, instruments, strict=False)
        quotes = {asked: quote_of(self._key(asked, item), item) for asked, item in got.items()}
        result = QuoteSet(quotes, got.missing)
        if strict and result.missing:
            raise PartialDataError(dict(result), result.missing)
        return result

    def _key(self, asked: str | int, item: Any) -> str:
        # Kite keys its answer by what was asked ("NSE:INFY" or "408065"); the neutral key is the listing's.
        token = item.get("instrument_token")
        return self.store.key(int(token)) if token is not None else self.store.key(asked)


class KiteHistory:
    """Neutral candles over :class:`~kitekit.history.History`: its windows, pacing, store and checks, unchanged."""

    def __init__(self, history: History) -> None:
        self.history = history

    def candles(
        self, instrument: str | int, interval: str, start: Moment, end: Moment | None = None, *, oi: bool = False
    ) -> pd.DataFrame:
        """Return candles. Route: ``GET /instruments/historical/{token}/{interval}``, per window."""
        return self.history.candles(instrument, interval, start, end, oi=oi)

    def backfill(
        self, instruments: Iterable[str | int], interval: str, start: Moment, end: Moment | None = None
    ) -> list[Any]:
        """Fill the candle store. Route: ``GET /instruments/historical/{token}/{interval}`` per window fetched."""
        return list(self.history.backfill(instruments, interval, start, end))
