"""The requests adapter mounted on every kitekit ``KiteConnect``: pace, retry, and guard the session.

Mounting an adapter on the client's ``reqsession`` is the seam the official SDK offers: every call goes
through it, including calls users write themselves, and the SDK itself stays untouched. For each request
the adapter

1. runs the optional ``guard`` (e.g. fail fast when the saved session is known dead);
2. waits for a slot of the client's api_key and the request's endpoint class in the shared
   :class:`~kitekit.rest.pacer.Pacer`;
3. sends it and reads the whole body, telling the pacer the answer's ``Date`` (the server's clock, which
   order pacing aligns to);
4. on a 429, cools the class down for every process sharing the pacer;
5. on a TokenException, calls ``on_token_error`` once;
6. retries idempotent GETs after network-side failures, per :mod:`kitekit.rest.retry`, each try paced again.

Whatever is not retried, or is still failing when the attempts run out, is handed back unchanged: the SDK
then raises its usual exception (``NetworkException``, ``TokenException``…), or the last transport error
propagates.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from kiteconnect import KiteConnect
from requests.adapters import HTTPAdapter

from kitekit.rest.pacer import PacerBackend
from kitekit.rest.retry import IDEMPOTENT, TRANSPORT_ERRORS, Action, RetryPolicy, action_for
from kitekit.wire.envelope import ErrorType, decode_error
from kitekit.wire.routes import EndpointClass, classify

__all__ = ["KiteTransport", "install_transport", "kite_error_type"]

log = logging.getLogger("kitekit.rest.transport")


def kite_error_type(response: requests.Response) -> ErrorType | None:
    """Return the ``error_type`` of a Kite JSON error answer.

    Returns:
        The error type, or None for a success, a non-JSON answer (a proxy's page) or an unknown name.
    """
    # Successes are never parsed: a full-quote answer can be megabytes, and the SDK parses it anyway.
    if response.status_code < 400:
        return None
    error = decode_error(response.status_code, response.headers.get("content-type", ""), response.content)
    return error.error_type if error is not None else None


class KiteTransport(HTTPAdapter):
    """Paces each request under its class's limit, retries idempotent GETs per :data:`kitekit.rest.retry.POLICY`,
    and reports a dead session.

    Args:
        pacer: the shared rate-limit scheduler; None sends without pacing.
        policy: attempts and backoff for retries (defaults to ``RetryPolicy()``).
        on_token_error: called with no arguments when Kite answers an authenticated request with
            ``TokenException`` (e.g. to mark the saved session dead); the SDK then raises as usual.
        guard: called before every request; may raise to stop it before the network (e.g. a session
            already known dead).
        api_key: the client's api_key, whose buckets in ``pacer`` its requests take (the client's own key:
            it is never read back out of the requests the SDK builds from it).
        source_address: the local address requests leave from (a machine with several, one of them the
            app's registered static IP); None lets the system choose.
        **pool: passed to ``requests.adapters.HTTPAdapter`` (``pool_connections``, ``pool_maxsize``…).
    """

    def __init__(
        self,
        pacer: PacerBackend | None = None,
        policy: RetryPolicy | None = None,
        on_token_error: Callable[[], None] | None = None,
        guard: Callable[[], None] | None = None,
        *,
        api_key: str = "",
        source_address: str | None = None,
        **pool: Any,
    ) -> None:
        self.source_address = source_address  # before super().__init__, which builds the pool manager
        super().__init__(**pool)
        self.api_key = api_key
        self.pacer = pacer
        self.policy = policy or RetryPolicy()
        self.on_token_error = on_token_error
        self.guard = guard

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send ``request`` paced, retrying it on network-side failures if it is an idempotent GET.

        Raises:
            requests.RequestException: a transport error that was not retried or is still failing.
            Exception: whatever ``guard`` raises.
        """
        if self.guard is not None:
            self.guard()
        method = (request.method or "GET").upper()
        path = urlsplit(request.url or "").path
        cls = classify(method, path)
        retryable = method in IDEMPOTENT
        attempts = self.policy.attempts if retryable else 1
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            if self.pacer is not None:
                self.pacer.acquire(self.api_key, cls)
            sent = self.pacer.clock() if self.pacer is not None else 0.0
            try:
                response = super().send(request, stream, timeout, verify, cert, proxies)
                if not stream:
                    _ = response.content  # read now, so a connection cut mid-body is retried here too
                if self.pacer is not None:
                    self.pacer.observe(self.api_key, response.headers.get("date"), sent, self.pacer.clock())
            except TRANSPORT_ERRORS as exc:
                if last:
                    raise
                self._pause(attempt, f"{method} {path}", type(exc).__name__)
                continue
            error = kite_error_type(response)
            action = action_for(response.status_code, error)
            if response.status_code == 429:
                self._rate_limited(cls)
            if action is Action.RELOGIN and "Authorization" in request.headers and self.on_token_error:
                self.on_token_error()  # only for a token we sent: a failed login exchange is no dead session
            if action is not Action.RETRY or last:
                return response
            response.close()
            # With a pacer the cooldown spaces a 429's retry; without one, wait at least a rate-limit pause.
            least = self.policy.rate_limit_pause if response.status_code == 429 and self.pacer is None else 0.0
            self._pause(attempt, f"{method} {path}", f"HTTP {response.status_code} {error or 'non-Kite answer'}", least)
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        """Build the connection pools, bound to ``source_address`` when one is given."""
        if self.source_address:
            pool_kwargs["source_address"] = (self.source_address, 0)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)

    def _rate_limited(self, cls: EndpointClass) -> None:
        # Someone else spent the budget (another app on this key, a pacer without the shared file, or
        # Kite counting differently): pause the whole class for every process instead of hammering.
        log.warning("HTTP 429 (rate limited) on a %s-class call; pausing the class", cls)
        if self.pacer is not None:
            self.pacer.cool_down(self.api_key, cls)

    def _pause(self, attempt: int, what: str, why: str, least: float = 0.0) -> None:
        delay = max(least, self.policy.delay(attempt - 1))
        log.info("%s failed (%s); retry %d of %d in %.2fs", what, why, attempt, self.policy.attempts - 1, delay)
        self.policy.sleep(delay)


