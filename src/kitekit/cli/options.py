"""Option validators shared by commands: numbers that must be finite, positive, in range, or a share of 1.

click's ranges let ``nan`` through (every comparison with NaN is false) and say nothing of infinity, so each
numeric option goes through one of these callbacks and fails as a usage error (exit code 2) with the rule.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TypeVar

import typer

__all__ = ["at_least", "days_back", "finite_positive", "non_negative", "port", "share"]

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
