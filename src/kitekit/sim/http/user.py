"""Kite's user API: ``/user/profile`` and ``/user/margins[/{segment}]``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.config import SimConfig
from kitekit.sim.http.edge import engine_call
from kitekit.wire.orders import OrderType, Product
from kitekit.wire.routes import EXCHANGES

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["profile_payload", "routes"]


def profile_payload(config: SimConfig) -> dict[str, Any]:
    """Return the ``data`` of ``GET /user/profile`` for the simulator's one user."""
    return {
        "user_id": config.user_id,
        "user_type": "individual",
        "email": config.email,
        "user_name": config.user_name,
        "user_shortname": config.user_name.split()[0],
        "broker": "ZERODHA",
        "exchanges": list(EXCHANGES),
        # CO is not a product a user is enabled for: it only labels cover orders in the order book.
        "products": [p.value for p in Product if p is not Product.CO],
        "order_types": [t.value for t in OrderType],
        "avatar_url": None,
        "meta": {"demat_consent": "consent"},
    }


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the user routes."""

    async def profile(request: Request, grant: Grant | None) -> Any:
        """``GET /user/profile``."""
        return profile_payload(sim.config)

    async def margins(request: Request, grant: Grant | None) -> Any:
        """``GET /user/margins`` and ``GET /user/margins/{segment}``: the account's funds, from the exchange."""
        segment = request.path_params.get("segment")
        return await engine_call(sim.exchange, grant, lambda engine, now: engine.margins(now, segment), mutates=False)

    return [
        Route("/user/profile", sim.api(profile), methods=["GET"]),
        Route("/user/margins", sim.api(margins), methods=["GET"]),
        Route("/user/margins/{segment}", sim.api(margins), methods=["GET"]),
    ]
