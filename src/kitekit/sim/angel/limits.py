"""Angel's rate limits as the simulator enforces them: per client code and endpoint, per second, minute and hour.

Each window counts requests in the last 1, 60 or 3600 seconds of wall time (monotonic), as a sliding log; a
request past any cap is refused and not counted. Limits come from :data:`kitekit.wire.angel.routes.RATE_LIMITS`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from kitekit.wire.angel.routes import RATE_LIMITS, RateLimit, Route

__all__ = ["AngelLimiter"]


class AngelLimiter:
    """Sliding-window counters per (client code or address, route); thread-safe."""

    def __init__(
        self, limits: dict[Route, RateLimit] | None = None, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = dict(RATE_LIMITS if limits is None else limits)
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, Route], deque[float]] = {}
        #: Requests refused, by route.
        self.refused: dict[Route, int] = {}

    def allow(self, who: str, route: Route) -> bool:
        """Count a request by ``who`` to ``route``; return False (and count nothing) if a cap is reached."""
        limit = self.limits.get(route)
        if limit is None:
            return True
        now = self._monotonic()
        with self._lock:
            seen = self._seen.setdefault((who, route), deque())
            longest = max(window for window, _ in limit.windows())
            while seen and now - seen[0] >= longest:
                seen.popleft()
            for window, cap in limit.windows():
                # The log is oldest first: count back from the newest until one falls outside the window.
                for inside, stamp in enumerate(reversed(seen), start=1):
                    if now - stamp >= window:
                        break
                    if inside >= cap:
                        self.refused[route] = self.refused.get(route, 0) + 1
                        return False
            seen.append(now)
            return True
