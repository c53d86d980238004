"""The simulator's state behind its HTTP edge (:class:`SimState`), and the wrapper every API handler goes through.

Each area module (``login``, ``orders``…) builds its routes over a :class:`SimState`; :mod:`.app` assembles
them into the ASGI app. Kept apart from the assembly so the areas depend on the state, not on the module
that imports them all.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response

from kitekit.clock import Clock, SystemClock
from kitekit.files import atomic_write
from kitekit.sim.auth import AuthState
from kitekit.sim.config import SimConfig
from kitekit.sim.exchange import SimExchange
from kitekit.sim.faults import FaultInjector, OrderFaults
from kitekit.sim.feed import Feed
from kitekit.sim.http.edge import Handler, error_response, form_of, json_response, success_response
from kitekit.sim.market import Market
from kitekit.sim.postbacks import PostbackSender
from kitekit.sim.ratelimit import OrderCaps, RateLimiter
from kitekit.sim.updates import OrderUpdates
from kitekit.wire.envelope import RejectionError, rate_limited_body
from kitekit.wire.routes import classify

__all__ = ["SimState"]


class SimState:
    """The simulator's state: its clock, market, logins, exchange, feed, postbacks, limits and faults."""

    def __init__(
        self,
        config: SimConfig | None = None,
        clock: Clock | None = None,
        market: Market | None = None,
        totp_clock: Clock | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.clock = clock or SystemClock()
        self.market = market or Market(self.config.seed)
        # Token lifetimes follow the market's clock (one clock); TOTP codes follow the wall (see AuthState).
        self.auth = AuthState(self.config, self.clock, totp_clock)
        self.limiter = RateLimiter(self.config.rate_limits, self.config.rate_tolerance)
        self.faults = FaultInjector(self.config.faults)
        #: Requests received, by "METHOD /path" (counted before they are handled).
        self.requests: Counter[str] = Counter()
        #: Order updates the exchange publishes and the WebSocket feed delivers.
        self.order_updates = OrderUpdates()
        #: Every user's account, orders and funds on the matching engine.
        self.exchange = SimExchange(self.config, self.clock, self.market, self.order_updates.publish)
        #: Posts every order update Kite posts to ``config.postbacks.url`` (when one is set), with its faults.
        self.postbacks = PostbackSender(self.config.postbacks)
        self.order_updates.taps.append(self.postbacks.offer)
        self.order_faults = OrderFaults(self.config.order_faults)
        self.order_caps = OrderCaps(
            self.config.orders_per_minute, self.config.orders_per_day, self.config.orders_per_second
        )
        #: Unlocks the admin API (see ``app._AdminGuard``); new for every process, written only where configured,
        #: and only by :meth:`publish_admin_token` once the port is bound.
        self.admin_token = secrets.token_urlsafe(24)
        #: The WebSocket ticker (ticks from ``market``, order updates from ``order_updates``).
        self.feed = Feed(self.market, self.clock, self.auth, self.order_updates)

    def release(self) -> None:
        """Stop the exchange's pump and the postback sender (the server is stopping)."""
        self.exchange.stop()
        self.postbacks.close()

    def publish_admin_token(self) -> None:
        """Write the admin token to ``config.admin_token_file`` (0600), if one is configured.

        Call it only once this simulator owns its port: a second simulator started on a port already in use
        must fail without replacing the running one's token (or leaving a folder behind).
        """
        if self.config.admin_token_file is not None:
            atomic_write(self.config.admin_token_file, self.admin_token.encode(), mode=0o600)

    def api(self, handler: Handler, auth: bool = True) -> Callable[[Request], Awaitable[Response]]:
        """Return ``handler`` wrapped with authentication, rate limiting and the success/error envelope.

        Args:
            handler: returns the envelope's ``data``, a ready Response, or raises :class:`RejectionError`
                (its own or the engine's, answered the same way).
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
            except RejectionError as err:  # the simulator's own refusals and the engine's alike
                return error_response(err)
            if isinstance(data, Response):
                return data
            return success_response(data)

        return endpoint


async def _api_key_param(request: Request) -> str:
    if request.method in ("POST", "PUT"):
        return (await form_of(request)).get("api_key", "")
    return request.query_params.get("api_key", "")
