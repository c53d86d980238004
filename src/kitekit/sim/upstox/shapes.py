"""Kite-shaped engine answers in Upstox's shapes, and Upstox order requests as the engine's Kite form.

The matching engine speaks Kite (it is the Kite simulator's); the Upstox edge translates at the boundary,
field by field, with the instrument key from the day's :class:`~.catalog.UpstoxListing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kitekit.sim.as_placed import as_placed
from kitekit.sim.upstox.catalog import UpstoxListing
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.orders import (
    OrderStatus,
    OrderType,
    Product,
    TransactionType,
    Validity,
    kite_product,
    upstox_product,
)

__all__ = [
    "fund_items",
    "holding_item",
    "kite_modify_form",
    "kite_place_form",
    "order_item",
    "position_item",
    "trade_item",
]


def _key(listing: UpstoxListing, token: int) -> tuple[str, str]:
    row = listing.universe.by_token.get(int(token))
    return ("", "") if row is None else (listing.keys[row], listing.trading_symbol(row))


def order_item(listing: UpstoxListing, order: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine order as an entry of ``GET /v2/order/retrieve-all`` (``OrderBookData``)."""
    order = as_placed(order)
    key, symbol = _key(listing, order["instrument_token"])
    status = OrderStatus.from_kite(str(order["status"]))
    return {
        "exchange": order["exchange"],
        "product": upstox_product(str(order["product"])).value,
        "price": order["price"],
        "quantity": order["quantity"],
        "status": status.value,
        "guid": order.get("guid"),
        "tag": order.get("tag"),
        "instrument_token": key,
        "placed_by": order["placed_by"],
        "tradingsymbol": symbol,
        "trading_symbol": symbol,
        "order_type": order["order_type"],
        "validity": order["validity"] if order["validity"] in ("DAY", "IOC") else "DAY",
        "trigger_price": order["trigger_price"],
        "disclosed_quantity": order["disclosed_quantity"],
        "transaction_type": order["transaction_type"],
        "average_price": order["average_price"],
        "filled_quantity": order["filled_quantity"],
        "pending_quantity": order["pending_quantity"],
        "status_message": order.get("status_message"),
        "status_message_raw": order.get("status_message_raw"),
        "exchange_order_id": order.get("exchange_order_id"),
        "parent_order_id": order.get("parent_order_id"),
        "order_id": order["order_id"],
        "variety": "AMO" if order["variety"] == "amo" else ("CO" if order["variety"] == "co" else "SIMPLE"),
        "order_timestamp": order["order_timestamp"],
        "exchange_timestamp": order.get("exchange_timestamp"),
        "is_amo": order["variety"] == "amo",
        "order_request_id": str(order.get("guid") or ""),
        "order_ref_id": order.get("tag") or "",
    }


def trade_item(listing: UpstoxListing, trade: Mapping[str, Any], order_type: str) -> dict[str, Any]:
    """Return an engine trade as an entry of the trade book (``TradeData``)."""
    key, symbol = _key(listing, trade["instrument_token"])
    return {
        "exchange": trade["exchange"],
        "product": upstox_product(str(trade["product"])).value,
        "tradingsymbol": symbol,
        "trading_symbol": symbol,
        "instrument_token": key,
        "order_type": order_type,
        "transaction_type": trade["transaction_type"],
        "quantity": trade["quantity"],
        "exchange_order_id": trade["exchange_order_id"],
        "order_id": trade["order_id"],
        "exchange_timestamp": trade["exchange_timestamp"],
        "average_price": trade["average_price"],
        "trade_id": trade["trade_id"],
        "order_ref_id": "",
        "order_timestamp": trade["fill_timestamp"],
    }


