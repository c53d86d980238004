"""Angel One's daily session: client code + PIN + TOTP, the saved session (0600), refresh before the JWT expires.

Angel has no browser redirect for a personal app: the login is ``loginByPassword`` with the client code, the
PIN and a TOTP code made from the account's secret, which makes it unattended and cron-safe (a transient
failure is retried with a fresh code; wrong credentials are not). The answer's ``jwtToken`` lives a lifetime
(its ``exp`` claim; 24 h), and ``generateTokens`` renews it by the ``refreshToken``: :meth:`AngelSession.client`
renews a session about to end (within ``refresh_before``) so a long run never meets an expired JWT.

The saved session is one JSON file written atomically with mode 0600: the three tokens and the facts
:class:`~kitekit.brokers.session.SessionInfo` shows (never a token). Tokens are registered with
:mod:`kitekit.redact` so no log line shows them.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import requests
from requests.adapters import HTTPAdapter

from kitekit import redact
from kitekit.brokers.angel.capabilities import BROKER, SESSION_LIFETIME
from kitekit.brokers.angel.client import AngelApiError, AngelClient
from kitekit.brokers.session import SessionInfo, relogin_advice
from kitekit.brokers.session_file import SavedSessionFile, SessionReads, parse_times, record_json
from kitekit.clock import IST, Clock, SystemClock
from kitekit.errors import BrokerFeatureError, LoginError, NoSessionError
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.wire.angel.envelope import ErrorCode
from kitekit.wire.angel.routes import Route

__all__ = ["AngelCredentials", "AngelSession", "SavedAngelSession"]

log = logging.getLogger("kitekit.brokers.angel")

#: Angel's codes that no retry can fix: the credentials themselves are wrong.
_FINAL = frozenset({ErrorCode.INVALID_CREDENTIALS.value})


@dataclass(frozen=True)
class AngelCredentials:
    """What logging in to Angel One takes; ``repr`` shows none of the secrets."""

    api_key: str
    client_code: str
    pin: str
    totp_secret: str
    root: str

    def __repr__(self) -> str:
        return f"AngelCredentials(api_key={self.api_key!r}, client_code={self.client_code!r}, root={self.root!r})"


@dataclass(frozen=True)
class SavedAngelSession:
    """The saved session file's content."""

    client_code: str
    user_name: str
    jwt: str
    refresh_token: str
    feed_token: str
    login_time: datetime
    expires_at: datetime
    dead: bool = False

    def __repr__(self) -> str:
        return f"SavedAngelSession({self.client_code!r}, expires_at={self.expires_at.isoformat()}, dead={self.dead})"

    def info(self) -> SessionInfo:
        """Return the neutral facts (no token)."""
        return SessionInfo(BROKER, self.client_code, self.user_name, self.login_time, self.expires_at, self.dead)

    def to_json(self) -> bytes:
        """Return the file's bytes."""
        return record_json(self)

    @classmethod
    def from_json(cls, raw: bytes) -> SavedAngelSession:
        """Return the session in a file's bytes.

        Raises:
            ValueError: not a saved session.
        """
        record = json.loads(raw)
        if not isinstance(record, dict):
            raise ValueError("not a saved Angel session")
        return cls(**parse_times(record))


def _register_tokens(saved: SavedAngelSession) -> None:
    redact.register(saved.jwt, saved.refresh_token, saved.feed_token)


