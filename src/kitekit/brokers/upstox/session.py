"""Upstox's daily session: the authorization-code login, the v3 token request, the saved session and its expiry.

An Upstox access token dies at the first 03:30 IST after it is issued. The session file (0600, replaced
atomically) holds the token with its user, login time and expiry; a token Upstox refuses marks it dead. The
authorization-code flow (``/v2/login/authorization/dialog`` → ``?code=`` → ``POST /v2/login/authorization/token``)
runs in a browser with the redirect caught locally, or from a pasted URL; the v3 token request
(``POST /v3/login/auth/token/request/{client_id}``) is the unattended one: the user approves in the Upstox app
and Upstox POSTs the token to the app's notifier URL, which kitekit listens on (``webhook_url``).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from kitekit.brokers.capabilities import Endpoint
from kitekit.brokers.session import SessionInfo, relogin_advice
from kitekit.brokers.session_file import SavedSessionFile, SessionReads, parse_times, record_json
from kitekit.brokers.upstox.catcher import Catcher
from kitekit.brokers.upstox.client import UpstoxApiError, UpstoxClient
from kitekit.clock import IST, Clock, SystemClock
from kitekit.errors import BrokerFeatureError, ConfigError, LoginError, NoSessionError, SessionExpiredError
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.wire.upstox.routes import Route

__all__ = ["BROKER", "SavedUpstoxSession", "UpstoxApp", "UpstoxSession", "next_upstox_expiry"]

BROKER = "upstox"
#: Tries of the token request in an unattended login (a cron job has no one to try again).
_UNATTENDED_ATTEMPTS = 8
#: Upstox ends every access token at this IST time of day.
EXPIRY = time(3, 30)


def next_upstox_expiry(moment: datetime) -> datetime:
    """Return the first 03:30 IST after ``moment``: when a token issued then dies."""
    local = moment.astimezone(IST)
    at = local.replace(hour=EXPIRY.hour, minute=EXPIRY.minute, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=1)


@dataclass(frozen=True)
class UpstoxApp:
    """The Upstox app kitekit logs in as, and where Upstox reaches it.

    Args:
        api_key: the app's key (Upstox's ``client_id``).
        api_secret: its secret.
        redirect_url: the registered redirect URL (the code flow's answer comes there).
        webhook_url: the notifier URL the v3 token request's token is POSTed to (None: no unattended login).
        base_url: the API host (a simulator's URL against one).
        order_url: the order host (default: ``base_url``).
        dump_url: the instruments dump (default: the API host's path on a simulator, Upstox's asset URL live).
    """

    api_key: str
    api_secret: str = ""
    redirect_url: str = "http://127.0.0.1:5055/callback"
    webhook_url: str | None = None
    base_url: str = "https://api.upstox.com"
    order_url: str | None = None
    dump_url: str | None = None

    def __repr__(self) -> str:
        return f"UpstoxApp(api_key={self.api_key!r}, base_url={self.base_url!r})"  # never the secret


@dataclass(frozen=True)
class SavedUpstoxSession:
    """The saved session: the token and the facts about it."""

    user_id: str
    user_name: str
    login_time: datetime
    expires_at: datetime
    access_token: str
    dead: bool = False

    def __repr__(self) -> str:
        return f"SavedUpstoxSession(user_id={self.user_id!r}, expires_at={self.expires_at.isoformat()})"

    def info(self) -> SessionInfo:
        """Return the neutral facts (no token)."""
        return SessionInfo(BROKER, self.user_id, self.user_name, self.login_time, self.expires_at, self.dead)

    def to_json(self) -> bytes:
        """Return the file's bytes."""
        return record_json(self)

    @classmethod
    def from_json(cls, data: bytes) -> SavedUpstoxSession:
        """Return the session of a file's bytes (ValueError when it is not one)."""
        raw = parse_times(json.loads(data))
        try:
            return cls(
                str(raw["user_id"]),
                str(raw.get("user_name", "")),
                raw["login_time"],
                raw["expires_at"],
                str(raw["access_token"]),
                bool(raw.get("dead", False)),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a saved Upstox session: {exc}") from None


def _code_of(pasted: str) -> str:
    text = pasted.strip()
    if "?" in text or text.startswith("http"):
        codes = parse_qs(urlsplit(text).query).get("code")
        if not codes:
            raise LoginError("The pasted URL carries no `code`: paste the whole address Upstox redirected to.")
        return codes[0]
    if not text or any(c.isspace() for c in text):
        raise LoginError("Paste the redirect URL, or the code it carries.")
    return text


class UpstoxSession(SessionReads[SavedUpstoxSession]):
    """The neutral :class:`~kitekit.brokers.BrokerSession` on Upstox.

    Args:
        app: the app and hosts.
        path: the session file.
        clock: the time source (a simulator's market clock against one).
        login_hint: the command users are told to run to log in again.
        pacer: the shared pacer; retry: how GETs are retried.
        webhook_timeout: how long the unattended login waits for the user's approval, in seconds.
    """

    broker = BROKER

    def __init__(
        self,
        app: UpstoxApp,
        path: Path,
        *,
        clock: Clock | None = None,
        login_hint: str = "kitekit --broker upstox login",
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        webhook_timeout: float = 600.0,
    ) -> None:
        self.app = app
        self.path = path
        self.clock: Clock = clock or SystemClock()
        self.login_hint = login_hint
        self.retry = retry or RetryPolicy()
        self.webhook_timeout = webhook_timeout
        self.file = SavedSessionFile(path, SavedUpstoxSession.from_json, "Upstox")
        self._lock = self.file.lock
        self.http = UpstoxClient(
            app.base_url,
            order_url=app.order_url,
            token=self._token,
            api_key=app.api_key,
            pacer=pacer,
            retry=self.retry,
            on_token_error=self._rejected,
            login_hint=login_hint,
        )

    # -- the saved session --------------------------------------------------------------------------------
    def _load(self) -> SavedUpstoxSession | None:
        return self.file.load()

    def _save(self, saved: SavedUpstoxSession) -> None:
        self.file.save(saved)

    def next_expiry(self, moment: datetime) -> datetime:
        """Return 03:30 IST after ``moment``: when Upstox ends a token issued then."""
        return next_upstox_expiry(moment)

    def _token(self) -> str | None:
        found = self._load()
        return None if found is None else found.access_token

    def _rejected(self, error: UpstoxApiError) -> None:
        self.file.mark_dead()

    def access_token(self) -> str:
        """Return the saved token while the session is valid.

        Raises:
            NoSessionError: nothing saved.
            SessionExpiredError: the session is over or was rejected (the message says how to log in again).
        """
        found = self._load()
        if found is None:
            raise NoSessionError(f"Not logged in to Upstox. Log in: {self.login_hint}")
        if found.info().expired(self.clock.now()):
            raise SessionExpiredError(
                relogin_advice(found.info(), self.clock.now(), self.login_hint, timedelta(0)) or ""
            )
        return found.access_token

    def client(self, verify: bool | None = None) -> UpstoxClient:
        """Return the REST client on the saved session. Route: ``GET /v2/user/profile`` (with ``verify``).

        Raises:
            NoSessionError: nothing saved.
            SessionExpiredError: the session is over or was rejected (also when ``verify`` finds it refused).
        """
        self.access_token()
        if verify:
            self.http.call("GET", Route.PROFILE)
        return self.http

    # -- logging in ---------------------------------------------------------------------------------------
    def login_url(self, state: str | None = None) -> str:
        """Return Upstox's authorization dialog for this app."""
        query = {"response_type": "code", "client_id": self.app.api_key, "redirect_uri": self.app.redirect_url}
        if state:
            query["state"] = state
        return f"{self.app.base_url}{Route.AUTH_DIALOG}?{urlencode(query)}"

    def _start(self, token: str, profile: dict[str, Any] | None = None) -> SessionInfo:
        """Save a fresh token (its profile read when not given); return the session."""
        if profile is None:
            profile = self.http.call("GET", Route.PROFILE, token=token)
        now = self.clock.now()
        saved = SavedUpstoxSession(
            str(profile.get("user_id", "")),
            str(profile.get("user_name", "")),
            now,
            next_upstox_expiry(now),
            token,
        )
        with self._lock:
            self._save(saved)
        return saved.info()

    def _exchange(self, code: str) -> SessionInfo:
        """Trade an authorization code for a token. Route: ``POST /v2/login/authorization/token`` (form)."""
        if not self.app.api_secret:
            raise ConfigError("The Upstox api_secret is needed to log in: set UPSTOX_API_SECRET.")
        form = {
            "code": code,
            "client_id": self.app.api_key,
            "client_secret": self.app.api_secret,
            "redirect_uri": self.app.redirect_url,
            "grant_type": "authorization_code",
        }
        try:
            body = self.http.call("POST", Route.AUTH_TOKEN, form=form, token="", envelope=False)
        except UpstoxApiError as exc:
            raise LoginError(f"Upstox refused the login code: {exc}") from None
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise LoginError("Upstox's token answer carried no access_token.")
        return self._start(token, {k: v for k, v in body.items() if k not in ("access_token", "extended_token")})

    def login_with_redirect(
        self,
        timeout: float = 300.0,
        open_browser: Callable[[str], bool] | None = webbrowser.open,
        show_url: Callable[[str], None] | None = None,
    ) -> SessionInfo:
        """Log in in a browser; the redirect with its code is caught on the local redirect URL.

        Routes: ``GET /v2/login/authorization/dialog`` (in the browser), ``POST /v2/login/authorization/token``.
        """
        state = secrets.token_urlsafe(8)
        url = self.login_url(state)
        with Catcher(self.app.redirect_url) as catcher:
            if show_url is not None:
                show_url(url)
            if open_browser is not None:
                open_browser(url)
            got = catcher.wait(timeout)
        if got.get("state") != state:
            raise LoginError("The redirect's state does not match this login: start it again.")
        if "code" not in got:
            raise LoginError("Upstox's redirect carried no code (was the login refused?).")
        return self._exchange(str(got["code"]))

    def login_with_paste(self, pasted: str) -> SessionInfo:
        """Complete a login from a pasted redirect URL or code. Route: ``POST /v2/login/authorization/token``."""
        return self._exchange(_code_of(pasted))

    def login_unattended(self) -> SessionInfo:
        """Log in by the v3 token request: the user approves in the Upstox app, the token comes to the webhook.

        Cron-safe: a request that got no answer is made again (a second pending request is harmless: the user
        approves one). Routes: ``POST /v3/login/auth/token/request/{client_id}``, ``GET /v2/user/profile``.

        Raises:
            BrokerFeatureError: no ``webhook_url`` is configured (the token would have nowhere to go).
            LoginError: Upstox refused the request, or no token came within ``webhook_timeout``.
        """
        if not self.app.webhook_url:
            raise BrokerFeatureError(
                "Upstox's unattended login needs the app's notifier URL: set UPSTOX_WEBHOOK_URL (or `webhook_url` "
                f'in config.json\'s "upstox" section) to an address kitekit can listen on. Or log in: {self.login_hint}'
            )
        path = Route.TOKEN_REQUEST.format(client_id=self.app.api_key)
        attempts = max(self.retry.attempts, _UNATTENDED_ATTEMPTS)
        with Catcher(self.app.webhook_url) as catcher:
            for attempt in range(attempts):
                try:
                    self.http.call(
                        "POST", path, json={"client_secret": self.app.api_secret}, token="", endpoint=Endpoint.OTHER
                    )
                    break
                except UpstoxApiError as exc:
                    if not (exc.rate_limited or exc.status >= 500) or attempt == attempts - 1:
                        raise LoginError(f"Upstox refused the token request: {exc}") from None
                except (requests.RequestException, OSError):
                    if attempt == attempts - 1:
                        break  # a request may have arrived although its answer did not: wait for the webhook
                self.retry.sleep(self.retry.delay(attempt))
            while True:
                got = catcher.wait(self.webhook_timeout)
                token = got.get("access_token")
                if got.get("client_id", self.app.api_key) == self.app.api_key and isinstance(token, str) and token:
                    break
        return self._start(token, self._profile(token, got))

    def _profile(self, token: str, delivered: dict[str, Any]) -> dict[str, Any] | None:
        """Return the user's profile, or the webhook's user id alone when the profile cannot be read now.

        The token is good either way (Upstox just delivered it); a cron login must not fail on the name.
        """
        try:
            found: dict[str, Any] = self.http.call("GET", Route.PROFILE, token=token)
            return found
        except (UpstoxApiError, requests.RequestException, OSError):
            if not delivered.get("user_id"):
                return None
            return {"user_id": str(delivered["user_id"]), "user_name": ""}

    def logout(self) -> bool:
        """End the token at Upstox (``DELETE /v2/logout``) and delete the saved session; True if one was saved."""
        found = self._load()
        if found is None:
            return False
        # A token Upstox already forgot (401), or no answer: the saved one goes either way.
        with contextlib.suppress(UpstoxApiError, SessionExpiredError, requests.RequestException):
            self.http.call("DELETE", Route.LOGOUT, token=found.access_token)
        with self._lock:
            self.path.unlink(missing_ok=True)
        return True
