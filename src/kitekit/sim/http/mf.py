"""Kite's mutual fund routes: orders, SIPs, holdings and the MF instruments CSV (§12)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.http.edge import form_of, mf_call
from kitekit.sim.market.funds import instruments_csv

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["routes"]


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the mutual fund routes."""
    exchange = sim.exchange

    async def orders(request: Request, grant: Grant | None) -> Any:
        """``GET /mf/orders``: every order, newest first."""
        return await mf_call(exchange, grant, lambda book, now: book.order_list(), mutates=False)

    async def order(request: Request, grant: Grant | None) -> Any:
        """``GET /mf/orders/{order_id}``."""
        order_id = request.path_params["order_id"]
        return await mf_call(exchange, grant, lambda book, now: book.order_payload(book.order(order_id)), False)

    async def place_order(request: Request, grant: Grant | None) -> Any:
        """``POST /mf/orders`` form ``tradingsymbol, transaction_type`` + ``amount`` (BUY) or ``quantity``
        (SELL), ``tag``: ``{order_id}``."""
        form = await form_of(request)
        return await mf_call(exchange, grant, lambda book, now: book.place_order(form, now))

    async def cancel_order(request: Request, grant: Grant | None) -> Any:
        """``DELETE /mf/orders/{order_id}``: ``{order_id}``."""
        order_id = request.path_params["order_id"]
        return await mf_call(exchange, grant, lambda book, now: book.cancel_order(order_id))

    async def sips(request: Request, grant: Grant | None) -> Any:
        """``GET /mf/sips``: every SIP, newest first."""
        return await mf_call(exchange, grant, lambda book, now: book.sip_list(), mutates=False)

    async def sip(request: Request, grant: Grant | None) -> Any:
        """``GET /mf/sips/{sip_id}``."""
        sip_id = request.path_params["sip_id"]
        return await mf_call(exchange, grant, lambda book, now: {**book.sip(sip_id), "fund_source": ""}, False)

    async def place_sip(request: Request, grant: Grant | None) -> Any:
        """``POST /mf/sips`` form ``tradingsymbol, amount, instalments, frequency`` + ``initial_amount,
        instalment_day, tag``: ``{sip_id}``."""
        form = await form_of(request)
        return await mf_call(exchange, grant, lambda book, now: book.place_sip(form, now))

    async def modify_sip(request: Request, grant: Grant | None) -> Any:
        """``PUT /mf/sips/{sip_id}`` form ``amount, status, instalments, frequency, instalment_day``: ``{sip_id}``."""
        sip_id = request.path_params["sip_id"]
        form = await form_of(request)
        return await mf_call(exchange, grant, lambda book, now: book.modify_sip(sip_id, form, now))

    async def cancel_sip(request: Request, grant: Grant | None) -> Any:
        """``DELETE /mf/sips/{sip_id}``: ``{sip_id}``."""
        sip_id = request.path_params["sip_id"]
        return await mf_call(exchange, grant, lambda book, now: book.cancel_sip(sip_id))

    async def holdings(request: Request, grant: Grant | None) -> Any:
        """``GET /mf/holdings``."""
        return await mf_call(exchange, grant, lambda book, now: book.holding_list(now), mutates=False)

    async def instruments(request: Request, grant: Grant | None) -> Any:
        """``GET /mf/instruments``: the fund universe as CSV."""
        return Response(instruments_csv(sim.market.calendar, sim.clock.now()), media_type="text/csv")

    return [
        Route("/mf/orders", sim.api(orders), methods=["GET"]),
        Route("/mf/orders", sim.api(place_order), methods=["POST"]),
        Route("/mf/orders/{order_id}", sim.api(order), methods=["GET"]),
        Route("/mf/orders/{order_id}", sim.api(cancel_order), methods=["DELETE"]),
        Route("/mf/sips", sim.api(sips), methods=["GET"]),
        Route("/mf/sips", sim.api(place_sip), methods=["POST"]),
        Route("/mf/sips/{sip_id}", sim.api(sip), methods=["GET"]),
        Route("/mf/sips/{sip_id}", sim.api(modify_sip), methods=["PUT"]),
        Route("/mf/sips/{sip_id}", sim.api(cancel_sip), methods=["DELETE"]),
        Route("/mf/holdings", sim.api(holdings), methods=["GET"]),
        Route("/mf/instruments", sim.api(instruments), methods=["GET"]),
    ]
