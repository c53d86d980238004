"""Unattended daily login with a password and a TOTP, through Kite's web login, surviving transient faults.

The morning login is the one thing that must not fail: a 503, a gateway's HTML page or a dropped connection
at 08:00 must not leave a trading system without a session. So each idempotent step is retried with
backoff, and the whole flow is retried a bounded number of times with a fresh TOTP code (the session
exchange spends its single-use request_token, so after an ambiguous failure only a new flow can go on).
When it still fails, the error names the step.

This is how traders automate Kite's daily login. It is the user's choice and risk: it needs the password and
TOTP secret on the machine, and Zerodha may change these endpoints at any time.
"""

from __future__ import annotations

import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from urllib.parse import parse_qs, urljoin, urlsplit

import pyotp
import requests

from kitekit.clock import Clock, SystemClock
from kitekit.errors import LoginError
from kitekit.rest.retry import full_jitter
from kitekit.session.login import RedirectResult, build_login_url, result_from_query

__all__ = ["LoginRetry", "LoginStep", "TransientLoginError", "connection_refused", "refused_here", "totp_login"]

log = logging.getLogger("kitekit.session")

#: Statuses worth another try: rate limited, or the server side (or a proxy before it) failing.
_TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class LoginStep(StrEnum):
    """The steps of the TOTP login, named as the error reports them."""

    PASSWORD = "password login (POST /api/login)"  # noqa: S105 - a step name, not a password
    TWOFA = "TOTP check (POST /api/twofa)"
    REDIRECT = "login redirect (GET /connect/login)"
    EXCHANGE = "session exchange (POST /session/token)"


class TransientLoginError(Exception):
    """A step failed in a way that may pass on another try; ``step`` says which."""

    def __init__(self, step: LoginStep, why: str) -> None:
        super().__init__(f"{step}: {why}")
        self.step = step
        self.why = why


@dataclass(frozen=True)
class LoginRetry:
    """How patiently the TOTP login retries.

    Args:
        step_attempts: tries of each idempotent step (the first included).
        flow_attempts: passes of the whole flow, each with a fresh TOTP code.
        base: the pause ceiling before the first retry, in seconds; doubles each retry ("full jitter").
        cap: the largest pause ceiling, in seconds.
        sleep: how to pause (injectable, so tests run instantly).
        random: a uniform draw in [0, 1) (injectable, so tests are deterministic).
    """

    step_attempts: int = 4
    flow_attempts: int = 8
    base: float = 0.5
    cap: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def pause(self, retry: int) -> None:
        """Sleep before retry number ``retry`` (0-based)."""
        self.sleep(full_jitter(retry, self.base, self.cap, self.random))


def _transient_status(response: requests.Response) -> bool:
    # A proxy's HTML page in place of Kite's JSON is a gateway hiccup whatever its status.
    return response.status_code in _TRANSIENT_STATUSES or (
        response.status_code >= 400 and "json" not in response.headers.get("content-type", "")
    )


def _refusal(response: requests.Response, step: LoginStep) -> LoginError:
    """Return the error for a definite refusal (wrong password, wrong TOTP…), with Kite's message."""
    try:
        message = str(response.json().get("message") or "").rstrip(".")
    except ValueError:
        message = ""
    name = {LoginStep.PASSWORD: "Password login", LoginStep.TWOFA: "TOTP check"}.get(step, f"The {step}")
    return LoginError(f"{name} failed (HTTP {response.status_code}){': ' + message if message else ''}.")


def refused_here(exc: requests.RequestException) -> bool:
    """Return True if ``exc`` is a connection this machine refused: nothing listens on that local port.

    Kite's gateway drops connections now and then, and those are worth another try; a refused connection to
    127.0.0.1 (a simulator that is not running) will be refused again, so retrying only makes the user wait.
    """
    host = urlsplit(getattr(exc.request, "url", None) or "").hostname or ""
    return (host == "localhost" or _loopback(host)) and connection_refused(exc)


def connection_refused(exc: requests.RequestException) -> bool:
    """Return True if ``exc`` is a refused connection (no server on that port), from ``requests`` or below it."""
    if not isinstance(exc, requests.ConnectionError) or isinstance(exc, requests.Timeout):
        return False
    seen: list[BaseException] = []
    probe: BaseException | None = exc
    while probe is not None and probe not in seen:  # requests wraps urllib3, which wraps the socket's error
        seen.append(probe)
        nested = [a for a in probe.args if isinstance(a, BaseException)] + [getattr(probe, "reason", None)]
        probe = probe.__cause__ or next((n for n in nested if isinstance(n, BaseException)), None)
    return any(isinstance(e, ConnectionRefusedError) for e in seen)


