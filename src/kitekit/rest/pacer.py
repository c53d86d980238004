"""Pacing every Kite call under its rate limit, shared by all threads and all processes of the user.

Kite limits each api_key per endpoint class (quote 1/s, historical 3/s, order placement 10/s, the rest 10/s;
``docs/protocol.md`` §14) and answers 429 beyond that. The :class:`Pacer` hands out send times per
(api_key, class) with a GCRA reservation kept in a small SQLite file: a caller atomically takes the next free slot
(``tat = max(tat, now) + interval``), releases the lock, and only then sleeps until its slot. Nobody holds a
lock while sleeping, so classes never queue behind each other (an order is never stuck behind a batch of
quote calls), and two scripts on one key share one budget instead of 429-ing each other.

Orders have a second limit: 10 per calendar second of Kite's own clock (:data:`~kitekit.wire.routes.PER_SECOND_CAPS`).
Evenly spaced sends can still land 11 in one of Kite's seconds when the network delays some more than others,
so a capped class is paced on the server's seconds once its answers' ``Date`` headers have told where they fall
(:class:`~kitekit.rest.serverclock.ServerClock`, fed by the transport): each send goes early enough in a
server second that it arrives within it however long it takes up to ``arrival_spread``, and no second gets
more than its cap of this process's sends. Until the server's seconds are known, the class is paced so that
no window of ``1 + arrival_spread`` seconds holds more than the cap, whichever seconds Kite counts by.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Protocol

from kitekit.files import private_file
from kitekit.rest.serverclock import ServerClock, parse_date
from kitekit.wire.routes import DEFAULT_RATES, PER_SECOND_CAPS, EndpointClass

__all__ = ["DEFAULT_FILENAME", "Pacer", "PacerBackend"]

log = logging.getLogger("kitekit.rest.pacer")

#: The database file a :class:`Pacer` uses when it is given a directory.
DEFAULT_FILENAME = "pacing.sqlite3"
#: How far ahead of now a bucket's next slot may lie, in intervals (plus the cooldown), and at most
#: ``max_wait``: a minute of orders, two minutes of quote calls. No real queue is that long; a slot beyond it
#: comes from a stale database (written under a clock running ahead), and waiting for it would stall silently.
_HORIZON_INTERVALS = 600
#: Seconds to wait for another process's lock on the database before pacing in-process for a while: the lock
#: is normally held for microseconds, so a longer hold means a stuck process, not a busy one.
_LOCK_WAIT = 2.0
#: Seconds the database is left alone after it stayed locked, before it is tried again.
_LOCKED_PAUSE = 60.0
#: The narrowest share of a server second the aligned sends of a capped class may go in; when the offset is
#: known less well than that leaves room for, the class is paced without alignment.
_MIN_WINDOW = 0.25

# `seen` is the wall-clock time of the last write; it lets a bucket notice the system clock stepping back.
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS buckets ("
    "api_key TEXT NOT NULL, cls TEXT NOT NULL, tat REAL NOT NULL, seen REAL NOT NULL, "
    "PRIMARY KEY (api_key, cls))"
)
_SELECT = "SELECT tat, seen FROM buckets WHERE api_key = ? AND cls = ?"
_UPSERT = (
    "INSERT INTO buckets (api_key, cls, tat, seen) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (api_key, cls) DO UPDATE SET tat = excluded.tat, seen = excluded.seen"
)


class PacerBackend(Protocol):
    """What the transport needs of a pacer: this module's :class:`Pacer` (one machine, SQLite) or
    :class:`kitekit.bus.pacer.RedisPacer` (every process and host sharing one Redis server)."""

    def interval(self, cls: EndpointClass) -> float:
        """Return the seconds between two requests of ``cls`` (0 when the class is unpaced)."""

    def reserve(self, api_key: str, cls: EndpointClass) -> float:
        """Take the next free slot without waiting; return the wall-clock time it comes."""

    def acquire(self, api_key: str, cls: EndpointClass) -> float:
        """Take the next free slot and sleep until it comes; return the seconds waited."""

    def cool_down(self, api_key: str, cls: EndpointClass, seconds: float | None = None) -> None:
        """Pause the class for everyone sharing the pacer (after a 429)."""

    def close(self) -> None:
        """Release what the pacer holds open."""

    def clock(self) -> float:
        """Return the pacer's wall-clock time in seconds (the times :meth:`observe` is given)."""

    def observe(self, api_key: str, date: str | None, sent: float, received: float) -> None:
        """Learn the server's clock from an answer's ``Date`` header (called for every answer)."""


