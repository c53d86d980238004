"""The simulator's ASGI app (:class:`SimApp`): the routes of every Kite area behind the middleware.

Only ``sim/http/`` knows Starlette. Each area module (``login``, ``session``, ``user``, ``ticker``, ``market``,
``orders``, ``portfolio``, ``gtt``, ``alerts``, ``margins``, ``mf``, ``admin``) exposes ``routes(sim)`` over the
state of :mod:`.state` (whose ``api()`` wraps API handlers with authentication, rate limiting and Kite's envelope); this
module registers them, logs each request with its secrets redacted, guards the admin API, injects faults, and
answers unknown routes, wrong methods and crashes with Kite's error envelope.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from collections import Counter
from email.utils import formatdate
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kitekit.clock import Clock
from kitekit.redact import SECRET_PARAMS
from kitekit.sim.http import (
    admin,
    alerts,
    gtt,
    login,
    margins,
    market,
    mf,
    orders,
    portfolio,
    session,
    ticker,
    user,
)
from kitekit.sim.http.edge import error_response, json_response
from kitekit.sim.http.fault_edge import FaultEdge, loopback_refusal
from kitekit.sim.http.orders import KITE_DIALECT
from kitekit.sim.http.state import SimState
from kitekit.wire.envelope import ErrorType, RejectionError, error_body

__all__ = ["ADMIN_HEADER", "SimApp", "redact_query"]

log = logging.getLogger("kitekit.sim")
access_log = logging.getLogger("kitekit.sim.access")


def redact_query(query: str) -> str:
    """Return a query string with the values of sensitive keys replaced by ``***``."""
    if not query:
        return ""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, "***" if k in SECRET_PARAMS else v) for k, v in pairs])


class _AccessLog:
    """Counts requests, logs one line each with secrets redacted (uvicorn's access log prints raw queries), and
    dates every answer by the simulator's clock.

    The count goes up before the request is handled, so a client that got its answer can rely on it. The
    ``Date`` header tells the server's time as Kite's does (whole seconds, RFC 7231): clients align their order
    pacing to its seconds, and ``kitekit doctor`` compares it with the local clock. uvicorn's own Date (the
    wall clock) is turned off in :mod:`kitekit.sim.server`.
    """

    def __init__(self, app: ASGIApp, counts: Counter[str], clock: Clock) -> None:
        self.app = app
        self.counts = counts
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Fault injection drops connections through uvicorn's transport, which our wrapped send hides.
        scope["kitekit.transport"] = getattr(getattr(send, "__self__", None), "transport", None)
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        self.counts[f"{scope['method']} {scope['path']}"] += 1

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", ()))
                if not any(name.lower() == b"date" for name, _ in headers):
                    stamp = formatdate(self.clock.now().timestamp(), usegmt=True)
                    message = {**message, "headers": [*headers, (b"date", stamp.encode("latin-1"))]}
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


#: The header carrying the admin token.
ADMIN_HEADER = "x-kitekit-admin"


class _AdminGuard:
    """Keeps the admin API to the simulator's own user: a web page must never reconfigure it.

    A request to ``/__sim`` passes with the per-process admin token in ``X-Kitekit-Admin``. Without it, it
    passes only if the token is not required and it plainly comes from a program on this machine: it arrives
    from a loopback address, its ``Host`` names loopback (which defeats DNS rebinding), and it carries no
    ``Origin`` and no ``Sec-Fetch-Site`` at all. Browsers add those to every form post and fetch, while
    scripts, curl and the SDK send neither. Any ``Origin`` counts, a loopback one too: a page served from
    ``http://localhost:3000`` is as foreign to the simulator as any web site, and ``null`` hides where it is.
    """

    def __init__(self, app: ASGIApp, sim: SimApp) -> None:
        self.app = app
        self.sim = sim

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope.get("path", "").startswith(admin.PREFIX):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        why = self.refusal(Headers(scope=scope), client[0] if client else None)
        if why is None:
            await self.app(scope, receive, send)
            return
        await error_response(RejectionError(ErrorType.PERMISSION, why))(scope, receive, send)

    def refusal(self, headers: Headers, client: str | None = None) -> str | None:
        """Return why an admin request from address ``client`` is refused, or None to let it through."""
        given = headers.get(ADMIN_HEADER, "")
        # As bytes: compare_digest refuses non-ASCII text, and a header may carry any latin-1 character.
        if given and hmac.compare_digest(given.encode("latin-1", "replace"), self.sim.admin_token.encode()):
            return None
        if self.sim.config.admin_token_required:
            return "The simulator's admin API needs its admin token in the X-Kitekit-Admin header."
        return loopback_refusal(headers, client, " unless they carry the admin token in the X-Kitekit-Admin header")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    message = {404: "Route not found", 405: "Method not allowed"}.get(status, "Request failed")
    return json_response(error_body(ErrorType.GENERAL, message), status)


async def _client_gone(request: Request, exc: Exception) -> Response:
    # The client hung up before its whole body arrived (a timeout on a slow answer, a body cut short): not a
    # bug, and nobody is left to answer. Registered for ClientDisconnect itself, so Starlette handles it in its
    # ExceptionMiddleware; a handler for Exception runs in ServerErrorMiddleware, which re-raises to the server
    # (uvicorn then logs "Exception in ASGI application" with a traceback).
    log.info("client went away during %s %s", request.method, request.url.path)
    return Response(status_code=499)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("simulator bug while serving %s %s", request.method, request.url.path)
    return json_response(error_body(ErrorType.GENERAL, "An unexpected error occurred."), 500)


class SimApp(SimState):
    """The simulator's state and its ASGI application (``.asgi``): every area's routes behind the middleware."""

    @property
    def request_timeout_s(self) -> float:
        """Return how long a connection has to deliver a whole request (``config.request_timeout_s``)."""
        return self.config.request_timeout_s

    @property
    def ws_ping_interval_s(self) -> float | None:
        """Return None: Kite's ticker sends heartbeat frames of its own, not WebSocket pings."""
        return None

    @functools.cached_property
    def asgi(self) -> ASGIApp:
        """Return the ASGI application, built on first use (a test may put its own in its place)."""
        app = Starlette(
            routes=self._routes(),
            exception_handlers={HTTPException: _http_error, ClientDisconnect: _client_gone, Exception: _crash},
        )
        return _AccessLog(FaultEdge(_AdminGuard(app, self), self.faults, KITE_DIALECT), self.requests, self.clock)

    def _routes(self) -> list[BaseRoute]:
        return [
            *login.routes(self),
            *session.routes(self),
            *user.routes(self),
            *ticker.routes(self),
            *market.routes(self),
            *orders.routes(self),
            *portfolio.routes(self),
            *gtt.routes(self),
            *alerts.routes(self),
            *margins.routes(self),
            *mf.routes(self),
            Mount(admin.PREFIX, routes=admin.routes(self)),
        ]
