"""The server's clock as the client can know it: bounds on its offset from the local clock, learned from ``Date``.

Kite counts orders per calendar second of its own clock (10 a second since April 2026), and a local clock is
off by some fraction of a second or more: ten orders the client sends within one of its own seconds can
straddle two of Kite's, and ten it spreads evenly can still land eleven in one. Every answer carries the
server's time in its ``Date`` header, to the whole second. An answer dated ``D`` to a request sent at local
time ``s`` and answered at ``r`` was dated somewhere in between, so the offset (server minus local) lies in
``[D - r, D + 1 - s)``. Each answer narrows the interval; answers that straddle a second's boundary narrow it
to a few milliseconds on a quick link. An answer that contradicts the interval (the server's clock was set,
the local one stepped, a simulator runs faster than real time) starts it afresh.
"""

from __future__ import annotations

import math
import threading
from email.utils import parsedate_to_datetime

__all__ = ["ServerClock", "parse_date"]


def parse_date(value: str | None) -> float | None:
    """Return an HTTP ``Date`` header as seconds since the epoch, or None when there is none or it is unreadable."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None  # "-0000": no zone given, so no instant
    stamp = moment.timestamp()
    return stamp if math.isfinite(stamp) else None


class ServerClock:
    """Bounds on one server's clock offset (server time minus local time, in seconds), from its answers' dates."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._low = -math.inf
        self._high = math.inf
        #: How many answers narrowed the current interval (a restart counts as one).
        self.observations = 0
        #: How many times an answer contradicted the interval and started it afresh.
        self.restarts = 0

    def observe(self, date: float, sent: float, received: float) -> None:
        """Take an answer dated ``date`` (whole seconds) to a request sent at ``sent`` and answered at ``received``.

        ``sent`` and ``received`` are local times in seconds since the epoch, ``received`` not before ``sent``.
        """
        low, high = date - received, date + 1.0 - sent
        with self._lock:
            if low >= self._high or high <= self._low:
                # The server's clock moved (or the local one did): what was learned no longer holds.
                self._low, self._high = low, high
                self.restarts += 1
                self.observations = 1
                return
            self._low, self._high = max(self._low, low), min(self._high, high)
            self.observations += 1

    def bounds(self) -> tuple[float, float] | None:
        """Return ``(low, high)``: the offset is at least ``low`` and less than ``high``; None before any answer."""
        with self._lock:
            if not math.isfinite(self._low) or not math.isfinite(self._high):
                return None
            return self._low, self._high

    def __repr__(self) -> str:
        found = self.bounds()
        if found is None:
            return "ServerClock(unknown)"
        return f"ServerClock(offset {found[0]:+.3f}..{found[1]:+.3f}s, {self.observations} answers)"
