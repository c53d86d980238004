"""Time to expiry in years: Indian exchange options expire at the 15:30 IST close of their expiry day.

Calendar time over a 365-day year, as vollib, NSE's published implied volatilities and the simulator count it.
There is no clock here: "now" is always given.
"""

from __future__ import annotations

from datetime import date, datetime, time

from kitekit.clock import IST, ensure_aware

__all__ = ["EXPIRY_TIME", "SECONDS_PER_YEAR", "expiry_moment", "years_to_expiry"]

#: When contracts expire on their expiry day (the close of the F&O session).
EXPIRY_TIME = time(15, 30)
SECONDS_PER_YEAR = 365.0 * 86400.0


def expiry_moment(expiry: date) -> datetime:
    """Return the instant a contract expiring on ``expiry`` expires: 15:30 IST that day."""
    return datetime.combine(expiry, EXPIRY_TIME, tzinfo=IST)


def years_to_expiry(expiry: date, now: datetime) -> float:
    """Return the years from ``now`` (aware) to 15:30 IST on ``expiry``; 0.0 once that has passed.

    Raises:
        ValueError: ``now`` is naive.
    """
    seconds = (expiry_moment(expiry) - ensure_aware(now)).total_seconds()
    return max(seconds, 0.0) / SECONDS_PER_YEAR
