"""Upstox's order routes: place, modify, cancel (v2 and v3), multi-order, the order book, history and trades.

Every call runs on the shared exchange's engine through :meth:`UpstoxState.engine`, with the Upstox body
translated by :mod:`..shapes`. v3 answers carry ``metadata.latency`` (milliseconds, measured here); v3
placement with ``slice: true`` splits an order above the freeze quantity (the engine's autoslice) and lists
every slice's id in ``order_ids``. Multi-order places up to 25 lines, each with a unique ``correlation_id``,
and answers ``success``, ``partial_success`` (HTTP 207) or ``error`` (HTTP 400) with a summary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.engine import Engine
from kitekit.sim.as_placed import as_placed
from kitekit.sim.http.fault_edge import place_with_faults
from kitekit.sim.upstox.auth import UpstoxGrant
from kitekit.sim.upstox.http.faults import UPSTOX_DIALECT
from kitekit.sim.upstox.http.state import json_body, json_response, success
from kitekit.sim.upstox.shapes import kite_modify_form, kite_place_form, order_item, trade_item
from kitekit.wire.envelope import RejectionError
from kitekit.wire.upstox.errors import UDAPI, UpstoxError, problem_item
from kitekit.wire.upstox.routes import MULTI_ORDER_LINES
from kitekit.wire.upstox.routes import Route as Paths

if TYPE_CHECKING:
    from kitekit.sim.upstox.http.state import UpstoxState

__all__ = ["routes"]


def _find(engine: Engine, order_id: str, now: datetime) -> dict[str, Any]:
    for order in engine.orders(now):
        if order["order_id"] == order_id:
            return order
    raise UpstoxError(UDAPI.ORDER_NOT_FOUND, property_path="order_id", invalid_value=order_id)


def _order_id(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise UpstoxError(UDAPI.INVALID_INPUT, "order_id is required", "order_id", value)
    return value


def _placed(result: Mapping[str, Any]) -> list[str]:
    children = result.get("children")
    if children is None:
        return [str(result["order_id"])]
    return [str(c["order_id"]) for c in children if "order_id" in c]


def _instrument(form: Mapping[str, str]) -> list[tuple[str, str]]:
    return [(form["exchange"], form["tradingsymbol"])]


def _placer(variety: str, form: dict[str, str]) -> Callable[[Engine, datetime], dict[str, Any]]:
    def place(engine: Engine, now: datetime) -> dict[str, Any]:
        return engine.place_order(variety, form, now)

    return place


def routes(state: UpstoxState) -> list[BaseRoute]:
    """Return the order routes."""

    async def place(request: Request, grant: UpstoxGrant | None, v3: bool) -> Any:
        started = time.perf_counter()
        body = await json_body(request)
        sliced = v3 and isinstance(body, dict) and body.get("slice") is True
        variety, form = kite_place_form(state.listing(), body, sliced)

        async def accept() -> Any:
            ids = _placed(await state.engine(grant, _placer(variety, form), True, _instrument(form)))
            if not v3:
                return {"order_id": ids[0]}
            return success({"order_ids": ids}, metadata={"latency": int((time.perf_counter() - started) * 1000)})

        return await place_with_faults(state.order_faults, UPSTOX_DIALECT, accept)

    async def place_v2(request: Request, grant: UpstoxGrant | None) -> Any:
        """``POST /v2/order/place`` JSON: ``{order_id}``."""
        return await place(request, grant, False)

    async def place_v3(request: Request, grant: UpstoxGrant | None) -> Any:
        """``POST /v3/order/place`` JSON (``slice`` optional): ``{order_ids}`` plus ``metadata.latency``."""
        return await place(request, grant, True)

    async def modify(request: Request, grant: UpstoxGrant | None, v3: bool) -> Any:
        started = time.perf_counter()
        body = await json_body(request)
        form = kite_modify_form(body)
        order_id = _order_id(body.get("order_id"))

        def act(engine: Engine, now: datetime) -> Any:
            return engine.modify_order(_find(engine, order_id, now)["variety"], order_id, form, now)

        await state.engine(grant, act, True)
        if not v3:
            return {"order_id": order_id}
        return success({"order_id": order_id}, metadata={"latency": int((time.perf_counter() - started) * 1000)})

    async def cancel(request: Request, grant: UpstoxGrant | None, v3: bool) -> Any:
        started = time.perf_counter()
        order_id = _order_id(request.query_params.get("order_id"))

        def act(engine: Engine, now: datetime) -> Any:
            return engine.cancel_order(_find(engine, order_id, now)["variety"], order_id, now)

        await state.engine(grant, act, True)
        if not v3:
            return {"order_id": order_id}
        return success({"order_id": order_id}, metadata={"latency": int((time.perf_counter() - started) * 1000)})

    async def multi(request: Request, grant: UpstoxGrant | None) -> Any:
        """``POST /v2/order/multi/place`` JSON array of at most 25 lines, each with a unique ``correlation_id``."""
        lines = await json_body(request)
        if not isinstance(lines, list) or not lines:
            raise UpstoxError(UDAPI.INVALID_INPUT, "The request body must be a JSON array of orders")
        if len(lines) > MULTI_ORDER_LINES:
            raise UpstoxError(UDAPI.MULTI_ORDER_LIMIT, invalid_value=len(lines))
        ids = [line.get("correlation_id") if isinstance(line, dict) else None for line in lines]
        if not all(isinstance(i, str) and 0 < len(i) <= 20 for i in ids) or len(set(ids)) != len(ids):
            raise UpstoxError(
                UDAPI.INVALID_INPUT, "Each order needs a unique correlation_id of 1 to 20 characters", "correlation_id"
            )
        listing = state.listing()
        placed: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        payload_errors = 0
        for line, cid in zip(lines, ids, strict=True):
            try:
                variety, form = kite_place_form(listing, line, line.get("slice") is True)
            except UpstoxError as err:
                payload_errors += 1
                errors.append({**problem_item(err.problem), "correlation_id": cid})
                continue
            try:
                result = await state.engine(grant, _placer(variety, form), True, _instrument(form))
            except RejectionError as err:
                item = problem_item(UpstoxError(UDAPI.ORDER_REJECTED, err.message).problem)
                errors.append({**item, "correlation_id": cid})
                continue
            placed.extend({"correlation_id": cid, "order_id": oid} for oid in _placed(result))
        ok = len(lines) - len(errors)
        status = "success" if not errors else ("partial_success" if ok else "error")
        body: dict[str, Any] = {
            "status": status,
            "data": placed,
            "summary": {
                "total": len(lines),
                "success": ok,
                "error": len(errors) - payload_errors,
                "payload_error": payload_errors,
            },
        }
        if errors:
            body["errors"] = errors
        return json_response(body, {"success": 200, "partial_success": 207, "error": 400}[status])

    async def book(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/order/retrieve-all``: the day's orders."""
        listing = state.listing()
        orders = await state.engine(grant, lambda e, now: e.orders(now), False)
        return [order_item(listing, o) for o in orders]

    async def history(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/order/history?order_id=…|tag=…``: each state the order went through, oldest first."""
        listing = state.listing()
        order_id, tag = request.query_params.get("order_id"), request.query_params.get("tag")
        if not order_id and not tag:
            raise UpstoxError(UDAPI.INVALID_INPUT, "order_id or tag is required", "order_id")

        def act(engine: Engine, now: datetime) -> list[dict[str, Any]]:
            if order_id:
                return engine.order_history(order_id, now)
            return [o for o in engine.orders(now) if o.get("tag") == tag]

        states = await state.engine(grant, act, False)
        if not states:
            raise UpstoxError(UDAPI.ORDER_NOT_FOUND, property_path="tag", invalid_value=tag)
        return [order_item(listing, s) for s in states]

    async def details(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/order/details?order_id=…``: the order as it stands."""
        listing = state.listing()
        order_id = _order_id(request.query_params.get("order_id"))
        order = await state.engine(grant, lambda e, now: _find(e, order_id, now), False)
        return order_item(listing, order)

    async def trades(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/order/trades/get-trades-for-day`` and ``GET /v2/order/trades?order_id=…``."""
        listing = state.listing()
        order_id = request.query_params.get("order_id")
        if request.url.path == Paths.ORDER_TRADES and not order_id:
            raise UpstoxError(UDAPI.INVALID_INPUT, "order_id is required", "order_id")

        def act(engine: Engine, now: datetime) -> list[dict[str, Any]]:
            types = {o["order_id"]: as_placed(o)["order_type"] for o in engine.orders(now)}
            fills = engine.order_trades(order_id, now) if order_id else engine.trades(now)
            return [trade_item(listing, t, types.get(t["order_id"], "")) for t in fills]

        return await state.engine(grant, act, False)

    def version(handler: Any, v3: bool) -> Any:
        async def bound(request: Request, grant: UpstoxGrant | None) -> Any:
            return await handler(request, grant, v3)

        return bound

    return [
        Route(Paths.PLACE_V2, state.api(place_v2, "place"), methods=["POST"]),
        Route(Paths.PLACE_V3, state.api(place_v3, "place_v3"), methods=["POST"]),
        Route(Paths.MODIFY_V2, state.api(version(modify, False), "modify"), methods=["PUT"]),
        Route(Paths.MODIFY_V3, state.api(version(modify, True), "modify_v3"), methods=["PUT"]),
        Route(Paths.CANCEL_V2, state.api(version(cancel, False), "cancel"), methods=["DELETE"]),
        Route(Paths.CANCEL_V3, state.api(version(cancel, True), "cancel_v3"), methods=["DELETE"]),
        Route(Paths.MULTI_PLACE, state.api(multi, "multi_place"), methods=["POST"]),
        Route(Paths.ORDER_BOOK, state.api(book, "order_book"), methods=["GET"]),
        Route(Paths.ORDER_HISTORY, state.api(history, "order_history"), methods=["GET"]),
        Route(Paths.ORDER_DETAILS, state.api(details, "order_details"), methods=["GET"]),
        Route(Paths.TRADES_DAY, state.api(trades, "trades"), methods=["GET"]),
        Route(Paths.ORDER_TRADES, state.api(trades, "order_trades"), methods=["GET"]),
    ]
