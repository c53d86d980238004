"""Option validators shared by commands: numbers that must be finite, positive, in range, or a share of 1; instants.

click's ranges let ``nan`` through (every comparison with NaN is false) and say nothing of infinity, so each
numeric option goes through one of these callbacks and fails as a usage error (exit code 2) with the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import date, datetime, time
from typing import TypeVar

import typer

from kitekit.clock import IST

__all__ = [
    "at_least",
    "days_back",
    "finite_positive",
    "instant",
    "non_negative",
    "parse_instant",
    "port",
    "share",
]

_N = TypeVar("_N", int, float)


def _check(rule: str, ok: Callable[[float], bool]) -> Callable[[_N | None], _N | None]:
    def callback(value: _N | None) -> _N | None:
        if value is None:
            return None
        if not math.isfinite(value) or not ok(value):
            raise typer.BadParameter(f"{value} is not {rule}")
        return value

    return callback


#: Seconds, speeds, intervals: a finite number above 0.
finite_positive = _check("a finite number above 0", lambda v: v > 0)
#: Latencies and the like: a finite number of 0 or more.
non_negative = _check("a finite number of 0 or more", lambda v: v >= 0)
#: Fault rates: a share between 0 and 1.
share = _check("a share between 0 and 1 (0.25 means a quarter of the requests)", lambda v: 0 <= v <= 1)
#: TCP ports: 0 (any free port) to 65535.
port = _check("a port from 0 (pick a free one) to 65535", lambda v: 0 <= v <= 65535)
#: Days back from now: at least 1, and no more than a century (a date before the year 1 cannot be computed).
days_back = _check("a number of days from 1 to 36,525 (a century)", lambda v: 1 <= v <= 36_525)


def at_least(low: int) -> Callable[[int | None], int | None]:
    """Return a callback accepting whole numbers of ``low`` or more."""
    return _check(f"a whole number of {low} or more", lambda v: v >= low)


def parse_instant(text: str) -> datetime:
    """Return the instant ``text`` names: ISO 8601 (``2027-01-26T10:00+05:30``), IST when it has no offset.

    A date alone (``2027-01-26``) means that day's 09:15 IST, when the session opens.

    Raises:
        ValueError: not such an instant (the message shows the forms accepted).
    """
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(9, 15), tzinfo=IST)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an instant: write it like 2027-01-26T10:00+05:30, 2027-01-26 10:00 (IST) or 2027-01-26"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=IST)


def instant(value: str | None) -> datetime | None:
    """Typer callback: :func:`parse_instant`, refusing as a usage error (exit code 2)."""
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def addresses(value: str | None) -> tuple[str, ...]:
    """Typer callback: a comma-separated list of IP addresses, each checked (a usage error if one is not)."""
    import ipaddress

    found: list[str] = []
    for part in (value or "").split(","):
        if not part.strip():
            continue
        try:
            found.append(str(ipaddress.ip_address(part.strip())))
        except ValueError:
            raise typer.BadParameter(f"{part.strip()!r} is not an IP address (e.g. 203.0.113.7)") from None
    return tuple(found)
