"""Kite's calculators: margins per order and per basket, and the virtual contract note's charges (§11)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.http.edge import engine_call, flag, json_array
from kitekit.wire.envelope import ErrorType, RejectionError

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["routes"]


def _instruments(items: list[dict[str, Any]]) -> set[tuple[str, str]]:
    # A market order is priced at its instrument's last price, so every instrument needs a fresh quote.
    return {(str(i.get("exchange", "")), str(i.get("tradingsymbol", ""))) for i in items}


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the calculator routes."""
    exchange = sim.exchange

    async def order_margins(request: Request, grant: Grant | None) -> Any:
        """``POST /margins/orders`` JSON array of orders: a margin block per order."""
        items = await json_array(request)
        return await engine_call(
            exchange, grant, lambda engine, now: engine.order_margins(items, now), _instruments(items), False
        )

    async def basket(request: Request, grant: Grant | None) -> Any:
        """``POST /margins/basket?consider_positions=…[&mode=compact]`` JSON array: ``{initial, final, orders,
        charges}``."""
        items = await json_array(request)
        consider = flag(request.query_params.get("consider_positions"))
        compact = request.query_params.get("mode", "").lower() == "compact"
        return await engine_call(
            exchange,
            grant,
            lambda engine, now: engine.basket_margins(items, now, consider, compact),
            _instruments(items),
            False,
        )

    async def charges(request: Request, grant: Grant | None) -> Any:
        """``POST /charges/orders`` JSON array of executed orders: the charges of each."""
        items = await json_array(request)
        return await engine_call(
            exchange, grant, lambda engine, now: engine.order_charges(items, now), _instruments(items), False
        )

    async def segment_margins(request: Request, grant: Grant | None) -> Any:
        """``GET /margins/{segment}``: named in the SDK's route table, called by none of its methods.

        SIM: this was Kite's instrument-margins list, since withdrawn; the simulator answers 410 Gone and points
        to the calculators.
        """
        raise RejectionError(
            ErrorType.GENERAL, "This API is no longer available. Use POST /margins/orders or /margins/basket.", 410
        )

    return [
        Route("/margins/orders", sim.api(order_margins), methods=["POST"]),
        Route("/margins/basket", sim.api(basket), methods=["POST"]),
        Route("/margins/{segment}", sim.api(segment_margins), methods=["GET"]),
        Route("/charges/orders", sim.api(charges), methods=["POST"]),
    ]
