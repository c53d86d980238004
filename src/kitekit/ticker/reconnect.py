"""When to reconnect and when a link is dead: exponential backoff with jitter, and the silence watchdog."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "Watchdog"]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: ``first * factor ** (attempt - 1)``, capped, then spread by ``jitter``.

    The jitter keeps a crowd of clients that lost the same server from coming back in one burst. Defaults:
    0.5 s, 1 s, 2 s, 4 s… up to 30 s, each ±25%.
    """

    first: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if not (self.first > 0 and self.factor >= 1 and self.cap >= self.first and 0 <= self.jitter < 1):
            raise ValueError("backoff needs first > 0, factor >= 1, cap >= first and 0 <= jitter < 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Return the seconds to wait before reconnect attempt ``attempt`` (1 for the first)."""
        base = min(self.cap, self.first * self.factor ** max(attempt - 1, 0))
        spread = (rng or _RNG).uniform(-self.jitter, self.jitter)
        return min(self.cap, base * (1 + spread))


_RNG = random.Random()  # noqa: S311 - jitter, not cryptography


class Watchdog:
    """Declares a link dead after ``timeout`` seconds with no frame at all (data or heartbeat).

    Kite sends a 1-byte heartbeat every idle second (§15.7), so five silent seconds mean a dead path that
    TCP may take minutes to notice. ``monotonic`` is injectable so tests move time themselves.
    """

    def __init__(self, timeout: float = 5.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        if not timeout > 0:
            raise ValueError(f"the watchdog's timeout must be above 0, got {timeout}")
        self.timeout = timeout
        self.monotonic = monotonic
        self.last = monotonic()

    def feed(self) -> None:
        """Note that a frame arrived now."""
        self.last = self.monotonic()

    def silent_for(self) -> float:
        """Return the seconds since the last frame."""
        return self.monotonic() - self.last

    def dead(self) -> bool:
        """Return True once the link has been silent for longer than the timeout."""
        return self.silent_for() > self.timeout
