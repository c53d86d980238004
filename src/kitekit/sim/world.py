"""A simulated world on disk: the market's clock that goes on between runs, beside the accounts and sessions.

A simulator with a state folder (the CLI's embedded one under the kitekit data dir, ``kitekit sim`` per host and
port, or ``--state DIR``) keeps ``world.json`` there: where its market clock was anchored, when, and at what
speed. Every process that opens the folder (each ``--sim`` command, a running ``kitekit sim``, a library using
``KITE_SIM=1``) derives the same market time from it, so an order placed by one command is still there when the
next one runs, priced by a market that moved on in between. See :mod:`kitekit.sessionclock` for how the market
time runs (sessions only, rolling to the next trading day at the close).

The world's other files (``state.json``, ``upstox-state.json`` and ``angel-state.json`` for each simulator's access
tokens, ``exchange-<user>.json`` for accounts) belong to :mod:`kitekit.sim.auth` (and the other brokers' ``auth``)
and :mod:`kitekit.sim.exchange`; :meth:`World.open` with ``fresh=True`` removes them all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import BaseFileLock

from kitekit.clock import IST, Clock, SystemClock, ensure_aware
from kitekit.errors import SimWorldError
from kitekit.files import atomic_write, ensure_dir
from kitekit.markethours import TradingCalendar
from kitekit.sessionclock import SessionClock, advance_in_sessions

__all__ = ["WORLD_FILE", "WORLD_VERSION", "World", "WorldClock", "WorldMode"]

log = logging.getLogger("kitekit.sim")

WORLD_FILE = "world.json"
WORLD_VERSION = 1


class WorldMode(StrEnum):
    """How the world's market time runs."""

    SESSIONS = "sessions"  # through market sessions only, rolling to the next at the close (the default)
    WALL = "wall"  # with the wall clock: prices frozen outside market hours


# What ``fresh`` removes besides world.json: the sessions and every account (see the module docstring).
_STATE_PATTERNS = ("state.json", "*-state.json", "exchange-*.json", "exchange-*.json.damaged-*")


@dataclass(frozen=True)
class _Record:
    origin: datetime
    anchor: datetime
    wall_anchor: datetime
    speed: float
    mode: WorldMode

    def to_json(self) -> dict[str, Any]:
        return {
            "version": WORLD_VERSION,
            "origin": self.origin.isoformat(),
            "anchor": self.anchor.isoformat(),
            "wall_anchor": self.wall_anchor.isoformat(),
            "speed": self.speed,
            "mode": str(self.mode),
        }

    @classmethod
    def from_json(cls, raw: Any) -> _Record:
        if not isinstance(raw, dict) or raw.get("version") != WORLD_VERSION:
            raise ValueError(f"not a version {WORLD_VERSION} world file")
        speed = float(raw["speed"])
        mode = WorldMode(str(raw["mode"]))
        if not speed > 0:
            raise ValueError("a world file with a bad speed")
        times = [ensure_aware(datetime.fromisoformat(str(raw[k]))) for k in ("origin", "anchor", "wall_anchor")]
        return cls(times[0], times[1], times[2], speed, mode)