#: Turns (stored theoretical arrival time, now) into the new one.
Step = Callable[[float, float], float]


class Pacer:
    """Send-time reservations per (api_key, endpoint class), shared through one SQLite file.

    Each class is paced at ``rate * (1 - margin)`` requests per second with no burst. Times are wall-clock
    (``time.time``) because they are compared across processes.

    Args:
        path: the SQLite file shared by every process on the machine, or a directory to hold
            ``pacing.sqlite3``; None keeps the state in this process only. It must be on a local disk
            (SQLite's WAL mode does not work over network file systems).
        rates: requests per second per class; classes not given keep Kite's limits (``DEFAULT_RATES``),
            and a rate of 0 leaves that class unpaced.
        margin: share of each limit kept in reserve, so network jitter never turns exact pacing into a 429.
            The default 2% leaves 98% of the allowed throughput.
        cooldown: seconds a class pauses, for every process on the machine, after a 429 got through anyway.
        clock: wall-clock time in seconds, injectable for tests.
        sleep: how to wait for a slot, injectable for tests.
        max_wait: the longest a slot may lie ahead of now (seconds). A slot further out is from a stale
            database and is reset with a warning rather than waited for.
        second_caps: requests per calendar second of the server's clock per class (Kite's
            :data:`~kitekit.wire.routes.PER_SECOND_CAPS` unless given; an empty mapping turns it off).
        arrival_spread: the most a request may take beyond the quickest one to reach the server (seconds): a
            capped class's sends keep that far from the end of a server second.

    A damaged database file (garbage, a foreign schema, a row holding text) is replaced by a fresh one, one
    that cannot be created or written at all (a read-only or full data directory) makes the pacer work within
    this process only, and one another process keeps locked for more than two seconds is left alone for a
    minute; each says so in a warning instead of failing or stalling every call.

    Raises:
        ValueError: a negative rate or cooldown, or a margin outside [0, 1).
    """

    def __init__(
        self,
        path: Path | None = None,
        rates: Mapping[EndpointClass, float] | None = None,
        margin: float = 0.02,
        cooldown: float = 1.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = 120.0,
        second_caps: Mapping[EndpointClass, int] | None = None,
        arrival_spread: float = 0.15,
    ) -> None:
        self.rates: dict[EndpointClass, float] = {**DEFAULT_RATES, **(rates or {})}
        self.second_caps: dict[EndpointClass, int] = dict(PER_SECOND_CAPS if second_caps is None else second_caps)
        if any(cap < 1 for cap in self.second_caps.values()) or not 0 <= arrival_spread < 1 - _MIN_WINDOW:
            raise ValueError(f"second caps must be >= 1 and arrival_spread in [0, {1 - _MIN_WINDOW:g})")
        self.arrival_spread = arrival_spread
        if any(rate < 0 for rate in self.rates.values()):
            raise ValueError(f"rates must be >= 0 requests per second, got {self.rates}")
        if not 0 <= margin < 1:
            raise ValueError(f"margin must be in [0, 1), got {margin}")
        if cooldown < 0:
            raise ValueError(f"cooldown must be >= 0 seconds, got {cooldown}")
        if not max_wait > 0:
            raise ValueError(f"max_wait must be above 0 seconds, got {max_wait}")
        if path is not None and path.is_dir():
            path = path / DEFAULT_FILENAME
        self.path = path
        self.margin = margin
        self.cooldown = cooldown
        self.clock = clock
        self.sleep = sleep
        self.max_wait = max_wait
        self._locked_until = float("-inf")  # while the clock is before it, the locked database is left alone
        self._memory: dict[tuple[str, str], tuple[float, float]] = {}
        self._servers: dict[str, ServerClock] = {}
        #: Send times this process reserved lately per (api_key, capped class): what each server second holds.
        self._recent: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()
        self._con: sqlite3.Connection | None = None
        self._pid = os.getpid()
        if path is not None:
            with self._lock:
                self._use_database()

    # -- the public API ----------------------------------------------------------------------------------
    def interval(self, cls: EndpointClass) -> float:
        """Return the seconds between two requests of ``cls`` (0 when the class is unpaced)."""
        rate = self.rates.get(cls, 0.0)
        return 0.0 if rate <= 0 else 1.0 / (rate * (1.0 - self.margin))

    def reserve(self, api_key: str, cls: EndpointClass) -> float:
        """Take the next free slot of (api_key, cls) without waiting.

        Returns:
            The wall-clock time the request may be sent at (now, or later when others reserved before).
        """
        interval = self.interval(cls)
        if not interval:
            return self.clock()
        cap = self.second_caps.get(cls, 0)
        offset = self._known_offset(api_key) if cap else None
        if cap and offset is None:
            # The server's seconds are not known: no window of 1 + spread seconds holds more than the cap.
            interval = max(interval, (1.0 + self.arrival_spread) / cap)
        slot = self._transact(api_key, cls, lambda tat, now: max(tat, now) + interval) - interval
        if not cap:
            return slot
        return self._in_server_second(api_key, cls, cap, slot, offset)

    def server_clock(self, api_key: str) -> ServerClock:
        """Return what the answers to ``api_key``'s requests told of the server's clock."""
        with self._lock:
            return self._servers.setdefault(api_key, ServerClock())

    def observe(self, api_key: str, date: str | None, sent: float, received: float) -> None:
        """Learn the server's clock from an answer's ``Date`` header (the transport calls it for every answer).

        Args:
            api_key: whose request it answered.
            date: the ``Date`` header (None or unreadable: nothing is learned).
            sent: the local time (this pacer's clock) the request left.
            received: the local time its answer arrived.
        """
        stamp = parse_date(date)
        if stamp is not None and received >= sent:
            self.server_clock(api_key).observe(stamp, sent, received)

    def _known_offset(self, api_key: str) -> tuple[float, float] | None:
        """Return the server's offset bounds when they are narrow enough to pace on its seconds, else None."""
        found = self.server_clock(api_key).bounds()
        if found is None or 1.0 - (found[1] - found[0]) - self.arrival_spread < _MIN_WINDOW:
            return None
        return found

    def _in_server_second(
        self, api_key: str, cls: EndpointClass, cap: int, slot: float, offset: tuple[float, float] | None
    ) -> float:
        """Return ``slot``, or the start of the first server second after it with room, and note the send.

        A send at local time ``t`` reaches the server at a server time in ``[t + low, t + high + spread)``. It
        counts against every server second that interval touches (one, for a send placed by this method), and
        goes only where that second holds fewer than ``cap`` of this process's sends, early enough to arrive
        within it.
        """
        spread = self.arrival_spread
        with self._lock:
            recent = self._recent.setdefault((api_key, cls.value), deque())
            while recent and recent[0] < slot - 3.0:
                recent.popleft()  # sends three seconds back arrived long ago
            if offset is None:
                recent.append(slot)
                return slot
            low, high = offset
            second = math.floor(slot + low)
            t = slot
            while True:
                t = max(t, second - low)
                held = sum(1 for sent in recent if sent + low < second + 1 and sent + high + spread > second)
                if t <= second + 1 - high - spread and held < cap:
                    recent.append(t)
                    return t
                second += 1

    def acquire(self, api_key: str, cls: EndpointClass) -> float:
        """Reserve a slot of (api_key, cls) and sleep until it comes; no lock is held while sleeping.

        Returns:
            The seconds this call waited (0.0 when the slot was free at once).
        """
        wait = self.reserve(api_key, cls) - self.clock()
        if wait <= 0:
            return 0.0
        if wait >= 1.0:
            rate = self.rates.get(cls, 0.0)
            log.info(
                "Waiting %.1fs for the next %s slot of api_key %s: Kite allows %g calls a second of this class, "
                "and calls before this one (in this or another kitekit process sharing %s) hold the slots up to it.",
                wait,
                cls,
                api_key,
                rate,
                self.path or "this process's pacer",
            )
        self.sleep(wait)
        return wait

    def cool_down(self, api_key: str, cls: EndpointClass, seconds: float | None = None) -> None:
        """Push the next slot of (api_key, cls) at least ``seconds`` (default ``cooldown``) past now.

        Every process sharing the database sees the pause, so a 429 slows the whole machine down at once.
        Slots already handed out keep their times.
        """
        pause = self.cooldown if seconds is None else seconds
        self._transact(api_key, cls, lambda tat, now: max(tat, now + pause))

    def close(self) -> None:
        """Close the database connection (it reopens on the next use)."""
        with self._lock:
            if self._con is not None and self._pid == os.getpid():
                self._con.close()
            self._con = None

    def __enter__(self) -> Pacer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        rates = ", ".join(f"{cls}={rate:g}/s" for cls, rate in self.rates.items())
        return f"Pacer({str(self.path) if self.path else 'in-process'}, {rates}, margin={self.margin:g})"

    # -- storage ---------------------------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        """Return this process's connection; call with ``_lock`` held."""
        if self._con is None:
            assert self.path is not None  # noqa: S101 - only called while a database is in use
            private_file(self.path)  # 0600 before SQLite creates it (its -wal and -shm copy the mode)
            # One connection per process, used under _lock: threads hand over in microseconds instead of
            # meeting SQLite's busy handler, which backs off in steps of milliseconds.
            con = sqlite3.connect(str(self.path), isolation_level=None, timeout=_LOCK_WAIT, check_same_thread=False)
            try:
                _enable_wal(con, _LOCK_WAIT)
                con.execute("PRAGMA synchronous=NORMAL")  # a lost slot after a power cut costs nothing
                con.execute(_SCHEMA)
            except BaseException:
                con.close()
                raise
            self._con = con
        return self._con

    def _use_database(self) -> None:
        """Open the database now, rebuilding a damaged one or falling back to in-process pacing; ``_lock`` held."""
        for attempt in range(2):
            try:
                self._connection()
                return
            except (sqlite3.Error, OSError) as exc:
                if _locked(exc):
                    self._leave_locked(exc)
                    return
                if attempt == 0 and _damaged(exc):
                    self._rebuild(exc)
                    continue
                self._fall_back(exc)
                return

    def _leave_locked(self, exc: BaseException) -> None:
        """Pace in-process for a while: another process has held the database's lock too long."""
        log.warning(
            "The pacing database %s stayed locked by another process for over %gs (%s); pacing within this "
            "process for the next %.0fs instead of stalling every call. Look for a stuck kitekit process.",
            self.path,
            _LOCK_WAIT,
            exc,
            _LOCKED_PAUSE,
        )
        self._drop_connection()
        self._locked_until = self.clock() + _LOCKED_PAUSE

    def _rebuild(self, exc: BaseException) -> None:
        """Replace a damaged database with a fresh one (slots are cheap to lose, a stalled client is not)."""
        assert self.path is not None  # noqa: S101
        log.warning("The pacing database %s is damaged (%s); starting a fresh one.", self.path, exc)
        self._drop_connection()
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{self.path}{suffix}")

    def _fall_back(self, exc: BaseException) -> None:
        """Pace within this process only, saying why: failing every Kite call would be worse."""
        log.warning(
            "Pacing within this process only: %s cannot be used (%s). Other kitekit processes on the same "
            "api_key no longer share its budget, so together they may exceed Kite's limits. Fix the data "
            "directory (KITEKIT_DATA_DIR) to share it again.",
            self.path,
            exc,
        )
        self._drop_connection()
        self.path = None

    def _drop_connection(self) -> None:
        if self._con is not None:
            with contextlib.suppress(sqlite3.Error):
                self._con.close()
        self._con = None

    def _after_fork(self) -> None:
        # A SQLite connection, and a lock another thread may have held, must not cross fork(): start afresh
        # (the parent's connection is left alone, it still belongs to the parent).
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._lock = threading.Lock()
            self._con = None

    def _transact(self, api_key: str, cls: EndpointClass, step: Step) -> float:
        """Atomically set the bucket's tat to ``step(tat, now)``, with now read under the lock; return it."""
        self._after_fork()
        key = (api_key, cls.value)
        horizon = min(_HORIZON_INTERVALS * self.interval(cls), self.max_wait) + self.cooldown
        with self._lock:
            for attempt in range(2):
                if self.path is None or self.clock() < self._locked_until:
                    break
                try:
                    return self._transact_database(key, step, horizon)
                except (sqlite3.Error, OSError) as exc:
                    if _locked(exc):
                        self._leave_locked(exc)
                        break
                    if attempt == 0 and _damaged(exc):
                        self._rebuild(exc)
                        continue
                    self._fall_back(exc)
            now = self.clock()
            tat, seen = self._memory.get(key, (now, now))
            new = step(_bounded(_rewind(tat, seen, now), now, horizon, key), now)
            self._memory[key] = (new, now)
            return new

    def _transact_database(self, key: tuple[str, str], step: Step, horizon: float) -> float:
        con = self._connection()
        con.execute("BEGIN IMMEDIATE")
        try:
            # Now is read only once the write lock is ours, so a wait for the lock never yields a stale slot.
            now = self.clock()
            row = con.execute(_SELECT, key).fetchone()
            tat, seen = _slot(row, now, key)
            new = step(_bounded(_rewind(tat, seen, now), now, horizon, key), now)
            con.execute(_UPSERT, (*key, new, now))
            con.execute("COMMIT")
        except BaseException:
            if con.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
            raise
        return new


