"""Fault injection at any simulator's HTTP edge, each broker answering in its own dialect.

The dice are :mod:`kitekit.sim.faults`' and the settings :mod:`kitekit.sim.config`'s, the same for every
simulator; what differs is how a broker says it failed, which each simulator gives as a :class:`FaultDialect`
(Kite's envelope, Upstox's UDAPI bodies, Angel's two dialects and its plain-text 403). This module owns:

- :class:`FaultEdge`, the ASGI middleware that delays, fails or drops API requests (never the admin API) and
  cuts every open WebSocket on demand (a network drop: no closing handshake);
- :func:`place_with_faults`, the order-placement fault: refused before the exchange sees the order, or accepted
  and then dropped, answered with a 5xx, or acknowledged late;
- :func:`admin_routes`, ``/__sim/faults``, ``/__sim/order-faults``, ``/__sim/orders``, ``/__sim/info`` and
  ``/__sim/feed/faults`` for the simulators that have no admin API of their own (Upstox's, Angel's), with the
  same bodies as Kite's so one client drives them all. Admin answers use Kite's success envelope whatever the
  broker: the admin API is the simulator's, not the broker's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from kitekit.sim.exchange import SimExchange
from kitekit.sim.faults import Fault, FaultInjector, OrderFault, OrderFaults

__all__ = [
    "ADMIN_PREFIX",
    "HTML_502",
    "NO_FAULTS",
    "DroppedConnection",
    "FaultDialect",
    "FaultEdge",
    "admin_routes",
    "drop_connection",
    "loopback_refusal",
    "order_faults_payload",
    "place_with_faults",
]

T = TypeVar("T")

#: Where the admin API is mounted on every simulator.
ADMIN_PREFIX = "/__sim"

#: What a proxy in front of a broker answers when the broker behind it is down.
HTML_502 = (
    "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
    "<hr><center>nginx</center></body></html>"
)

#: Every fault rate and delay, zeroed by ``DELETE /__sim/faults`` (the dice's seed is kept).
NO_FAULTS: dict[str, Any] = {
    "latency_ms": 0,
    "jitter_ms": 0,
    "network_error_rate": 0,
    "data_error_rate": 0,
    "html_502_rate": 0,
    "drop_rate": 0,
    "paths": (),
}

_LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class FaultDialect(Protocol):
    """How one broker answers each injected failure."""

    def failure(self, fault: Fault) -> Response:
        """Return the answer of a request failed by ``fault`` (NETWORK, DATA; HTML_502 is shared)."""
        ...

    def rate_limited(self) -> Response:
        """Return the broker's rate-limit refusal (an order placement refused before the exchange saw it)."""
        ...

    def accepted_error(self, status: int) -> Response:
        """Return the 5xx answer (``status``) of an order the exchange accepted."""
        ...


async def drop_connection(scope: Scope, send: Send) -> None:
    """Close the client's TCP connection without any answer.

    ASGI has no verb for that, so reach the transport behind uvicorn's send callable (:class:`FaultEdge` or
    Kite's access log puts it in the scope); elsewhere, start an answer and abandon it half-sent.
    """
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


class DroppedConnection(Response):
    """A "response" that drops the connection instead of answering (an order accepted, then the line cut)."""

    def __init__(self) -> None:
        super().__init__(status_code=200)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await drop_connection(scope, send)


class FaultEdge:
    """Injects latency, error answers and dropped connections into API routes; cuts open WebSockets on demand.

    Args:
        app: the simulator's application.
        injector: the request faults (rates, latency, paths).
        dialect: how the broker answers a failed request.
    """

    def __init__(self, app: ASGIApp, injector: FaultInjector, dialect: FaultDialect) -> None:
        self.app = app
        self.injector = injector
        self.dialect = dialect
        self._sockets: set[Any] = set()
        #: WebSocket connections cut by :meth:`drop_sockets`, in all.
        self.sockets_dropped = 0

    def drop_sockets(self) -> int:
        """Cut every open WebSocket at once, without a closing handshake; return how many."""
        open_now = list(self._sockets)
        for transport in open_now:
            transport.abort()
        self.sockets_dropped += len(open_now)
        return len(open_now)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        transport = scope.get("kitekit.transport") or getattr(getattr(send, "__self__", None), "transport", None)
        scope["kitekit.transport"] = transport
        if scope["type"] == "websocket":
            if transport is not None:
                self._sockets.add(transport)
            try:
                await self.app(scope, receive, send)
            finally:
                self._sockets.discard(transport)
            return
        path = scope.get("path", "")
        if path.startswith(ADMIN_PREFIX) or not self.injector.applies(path):
            await self.app(scope, receive, send)
            return
        delay = self.injector.delay_s()
        if delay:
            await asyncio.sleep(delay)
        fault = self.injector.draw()
        if fault is None:
            await self.app(scope, receive, send)
        elif fault is Fault.DROP:
            await drop_connection(scope, send)
        elif fault is Fault.HTML_502:
            await HTMLResponse(HTML_502, status_code=502)(scope, receive, send)
        else:
            await self.dialect.failure(fault)(scope, receive, send)


async def place_with_faults(
    faults: OrderFaults, dialect: FaultDialect, place: Callable[[], Awaitable[T]]
) -> T | Response:
    """Place an order through ``place`` under the order faults; return its answer or the fault's.

    A rejection (the broker's rate-limit answer) comes before the exchange sees the order; a drop, a 5xx or a
    late acknowledgement after it holds the order, so the client cannot tell from the answer what happened.
    """
    fault = faults.draw()
    if fault is OrderFault.REJECT:
        return dialect.rate_limited()
    data = await place()
    # From here on the exchange holds the order, whatever the client hears.
    if fault is OrderFault.DROP:
        return DroppedConnection()
    if fault is OrderFault.ERROR:
        return dialect.accepted_error(faults.config.error_status)
    delay = faults.config.ack_delay_ms
    if delay:
        await asyncio.sleep(delay / 1000)
    return data


