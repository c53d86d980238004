"""Time sources: every piece of kitekit reads "now" through a :class:`Clock` so tests can move time.

All datetimes are timezone-aware; market logic works in Asia/Kolkata (IST).

One clock: a client bound to a simulator tells the simulator's market time, and everything built on that
client (history, orders, monitors, tickers, recorders) reads it through :func:`clock_of`, so nothing mixes the
simulated session with the wall clock. Against Kite it is IST wall time. Whoever builds the client binds its
clock (:func:`bind_clock`): the session manager does, with the clock it was given.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from zoneinfo import ZoneInfo

__all__ = [
    "IST",
    "Clock",
    "ManualClock",
    "SystemClock",
    "VirtualClock",
    "bind_clock",
    "clock_of",
    "ensure_aware",
    "wall_shift",
]

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


def wall_shift() -> float:
    """Return the seconds ``KITEKIT_NOW`` moves the wall clock by (0.0 when it is not set).

    ``KITEKIT_NOW`` (an ISO instant with its offset) is for development: ``./dev test-at`` runs the test suite as
    if the wall clock showed that instant when it started. The instant is tied to the real moment it was first
    read (``KITEKIT_NOW_AT``, real seconds since the epoch, set on first use and inherited by every process this
    one starts), so all processes of a run tell the same time and it runs on from there.

    Raises:
        ValueError: ``KITEKIT_NOW`` is not an aware ISO instant.
    """
    given = os.environ.get("KITEKIT_NOW")
    if not given:
        return 0.0
    since = os.environ.get("KITEKIT_NOW_AT")
    if not since:
        since = repr(time.time())
        os.environ["KITEKIT_NOW_AT"] = since  # children started from here share the same origin
    cached = _shift.get((given, since))
    if cached is None:
        moment = datetime.fromisoformat(given)
        if moment.tzinfo is None:
            raise ValueError(f"KITEKIT_NOW={given!r} has no UTC offset; write it like 2027-01-26T10:00+05:30")
        cached = _shift[given, since] = moment.timestamp() - float(since)
    return cached


_shift: dict[tuple[str, str], float] = {}


class SystemClock:
    """The machine's wall clock, expressed in IST (moved by ``KITEKIT_NOW`` in development: :func:`wall_shift`)."""

    def now(self) -> datetime:
        """Return the current wall-clock time in IST."""
        shift = wall_shift()
        now = datetime.now(IST)
        return now + timedelta(seconds=shift) if shift else now


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


# Keyed by the client object itself and gone with it; a KiteConnect cannot carry an attribute of ours without
# monkey-patching it.
_BOUND: weakref.WeakKeyDictionary[Any, Clock] = weakref.WeakKeyDictionary()


def bind_clock(client: Any, clock: Clock) -> None:
    """Make ``clock`` the time of everything built on ``client`` (see the module docstring)."""
    _BOUND[client] = clock


def clock_of(client: Any) -> Clock:
    """Return the clock bound to ``client`` (or to ``client.kite``), else the wall clock in IST."""
    for candidate in (client, getattr(client, "kite", None)):
        if candidate is None:
            continue
        try:
            bound = _BOUND.get(candidate)
        except TypeError:  # not weak-referenceable: nothing can have been bound to it
            bound = None
        if bound is not None:
            return bound
    return SystemClock()
