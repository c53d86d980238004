"""Kite's order routes: place, modify, cancel and exit; the order book, an order's history and trades (§8).

Placement, modification and cancellation come only from the app's static IPs when the simulator is given them
(``allowed_ips``; :mod:`kitekit.wire.static_ip`). Placement is where Kite's per-user order caps apply (429
beyond 10 a calendar second, 400 a minute or 5,000 a day) and where the admin's order faults strike: 429
without accepting, or the order accepted and then the connection dropped, a 5xx answered, or the answer
delayed (``/__sim/order-faults``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.faults import Fault
from kitekit.sim.http.edge import engine_call, error_response, form_of, json_response, user_of
from kitekit.sim.http.fault_edge import place_with_faults
from kitekit.wire.envelope import ErrorType, RejectionError, rate_limited_body
from kitekit.wire.orders import Variety
from kitekit.wire.static_ip import ip_not_allowed

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["KITE_DIALECT", "accepted_error", "order_count", "routes"]

# What each 5xx an accepted order may get says, and as which error type (docs/protocol.md §2.1).
_ERRORS: dict[int, tuple[ErrorType, str]] = {
    500: (ErrorType.GENERAL, "An unexpected error occurred."),
    502: (ErrorType.DATA, "Couldn't parse the OMS response."),
    503: (ErrorType.NETWORK, "Couldn't connect to the OMS. Please try again."),
    504: (ErrorType.NETWORK, "Gateway timed out waiting for the OMS."),
}


def accepted_error(status: int) -> RejectionError:
    """Return the 5xx answer of an order the exchange accepted (an injected fault)."""
    error_type, message = _ERRORS[status]
    return RejectionError(error_type, message, status)


class _KiteDialect:
    """Kite's answers to injected failures: its error envelope, its 429, the 5xx of an accepted order."""

    def failure(self, fault: Fault) -> Response:
        if fault is Fault.NETWORK:
            return error_response(RejectionError(ErrorType.NETWORK, "Couldn't connect to the OMS. Please try again."))
        return error_response(RejectionError(ErrorType.DATA, "Couldn't parse the OMS response."))

    def rate_limited(self) -> Response:
        return json_response(rate_limited_body(), 429)

    def accepted_error(self, status: int) -> Response:
        return error_response(accepted_error(status))


#: How Kite's simulator answers injected faults (:mod:`kitekit.sim.http.fault_edge`).
KITE_DIALECT = _KiteDialect()


def order_count(variety: str, form: dict[str, str]) -> int:
    """Return how many orders a placement counts for against the caps: each iceberg leg counts (§14)."""
    legs = form.get("iceberg_legs", "")
    if variety == Variety.ICEBERG and legs.isascii() and legs.isdigit() and 2 <= int(legs) <= 50:
        return int(legs)
    return 1


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the order routes."""
    exchange = sim.exchange

    def from_allowed_ip(request: Request) -> None:
        allowed = sim.config.allowed_ips
        address = request.client.host if request.client is not None else ""
        if allowed and address not in allowed:
            raise ip_not_allowed(address)

    async def place(request: Request, grant: Grant | None) -> Any:
        """``POST /orders/{variety}`` form of the order: ``{order_id}`` (with ``children`` when autosliced)."""
        user_id, variety = user_of(grant), request.path_params["variety"]
        from_allowed_ip(request)
        form = await form_of(request)
        if sim.config.rate_limit_enabled and not sim.order_caps.allow(
            user_id, sim.clock.now(), order_count(variety, form)
        ):
            return json_response(rate_limited_body(), 429)
        instrument = [(form.get("exchange", ""), form.get("tradingsymbol", ""))]

        async def accept() -> Any:
            return await engine_call(
                exchange, grant, lambda engine, now: engine.place_order(variety, form, now), instrument
            )

        return await place_with_faults(sim.order_faults, KITE_DIALECT, accept)

    async def modify(request: Request, grant: Grant | None) -> Any:
        """``PUT /orders/{variety}/{order_id}`` form of the new terms: ``{order_id}``."""
        from_allowed_ip(request)
        p = request.path_params
        form = await form_of(request)
        return await engine_call(
            exchange, grant, lambda engine, now: engine.modify_order(p["variety"], p["order_id"], form, now)
        )

    async def cancel(request: Request, grant: Grant | None) -> Any:
        """``DELETE /orders/{variety}/{order_id}[?parent_order_id=…]``: cancel, or exit a cover order."""
        from_allowed_ip(request)
        variety, order_id = request.path_params["variety"], request.path_params["order_id"]
        parent = request.query_params.get("parent_order_id") or None
        if variety == Variety.CO:  # the SDK's exit_order is this same call; for a cover order it means exit
            return await engine_call(
                exchange, grant, lambda engine, now: engine.exit_order(variety, order_id, now, parent)
            )
        return await engine_call(
            exchange, grant, lambda engine, now: engine.cancel_order(variety, order_id, now, parent)
        )

    async def book(request: Request, grant: Grant | None) -> Any:
        """``GET /orders``: the day's orders."""
        return await engine_call(exchange, grant, lambda engine, now: engine.orders(now), mutates=False)

    async def history(request: Request, grant: Grant | None) -> Any:
        """``GET /orders/{order_id}``: one order object per state, oldest first."""
        order_id = request.path_params["order_id"]
        return await engine_call(
            exchange, grant, lambda engine, now: engine.order_history(order_id, now), mutates=False
        )

    async def trades(request: Request, grant: Grant | None) -> Any:
        """``GET /trades``: the day's fills."""
        return await engine_call(exchange, grant, lambda engine, now: engine.trades(now), mutates=False)

    async def order_trades(request: Request, grant: Grant | None) -> Any:
        """``GET /orders/{order_id}/trades``: one order's fills."""
        order_id = request.path_params["order_id"]
        return await engine_call(exchange, grant, lambda engine, now: engine.order_trades(order_id, now), mutates=False)

    return [
        Route("/orders", sim.api(book), methods=["GET"]),
        Route("/trades", sim.api(trades), methods=["GET"]),
        Route("/orders/{order_id}/trades", sim.api(order_trades), methods=["GET"]),
        Route("/orders/{order_id}", sim.api(history), methods=["GET"]),
        Route("/orders/{variety}", sim.api(place), methods=["POST"]),
        Route("/orders/{variety}/{order_id}", sim.api(modify), methods=["PUT"]),
        Route("/orders/{variety}/{order_id}", sim.api(cancel), methods=["DELETE"]),
    ]
