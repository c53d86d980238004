"""The Angel simulator's state (:class:`AngelState`) and the edge every SmartAPI route goes through.

The edge does what Angel's gateway does before a handler runs: the client headers must be there, a secure
route needs ``Authorization: Bearer <jwt>`` (AG8003, AG8001 or AG8002 in the gateway's dialect otherwise), and
each client code is held to the per-endpoint limits (403 with plain text). Handlers return the envelope's
``data``; an :class:`AngelError` or the engine's refusal becomes Angel's error body. The market, the world's
clock and the matching engine are the Kite simulator's own (:class:`~kitekit.sim.exchange.SimExchange`).
"""

from __future__ import annotations

import json
import logging
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from kitekit.clock import Clock, SystemClock
from kitekit.sim.angel.auth import AngelAuth, AngelSession
from kitekit.sim.angel.config import AngelSimConfig
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.angel.http.faults import AngelDialect
from kitekit.sim.angel.limits import AngelLimiter
from kitekit.sim.angel.stream import StreamFeed
from kitekit.sim.exchange import SimExchange
from kitekit.sim.faults import FaultInjector, OrderFaults
from kitekit.sim.market import Market
from kitekit.sim.updates import OrderUpdates
from kitekit.wire.angel.envelope import ErrorCode, error_body, success_body
from kitekit.wire.angel.routes import CLIENT_HEADERS, RATE_LIMITED_TEXT, Route
from kitekit.wire.envelope import ErrorType, RejectionError

__all__ = ["AngelHandler", "AngelState", "angel_json", "crash", "exchange_call", "from_engine", "http_error"]

if TYPE_CHECKING:
    from kitekit.engine import Engine

log = logging.getLogger("kitekit.sim.angel")
T = TypeVar("T")

#: A handler: the request's JSON body (an object; {} for none) and the caller's session (None on open routes).
AngelHandler = Callable[[Request, dict[str, Any], AngelSession | None], Awaitable[Any]]


def angel_json(body: Any, status: int = 200) -> JSONResponse:
    """Return ``body`` as JSON with HTTP ``status``."""
    return JSONResponse(body, status_code=status)


def from_engine(err: RejectionError) -> AngelError:
    """Return the Angel refusal of an engine's (Kite-shaped) refusal."""
    if err.error_type is ErrorType.ORDER and "not found" in err.message.lower():
        return AngelError(ErrorCode.ORDER_NOT_FOUND, err.message)
    if err.error_type is ErrorType.INPUT:
        return AngelError(ErrorCode.INVALID_PARAMETERS, err.message, 400)
    # SIM: Angel's RMS rejections come as an order in the book with status "rejected"; the engine refuses
    # some outright (market closed, a band breached), answered here with the engine's words.
    return AngelError(ErrorCode.ORDER_REJECTED, err.message)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError):
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "The request body must be JSON.", 400) from None
    if not isinstance(body, dict):
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "The request body must be a JSON object.", 400)
    return body


class AngelState:
    """The Angel simulator's state: clock, market, logins, limits and the shared exchange.

    Args:
        config: its settings.
        clock: the market clock (a world's, or a test's ManualClock).
        market: the market model (shared with a Kite simulator or a test session).
        totp_clock: the clock TOTP codes follow (the wall by default).
    """

    def __init__(
        self,
        config: AngelSimConfig | None = None,
        clock: Clock | None = None,
        market: Market | None = None,
        totp_clock: Clock | None = None,
    ) -> None:
        self.config = config or AngelSimConfig()
        self.clock = clock or SystemClock()
        self.market = market or Market(self.config.seed)
        self.auth = AngelAuth(self.config, self.clock, totp_clock)
        self.limiter = AngelLimiter()
        self.order_updates = OrderUpdates()
        self.exchange = SimExchange(self.config.exchange_config(), self.clock, self.market, self.order_updates.publish)
        #: Requests received, by "METHOD /path".
        self.requests: Counter[str] = Counter()
        self.admin_token = secrets.token_urlsafe(24)
        #: Faults of API requests and of order placement (``/__sim/faults``, ``/__sim/order-faults``).
        self.faults = FaultInjector(self.config.faults)
        self.order_faults = OrderFaults(self.config.order_faults)
        self.dialect = AngelDialect(lambda: self.config.rate_limit_status)
        #: WebSocket 2.0 and the order-update stream.
        self.stream = StreamFeed(self.market, self.clock, self.auth, self.order_updates, self.config.feed_poll_s)

    def release(self) -> None:
        """Stop the exchange's pump (the server is stopping)."""
        self.exchange.stop()

    def publish_admin_token(self) -> None:
        """Nothing to publish: the Angel simulator has no admin API yet (kept for the server's lifecycle)."""

    def api(self, route: Route, handler: AngelHandler, secure: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Return ``handler`` behind Angel's edge: client headers, the JWT, rate limits, the envelope."""

        async def endpoint(request: Request) -> Response:
            self.requests[f"{request.method} {request.url.path}"] += 1
            try:
                missing = [h for h in CLIENT_HEADERS if h not in request.headers]
                if missing:
                    # SIM: Angel's answer to a missing header is not documented.
                    raise AngelError(ErrorCode.INVALID_PARAMETERS, f"Missing header {missing[0]}.", 400)
                session = self.auth.session_of(request.headers.get("authorization")) if secure else None
                body = await _body(request)
                who = session.client_code if session else str(body.get("clientcode") or request.client or "")
                if self.config.rate_limit_enabled and not self.limiter.allow(who, route):
                    return PlainTextResponse(RATE_LIMITED_TEXT, status_code=self.config.rate_limit_status)
                data = await handler(request, body, session)
            except AngelError as err:
                return angel_json(err.body(), err.status)
            except RejectionError as err:
                refusal = from_engine(err)
                return angel_json(refusal.body(), refusal.status)
            if isinstance(data, Response):
                return data
            return angel_json(success_body(data))

        return endpoint


async def http_error(request: Request, exc: Exception) -> Response:
    status = getattr(exc, "status_code", 400)
    message = {404: "Route not found", 405: "Method not allowed"}.get(status, "Request failed")
    return angel_json(error_body(ErrorCode.INVALID_PARAMETERS, message), status)


async def crash(request: Request, exc: Exception) -> Response:
    log.exception("Angel simulator bug while serving %s %s", request.method, request.url.path)
    return angel_json(error_body(ErrorCode.INTERNAL_ERROR), 500)


async def exchange_call(
    sim: AngelState,
    session: AngelSession | None,
    action: Callable[[Engine, datetime], T],
    instruments: Iterable[tuple[str, str]] = (),
    mutates: bool = True,
) -> T:
    """Run ``action(engine, now)`` on the session's account off the event loop (:meth:`SimExchange.run`).

    Raises:
        AngelError: AG8003 without a session (every exchange route is secure, so never in practice).
    """
    if session is None:
        raise AngelError(ErrorCode.TOKEN_MISSING)
    return await run_in_threadpool(sim.exchange.run, session.client_code, action, instruments, mutates)