class World:
    """The simulated world kept in ``folder``.

    Args:
        folder: the state folder (created 0700).
        wall: the wall clock the market time follows (injected by tests).
        calendar: the trading calendar.
    """

    def __init__(self, folder: Path, wall: Clock | None = None, calendar: TradingCalendar | None = None) -> None:
        self.folder = folder
        self.wall = wall or SystemClock()
        self.calendar = calendar or TradingCalendar()
        self.path = folder / WORLD_FILE
        self._file_lock: BaseFileLock | None = None

    def open(
        self, *, at: datetime | None = None, speed: float = 1.0, real_time: bool = False, fresh: bool = False
    ) -> Clock:
        """Return the world's market clock, creating the world if there is none (or ``fresh``).

        Args:
            at: the market time a new world starts at (default: 09:15 IST of the latest session begun). An
                existing world that began at another instant is refused unless ``fresh``: a world never goes
                back in time under the orders it holds.
            speed: market seconds per wall second. An existing world changes speed from this moment on.
            real_time: follow the wall clock (prices frozen outside market hours) instead of rolling sessions.
            fresh: start over: the world's clock, its accounts and its sessions are removed first.

        Raises:
            SimWorldError: ``at`` or ``real_time`` contradicts the existing world (the message says to add
                ``--fresh``), or ``speed`` is not positive.
            OSError: the folder cannot be written.
        """
        if not speed > 0:
            raise SimWorldError(f"the simulator's speed must be positive, got {speed:g}")
        if at is not None:
            at = ensure_aware(at).astimezone(IST)
        mode = WorldMode.WALL if real_time else WorldMode.SESSIONS
        if not fresh:
            # The common case, every `--sim` command on an existing world: nothing to write, so no lock (and no
            # import of filelock, which pulls in asyncio). The file is only ever replaced whole, so a read
            # without the lock sees one complete version of it.
            record = self._peek()
            unchanged = record is not None and record.mode is mode and at in (None, record.origin)
            if record is not None and unchanged and (mode is WorldMode.WALL or speed == record.speed):
                return self._clock(record)
        ensure_dir(self.folder)
        with self._locked():
            if fresh:
                self._remove_state()
            record = self._load()
            wall_now = self.wall.now()
            if record is None:
                start = at if at is not None else self.calendar.last_session_start(wall_now)
                if mode is WorldMode.WALL:
                    start = wall_now
                record = _Record(start, start, wall_now, speed, mode)
                self._save(record)
            else:
                self._check(record, at, mode)
                if mode is WorldMode.SESSIONS and speed != record.speed:
                    now = self._clock(record).now()
                    record = _Record(record.origin, now, wall_now, speed, mode)
                    self._save(record)
        return self._clock(record)

    def advance(self, seconds: float) -> Clock:
        """Move the existing world's market ``seconds`` of running time forward at once, as if they had passed.

        Nothing runs in between: whoever looks next (a command, a running simulator's pump) finds the market
        there and catches up with it: resting orders fill on the path the prices took.

        Raises:
            SimWorldError: there is no world here yet, it follows the wall clock, or ``seconds`` is negative.
        """
        if not seconds >= 0:
            raise SimWorldError(f"a simulated world only goes forward; {seconds:g} seconds is not a step forward")
        with self._locked():
            record = self._load()
            if record is None or record.mode is WorldMode.WALL:
                raise SimWorldError(f"there is no simulated world of market sessions in {self.folder} to move on")
            wall_now = self.wall.now()
            moved = advance_in_sessions(self.calendar, self._clock(record).now(), seconds)
            record = _Record(record.origin, moved, wall_now, record.speed, record.mode)
            self._save(record)
        return self._clock(record)

    def clock(self) -> Clock | None:
        """Return the existing world's market clock without changing anything, or None when there is none."""
        with self._locked():
            record = self._load()
        return None if record is None else self._clock(record)

    def describe(self) -> dict[str, Any]:
        """Return what ``GET /__sim/clock`` tells clients: the mode, anchor and speed to derive the time from."""
        record = self._load()
        return {} if record is None else record.to_json()

    # -- internals -----------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Hold the world's file lock: only those who write the world (or may set a damaged file aside) take it."""
        if self._file_lock is None:
            from filelock import FileLock  # imported here: reading an existing world needs no lock

            self._file_lock = FileLock(str(self.folder / ".world.lock"), mode=0o600)  # filelock: 0644 & ~umask
        with self._file_lock:
            yield

    def _peek(self) -> _Record | None:
        """Return the world file's record, or None when it is missing or damaged; change nothing."""
        try:
            return _Record.from_json(json.loads(self.path.read_bytes()))
        except (OSError, KeyError, TypeError, ValueError):
            return None

    def _clock(self, record: _Record) -> Clock:
        if record.mode is WorldMode.WALL:
            return self.wall
        return WorldClock(self, SessionClock(record.anchor, record.wall_anchor, record.speed, self.wall, self.calendar))

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _check(self, record: _Record, at: datetime | None, mode: WorldMode) -> None:
        where = f"The simulated world in {self.folder}"
        if mode != record.mode:
            runs = "follows the wall clock" if record.mode is WorldMode.WALL else "runs through market sessions"
            raise SimWorldError(
                f"{where} {runs}. Add --fresh to start a new world "
                f"{'on the wall clock' if mode is WorldMode.WALL else 'of rolling sessions'} (its accounts start over)."
            )
        if at is not None and at != record.origin:
            now = self._clock(record).now()
            raise SimWorldError(
                f"{where} began at {record.origin:%Y-%m-%d %H:%M} IST and is now at {now:%Y-%m-%d %H:%M} IST; it "
                f"cannot start again at {at:%Y-%m-%d %H:%M}. Add --fresh to start a new world there (its accounts "
                "and sessions start over)."
            )

    def _load(self) -> _Record | None:
        try:
            raw = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            self._set_aside(exc)
            return None
        try:
            return _Record.from_json(raw)
        except (KeyError, TypeError, ValueError) as exc:
            self._set_aside(exc)
            return None

    def _set_aside(self, exc: Exception) -> None:
        # A damaged clock file costs the world its place in time, never the accounts beside it.
        with contextlib.suppress(OSError):
            self.path.replace(self.path.with_name(f"{self.path.name}.damaged"))
        log.warning("the simulated world's clock file %s is damaged (%s); it starts again", self.path, exc)

    def _save(self, record: _Record) -> None:
        atomic_write(self.path, json.dumps(record.to_json()).encode(), mode=0o600)

    def _remove_state(self) -> None:
        for pattern in (WORLD_FILE, *_STATE_PATTERNS):
            for path in self.folder.glob(pattern):
                path.unlink(missing_ok=True)


class WorldClock:
    """A world's market clock that follows the world file: an :meth:`World.advance` or a change of speed made by
    another process (``kitekit sim --speed``, a test moving the market on) shows here within a fifth of a second.
    """

    #: How long a reading of the world file is trusted, in seconds of monotonic time: ``now()`` stays cheap.
    RECHECK_S = 0.2

    def __init__(self, world: World, clock: SessionClock) -> None:
        self.world = world
        self._clock = clock
        self._stamp = world._stamp()
        self._checked = time.monotonic()
        self._lock = threading.Lock()

    def current(self) -> SessionClock:
        """Return the session clock the world file describes now."""
        with self._lock:
            if time.monotonic() - self._checked >= self.RECHECK_S:
                self._checked = time.monotonic()
                stamp = self.world._stamp()
                if stamp != self._stamp:
                    self._stamp = stamp
                    record = self.world._load()
                    if record is not None and record.mode is WorldMode.SESSIONS:
                        new = SessionClock(
                            record.anchor, record.wall_anchor, record.speed, self.world.wall, self.world.calendar
                        )
                        # Never backwards: a world started afresh elsewhere does not rewind a running market.
                        if new.now() >= self._clock.now():
                            self._clock = new
            return self._clock

    def now(self) -> datetime:
        """Return the world's market time now (IST)."""
        return self.current().now()
