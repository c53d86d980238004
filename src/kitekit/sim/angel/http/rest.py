"""SmartAPI's REST routes in the simulator: session, profile and funds, market data, orders, books, portfolio.

Each handler reads the request's JSON, calls a plain function (:mod:`.market`, :mod:`.orders`) or the shared
exchange, and returns the envelope's ``data``; :meth:`AngelState.api` does the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kitekit.sim.angel import market as quotes
from kitekit.sim.angel.auth import AngelSession
from kitekit.sim.angel.catalog import AngelCatalog, angel_catalog
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.angel.http.state import exchange_call
from kitekit.sim.angel.orders import (
    angel_order,
    angel_trade,
    holding_row,
    kite_cancel,
    kite_order,
    position_row,
    rms_row,
    unique_order_id,
)
from kitekit.sim.http.fault_edge import place_with_faults
from kitekit.wire.angel.envelope import ErrorCode
from kitekit.wire.angel.routes import Route as Path
from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH

if TYPE_CHECKING:
    from kitekit.sim.angel.http.state import AngelState

__all__ = ["routes"]

_EXCHANGES = ["NSE", "BSE", "NFO", "BFO", "MCX", "CDS"]
_PRODUCTS = ["DELIVERY", "INTRADAY", "MARGIN", "CARRYFORWARD"]


def _tokens(session: AngelSession) -> dict[str, str]:
    return {"jwtToken": session.jwt, "refreshToken": session.refresh_token, "feedToken": session.feed_token}


def routes(sim: AngelState) -> list[BaseRoute]:
    """Return the REST routes (GTT's are in :mod:`.rest_gtt`)."""
    cfg = sim.config

    def catalog() -> AngelCatalog:
        return angel_catalog(sim.market, sim.market.universe(sim.clock.now()))

    # -- session ---------------------------------------------------------------------------------
    async def login(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST loginByPassword`` ``{clientcode, password (the PIN), totp}``: the three tokens."""
        fields = [str(body.get(k) or "") for k in ("clientcode", "password", "totp")]
        return _tokens(sim.auth.login(*fields))

    async def generate_tokens(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST generateTokens`` ``{refreshToken}``: fresh tokens (works after the JWT expired)."""
        return _tokens(sim.auth.refresh(str(body.get("refreshToken") or "")))

    async def logout(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST logout`` ``{clientcode}``: the session's tokens stop working."""
        if session is not None:
            sim.auth.logout(session)
        return ""

    async def profile(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getProfile``: who is logged in."""
        return {
            "clientcode": cfg.client_code,
            "name": cfg.name,
            "email": cfg.email,
            "mobileno": "",
            "exchanges": _EXCHANGES,
            "products": _PRODUCTS,
            "lastlogintime": "",
            "brokerid": "B2C",
        }

    async def rms(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getRMS``: funds, every number as text."""
        return rms_row(await exchange_call(sim, session, lambda e, now: e.margins(now), mutates=False))

    # -- market data -----------------------------------------------------------------------------
    async def ltp(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST getLtpData`` ``{exchange, tradingsymbol, symboltoken}``."""
        return await run_in_threadpool(quotes.ltp_data, sim.market, body, sim.clock.now())

    async def quote(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST quote`` ``{mode, exchangeTokens}``: ``{fetched, unfetched}``."""
        now = sim.clock.now()
        return await run_in_threadpool(quotes.quote, sim.market, body.get("mode"), body.get("exchangeTokens"), now)

    async def candles(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST getCandleData`` ``{exchange, symboltoken, interval, fromdate, todate}``."""
        return await run_in_threadpool(quotes.candles, sim.market, body, sim.clock.now())

    async def oi_data(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST getOIData``: like ``getCandleData``, with ``{time, oi}`` rows."""
        return await run_in_threadpool(quotes.oi_data, sim.market, body, sim.clock.now())

    async def scrip_master(request: Request) -> Response:
        """``GET /OpenAPI_File/files/OpenAPIScripMaster.json``: every instrument (public, no login)."""
        raw = await run_in_threadpool(lambda: catalog().master())
        return Response(raw, media_type="application/json")

    # -- orders ----------------------------------------------------------------------------------
    async def place(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST placeOrder``: ``{script, orderid, uniqueorderid}``."""
        cat = await run_in_threadpool(catalog)
        variety, form = kite_order(cat, body)
        instrument = [(form["exchange"], form["tradingsymbol"])]

        async def accept() -> dict[str, str]:
            placed = await exchange_call(sim, session, lambda e, now: e.place_order(variety, form, now), instrument)
            order_id = str(placed["order_id"])
            return {
                "script": str(body.get("tradingsymbol")),
                "orderid": order_id,
                "uniqueorderid": unique_order_id(order_id),
            }

        return await place_with_faults(sim.order_faults, sim.dialect, accept)

    async def modify(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST modifyOrder``: ``{orderid, uniqueorderid}``."""
        cat = await run_in_threadpool(catalog)
        variety, form = kite_order(cat, body)
        order_id = str(body.get("orderid") or "")
        if not order_id:
            raise AngelError(ErrorCode.INVALID_PARAMETERS, "orderid is required.", 400)
        terms = {k: form[k] for k in ("quantity", "price", "order_type", "trigger_price", "validity")}
        await exchange_call(sim, session, lambda e, now: e.modify_order(variety, order_id, terms, now))
        return {"orderid": order_id, "uniqueorderid": unique_order_id(order_id)}

    async def cancel(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST cancelOrder`` ``{variety, orderid}``: ``{orderid, uniqueorderid}``."""
        variety, order_id = kite_cancel(body)
        await exchange_call(sim, session, lambda e, now: e.cancel_order(variety, order_id, now))
        return {"orderid": order_id, "uniqueorderid": unique_order_id(order_id)}

    async def order_book(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getOrderBook``: the day's orders; ``data`` is null when there are none (as on Angel)."""
        orders = await exchange_call(sim, session, lambda e, now: e.orders(now), mutates=False)
        cat = await run_in_threadpool(catalog)
        return [angel_order(cat, o) for o in orders] or None

    async def details(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET details/{uniqueorderid}``: one order's row."""
        wanted = request.path_params["uniqueorderid"]
        orders = await exchange_call(sim, session, lambda e, now: e.orders(now), mutates=False)
        found = [o for o in orders if unique_order_id(str(o["order_id"])) == wanted]
        if not found:
            raise AngelError(ErrorCode.ORDER_NOT_FOUND)
        return angel_order(await run_in_threadpool(catalog), found[0])

    async def trade_book(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getTradeBook``: the day's fills (null when none)."""
        trades = await exchange_call(sim, session, lambda e, now: e.trades(now), mutates=False)
        cat = await run_in_threadpool(catalog)
        return [angel_trade(cat, t) for t in trades] or None

    # -- portfolio -------------------------------------------------------------------------------
    async def positions(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getPosition``: net positions (null when none)."""
        held = await exchange_call(sim, session, lambda e, now: e.positions(now), mutates=False)
        cat = await run_in_threadpool(catalog)
        return [position_row(cat, p) for p in held["net"]] or None

    async def holdings(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getHolding``: demat holdings."""
        held = await exchange_call(sim, session, lambda e, now: e.holdings(now), mutates=False)
        cat = await run_in_threadpool(catalog)
        return [holding_row(cat, h) for h in held]

    async def all_holdings(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``GET getAllHolding``: holdings and their totals."""
        rows = await holdings(request, body, session)
        value = sum(r["ltp"] * r["quantity"] for r in rows)
        invested = sum(r["averageprice"] * r["quantity"] for r in rows)
        pnl = value - invested
        total = {
            "totalholdingvalue": round(value, 2),
            "totalinvvalue": round(invested, 2),
            "totalprofitandloss": round(pnl, 2),
            "totalpnlpercentage": round(pnl / invested * 100, 2) if invested else 0.0,
        }
        return {"holdings": rows, "totalholding": total}

    def r(path: Path, handler: Any, method: str = "POST", secure: bool = True) -> Route:
        return Route(path.value, sim.api(path, handler, secure), methods=[method])

    return [
        r(Path.LOGIN, login, secure=False),
        r(Path.TOKEN, generate_tokens, secure=False),
        r(Path.LOGOUT, logout),
        r(Path.PROFILE, profile, "GET"),
        r(Path.RMS, rms, "GET"),
        r(Path.LTP, ltp),
        r(Path.QUOTE, quote),
        r(Path.CANDLES, candles),
        r(Path.OI_DATA, oi_data),
        r(Path.ORDER_PLACE, place),
        r(Path.ORDER_MODIFY, modify),
        r(Path.ORDER_CANCEL, cancel),
        r(Path.ORDER_BOOK, order_book, "GET"),
        r(Path.ORDER_DETAILS, details, "GET"),
        r(Path.TRADE_BOOK, trade_book, "GET"),
        r(Path.POSITION, positions, "GET"),
        r(Path.HOLDING, holdings, "GET"),
        r(Path.ALL_HOLDING, all_holdings, "GET"),
        Route(SCRIP_MASTER_PATH, scrip_master, methods=["GET"]),
    ]
