"""Kite's rate limits (``docs/protocol.md`` §14): per api_key and endpoint class (GCRA), and per-user order caps."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime

from kitekit.clock import IST
from kitekit.wire.routes import EndpointClass

__all__ = ["OrderCaps", "RateLimiter"]


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


class OrderCaps:
    """Caps on the orders one user places per clock minute and per trading day (Kite: 400 and 5,000).

    Windows follow the simulator's clock (the market's time) in IST: a minute's block lasts until the minute
    rolls over, as on Kite, and the day's count restarts at midnight. A refused placement does not count.
    """

    def __init__(self, per_minute: int, per_day: int) -> None:
        self.per_minute = per_minute
        self.per_day = per_day
        self._lock = threading.Lock()
        self._minute: dict[str, tuple[datetime, int]] = {}
        self._day: dict[str, tuple[date, int]] = {}
        self.rejected = 0

    def allow(self, user_id: str, now: datetime, count: int = 1) -> bool:
        """Count ``count`` orders for ``user_id`` at ``now`` and return True, or return False if over a cap."""
        local = now.astimezone(IST)
        minute, day = local.replace(second=0, microsecond=0), local.date()
        with self._lock:
            at, in_minute = self._minute.get(user_id, (minute, 0))
            on, in_day = self._day.get(user_id, (day, 0))
            in_minute = in_minute if at == minute else 0
            in_day = in_day if on == day else 0
            if in_minute + count > self.per_minute or in_day + count > self.per_day:
                self.rejected += 1
                return False
            self._minute[user_id] = (minute, in_minute + count)
            self._day[user_id] = (day, in_day + count)
            return True

    def reset(self) -> None:
        """Forget all counts (an admin action)."""
        with self._lock:
            self._minute.clear()
            self._day.clear()
