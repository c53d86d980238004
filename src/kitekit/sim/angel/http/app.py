"""The Angel simulator (:class:`AngelSim`): its state and the ASGI app of SmartAPI's routes and streams.

Only ``sim/angel``'s route modules know Starlette's routing; they build their routes over the state
(:mod:`.state`), and this module puts them together, behind the fault middleware of
:mod:`kitekit.sim.http.fault_edge` (its routes under ``/__sim`` as on Kite's simulator; Angel's dialects in
:mod:`.faults`).
"""

from __future__ import annotations

import functools
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp

from kitekit.sim.angel.http import rest, rest_gtt, stream_routes
from kitekit.sim.angel.http.state import AngelState, crash, http_error
from kitekit.sim.http.fault_edge import FaultEdge, admin_routes

__all__ = ["AngelSim"]


class AngelSim(AngelState):
    """The Angel simulator's state and its ASGI application (``.asgi``)."""

    @property
    def request_timeout_s(self) -> float:
        """Return how long a connection has to deliver a whole request."""
        return self.config.request_timeout_s

    @property
    def ws_ping_interval_s(self) -> float | None:
        """Return None: Angel's clients keep the stream alive with text ``ping`` messages of their own."""
        return None

    @functools.cached_property
    def asgi(self) -> ASGIApp:
        """Return the ASGI application, built on first use."""
        return self.fault_edge

    @functools.cached_property
    def fault_edge(self) -> FaultEdge:
        """Return the fault middleware in front of the routes (it also cuts open WebSockets on demand)."""
        routes: list[BaseRoute] = [
            *rest.routes(self),
            *rest_gtt.routes(self),
            *stream_routes.routes(self),
            *admin_routes(lambda: self.fault_edge, self.order_faults, self.exchange, self._info),
        ]
        app = Starlette(routes=routes, exception_handlers={HTTPException: http_error, Exception: crash})
        return FaultEdge(app, self.faults, self.dialect)

    def _info(self) -> dict[str, Any]:
        return {
            "now": self.clock.now().isoformat(),
            "requests": dict(self.requests),
            "rate_limited": sum(self.limiter.refused.values()),
        }
