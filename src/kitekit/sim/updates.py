"""Order updates inside the simulator: the exchange publishes each change, every listener of that user gets it.

The exchange (REST order routes) publishes an order's postback-shaped payload whenever its state changes; the
WebSocket feed subscribes per connection and sends each as a ``{"type": "order", "data": …}`` text frame; the
postback sender taps every user's updates (:attr:`OrderUpdates.taps`).
Publishing never blocks and never fails: a listener that falls behind loses its oldest updates, counted in
``dropped``, rather than slowing the order routes down.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["OrderUpdates", "Subscription"]


@dataclass(eq=False)
class Subscription:
    """One listener's queue of a user's updates; ``wake`` is called after each one is queued."""

    user_id: str
    wake: Callable[[], None] | None = None
    limit: int = 10_000
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    dropped: int = 0

    def take(self) -> list[dict[str, Any]]:
        """Return the queued updates, oldest first, and empty the queue."""
        taken = []
        while self.queue:
            taken.append(self.queue.popleft())
        return taken


class OrderUpdates:
    """A thread-safe publish/subscribe hub of order updates, per user id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscriptions: list[Subscription] = []
        #: Every update published, by user id (for tests and ``/__sim`` counters).
        self.published: dict[str, int] = {}
        #: Called with (user_id, update) for every update of every user, after the listeners are queued: the
        #: postback sender. A tap must return at once (it runs on the exchange's thread, under its lock).
        self.taps: list[Callable[[str, dict[str, Any]], None]] = []

    def subscribe(self, user_id: str, wake: Callable[[], None] | None = None) -> Subscription:
        """Start receiving ``user_id``'s updates; ``wake`` runs (from the publishing thread) after each one."""
        sub = Subscription(user_id, wake)
        with self._lock:
            self._subscriptions.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        """Stop a subscription (idempotent)."""
        with self._lock:
            if sub in self._subscriptions:
                self._subscriptions.remove(sub)

    def publish(self, user_id: str, update: dict[str, Any]) -> None:
        """Queue ``update`` for every listener of ``user_id``."""
        with self._lock:
            self.published[user_id] = self.published.get(user_id, 0) + 1
            listeners = [s for s in self._subscriptions if s.user_id == user_id]
            for sub in listeners:
                if len(sub.queue) >= sub.limit:
                    sub.queue.popleft()
                    sub.dropped += 1
                sub.queue.append(update)
        for sub in listeners:
            if sub.wake is not None:
                sub.wake()
        for tap in self.taps:
            tap(user_id, update)
