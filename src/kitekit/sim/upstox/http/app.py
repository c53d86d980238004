"""The Upstox simulator's ASGI app (:class:`UpstoxSim`): every Upstox area's routes, answered in Upstox's envelope.

The fault routes of :mod:`kitekit.sim.http.fault_edge` sit under ``/__sim`` as on Kite's simulator, and its
middleware injects the faults in Upstox's dialect (:mod:`.faults`). Unknown routes answer 404, wrong methods
405, and a crash inside the simulator 500, each as
``{"status": "error", "errors": [...]}``; client input never reaches the 500 (every handler checks it).
"""

from __future__ import annotations

import functools
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from kitekit.sim.http.fault_edge import FaultEdge, admin_routes
from kitekit.sim.upstox.http import history, login, market, orders, portfolio, stream
from kitekit.sim.upstox.http.faults import UPSTOX_DIALECT
from kitekit.sim.upstox.http.state import UpstoxState, json_response
from kitekit.wire.upstox.errors import UDAPI, UpstoxError

__all__ = ["UpstoxSim"]

log = logging.getLogger("kitekit.sim.upstox")


async def _http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 500)
    code = {404: UDAPI.NOT_FOUND, 405: UDAPI.METHOD_NOT_ALLOWED}.get(status, UDAPI.INVALID_INPUT)
    return json_response(UpstoxError(code).body(), status)


async def _client_gone(request: Request, exc: Exception) -> Response:
    log.info("client went away during %s %s", request.method, request.url.path)
    return Response(status_code=499)


async def _crash(request: Request, exc: Exception) -> Response:
    log.exception("Upstox simulator bug while serving %s %s", request.method, request.url.path)
    return json_response(UpstoxError(UDAPI.INTERNAL).body(), 500)


class UpstoxSim(UpstoxState):
    """The Upstox simulator's state and its ASGI application (``.asgi``)."""

    @property
    def request_timeout_s(self) -> float:
        """Return how long a connection has to deliver a whole request (the shared setting)."""
        return self.config.shared.request_timeout_s

    @property
    def ws_ping_interval_s(self) -> float | None:
        """Return how often the server pings an open WebSocket (Upstox pings idle connections)."""
        return self.config.ping_interval_s

    def approve_token_request(self, request_id: str | None = None) -> bool:
        """Approve a v3 token request (the newest open one by default) as the user would in the app.

        The token goes to the request's notifier URL. Returns False when there is no such open request.
        """
        approved = self.auth.approve(request_id)
        if approved is None:
            return False
        login.deliver(self, *approved)
        return True

    def release(self) -> None:
        """Stop the exchange's pump (the server is stopping)."""
        self.exchange.stop()

    def publish_admin_token(self) -> None:
        """Do nothing: the Upstox simulator's admin API (faults, orders) answers programs on this machine only."""

    @functools.cached_property
    def asgi(self) -> ASGIApp:
        """Return the ASGI application, built on first use."""
        return self.fault_edge

    @functools.cached_property
    def fault_edge(self) -> FaultEdge:
        """Return the fault middleware in front of the routes (it also cuts open WebSockets on demand)."""
        app = Starlette(
            routes=self._routes(),
            exception_handlers={HTTPException: _http_error, ClientDisconnect: _client_gone, Exception: _crash},
        )
        return FaultEdge(app, self.faults, UPSTOX_DIALECT)

    def _info(self) -> dict[str, Any]:
        return {
            "now": self.clock.now().isoformat(),
            "requests": dict(self.requests),
            "rate_limited": self.limiter.rejected,
        }

    def _routes(self) -> list[BaseRoute]:
        return [
            *login.routes(self),
            *portfolio.routes(self),
            *market.routes(self),
            *history.routes(self),
            *orders.routes(self),
            *stream.routes(self),
            *admin_routes(lambda: self.fault_edge, self.order_faults, self.exchange, self._info),
        ]
