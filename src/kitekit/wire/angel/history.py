"""Angel's candle intervals, the most days one ``getCandleData`` request may span for each, and its time format."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from kitekit.clock import IST

__all__ = ["CANDLE_TIME_FORMAT", "REQUEST_TIME_FORMAT", "CandleInterval", "format_candle_time", "parse_request_time"]

#: ``fromdate`` and ``todate`` of a request: ``2024-06-03 09:15`` (IST).
REQUEST_TIME_FORMAT = "%Y-%m-%d %H:%M"
#: A candle's time in the answer: ISO 8601 with the IST offset, ``2024-06-03T09:15:00+05:30``.
CANDLE_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class CandleInterval(StrEnum):
    """The intervals ``getCandleData`` and ``getOIData`` accept; the value is the wire string."""

    ONE_MINUTE = "ONE_MINUTE"
    THREE_MINUTE = "THREE_MINUTE"
    FIVE_MINUTE = "FIVE_MINUTE"
    TEN_MINUTE = "TEN_MINUTE"
    FIFTEEN_MINUTE = "FIFTEEN_MINUTE"
    THIRTY_MINUTE = "THIRTY_MINUTE"
    ONE_HOUR = "ONE_HOUR"
    ONE_DAY = "ONE_DAY"

    @property
    def minutes(self) -> int:
        """Return the candle length in minutes (a trading day counts as 375)."""
        return _MINUTES[self]

    @property
    def max_days(self) -> int:
        """Return the most days one request may span (Angel's "Historical API" table)."""
        return _MAX_DAYS[self]


_MINUTES = {
    CandleInterval.ONE_MINUTE: 1,
    CandleInterval.THREE_MINUTE: 3,
    CandleInterval.FIVE_MINUTE: 5,
    CandleInterval.TEN_MINUTE: 10,
    CandleInterval.FIFTEEN_MINUTE: 15,
    CandleInterval.THIRTY_MINUTE: 30,
    CandleInterval.ONE_HOUR: 60,
    CandleInterval.ONE_DAY: 375,
}
_MAX_DAYS = {
    CandleInterval.ONE_MINUTE: 30,
    CandleInterval.THREE_MINUTE: 60,
    CandleInterval.FIVE_MINUTE: 100,
    CandleInterval.TEN_MINUTE: 100,
    CandleInterval.FIFTEEN_MINUTE: 200,
    CandleInterval.THIRTY_MINUTE: 200,
    CandleInterval.ONE_HOUR: 400,
    CandleInterval.ONE_DAY: 2000,
}


def parse_request_time(text: str) -> datetime:
    """Return a request's ``fromdate``/``todate`` as an aware IST datetime.

    Raises:
        ValueError: not ``yyyy-mm-dd hh:mm``.
    """
    return datetime.strptime(text, REQUEST_TIME_FORMAT).replace(tzinfo=IST)


def format_candle_time(moment: datetime) -> str:
    """Return a candle's start as Angel writes it: ``2024-06-03T09:15:00+05:30``."""
    text = moment.astimezone(IST).strftime(CANDLE_TIME_FORMAT)
    return f"{text[:-2]}:{text[-2:]}"
