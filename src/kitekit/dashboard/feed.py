"""The dashboard's view of the market feed: the newest tick of each instrument, coalesced, and the feed's health.

The ticker's thread writes here (:meth:`TickBoard.on_ticks`); the page's push loop reads (:meth:`TickBoard.since`).
Only the newest tick of each instrument is kept, numbered by a sequence, so a reader that comes back after any
number of ticks gets one entry per instrument that changed since its last visit: 3,000 instruments ticking every
second cost each page at most the instruments it shows, however far behind it was.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from kitekit.clock import Clock, SystemClock
from kitekit.wire.ticks import TickColumns

__all__ = ["STALL_SECONDS", "LatestTick", "TickBoard"]

#: A gap this long between tick batches, while connected, counts as a stall (the ticker's own watchdog default).
STALL_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class LatestTick:
    """The newest tick of one instrument: its price, OI and volume, when it was received, and its sequence."""

    seq: int
    last_price: float
    oi: int
    volume: int
    #: The exchange's timestamp of the tick, UTC epoch seconds (when it was received, by the market's clock, for a
    #: packet that carries none).
    exchange_ts: float

    def as_json(self) -> dict[str, Any]:
        """Return the tick as the page reads it."""
        return {"ltp": self.last_price, "oi": self.oi, "volume": self.volume, "ts": self.exchange_ts}


class TickBoard:
    """The newest tick per instrument token and the feed's counters (thread-safe).

    Args:
        monotonic: the time source of ages and rates (seconds).
        clock: the market's clock, which stamps ticks that carry no exchange time (``ltp`` and ``quote`` mode).
    """

    def __init__(self, monotonic: Callable[[], float] = time.monotonic, clock: Clock | None = None) -> None:
        self.monotonic = monotonic
        self.clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._latest: dict[int, LatestTick] = {}
        self._seq = 0
        self.ticks = 0
        self.stalls = 0
        self._last_at: float | None = None
        self._rate: deque[tuple[int, int]] = deque(maxlen=6)  # (whole second, ticks in it)

    @property
    def seq(self) -> int:
        """Return the sequence of the newest tick (0 before the first)."""
        return self._seq

    def on_ticks(self, ticks: TickColumns | Iterable[Mapping[str, Any]]) -> None:
        """Take a batch of ticks from the ticker: columns or the SDK's tick dicts."""
        rows: Iterable[tuple[int, float, int, int, float]]
        if isinstance(ticks, TickColumns):
            stamps = ticks.exchange_timestamp.astype("datetime64[s]").astype(np.int64)
            stamps = np.where(np.isnat(ticks.exchange_timestamp), 0, stamps)
            rows = zip(
                ticks.instrument_token.tolist(),
                ticks.last_price.tolist(),
                ticks.oi.tolist(),
                ticks.volume_traded.tolist(),
                stamps.tolist(),
                strict=True,
            )
        else:
            rows = ((int(t["instrument_token"]), float(t.get("last_price") or 0.0), int(t.get("oi") or 0),
                     int(t.get("volume_traded") or 0), _epoch(t.get("exchange_timestamp"))) for t in ticks)  # fmt: skip
        now = self.monotonic()
        received = self.clock.now().timestamp()
        with self._lock:
            seq, latest, count = self._seq, self._latest, 0
            for token, price, oi, volume, stamp in rows:
                seq += 1
                count += 1
                latest[token] = LatestTick(seq, price, oi, volume, float(stamp) or received)
            self._seq = seq
            self.ticks += count
            if self._last_at is not None and now - self._last_at > STALL_SECONDS:
                self.stalls += 1
            self._last_at = now
            second = int(now)
            if self._rate and self._rate[-1][0] == second:
                self._rate[-1] = (second, self._rate[-1][1] + count)
            else:
                self._rate.append((second, count))

    def since(self, seq: int, tokens: Iterable[int]) -> dict[int, LatestTick]:
        """Return the newest tick of each of ``tokens`` that changed after ``seq`` (one entry per instrument)."""
        with self._lock:
            latest = self._latest
            return {t: tick for t in tokens if (tick := latest.get(t)) is not None and tick.seq > seq}

    def latest(self, token: int) -> LatestTick | None:
        """Return the newest tick of ``token``, None before its first."""
        with self._lock:
            return self._latest.get(token)

    def health(self) -> dict[str, Any]:
        """Return the counters the overview shows: ticks, ticks per second, age of the last tick, stalls."""
        now = self.monotonic()
        with self._lock:
            last = self._last_at
            # Ticks per second over the last whole seconds (the one still running is left out).
            done = [(s, n) for s, n in self._rate if s < int(now) and s >= int(now) - 5]
            rate = sum(n for _, n in done) / 5.0 if done else 0.0
            return {
                "ticks": self.ticks,
                "ticks_per_second": rate,
                "last_tick_age": None if last is None else max(now - last, 0.0),
                "stalls": self.stalls,
                "instruments": len(self._latest),
            }


def _epoch(value: Any) -> float:
    """Return a tick dict's timestamp (an aware or IST-naive datetime, as the SDK gives) as epoch seconds."""
    if value is None:
        return 0.0
    from kitekit.clock import IST

    if getattr(value, "tzinfo", None) is None:
        value = value.replace(tzinfo=IST)
    return float(value.timestamp())
