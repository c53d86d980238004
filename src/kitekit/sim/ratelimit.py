"""Kite's rate limits (``docs/protocol.md`` §14): per api_key and endpoint class (GCRA), and per-user order caps
(10 a calendar second, 400 a minute, 5,000 a day on the simulator's clock)."""

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
    """Caps on the orders one user places per calendar second, clock minute and trading day (Kite: 10, 400, 5,000).

    Windows follow the simulator's clock (the market's time, the one its ``Date`` header tells) in IST: a
    second's or a minute's block lasts until it rolls over, as on Kite, and the day's count restarts at
    midnight. A request counts once against the second; against the minute and the day each iceberg leg
    counts (``count``). A refused placement does not count.
    """

    def __init__(self, per_minute: int, per_day: int, per_second: int = 10) -> None:
        self.per_second = per_second
        self.per_minute = per_minute
        self.per_day = per_day
        self._lock = threading.Lock()
        self._second: dict[str, tuple[int, int]] = {}
        self._minute: dict[str, tuple[datetime, int]] = {}
        self._day: dict[str, tuple[date, int]] = {}
        self.rejected = 0

    def allow(self, user_id: str, now: datetime, count: int = 1) -> bool:
        """Count ``count`` orders for ``user_id`` at ``now`` and return True, or return False if over a cap."""
        local = now.astimezone(IST)
        second, minute, day = math.floor(now.timestamp()), local.replace(second=0, microsecond=0), local.date()
        with self._lock:
            at_second, in_second = self._second.get(user_id, (second, 0))
            at, in_minute = self._minute.get(user_id, (minute, 0))
            on, in_day = self._day.get(user_id, (day, 0))
            in_second = in_second if at_second == second else 0
            in_minute = in_minute if at == minute else 0
            in_day = in_day if on == day else 0
            over = in_second + 1 > self.per_second or in_minute + count > self.per_minute
            if over or in_day + count > self.per_day:
                self.rejected += 1
                return False
            self._second[user_id] = (second, in_second + 1)
            self._minute[user_id] = (minute, in_minute + count)
            self._day[user_id] = (day, in_day + count)
            return True

    def reset(self) -> None:
        """Forget all counts (an admin action)."""
        with self._lock:
            self._second.clear()
            self._minute.clear()
            self._day.clear()
