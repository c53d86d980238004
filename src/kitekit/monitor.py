"""The quote monitor's loop: take a reading every N seconds, keep per-instrument history, explain gaps.

A reading that fails (after the transport's retries) becomes a gap with its reason and the loop goes on; an
expired session stops it with the re-login message. Rendering lives in the CLI.
"""

from __future__ import annotations

import csv
import os
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import requests
from kiteconnect.exceptions import KiteException, TokenException

from kitekit.clock import IST, Clock, clock_of
from kitekit.errors import KitekitError
from kitekit.quotes import MarketData

__all__ = ["CsvRecorder", "Monitor", "Reading", "Track"]

SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Reading:
    """One round: when it was taken, the item per key (ltp or ohlc payload), and why other keys have none."""

    at: datetime
    items: dict[str, dict[str, Any]]
    gaps: dict[str, str]

    def price(self, key: str) -> float | None:
        """Return the last price of ``key`` in this reading, or None for a gap."""
        item = self.items.get(key)
        return float(item["last_price"]) if item else None


@dataclass
class Track:
    """What the monitor knows about one instrument across readings."""

    key: str
    history: deque[float] = field(default_factory=lambda: deque(maxlen=30))
    last: float | None = None
    close: float | None = None  # previous session close, when the reading carried OHLC
    high: float | None = None
    low: float | None = None
    updated: datetime | None = None
    gap: str | None = None

    def update(self, reading: Reading) -> None:
        """Fold a reading into the track."""
        item = reading.items.get(self.key)
        if item is None:
            self.gap = reading.gaps.get(self.key, "no data")
            return
        self.gap = None
        self.last = float(item["last_price"])
        self.history.append(self.last)
        self.updated = reading.at
        ohlc = item.get("ohlc")
        if ohlc:
            self.close, self.high, self.low = float(ohlc["close"]), float(ohlc["high"]), float(ohlc["low"])

    @property
    def change(self) -> float | None:
        """Return the change against the previous close (needs OHLC readings)."""
        return None if self.last is None or not self.close else self.last - self.close

    @property
    def change_pct(self) -> float | None:
        """Return the change in percent of the previous close."""
        change = self.change
        return None if change is None or not self.close else change * 100.0 / self.close

    def sparkline(self) -> str:
        """Return the recent prices as a sparkline."""
        values = list(self.history)
        if len(values) < 2:
            return ""
        lo, hi = min(values), max(values)
        span = hi - lo or 1.0
        return "".join(SPARK[min(len(SPARK) - 1, int((v - lo) / span * (len(SPARK) - 1) + 0.5))] for v in values)

    def staleness(self, now: datetime) -> float | None:
        """Return seconds since the last good reading."""
        return None if self.updated is None else (now - self.updated).total_seconds()


class Monitor:
    """Reads ``keys`` every ``every`` seconds, ``count`` times (None: until stopped).

    Args:
        data: the batched quotes layer.
        keys: instruments as the user typed them.
        every: seconds between the starts of two readings.
        count: number of readings, or None for no limit.
        with_ohlc: read ``GET /quote/ohlc`` (change, day range) instead of ``GET /quote/ltp``.
        clock, sleep, monotonic: injectable time.
    """

    def __init__(
        self,
        data: MarketData,
        keys: Sequence[str],
        every: float = 5.0,
        count: int | None = None,
        with_ohlc: bool = False,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if every <= 0:
            raise ValueError("--every must be positive")
        if not keys:
            raise ValueError("name at least one instrument")
        self.data = data
        self.keys = list(dict.fromkeys(keys))
        self.every = every
        self.count = count
        self.with_ohlc = with_ohlc
        self.clock = clock or clock_of(data)
        self.sleep = sleep
        self.monotonic = monotonic
        self.tracks = {k: Track(k) for k in self.keys}

    def read_once(self) -> Reading:
        """Take one reading; a failure becomes gaps, an expired session raises."""
        at = self.clock.now().astimezone(IST)
        fetch = self.data.ohlc if self.with_ohlc else self.data.ltp
        try:
            quotes = fetch(*self.keys, strict=False)
            # The keys are the strings this monitor asked for, so they come back as strings.
            reading = Reading(
                at, {str(k): v for k, v in quotes.items()}, {str(k): why for k, why in quotes.missing.items()}
            )
        except TokenException:
            raise  # SessionExpiredError carries the re-login message; the loop must stop
        except (KiteException, KitekitError, requests.RequestException) as exc:
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            reading = Reading(at, {}, dict.fromkeys(self.keys, reason))
        for track in self.tracks.values():
            track.update(reading)
        return reading

    def readings(self) -> Iterator[Reading]:
        """Yield readings until ``count`` is reached, starting them ``every`` seconds apart.

        A slow reading delays the next one rather than making two fire back to back, which would only
        queue behind the rate limit.
        """
        n = 0
        last_start: float | None = None
        while self.count is None or n < self.count:
            if last_start is not None:
                wait = last_start + self.every - self.monotonic()
                if wait > 0:
                    self.sleep(wait)
            last_start = self.monotonic()
            yield self.read_once()
            n += 1


class CsvRecorder:
    """Appends readings to a CSV file (``time, instrument, last_price, gap``), flushing every row."""

    HEADER = ("time", "instrument", "last_price", "gap")

    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.exists() or path.stat().st_size == 0
        # Created 0600 like every file kitekit makes (open() would give 0666 under umask 000); an existing
        # file keeps its mode.
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fh: TextIO = os.fdopen(fd, "a", newline="", encoding="utf-8")
        self._writer = csv.writer(self._fh)
        if new:
            self._writer.writerow(self.HEADER)

    def record(self, reading: Reading, keys: Sequence[str]) -> None:
        """Write one row per key."""
        stamp = reading.at.isoformat(timespec="seconds")
        for key in keys:
            price = reading.price(key)
            self._writer.writerow((stamp, key, "" if price is None else price, reading.gaps.get(key, "")))
        self._fh.flush()

    def close(self) -> None:
        """Close the file."""
        self._fh.close()
