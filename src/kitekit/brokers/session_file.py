"""A broker's saved session in its private file: read, saved atomically, marked dead, and the neutral reads of it.

Every broker's session manager (:mod:`kitekit.brokers.upstox.session`, :mod:`kitekit.brokers.angel.session`)
keeps its tokens in one file under kitekit's sessions folder, and answers ``saved``, ``valid`` and ``advice`` from
it the same way; what differs is the record (Upstox's access token, Angel's JWT, refresh and feed tokens) and
how a session is made. :class:`SavedSessionFile` is the file: a missing or unreadable one is no session (logging
in replaces it), a save is atomic with mode 0600 (a crash leaves the previous file) and a failed save raises
:class:`~kitekit.errors.SessionSaveError`. Logins, saves and marking it dead hold :class:`SessionLock`, across
threads and processes (two ``--sim`` commands at once, a runner beside a command), as Kite's session file does.
:class:`SessionReads` gives a session manager the neutral reads.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from kitekit.brokers.session import SessionInfo, relogin_advice
from kitekit.clock import Clock
from kitekit.errors import SessionSaveError
from kitekit.files import atomic_write, ensure_dir

__all__ = ["SavedSessionFile", "SessionLock", "SessionReads", "SessionRecord", "record_json"]

log = logging.getLogger("kitekit.brokers.session")


class SessionRecord(Protocol):
    """What a broker's saved session record offers (a frozen dataclass with a ``dead`` flag)."""

    @property
    def dead(self) -> bool:
        """Return True once the broker rejected the session."""
        ...

    def info(self) -> SessionInfo:
        """Return the neutral facts (no token)."""
        ...

    def to_json(self) -> bytes:
        """Return the file's bytes."""
        ...


R = TypeVar("R", bound=SessionRecord)


def record_json(record: Any) -> bytes:
    """Return a session record (a dataclass with ``login_time`` and ``expires_at``) as the file's JSON bytes."""
    raw: dict[str, Any] = asdict(record)
    raw["login_time"] = record.login_time.isoformat()
    raw["expires_at"] = record.expires_at.isoformat()
    return json.dumps(raw, indent=1).encode()


def parse_times(raw: dict[str, Any]) -> dict[str, Any]:
    """Return a record's JSON object with ``login_time`` and ``expires_at`` read back as datetimes."""
    return raw | {
        "login_time": datetime.fromisoformat(raw["login_time"]),
        "expires_at": datetime.fromisoformat(raw["expires_at"]),
    }


class SessionLock:
    """A saved session's lock across threads and processes (reentrant): ``with lock:`` holds both.

    The file lock sits beside the session file; it is made on first use, so reading a session (``kitekit status``)
    imports no lock module.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._thread = threading.RLock()
        self._file: Any = None

    def __enter__(self) -> None:
        self._thread.acquire()
        try:
            if self._file is None:
                from filelock import FileLock

                ensure_dir(self.path.parent)
                # As Kite's session lock: a login holding it for two minutes is stuck, and saying so beats waiting.
                self._file = FileLock(str(self.path), timeout=120, mode=0o600)
            self._file.acquire()
        except BaseException:
            self._thread.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self._file.release()
        self._thread.release()


class SavedSessionFile(Generic[R]):
    """One broker's saved session file.

    Args:
        path: the file.
        parse: reads a record from the file's bytes (ValueError, KeyError or TypeError when it is not one).
        broker: the broker's name in messages ("Upstox", "Angel One").
        on_load: called with each record read (to register its tokens for redaction).
    """

    def __init__(
        self,
        path: Path,
        parse: Callable[[bytes], R],
        broker: str,
        on_load: Callable[[R], object] = lambda record: None,
    ) -> None:
        self.path = path
        self.parse = parse
        self.broker = broker
        self.on_load = on_load
        self.lock = SessionLock(path)

    def load(self) -> R | None:
        """Return the saved record; None when there is none or the file is not one (logging in replaces it)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("%s cannot be read (%s); ignoring it", self.path, exc.strerror)
            return None
        try:
            record = self.parse(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("%s is not a saved %s session; ignoring it", self.path, self.broker)
            return None
        self.on_load(record)
        return record

    def save(self, record: R) -> R:
        """Write ``record`` atomically, private to the user; return it.

        Raises:
            SessionSaveError: the file could not be written (the previous one is left as it was).
        """
        try:
            atomic_write(self.path, record.to_json(), 0o600)
        except OSError as exc:
            raise SessionSaveError(
                exc.errno, f"{self.broker} accepted the login, but {self.path} could not be saved: {exc.strerror}"
            ) from exc
        return record

    def mark_dead(self, rejected: Callable[[R], bool] = lambda record: True) -> None:
        """Record that the broker rejected the saved session (advice then says so).

        Args:
            rejected: tells whether the saved record is the one rejected: another process may have saved a new
                session since this one read the rejected token, and that one must be left alone.
        """
        with self.lock:
            record = self.load()
            if record is not None and not record.dead and rejected(record):
                self.save(replace(record, dead=True))  # type: ignore[type-var]  # records are dataclasses


class SessionReads(Generic[R]):
    """``saved``, ``valid`` and ``advice`` of :class:`~kitekit.brokers.session.BrokerSession`, from the saved file.

    A session manager sets ``clock``, ``login_hint`` and ``file`` (a :class:`SavedSessionFile`).
    """

    clock: Clock
    login_hint: str
    file: SavedSessionFile[R]

    def saved(self) -> SessionInfo | None:
        """Return the saved session, valid or not."""
        found = self.file.load()
        return None if found is None else found.info()

    def valid(self, for_at_least: timedelta = timedelta(0)) -> SessionInfo | None:
        """Return the saved session unless it is over, dead, or ends within ``for_at_least``."""
        info = self.saved()
        if info is None or info.expired(self.clock.now() + for_at_least):
            return None
        return info

    def advice(self, within: timedelta = timedelta(hours=1)) -> str | None:
        """Return the advice to log in again, or None while the session has ``within`` or more left."""
        return relogin_advice(self.saved(), self.clock.now(), self.login_hint, within)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the saved session's lock (threads and processes): nobody else logs in or saves meanwhile."""
        with self.file.lock:
            yield
