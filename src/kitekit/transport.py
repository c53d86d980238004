"""The requests adapter mounted on every kitekit ``KiteConnect``: pace, retry, and guard the session.

Mounting an adapter on the client's ``reqsession`` is the seam the official SDK offers: every call goes
through it, including calls users write themselves, and the SDK itself stays untouched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from kiteconnect import KiteConnect
from requests.adapters import HTTPAdapter

from kitekit.retry import GATEWAY_STATUSES, IDEMPOTENT, POLICY, Action, RetryPolicy
from kitekit.throttle import Pacer
from kitekit.wire.envelope import ErrorType
from kitekit.wire.routes import classify

__all__ = ["KiteTransport", "install_transport", "kite_error_type"]

log = logging.getLogger("kitekit.transport")

#: Transport failures worth another try on an idempotent request.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def kite_error_type(response: requests.Response) -> ErrorType | None:
    """Return the ``error_type`` of a Kite JSON error answer, or None (success, non-JSON, unknown name)."""
    if response.status_code < 400 or "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    name = body.get("error_type") if isinstance(body, dict) else None
    try:
        return ErrorType(name) if name else None
    except ValueError:
        return None


def _api_key(request: requests.PreparedRequest) -> str:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("token ") and ":" in auth:
        return auth[6:].split(":", 1)[0]
    # Session routes carry the key as a parameter instead.
    query = parse_qs(urlsplit(request.url or "").query)
    if "api_key" in query:
        return query["api_key"][0]
    body = request.body
    if isinstance(body, str | bytes):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        form = parse_qs(text)
        if "api_key" in form:
            return form["api_key"][0]
    return ""


class KiteTransport(HTTPAdapter):
    """Paces each request under its class's limit, retries idempotent GETs per :data:`POLICY`, and fails
    fast once the session is known dead.

    Args:
        pacer: the shared rate-limit scheduler (None: no pacing).
        policy: attempts and backoff for retries.
        on_token_error: called when Kite answers 403 TokenException (e.g. mark the saved session dead).
        guard: called before every request; raises to stop a request early (e.g. a dead session).
    """

    def __init__(
        self,
        pacer: Pacer | None = None,
        policy: RetryPolicy | None = None,
        on_token_error: Callable[[], None] | None = None,
        guard: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pacer = pacer
        self.policy = policy or RetryPolicy()
        self.on_token_error = on_token_error
        self.guard = guard

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, stream: bool = False, **kwargs: Any
    ) -> requests.Response:
        """Send ``request`` paced, retrying idempotent GETs on network-side failures."""
        if self.guard is not None:
            self.guard()
        method = (request.method or "GET").upper()
        cls = classify(method, urlsplit(request.url or "").path)
        api_key = _api_key(request)
        retryable = method in IDEMPOTENT
        retry = 0
        while True:
            if self.pacer is not None:
                self.pacer.acquire(api_key, cls)
            try:
                response = super().send(request, stream=stream, **kwargs)
                if not stream:
                    _ = response.content  # read now, so a connection cut mid-body is retried here too
            except TRANSPORT_ERRORS as exc:
                if retryable and retry + 1 < self.policy.attempts:
                    self._pause(retry, method, request, type(exc).__name__)
                    retry += 1
                    continue
                raise
            error = kite_error_type(response)
            if response.status_code == 429 and self.pacer is not None:
                # Someone else spent the budget (another app on this key, or clock skew): back off as a class.
                self.pacer.cool_down(api_key, cls)
            if error is ErrorType.TOKEN and response.status_code == 403:
                if self.on_token_error is not None:
                    self.on_token_error()
                return response
            gateway = error is None and response.status_code in GATEWAY_STATUSES
            worth_retry = gateway or (error is not None and POLICY[error] is Action.RETRY)
            if retryable and worth_retry and retry + 1 < self.policy.attempts:
                response.close()
                self._pause(retry, method, request, f"HTTP {response.status_code} {error or 'gateway'}")
                retry += 1
                continue
            return response

    def _pause(self, retry: int, method: str, request: requests.PreparedRequest, why: str) -> None:
        delay = self.policy.delay(retry)
        path = urlsplit(request.url or "").path
        log.info("%s %s failed (%s); retry %d in %.2fs", method, path, why, retry + 1, delay)
        self.policy.sleep(delay)


def install_transport(
    kite: KiteConnect,
    pacer: Pacer | None = None,
    policy: RetryPolicy | None = None,
    on_token_error: Callable[[], None] | None = None,
    guard: Callable[[], None] | None = None,
    pool: Mapping[str, Any] | None = None,
) -> KiteTransport:
    """Mount a :class:`KiteTransport` on ``kite.reqsession`` for http:// and https://; return it."""
    adapter = KiteTransport(pacer, policy, on_token_error, guard, **dict(pool or {}))
    kite.reqsession.mount("https://", adapter)
    kite.reqsession.mount("http://", adapter)
    return adapter
