"""Kite's WebSocket ticker at the server root (``ws://HOST:PORT?api_key=…&access_token=…``) and its admin routes.

The feed's logic is :class:`~kitekit.sim.feed.Feed`; this module only adapts Starlette's WebSocket to it and
answers refused upgrades with an HTTP status and Kite's error envelope. The query string carries the access
token, so nothing here logs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket

from kitekit.sim.errors import invalid_input
from kitekit.sim.feed import parse_fault
from kitekit.sim.http.admin import PREFIX
from kitekit.sim.http.edge import error_response, success_response
from kitekit.wire.envelope import RejectionError

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["FEED_ADMIN", "routes"]

#: Where the feed's admin routes are mounted (guarded like every ``/__sim`` route).
FEED_ADMIN = f"{PREFIX}/feed"


class _Channel:
    """A Starlette WebSocket as the feed's :class:`~kitekit.sim.feed.Channel`."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket

    async def send_bytes(self, data: bytes) -> None:
        await self.websocket.send_bytes(data)

    async def send_text(self, data: str) -> None:
        await self.websocket.send_text(data)

    async def receive(self) -> str | bytes | None:
        message = await self.websocket.receive()
        if message["type"] == "websocket.disconnect":
            return None
        text: str | None = message.get("text")
        return text if text is not None else bytes(message.get("bytes") or b"")

    def abort(self) -> None:
        # A network drop has no closing handshake: cut the TCP connection under the server (the access log
        # middleware left its transport in the scope, since ASGI has no verb for it).
        transport: Any = self.websocket.scope.get("kitekit.transport")
        if transport is not None:
            transport.abort()


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the WebSocket route at ``/`` and the feed's admin routes at :data:`FEED_ADMIN` (before ``/__sim``'s)."""

    async def ticker(websocket: WebSocket) -> None:
        """``ws://HOST:PORT/?api_key=…&access_token=…``: the ticker (§15)."""
        query = websocket.query_params
        try:
            session = sim.feed.admit(query.get("api_key", ""), query.get("access_token", ""))
        except RejectionError as refused:
            # Refused at the upgrade, with an HTTP status: the SDK reports "(403 - Forbidden)" (§15.1).
            await websocket.send_denial_response(error_response(refused))
            return
        try:
            sim.feed.listen(session)
            await websocket.accept()
        except BaseException:
            sim.feed.leave(session)
            raise
        await sim.feed.serve(session, _Channel(websocket))

    async def info(request: Request) -> Response:
        """``GET /__sim/feed``: connections, their subscriptions and counters, faults in force."""
        return success_response(sim.feed.info())

    async def faults(request: Request) -> Response:
        """``POST /__sim/feed/faults`` ``{"fault": drop|stall|malformed|refuse, "seconds"?}``; ``DELETE`` clears."""
        if request.method == "DELETE":
            sim.feed.clear()
            return success_response(sim.feed.info())
        try:
            fault = parse_fault(await request.json())
        except ValueError as exc:  # a body that is not JSON (or not UTF-8) is a ValueError too
            return error_response(invalid_input(str(exc)))
        hit = sim.feed.inject(fault)
        return success_response({"fault": fault.kind.value, "seconds": fault.seconds, "connections": hit})

    return [
        WebSocketRoute("/", ticker),
        Route(FEED_ADMIN, info, methods=["GET"]),
        Route(f"{FEED_ADMIN}/faults", faults, methods=["POST", "DELETE"]),
    ]