def jwt_expiry(jwt: str) -> datetime | None:
    """Return the ``exp`` claim of a JWT (read, not verified: the server verifies it), None if it has none."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), IST)
    except (IndexError, ValueError, KeyError, TypeError):
        return None


class AngelSession(SessionReads[SavedAngelSession]):
    """The neutral :class:`~kitekit.brokers.session.BrokerSession` for Angel One.

    Args:
        credentials: the api_key, client code, PIN, TOTP secret and REST root.
        path: the saved session file.
        clock: the session's time (a simulator's market clock against one).
        totp_clock: the time TOTP codes are made at (default ``clock``).
        pacer: Angel's pacer (:func:`~kitekit.brokers.angel.client.angel_pacer`).
        retry: attempts and backoff of reads and of the login.
        login_hint: the command users are told to run to log in again.
        refresh_before: how long before the JWT's end :meth:`client` renews it.
        sleep: how to pause between login attempts (injectable).
        adapter: the ``requests`` transport every client of this session sends through (None: requests' own).
    """

    broker = BROKER

    def __init__(
        self,
        credentials: AngelCredentials,
        path: Path,
        *,
        clock: Clock | None = None,
        totp_clock: Clock | None = None,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        login_hint: str = "kitekit login --broker angel",
        refresh_before: timedelta = timedelta(hours=1),
        sleep: Callable[[float], None] = time.sleep,
        adapter: HTTPAdapter | None = None,
    ) -> None:
        self.credentials = credentials
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self.totp_clock: Clock = totp_clock or self.clock
        self.pacer = pacer
        self.retry = retry or RetryPolicy()
        self.login_hint = login_hint
        self.refresh_before = refresh_before
        self.sleep = sleep
        self.adapter = adapter
        self.file = SavedSessionFile(
            path,
            SavedAngelSession.from_json,
            "Angel One",
            lambda s: redact.register(s.jwt, s.refresh_token, s.feed_token),
        )
        self._lock = self.file.lock
        redact.register(credentials.pin, credentials.totp_secret)

    # -- the saved session -------------------------------------------------------------------------
    def _load(self) -> SavedAngelSession | None:
        return self.file.load()

    def _save(self, saved: SavedAngelSession) -> SavedAngelSession:
        return self.file.save(saved)

    def stored(self) -> SavedAngelSession | None:
        """Return the saved session with its tokens (for this package's clients), None if nothing is saved."""
        return self._load()

    def next_expiry(self, moment: datetime) -> datetime:
        """Return when a JWT issued at ``moment`` ends: its lifetime later (Angel gives no daily flush)."""
        return moment + SESSION_LIFETIME

    # -- logging in ---------------------------------------------------------------------------------
    def login_url(self) -> str:
        """Angel One's personal apps have no login page: raise BrokerFeatureError."""
        raise BrokerFeatureError(f"Angel One logs in by client code, PIN and TOTP: {self.login_hint}")

    def login_with_redirect(
        self,
        timeout: float = 300.0,
        open_browser: Callable[[str], bool] | None = None,
        show_url: Callable[[str], None] | None = None,
    ) -> SessionInfo:
        """Not offered by Angel One: raise BrokerFeatureError."""
        raise BrokerFeatureError(f"Angel One has no browser login for SmartAPI apps; use TOTP: {self.login_hint}")

    def login_with_paste(self, pasted: str) -> SessionInfo:
        """Not offered by Angel One: raise BrokerFeatureError."""
        raise BrokerFeatureError(f"Angel One has no redirect to paste; use TOTP: {self.login_hint}")

    def _bare(self, jwt: str | None = None) -> AngelClient:
        c = self.credentials
        return AngelClient(
            c.api_key, c.client_code, c.root, jwt, pacer=self.pacer, retry=self.retry, adapter=self.adapter
        )

    def login_unattended(self) -> SessionInfo:
        """Log in by client code, PIN and a TOTP code; save the session. Cron-safe.

        A transient failure (the network, a rate-limited or 5xx answer, a TOTP code refused at a window's
        edge) is retried with a fresh code, up to ``retry.attempts`` times; wrong credentials are not.
        Routes: ``POST loginByPassword``, ``GET getProfile``.

        Raises:
            LoginError: Angel refused the credentials, or every attempt failed (the message says why).
        """
        c = self.credentials
        attempts = max(self.retry.attempts, 3)
        last: Exception | None = None
        with self._lock:
            for attempt in range(attempts):
                client = self._bare()
                try:
                    code = pyotp.TOTP(c.totp_secret).at(self.totp_clock.now())
                    tokens = client.call(
                        Route.LOGIN, {"clientcode": c.client_code, "password": c.pin, "totp": code}, auth=False
                    )
                    saved = self._from_tokens(client, tokens)
                    return self._save(saved).info()
                except AngelApiError as exc:
                    if exc.code in _FINAL:
                        raise LoginError(
                            f"Angel One refused the login of {c.client_code}: {exc.failure.message}"
                        ) from None
                    last = exc
                except (requests.RequestException, OSError, LoginError) as exc:
                    last = exc
                finally:
                    client.close()
                log.info("Angel One login attempt %d failed (%s); retrying", attempt + 1, last)
                self.sleep(self.retry.delay(attempt))
        raise LoginError(f"Angel One login of {c.client_code} failed after {attempts} attempts: {last}")

    def _from_tokens(self, client: AngelClient, tokens: Any) -> SavedAngelSession:
        if not isinstance(tokens, dict) or not tokens.get("jwtToken"):
            raise LoginError("Angel One's login answer carried no jwtToken")
        jwt, refresh, feed = (
            str(tokens["jwtToken"]),
            str(tokens.get("refreshToken", "")),
            str(tokens.get("feedToken", "")),
        )
        redact.register(jwt, refresh, feed)
        client.jwt = jwt
        profile = client.call(Route.PROFILE, method="GET")
        now = self.clock.now()
        expires = self.next_expiry(now)
        claimed = jwt_expiry(jwt)
        if claimed is not None and claimed < expires - timedelta(minutes=1):
            expires = claimed  # a JWT that says it ends sooner than Angel's usual lifetime is believed
        name = str(profile.get("name", "")) if isinstance(profile, dict) else ""
        return SavedAngelSession(self.credentials.client_code, name, jwt, refresh, feed, now, expires)

    def refresh(self) -> SessionInfo:
        """Renew the saved session's JWT by its refresh token (``POST generateTokens``); save it.

        Raises:
            NoSessionError: nothing saved.
            SessionExpiredError: Angel refused the refresh token (log in again).
        """
        from kitekit.errors import SessionExpiredError

        with self._lock:
            saved = self._load()
            if saved is None:
                raise NoSessionError(f"Not logged in to Angel One. Log in: {self.login_hint}")
            client = self._bare(saved.jwt)
            try:
                tokens = client.call(Route.TOKEN, {"refreshToken": saved.refresh_token}, auth=False)
                fresh = self._from_tokens(client, tokens)
            except AngelApiError as exc:
                raise SessionExpiredError(
                    f"Angel One refused to renew the session ({exc.code}). Log in again: {self.login_hint}"
                ) from None
            finally:
                client.close()
            return self._save(replace(fresh, user_name=fresh.user_name or saved.user_name)).info()

    def logout(self) -> bool:
        """End the session at Angel (``POST logout``) and delete the saved one; return True if one was saved."""
        with self._lock:
            saved = self._load()
            if saved is None:
                return False
            if not saved.info().expired(self.clock.now()):
                client = self._bare(saved.jwt)
                try:
                    client.call(Route.LOGOUT, {"clientcode": saved.client_code})
                except Exception as exc:
                    log.info("Angel One logout: %s (the saved session is deleted anyway)", type(exc).__name__)
                finally:
                    client.close()
            self.path.unlink(missing_ok=True)
            return True

    def mark_dead(self, jwt: str | None = None) -> None:
        """Record that Angel rejected the saved session's JWT (advice then says so).

        Args:
            jwt: the JWT rejected (None: whichever is saved); a session saved since with another is left alone.
        """
        self.file.mark_dead(lambda saved: jwt is None or saved.jwt == jwt)

    def current(self) -> SavedAngelSession:
        """Return the saved session, renewed first when it ends within ``refresh_before``.

        Raises:
            NoSessionError: nothing saved.
            SessionExpiredError: the session is over or was rejected (log in again).
        """
        from kitekit.errors import SessionExpiredError

        with self._lock:
            saved = self._load()
            if saved is None:
                raise NoSessionError(f"Not logged in to Angel One. Log in: {self.login_hint}")
            now = self.clock.now()
            if saved.info().expired(now):
                raise SessionExpiredError(relogin_advice(saved.info(), now, self.login_hint, timedelta(0)) or "expired")
            if saved.expires_at - now <= self.refresh_before and saved.refresh_token:
                self.refresh()
                fresh = self._load()
                assert fresh is not None  # noqa: S101 - refresh() saved it
                return fresh
            return saved

    def client(self, verify: bool | None = None) -> AngelClient:
        """Return a paced :class:`AngelClient` on the saved session (renewed first when about to end).

        Raises:
            NoSessionError: nothing saved.
            SessionExpiredError: the session is over or was rejected.
        """
        saved = self.current()
        c = self.credentials
        client = AngelClient(
            c.api_key,
            c.client_code,
            c.root,
            saved.jwt,
            pacer=self.pacer,
            retry=self.retry,
            on_token_rejected=lambda: self.mark_dead(saved.jwt),
            adapter=self.adapter,
        )
        if verify:
            client.call(Route.PROFILE, method="GET")
        return client
