"""Candles of any broker kept in kitekit's one candle store, keyed by the neutral identity.

Kite's :class:`~kitekit.history.History` keeps what it fetches in the :class:`~kitekit.history.store.CandleStore`;
another broker's :class:`~kitekit.brokers.market.HistoryService` may not (Angel's does not yet). This keeps a
fetched frame there the way Kite's are kept: under ``EXCHANGE:SYMBOL`` and the interval, only the candles that had
surely closed when they were asked for, so a later fetch of the same range asks again for the still-forming ones.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from kitekit.clock import IST

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.brokers.market import Moment
    from kitekit.brokers.model import BrokerInstrument
    from kitekit.history.store import CandleStore

__all__ = ["keep_candles"]


def _moment(value: Moment, end: bool) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(IST)
    start = datetime.combine(value, time(0), tzinfo=IST)
    return start + timedelta(days=1, seconds=-1) if end else start


def keep_candles(
    store: CandleStore,
    instrument: BrokerInstrument,
    interval: str,
    start: Moment,
    end: Moment | None,
    frame: pd.DataFrame,
    asked_at: datetime,
) -> None:
    """Keep ``frame``, the candles of ``instrument`` fetched for ``[start, end]`` at ``asked_at``, in ``store``.

    Args:
        store: the candle store.
        instrument: whose candles (any broker's listing: the series is keyed by its neutral identity).
        interval: the interval, as Kite names it (``"minute"``, ``"5minute"``, ``"day"``).
        start: the range's first moment (a date: from its 00:00 IST).
        end: its last (a date: the whole day; None: ``asked_at``).
        frame: the candles, indexed by their IST start, as every :class:`HistoryService` returns them.
        asked_at: when they were fetched, by the data's clock (what had closed by then is stored as final).
    """
    from kitekit.history.rules import complete_until
    from kitekit.history.store import SeriesKey
    from kitekit.wire.history import Interval

    kind = Interval(str(interval))
    last = _moment(end, end=True) if end is not None else asked_at
    series = SeriesKey(instrument.exchange, instrument.symbol, kind, False)
    window = (_moment(start, end=False), min(last, asked_at.astimezone(IST)) if kind.intraday else last)
    store.write(series, instrument.token or 0, window, frame, complete_until(asked_at, kind))