def _ok(data: Any) -> JSONResponse:
    return JSONResponse({"status": "success", "data": data})


def _refused(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"status": "error", "error_type": "InputException", "message": message, "data": None}, status)


def loopback_refusal(headers: Headers, client: str | None, token_hint: str = "") -> str | None:
    """Return why an admin request is refused (it does not plainly come from a program on this machine), or None.

    It must arrive from a loopback address, its ``Host`` must name loopback (which defeats DNS rebinding), and it
    must carry no ``Origin`` and no ``Sec-Fetch-Site`` (browsers add those to every request a web page makes;
    scripts, curl and the SDKs send neither).

    Args:
        headers: the request's headers.
        client: the peer's address (None when unknown).
        token_hint: how a web page could still get in (Kite's admin token), appended to that refusal.
    """
    host = urlsplit(f"http://{headers.get('host', '')}").hostname or ""
    if host not in _LOOPBACK_NAMES:
        return f"The simulator's admin API answers only to requests for this machine (Host {host!r})."
    if client is not None and not _is_loopback_address(client):
        return f"The simulator's admin API answers only to programs on this machine (not {client})."
    if "origin" in headers or "sec-fetch-site" in headers:
        return f"The simulator's admin API refuses requests from web pages (an Origin header){token_hint}."
    return None


def _is_loopback_address(address: str) -> bool:
    """Return True for 127.0.0.0/8, ::1 and an IPv4-mapped loopback; False for anything else (or no IP)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False  # a Unix socket's path, or a test client's name: not an address on loopback
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


async def _settings(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):
        raise ValueError("send a JSON object of settings") from None
    if not isinstance(body, dict):
        raise ValueError("send a JSON object of settings")
    return body


def order_faults_payload(order_faults: OrderFaults) -> dict[str, Any]:
    """Return the order faults as configured, the scripted ones still to come, and how many struck."""
    return {
        **asdict(order_faults.config),
        "next": order_faults.pending(),
        "injected": {str(k): v for k, v in order_faults.injected.items()},
    }


def admin_routes(
    edge: Callable[[], FaultEdge],
    order_faults: OrderFaults,
    exchange: SimExchange,
    info: Callable[[], dict[str, Any]],
) -> list[BaseRoute]:
    """Return the fault admin routes under :data:`ADMIN_PREFIX` (full paths), guarded to this machine's programs.

    Args:
        edge: the middleware in front of the app (built after the routes, so reached late).
        order_faults: the order placement faults.
        exchange: the exchange whose accepted orders ``GET /__sim/orders`` lists.
        info: the simulator's own counters for ``GET /__sim/info`` (the fault counters are added).
    """

    def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            why = loopback_refusal(request.headers, request.client.host if request.client else None)
            if why is not None:
                return _refused(why, 403)
            try:
                return await handler(request)
            except ValueError as exc:  # a refused setting: nothing was changed
                return _refused(str(exc))

        return endpoint

    async def faults(request: Request) -> Response:
        """``GET|PUT|DELETE /__sim/faults``: read, change or clear request faults."""
        injector = edge().injector
        if request.method == "DELETE":
            injector.update(**NO_FAULTS)
        elif request.method == "PUT":
            injector.update(**await _settings(request))
        return _ok(asdict(injector.config))

    async def order_faults_route(request: Request) -> Response:
        """``GET|PUT|DELETE /__sim/order-faults``: read, change or clear order placement faults."""
        if request.method == "DELETE":
            order_faults.clear()
        elif request.method == "PUT":
            order_faults.update(**await _settings(request))
        return _ok(order_faults_payload(order_faults))

    async def orders(request: Request) -> Response:
        """``GET /__sim/orders``: every order the exchange ever accepted, all users, oldest first, with tags."""
        return _ok(exchange.accepted_orders())

    async def info_route(request: Request) -> Response:
        """``GET /__sim/info``: counters, faults in force and how many struck (never a secret)."""
        injector = edge().injector
        return _ok(
            {
                **info(),
                "faults": asdict(injector.config),
                "faults_injected": {str(k): v for k, v in injector.injected.items()},
                "order_faults_injected": {str(k): v for k, v in order_faults.injected.items()},
                "orders_accepted": len(exchange.accepted_orders()),
                "sockets_dropped": edge().sockets_dropped,
            }
        )

    async def feed_faults(request: Request) -> Response:
        """``POST /__sim/feed/faults`` ``{"fault": "drop"}``: cut every open WebSocket (no closing handshake)."""
        fault = (await _settings(request)).get("fault")
        if fault != "drop":
            raise ValueError('the streams take {"fault": "drop"}')
        return _ok({"fault": "drop", "connections": edge().drop_sockets()})

    return [
        Route(f"{ADMIN_PREFIX}/faults", guarded(faults), methods=["GET", "PUT", "DELETE"]),
        Route(f"{ADMIN_PREFIX}/order-faults", guarded(order_faults_route), methods=["GET", "PUT", "DELETE"]),
        Route(f"{ADMIN_PREFIX}/orders", guarded(orders), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/info", guarded(info_route), methods=["GET"]),
        Route(f"{ADMIN_PREFIX}/feed/faults", guarded(feed_faults), methods=["POST"]),
    ]
