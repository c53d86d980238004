"""Pacing every Kite call under its rate limit, shared by all threads and all processes of the user.

Kite limits each api_key per endpoint class (quote 1/s, historical 3/s, order placement 10/s, the rest 10/s;
API.md §14) and answers 429 beyond that. The :class:`Pacer` hands out send times per (api_key, class) with
a GCRA reservation kept in a small SQLite file: a caller atomically takes the next free slot, releases the
lock, and sleeps until its slot. Nobody holds a lock while sleeping, so classes never queue behind each
other (an order is never stuck behind a batch of quote calls), and two scripts on one key share the budget.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

__all__ = ["Pacer"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS slots (api_key TEXT, cls TEXT, tat REAL, PRIMARY KEY (api_key, cls))"
_UPSERT = (
    "INSERT INTO slots (api_key, cls, tat) VALUES (?, ?, ?) ON CONFLICT(api_key, cls) DO UPDATE SET tat = excluded.tat"
)


class Pacer:
    """Send-time reservations per (api_key, endpoint class).

    Args:
        path: the SQLite file shared by every process on the machine; None keeps state in this process.
        rates: requests per second per class (defaults to Kite's limits).
        margin: share of the limit kept in reserve, so network jitter never turns exact pacing into a 429.
        cooldown: seconds a class pauses after a 429 that got through anyway.
        clock, sleep: wall-clock time (shared across processes) and sleeping, injectable for tests.
    """

    def __init__(
        self,
        path: Path | None = None,
        rates: Mapping[EndpointClass, float] | None = None,
        margin: float = 0.02,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.path = path
        self.rates = dict(rates or DEFAULT_RATES)
        self.margin = margin
        self.cooldown = cooldown
        self.clock = clock
        self.sleep = sleep
        self._memory: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db().execute(_SCHEMA)

    def interval(self, cls: EndpointClass) -> float:
        """Return the seconds between two requests of ``cls`` (0 when unlimited)."""
        rate = self.rates.get(cls, 0.0)
        return 0.0 if rate <= 0 else 1.0 / (rate * (1.0 - self.margin))

    def _db(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            # One connection per thread; WAL keeps readers and the single writer from blocking each other.
            con = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def _update(self, api_key: str, cls: EndpointClass, step: Callable[[float, float], float]) -> float:
        """Atomically set tat = step(stored tat, now); return the new tat."""
        now = self.clock()
        if self.path is None:
            with self._lock:
                new = step(self._memory.get((api_key, cls.value), now), now)
                self._memory[(api_key, cls.value)] = new
                return new
        con = self._db()
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute("SELECT tat FROM slots WHERE api_key = ? AND cls = ?", (api_key, cls.value)).fetchone()
            new = step(float(row[0]) if row else now, now)
            con.execute(_UPSERT, (api_key, cls.value, new))
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return new

    def reserve(self, api_key: str, cls: EndpointClass) -> float:
        """Take the next free slot of (api_key, cls); return the wall-clock time the request may go at."""
        interval = self.interval(cls)
        if not interval:
            return self.clock()
        slot = self._update(api_key, cls, lambda tat, now: max(tat, now) + interval)
        return slot - interval

    def acquire(self, api_key: str, cls: EndpointClass) -> float:
        """Reserve a slot and sleep until it comes; return the seconds waited."""
        wait = self.reserve(api_key, cls) - self.clock()
        if wait > 0:
            self.sleep(wait)
            return wait
        return 0.0

    def cool_down(self, api_key: str, cls: EndpointClass, seconds: float | None = None) -> None:
        """Push the class's next slot at least ``seconds`` (default ``cooldown``) into the future."""
        pause = self.cooldown if seconds is None else seconds
        self._update(api_key, cls, lambda tat, now: max(tat, now + pause))
