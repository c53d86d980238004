"""The saved session: what a login leaves on disk (0600, atomic, locked) and when it expires."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST
from kitekit.config import data_dir, warn_if_tracked
from kitekit.files import atomic_write, ensure_dir

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
    """A logged-in session as saved on disk. Times are aware; ``dead`` is set when Kite rejected the token."""

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

    def is_expired(self, now: datetime) -> bool:
        """Return True once the token is dead or past its expiry."""
        return self.dead or now >= self.expires_at

    def to_json(self) -> bytes:
        """Return the JSON the session file holds."""
        data: dict[str, Any] = asdict(self)
        for key in ("login_time", "expires_at", "verified_at"):
            data[key] = data[key].isoformat() if data[key] else None
        return json.dumps(data, indent=2).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> SavedSession:
        """Parse a session file.

        Raises:
            ValueError: the file is not a session this version wrote.
        """
        data = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        for key in ("login_time", "expires_at"):
            data[key] = datetime.fromisoformat(data[key])
        data["verified_at"] = datetime.fromisoformat(data["verified_at"]) if data.get("verified_at") else None
        if any(d.tzinfo is None for d in (data["login_time"], data["expires_at"])):
            raise ValueError("naive timestamps")
        return cls(**data)


class SessionStore:
    """One session file plus its lock; writes are atomic and 0600."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: BaseFileLock | None = None

    @classmethod
    def for_api_key(cls, api_key: str, directory: Path | None = None) -> SessionStore:
        """Return the store for ``api_key`` under ``directory`` (default ``<data dir>/sessions``)."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", api_key)
        return cls((directory or data_dir() / "sessions") / f"{safe}.json")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cross-process lock (login, save and mark-dead take it)."""
        ensure_dir(self.path.parent)
        if self._lock is None:
            from filelock import FileLock  # imported here: reading a session (`kitekit status`) needs no lock

            self._lock = FileLock(str(self.path.with_name(self.path.name + ".lock")), timeout=120, mode=0o600)
        with self._lock:
            yield

    def load(self) -> SavedSession | None:
        """Return the saved session, or None if there is none or the file is damaged (it is then ignored)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return SavedSession.from_json(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("Ignoring the damaged session file %s; log in again to replace it.", self.path)
            return None

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
