"""The dashboard's ASGI app: the page, its JSON routes, the live stream and the controls, behind the access check.

Routes (all need the token: see :mod:`kitekit.dashboard.auth`):

- ``GET /``: the page (one HTML shell; the pages are drawn by ``static/app.js``);
- ``GET /static/...``: the page's JavaScript, CSS and the vendored chart library;
- ``GET /api/meta|overview|positions|orders|chart|chain|runs``: what each page shows, as JSON;
- ``GET /api/stream?watch=TOKEN,...&positions=1``: the live batches (server-sent events, :mod:`.push`);
- ``POST /api/orders/{order_id}/cancel|modify``, ``POST /api/positions/square-off[-all]``,
  ``POST /api/runs/{run}/kill``: the controls, which also need the page's origin and header.

Errors reach the page as JSON ``{"error": kind, "message": ...}`` with a status that says whose fault it is:
401 the session ended (the page shows the re-login banner), 409 a control refused before anything was sent,
400/422 Kite or a pre-trade rule refused it, 404 nothing by that name.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from kitekit.dashboard.auth import COOKIE, Access
from kitekit.dashboard.desk import ControlError, Desk, _session_dead
from kitekit.dashboard.market import INTERVALS, chain_view, chart_view
from kitekit.dashboard.push import batches
from kitekit.dashboard.runs import Runs
from kitekit.errors import KitekitError, OrderValidationError, UnknownInstrumentError

__all__ = ["STATIC", "build_app"]

log = logging.getLogger("kitekit.dashboard")

#: The page's files, shipped in the package (no Node build, no CDN).
STATIC = Path(str(resources.files("kitekit.dashboard") / "static"))

_HEADERS = {
    # Only the dashboard's own scripts and connections; no frames, no inline script. Inline styles are allowed:
    # the chart library sets them on the elements it draws.
    "content-security-policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}

Handler = Callable[[Request], Awaitable[Response]]


class Guard:
    """ASGI middleware: the token on every request, the origin on every POST, and the security headers."""

    def __init__(self, app: ASGIApp, access: Access) -> None:
        self.app = app
        self.access = access

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        access = self.access
        if access.from_query(request):
            response: Response = RedirectResponse(access.without_token(request.url), status_code=303)
            response.set_cookie(
                COOKIE, access.token, httponly=True, samesite="strict", path=scope.get("root_path") or "/"
            )
            await self._send(response, scope, receive, send)
            return
        if not access.allowed(request):
            text = ("This dashboard needs its access token: open the URL `kitekit dashboard` printed when it started "
                    "(it carries ?token=...).")  # fmt: skip
            await self._send(PlainTextResponse(text, status_code=403), scope, receive, send)
            return
        if request.method not in ("GET", "HEAD") and not access.same_origin(request):
            text = "Refused: a control must come from the dashboard's own page."
            await self._send(PlainTextResponse(text, status_code=403), scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                for name, value in _HEADERS.items():
                    if name.encode() not in names:
                        headers.append((name.encode(), value.encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)

    async def _send(self, response: Response, scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        await response(scope, receive, send)


def _error(kind: str, message: str, status: int) -> JSONResponse:
    return JSONResponse({"error": kind, "message": message}, status_code=status)


def _answer(desk: Desk, exc: Exception) -> JSONResponse:
    """Return the page's answer to a failure (see the module docstring)."""
    from kiteconnect.exceptions import KiteException

    if _session_dead(exc):
        return _error("session", desk.session.message or str(exc), 401)
    if isinstance(exc, ControlError):
        return _error("refused", str(exc), 409)
    if isinstance(exc, KeyError):
        return _error("unknown", f"nothing by that name: {exc}", 404)
    if isinstance(exc, UnknownInstrumentError):
        return _error("unknown", str(exc), 404)
    if isinstance(exc, OrderValidationError):
        return _error("rule", str(exc), 422)
    if isinstance(exc, (KiteException, KitekitError, ValueError)):
        return _error("refused", str(exc), 400)
    log.exception("the dashboard failed")
    return _error("bug", f"an unexpected error inside kitekit ({type(exc).__name__}); see the dashboard's log", 500)


