"""Angel logins: client code + PIN + TOTP for a JWT, a refresh token and a feed token; their lifetimes.

The JWT is a real one (HS512, signed with a per-process key) whose payload carries ``username`` (the client
code), ``iat`` and ``exp``, as Angel's do, so a client can read its expiry without asking. A token is checked by
looking it up, not by its signature: sessions persist in the world's ``config.state_file`` when it has one, and
every simulator process on the world (each ``--sim`` command) accepts them, as Angel's servers do
(:class:`~kitekit.sim.shared_state.SharedStateFile`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import pyotp

from kitekit.clock import Clock, SystemClock
from kitekit.sim.angel.config import AngelSimConfig
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.shared_state import SharedStateFile
from kitekit.wire.angel.envelope import ErrorCode

__all__ = ["AngelAuth", "AngelSession"]


@dataclass
class AngelSession:
    """One login: its tokens and when they expire."""

    client_code: str
    jwt: str
    refresh_token: str
    feed_token: str
    expires: datetime
    refresh_expires: datetime

    def to_json(self) -> dict[str, Any]:
        """Return the session as the state file keeps it."""
        times = {"expires": self.expires.isoformat(), "refresh_expires": self.refresh_expires.isoformat()}
        return asdict(self) | times

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> AngelSession:
        """Return the session a state file's record describes (KeyError, TypeError or ValueError if none)."""
        times = {k: datetime.fromisoformat(raw[k]) for k in ("expires", "refresh_expires")}
        return cls(**(raw | times))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8", "replace"), expected.encode())


class AngelAuth:
    """The simulator's logins; thread-safe.

    Args:
        config: the one client it knows.
        clock: the market clock token lifetimes follow.
        totp_clock: the clock TOTP codes follow (the wall: an authenticator app shows the wall's code).
    """

    def __init__(self, config: AngelSimConfig, clock: Clock, totp_clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock
        self.totp_clock = totp_clock or SystemClock()
        self._key = secrets.token_bytes(32)
        self._by_jwt: dict[str, AngelSession] = {}
        self._by_refresh: dict[str, AngelSession] = {}
        self._state = SharedStateFile(config.state_file, self._read, self._dump)
        self._lock = self._state.lock

    def _read(self, raw: Any) -> None:
        sessions = [AngelSession.from_json(record) for record in (raw or {}).get("sessions", [])]
        self._by_jwt = {s.jwt: s for s in sessions}
        self._by_refresh = {s.refresh_token: s for s in sessions}

    def _dump(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"sessions": [s.to_json() for s in self._by_refresh.values() if s.refresh_expires > now]}

    def _jwt(self, client_code: str, issued: datetime, expires: datetime) -> str:
        header = _b64(json.dumps({"alg": "HS512", "typ": "JWT"}).encode())
        claims = {
            "username": client_code,
            "roles": 0,
            "usertype": "USER",
            "token": secrets.token_hex(16),
            "iat": int(issued.timestamp()),
            "exp": int(expires.timestamp()),
        }
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{payload}".encode(), hashlib.sha512).digest())
        return f"{header}.{payload}.{signature}"

    def _issue(self, client_code: str) -> AngelSession:
        now = self.clock.now()
        expires = now + timedelta(seconds=self.config.jwt_lifetime_s)
        session = AngelSession(
            client_code,
            self._jwt(client_code, now, expires),
            self._jwt(client_code, now, now + timedelta(seconds=self.config.refresh_lifetime_s)),
            secrets.token_hex(16),
            expires,
            now + timedelta(seconds=self.config.refresh_lifetime_s),
        )
        self._by_jwt[session.jwt] = session
        self._by_refresh[session.refresh_token] = session
        return session

    def login(self, client_code: str, password: str, totp: str) -> AngelSession:
        """``loginByPassword``: return a new session.

        Raises:
            AngelError: AB1000 for an unknown client code or a wrong PIN, AB1050 for a wrong TOTP.
        """
        cfg = self.config
        if not (_same(client_code, cfg.client_code) and _same(password, cfg.pin)):
            raise AngelError(ErrorCode.INVALID_CREDENTIALS)
        totp_ok = pyotp.TOTP(cfg.totp_secret).verify(totp, for_time=self.totp_clock.now(), valid_window=1)
        if not totp_ok:
            raise AngelError(ErrorCode.INVALID_TOTP)
        with self._state.changing():
            return self._issue(client_code)

    def session_of(self, authorization: str | None) -> AngelSession:
        """Return the live session an ``Authorization: Bearer <jwt>`` header names.

        Raises:
            AngelError: AG8003 without a token, AG8001 for an unknown one, AG8002 for an expired one.
        """
        raw = (authorization or "").strip()
        jwt = raw[7:].strip() if raw[:7].lower() == "bearer " else raw
        if not jwt:
            raise AngelError(ErrorCode.TOKEN_MISSING)
        self._state.sync()  # another simulator process of the world may have issued or ended it
        with self._lock:
            session = self._by_jwt.get(jwt)
        if session is None:
            raise AngelError(ErrorCode.INVALID_TOKEN)
        if self.clock.now() >= session.expires:
            raise AngelError(ErrorCode.TOKEN_EXPIRED)
        return session

    def refresh(self, refresh_token: str) -> AngelSession:
        """``generateTokens``: return a new session for a live refresh token (the old JWT stops working).

        Raises:
            AngelError: AB8050 for an unknown refresh token, AB8051 for an expired one.
        """
        with self._state.changing():
            old = self._by_refresh.get(refresh_token)
            if old is None:
                raise AngelError(ErrorCode.INVALID_REFRESH_TOKEN)
            if self.clock.now() >= old.refresh_expires:
                raise AngelError(ErrorCode.REFRESH_TOKEN_EXPIRED)
            self._forget(old)
            return self._issue(old.client_code)

    def logout(self, session: AngelSession) -> None:
        """Forget a session: its JWT, refresh and feed tokens stop working."""
        with self._state.changing():
            self._forget(session)

    def _forget(self, session: AngelSession) -> None:
        self._by_jwt.pop(session.jwt, None)
        self._by_refresh.pop(session.refresh_token, None)

    def stream_session(self, jwt: str, client_code: str, feed_token: str) -> AngelSession | None:
        """Return the live session a WebSocket handshake names (JWT, client code, feed token), or None."""
        try:
            session = self.session_of(jwt)
        except AngelError:
            return None
        if not (_same(client_code, session.client_code) and _same(feed_token, session.feed_token)):
            return None
        return session
