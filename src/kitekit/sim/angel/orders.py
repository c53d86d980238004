"""Angel's orders on the shared engine: its requests turned into the engine's terms, its books turned back.

The engine speaks Kite's vocabulary (it is the Kite simulator's); Angel's varieties, order and product types
map onto it one to one, except ROBO (bracket orders), which the engine does not have: refused as Angel
refuses it where it is switched off (AB2002).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kitekit.sim.angel.catalog import AngelCatalog, Listing
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.angel.market import resolve
from kitekit.sim.as_placed import as_placed
from kitekit.wire.angel.envelope import ErrorCode
from kitekit.wire.angel.orders import (
    Duration,
    OrderStatus,
    OrderType,
    ProductType,
    TransactionType,
    Variety,
    wire_int,
    wire_price,
)
from kitekit.wire.angel.scrip import expiry_text

__all__ = [
    "angel_order",
    "angel_trade",
    "holding_row",
    "kite_cancel",
    "kite_order",
    "position_row",
    "rms_row",
    "unique_order_id",
]

_ORDER_TYPES = {
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT: "LIMIT",
    OrderType.STOPLOSS_LIMIT: "SL",
    OrderType.STOPLOSS_MARKET: "SL-M",
}
_PRODUCTS = {
    ProductType.DELIVERY: "CNC",
    ProductType.CARRYFORWARD: "NRML",
    ProductType.INTRADAY: "MIS",
    ProductType.MARGIN: "MTF",
}
_BACK_TYPES = {v: k for k, v in _ORDER_TYPES.items()}
_BACK_PRODUCTS = {v: k for k, v in _PRODUCTS.items()}
_STATUSES = {
    "OPEN": OrderStatus.OPEN,
    "COMPLETE": OrderStatus.COMPLETE,
    "CANCELLED": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
    "TRIGGER PENDING": OrderStatus.TRIGGER_PENDING,
    "AMO REQ RECEIVED": OrderStatus.AMO_RECEIVED,
    "UPDATE": OrderStatus.MODIFIED,
}
_NAMESPACE = uuid.UUID("6f1c1d0e-5b8a-4c55-9a51-2a6b0c0de27a")


def unique_order_id(order_id: str) -> str:
    """Return the ``uniqueorderid`` of an order: a UUID fixed by its order id."""
    return str(uuid.uuid5(_NAMESPACE, order_id))


def _field(fields: Mapping[str, Any], name: str, choices: type[Any], code: ErrorCode) -> Any:
    try:
        return choices(str(fields.get(name, "")))
    except ValueError:
        raise AngelError(code, f"Invalid {name} {fields.get(name)!r}.", 400) from None


def _number(fields: Mapping[str, Any], name: str, read: Any, default: Any = 0) -> Any:
    value = fields.get(name)
    if value is None or value == "":
        return default
    try:
        return read(value)
    except ValueError:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, f"Invalid {name} {value!r}.", 400) from None


def kite_order(catalog: AngelCatalog, fields: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Return the engine's ``(variety, form)`` for an Angel ``placeOrder`` (or ``modifyOrder``) request.

    Raises:
        AngelError: AB1008 for a variety, AB1012 for a product type Angel does not know (or ROBO: AB2002),
            AB4000 for other bad fields, AB1009 for an instrument not listed, AB4008 for a long ``ordertag``.
    """
    variety = _field(fields, "variety", Variety, ErrorCode.INVALID_VARIETY)
    if variety is Variety.ROBO:
        raise AngelError(ErrorCode.ROBO_BLOCKED)
    product = _field(fields, "producttype", ProductType, ErrorCode.INVALID_PRODUCT)
    if product is ProductType.BO:
        raise AngelError(ErrorCode.ROBO_BLOCKED)
    order_type = _field(fields, "ordertype", OrderType, ErrorCode.INVALID_PARAMETERS)
    side = _field(fields, "transactiontype", TransactionType, ErrorCode.INVALID_PARAMETERS)
    duration = _field(fields, "duration", Duration, ErrorCode.INVALID_PARAMETERS)
    tag = str(fields.get("ordertag") or "")
    if len(tag) >= 20:
        raise AngelError(ErrorCode.TAG_TOO_LONG)
    listing = resolve(catalog, fields)
    form = {
        "exchange": listing.exchange,
        "tradingsymbol": catalog.universe.symbol[listing.row],
        "transaction_type": side.value,
        "order_type": _ORDER_TYPES[order_type],
        "product": _PRODUCTS[product],
        "validity": duration.value,
        "quantity": str(_number(fields, "quantity", wire_int)),
        "price": str(_number(fields, "price", wire_price, 0.0)),
        "trigger_price": str(_number(fields, "triggerprice", wire_price, 0.0)),
        "disclosed_quantity": str(_number(fields, "disclosedquantity", wire_int)),
    }
    if tag:
        form["tag"] = tag
    if order_type in (OrderType.MARKET, OrderType.STOPLOSS_MARKET):
        # Angel applies its own market protection; the engine (Kite's rules) wants it asked for.
        form["market_protection"] = "-1"
    return ("amo" if variety is Variety.AMO else "regular"), form


