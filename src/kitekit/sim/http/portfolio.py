"""Kite's portfolio routes: positions (and converting them), holdings, and the auction list (§9)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.clock import IST
from kitekit.engine import Engine
from kitekit.sim.auth import Grant
from kitekit.sim.http.edge import engine_call, form_of

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["auction_items", "routes"]


def auction_items(holdings: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    """Return the ``data`` of ``GET /portfolio/holdings/auctions`` from the holdings.

    SIM: Kite lists the holdings an exchange auction session will buy; when one runs is not public, so every
    settled holding is listed, each with an auction number that changes daily (orders of variety ``auction``
    take it).
    """
    return [
        {**item, "auction_number": str(100 + (item["instrument_token"] // 256 + day.toordinal()) % 900)}
        for item in holdings
        if item["quantity"] > 0
    ]


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the portfolio routes."""
    exchange = sim.exchange

    async def positions(request: Request, grant: Grant | None) -> Any:
        """``GET /portfolio/positions``: ``{net, day}``."""
        return await engine_call(exchange, grant, lambda engine, now: engine.positions(now), mutates=False)

    async def convert(request: Request, grant: Grant | None) -> Any:
        """``PUT /portfolio/positions`` form ``exchange, tradingsymbol, transaction_type, position_type,
        quantity, old_product, new_product``: ``true``."""
        form = await form_of(request)
        instrument = [(form.get("exchange", ""), form.get("tradingsymbol", ""))]
        return await engine_call(exchange, grant, lambda engine, now: engine.convert_position(form, now), instrument)

    async def holdings(request: Request, grant: Grant | None) -> Any:
        """``GET /portfolio/holdings``."""
        return await engine_call(exchange, grant, lambda engine, now: engine.holdings(now), mutates=False)

    async def auctions(request: Request, grant: Grant | None) -> Any:
        """``GET /portfolio/holdings/auctions``: holdings an auction session can buy, with its number."""

        def listed(engine: Engine, now: datetime) -> list[dict[str, Any]]:
            return auction_items(engine.holdings(now), now.astimezone(IST).date())

        return await engine_call(exchange, grant, listed, mutates=False)

    return [
        Route("/portfolio/positions", sim.api(positions), methods=["GET"]),
        Route("/portfolio/positions", sim.api(convert), methods=["PUT"]),
        Route("/portfolio/holdings", sim.api(holdings), methods=["GET"]),
        Route("/portfolio/holdings/auctions", sim.api(auctions), methods=["GET"]),
    ]
