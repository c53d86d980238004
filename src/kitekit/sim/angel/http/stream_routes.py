"""The Angel simulator's WebSocket routes: ``/smart-stream`` (WebSocket 2.0) and ``/smart-order-update``.

Both read the handshake's headers (``Authorization``, ``x-api-key``, ``x-client-code``, ``x-feed-token``;
SIM: the same names as query parameters too, as Angel allows for browsers) and refuse a bad one with HTTP 401
and the reason in ``x-error-message``. Nothing here logs a header: they carry the JWT and feed token.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import Response
from starlette.routing import BaseRoute, WebSocketRoute
from starlette.websockets import WebSocket

from kitekit.sim.angel.errors import AngelError
from kitekit.sim.angel.stream import Refused
from kitekit.wire.angel.stream_messages import ERROR_HEADER

if TYPE_CHECKING:
    from kitekit.sim.angel.http.state import AngelState

__all__ = ["STREAM_PATH", "UPDATES_PATH", "routes"]

STREAM_PATH = "/smart-stream"
UPDATES_PATH = "/smart-order-update"
_QUERY = {
    "authorization": "jwttoken",
    "x-api-key": "apikey",
    "x-client-code": "clientcode",
    "x-feed-token": "feedtoken",
}


class _Channel:
    """A Starlette WebSocket as the feed's channel."""

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


def _credentials(websocket: WebSocket) -> list[str]:
    headers, query = websocket.headers, {k.lower(): v for k, v in websocket.query_params.items()}
    return [headers.get(name) or query.get(alias, "") for name, alias in _QUERY.items()]


def _denial(refused: Refused) -> Response:
    return Response(refused.reason, status_code=refused.status, headers={ERROR_HEADER: refused.reason})


def routes(sim: AngelState) -> list[BaseRoute]:
    """Return the two WebSocket routes."""
    feed = sim.stream

    async def smart_stream(websocket: WebSocket) -> None:
        """``/smart-stream``: WebSocket 2.0."""
        try:
            conn = feed.admit(*_credentials(websocket))
        except Refused as refused:
            await websocket.send_denial_response(_denial(refused))
            return
        try:
            await websocket.accept()
            await feed.serve(conn, _Channel(websocket))
        finally:
            feed.connections.pop(conn.number, None)

    async def order_updates(websocket: WebSocket) -> None:
        """``/smart-order-update``: the client's order updates."""
        jwt, _api_key, client_code, _feed = _credentials(websocket)
        session = sim.auth.stream_session(jwt, client_code, _feed) if client_code else None
        if session is None:
            # The SDK's order-update client sends the feed token too, but Angel's docs ask for the JWT alone.
            try:
                session = sim.auth.session_of(jwt)
            except AngelError:
                await websocket.send_denial_response(_denial(Refused(401, "Invalid Auth token")))
                return
        await websocket.accept()
        await feed.serve_updates(session.client_code, _Channel(websocket))

    return [WebSocketRoute(STREAM_PATH, smart_stream), WebSocketRoute(UPDATES_PATH, order_updates)]