def kite_cancel(fields: Mapping[str, Any]) -> tuple[str, str]:
    """Return the engine's ``(variety, order_id)`` of a ``cancelOrder`` request.

    Raises:
        AngelError: AB1008 for an unknown variety, AB4000 without an order id.
    """
    variety = _field(fields, "variety", Variety, ErrorCode.INVALID_VARIETY)
    order_id = str(fields.get("orderid") or "")
    if not order_id:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "orderid is required.", 400)
    return ("amo" if variety is Variety.AMO else "regular"), order_id


def _angel_time(kite_stamp: str | None) -> str:
    if not kite_stamp:
        return ""
    moment = datetime.fromisoformat(kite_stamp)
    return moment.strftime("%d-%b-%Y %H:%M:%S")


def _instrument(listing: Listing | None) -> dict[str, Any]:
    if listing is None:
        return {
            "symboltoken": "",
            "instrumenttype": "",
            "strikeprice": -1.0,
            "optiontype": "",
            "expirydate": "",
            "lotsize": "1",
        }
    return {
        "symboltoken": listing.token,
        "instrumenttype": listing.instrumenttype,
        "strikeprice": -1.0 if listing.strike is None else listing.strike,
        "optiontype": listing.option_type,
        "expirydate": expiry_text(listing.expiry),
        "lotsize": str(listing.lotsize),
    }


def _listing_of(catalog: AngelCatalog, exchange: str, kite_symbol: str) -> Listing | None:
    row = catalog.universe.by_key.get(f"{exchange}:{kite_symbol}")
    return None if row is None else catalog.by_row.get(row)


