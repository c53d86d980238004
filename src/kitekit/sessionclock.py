"""The simulated market's clock: time that runs through trading sessions only, rolling to the next one at the close.

A simulator that followed the wall clock would sit frozen outside 09:15–15:30 IST, most of the day and all
weekend. A :class:`SessionClock` instead lets wall time flow through sessions only: when it reaches a session's
close it goes on at the next trading day's open, skipping nights, weekends and holidays. It is a pure function
of the wall clock and three numbers (where it was anchored, when, and its speed), so every process that knows
them (the simulator, each CLI command on the same simulated world, a client reading them from the simulator)
tells the same time without talking to each other.

An anchor outside a session (``kitekit sim --at "2027-01-26T05:59+05:30"``) runs at ``speed`` like any other
time until the next open; from then on sessions roll as above. So an off-hours instant can be pinned and
watched (a token flush at 06:00, the 08:30 dump) and the market still opens after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kitekit.clock import IST, Clock, ManualClock, SystemClock, ensure_aware
from kitekit.markethours import SESSION_SECONDS, TradingCalendar

__all__ = ["SessionClock", "advance_in_sessions", "clock_from_description", "describe_clock"]


def advance_in_sessions(calendar: TradingCalendar, start: datetime, seconds: float) -> datetime:
    """Return the moment ``seconds`` of running time after ``start``, where time between sessions is skipped.

    Outside a session (only an anchor can be there) time runs normally until the next open. Inside one it
    runs to the close and goes on at the next trading day's 09:15. The result is in IST.
    """
    t = ensure_aware(start).astimezone(IST)
    left = max(0.0, float(seconds))
    open_, close = calendar.session_open(t.date()), calendar.session_close(t.date())
    if not (calendar.is_trading_day(t.date()) and open_ <= t < close):
        nxt = calendar.session_open(calendar.next(t.date()) if t >= open_ else calendar.on_or_after(t.date()))
        gap = (nxt - t).total_seconds()
        if left < gap:
            return t + timedelta(seconds=left)
        left -= gap
        t = nxt
    room = (calendar.session_close(t.date()) - t).total_seconds()
    if left < room:
        return t + timedelta(seconds=left)
    left -= room
    # Whole sessions at once, then the rest into the session after them: years take no longer than minutes.
    days, rest = divmod(left, SESSION_SECONDS)
    day = calendar.from_ordinal(calendar.ordinal(t.date()) + 1 + int(days))
    return calendar.session_open(day) + timedelta(seconds=rest)


@dataclass(frozen=True)
class SessionClock:
    """Market time that runs ``speed`` times as fast as ``wall`` through sessions only (see the module docstring).

    Attributes:
        anchor: the market time at ``wall_anchor``.
        wall_anchor: the wall-clock moment the anchor was taken.
        speed: market seconds per wall second (positive).
        wall: the wall clock it follows.
    """

    anchor: datetime
    wall_anchor: datetime
    speed: float = 1.0
    wall: Clock = field(default_factory=SystemClock, compare=False)
    calendar: TradingCalendar = field(default_factory=TradingCalendar, compare=False, repr=False)

    def __post_init__(self) -> None:
        ensure_aware(self.anchor)
        ensure_aware(self.wall_anchor)
        if not self.speed > 0:
            raise ValueError(f"speed must be positive, got {self.speed}")

    def now(self) -> datetime:
        """Return the market time now (IST)."""
        return self.at(self.wall.now())

    def at(self, wall_time: datetime) -> datetime:
        """Return the market time at wall time ``wall_time`` (never before the anchor)."""
        elapsed = (ensure_aware(wall_time) - self.wall_anchor).total_seconds() * self.speed
        return advance_in_sessions(self.calendar, self.anchor, elapsed)

    def reanchored(self, speed: float | None = None) -> SessionClock:
        """Return the same clock anchored at this moment, optionally at another ``speed`` (no jump in time)."""
        wall_now = self.wall.now()
        return SessionClock(
            self.at(wall_now), wall_now, self.speed if speed is None else speed, self.wall, self.calendar
        )


def describe_clock(clock: Clock) -> dict[str, Any]:
    """Return how a simulator's clock runs, for clients to tell the same time (``GET /__sim/clock``).

    ``sessions``: a :class:`SessionClock` with its anchor and speed (or a clock whose ``current()`` is one, as a
    simulated world's); ``wall``: the wall clock; ``fixed``: any other clock (a test's
    :class:`~kitekit.clock.ManualClock`), given as the moment it shows now.
    """
    current = getattr(clock, "current", None)
    if callable(current):
        clock = current()
    now = clock.now().isoformat()
    if isinstance(clock, SessionClock):
        return {
            "mode": "sessions",
            "now": now,
            "anchor": clock.anchor.isoformat(),
            "wall_anchor": clock.wall_anchor.isoformat(),
            "speed": clock.speed,
        }
    return {"mode": "wall" if isinstance(clock, SystemClock) else "fixed", "now": now}


def clock_from_description(description: Mapping[str, Any], wall: Clock | None = None) -> Clock:
    """Return a clock telling the time a :func:`describe_clock` answer describes, computed here from then on.

    A ``fixed`` clock stays at the moment it was described (a test moves its simulator's clock between commands).

    Raises:
        ValueError: not such a description.
    """
    wall = wall or SystemClock()
    mode = description.get("mode")
    try:
        if mode == "sessions":
            return SessionClock(
                datetime.fromisoformat(str(description["anchor"])),
                datetime.fromisoformat(str(description["wall_anchor"])),
                float(description["speed"]),
                wall,
            )
        if mode == "wall":
            return wall
        if mode == "fixed":
            return ManualClock(datetime.fromisoformat(str(description["now"])))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"a clock description without its {exc}") from None
    raise ValueError(f"unknown clock mode {mode!r}")
