"""Time sources: every piece of kitekit reads "now" through a :class:`Clock` so tests can move time.

All datetimes are timezone-aware; market logic works in Asia/Kolkata (IST).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable
from zoneinfo import ZoneInfo

__all__ = ["IST", "Clock", "ManualClock", "SystemClock", "VirtualClock", "ensure_aware"]

IST = ZoneInfo("Asia/Kolkata")


@runtime_checkable
class Clock(Protocol):
    """Anything that can tell the current, timezone-aware time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware."""
        ...


def ensure_aware(moment: datetime) -> datetime:
    """Return ``moment`` unchanged if aware; raise ``ValueError`` for a naive datetime.

    Naive datetimes are ambiguous across the client's machine and IST, so we refuse them instead of guessing.
    """
    if moment.tzinfo is None or moment.tzinfo.utcoffset(moment) is None:
        raise ValueError(f"naive datetime {moment.isoformat()} given; attach a timezone (e.g. kitekit.clock.IST)")
    return moment


class SystemClock:
    """The machine's wall clock, expressed in IST."""

    def now(self) -> datetime:
        """Return the current wall-clock time in IST."""
        return datetime.now(IST)


class ManualClock:
    """A clock that only moves when told to; thread-safe. Used by tests and replays."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_aware(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the clock's current time."""
        with self._lock:
            return self._now

    def set(self, moment: datetime) -> None:
        """Jump to ``moment`` (aware)."""
        with self._lock:
            self._now = ensure_aware(moment)

    def advance(self, delta: timedelta | float) -> datetime:
        """Move forward by ``delta`` (a timedelta or seconds) and return the new time."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        with self._lock:
            self._now = self._now + step
            return self._now


class VirtualClock:
    """A clock that starts at ``start`` and runs ``speed`` times faster than real time.

    Elapsed time is measured on a monotonic source, so wall-clock adjustments do not make it jump.
    """

    def __init__(
        self,
        start: datetime,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self.start = ensure_aware(start)
        self.speed = speed
        self._monotonic = monotonic
        self._origin = monotonic()

    def now(self) -> datetime:
        """Return ``start`` plus the real time elapsed since creation, times ``speed``."""
        return self.start + timedelta(seconds=(self._monotonic() - self._origin) * self.speed)