def position_item(listing: UpstoxListing, pos: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine net position as an entry of ``GET /v2/portfolio/short-term-positions``."""
    key, symbol = _key(listing, pos["instrument_token"])
    overnight = int(pos.get("overnight_quantity", 0))
    return {
        "exchange": pos["exchange"],
        "multiplier": pos["multiplier"],
        "value": pos["value"],
        "pnl": pos["pnl"],
        "product": upstox_product(str(pos["product"])).value,
        "instrument_token": key,
        "average_price": pos["average_price"],
        "buy_value": pos["buy_value"],
        "overnight_quantity": overnight,
        "day_buy_value": pos["day_buy_value"],
        "day_buy_price": pos["day_buy_price"],
        "overnight_buy_amount": round(pos["buy_value"] - pos["day_buy_value"], 2),
        "overnight_buy_quantity": max(overnight, 0),
        "day_buy_quantity": pos["day_buy_quantity"],
        "day_sell_value": pos["day_sell_value"],
        "day_sell_price": pos["day_sell_price"],
        "overnight_sell_amount": round(pos["sell_value"] - pos["day_sell_value"], 2),
        "overnight_sell_quantity": max(-overnight, 0),
        "day_sell_quantity": pos["day_sell_quantity"],
        "quantity": pos["quantity"],
        "last_price": pos["last_price"],
        "unrealised": pos["unrealised"],
        "realised": pos["realised"],
        "sell_value": pos["sell_value"],
        "tradingsymbol": symbol,
        "trading_symbol": symbol,
        "close_price": pos["close_price"],
        "buy_price": pos["buy_price"],
        "sell_price": pos["sell_price"],
    }


def holding_item(listing: UpstoxListing, holding: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine holding as an entry of ``GET /v2/portfolio/long-term-holdings``."""
    key, symbol = _key(listing, holding["instrument_token"])
    row = listing.universe.by_token.get(int(holding["instrument_token"]))
    return {
        "isin": holding.get("isin", ""),
        "cnc_used_quantity": holding.get("used_quantity", 0),
        "collateral_type": holding.get("collateral_type", ""),
        "company_name": listing.universe.name[row] if row is not None else symbol,
        "haircut": 0.0,
        "product": "D",
        "quantity": holding["quantity"],
        "tradingsymbol": symbol,
        "trading_symbol": symbol,
        "last_price": holding["last_price"],
        "close_price": holding["close_price"],
        "pnl": holding["pnl"],
        "day_change": holding["day_change"],
        "day_change_percentage": holding["day_change_percentage"],
        "instrument_token": key,
        "average_price": holding["average_price"],
        "collateral_quantity": holding.get("collateral_quantity", 0),
        "collateral_update_quantity": 0,
        "t1_quantity": holding.get("t1_quantity", 0),
        "exchange": holding["exchange"],
    }


def fund_items(margins: Mapping[str, Any], segment: str | None) -> dict[str, Any]:
    """Return the engine's margins as ``GET /v2/user/get-funds-and-margin``'s ``data``: per ``equity``/``commodity``."""
    out: dict[str, Any] = {}
    for name in ("equity", "commodity"):
        if segment is not None and segment != {"equity": "SEC", "commodity": "COM"}[name]:
            continue
        m = margins[name]
        used = m["utilised"]
        out[name] = {
            "used_margin": round(used["debits"], 2),
            "payin_amount": m["available"].get("intraday_payin", 0.0),
            "span_margin": used.get("span", 0.0),
            "adhoc_margin": m["available"].get("adhoc_margin", 0.0),
            "notional_cash": 0.0,
            "available_margin": round(m["net"], 2),
            "exposure_margin": used.get("exposure", 0.0),
        }
    return out


def _number(body: Mapping[str, Any], name: str, kind: type, required: bool = True) -> Any:
    value = body.get(name)
    if value is None:
        if required:
            raise UpstoxError(UDAPI.INVALID_INPUT, f"{name} is required", name)
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not float(value).is_integer()):
        raise UpstoxError(UDAPI.INVALID_INPUT, f"{name} must be a number", name, value)
    return kind(value)


def _choice(body: Mapping[str, Any], name: str, allowed: type[Any]) -> str:
    value = body.get(name)
    try:
        return str(allowed(value).value)
    except ValueError:
        raise UpstoxError(UDAPI.INVALID_INPUT, f"Invalid {name}", name, value) from None


def kite_place_form(listing: UpstoxListing, body: Any, slice_orders: bool = False) -> tuple[str, dict[str, str]]:
    """Return the engine's ``(variety, form)`` for an Upstox place body (v2, v3 or a multi-order line).

    Raises:
        UpstoxError: the body is not an object, misses or mistypes a field, or names an unknown instrument.
    """
    if not isinstance(body, Mapping):
        raise UpstoxError(UDAPI.INVALID_INPUT, "The request body must be a JSON object")
    key = body.get("instrument_token")
    row = listing.resolve(key) if isinstance(key, str) else None
    if row is None:
        raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid instrument_token", "instrument_token", key)
    uni = listing.universe
    product = Product(_choice(body, "product", Product))
    order_type = _choice(body, "order_type", OrderType)
    kite = kite_product(product, listing.segments[row].endswith("_FO"))
    if kite is None:
        raise UpstoxError(UDAPI.INVALID_INPUT, "OCO orders are not supported by the simulator", "product", "OCO")
    form = {
        "exchange": uni.exchange[row],
        "tradingsymbol": uni.symbol[row],
        "transaction_type": _choice(body, "transaction_type", TransactionType),
        "order_type": order_type,
        "product": kite,
        "validity": _choice(body, "validity", Validity),
        "quantity": str(_number(body, "quantity", int)),
        "price": str(_number(body, "price", float)),
        "trigger_price": str(_number(body, "trigger_price", float)),
        "disclosed_quantity": str(_number(body, "disclosed_quantity", int, required=False) or 0),
    }
    tag = body.get("tag")
    if tag is not None:
        if not isinstance(tag, str) or len(tag) > 40:
            raise UpstoxError(UDAPI.INVALID_INPUT, "tag must be text of at most 40 characters", "tag", tag)
        form["tag"] = tag[:20]  # SIM: the engine keeps Kite's 20-character tags
    protection = _number(body, "market_protection", float, required=False)
    if order_type in ("MARKET", "SL-M"):
        form["market_protection"] = str(-1 if protection in (None, 0) else int(protection))
    if slice_orders:
        form["autoslice"] = "true"
    variety = "co" if product is Product.CO else ("amo" if body.get("is_amo") is True else "regular")
    return variety, form


def kite_modify_form(body: Any) -> dict[str, str]:
    """Return the engine's modify form for an Upstox modify body (``order_id`` read separately).

    Raises:
        UpstoxError: a field is missing or mistyped.
    """
    if not isinstance(body, Mapping):
        raise UpstoxError(UDAPI.INVALID_INPUT, "The request body must be a JSON object")
    form = {
        "order_type": _choice(body, "order_type", OrderType),
        "validity": _choice(body, "validity", Validity),
        "price": str(_number(body, "price", float)),
        "trigger_price": str(_number(body, "trigger_price", float)),
    }
    for name in ("quantity", "disclosed_quantity"):
        value = _number(body, name, int, required=False)
        if value is not None:
            form[name] = str(value)
    return form
