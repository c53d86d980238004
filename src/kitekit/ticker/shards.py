"""Which instruments are subscribed, in which mode, on which of up to three connections (Kite's capacity)."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from kitekit.errors import TickerError
from kitekit.wire.ticks import Mode

__all__ = ["SubscriptionBook"]


class SubscriptionBook:
    """The ticker's subscriptions, spread over connections: first fit, and a token never moves once placed.

    Kite carries at most 3,000 instruments per connection and 3 connections per api_key (§15.1). Keeping
    each token on its connection means adding instruments never resubscribes the others. Thread-safe.
    """

    def __init__(self, per_connection: int = 3000, max_connections: int = 3) -> None:
        if per_connection < 1 or max_connections < 1:
            raise ValueError("a connection must carry at least one instrument, and there must be a connection")
        self.per_connection = per_connection
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._modes: dict[int, Mode] = {}
        self._shard: dict[int, int] = {}
        self._counts = [0] * max_connections

    @property
    def capacity(self) -> int:
        """Return the most instruments all connections together carry."""
        return self.per_connection * self.max_connections

    def modes(self) -> dict[int, Mode]:
        """Return every subscribed token and its mode."""
        with self._lock:
            return dict(self._modes)

    def __len__(self) -> int:
        with self._lock:
            return len(self._modes)

    def want(self, shard: int) -> dict[int, Mode]:
        """Return the tokens (and modes) connection ``shard`` carries."""
        with self._lock:
            return {t: m for t, m in self._modes.items() if self._shard[t] == shard}

    def shards(self) -> list[int]:
        """Return the connections in use: the first always (it carries order updates), others when they hold tokens."""
        with self._lock:
            return [i for i, n in enumerate(self._counts) if i == 0 or n]

    def add(self, tokens: Iterable[int], mode: Mode) -> list[int]:
        """Subscribe ``tokens`` in ``mode`` (re-moding those already subscribed); return the new ones.

        Raises:
            TickerError: the new tokens do not fit the connections left; nothing is changed then.
        """
        with self._lock:
            wanted = list(dict.fromkeys(tokens))
            new = [t for t in wanted if t not in self._modes]
            room = self.capacity - len(self._modes)
            if len(new) > room:
                raise TickerError(
                    f"{len(new):,} more instruments do not fit: Kite carries {self.per_connection:,} per connection "
                    f"and {self.max_connections} connections per api_key ({self.capacity:,} in all); "
                    f"{len(self._modes):,} are subscribed, so {room:,} more fit. Unsubscribe some first."
                )
            shard = 0
            for token in new:
                while self._counts[shard] >= self.per_connection:
                    shard += 1
                self._shard[token] = shard
                self._counts[shard] += 1
            for token in wanted:
                self._modes[token] = mode
            return new

    def remove(self, tokens: Iterable[int]) -> list[int]:
        """Unsubscribe ``tokens``; return those that were subscribed."""
        with self._lock:
            gone = [t for t in dict.fromkeys(tokens) if t in self._modes]
            for token in gone:
                del self._modes[token]
                self._counts[self._shard.pop(token)] -= 1
            return gone

    def set_mode(self, tokens: Iterable[int], mode: Mode) -> None:
        """Change the mode of subscribed ``tokens``.

        Raises:
            TickerError: a token is not subscribed (nothing is changed then).
        """
        with self._lock:
            wanted = list(dict.fromkeys(tokens))
            missing = [t for t in wanted if t not in self._modes]
            if missing:
                raise TickerError(f"not subscribed, so no mode to set: {missing[:5]}; subscribe them first")
            for token in wanted:
                self._modes[token] = mode
