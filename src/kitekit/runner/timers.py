"""A strategy's clock: the run's time, and timers (``every``, ``at`` a time of day in IST) fired by the run loop.

The loop asks :meth:`StrategyClock.due` at every event with the run's time (a backtest's simulated time, the
market's on paper and live), so a timer fires the same way in every mode: at the first event at or after its
moment, with ``now`` set to that moment.
"""

from __future__ import annotations

import heapq
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from kitekit.clock import IST, Clock

__all__ = ["StrategyClock", "Timer", "parse_every", "parse_time_of_day"]

_SPAN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, None: 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_every(value: timedelta | float | str) -> timedelta:
    """Return a timer's period: a timedelta, seconds, or text such as ``"30s"``, ``"5m"``, ``"1h"``.

    Raises:
        ValueError: not a positive span.
    """
    if isinstance(value, timedelta):
        span = value
    elif isinstance(value, int | float):
        span = timedelta(seconds=float(value))
    else:
        match = _SPAN.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a span: write it like 30s, 5m or 1h")
        span = timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])
    if span <= timedelta(0):
        raise ValueError(f"a timer's period must be above zero, got {value!r}")
    return span


def parse_time_of_day(value: time | str) -> time:
    """Return a time of day (IST): a ``time`` or text such as ``"15:10"`` or ``"09:20:30"``.

    Raises:
        ValueError: not a time of day.
    """
    if isinstance(value, time):
        return value
    try:
        return time.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a time of day: write it like 15:10 or 09:20:30 (IST)") from None


@dataclass(order=True)
class Timer:
    """A timer a strategy set: its next moment, and how it repeats (``every``) or at what time of day (``at``)."""

    due: datetime
    number: int
    name: str = field(compare=False)
    every: timedelta | None = field(default=None, compare=False)
    at: time | None = field(default=None, compare=False)
    callback: Callable[[Timer], object] | None = field(default=None, compare=False, repr=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        """Stop the timer: it does not fire again."""
        self.cancelled = True


class StrategyClock:
    """The run's time (``now()``) and the strategy's timers.

    Args:
        clock: the run's clock (simulated in a backtest, the market's on paper and live).
        on_change: called with a new timer's moment (the run loop looks at timers only when one is due).
    """

    def __init__(self, clock: Clock, on_change: Callable[[datetime], object] | None = None) -> None:
        self._clock = clock
        self._on_change = on_change
        self._heap: list[Timer] = []
        self._numbers = itertools.count()
        #: The moment of the earliest timer (None when there is none): the loop compares against it alone.
        self.next_due: datetime | None = None

    def now(self) -> datetime:
        """Return the run's current time (aware, IST)."""
        return self._clock.now()

    def today(self) -> datetime:
        """Return today's midnight (IST) by the run's clock."""
        return datetime.combine(self.now().astimezone(IST).date(), time(0), tzinfo=IST)

    def every(
        self,
        period: timedelta | float | str,
        callback: Callable[[Timer], object] | None = None,
        *,
        name: str | None = None,
        start: datetime | None = None,
    ) -> Timer:
        """Fire every ``period`` from now (or ``start``): ``callback(timer)``, or the strategy's ``on_timer``.

        Raises:
            ValueError: ``period`` is not a positive span.
        """
        span = parse_every(period)
        first = start if start is not None else self.now() + span
        return self._add(Timer(first, next(self._numbers), name or f"every {span}", every=span, callback=callback))

    def at(
        self, when: time | str, callback: Callable[[Timer], object] | None = None, *, name: str | None = None
    ) -> Timer:
        """Fire every day at ``when`` (IST), the next one first: ``callback(timer)``, or ``on_timer``.

        Raises:
            ValueError: ``when`` is not a time of day.
        """
        moment = parse_time_of_day(when)
        return self._add(Timer(self._next_at(moment, self.now()), next(self._numbers), name or f"at {moment}",
                               at=moment, callback=callback))  # fmt: skip

    def cancel_all(self) -> None:
        """Stop every timer."""
        self._heap.clear()
        self.next_due = None

    def due(self, now: datetime) -> list[Timer]:
        """Return the timers due at ``now`` in the order they fell due, and schedule each one's next moment.

        A repeating timer that missed several periods (a gap in the data) fires once, then goes on from ``now``.
        A time-of-day timer whose day passed with no event (a holiday, a night) is skipped to its next day: a
        15:10 square-off must not fire at the next morning's open.
        """
        fired: list[Timer] = []
        heap = self._heap
        while heap and heap[0].due <= now:
            timer = heapq.heappop(heap)
            if timer.cancelled:
                continue
            if timer.at is None or timer.due.astimezone(IST).date() == now.astimezone(IST).date():
                fired.append(timer)
            if timer.every is not None:
                following = timer.due + timer.every
                if following <= now:
                    following = now + timer.every
                timer.due = following
            elif timer.at is not None:
                timer.due = self._next_at(timer.at, now)
            heapq.heappush(heap, timer)
        self.next_due = heap[0].due if heap else None
        return fired

    def _add(self, timer: Timer) -> Timer:
        heapq.heappush(self._heap, timer)
        self.next_due = self._heap[0].due
        if self._on_change is not None:
            self._on_change(timer.due)
        return timer

    @staticmethod
    def _next_at(moment: time, now: datetime) -> datetime:
        local = now.astimezone(IST)
        candidate = datetime.combine(local.date(), moment, tzinfo=IST)
        return candidate if candidate > local else candidate + timedelta(days=1)
