"""Kite's GTT routes: good-till-triggered single and two-leg triggers (§10)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.errors import invalid_input
from kitekit.sim.http.edge import engine_call, form_of

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["routes", "trigger_id"]


def trigger_id(text: str) -> int:
    """Return a path's trigger id as the integer Kite uses.

    Raises:
        RejectionError: not a whole number of at most 18 digits (400 InputException).
    """
    if not (text.isascii() and text.isdigit() and len(text) <= 18):
        raise invalid_input(f"Invalid trigger id {text!r}.")
    return int(text)


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the GTT routes."""
    exchange = sim.exchange

    async def listing(request: Request, grant: Grant | None) -> Any:
        """``GET /gtt/triggers``: every trigger, newest first."""
        return await engine_call(exchange, grant, lambda engine, now: engine.gtts(now), mutates=False)

    async def place(request: Request, grant: Grant | None) -> Any:
        """``POST /gtt/triggers`` form ``type, condition, orders`` (JSON texts): ``{trigger_id}``."""
        form = await form_of(request)
        return await engine_call(exchange, grant, lambda engine, now: engine.place_gtt(form, now))

    async def info(request: Request, grant: Grant | None) -> Any:
        """``GET /gtt/triggers/{trigger_id}``."""
        tid = trigger_id(request.path_params["trigger_id"])
        return await engine_call(exchange, grant, lambda engine, now: engine.gtt(tid, now), mutates=False)

    async def modify(request: Request, grant: Grant | None) -> Any:
        """``PUT /gtt/triggers/{trigger_id}`` form ``type, condition, orders``: ``{trigger_id}``."""
        tid = trigger_id(request.path_params["trigger_id"])
        form = await form_of(request)
        return await engine_call(exchange, grant, lambda engine, now: engine.modify_gtt(tid, form, now))

    async def delete(request: Request, grant: Grant | None) -> Any:
        """``DELETE /gtt/triggers/{trigger_id}``: ``{trigger_id}``."""
        tid = trigger_id(request.path_params["trigger_id"])
        return await engine_call(exchange, grant, lambda engine, now: engine.delete_gtt(tid, now))

    return [
        Route("/gtt/triggers", sim.api(listing), methods=["GET"]),
        Route("/gtt/triggers", sim.api(place), methods=["POST"]),
        Route("/gtt/triggers/{trigger_id}", sim.api(info), methods=["GET"]),
        Route("/gtt/triggers/{trigger_id}", sim.api(modify), methods=["PUT"]),
        Route("/gtt/triggers/{trigger_id}", sim.api(delete), methods=["DELETE"]),
    ]
