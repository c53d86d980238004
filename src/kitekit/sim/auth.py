"""Simulated Kite login: web login with TOTP, request tokens, access tokens, expiry and invalidation."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import string
import threading
from collections.abc import Iterator
from dataclasses import MISSING, asdict, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import pyotp
from filelock import FileLock

from kitekit.clock import IST, Clock, SystemClock
from kitekit.files import atomic_write
from kitekit.sim.config import SimConfig
from kitekit.sim.errors import invalid_input, token_error
from kitekit.wire.auth import parse_authorization
from kitekit.wire.envelope import ErrorType, RejectionError

__all__ = ["AuthState", "Grant", "checksum"]

log = logging.getLogger("kitekit.sim")

_ALPHABET = string.ascii_letters + string.digits


def _token(n: int = 32) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def _same(given: str, expected: str) -> bool:
    """Compare secrets in constant time; as bytes, since ``compare_digest`` refuses non-ASCII text."""
    return hmac.compare_digest(given.encode(), expected.encode())


def checksum(api_key: str, token: str, api_secret: str) -> str:
    """Return Kite's checksum: hex SHA-256 of ``api_key + token + api_secret``."""
    return hashlib.sha256((api_key + token + api_secret).encode()).hexdigest()


@dataclass
class Grant:
    """One access token and what it belongs to."""

    access_token: str = field(repr=False)
    api_key: str
    user_id: str
    login_time: str  # ISO, aware
    expires_at: str  # ISO, aware
    public_token: str = field(repr=False)
    enctoken: str = field(repr=False)
    refresh_token: str = field(default="", repr=False)
    revoked: bool = False

    def expired(self, now: datetime) -> bool:
        """Return True once the token is revoked or past its flush time."""
        return self.revoked or now >= datetime.fromisoformat(self.expires_at)

    @classmethod
    def from_record(cls, record: Any) -> Grant:
        """Return the grant a state file's record describes.

        Raises:
            ValueError: ``record`` is not exactly a grant's fields with their types, or a time in it is not
                an aware ISO datetime (one that :meth:`expired` could not compare later).
        """
        names = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.default is MISSING}
        if not isinstance(record, dict) or not required <= set(record) <= names:
            raise ValueError("a grant record must hold exactly the grant's fields")
        grant = cls(**record)
        if not isinstance(grant.revoked, bool) or not all(
            isinstance(getattr(grant, name), str) for name in names - {"revoked"}
        ):
            raise ValueError("a grant record holds a field of the wrong type")
        for stamp in (grant.login_time, grant.expires_at):
            if datetime.fromisoformat(stamp).tzinfo is None:
                raise ValueError("a grant's times must carry their UTC offset")
        return grant


@dataclass
class _Pending:
    api_key: str
    expires: datetime
    redirect_params: str


