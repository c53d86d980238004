"""The saved session: what a login leaves on disk (0600, atomic, locked) and when it expires."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST
from kitekit.files import atomic_write, ensure_dir, warn_if_tracked
from kitekit.paths import data_dir

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["SavedSession", "SessionStore", "next_token_expiry"]

log = logging.getLogger("kitekit.session")


def next_token_expiry(moment: datetime) -> datetime:
    """Return 06:00 IST after ``moment``: when Kite access tokens expire (``docs/protocol.md`` §16)."""
    local = moment.astimezone(IST)
    expiry = local.replace(hour=6, minute=0, second=0, microsecond=0)
    return expiry if expiry > local else expiry + timedelta(days=1)


@dataclass(frozen=True)
class SavedSession:
    """A logged-in session as saved on disk. Times are aware; ``dead`` is set when Kite rejected the token.

    ``extra`` keeps keys a newer kitekit wrote, so an older one reading and rewriting the file loses nothing.
    """

    api_key: str
    user_id: str
    user_name: str
    access_token: str = field(repr=False)
    login_time: datetime
    expires_at: datetime
    root: str
    refresh_token: str = field(default="", repr=False)
    dead: bool = False
    verified_at: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def is_expired(self, now: datetime) -> bool:
        """Return True once the token is dead or past its expiry."""
        return self.dead or now >= self.expires_at

    def to_json(self) -> bytes:
        """Return the JSON the session file holds."""
        data: dict[str, Any] = {**self.extra, **asdict(self)}
        del data["extra"]
        for key in ("login_time", "expires_at", "verified_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data, indent=2).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SavedSession:
        """Parse a session file; keys this version does not know are kept in ``extra``.

        Raises:
            ValueError: the file is not a session (not JSON, a field missing or of the wrong type); the
                message names the field.
        """
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for key in ("api_key", "user_id", "user_name", "access_token", "root", "login_time", "expires_at"):
            if not isinstance(data.get(key), str):
                raise ValueError(f"{key!r} is missing or not text")
        if not data["access_token"]:
            raise ValueError("'access_token' is empty")
        if not isinstance(data.get("refresh_token", ""), str) or not isinstance(data.get("dead", False), bool):
            raise ValueError("'refresh_token' or 'dead' has the wrong type")
        verified = data.get("verified_at")
        if verified is not None and not isinstance(verified, str):
            raise ValueError("'verified_at' is not text")
        login_time, expires_at = (datetime.fromisoformat(data[k]) for k in ("login_time", "expires_at"))
        if login_time.tzinfo is None or expires_at.tzinfo is None:
            raise ValueError("naive timestamps")
        # Kite ends every session at the 06:00 IST after its login, at most a day later: an expires_at
        # beyond that (the year 9999) was not written by a login and would keep a dead token "valid".
        if not timedelta(0) < expires_at - login_time <= timedelta(days=1):
            raise ValueError("'expires_at' is not within a day after 'login_time' (Kite ends sessions at 06:00 IST)")
        known = {f.name for f in fields(cls)} - {"extra"}
        return cls(
            api_key=data["api_key"],
            user_id=data["user_id"],
            user_name=data["user_name"],
            access_token=data["access_token"],
            login_time=login_time,
            expires_at=expires_at,
            root=data["root"],
            refresh_token=data.get("refresh_token", ""),
            dead=data.get("dead", False),
            verified_at=datetime.fromisoformat(verified) if verified else None,
            extra={k: v for k, v in data.items() if k not in known},
        )


class SessionStore:
    """One session file plus its lock; writes are atomic and 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: BaseFileLock | None = None
        #: Why the file was last found damaged (None when it was fine or absent).
        self.damage: str | None = None
        #: The file's stamp when :meth:`current` last read it, and what it read.
        self._seen: tuple[tuple[int, int, int], SavedSession | None] | None = None

    @classmethod
    def for_api_key(cls, api_key: str, directory: Path | None = None) -> SessionStore:
        """Return the store for ``api_key`` under ``directory`` (default ``<data dir>/sessions``)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", api_key)
        return cls((directory or data_dir() / "sessions") / f"{safe}.json")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cross-process lock (login, save and mark-dead take it).

        Holding it, nobody else writes this file, so temporary files a killed save left behind are removed.
        """
        ensure_dir(self.path.parent)
        if self._lock is None:
            from filelock import FileLock  # imported here: reading a session (`kitekit status`) needs no lock

            self._lock = FileLock(str(self.path.with_name(self.path.name + ".lock")), timeout=120, mode=0o600)
        with self._lock:
            for leftover in self.path.parent.glob(f".{self.path.name}.*.tmp"):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            yield

    def load(self) -> SavedSession | None:
        """Return the saved session, or None if there is none or the file is damaged.

        A damaged file is left in place for the next login to replace; :attr:`damage` says what is wrong.

        Raises:
            OSError: the file exists but cannot be read (permissions, a directory in its place).
        """
        self.damage = None
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return SavedSession.from_json(raw)
        except (ValueError, KeyError, TypeError) as exc:
            self.damage = str(exc) or type(exc).__name__
            log.warning("The session file %s is damaged (%s); log in again to replace it.", self.path, self.damage)
            return None

    def current(self) -> SavedSession | None:
        """Return the saved session, reading the file again only when it changed since the last call.

        For checks made before every request (a session another process marked dead): the file is replaced
        on every write (a new inode) and marking it dead changes its size, so an unchanged (mtime, size,
        inode) means unchanged content. Reads that lead to a write (:meth:`update`) always use :meth:`load`.

        Raises:
            OSError: the file exists but cannot be read.
        """
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            self._seen = None
            return None
        stamp = (info.st_mtime_ns, info.st_size, info.st_ino)
        seen = self._seen
        if seen is not None and seen[0] == stamp:
            return seen[1]
        # Stamped before reading: a file replaced in between is read again on the next call, never missed.
        session = self.load()
        self._seen = (stamp, session)
        return session

    def save(self, session: SavedSession) -> None:
        """Write the session atomically with mode 0600."""
        atomic_write(self.path, session.to_json(), mode=0o600)
        warn_if_tracked(self.path)

    def update(self, **changes: Any) -> SavedSession | None:
        """Change fields of the saved session under the lock; return the new session (None if none saved)."""
        with self.locked():
            current = self.load()
            if current is None:
                return None
            new = replace(current, **changes)
            self.save(new)
            return new

    def delete(self) -> bool:
        """Remove the session file; return True if there was one."""
        with self.locked():
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
            return True
