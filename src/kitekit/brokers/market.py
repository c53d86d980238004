"""The neutral market data: quotes in paced batches, and candles of any span."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kitekit.brokers.model import QuoteSet

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["HistoryService", "Moment", "QuoteService"]

#: A moment a candle range starts or ends at: an aware datetime, or a date (from its 00:00 IST, or its whole day).
Moment = datetime | date


@runtime_checkable
class QuoteService(Protocol):
    """Last prices, day OHLC and full quotes of any number of instruments, on any broker.

    Each call resolves the names given, cuts them into the batches the broker takes
    (:attr:`BrokerCapabilities.quote_batch`), fetches them under its rate limits and merges the answers under
    the caller's own keys. Nothing is dropped silently: ``strict`` raises
    :class:`~kitekit.errors.PartialDataError` when a key got no data; without it the reasons are in ``missing``.
    """

    def ltp(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return last prices."""
        ...

    def ohlc(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return last prices and the day's OHLC."""
        ...

    def quote(self, *instruments: str | int, strict: bool = True) -> QuoteSet:
        """Return full quotes: OHLC, volume, OI, depth, circuit limits."""
        ...


@runtime_checkable
class HistoryService(Protocol):
    """Candles of any span on any broker: cut into the windows the broker serves, paced, merged, kept.

    Frames are indexed by the candle's IST start (``date``) with :data:`~kitekit.brokers.model.CANDLE_COLUMNS`
    (and ``oi``), oldest first, each time once.
    """

    def candles(
        self, instrument: str | int, interval: str, start: Moment, end: Moment | None = None, *, oi: bool = False
    ) -> pd.DataFrame:
        """Return the candles of ``instrument`` from ``start`` to ``end`` (None: now), however long the range.

        Raises:
            UnknownInstrumentError: nothing matches ``instrument``.
            HistoryRangeError: the broker would refuse the request; the message says what is allowed.
        """
        ...

    def backfill(
        self, instruments: Iterable[str | int], interval: str, start: Moment, end: Moment | None = None
    ) -> list[Any]:
        """Fill the candle store for many instruments, fetching only what it lacks; one entry per instrument."""
        ...
