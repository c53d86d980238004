"""Getting a ``request_token``: the login URL, a local redirect catcher, pasted URLs, and TOTP automation.

The official SDK's ``login_url()`` is hard-coded to Zerodha's host, so we build the URL from a configurable
root; the same code logs in to the real Kite and to the simulator.
"""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pyotp
import requests

from kitekit.clock import Clock, SystemClock
from kitekit.errors import LoginError

__all__ = [
    "RedirectCatcher",
    "RedirectResult",
    "build_login_url",
    "parse_redirect",
    "totp_login",
]

_TOKEN_RE = re.compile(r"[A-Za-z0-9]{8,64}")
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


@dataclass(frozen=True)
class RedirectResult:
    """What Kite's redirect carried: the request token, the status, and any ``redirect_params`` echoed back."""

    request_token: str = field(repr=False)
    status: str = "success"
    params: dict[str, str] = field(default_factory=dict)


def build_login_url(login_url: str, api_key: str, state: str | None = None) -> str:
    """Return ``<login_url>?api_key=…&v=3`` plus ``redirect_params=state=…`` when a state is given."""
    query = {"api_key": api_key, "v": "3"}
    if state:
        # Kite echoes redirect_params back as plain query pairs on the redirect; we use it as a CSRF state.
        query["redirect_params"] = urlencode({"state": state})
    return f"{login_url}?{urlencode(query)}"


def _result_from_query(query: dict[str, list[str]]) -> RedirectResult:
    flat = {k: v[0] for k, v in query.items() if v}
    status = flat.pop("status", "")
    token = flat.pop("request_token", "")
    if status and status != "success":
        raise LoginError(
            f"Kite reported status={status!r} instead of success: the login was not completed. Log in again."
        )
    if not token:
        raise LoginError("The redirect carried no request_token. Copy the whole URL your browser landed on.")
    if not _TOKEN_RE.fullmatch(token):
        raise LoginError("The request_token in the redirect is malformed. Copy the whole URL your browser landed on.")
    return RedirectResult(token, status or "success", {k: v for k, v in flat.items() if k not in ("action", "type")})


def parse_redirect(text: str) -> RedirectResult:
    """Parse a pasted request_token, redirect URL, or query string.

    Raises:
        LoginError: nothing usable was pasted, or Kite reported a failed login.
    """
    text = text.strip().strip("'\"")
    if _TOKEN_RE.fullmatch(text):
        return RedirectResult(text)
    query = urlsplit(text).query if "://" in text else text.lstrip("?")
    parsed = parse_qs(query, keep_blank_values=True)
    if not parsed or ("://" not in text and "=" not in text):
        raise LoginError("That is neither a request_token nor a redirect URL. Paste the whole URL your browser shows.")
    return _result_from_query(parsed)


class RedirectCatcher:
    """A one-shot HTTP listener on the redirect URL (loopback only) that captures Kite's redirect."""

    def __init__(self, redirect_url: str, expected_state: str | None = None) -> None:
        parts = urlsplit(redirect_url)
        host = parts.hostname or ""
        if parts.scheme != "http" or host not in _LOOPBACK:
            raise LoginError(
                f"The redirect URL {redirect_url} does not point at this machine over http, so kitekit cannot "
                "catch the redirect. Register http://127.0.0.1:<port>/<path> as the app's redirect URL, "
                "or use `kitekit login --paste`."
            )
        self.path = parts.path or "/"
        self.expected_state = expected_state
        self._result: RedirectResult | None = None
        self._error: LoginError | None = None
        self._done = threading.Event()
        catcher = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                catcher._handle(self)

            def log_message(self, format: str, *args: object) -> None:
                # The default handler prints the request line, which carries the request_token.
                return

        try:
            self._server = ThreadingHTTPServer((host.strip("[]"), parts.port or 80), Handler)
        except OSError as exc:
            raise LoginError(
                f"Cannot listen on {parts.hostname}:{parts.port} for the login redirect ({exc.strerror}). "
                "Free the port, set KITE_REDIRECT_URL to the URL you registered, or use `kitekit login --paste`."
            ) from None
        self._thread = threading.Thread(target=self._server.serve_forever, name="kitekit-redirect", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Return the URL this catcher listens on (the real port when 0 was asked for)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.path}"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(request.path)
        if parts.path != self.path:
            self._reply(request, 404, "Not the kitekit login redirect.")
            return
        try:
            result = _result_from_query(parse_qs(parts.query, keep_blank_values=True))
            if self.expected_state is not None and result.params.get("state") != self.expected_state:
                raise LoginError(
                    "The login redirect carried the wrong state: it did not come from the login kitekit started. "
                    "Run `kitekit login` again."
                )
        except LoginError as exc:
            if not self._done.is_set():
                self._error = exc
                self._done.set()
            self._reply(request, 400, str(exc))
            return
        if not self._done.is_set():
            self._result = result
            self._done.set()
        self._reply(request, 200, "Login complete. You can close this tab and return to the terminal.")

    @staticmethod
    def _reply(request: BaseHTTPRequestHandler, status: int, message: str) -> None:
        body = f"<!doctype html><meta charset='utf-8'><title>kitekit</title><p>{html.escape(message)}</p>".encode()
        request.send_response(status)
        request.send_header("Content-Type", "text/html; charset=utf-8")
        request.send_header("Content-Length", str(len(body)))
        request.end_headers()
        request.wfile.write(body)

    def wait(self, timeout: float) -> RedirectResult:
        """Block until the redirect arrives; return its result.

        Raises:
            LoginError: no redirect within ``timeout`` seconds, or a failed/forged one arrived.
        """
        try:
            if not self._done.wait(timeout):
                raise LoginError(
                    f"No login redirect arrived within {timeout:.0f}s. Finish the login in the browser, or run "
                    "`kitekit login --paste` and paste the URL the browser landed on."
                )
            if self._error is not None:
                raise self._error
            assert self._result is not None  # noqa: S101 - set together with _done
            return self._result
        finally:
            self.close()

    def close(self) -> None:
        """Stop listening."""
        self._server.shutdown()
        self._server.server_close()


