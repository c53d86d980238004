"""Upstox's user and portfolio routes: profile, funds and margin (closed 00:00–05:30 IST), positions, holdings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.clock import IST
from kitekit.sim.upstox.auth import UpstoxGrant
from kitekit.sim.upstox.http.login import profile
from kitekit.sim.upstox.shapes import fund_items, holding_item, position_item
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.routes import Route as Paths

if TYPE_CHECKING:
    from kitekit.sim.upstox.http.state import UpstoxState

__all__ = ["routes"]


def routes(state: UpstoxState) -> list[BaseRoute]:
    """Return the user and portfolio routes."""

    async def get_profile(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/user/profile``."""
        return profile(state)

    async def funds(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/user/get-funds-and-margin[?segment=SEC|COM]``: per ``equity`` and ``commodity``."""
        opens, closes = state.config.funds_closed
        if opens <= state.clock.now().astimezone(IST).time() < closes:
            # Upstox's funds service is down every night; the simulator follows its own clock.
            raise UpstoxError(UDAPI.FUNDS_UNAVAILABLE)
        segment = request.query_params.get("segment")
        if segment not in (None, "SEC", "COM"):
            raise UpstoxError(UDAPI.INVALID_INPUT, "segment must be SEC or COM", "segment", segment)
        margins = await state.engine(grant, lambda e, now: e.margins(now), False)
        return fund_items(margins, segment)

    async def positions(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/portfolio/short-term-positions``: the net positions."""
        listing = state.listing()
        net = await state.engine(grant, lambda e, now: e.positions(now)["net"], False)
        return [position_item(listing, p) for p in net]

    async def holdings(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/portfolio/long-term-holdings``."""
        listing = state.listing()
        held = await state.engine(grant, lambda e, now: e.holdings(now), False)
        return [holding_item(listing, h) for h in held]

    return [
        Route(Paths.PROFILE, state.api(get_profile, "profile"), methods=["GET"]),
        Route(Paths.FUNDS_V2, state.api(funds, "funds"), methods=["GET"]),
        Route(Paths.POSITIONS, state.api(positions, "positions"), methods=["GET"]),
        Route(Paths.HOLDINGS, state.api(holdings, "holdings"), methods=["GET"]),
    ]