class AuthState:
    """All login state of the simulator; thread-safe; optionally persisted to ``config.state_file``.

    Token lifetimes (request tokens, the 06:00 flush) follow the simulator's market ``clock``; TOTP codes follow
    ``totp_clock``, the wall clock by default, because an authenticator app makes them from real time (RFC 6238).
    Several processes may share one state file (every ``--sim`` command on one simulated world): each change is
    made under a file lock on the file as it is on disk, and a change made by another process is read back
    before a token is checked.
    """

    def __init__(self, config: SimConfig, clock: Clock, totp_clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock
        self.totp_clock = totp_clock or SystemClock()
        self._lock = threading.RLock()
        self._request_tokens: dict[str, _Pending] = {}
        self._web_requests: dict[str, datetime] = {}  # request_id of a password login awaiting TOTP
        self._web_sessions: set[str] = set()  # browser sessions that passed 2FA
        self._grants: dict[str, Grant] = {}
        self._refresh: dict[str, str] = {}  # refresh_token -> user_id
        self._seen: tuple[int, int] | None = None
        path = config.state_file
        self._file_lock = FileLock(str(path.with_name(f".{path.name}.lock")), mode=0o600) if path is not None else None
        self._load()

    # -- persistence -------------------------------------------------------------------------------
    def _stamp(self) -> tuple[int, int] | None:
        path = self.config.state_file
        try:
            st = path.stat() if path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_mtime_ns, st.st_size)

    def _sync(self) -> None:
        """Read the state file again if another process changed it since this one last read or wrote it."""
        if self.config.state_file is not None and self._stamp() != self._seen:
            self._load()

    @contextlib.contextmanager
    def _changing(self) -> Iterator[None]:
        """Hold the thread lock and the file lock, on the latest state; save it afterwards."""
        with self._lock, self._file_lock or contextlib.nullcontext():
            self._sync()
            yield
            self._save()

    def _load(self) -> None:
        path = self.config.state_file
        self._seen = self._stamp()
        if path is None or self._seen is None:
            return
        try:
            raw = json.loads(path.read_bytes())
            records = raw.get("grants", []) if isinstance(raw, dict) else None
            if not isinstance(records, list):
                raise ValueError("not a simulator state file")
            grants = [Grant.from_record(record) for record in records]
        except (OSError, ValueError, TypeError) as exc:
            # A damaged state file only costs a fresh login; never let it stop the simulator.
            log.warning("ignoring the simulator state file %s: %s", path, exc)
            grants = []
        self._grants = {g.access_token: g for g in grants}

    def _save(self) -> None:
        path = self.config.state_file
        if path is None:
            return
        now = self.clock.now()
        live = [asdict(g) for g in self._grants.values() if not g.expired(now)]
        # Access tokens are secrets: the file is 0600 from its first byte.
        atomic_write(path, json.dumps({"grants": live}).encode(), mode=0o600)
        self._seen = self._stamp()

    # -- web login (what Kite's login page does) ---------------------------------------------------
    def check_api_key(self, api_key: str | None) -> None:
        """Raise InputException unless ``api_key`` is the simulator app's key."""
        if not api_key or not _same(api_key, self.config.api_key):
            raise invalid_input("Invalid `api_key`.")

    def password_login(self, user_id: str, password: str) -> str:
        """Check user id and password; return a ``request_id`` for the TOTP step."""
        cfg = self.config
        if not (_same(user_id.upper(), cfg.user_id) and _same(password, cfg.password)):
            raise RejectionError(ErrorType.INPUT, "Invalid `user_id` or `password`.")
        request_id = _token(40)
        with self._lock:
            self._web_requests[request_id] = self.clock.now() + timedelta(minutes=5)
        return request_id

    def twofa(self, user_id: str, request_id: str, value: str) -> str:
        """Check the TOTP for a pending password login; return a browser session id."""
        now = self.clock.now()
        with self._lock:
            deadline = self._web_requests.get(request_id)
            if deadline is None or now > deadline or user_id.upper() != self.config.user_id:
                raise RejectionError(ErrorType.TOKEN, "Invalid or expired login request. Log in again.")
            # Accept the current 30 s step and one either side, as authenticator apps drift.
            ok = pyotp.TOTP(self.config.totp_secret).verify(
                value.strip(), for_time=self.totp_clock.now(), valid_window=1
            )
            if not ok:
                raise RejectionError(ErrorType.INPUT, "Invalid TOTP.")
            del self._web_requests[request_id]
            session = _token(32)
            self._web_sessions.add(session)
        return session

    def web_session_ok(self, session: str | None) -> bool:
        """Return True if a browser session cookie passed 2FA."""
        with self._lock:
            return bool(session) and session in self._web_sessions

    def issue_request_token(self, api_key: str, redirect_params: str = "") -> str:
        """Return a fresh single-use request token for ``api_key``."""
        self.check_api_key(api_key)
        token = _token(32)
        with self._lock:
            expires = self.clock.now() + timedelta(seconds=self.config.request_token_ttl_s)
            self._request_tokens[token] = _Pending(api_key, expires, redirect_params)
        return token

    # -- session API -------------------------------------------------------------------------------
    def exchange(self, api_key: str, request_token: str, given_checksum: str) -> Grant:
        """``POST /session/token``: trade a request token for an access token."""
        self.check_api_key(api_key)
        expected = checksum(api_key, request_token, self.config.api_secret)
        if not _same(expected, given_checksum.lower()):
            raise token_error("Invalid `checksum`.")
        now = self.clock.now()
        with self._changing():
            pending = self._request_tokens.pop(request_token, None)
            if pending is None or pending.api_key != api_key or now > pending.expires:
                raise token_error("Token is invalid or has expired.")
            return self._grant(now)

    def refresh(self, api_key: str, refresh_token: str, given_checksum: str) -> Grant:
        """``POST /session/refresh_token``: a new access token from a refresh token."""
        self.check_api_key(api_key)
        expected = checksum(api_key, refresh_token, self.config.api_secret)
        if not _same(expected, given_checksum.lower()):
            raise token_error("Invalid `checksum`.")
        with self._changing():
            if refresh_token not in self._refresh:
                raise token_error("Token is invalid or has expired.")
            return self._grant(self.clock.now())

    def _grant(self, now: datetime) -> Grant:
        cfg = self.config
        if cfg.single_session:  # a new login ends the user's older sessions, as on Kite
            for g in self._grants.values():
                g.revoked = True
        local = now.astimezone(IST)
        flush = datetime.combine(local.date(), cfg.token_flush, tzinfo=IST)
        if flush <= local:
            flush += timedelta(days=1)
        refresh = _token(32) if cfg.refresh_tokens else ""
        if refresh:
            self._refresh[refresh] = cfg.user_id
        grant = Grant(
            access_token=_token(32),
            api_key=cfg.api_key,
            user_id=cfg.user_id,
            login_time=local.replace(microsecond=0).isoformat(),
            expires_at=flush.isoformat(),
            public_token=_token(32),
            enctoken=_token(48),
            refresh_token=refresh,
        )
        self._grants[grant.access_token] = grant
        return grant

    def authenticate(self, authorization: str | None) -> Grant:
        """Return the grant behind an ``Authorization: token key:access_token`` header, or raise 403."""
        credentials = parse_authorization(authorization)
        if credentials is None:
            raise token_error()
        return self.grant_of(*credentials)

    def grant_of(self, api_key: str, access_token: str) -> Grant:
        """Return the live grant of ``access_token`` if it belongs to ``api_key``, or raise 403."""
        with self._lock:
            self._sync()
            grant = self._grants.get(access_token)
        if grant is None or grant.api_key != api_key or grant.expired(self.clock.now()):
            raise token_error()
        return grant

    def invalidate(self, api_key: str, access_token: str | None, refresh_token: str | None) -> None:
        """``DELETE /session/token``: revoke an access token or a refresh token."""
        self.check_api_key(api_key)
        with self._changing():
            if access_token and access_token in self._grants:
                self._grants[access_token].revoked = True
            if refresh_token:
                self._refresh.pop(refresh_token, None)

    def expire_all(self) -> int:
        """Revoke every access token (admin: forced expiry); return how many were live."""
        now = self.clock.now()
        with self._changing():
            live = [g for g in self._grants.values() if not g.expired(now)]
            for g in live:
                g.revoked = True
        return len(live)

    def live_sessions(self) -> int:
        """Return how many access tokens are currently valid."""
        now = self.clock.now()
        with self._lock:
            self._sync()
            return sum(1 for g in self._grants.values() if not g.expired(now))