def install_transport(
    kite: KiteConnect,
    pacer: PacerBackend | None = None,
    policy: RetryPolicy | None = None,
    on_token_error: Callable[[], None] | None = None,
    guard: Callable[[], None] | None = None,
    pool: Mapping[str, Any] | None = None,
    source_address: str | None = None,
) -> KiteTransport:
    """Mount a :class:`KiteTransport` on ``kite.reqsession`` for ``http://`` and ``https://``.

    Every later call of ``kite``, including ones users write themselves, goes through it, paced in the buckets
    of ``kite.api_key``. Installing again replaces the previous adapter.

    Args:
        kite: an official ``kiteconnect.KiteConnect``.
        pacer: the shared rate-limit scheduler; None sends without pacing.
        policy: attempts and backoff for retries of idempotent GETs.
        on_token_error: called when Kite rejects the client's access token (TokenException).
        guard: called before every request; may raise to stop it.
        pool: ``HTTPAdapter`` settings (``pool_connections``, ``pool_maxsize``, ``pool_block``); a
            ``KiteConnect(pool=...)`` adapter is replaced, so pass its settings here.
        source_address: the local address requests leave from (the app's static IP on a machine with several).

    Returns:
        The mounted adapter.
    """
    adapter = KiteTransport(
        pacer, policy, on_token_error, guard, api_key=kite.api_key, source_address=source_address, **dict(pool or {})
    )
    kite.reqsession.mount("https://", adapter)
    kite.reqsession.mount("http://", adapter)
    return adapter
