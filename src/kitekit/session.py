"""Saved Kite sessions: log in, store the access token safely, hand out verified ``KiteConnect`` clients.

The session file (0600, written atomically, guarded by a file lock) holds the access token with its expiry,
06:00 IST after the login. :meth:`SessionManager.get_kite` fails fast, without a network call, when the
saved token is known to be dead, and its message says exactly what to run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import secrets
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from filelock import FileLock
from kiteconnect import KiteConnect
from kiteconnect.exceptions import KiteException, TokenException

from kitekit import redact
from kitekit.clock import IST, Clock, SystemClock
from kitekit.config import Settings, data_dir, warn_if_tracked
from kitekit.errors import LoginError, NoSessionError, SessionExpiredError
from kitekit.files import atomic_write
from kitekit.login import (
    RedirectCatcher,
    RedirectResult,
    build_login_url,
    next_token_expiry,
    parse_redirect,
    totp_login,
)
from kitekit.retry import RetryPolicy
from kitekit.throttle import Pacer
from kitekit.transport import install_transport

__all__ = ["SavedSession", "SessionManager", "SessionStore"]

log = logging.getLogger("kitekit.session")

#: Installs transport adapters (pacing, retries) on a fresh client; see ``SessionManager(install=…)``.
Installer = Callable[[KiteConnect, "SessionManager"], None]


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
        self._lock = FileLock(str(path.with_name(path.name + ".lock")), timeout=120)

    @classmethod
    def for_api_key(cls, api_key: str, directory: Path | None = None) -> SessionStore:
        """Return the store for ``api_key`` under ``<data dir>/sessions``."""
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", api_key)
        return cls((directory or data_dir() / "sessions") / f"{safe}.json")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the cross-process lock (login, save and mark-dead take it)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
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


class SessionManager:
    """Logs in, saves sessions and returns verified ``KiteConnect`` clients for one api_key.

    Args:
        settings: credentials and URLs (see :func:`kitekit.config.load_settings`).
        store: where the session lives; defaults to ``<data dir>/sessions/<api_key>.json``.
        clock: the time source (expiry checks, TOTP).
        verify_every: how often :meth:`get_kite` confirms the token with ``GET /user/profile``.
        install: called on every new client, e.g. to mount pacing and retry adapters.
        login_hint: the command users are told to run when they must log in again.
    """

    def __init__(
        self,
        settings: Settings,
        store: SessionStore | None = None,
        clock: Clock | None = None,
        verify_every: timedelta = timedelta(minutes=5),
        install: Installer | None = None,
        login_hint: str = "kitekit login",
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        transport: bool = True,
    ) -> None:
        settings.require("api_key")
        redact.install()
        redact.register(settings.api_secret, settings.access_token, settings.password, settings.totp_secret)
        self.settings = settings
        self.api_key: str = settings.api_key or ""
        self.store = store or SessionStore.for_api_key(self.api_key)
        self.clock = clock or SystemClock()
        self.verify_every = verify_every
        self.install = install
        self.login_hint = login_hint
        self.transport = transport
        self.retry = retry or RetryPolicy()
        self._pacer = pacer

    @property
    def pacer(self) -> Pacer:
        """Return the rate-limit scheduler every client of this manager shares (machine-wide by default)."""
        if self._pacer is None:
            self._pacer = Pacer(data_dir() / "pacing.sqlite3")
        return self._pacer

    # -- clients -----------------------------------------------------------------------------------
    def new_client(self, access_token: str | None = None) -> KiteConnect:
        """Return a ``KiteConnect`` for this api_key and root, with the installer applied and expiry hook set."""
        redact.register(access_token)
        kite = KiteConnect(self.api_key, access_token=access_token, root=self.settings.root)
        if self.transport:
            guard = self._guard(access_token) if access_token else None
            install_transport(kite, pacer=self.pacer, policy=self.retry, guard=guard)
        if self.install is not None:
            self.install(kite, self)
        if access_token:
            kite.set_session_expiry_hook(self._on_token_exception)
        return kite

    def _guard(self, access_token: str) -> Callable[[], None]:
        """Return a check, run before each request, that fails fast once this token is known dead."""

        def check() -> None:
            session = self.saved()
            if session is None or session.access_token != access_token:
                return  # logged out or replaced: let Kite answer for this token
            if session.is_expired(self.clock.now()):
                raise SessionExpiredError(self._expired_message(session))

        return check

    def _on_token_exception(self) -> None:
        # The SDK calls this on 403 + TokenException, right before raising. Raising our own subclass of
        # TokenException instead carries the re-login instruction to the caller.
        session = self.mark_dead()
        raise SessionExpiredError(self._expired_message(session, rejected=True))

    def mark_dead(self) -> SavedSession | None:
        """Mark the saved session dead so every later :meth:`get_kite` fails fast."""
        return self.store.update(dead=True)

    def _expired_message(self, session: SavedSession | None, rejected: bool = False) -> str:
        who = f" of {session.user_id}" if session else ""
        if rejected or session is None or (session.dead and self.clock.now() < session.expires_at):
            why = f"Kite rejected the saved access token{who} (it was invalidated or expired early)"
        else:
            why = f"The Kite session{who} expired at {session.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST"
        return f"{why}. Log in again: {self.login_hint}"

    # -- login -------------------------------------------------------------------------------------
    def login_url(self, state: str | None = None) -> str:
        """Return the Kite login URL for this app (on the configured login root)."""
        return build_login_url(self.settings.login_url, self.api_key, state)

    def complete(self, result: RedirectResult) -> SavedSession:
        """Exchange a request token for an access token and save the session.

        Route: ``POST /session/token``. The exchange and the save happen under the session lock, so two
        concurrent logins leave the file holding the token Kite issued last.

        Raises:
            LoginError: Kite refused the request token or the checksum.
        """
        self.settings.require("api_secret")
        redact.register(result.request_token)
        kite = self.new_client()
        with self.store.locked():
            try:
                data = kite.generate_session(result.request_token, api_secret=self.settings.api_secret)
            except TokenException as exc:
                raise LoginError(
                    f"Kite refused the login: {exc}. A request_token works once and only for a few minutes, "
                    f"and an 'Invalid checksum' means the api_secret is wrong. Run `{self.login_hint}` again."
                ) from None
            except KiteException as exc:
                raise LoginError(f"Kite refused the login ({type(exc).__name__}: {exc}).") from None
            redact.register(str(data.get("access_token", "")), str(data.get("refresh_token") or ""))
            now = self.clock.now()
            session = SavedSession(
                api_key=self.api_key,
                user_id=str(data.get("user_id", "")),
                user_name=str(data.get("user_name", "")),
                access_token=str(data["access_token"]),
                # Expiry counts from this machine's clock: the server's login_time is naive and, on a
                # simulator running a virtual session, not even today.
                login_time=now,
                expires_at=next_token_expiry(now),
                root=self.settings.root,
                refresh_token=str(data.get("refresh_token") or ""),
                verified_at=now,
            )
            self.store.save(session)
        log.info("Logged in as %s; session saved to %s", session.user_id, self.store.path)
        return session

    def login_with_redirect(
        self,
        timeout: float = 300.0,
        open_browser: Callable[[str], bool] | None = webbrowser.open,
        show_url: Callable[[str], None] | None = None,
    ) -> SavedSession:
        """Open the login page and catch Kite's redirect on the local redirect URL.

        Raises:
            LoginError: no redirect in time, a failed or forged redirect, or a refused exchange.
        """
        state = secrets.token_urlsafe(16)
        catcher = RedirectCatcher(self.settings.redirect_url, expected_state=state)
        url = self.login_url(state)
        if show_url is not None:
            show_url(url)
        if open_browser is not None:
            with contextlib.suppress(Exception):  # no browser on a server is fine: the URL was shown
                open_browser(url)
        return self.complete(catcher.wait(timeout))

    def login_with_paste(self, pasted: str) -> SavedSession:
        """Complete a login from a pasted request_token or redirect URL."""
        return self.complete(parse_redirect(pasted))

    def login_with_totp(self, sleep: Callable[[float], None] | None = None) -> SavedSession:
        """Log in unattended with user id, password and TOTP secret (opt-in; see :func:`totp_login`)."""
        s = self.settings
        s.require("api_secret", "user_id", "password", "totp_secret")
        state = secrets.token_urlsafe(16)
        with requests.Session() as http:
            result = totp_login(
                http,
                s.login_url,
                self.api_key,
                s.redirect_url,
                s.user_id or "",
                s.password or "",
                s.totp_secret or "",
                clock=self.clock,
                state=state,
                **({"sleep": sleep} if sleep is not None else {}),
            )
        if result.params.get("state") != state:
            raise LoginError("The login redirect carried the wrong state; run the login again.")
        return self.complete(result)

    # -- using a session ---------------------------------------------------------------------------
    def saved(self) -> SavedSession | None:
        """Return the saved session for this api_key, if any (valid or not)."""
        session = self.store.load()
        return session if session is not None and session.api_key == self.api_key else None

    def valid(self) -> SavedSession | None:
        """Return the saved session if it is not known to be expired or dead."""
        session = self.saved()
        return session if session is not None and not session.is_expired(self.clock.now()) else None

    def get_kite(self, verify: bool | None = None) -> KiteConnect:
        """Return a ``KiteConnect`` with the saved token, verified at most once per ``verify_every``.

        Route: ``GET /user/profile`` (the verification). A token known to be expired or dead fails before
        any network call.

        Raises:
            NoSessionError: nothing saved and no access_token configured.
            SessionExpiredError: the token expired, was marked dead, or Kite rejected it now.
        """
        session = self.saved()
        if session is None:
            if self.settings.access_token:
                return self._adopt_configured_token(self.settings.access_token)
            raise NoSessionError(f"No saved Kite session for api_key {self.api_key}. Log in first: {self.login_hint}")
        now = self.clock.now()
        if session.is_expired(now):
            raise SessionExpiredError(self._expired_message(session))
        kite = self.new_client(session.access_token)
        due = session.verified_at is None or now - session.verified_at >= self.verify_every
        if verify if verify is not None else due:
            kite.profile()  # a TokenException here goes through the hook: marked dead, clear message
            self.store.update(verified_at=now)
        return kite

    def _adopt_configured_token(self, access_token: str) -> KiteConnect:
        """Use an access_token from config.json or the environment (the classic setup) after verifying it."""
        kite = self.new_client(access_token)
        kite.set_session_expiry_hook(self._reject_configured)
        profile = kite.profile()
        now = self.clock.now()
        with self.store.locked():
            self.store.save(
                SavedSession(
                    api_key=self.api_key,
                    user_id=str(profile.get("user_id", "")),
                    user_name=str(profile.get("user_name", "")),
                    access_token=access_token,
                    login_time=now,
                    expires_at=next_token_expiry(now),
                    root=self.settings.root,
                    verified_at=now,
                )
            )
        kite.set_session_expiry_hook(self._on_token_exception)
        return kite

    def _reject_configured(self) -> None:
        source = self.settings.source_of("access_token")
        raise SessionExpiredError(
            f"Kite rejected the access_token from {source} (expired or invalidated). Log in again: {self.login_hint}"
        )

    def logout(self) -> bool:
        """Invalidate the saved token on Kite (``DELETE /session/token``) and delete the session file.

        Returns True if a session was saved. A token Kite already considers dead is simply removed.
        """
        session = self.saved()
        if session is None:
            return False
        if not session.is_expired(self.clock.now()):
            kite = KiteConnect(self.api_key, access_token=session.access_token, root=self.settings.root)
            if self.transport:
                install_transport(kite, pacer=self.pacer, policy=self.retry)
            with contextlib.suppress(TokenException):
                kite.invalidate_access_token()
        return self.store.delete()
