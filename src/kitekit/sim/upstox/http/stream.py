"""Upstox's WebSockets: the v3 market feed (protobuf) and the portfolio stream (JSON), with their authorize calls.

A connection starts with the bearer token: ``GET …/authorize`` answers a single-use ``authorizedRedirectUri``,
and an upgrade to the feed's own path with an ``Authorization`` header is redirected (302) to such a URL, which
is what the SDK's streamers do (websocket-client follows the redirect). The code in that URL works once.

Market feed: requests arrive as binary frames of JSON (:mod:`kitekit.wire.upstox.stream`); every
``feed_interval_s`` the connection gets a ``live_feed`` of all its keys. Key limits per mode apply to the
connection's subscriptions (one mode alone, or mixed); a request over them closes the connection with 1008
(SIM: Upstox's answer is not documented). One connection per user: a new one closes the older with 1000
(normal, so the SDK does not reconnect it). Idle connections get WebSocket pings from the server
(``ping_interval_s``; uvicorn's own pings). Portfolio stream: one text frame per order update,
``{"update_type": "order", …the order as the order book shows it}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from kitekit.sim.upstox.auth import UpstoxGrant
from kitekit.sim.upstox.feed import feed_message, market_info
from kitekit.sim.upstox.http.state import json_response
from kitekit.sim.upstox.shapes import order_item
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.feed import encode_feed
from kitekit.wire.upstox.routes import Route as Paths
from kitekit.wire.upstox.stream import KEY_LIMITS, Method, Mode, UpdateType, parse_request

if TYPE_CHECKING:
    from kitekit.sim.upstox.http.state import UpstoxState

__all__ = ["over_limit", "routes"]

_MARKET, _PORTFOLIO = "market", "portfolio"


def over_limit(subscribed: dict[str, Mode]) -> bool:
    """Return True when a connection's subscriptions exceed Upstox's per-mode key limits."""
    counts: dict[Mode, int] = {}
    for mode in subscribed.values():
        counts[mode] = counts.get(mode, 0) + 1
    mixed = len(counts) > 1
    return any(n > KEY_LIMITS[m][1 if mixed else 0] for m, n in counts.items())


def _ws_root(request: Request | WebSocket) -> str:
    host = request.headers.get("host", "127.0.0.1")
    return f"ws://{host}"


def _update_types(text: str | None) -> tuple[str, ...]:
    wanted = tuple(t for t in (text or "order").split(",") if t)
    known = {u.value for u in UpdateType}
    if not all(t in known for t in wanted):
        raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid update_types", "update_types", text)
    return wanted


def routes(state: UpstoxState) -> list[BaseRoute]:
    """Return the authorize routes and the two WebSocket routes."""
    auth = state.auth
    live: dict[str, WebSocket] = {}

    def redirect_uri(request: Request | WebSocket, grant: UpstoxGrant, stream: str, types: tuple[str, ...]) -> str:
        code = auth.ticket(grant, stream, types)
        path = Paths.FEED_V3 if stream == _MARKET else Paths.PORTFOLIO_FEED
        extra = f"&update_types={','.join(types)}" if stream == _PORTFOLIO else ""
        return f"{_ws_root(request)}{path}?code={code}{extra}"

    async def authorize_market(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v3/feed/market-data-feed/authorize``: ``{authorizedRedirectUri}``."""
        assert grant is not None  # noqa: S101 - api(auth=True) guarantees it
        return {"authorizedRedirectUri": redirect_uri(request, grant, _MARKET, ())}

    async def authorize_portfolio(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/feed/portfolio-stream-feed/authorize?update_types=order,position``: ``{authorizedRedirectUri}``."""
        assert grant is not None  # noqa: S101
        types = _update_types(request.query_params.get("update_types"))
        return {"authorizedRedirectUri": redirect_uri(request, grant, _PORTFOLIO, types)}

    async def admit(websocket: WebSocket, stream: str) -> UpstoxGrant | None:
        code = websocket.query_params.get("code")
        if code:
            ticket = auth.redeem(code, stream)
            if ticket is not None:
                return ticket.grant
            refused = UpstoxError(UDAPI.INVALID_TOKEN, "Invalid or used authorization code")
            await websocket.send_denial_response(json_response(refused.body(), 401))
            return None
        try:
            grant = auth.authenticate(websocket.headers.get("authorization"))
            types = _update_types(websocket.query_params.get("update_types")) if stream == _PORTFOLIO else ()
        except UpstoxError as err:
            await websocket.send_denial_response(json_response(err.body(), err.status))
            return None
        # Upstox answers the upgrade with a redirect to a single-use URL.
        await websocket.send_denial_response(RedirectResponse(redirect_uri(websocket, grant, stream, types), 302))
        return None

    async def market(websocket: WebSocket) -> None:
        """``/v3/feed/market-data-feed``: the protobuf market feed."""
        grant = await admit(websocket, _MARKET)
        if grant is None:
            return
        await websocket.accept()
        previous = live.pop(grant.user_id, None)
        live[grant.user_id] = websocket
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous.close(1000, "another connection of this user opened")
        subscribed: dict[str, Any] = {}
        lock = asyncio.Lock()

        async def send(message: dict[str, Any]) -> None:
            async with lock:
                await websocket.send_bytes(encode_feed(message))

        async def pump() -> None:
            while True:
                await asyncio.sleep(state.config.feed_interval_s)
                if subscribed:
                    now = state.clock.now()
                    await send(
                        await asyncio.to_thread(
                            feed_message, state.market, state.listing(), dict(subscribed), now, False
                        )
                    )

        await send(market_info(state.market, state.clock.now()))
        task = asyncio.create_task(pump())
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                payload = message.get("bytes") or (message.get("text") or "").encode()
                try:
                    req = parse_request(payload)
                except ValueError:
                    continue  # SIM: Upstox's answer to a malformed request is not documented; it is ignored
                keys = [k for k in req.keys]
                if req.method is Method.UNSUB:
                    for k in keys:
                        subscribed.pop(k, None)
                    continue
                assert req.mode is not None  # noqa: S101 - parse_request requires a mode here
                if req.method is Method.CHANGE_MODE:
                    keys = [k for k in keys if k in subscribed]
                trial = {**subscribed, **dict.fromkeys(keys, req.mode)}
                if over_limit(trial):
                    await websocket.close(1008, "instrument key limit exceeded")
                    return
                subscribed.update(trial)
                now = state.clock.now()
                fresh = {k: req.mode for k in keys}
                await send(await asyncio.to_thread(feed_message, state.market, state.listing(), fresh, now, True))
        except WebSocketDisconnect:
            return
        finally:
            task.cancel()
            if live.get(grant.user_id) is websocket:
                del live[grant.user_id]

    async def portfolio(websocket: WebSocket) -> None:
        """``/v2/feed/portfolio-stream-feed``: order updates as JSON text frames."""
        grant = await admit(websocket, _PORTFOLIO)
        if grant is None:
            return
        await websocket.accept()
        loop = asyncio.get_running_loop()
        wake = asyncio.Event()

        def wake_up() -> None:
            loop.call_soon_threadsafe(wake.set)

        sub = state.order_updates.subscribe(grant.user_id, wake_up)
        types = _update_types(websocket.query_params.get("update_types"))

        async def reader() -> None:
            with contextlib.suppress(WebSocketDisconnect):
                while (await websocket.receive())["type"] != "websocket.disconnect":
                    pass
            wake.set()

        task = asyncio.create_task(reader())
        try:
            while not task.done():
                await wake.wait()
                wake.clear()
                if "order" not in types:
                    sub.take()
                    continue
                listing = state.listing()
                for update in sub.take():
                    body = {"update_type": "order", "user_id": grant.user_id, **order_item(listing, update)}
                    await websocket.send_text(json.dumps(body))
        except (WebSocketDisconnect, RuntimeError):
            return
        finally:
            state.order_updates.unsubscribe(sub)
            task.cancel()

    async def not_websocket(request: Request) -> Response:
        err = UpstoxError(UDAPI.INVALID_INPUT, "This path takes a WebSocket upgrade")
        return json_response(err.body(), 400)

    return [
        Route(Paths.FEED_AUTHORIZE_V3, state.api(authorize_market, "feed_authorize"), methods=["GET"]),
        Route(Paths.PORTFOLIO_AUTHORIZE, state.api(authorize_portfolio, "portfolio_authorize"), methods=["GET"]),
        WebSocketRoute(Paths.FEED_V3, market),
        WebSocketRoute(Paths.PORTFOLIO_FEED, portfolio),
        Route(Paths.FEED_V3, not_websocket, methods=["GET"]),
        Route(Paths.PORTFOLIO_FEED, not_websocket, methods=["GET"]),
    ]
