"""The Upstox simulator's state (:class:`UpstoxState`) and the wrapper every API handler goes through.

The market and the matching engine are the Kite simulator's own (:class:`~kitekit.sim.market.Market`,
:class:`~kitekit.sim.exchange.SimExchange`), called exactly as its HTTP layer calls them; what is Upstox's
is the edge: logins, instrument keys, shapes, the ``Api-Version`` rule, limits and the error envelope.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kitekit.clock import Clock, SystemClock
from kitekit.engine import Engine
from kitekit.sim.exchange import SimExchange
from kitekit.sim.faults import FaultInjector, OrderFaults
from kitekit.sim.market import Market
from kitekit.sim.updates import OrderUpdates
from kitekit.sim.upstox.auth import UpstoxAuth, UpstoxGrant
from kitekit.sim.upstox.catalog import UpstoxCatalog, UpstoxListing
from kitekit.sim.upstox.config import UpstoxSimConfig
from kitekit.sim.upstox.limits import WindowLimiter
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.routes import API_VERSION, API_VERSION_HEADER, limit_class, needs_api_version

__all__ = ["UpstoxHandler", "UpstoxState", "json_body", "json_response", "success"]

log = logging.getLogger("kitekit.sim.upstox")

#: An API handler: the request and its grant (None on routes without auth) in, ``data`` out (or a Response).
UpstoxHandler = Callable[[Request, UpstoxGrant | None], Awaitable[Any]]


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        # ensure_ascii: a lone surrogate echoed back from the client's input cannot be UTF-8.
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def json_response(body: Any, status: int = 200) -> JSONResponse:
    """Return ``body`` as JSON with HTTP ``status``."""
    return _JSON(body, status_code=status)


def success(data: Any, **extra: Any) -> JSONResponse:
    """Return Upstox's success envelope ``{"status": "success", "data": …}`` (plus ``extra`` keys)."""
    return json_response({"status": "success", "data": data, **extra})


def _from_engine(err: RejectionError) -> UpstoxError:
    # The engine refuses in Kite's terms; Upstox answers the same refusals with its own codes.
    code = {
        ErrorType.TOKEN: UDAPI.INVALID_TOKEN,
        ErrorType.INPUT: UDAPI.INVALID_INPUT,
        ErrorType.ORDER: UDAPI.ORDER_REJECTED,
        ErrorType.MARGIN: UDAPI.ORDER_REJECTED,
    }.get(err.error_type, UDAPI.INVALID_INPUT)
    if "not found" in err.message.lower() or "couldn't find" in err.message.lower():
        code = UDAPI.ORDER_NOT_FOUND
    return UpstoxError(code, err.message, status=code.status if code is UDAPI.ORDER_NOT_FOUND else 400)


class UpstoxState:
    """The Upstox simulator's clock, market, logins, exchange, limits and request counts."""

    def __init__(
        self, config: UpstoxSimConfig | None = None, clock: Clock | None = None, market: Market | None = None
    ) -> None:
        self.config = config or UpstoxSimConfig()
        self.clock = clock or SystemClock()
        self.market = market or Market(self.config.shared.seed)
        self.catalog = UpstoxCatalog(self.market)
        self.auth = UpstoxAuth(self.config, self.clock)
        self.limiter = WindowLimiter(self.config.limits)
        self.order_updates = OrderUpdates()
        self.exchange = SimExchange(self.config.shared, self.clock, self.market, self.order_updates.publish)
        #: Requests received, by "METHOD /path".
        self.requests: Counter[str] = Counter()
        #: Faults of API requests and of order placement (``/__sim/faults``, ``/__sim/order-faults``).
        self.faults = FaultInjector(self.config.shared.faults)
        self.order_faults = OrderFaults(self.config.shared.order_faults)

    def listing(self) -> UpstoxListing:
        """Return the instrument listing current on the clock."""
        return self.catalog.listing(self.clock.now())

    async def engine(
        self,
        grant: UpstoxGrant | None,
        action: Callable[[Engine, datetime], Any],
        mutates: bool,
        instruments: Iterable[tuple[str, str]] = (),
    ) -> Any:
        """Run ``action(engine, now)`` on the grant's account off the event loop (as the Kite edge does).

        ``instruments`` are the ``(exchange, tradingsymbol)`` pairs the call needs a fresh quote of (an order's).
        """
        if grant is None:
            raise UpstoxError(UDAPI.INVALID_TOKEN)
        return await run_in_threadpool(self.exchange.run, grant.user_id, action, list(instruments), mutates)

    def api(self, handler: UpstoxHandler, api: str, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Return ``handler`` behind the ``Api-Version`` rule, the bearer token, the rate limits and the envelope.

        Args:
            handler: returns ``data``, a ready Response, or raises :class:`UpstoxError` (or the engine's
                :class:`RejectionError`, translated).
            api: the route's name for the per-API rate limits.
            auth: require ``Authorization: Bearer <access_token>``.
        """

        async def endpoint(request: Request) -> Response:
            path = request.url.path
            self.requests[f"{request.method} {path}"] += 1
            try:
                if needs_api_version(path) and request.headers.get(API_VERSION_HEADER) != API_VERSION:
                    raise UpstoxError(UDAPI.API_VERSION, property_path=API_VERSION_HEADER)
                grant = self.auth.authenticate(request.headers.get("authorization")) if auth else None
                who = grant.user_id if grant else (request.client.host if request.client else "")
                if self.config.rate_limit_enabled and not self.limiter.allow(who, api, limit_class(path)):
                    raise UpstoxError(UDAPI.RATE_LIMIT)
                data = await handler(request, grant)
            except UpstoxError as err:
                return json_response(err.body(), err.status)
            except RejectionError as err:
                upstox = _from_engine(err)
                return json_response(upstox.body(), upstox.status)
            if isinstance(data, Response):
                return data
            return success(data)

        return endpoint


async def json_body(request: Request) -> Any:
    """Return the request's JSON body.

    Raises:
        UpstoxError: it is not JSON (400).
    """
    try:
        return json.loads(await request.body())
    except (ValueError, RecursionError):
        raise UpstoxError(UDAPI.INVALID_INPUT, "The request body must be JSON") from None
