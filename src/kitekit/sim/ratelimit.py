"""Per-api_key, per-endpoint-class rate limits as Kite enforces them (``docs/protocol.md`` §14), GCRA style."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping

from kitekit.wire.routes import EndpointClass

__all__ = ["RateLimiter"]


class RateLimiter:
    """Allows ``rate`` requests per second per (api_key, class), with bursts of up to ``ceil(rate)``.

    A request may arrive up to ``tolerance`` of an interval early, which absorbs network jitter for clients
    that pace exactly at the limit. Time is monotonic and injectable.
    """

    def __init__(
        self,
        rates: Mapping[EndpointClass, float],
        tolerance: float = 0.1,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rates = dict(rates)
        self.tolerance = tolerance
        self._monotonic = monotonic
        self._tat: dict[tuple[str, EndpointClass], float] = {}
        self._lock = threading.Lock()
        self.rejected = 0

    def allow(self, api_key: str, cls: EndpointClass) -> bool:
        """Record a request and return False if it is over the limit."""
        rate = self.rates.get(cls)
        if not rate:
            return True
        interval = 1.0 / rate
        burst = max(1, math.ceil(rate))
        slack = (burst - 1) * interval + self.tolerance * interval
        now = self._monotonic()
        with self._lock:
            tat = self._tat.get((api_key, cls), now)
            if now < tat - slack:
                self.rejected += 1
                return False
            self._tat[(api_key, cls)] = max(tat, now) + interval
            return True

    def reset(self) -> None:
        """Forget all history (an admin action)."""
        with self._lock:
            self._tat.clear()
