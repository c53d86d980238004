"""SmartAPI's GTT rules in the simulator, on the shared engine's GTTs (one trigger price, one LIMIT order each).

Angel's rule ``{tradingsymbol, symboltoken, exchange, transactiontype, producttype, price, qty, triggerprice,
disclosedqty}`` is the engine's single-leg trigger; its statuses are Angel's (NEW while armed, SENTTOEXCHANGE
once fired, CANCELLED). SIM: ``timeperiod`` is accepted and ignored: the engine's triggers last a year.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.sim.angel.auth import AngelSession
from kitekit.sim.angel.catalog import AngelCatalog, Listing, angel_catalog
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.angel.http.state import exchange_call
from kitekit.sim.angel.market import resolve
from kitekit.wire.angel.envelope import ErrorCode
from kitekit.wire.angel.orders import ProductType, TransactionType, wire_int, wire_price
from kitekit.wire.angel.routes import Route as Path

if TYPE_CHECKING:
    from kitekit.sim.angel.http.state import AngelState

__all__ = ["routes"]

_STATUS = {"active": "NEW", "triggered": "SENTTOEXCHANGE", "cancelled": "CANCELLED", "deleted": "CANCELLED"}
_PRODUCTS = {"DELIVERY": "CNC", "CARRYFORWARD": "NRML", "INTRADAY": "MIS", "MARGIN": "MTF"}
_BACK = {v: k for k, v in _PRODUCTS.items()}


def _rule_id(body: dict[str, Any]) -> int:
    try:
        return wire_int(body.get("id"))
    except ValueError:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "id must be a rule's number.", 400) from None


def _kite_rule(listing: Listing, kite_symbol: str, body: dict[str, Any], ltp: float) -> dict[str, str]:
    try:
        side = TransactionType(str(body.get("transactiontype", ""))).value
        product = _PRODUCTS[ProductType(str(body.get("producttype", ""))).value]
        price, trigger = wire_price(body.get("price")), wire_price(body.get("triggerprice"))
        quantity = wire_int(body.get("qty"))
    except (ValueError, KeyError):
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "Invalid GTT rule fields.", 400) from None
    place = {"exchange": listing.exchange, "tradingsymbol": kite_symbol}
    condition = {**place, "trigger_values": [trigger], "last_price": ltp}
    order = {
        **place,
        "transaction_type": side,
        "quantity": quantity,
        "order_type": "LIMIT",
        "product": product,
        "price": price,
    }
    return {"type": "single", "condition": json.dumps(condition), "orders": json.dumps([order])}


def _angel_rule(catalog: AngelCatalog, gtt: dict[str, Any], client_code: str) -> dict[str, Any]:
    cond, leg = gtt["condition"], gtt["orders"][0]
    row = catalog.universe.by_key.get(f"{cond['exchange']}:{cond['tradingsymbol']}")
    listing = None if row is None else catalog.by_row.get(row)
    return {
        "stoploss": 0,
        "symboltoken": listing.token if listing else "",
        "exchange": cond["exchange"],
        "tradingsymbol": listing.symbol if listing else cond["tradingsymbol"],
        "producttype": _BACK.get(str(leg["product"]), "DELIVERY"),
        "transactiontype": leg["transaction_type"],
        "price": leg["price"],
        "qty": leg["quantity"],
        "triggerprice": cond["trigger_values"][0],
        "disclosedqty": 0,
        "status": _STATUS.get(str(gtt["status"]), str(gtt["status"]).upper()),
        "createddate": gtt["created_at"],
        "updateddate": gtt["updated_at"],
        "expirydate": gtt["expires_at"],
        "clientid": client_code,
        "id": str(gtt["id"]),
    }


def routes(sim: AngelState) -> list[BaseRoute]:
    """Return the five GTT routes."""

    def prepared(body: dict[str, Any]) -> tuple[AngelCatalog, dict[str, str]]:
        now = sim.clock.now()
        catalog = angel_catalog(sim.market, sim.market.universe(now))
        listing = resolve(catalog, body)
        ltp = float(sim.market.last_prices(catalog.universe, np.array([listing.row]), now)[0])
        return catalog, _kite_rule(listing, catalog.universe.symbol[listing.row], body, ltp)

    async def create(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST createRule``: ``{id}``."""
        _, form = await run_in_threadpool(prepared, body)
        made = await exchange_call(sim, session, lambda e, now: e.place_gtt(form, now))
        return {"id": str(made["trigger_id"])}

    async def modify(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST modifyRule`` ``{id, …the rule's fields}``: ``{id}``."""
        rule = _rule_id(body)
        current = await exchange_call(sim, session, lambda e, now: e.gtt(rule, now), mutates=False)
        leg = current["orders"][0]
        # What the request leaves out stays as it was.
        merged = {
            "transactiontype": leg["transaction_type"],
            "producttype": _BACK.get(str(leg["product"]), "DELIVERY"),
            "price": leg["price"],
            "qty": leg["quantity"],
            "triggerprice": current["condition"]["trigger_values"][0],
            **{k: v for k, v in body.items() if v is not None and k != "tradingsymbol"},
        }
        _, form = await run_in_threadpool(prepared, merged)
        await exchange_call(sim, session, lambda e, now: e.modify_gtt(rule, form, now))
        return {"id": str(rule)}

    async def cancel(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST cancelRule`` ``{id, symboltoken, exchange}``: ``{id}``."""
        rule = _rule_id(body)
        await exchange_call(sim, session, lambda e, now: e.delete_gtt(rule, now))
        return {"id": str(rule)}

    async def details(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST ruleDetails`` ``{id}``: the rule."""
        rule = _rule_id(body)
        gtt = await exchange_call(sim, session, lambda e, now: e.gtt(rule, now), mutates=False)
        catalog = angel_catalog(sim.market, sim.market.universe(sim.clock.now()))
        return _angel_rule(catalog, gtt, session.client_code if session else "")

    async def listing(request: Request, body: dict[str, Any], session: AngelSession | None) -> Any:
        """``POST ruleList`` ``{status: [...], page, count}``: the rules of those statuses, a page of them."""
        statuses = body.get("status")
        if not isinstance(statuses, list) or not statuses:
            raise AngelError(ErrorCode.INVALID_PARAMETERS, "status must be a list, e.g. ['NEW'].", 400)
        try:
            page, count = max(wire_int(body.get("page", 1)), 1), max(wire_int(body.get("count", 10)), 1)
        except ValueError:
            raise AngelError(ErrorCode.INVALID_PARAMETERS, "page and count must be numbers.", 400) from None
        gtts = await exchange_call(sim, session, lambda e, now: e.gtts(now), mutates=False)
        catalog = angel_catalog(sim.market, sim.market.universe(sim.clock.now()))
        rules = [_angel_rule(catalog, g, session.client_code if session else "") for g in gtts]
        wanted = {str(s) for s in statuses}
        chosen = [r for r in rules if "FORALL" in wanted or r["status"] in wanted]
        return chosen[(page - 1) * count : page * count]

    def r(path: Path, handler: Any) -> Route:
        return Route(path.value, sim.api(path, handler), methods=["POST"])

    return [
        r(Path.GTT_CREATE, create),
        r(Path.GTT_MODIFY, modify),
        r(Path.GTT_CANCEL, cancel),
        r(Path.GTT_DETAILS, details),
        r(Path.GTT_LIST, listing),
    ]
