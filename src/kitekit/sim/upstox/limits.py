"""Upstox's rate limits on the simulator: per user and API, per second, per minute and per 30 minutes.

Windows slide over monotonic wall time (injectable): a request is refused (429 UDAPI10005) when any window
already holds its limit; a refused request does not count.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from kitekit.wire.upstox.routes import Limit, LimitClass

__all__ = ["WindowLimiter"]


class WindowLimiter:
    """Sliding-window limits keyed by (user, API)."""

    def __init__(self, limits: Mapping[LimitClass, Limit], monotonic: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], deque[float]] = {}
        self.rejected = 0

    def allow(self, user: str, api: str, cls: LimitClass) -> bool:
        """Record a request of ``user`` to ``api`` and return True, or return False when it is over a limit."""
        limit = self.limits[cls]
        now = self._monotonic()
        with self._lock:
            seen = self._seen.setdefault((user, api), deque())
            longest = max(w for w, _ in limit.windows())
            while seen and seen[0] <= now - longest:
                seen.popleft()
            for window, allowed in limit.windows():
                # Count from the newest end: the short windows look at a few entries only.
                for count, stamp in enumerate(reversed(seen), start=1):
                    if stamp <= now - window:
                        break
                    if count >= allowed:
                        self.rejected += 1
                        return False
            seen.append(now)
            return True

    def reset(self) -> None:
        """Forget every request (an admin action)."""
        with self._lock:
            self._seen.clear()
