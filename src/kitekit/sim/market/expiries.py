"""Contract expiry rules per exchange, as of a given trading day (exchange circulars, 2025)."""

from __future__ import annotations

import calendar as _cal
from datetime import date, timedelta

from kitekit.markethours import TradingCalendar

__all__ = [
    "FRIDAY",
    "THURSDAY",
    "TUESDAY",
    "commodity_monthlies",
    "currency_monthlies",
    "monthly_expiries",
    "weekly_expiries",
]

TUESDAY, THURSDAY, FRIDAY = 1, 3, 4


def _months_from(as_of: date, count: int) -> list[tuple[int, int]]:
    y, m = as_of.year, as_of.month
    out = []
    for _ in range(count):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _last_weekday(year: int, month: int, weekday: int) -> date:
    last = date(year, month, _cal.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def monthly_expiries(cal: TradingCalendar, as_of: date, weekday: int, count: int) -> list[date]:
    """Return the next ``count`` monthly expiries (last ``weekday`` of the month, earlier if a holiday)."""
    out = []
    for y, m in _months_from(as_of, count + 1):
        expiry = cal.on_or_before(_last_weekday(y, m, weekday))
        if expiry >= as_of:
            out.append(expiry)
    return out[:count]


def weekly_expiries(cal: TradingCalendar, as_of: date, weekday: int, count: int) -> list[date]:
    """Return the next ``count`` weekly expiries on ``weekday`` (earlier if a holiday), including today."""
    first = as_of + timedelta(days=(weekday - as_of.weekday()) % 7)
    out: list[date] = []
    day = first
    while len(out) < count:
        expiry = cal.on_or_before(day)
        if expiry >= as_of:
            out.append(expiry)
        day += timedelta(days=7)
    return out


def currency_monthlies(cal: TradingCalendar, as_of: date, count: int) -> list[date]:
    """Return the next ``count`` currency expiries: two trading days before the month's last trading day."""
    out = []
    for y, m in _months_from(as_of, count + 1):
        last = cal.on_or_before(date(y, m, _cal.monthrange(y, m)[1]))
        expiry = cal.previous(cal.previous(last))
        if expiry >= as_of:
            out.append(expiry)
    return out[:count]


def commodity_monthlies(cal: TradingCalendar, as_of: date, day: int, months: tuple[int, ...], count: int) -> list[date]:
    """Return the next ``count`` MCX future expiries: ``day`` of each listed month (or the day before)."""
    out = []
    for y, m in _months_from(as_of, 24):
        if months and m not in months:
            continue
        expiry = cal.on_or_before(date(y, m, min(day, _cal.monthrange(y, m)[1])))
        if expiry >= as_of:
            out.append(expiry)
        if len(out) == count:
            break
    return out
