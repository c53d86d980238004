"""The session manager: logs in (redirect, paste, TOTP), saves the session, hands out verified clients.

The session file (0600, written atomically, guarded by a file lock) holds the access token with its expiry,
06:00 IST after the login. :meth:`SessionManager.get_kite` fails fast, without a network call, when the
saved token is known to be dead, and its message says exactly what to run.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import webbrowser
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import requests
from kiteconnect.exceptions import KiteException, TokenException

from kitekit import redact
from kitekit.clock import IST, Clock, SystemClock, bind_clock
from kitekit.config import Settings
from kitekit.errors import LoginError, NoSessionError, SessionExpiredError, SessionSaveError
from kitekit.rest.client import default_pacer, paced_client
from kitekit.rest.pacer import PacerBackend
from kitekit.rest.retry import RetryPolicy
from kitekit.session.login import RedirectCatcher, RedirectResult, build_login_url, parse_redirect
from kitekit.session.record import SavedSession, SessionStore, next_token_expiry
from kitekit.session.totp import LoginRetry, LoginStep, TransientLoginError, totp_login
from kitekit.wire.envelope import ErrorType, error_type_of

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["SessionManager"]

log = logging.getLogger("kitekit.session")


class SessionManager:
    """Logs in, saves sessions and returns verified ``KiteConnect`` clients for one api_key.

    Args:
        settings: credentials and URLs (see :func:`kitekit.config.load_settings`).
        store: where the session lives; defaults to ``<data dir>/sessions/<api_key>.json``.
        clock: the time source (expiry checks), bound to every client it builds (:func:`kitekit.clock.clock_of`):
            a simulator's market clock against a simulator.
        totp_clock: the time TOTP codes are made for: the wall clock, as an authenticator app's.
        verify_every: how often :meth:`get_kite` confirms the token with ``GET /user/profile``.
        login_hint: the command users are told to run when they must log in again.
        pacer: the rate-limit scheduler of every client (default: the machine-wide one).
        retry: the retry policy of every client's idempotent GETs.
    """

    def __init__(
        self,
        settings: Settings,
        store: SessionStore | None = None,
        clock: Clock | None = None,
        verify_every: timedelta = timedelta(minutes=5),
        login_hint: str = "kitekit login",
        pacer: PacerBackend | None = None,
        retry: RetryPolicy | None = None,
        totp_clock: Clock | None = None,
    ) -> None:
        settings.require("api_key")
        redact.install()
        redact.register(settings.api_secret, settings.access_token, settings.password, settings.totp_secret)
        self.settings = settings
        self.api_key: str = settings.api_key or ""
        self.store = store or SessionStore.for_api_key(self.api_key)
        self.clock = clock or SystemClock()
        self.totp_clock = totp_clock or SystemClock()
        self.verify_every = verify_every
        self.login_hint = login_hint
        self.retry = retry or RetryPolicy()
        self._pacer = pacer

    @property
    def pacer(self) -> PacerBackend:
        """Return the rate-limit scheduler every client of this manager shares (machine-wide by default)."""
        if self._pacer is None:
            self._pacer = default_pacer()
        return self._pacer

    # -- clients -----------------------------------------------------------------------------------
    def new_client(self, access_token: str | None = None) -> KiteConnect:
        """Return a paced ``KiteConnect`` for this api_key and root; with a token, guarded and hooked.

        The guard fails a request fast once the token is known dead; the expiry hook marks the saved
        session dead when Kite rejects the token and raises the re-login message.
        """
        kite = paced_client(
            self.api_key,
            self.settings.root,
            access_token,
            pacer=self.pacer,
            retry=self.retry,
            guard=self._guard(access_token) if access_token else None,
            on_token_rejected=self._on_token_exception if access_token else None,
        )
        bind_clock(kite, self.clock)
        return kite

    def _guard(self, access_token: str) -> Callable[[], None]:
        """Return a check, run before each request, that fails fast once this token is known dead.

        The session file is read again only when it changed (another process may have marked it dead).
        """

        def check() -> None:
            session = self.store.current()
            if session is None or session.api_key != self.api_key or session.access_token != access_token:
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
            LoginError: Kite refused the request token or the checksum, the exchange failed on the way (the
                request_token may be spent: log in again), or the session could not be saved.
        """
        try:
            return self._exchange(result)
        except TransientLoginError as exc:
            raise LoginError(
                f"The {exc.step} failed ({exc.why}); the request_token may be spent. Run `{self.login_hint}` again."
            ) from None

    def _exchange(self, result: RedirectResult) -> SavedSession:
        """Do :meth:`complete`'s work; a failure that may pass with a new request_token is TransientLoginError."""
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
                if error_type_of(exc) in (ErrorType.NETWORK, ErrorType.DATA, ErrorType.GENERAL):
                    raise TransientLoginError(LoginStep.EXCHANGE, f"{type(exc).__name__} (HTTP {exc.code})") from None
                raise LoginError(f"Kite refused the login ({type(exc).__name__}: {exc}).") from None
            except requests.RequestException as exc:
                raise TransientLoginError(LoginStep.EXCHANGE, type(exc).__name__) from None
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
            try:
                self.store.save(session)
            except OSError as exc:
                failure = SessionSaveError(
                    f"Kite accepted the login, but the session could not be saved to {self.store.path} "
                    f"({exc.strerror or exc}); the previous session file is unchanged. Free space or fix the "
                    f"folder's permissions, then run `{self.login_hint}` again."
                )
                failure.errno = exc.errno
                raise failure from None
        log.info("Logged in as %s; session saved to %s", session.user_id, self.store.path)
        left = session.expires_at - now
        if left < timedelta(hours=1):
            # Kite flushes every token at 06:00 IST: a 05:59 login buys one minute, not a trading day.
            log.warning(
                "This session expires at %s IST, in %d minutes (Kite ends every session at 06:00 IST). "
                "Log in again after 06:00 for the trading day.",
                f"{session.expires_at.astimezone(IST):%H:%M}",
                max(int(left.total_seconds() // 60), 0),
            )
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

    def login_with_totp(self, retry: LoginRetry | None = None) -> SavedSession:
        """Log in unattended with user id, password and TOTP secret (opt-in; see :mod:`kitekit.session.totp`).

        Routes: ``POST /api/login``, ``POST /api/twofa``, ``GET /connect/login``, ``POST /session/token``.
        Each idempotent step is retried on transient failures, and the whole flow is retried with a fresh
        TOTP code up to ``retry.flow_attempts`` times.

        Raises:
            LoginError: wrong credentials or TOTP, or a step still failing after every retry (the message
                names the step).
        """
        s = self.settings
        s.require("api_secret", "user_id", "password", "totp_secret")
        retry = retry or LoginRetry()
        failure: TransientLoginError | None = None
        for attempt in range(retry.flow_attempts):
            if failure is not None:
                log.warning(
                    "The TOTP login failed at the %s; trying again (%d of %d)",
                    failure,
                    attempt + 1,
                    retry.flow_attempts,
                )
                retry.pause(attempt - 1)
            state = secrets.token_urlsafe(16)
            try:
                with requests.Session() as http:
                    result = totp_login(
                        http,
                        s.login_url,
                        self.api_key,
                        s.redirect_url,
                        s.user_id or "",
                        s.password or "",
                        s.totp_secret or "",
                        clock=self.totp_clock,
                        retry=retry,
                        state=state,
                    )
                if result.params.get("state") != state:
                    raise LoginError("The login redirect carried the wrong state; run the login again.")
                return self._exchange(result)
            except TransientLoginError as exc:
                failure = exc
        assert failure is not None  # noqa: S101 - the loop ran at least once and only falls through on failure
        raise LoginError(
            f"The TOTP login failed {retry.flow_attempts} times; the last failure was at the {failure.step} "
            f"({failure.why}). Kite or the network is having trouble: try again in a few minutes, or log in "
            f"with `{self.login_hint.replace(' --totp', '')}` in a browser."
        )

    # -- using a session ---------------------------------------------------------------------------
    def saved(self) -> SavedSession | None:
        """Return the saved session for this api_key, if any (valid or not)."""
        session = self.store.load()
        return session if session is not None and session.api_key == self.api_key else None

    def valid(self, for_at_least: timedelta = timedelta(0)) -> SavedSession | None:
        """Return the saved session if it is not known to be expired or dead, nor to die within ``for_at_least``."""
        session = self.saved()
        if session is None or session.is_expired(self.clock.now() + for_at_least):
            return None
        return session

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
            if self.store.damage is not None:
                raise NoSessionError(
                    f"The saved session file {self.store.path} is damaged ({self.store.damage}). "
                    f"Log in again: {self.login_hint}"
                )
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
            kite = paced_client(
                self.api_key, self.settings.root, session.access_token, pacer=self.pacer, retry=self.retry
            )
            with contextlib.suppress(TokenException):
                kite.invalidate_access_token()
        return self.store.delete()