def _slot(row: tuple[object, object] | None, now: float, key: tuple[str, str]) -> tuple[float, float]:
    """Return a bucket row's (tat, seen); a row SQLite let hold text or NULL counts as no row, with a warning."""
    if row is None:
        return now, now
    tat, seen = row
    if isinstance(tat, int | float) and isinstance(seen, int | float):
        return float(tat), float(seen)
    log.warning("The %s pacing slot of %s held %r, not a time; starting it afresh.", key[1], key[0], row)
    return now, now


def _locked(exc: BaseException) -> bool:
    """Return True when another connection holds the database's lock (SQLite waited ``_LOCK_WAIT`` for it)."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def _damaged(exc: BaseException) -> bool:
    """Return True for errors a fresh database file cures (garbage, truncation, a foreign schema)."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return "no such table" in text or "no such column" in text or "malformed" in text
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.OperationalError)


def _bounded(tat: float, now: float, horizon: float, key: tuple[str, str]) -> float:
    """Return ``tat``, or ``now`` if it lies further ahead than any real queue could push it.

    A stale database (copied from a machine whose clock ran ahead, or written by a clock later stepped back
    while this process was not running) must not stall a bucket for hours.
    """
    if tat - now <= horizon:
        return tat
    log.warning(
        "The %s pacing slot of %s was %.0fs ahead of now, further than any real queue of calls reaches "
        "(%.0fs at most): the pacing database was written under a clock running ahead. Resetting it instead of "
        "waiting.",
        key[1],
        key[0],
        tat - now,
        horizon,
    )
    return now


def _enable_wal(con: sqlite3.Connection, patience: float = 30.0) -> None:
    """Switch ``con``'s database to WAL mode, waiting while another process holds it.

    Changing the journal mode needs an exclusive lock, and SQLite answers ``database is locked`` at once
    instead of calling the busy handler when two processes open a fresh file together.
    """
    deadline = time.monotonic() + patience
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def _rewind(tat: float, seen: float, now: float) -> float:
    """Return ``tat`` moved back by as much as the wall clock stepped back since ``seen``.

    Without this, an NTP correction or a VM resume that sets the clock back an hour would stall every call
    of the bucket for that hour.
    """
    return tat - (seen - now) if now < seen else tat
