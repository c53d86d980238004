"""Kite's text formats for timestamps, dates and candle times, all in IST."""

from __future__ import annotations

from datetime import date, datetime

from kitekit.clock import IST, ensure_aware

__all__ = ["format_candle_time", "format_timestamp", "parse_kite_date", "parse_kite_datetime"]


def format_timestamp(moment: datetime) -> str:
    """Return ``yyyy-mm-dd hh:mm:ss`` in IST (19 chars; the SDK turns it into a naive datetime)."""
    return ensure_aware(moment).astimezone(IST).strftime("%Y-%m-%d %H:%M:%S")


def format_candle_time(moment: datetime) -> str:
    """Return a candle time like ``2024-03-15T09:15:00+0530``."""
    return ensure_aware(moment).astimezone(IST).strftime("%Y-%m-%dT%H:%M:%S%z")


def parse_kite_datetime(text: str) -> datetime:
    """Parse ``yyyy-mm-dd hh:mm:ss`` or ``yyyy-mm-dd`` (midnight) as IST.

    Raises:
        ValueError: ``text`` is in neither format.
    """
    text = text.strip()
    if len(text) == 10:
        return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=IST)
    if len(text) == 19 and text[10] in " T":
        return datetime.strptime(text[:10] + " " + text[11:], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
    raise ValueError(f"{text!r} is neither 'yyyy-mm-dd hh:mm:ss' nor 'yyyy-mm-dd'")


def parse_kite_date(text: str) -> date:
    """Parse ``yyyy-mm-dd``.

    Raises:
        ValueError: ``text`` is not a date in that format.
    """
    return date.fromisoformat(text.strip())
