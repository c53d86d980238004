"""Kite's alerts routes: create, list, read, modify and delete alerts, and an alert's history (``/alerts``).

The official Python SDK has no alerts methods; the Go SDK's ``alerts.go`` and Kite's alerts page define the
routes: a form body for create and modify, ``uuid`` repeated in the query of a delete, which answers a null
``data``. The book and its firing live in :mod:`kitekit.sim.alerts`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.http.edge import form_of, user_of

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = ["routes"]


def routes(sim: SimState) -> list[BaseRoute]:
    """Return the alerts routes."""
    exchange = sim.exchange

    async def run(grant: Grant | None, action: Any, mutates: bool = True) -> Any:
        # The exchange holds one lock for every account and works the market model's numbers: off the loop.
        return await run_in_threadpool(exchange.run_alerts, user_of(grant), action, mutates)

    async def create(request: Request, grant: Grant | None) -> Any:
        """``POST /alerts`` form ``name, type, lhs_*, operator, rhs_*[, basket]``: the new alert."""
        form = await form_of(request)
        return await run(grant, lambda book, now: book.create(form, now, exchange.listed))

    async def listing(request: Request, grant: Grant | None) -> Any:
        """``GET /alerts[?status=enabled|disabled]``: the alerts, newest first."""
        status = request.query_params.get("status") or None
        return await run(grant, lambda book, now: book.listing(status), mutates=False)

    async def info(request: Request, grant: Grant | None) -> Any:
        """``GET /alerts/{uuid}``."""
        uuid = request.path_params["uuid"]
        return await run(grant, lambda book, now: book.get(uuid), mutates=False)

    async def modify(request: Request, grant: Grant | None) -> Any:
        """``PUT /alerts/{uuid}`` with the whole alert's form: the alert as it now is."""
        uuid = request.path_params["uuid"]
        form = await form_of(request)
        return await run(grant, lambda book, now: book.modify(uuid, form, now, exchange.listed))

    async def delete(request: Request, grant: Grant | None) -> Any:
        """``DELETE /alerts?uuid=…[&uuid=…]``: ``null``."""
        uuids = request.query_params.getlist("uuid")
        return await run(grant, lambda book, now: book.delete(uuids))

    async def history(request: Request, grant: Grant | None) -> Any:
        """``GET /alerts/{uuid}/history``: each firing, with the market at that moment."""
        uuid = request.path_params["uuid"]
        return await run(grant, lambda book, now: book.history(uuid), mutates=False)

    return [
        Route("/alerts", sim.api(listing), methods=["GET"]),
        Route("/alerts", sim.api(create), methods=["POST"]),
        Route("/alerts", sim.api(delete), methods=["DELETE"]),
        Route("/alerts/{uuid}", sim.api(info), methods=["GET"]),
        Route("/alerts/{uuid}", sim.api(modify), methods=["PUT"]),
        Route("/alerts/{uuid}/history", sim.api(history), methods=["GET"]),
    ]
