"""Where a clock time falls in the simulated market: the session point its prices belong to, the dump day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from kitekit.clock import IST, ensure_aware
from kitekit.markethours import SESSION_OPEN, SESSION_SECONDS, TradingCalendar

__all__ = ["DUMP_TIME", "LAST_SECOND", "SessionPoint", "dump_day", "session_point"]

#: The instruments dump is regenerated at this time each trading day (docs/protocol.md §16).
DUMP_TIME = time(8, 0)
#: The last second of a session, counted from 09:15.
LAST_SECOND = SESSION_SECONDS - 1


@dataclass(frozen=True)
class SessionPoint:
    """Where a clock time falls in the market: the session day, its ordinal, and the second into it."""

    day: date
    n: int
    s: int  # seconds after 09:15, clamped to the last second; frozen at the close outside hours
    live: bool  # True while the session is running

    @property
    def moment(self) -> datetime:
        """Return the exchange time the prices at this point belong to."""
        return datetime.combine(self.day, SESSION_OPEN, tzinfo=IST) + timedelta(seconds=self.s)


def session_point(calendar: TradingCalendar, now: datetime) -> SessionPoint:
    """Return the session point whose prices are current at clock time ``now``."""
    local = ensure_aware(now).astimezone(IST)
    day = local.date()
    if calendar.is_trading_day(day) and local.time() >= SESSION_OPEN:
        s = int((local - calendar.session_open(day)).total_seconds())
        return SessionPoint(day, calendar.ordinal(day), min(s, LAST_SECOND), s <= LAST_SECOND)
    prev = calendar.on_or_before(day) if not calendar.is_trading_day(day) else calendar.previous(day)
    return SessionPoint(prev, calendar.ordinal(prev), LAST_SECOND, False)


def dump_day(calendar: TradingCalendar, now: datetime, dump_time: time = DUMP_TIME) -> date:
    """Return the trading day whose instruments dump is current at ``now`` (rebuilt at ``dump_time`` IST)."""
    local = ensure_aware(now).astimezone(IST)
    day = local.date()
    if calendar.is_trading_day(day) and local.time() >= dump_time:
        return day
    return calendar.previous(day) if calendar.is_trading_day(day) else calendar.on_or_before(day)
