"""Print the instants the calendar matrix runs the suite at, one ``label<TAB>ISO instant`` per line.

A trading toolkit lives by the calendar (weekly expiries, holidays, the 06:00 token flush, the 08:30 dump, month
and year ends), so CI runs the tests that read the wall clock with the whole process clock moved to each of
these instants (``./dev matrix``). They are computed from today, so the matrix always probes the days just
ahead of whoever runs it: a test that will break next Tuesday breaks today.

Usage: ``python scripts/calendar_instants.py [YYYY-MM-DD]`` (the day to count from; default today in IST).
"""

from __future__ import annotations

import sys
from datetime import date, datetime, time, timedelta

from kitekit.clock import IST
from kitekit.markethours import NSE_HOLIDAYS, TradingCalendar
from kitekit.sim.market.expiries import TUESDAY, monthly_expiries

__all__ = ["instants"]


def _at(day: date, hour: int, minute: int) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=IST)


def instants(today: date) -> list[tuple[str, datetime]]:
    """Return the matrix for ``today``: every situation the issue names, on the next day it occurs."""
    cal = TradingCalendar()
    expiry = monthly_expiries(cal, today + timedelta(days=1), TUESDAY, 1)[0]  # NIFTY's monthly, last Tuesday
    saturday = today + timedelta(days=(5 - today.weekday()) % 7 or 7)
    holiday = min(d for d in NSE_HOLIDAYS if d > today and d.weekday() < 5)
    republic_day = next(d for y in (today.year, today.year + 1) if (d := date(y, 1, 26)) > today)
    trading = cal.next(today)
    year_end = date(today.year, 12, 31)
    return [
        ("expiry day, before the open", _at(expiry, 9, 0)),
        ("expiry day, in the session", _at(expiry, 11, 30)),
        ("expiry day, after the close", _at(expiry, 16, 0)),
        ("the day after a monthly expiry", _at(cal.next(expiry), 10, 0)),
        ("a Saturday", _at(saturday, 11, 0)),
        ("the next exchange holiday", _at(holiday, 10, 0)),
        ("Republic Day, an exchange holiday", _at(republic_day, 10, 0)),
        ("the year's last minute", _at(year_end, 23, 59)),
        ("05:59, a minute before the token flush", _at(trading, 5, 59)),
        ("06:01, a minute after the token flush", _at(trading, 6, 1)),
        ("08:29, before the dump", _at(trading, 8, 29)),
        ("08:31, after the dump", _at(trading, 8, 31)),
        ("a year ahead", _at(cal.on_or_after(today + timedelta(days=365)), 10, 30)),
    ]


def main(argv: list[str]) -> int:
    today = date.fromisoformat(argv[0]) if argv else datetime.now(IST).date()
    for label, moment in instants(today):
        print(f"{label}\t{moment.isoformat()}")  # noqa: T201 - the script's output
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
