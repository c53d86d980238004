"""The simulator's ASGI app: its state (:class:`SimApp`), middleware, and the routes of every Kite area.

Only ``sim/http/`` knows Starlette. Each area module (``login``, ``session``, ``user``, ``market``,
``admin``) exposes ``routes(sim)``; this module registers them, wraps API handlers with authentication,
rate limiting and Kite's envelope, logs each request with its secrets redacted, injects faults, and answers
unknown routes, wrong methods and crashes with Kite's error envelope.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kitekit.clock import Clock, SystemClock
from kitekit.sim.auth import AuthState
from kitekit.sim.config import SimConfig
from kitekit.sim.errors import ApiError
from kitekit.sim.faults import Fault, FaultInjector
from kitekit.sim.http import admin, login, market, session, user
from kitekit.sim.http.edge import Handler, error_response, form_of, json_response, success_response
from kitekit.sim.market import Market
from kitekit.sim.ratelimit import RateLimiter
from kitekit.wire.envelope import ErrorType, error_body, rate_limited_body
from kitekit.wire.routes import SECRET_PARAMS, classify

__all__ = ["SimApp", "redact_query"]

log = logging.getLogger("kitekit.sim")
access_log = logging.getLogger("kitekit.sim.access")

_HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)


def redact_query(query: str) -> str:
    """Return a query string with the values of sensitive keys replaced by ``***``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if k in SECRET_PARAMS else v) for k, v in pairs])


class _AccessLog:
    """Counts requests and logs one line each with secrets redacted (uvicorn's access log prints raw queries).

    The count goes up before the request is handled, so a client that got its answer can rely on it.
    """

    def __init__(self, app: ASGIApp, counts: Counter[str]) -> None:
        self.app = app
        self.counts = counts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        self.counts[f"{scope['method']} {scope['path']}"] += 1
        # Fault injection drops connections through uvicorn's transport, which our wrapped send hides.
        scope["kitekit.transport"] = getattr(getattr(send, "__self__", None), "transport", None)

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            query = redact_query(scope.get("query_string", b"").decode("latin-1"))
            access_log.info(
                "%s %s%s %s %.1fms",
                scope["method"],
                scope["path"],
                f"?{query}" if query else "",
                status or "-",
                (time.perf_counter() - started) * 1000,
            )


class _Faults:
    """Injects latency, error answers and dropped connections into API routes (never the admin API)."""

    def __init__(self, app: ASGIApp, injector: FaultInjector) -> None:
        self.app = app
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path.startswith(admin.PREFIX) or not self.injector.applies(path):
            await self.app(scope, receive, send)
            return
        delay = self.injector.delay_s()
        if delay:
            await asyncio.sleep(delay)
        fault = self.injector.draw()
        if fault is None:
            await self.app(scope, receive, send)
            return
        if fault is Fault.DROP:
            # Close the TCP connection with no response at all. ASGI has no verb for that, so reach the
            # transport behind uvicorn's send callable; fall back to an incomplete response elsewhere.
            transport = scope.get("kitekit.transport")
            if transport is not None:
                transport.abort()
                return
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"100")],
                }
            )
            await send({"type": "http.response.body", "body": b"{", "more_body": True})
            raise ConnectionAbortedError("simulated dropped connection")
        if fault is Fault.HTML_502:
            response: Response = HTMLResponse(_HTML_502, status_code=502)
        elif fault is Fault.NETWORK:
            response = error_response(ApiError(ErrorType.NETWORK, "Couldn't connect to the OMS. Please try again."))
        else:
            response = error_response(ApiError(ErrorType.DATA, "Couldn't parse the OMS response."))
        await response(scope, receive, send)


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    message = {404: "Route not found", 405: "Method not allowed"}.get(status, "Request failed")
    return json_response(error_body(ErrorType.GENERAL, message), status)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("simulator bug while serving %s %s", request.method, request.url.path)
    return json_response(error_body(ErrorType.GENERAL, "An unexpected error occurred."), 500)


class SimApp:
    """The simulator's state and its ASGI application (``.asgi``)."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock | None = None,
        market: Market | None = None,
        auth_clock: Clock | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.clock = clock or SystemClock()
        self.market = market or Market(self.config.seed)
        # Logins (TOTP, token expiry) may follow the wall clock while the market replays a virtual session.
        self.auth = AuthState(self.config, auth_clock or self.clock)
        self.limiter = RateLimiter(self.config.rate_limits, self.config.rate_tolerance)
        self.faults = FaultInjector(self.config.faults)
        #: Requests received, by "METHOD /path" (counted before they are handled).
        self.requests: Counter[str] = Counter()
        self.asgi = self._build()

    def _build(self) -> ASGIApp:
        app = Starlette(
            routes=self._routes(),
            exception_handlers={HTTPException: _http_error, Exception: _crash},
        )
        return _AccessLog(_Faults(app, self.faults), self.requests)

    def _routes(self) -> list[BaseRoute]:
        return [
            *login.routes(self),
            *session.routes(self),
            *user.routes(self),
            *market.routes(self),
            Mount(admin.PREFIX, routes=admin.routes(self)),
        ]

    def api(self, handler: Handler, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Return ``handler`` wrapped with authentication, rate limiting and the success/error envelope.

        Args:
            handler: returns the envelope's ``data``, a ready Response, or raises :class:`ApiError`.
            auth: require ``Authorization: token api_key:access_token`` (403 TokenException without it);
                routes without it are rate-limited by their ``api_key`` parameter instead.
        """

        async def endpoint(request: Request) -> Response:
            try:
                grant = self.auth.authenticate(request.headers.get("authorization")) if auth else None
                api_key = grant.api_key if grant else await _api_key_param(request)
                if self.config.rate_limit_enabled and not self.limiter.allow(
                    api_key, classify(request.method, request.url.path)
                ):
                    return json_response(rate_limited_body(), 429)
                data = await handler(request, grant)
            except ApiError as err:
                return error_response(err)
            if isinstance(data, Response):
                return data
            return success_response(data)

        return endpoint


async def _api_key_param(request: Request) -> str:
    if request.method in ("POST", "PUT"):
        return (await form_of(request)).get("api_key", "")
    return request.query_params.get("api_key", "")