def build_app(desk: Desk, access: Access, *, runs: Runs | None = None) -> Starlette:
    """Return the dashboard's ASGI app over ``desk``, guarded by ``access``.

    Args:
        desk: what the pages read and control.
        access: the token and allowed origins.
        runs: the Strategies page's source (:class:`kitekit.dashboard.runs.Runs`), None when there is no runner.
    """

    def reading(fn: Callable[[Request], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            if desk.session.expired:
                return _error("session", desk.session.message, 401)
            try:
                return JSONResponse(await run_in_threadpool(fn, request))
            except Exception as exc:
                return _answer(desk, exc)

        return endpoint

    def control(fn: Callable[[Request, dict[str, Any]], Any]) -> Handler:
        async def endpoint(request: Request) -> Response:
            try:
                body = await request.json() if await request.body() else {}
            except json.JSONDecodeError:
                return _error("usage", "the body must be JSON", 400)
            if not isinstance(body, dict):
                return _error("usage", "the body must be a JSON object", 400)
            if desk.session.expired:
                return _error("session", desk.session.message, 401)
            try:
                return JSONResponse(await run_in_threadpool(fn, request, body))
            except (KeyError, TypeError) as exc:
                return _error("usage", f"missing or malformed field: {exc}", 400)
            except Exception as exc:
                return _answer(desk, exc)

        return endpoint

    async def page(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    def meta(request: Request) -> dict[str, Any]:
        return {
            "mode": desk.mode,
            "simulated": desk.simulated,
            "strategies": runs is not None,
            "intervals": list(INTERVALS),
            "session": desk.session_view(),
        }

    async def stream(request: Request) -> Response:
        try:
            watch = [int(t) for t in request.query_params.get("watch", "").split(",") if t.strip()]
        except ValueError:
            return _error("usage", "watch must be instrument tokens separated by commas", 400)
        positions = request.query_params.get("positions") == "1"
        return StreamingResponse(batches(desk, watch[:500], positions), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})  # fmt: skip

    def cancel(request: Request, body: dict[str, Any]) -> Any:
        return desk.cancel(request.path_params["order_id"])

    def modify(request: Request, body: dict[str, Any]) -> Any:
        def number(name: str, kind: type) -> Any:
            value = body.get(name)
            return None if value in (None, "") else kind(value)

        return desk.modify(
            request.path_params["order_id"],
            number("quantity", int),
            number("price", float),
            number("trigger_price", float),
        )

    def square_off(request: Request, body: dict[str, Any]) -> Any:
        return desk.square_off(str(body["key"]), str(body["product"]), int(body["quantity"]))

    def square_off_all(request: Request, body: dict[str, Any]) -> Any:
        expected = [(str(p["key"]), str(p["product"]), int(p["quantity"])) for p in body["positions"]]
        return desk.square_off_all(expected)

    routes = [
        Route("/", page),
        Route("/api/meta", reading(meta)),
        Route("/api/overview", reading(lambda r: desk.overview())),
        Route("/api/positions", reading(lambda r: desk.position_view(fresh=True))),
        Route("/api/orders", reading(lambda r: desk.orders_view())),
        Route(
            "/api/chart",
            reading(lambda r: chart_view(desk, r.query_params["symbol"], r.query_params.get("interval", "minute"))),
        ),
        Route(
            "/api/chain",
            reading(
                lambda r: chain_view(
                    desk, r.query_params.get("underlying", "NIFTY"), int(r.query_params.get("strikes", "10"))
                )
            ),
        ),
        Route("/api/stream", stream),
        Route("/api/orders/{order_id}/cancel", control(cancel), methods=["POST"]),
        Route("/api/orders/{order_id}/modify", control(modify), methods=["POST"]),
        Route("/api/positions/square-off", control(square_off), methods=["POST"]),
        Route("/api/positions/square-off-all", control(square_off_all), methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    if runs is not None:
        routes[-1:-1] = runs.routes(reading, control)
    app = Starlette(routes=routes)
    app.add_middleware(Guard, access=access)
    return app
