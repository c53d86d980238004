"""The NSE trading calendar: trading days, session hours and trading-day arithmetic in IST.

Shared by the simulator (price paths, expiries) and the client (instrument refresh, monitors).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from enum import StrEnum

import numpy as np

from kitekit.clock import IST, ensure_aware

__all__ = [
    "EPOCH",
    "NSE_HOLIDAYS",
    "SESSION_CLOSE",
    "SESSION_OPEN",
    "SESSION_SECONDS",
    "MarketPhase",
    "TradingCalendar",
]

SESSION_OPEN = time(9, 15)
SESSION_CLOSE = time(15, 30)
#: 09:15–15:30 is 375 minutes of continuous trading.
SESSION_SECONDS = 375 * 60
#: Trading-day ordinals count from here; nothing in kitekit needs earlier market data.
EPOCH = date(2000, 1, 1)

# Exchange holidays on weekdays (NSE circulars). Years not listed fall back to the fixed national holidays
# below, which is close enough for a simulator and for "is today a trading day" checks far from today.
_LISTED: dict[int, tuple[str, ...]] = {
    2024: (
        "01-22",
        "01-26",
        "03-08",
        "03-25",
        "03-29",
        "04-11",
        "04-17",
        "05-01",
        "05-20",
        "06-17",
        "07-17",
        "08-15",
        "10-02",
        "11-01",
        "11-15",
        "11-20",
        "12-25",
    ),
    2025: (
        "02-26",
        "03-14",
        "03-31",
        "04-10",
        "04-14",
        "04-18",
        "05-01",
        "08-15",
        "08-27",
        "10-02",
        "10-21",
        "10-22",
        "11-05",
        "12-25",
    ),
    2026: (
        "01-26",
        "03-03",
        "03-26",
        "03-31",
        "04-03",
        "04-14",
        "05-01",
        "05-28",
        "06-26",
        "09-14",
        "10-02",
        "10-20",
        "11-10",
        "11-24",
        "12-25",
    ),
}
_FIXED = ("01-26", "05-01", "08-15", "10-02", "12-25")


def _holidays() -> frozenset[date]:
    days: set[date] = set()
    for year in range(EPOCH.year, 2041):
        for md in _LISTED.get(year, _FIXED):
            days.add(date.fromisoformat(f"{year}-{md}"))
    return frozenset(days)


NSE_HOLIDAYS: frozenset[date] = _holidays()


class MarketPhase(StrEnum):
    """Where a moment falls relative to the trading session."""

    PRE_OPEN = "pre-open"
    OPEN = "open"
    CLOSED = "closed"


class TradingCalendar:
    """Trading days (weekdays minus exchange holidays) and the 09:15–15:30 IST session."""

    def __init__(self, holidays: Iterable[date] = NSE_HOLIDAYS) -> None:
        hol = np.array(sorted(holidays), dtype="datetime64[D]")
        self._cal = np.busdaycalendar(weekmask="1111100", holidays=hol)
        self._epoch = np.datetime64(EPOCH, "D")
        # Answers by day: numpy's busday call costs microseconds, and the engine asks at every order and quote.
        self._trading: dict[date, bool] = {}
        self._last_phase: tuple[datetime, MarketPhase] | None = None

    def is_trading_day(self, day: date) -> bool:
        """Return True if ``day`` is a weekday and not an exchange holiday."""
        known = self._trading.get(day)
        if known is None:
            if type(day) is not date:  # a datetime is a date too: memoise by its day, not its every moment
                return self.is_trading_day(date(day.year, day.month, day.day))
            known = self._trading[day] = bool(np.is_busday(np.datetime64(day, "D"), busdaycal=self._cal))
        return known

    def on_or_before(self, day: date) -> date:
        """Return ``day`` if it is a trading day, else the trading day before it."""
        return self._to_date(np.busday_offset(np.datetime64(day, "D"), 0, roll="backward", busdaycal=self._cal))

    def on_or_after(self, day: date) -> date:
        """Return ``day`` if it is a trading day, else the trading day after it."""
        return self._to_date(np.busday_offset(np.datetime64(day, "D"), 0, roll="forward", busdaycal=self._cal))

    def previous(self, day: date) -> date:
        """Return the trading day strictly before ``day``."""
        return self.on_or_before(day - timedelta(days=1))

    def next(self, day: date) -> date:
        """Return the trading day strictly after ``day``."""
        return self.on_or_after(day + timedelta(days=1))

    def ordinal(self, day: date) -> int:
        """Return how many trading days lie in [EPOCH, day): a dense index for trading days."""
        return int(np.busday_count(self._epoch, np.datetime64(day, "D"), busdaycal=self._cal))

    def ordinals(self, days: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`ordinal` over an array of ``datetime64[D]``."""
        return np.busday_count(self._epoch, days, busdaycal=self._cal)

    def from_ordinal(self, n: int) -> date:
        """Return the trading day with ordinal ``n`` (inverse of :meth:`ordinal` on trading days)."""
        return self._to_date(np.busday_offset(self._epoch, n, roll="forward", busdaycal=self._cal))

    def trading_days(self, start: date, end: date) -> list[date]:
        """Return the trading days in [start, end], oldest first."""
        if end < start:
            return []
        a, b = self.ordinal(self.on_or_after(start)), self.ordinal(end + timedelta(days=1))
        return [self.from_ordinal(n) for n in range(a, b)]

    @staticmethod
    def session_open(day: date) -> datetime:
        """Return 09:15 IST on ``day``."""
        return datetime.combine(day, SESSION_OPEN, tzinfo=IST)

    @staticmethod
    def session_close(day: date) -> datetime:
        """Return 15:30 IST on ``day``."""
        return datetime.combine(day, SESSION_CLOSE, tzinfo=IST)

    def phase(self, moment: datetime) -> MarketPhase:
        """Return whether the market is open at ``moment``, about to open today, or closed."""
        last = self._last_phase
        if last is not None and last[0] == moment:  # an order and the quotes of its moment ask alike
            return last[1]
        local = ensure_aware(moment).astimezone(IST)
        if not self.is_trading_day(local.date()):
            phase = MarketPhase.CLOSED
        elif local.time() < SESSION_OPEN:
            phase = MarketPhase.PRE_OPEN
        elif local.time() < SESSION_CLOSE:
            phase = MarketPhase.OPEN
        else:
            phase = MarketPhase.CLOSED
        self._last_phase = (moment, phase)
        return phase

    def last_session_start(self, moment: datetime) -> datetime:
        """Return 09:15 IST of the latest trading session that has begun at or before ``moment``."""
        local = ensure_aware(moment).astimezone(IST)
        day = local.date()
        if not self.is_trading_day(day) or local.time() < SESSION_OPEN:
            day = self.previous(day)
        return self.session_open(day)

    @staticmethod
    def _to_date(value: np.datetime64) -> date:
        return date.fromisoformat(str(value))
