"""Historical candle intervals, the longest span Kite serves in one request for each, and how far back."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

__all__ = ["Interval"]


class Interval(StrEnum):
    """The eight candle intervals Kite accepts; the value is the wire string."""

    MINUTE = "minute"
    MINUTE_3 = "3minute"
    MINUTE_5 = "5minute"
    MINUTE_10 = "10minute"
    MINUTE_15 = "15minute"
    MINUTE_30 = "30minute"
    MINUTE_60 = "60minute"
    DAY = "day"

    @property
    def minutes(self) -> int:
        """Return the candle length in minutes (a trading day counts as 375)."""
        return _MINUTES[self]

    @property
    def max_days(self) -> int:
        """Return the longest ``to - from`` span in days one request may ask for (``docs/protocol.md`` §7)."""
        return _MAX_DAYS[self]

    @property
    def history_from(self) -> date:
        """Return the first date Kite keeps candles of this interval for (API.md §7).

        Kite serves day candles from about 1990 and intraday ones from about 2015; a request for earlier
        dates is answered with no candles, so it would only spend a slot of the 3/s budget.
        """
        return _DAY_HISTORY_FROM if self is Interval.DAY else _INTRADAY_HISTORY_FROM

    @property
    def intraday(self) -> bool:
        """Return True for every interval shorter than a day."""
        return self is not Interval.DAY


_MINUTES = {
    Interval.MINUTE: 1,
    Interval.MINUTE_3: 3,
    Interval.MINUTE_5: 5,
    Interval.MINUTE_10: 10,
    Interval.MINUTE_15: 15,
    Interval.MINUTE_30: 30,
    Interval.MINUTE_60: 60,
    Interval.DAY: 375,
}
_MAX_DAYS = {
    Interval.MINUTE: 60,
    Interval.MINUTE_3: 100,
    Interval.MINUTE_5: 100,
    Interval.MINUTE_10: 100,
    Interval.MINUTE_15: 200,
    Interval.MINUTE_30: 200,
    Interval.MINUTE_60: 400,
    Interval.DAY: 2000,
}
_DAY_HISTORY_FROM = date(1990, 1, 1)
_INTRADAY_HISTORY_FROM = date(2015, 1, 1)