def _kite_error(response: requests.Response, step: str) -> LoginError:
    try:
        message = str(response.json().get("message") or "").rstrip(".")
    except ValueError:
        message = ""
    return LoginError(f"{step} failed (HTTP {response.status_code}){': ' + message if message else ''}.")


def totp_login(
    http: requests.Session,
    login_url: str,
    api_key: str,
    redirect_url: str,
    user_id: str,
    password: str,
    totp_secret: str,
    clock: Clock | None = None,
    sleep: Callable[[float], None] = time.sleep,
    state: str | None = None,
) -> RedirectResult:
    """Log in unattended through Kite's web login with a password and a TOTP; return the redirect result.

    Routes: ``POST /api/login``, ``POST /api/twofa``, then ``GET /connect/login`` with the session cookie,
    following redirects until one points at ``redirect_url`` (that one is read, not visited).

    This is how traders automate Kite's daily login. It is the user's choice and risk: it needs the
    password and TOTP secret on the machine, and Zerodha may change these endpoints at any time.

    Raises:
        LoginError: wrong credentials, wrong TOTP, or no redirect to ``redirect_url``.
    """
    clock = clock or SystemClock()
    base = "{0.scheme}://{0.netloc}".format(urlsplit(login_url))
    r = http.post(urljoin(base, "/api/login"), data={"user_id": user_id, "password": password}, timeout=15)
    if not r.ok:
        raise _kite_error(r, "Password login")
    request_id = str(r.json()["data"]["request_id"])
    totp = pyotp.TOTP(totp_secret)
    now = clock.now()
    left = totp.interval - (now.timestamp() % totp.interval)
    if left < 2:
        # A code about to roll over may arrive stale; wait for the next one instead.
        sleep(left + 0.1)
        now = clock.now()
    code = totp.at(now)
    r = http.post(
        urljoin(base, "/api/twofa"),
        data={
            "user_id": user_id,
            "request_id": request_id,
            "twofa_value": code,
            "twofa_type": "totp",
            "skip_totp": "true",
        },
        timeout=15,
    )
    if not r.ok:
        raise _kite_error(r, "TOTP check")
    target = urlsplit(redirect_url)
    url = build_login_url(login_url, api_key, state)
    for _ in range(10):
        r = http.get(url, allow_redirects=False, timeout=15)
        location = r.headers.get("location")
        if r.status_code not in (301, 302, 303, 307, 308) or not location:
            raise _kite_error(r, "Kite's login page did not redirect to the app; the login")
        url = urljoin(url, location)
        here = urlsplit(url)
        if (here.scheme, here.netloc, here.path) == (target.scheme, target.netloc, target.path or "/"):
            return _result_from_query(parse_qs(here.query, keep_blank_values=True))
    raise LoginError("Too many redirects during the TOTP login; the login flow may have changed.")
