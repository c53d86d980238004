"""The paced SmartAPI REST client: Angel's client headers, its limits through kitekit's pacer, its two error dialects.

Every call kitekit makes to Angel goes through :meth:`AngelClient.call`, which

1. waits for a slot of the route's class in a :class:`~kitekit.rest.pacer.Pacer` set to Angel's rates (per
   second and per minute; the per-hour caps are left to the rate-limit answer's cool-down);
2. sends it with the six client headers and the JWT;
3. reads the answer with :func:`kitekit.wire.angel.envelope.read_body`: the data, or a failure;
4. retries what is safe to retry: a rate-limited or transport-failed *read* (never an order POST, which
   :mod:`kitekit.orders` looks up by its tag instead), after a cool-down shared by every process on the pacer.

Failures: a gateway token error raises :class:`~kitekit.errors.SessionExpiredError` (and calls
``on_token_rejected``); anything else Angel refuses raises :class:`AngelApiError` with its code.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from kitekit import errors as kk_errors
from kitekit.brokers.angel.capabilities import ANGEL_CAPABILITIES, ROUTE_ENDPOINTS
from kitekit.brokers.capabilities import Endpoint
from kitekit.errors import KitekitError
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import TRANSPORT_ERRORS, RetryPolicy
from kitekit.wire.angel.envelope import GATEWAY_CODES, AngelFailure, Dialect, read_body
from kitekit.wire.angel.routes import CLIENT_HEADERS, Route
from kitekit.wire.routes import EndpointClass

__all__ = ["ORDER_ROUTES", "AngelApiError", "AngelClient", "angel_pacer"]

log = logging.getLogger("kitekit.brokers.angel")

#: Routes that change orders: never retried here (a second POST could make a second order).
ORDER_ROUTES = frozenset({Route.ORDER_PLACE, Route.ORDER_MODIFY, Route.ORDER_CANCEL})
_CLASSES = {
    Endpoint.QUOTE: EndpointClass.QUOTE,
    Endpoint.HISTORY: EndpointClass.HISTORICAL,
    Endpoint.ORDER: EndpointClass.ORDER,
    Endpoint.OTHER: EndpointClass.OTHER,
}


class AngelApiError(KitekitError):
    """Angel refused a request, or its answer could not be read.

    Args:
        failure: the failure as the wire module read it (dialect, Angel's code, message, HTTP status).
        route: the route called.
    """

    def __init__(self, failure: AngelFailure, route: Route) -> None:
        code = f" {failure.code}" if failure.code else ""
        super().__init__(
            f"Angel One refused {route.name.lower()}:{code} {failure.message} (HTTP {failure.http_status})"
        )
        self.failure = failure
        self.route = route

    @property
    def code(self) -> str:
        """Return Angel's error code (``AB1013``), "" when the answer had none."""
        return self.failure.code

    @property
    def rate_limited(self) -> bool:
        """Return True when Angel turned the request away for exceeding its rate."""
        return self.failure.dialect is Dialect.RATE_LIMIT


def _rate(endpoint: Endpoint) -> float:
    # Per second and per minute: an hour's cap paced evenly would slow a burst of 20 orders to minutes.
    windows = [w for w in ANGEL_CAPABILITIES.rates[endpoint] if w.seconds <= 60]
    return min(w.per_second for w in windows)


def angel_pacer(path: Any = None, **options: Any) -> Pacer:
    """Return a :class:`Pacer` set to Angel's limits (``path``: the shared database, None for this process)."""
    rates = {cls: _rate(endpoint) for endpoint, cls in _CLASSES.items()}
    return Pacer(path, rates=rates, second_caps={}, **options)


class AngelClient:
    """SmartAPI over HTTP for one client code; thread-safe as ``requests.Session`` is.

    Args:
        api_key: the SmartAPI app's key (sent as ``X-PrivateKey``).
        client_code: the account (the pacer's key: Angel limits per client code).
        root: the REST root (``https://apiconnect.angelone.in`` or a simulator's URL).
        jwt: the session's JWT, None before a login.
        pacer: Angel's pacer (:func:`angel_pacer`); None sends unpaced.
        retry: attempts and backoff for reads.
        on_token_rejected: called when Angel's gateway rejects the JWT.
        timeout: seconds to wait for an answer.
        adapter: the ``requests`` transport to send through (the seam tests swap for a faulty network);
            None: requests' own.
    """

    def __init__(
        self,
        api_key: str,
        client_code: str,
        root: str,
        jwt: str | None = None,
        *,
        pacer: Pacer | None = None,
        retry: RetryPolicy | None = None,
        on_token_rejected: Callable[[], None] | None = None,
        timeout: float = 10.0,
        adapter: HTTPAdapter | None = None,
    ) -> None:
        self.api_key = api_key
        self.client_code = client_code
        # The pacer's database is shared with Kite's clients, keyed by api_key there: a prefix keeps the two apart.
        self.pace_key = f"angel:{client_code}"
        self.root = root.rstrip("/")
        self.jwt = jwt
        self.pacer = pacer
        self.retry = retry or RetryPolicy()
        self.on_token_rejected = on_token_rejected
        self.timeout = timeout
        self.reqsession = requests.Session()
        if adapter is not None:
            self.reqsession.mount("http://", adapter)
            self.reqsession.mount("https://", adapter)
        # The values of the address headers are not checked by Angel; their presence is.
        self.headers = dict.fromkeys(CLIENT_HEADERS, "127.0.0.1")
        self.headers.update(
            {
                "X-MACAddress": "00:00:00:00:00:00",
                "X-PrivateKey": api_key,
                "X-UserType": "USER",
                "X-SourceID": "WEB",
                "Content-Type": "application/json",
                "Accept": "application/json",
            }
        )

    def close(self) -> None:
        """Close the HTTP connections."""
        self.reqsession.close()

    def call(
        self,
        route: Route,
        body: Mapping[str, Any] | None = None,
        *,
        method: str = "POST",
        path: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> Any:
        """Send one request to ``route`` and return its ``data``.

        Raises:
            SessionExpiredError: the JWT was rejected (or none is held on a secure route).
            AngelApiError: Angel refused it (a rate-limited order POST included: never re-sent here).
            requests.RequestException: the network failed an order POST (its fate is unknown: look it up).
        """
        url = self.root + (route.value.format(**path) if path else route.value)
        headers = dict(self.headers)
        if auth:
            if not self.jwt:
                raise kk_errors.NoSessionError("No Angel One session: log in first.")
            headers["Authorization"] = f"Bearer {self.jwt}"
        retryable = route not in ORDER_ROUTES
        attempts = self.retry.attempts if retryable else 1
        cls = _CLASSES[ROUTE_ENDPOINTS.get(route, Endpoint.OTHER)]
        for attempt in range(attempts):
            if self.pacer is not None:
                self.pacer.acquire(self.pace_key, cls)
            try:
                answer = self.reqsession.request(
                    method, url, json=dict(body) if body is not None else None, headers=headers, timeout=self.timeout
                )
            except TRANSPORT_ERRORS as exc:
                if attempt + 1 >= attempts:
                    raise
                log.info("Angel %s: %s; retrying", route.name.lower(), type(exc).__name__)
                self.retry.sleep(self.retry.delay(attempt))
                continue
            got = read_body(answer.status_code, answer.text)
            if not isinstance(got, AngelFailure):
                return got
            if got.dialect is Dialect.GATEWAY and got.code in {c.value for c in GATEWAY_CODES}:
                if self.on_token_rejected is not None:
                    self.on_token_rejected()
                raise kk_errors.SessionExpiredError(f"Angel One rejected the session ({got.code} {got.message})")
            again = got.dialect is Dialect.RATE_LIMIT or got.http_status >= 500 or got.dialect is Dialect.NOT_JSON
            if again and attempt + 1 < attempts:
                if got.dialect is Dialect.RATE_LIMIT and self.pacer is not None:
                    self.pacer.cool_down(self.pace_key, cls)
                self.retry.sleep(max(self.retry.delay(attempt), self.retry.rate_limit_pause * 0.2))
                continue
            raise AngelApiError(got, route)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises
