"""Upstox's REST API through kitekit's pacer and retry policy: envelopes read, errors raised, GETs retried.

:class:`UpstoxClient` is the one place a request to Upstox is made. Each call waits for a slot of its endpoint
class in the shared :class:`~kitekit.rest.pacer.Pacer` (rates from :data:`UPSTOX_CAPABILITIES`), sends the
``Api-Version`` header where :func:`~kitekit.wire.upstox.routes.needs_api_version` says Upstox wants it, routes
order writes to the order host, and unwraps ``{"status": "success", "data": …}``. A 429 cools its class down for
every process sharing the pacer; only GETs are retried (after a 429, a 5xx or no answer): an order request is
never sent twice here, the order gateway settles its doubts by looking the order up.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests

from kitekit.brokers.capabilities import BrokerCapabilities, Endpoint
from kitekit.errors import KitekitError
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import TRANSPORT_ERRORS, RetryPolicy
from kitekit.wire.routes import EndpointClass
from kitekit.wire.upstox.errors import UDAPI, UpstoxProblem, decode_errors
from kitekit.wire.upstox.routes import API_VERSION, API_VERSION_HEADER, needs_api_version, uses_order_host

__all__ = ["UpstoxApiError", "UpstoxClient", "pacer_for"]

log = logging.getLogger("kitekit.brokers.upstox")

_CLASSES = {
    Endpoint.QUOTE: EndpointClass.QUOTE,
    Endpoint.HISTORY: EndpointClass.HISTORICAL,
    Endpoint.ORDER: EndpointClass.ORDER,
    Endpoint.OTHER: EndpointClass.OTHER,
}


def pacer_for(capabilities: BrokerCapabilities, path: Any = None) -> Pacer:
    """Return a pacer at the broker's sustained rate per endpoint class (its tightest window), shared via ``path``."""
    rates = {cls: capabilities.rate(endpoint) for endpoint, cls in _CLASSES.items()}
    return Pacer(path, rates=rates, second_caps={})


class UpstoxApiError(KitekitError):
    """Upstox answered an error: the HTTP status and the problems of its error body.

    Args:
        status: the HTTP status.
        problems: the error items (either key spelling read).
    """

    def __init__(self, status: int, problems: list[UpstoxProblem]) -> None:
        self.status = status
        self.problems = problems
        self.code = problems[0].error_code if problems else ""
        text = "; ".join(f"{p.message} ({p.error_code})" if p.error_code else p.message for p in problems)
        super().__init__(f"Upstox answered {status}: {text}")

    @property
    def rate_limited(self) -> bool:
        """Return True for Upstox's rate-limit refusal (429, UDAPI10005)."""
        return self.status == 429 or self.code == UDAPI.RATE_LIMIT.value

    @property
    def token_rejected(self) -> bool:
        """Return True when the access token was refused (401, UDAPI100050)."""
        return self.status == 401 or self.code == UDAPI.INVALID_TOKEN.value


class UpstoxClient:
    """Paced, retried calls to Upstox's REST API with one access token.

    Args:
        base_url: the API host (``https://api.upstox.com`` or a simulator's URL).
        order_url: the host order writes go to (default ``base_url``).
        token: returns the access token to send (None: send none).
        api_key: the app's key, which the pacer's slots are kept under.
        pacer: the shared pacer (default: one at Upstox's rates in this process).
        retry: how idempotent GETs are retried.
        capabilities: the limits (Upstox's by default).
        on_token_error: called once a token is refused (the session manager marks the session dead).
        timeout: seconds to wait for an answer.
        login_hint: the command named when a token is refused.
    """

    def __init__(
        self,
        base_url: str,
        *,
        order_url: str | None = None,
        token: Callable[[], str | None] = lambda: None,
        api_key: str = "",
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        capabilities: BrokerCapabilities | None = None,
        on_token_error: Callable[[UpstoxApiError], None] | None = None,
        timeout: float = 10.0,
        login_hint: str = "kitekit --broker upstox login",
    ) -> None:
        from kitekit.brokers.upstox.capabilities import UPSTOX_CAPABILITIES

        self.base_url = base_url.rstrip("/")
        self.order_url = (order_url or base_url).rstrip("/")
        self.token = token
        self.api_key = api_key
        self.capabilities = capabilities or UPSTOX_CAPABILITIES
        self.pacer = pacer or pacer_for(self.capabilities)
        self.retry = retry or RetryPolicy()
        self.on_token_error = on_token_error
        self.timeout = timeout
        self.login_hint = login_hint
        self.session = requests.Session()

    def url(self, path: str) -> str:
        """Return the full URL of ``path``: order writes on the order host, the rest on the API host."""
        return (self.order_url if uses_order_host(path) else self.base_url) + path

    def call(
        self,
        method: str,
        path: str,
        endpoint: Endpoint = Endpoint.OTHER,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        form: Mapping[str, str] | None = None,
        token: str | None = None,
        envelope: bool = True,
    ) -> Any:
        """Send one request and return its ``data`` (the whole body when ``envelope`` is False).

        Raises:
            SessionExpiredError: Upstox refused the token (401, UDAPI100050); ``on_token_error`` was called.
            UpstoxApiError: Upstox answered another error (after the retries a GET gets).
            requests.RequestException: no answer (after the retries a GET gets).
        """
        headers = {"Accept": "application/json"}
        if needs_api_version(path):
            headers[API_VERSION_HEADER] = API_VERSION
        bearer = token if token is not None else self.token()
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        cls = _CLASSES[endpoint]
        attempts = self.retry.attempts if method == "GET" else 1
        for attempt in range(attempts):
            last = attempt == attempts - 1
            self.pacer.acquire(self.api_key, cls)
            try:
                answer = self.session.request(
                    method, self.url(path), params=params, json=json, data=form, headers=headers, timeout=self.timeout
                )
            except TRANSPORT_ERRORS as exc:
                if last:
                    raise
                log.info("%s %s: no answer (%s); retrying", method, path, type(exc).__name__)
                self.retry.sleep(self.retry.delay(attempt))
                continue
            if answer.status_code < 400:
                return _data(answer, envelope)
            error = UpstoxApiError(answer.status_code, decode_errors(answer.content))
            if error.rate_limited:
                self.pacer.cool_down(self.api_key, cls)
            if error.token_rejected:
                if self.on_token_error is not None:
                    self.on_token_error(error)
                from kitekit.errors import SessionExpiredError

                refused = f"Upstox refused the access token. Log in again: {self.login_hint}"
                raise SessionExpiredError(refused) from error
            if last or not (error.rate_limited or answer.status_code >= 500):
                raise error
            log.info("%s %s: %s; retrying", method, path, error)
            self.retry.sleep(self.retry.delay(attempt))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def _data(answer: requests.Response, envelope: bool) -> Any:
    try:
        body = answer.json()
    except ValueError:
        raise UpstoxApiError(answer.status_code, [UpstoxProblem("", "an answer that is not JSON")]) from None
    if envelope and isinstance(body, dict) and "data" in body:
        return body["data"]
    return body