def angel_order(catalog: AngelCatalog, order: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine order (Kite's shape) as a row of Angel's order book."""
    order = as_placed(order)
    listing = _listing_of(catalog, str(order["exchange"]), str(order["tradingsymbol"]))
    order_type = _BACK_TYPES.get(str(order["order_type"]), OrderType.LIMIT)
    stop = order_type in (OrderType.STOPLOSS_LIMIT, OrderType.STOPLOSS_MARKET)
    variety = Variety.AMO if order["variety"] == "amo" else Variety.STOPLOSS if stop else Variety.NORMAL
    raw_status = str(order["status"])
    status = _STATUSES.get(raw_status, OrderStatus.OPEN_PENDING if "PENDING" in raw_status else raw_status.lower())
    stamp = _angel_time(order.get("exchange_update_timestamp") or order.get("order_timestamp"))
    return {
        "variety": variety.value,
        "ordertype": order_type.value,
        "producttype": _BACK_PRODUCTS.get(str(order["product"]), ProductType.CARRYFORWARD).value,
        "duration": str(order["validity"]),
        "price": float(order["price"] or 0.0),
        "triggerprice": float(order["trigger_price"] or 0.0),
        "quantity": str(order["quantity"]),
        "disclosedquantity": str(order["disclosed_quantity"] or 0),
        "squareoff": 0.0,
        "stoploss": 0.0,
        "trailingstoploss": 0.0,
        "tradingsymbol": listing.symbol if listing else str(order["tradingsymbol"]),
        "transactiontype": str(order["transaction_type"]),
        "exchange": str(order["exchange"]),
        **_instrument(listing),
        "ordertag": order.get("tag") or "",
        "cancelsize": str(order.get("cancelled_quantity") or 0),
        "averageprice": float(order["average_price"] or 0.0),
        "filledshares": str(order["filled_quantity"]),
        "unfilledshares": str(order["pending_quantity"]),
        "orderid": str(order["order_id"]),
        "text": order.get("status_message") or "",
        "status": str(status),
        "orderstatus": str(status),
        "updatetime": stamp,
        "exchtime": _angel_time(order.get("exchange_timestamp")),
        "exchorderupdatetime": _angel_time(order.get("exchange_update_timestamp")),
        "fillid": "",
        "filltime": "",
        "parentorderid": str(order.get("parent_order_id") or ""),
        "uniqueorderid": unique_order_id(str(order["order_id"])),
    }


def angel_trade(catalog: AngelCatalog, trade: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine fill (Kite's shape) as a row of Angel's trade book."""
    listing = _listing_of(catalog, str(trade["exchange"]), str(trade["tradingsymbol"]))
    instrument = _instrument(listing)
    quantity, price = int(trade["quantity"]), float(trade["average_price"])
    return {
        "exchange": str(trade["exchange"]),
        "producttype": _BACK_PRODUCTS.get(str(trade["product"]), ProductType.CARRYFORWARD).value,
        "tradingsymbol": listing.symbol if listing else str(trade["tradingsymbol"]),
        "instrumenttype": instrument["instrumenttype"],
        "symbolgroup": "EQ",
        "strikeprice": instrument["strikeprice"],
        "optiontype": instrument["optiontype"],
        "expirydate": instrument["expirydate"],
        "marketlot": instrument["lotsize"],
        "precision": "2",
        "multiplier": "-1",
        "tradevalue": round(quantity * price, 2),
        "transactiontype": str(trade["transaction_type"]),
        "fillprice": price,
        "fillsize": str(quantity),
        "orderid": str(trade["order_id"]),
        "fillid": str(trade["trade_id"]),
        "filltime": str(trade["fill_timestamp"])[-8:],
    }


def position_row(catalog: AngelCatalog, pos: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine net position (Kite's shape) as a row of Angel's ``getPosition`` (numbers as text)."""
    listing = _listing_of(catalog, str(pos["exchange"]), str(pos["tradingsymbol"]))
    instrument = _instrument(listing)

    def text(value: Any) -> str:
        return f"{float(value or 0):.2f}"

    return {
        "exchange": str(pos["exchange"]),
        "symboltoken": instrument["symboltoken"],
        "producttype": _BACK_PRODUCTS.get(str(pos["product"]), ProductType.CARRYFORWARD).value,
        "tradingsymbol": listing.symbol if listing else str(pos["tradingsymbol"]),
        "symbolname": listing.name if listing else str(pos["tradingsymbol"]),
        "instrumenttype": instrument["instrumenttype"],
        "priceden": "1.00",
        "pricenum": "1.00",
        "genden": "1.00",
        "gennum": "1.00",
        "precision": "2",
        "multiplier": "-1",
        "boardlotsize": "1",
        "buyqty": str(pos["buy_quantity"]),
        "sellqty": str(pos["sell_quantity"]),
        "buyamount": text(pos["buy_value"]),
        "sellamount": text(pos["sell_value"]),
        "symbolgroup": "EQ",
        "strikeprice": text(instrument["strikeprice"]),
        "optiontype": instrument["optiontype"],
        "expirydate": instrument["expirydate"],
        "lotsize": instrument["lotsize"],
        "cfbuyqty": "0",
        "cfsellqty": "0",
        "cfbuyamount": "0.00",
        "cfsellamount": "0.00",
        "buyavgprice": text(pos["buy_price"]),
        "sellavgprice": text(pos["sell_price"]),
        "avgnetprice": text(pos["average_price"]),
        "netvalue": text(pos["value"]),
        "netqty": str(pos["quantity"]),
        "totalbuyvalue": text(pos["buy_value"]),
        "totalsellvalue": text(pos["sell_value"]),
        "cfbuyavgprice": "0.00",
        "cfsellavgprice": "0.00",
        "totalbuyavgprice": text(pos["buy_price"]),
        "totalsellavgprice": text(pos["sell_price"]),
        "netprice": text(pos["average_price"]),
        "ltp": text(pos["last_price"]),
        "close": text(pos["close_price"]),
        "realised": text(pos["realised"]),
        "unrealised": text(pos["unrealised"]),
        "pnl": text(pos["pnl"]),
    }


def holding_row(catalog: AngelCatalog, held: Mapping[str, Any]) -> dict[str, Any]:
    """Return an engine holding (Kite's shape) as a row of Angel's ``getHolding``."""
    listing = _listing_of(catalog, str(held["exchange"]), str(held["tradingsymbol"]))
    quantity, average = int(held["quantity"]), float(held["average_price"])
    ltp, pnl = float(held["last_price"]), float(held["pnl"])
    invested = quantity * average
    return {
        "tradingsymbol": listing.symbol if listing else str(held["tradingsymbol"]),
        "exchange": str(held["exchange"]),
        "isin": str(held.get("isin") or ""),
        "t1quantity": int(held.get("t1_quantity") or 0),
        "realisedquantity": quantity,
        "quantity": quantity,
        "authorisedquantity": int(held.get("authorised_quantity") or 0),
        "product": ProductType.DELIVERY.value,
        "collateralquantity": None,
        "collateraltype": None,
        "haircut": 0.0,
        "averageprice": average,
        "ltp": ltp,
        "symboltoken": listing.token if listing else "",
        "close": float(held.get("close_price") or 0.0),
        "profitandloss": round(pnl, 2),
        "pnlpercentage": round(pnl / invested * 100, 2) if invested else 0.0,
    }


def rms_row(margins: Mapping[str, Any]) -> dict[str, Any]:
    """Return the engine's equity margins (Kite's shape) as Angel's ``getRMS`` (every number as text)."""
    equity = margins.get("equity") or {}
    available, utilised = equity.get("available") or {}, equity.get("utilised") or {}

    def text(value: Any) -> str:
        return f"{float(value or 0):.4f}"

    return {
        "net": text(equity.get("net")),
        "availablecash": text(available.get("cash")),
        "availableintradaypayin": text(available.get("intraday_payin")),
        "availablelimitmargin": text(available.get("adhoc_margin")),
        "collateral": text(available.get("collateral")),
        "m2munrealized": text(utilised.get("m2m_unrealised")),
        "m2mrealized": text(utilised.get("m2m_realised")),
        "utiliseddebits": text(utilised.get("debits")),
        "utilisedspan": text(utilised.get("span")),
        "utilisedoptionpremium": text(utilised.get("option_premium")),
        "utilisedholdingsales": text(utilised.get("holding_sales")),
        "utilisedexposure": text(utilised.get("exposure")),
        "utilisedturnover": text(utilised.get("turnover")),
        "utilisedpayout": text(utilised.get("payout")),
    }