def _loopback(host: str) -> bool:
    import ipaddress

    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _send(
    step: LoginStep, retry: LoginRetry, call: Callable[[], requests.Response], refused: Callable[[int], bool]
) -> requests.Response:
    """Send one idempotent step, retrying transient failures; return the answer or raise.

    Raises:
        TransientLoginError: still failing after ``retry.step_attempts`` tries.
        LoginError: a definite refusal (``refused(status)``).
        requests.ConnectionError: this machine refused the connection (nothing listens there; no retry).
    """
    why = ""
    for attempt in range(retry.step_attempts):
        if attempt:
            log.info("Login step %s failed (%s); retry %d", step, why, attempt)
            retry.pause(attempt - 1)
        try:
            response = call()
        except requests.RequestException as exc:
            if refused_here(exc):
                raise
            why = type(exc).__name__
            continue
        if _transient_status(response):
            why = f"HTTP {response.status_code}"
            continue
        if refused(response.status_code):
            raise _refusal(response, step)
        return response
    raise TransientLoginError(step, why)


def totp_login(
    http: requests.Session,
    login_url: str,
    api_key: str,
    redirect_url: str,
    user_id: str,
    password: str,
    totp_secret: str,
    clock: Clock | None = None,
    retry: LoginRetry | None = None,
    state: str | None = None,
) -> RedirectResult:
    """Run one pass of the web login and return the redirect's result (its request_token).

    Routes: ``POST /api/login``, ``POST /api/twofa``, then ``GET /connect/login`` with the session cookie,
    following redirects until one points at ``redirect_url`` (that one is read, not visited). Each is
    retried on transient failures; a new pass of the flow is the caller's (``SessionManager.login_with_totp``).

    Raises:
        LoginError: wrong credentials, wrong TOTP, or no redirect to ``redirect_url``.
        TransientLoginError: a step kept failing transiently; a new pass may succeed.
    """
    clock = clock or SystemClock()
    retry = retry or LoginRetry()
    base = "{0.scheme}://{0.netloc}".format(urlsplit(login_url))

    def password_login() -> requests.Response:
        return http.post(urljoin(base, "/api/login"), data={"user_id": user_id, "password": password}, timeout=15)

    r = _send(LoginStep.PASSWORD, retry, password_login, refused=lambda status: status >= 400)
    try:
        request_id = str(r.json()["data"]["request_id"])
    except (ValueError, KeyError, TypeError):
        raise TransientLoginError(LoginStep.PASSWORD, "an answer without a request_id") from None
    code = _fresh_code(pyotp.TOTP(totp_secret), clock, retry.sleep)

    def twofa() -> requests.Response:
        form = {"user_id": user_id, "request_id": request_id, "twofa_value": code, "twofa_type": "totp"}
        return http.post(urljoin(base, "/api/twofa"), data={**form, "skip_totp": "true"}, timeout=15)

    # A 403 here means the request_id is gone (it expired, or an earlier try that looked lost was used):
    # only a new pass of the flow can go on. A 400 is a wrong code or user.
    r = _send(LoginStep.TWOFA, retry, twofa, refused=lambda status: 400 <= status < 500 and status != 403)
    if r.status_code == 403:
        raise TransientLoginError(LoginStep.TWOFA, "the login request expired or was already used")
    target = urlsplit(redirect_url)
    url = build_login_url(login_url, api_key, state)
    for _ in range(10):
        r = _send(
            LoginStep.REDIRECT,
            retry,
            functools.partial(http.get, url, allow_redirects=False, timeout=15),
            refused=lambda status: status >= 400,
        )
        location = r.headers.get("location")
        if r.status_code not in (301, 302, 303, 307, 308) or not location:
            raise LoginError(
                f"Kite's login page did not redirect to the app (HTTP {r.status_code}); the login flow may have "
                "changed. Log in with `kitekit login` instead."
            )
        url = urljoin(url, location)
        here = urlsplit(url)
        if (here.scheme, here.netloc, here.path) == (target.scheme, target.netloc, target.path or "/"):
            return result_from_query(parse_qs(here.query, keep_blank_values=True))
    raise LoginError("Too many redirects during the TOTP login; the login flow may have changed.")


def _fresh_code(totp: pyotp.TOTP, clock: Clock, sleep: Callable[[float], None]) -> str:
    """Return the current TOTP code, waiting out the last two seconds of a window (the code could go stale)."""
    now = clock.now()
    left = totp.interval - (now.timestamp() % totp.interval)
    if left < 2:
        sleep(left + 0.1)
        now = clock.now()
    return str(totp.at(now))
