"""Upstox's order API in the shape kitekit's order gateway speaks, so ``LiveBroker`` runs on it unchanged.

``LiveBroker`` (pre-trade rules, the intent journal, place-once-per-intent, the lookup by tag after any doubt)
was written against the calls of Kite's client. :class:`UpstoxOrderClient` offers those calls over Upstox's
routes and translates at this edge only: Kite's products, statuses and ``EXCHANGE:SYMBOL`` names to
Upstox's (``I``/``D``, lowercase statuses, instrument keys) and back. Upstox's error answers become the SDK
exceptions the gateway's outcome table reads, by HTTP status: a 4xx is a refusal (nothing was made), a 429 or
5xx leaves the order in doubt (looked up by its tag in the order book, never re-sent blindly), and no answer
at all propagates as the transport error it is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn

from kiteconnect.exceptions import GeneralException, InputException

from kitekit.brokers.capabilities import Endpoint
from kitekit.brokers.upstox.client import UpstoxApiError, UpstoxClient
from kitekit.brokers.upstox.instruments import UpstoxInstruments
from kitekit.errors import BrokerFeatureError
from kitekit.wire.upstox.orders import OrderStatus, Product, kite_product, upstox_product
from kitekit.wire.upstox.routes import Route

__all__ = ["UpstoxOrderClient", "kite_order", "kite_status"]

_KITE_STATUS = {
    OrderStatus.AFTER_MARKET_ORDER_REQ_RECEIVED: "AMO REQ RECEIVED",
    OrderStatus.MODIFY_AFTER_MARKET_ORDER_REQ_RECEIVED: "AMO REQ RECEIVED",
    OrderStatus.CANCELLED_AFTER_MARKET_ORDER: "CANCELLED",
    OrderStatus.NOT_MODIFIED: "OPEN",
    OrderStatus.NOT_CANCELLED: "OPEN",
}


def kite_status(status: str) -> str:
    """Return the neutral (Kite's) status of an Upstox one (``trigger pending`` → ``TRIGGER PENDING``)."""
    try:
        known = OrderStatus(status)
    except ValueError:
        return status.upper()
    return _KITE_STATUS.get(known, known.value.upper())


def kite_order(item: Mapping[str, Any], instruments: UpstoxInstruments) -> dict[str, Any]:
    """Return one Upstox order object as the Kite-shaped order the gateway reads."""
    key = str(item.get("instrument_token") or "")
    try:
        found = instruments.instrument(key)
        exchange, symbol, token = found.exchange, found.symbol, found.token or 0
        derivative = found.kind.derivative
    except (KeyError, ValueError):
        exchange, symbol, token, derivative = (
            str(item.get("exchange", "")),
            str(item.get("trading_symbol", "")),
            0,
            False,
        )
    try:
        product = kite_product(Product(str(item.get("product"))), derivative) or str(item.get("product"))
    except ValueError:
        product = str(item.get("product"))
    variety = "amo" if item.get("is_amo") else ("co" if item.get("variety") == "CO" else "regular")
    filled = int(item.get("filled_quantity") or 0)
    quantity = int(item.get("quantity") or 0)
    status = kite_status(str(item.get("status", "")))
    return {
        **item,
        "order_id": str(item["order_id"]),
        "status": status,
        "exchange": exchange,
        "tradingsymbol": symbol,
        "instrument_token": token,
        "product": product,
        "variety": variety,
        "cancelled_quantity": quantity - filled if status == "CANCELLED" else 0,
        "tag": item.get("tag"),
    }


def _raise(error: UpstoxApiError) -> NoReturn:
    """Raise ``error`` as the SDK exception the gateway's outcome table reads by its HTTP status."""
    if error.status == 429 or error.status >= 500:
        raise GeneralException(str(error), code=error.status) from error  # in doubt: looked up by tag
    raise InputException(str(error), code=400) from error


class UpstoxOrderClient:
    """The calls of Kite's client the order gateway makes, on Upstox's routes.

    Args:
        client: the REST client on the session.
        instruments: names to Upstox's instrument keys and back.
    """

    def __init__(self, client: UpstoxClient, instruments: UpstoxInstruments) -> None:
        self.client = client
        self.instruments = instruments
        self.root = client.order_url  # where order requests leave for (the static-IP check reads it)
        self.reqsession = client.session

    def _call(self, method: str, path: str, endpoint: Endpoint = Endpoint.ORDER, **kwargs: Any) -> Any:
        try:
            return self.client.call(method, path, endpoint, **kwargs)
        except UpstoxApiError as exc:
            _raise(exc)

    def profile(self) -> dict[str, Any]:
        """Return the user's profile. Route: ``GET /v2/user/profile``."""
        found: dict[str, Any] = self._call("GET", Route.PROFILE, Endpoint.OTHER)
        return found

    def place_order(self, variety: str, **params: Any) -> str:
        """Place one order; return its id. Route: ``POST /v2/order/place`` (the order host)."""
        if variety not in ("regular", "amo"):
            raise InputException(f"Upstox takes no {variety} orders through kitekit's gateway", code=400)
        found = self.instruments.instrument(f"{params['exchange']}:{params['tradingsymbol']}")
        body: dict[str, Any] = {
            "quantity": int(params["quantity"]),
            "product": upstox_product(str(params.get("product") or "CNC")).value,
            "validity": str(params.get("validity") or "DAY"),
            "price": float(params.get("price") or 0.0),
            "instrument_token": found.broker_key,
            "order_type": str(params.get("order_type") or "MARKET"),
            "transaction_type": str(params["transaction_type"]),
            "disclosed_quantity": int(params.get("disclosed_quantity") or 0),
            "trigger_price": float(params.get("trigger_price") or 0.0),
            "is_amo": variety == "amo",
        }
        if params.get("tag"):
            body["tag"] = str(params["tag"])
        if params.get("market_protection") not in (None, ""):
            body["market_protection"] = float(params["market_protection"])
        answer = self._call("POST", Route.PLACE_V2, json=body)
        return str(answer["order_id"])

    def modify_order(self, variety: str, order_id: str, **change: Any) -> str:
        """Change an open order. Route: ``PUT /v2/order/modify``."""
        current = self._order(order_id)
        body: dict[str, Any] = {
            "order_id": order_id,
            "validity": str(change.get("validity") or current.get("validity") or "DAY"),
            "price": float(change["price"] if change.get("price") is not None else current.get("price") or 0.0),
            "order_type": str(change.get("order_type") or current.get("order_type")),
            "trigger_price": float(
                change["trigger_price"]
                if change.get("trigger_price") is not None
                else current.get("trigger_price") or 0
            ),
        }
        if change.get("quantity") is not None:
            body["quantity"] = int(change["quantity"])
        if change.get("disclosed_quantity") is not None:
            body["disclosed_quantity"] = int(change["disclosed_quantity"])
        answer = self._call("PUT", Route.MODIFY_V2, json=body)
        return str(answer.get("order_id", order_id))

    def cancel_order(self, variety: str, order_id: str, parent_order_id: str | None = None) -> str:
        """Cancel an open order. Route: ``DELETE /v2/order/cancel?order_id=``."""
        answer = self._call("DELETE", Route.CANCEL_V2, params={"order_id": order_id})
        return str(answer.get("order_id", order_id))

    def exit_order(self, variety: str, order_id: str, parent_order_id: str | None = None) -> str:
        """Exit a cover order: Upstox's is a cancel of its open leg. Route: ``DELETE /v2/order/cancel``."""
        return self.cancel_order(variety, order_id, parent_order_id)

    def _order(self, order_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self._call("GET", Route.ORDER_DETAILS, Endpoint.OTHER, params={"order_id": order_id})
        return found

    def orders(self) -> list[dict[str, Any]]:
        """Return the day's orders, Kite-shaped. Route: ``GET /v2/order/retrieve-all``."""
        return [kite_order(o, self.instruments) for o in self._call("GET", Route.ORDER_BOOK, Endpoint.OTHER) or []]

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        """Return each state of an order, oldest first. Route: ``GET /v2/order/history?order_id=``."""
        states = self._call("GET", Route.ORDER_HISTORY, Endpoint.OTHER, params={"order_id": order_id}) or []
        return [kite_order(o, self.instruments) for o in states]

    def trades(self) -> list[dict[str, Any]]:
        """Return the day's fills, Kite-shaped. Route: ``GET /v2/order/trades/get-trades-for-day``."""
        out = []
        for t in self._call("GET", Route.TRADES_DAY, Endpoint.OTHER) or []:
            shaped = kite_order({**t, "status": "complete", "quantity": t.get("quantity")}, self.instruments)
            out.append({**shaped, "fill_timestamp": t.get("exchange_timestamp"), "trade_id": str(t.get("trade_id"))})
        return out

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        """Return net positions (Upstox lists one book; its day figures are in each). Route: short-term positions."""
        rows = self._call("GET", Route.POSITIONS, Endpoint.OTHER) or []
        net = [
            {
                **kite_order({**p, "order_id": "", "status": ""}, self.instruments),
                "buy_quantity": int(p.get("day_buy_quantity") or 0) + int(p.get("overnight_buy_quantity") or 0),
                "sell_quantity": int(p.get("day_sell_quantity") or 0) + int(p.get("overnight_sell_quantity") or 0),
                "m2m": p.get("pnl"),
            }
            for p in rows
        ]
        return {"net": net, "day": [p for p in net if p["buy_quantity"] or p["sell_quantity"]]}

    def holdings(self) -> list[dict[str, Any]]:
        """Return the holdings, Kite-shaped. Route: ``GET /v2/portfolio/long-term-holdings``."""
        rows = self._call("GET", Route.HOLDINGS, Endpoint.OTHER) or []
        return [{**kite_order({**h, "order_id": "", "status": ""}, self.instruments)} for h in rows]

    def margins(self) -> dict[str, Any]:
        """Return funds per segment, Kite-shaped. Route: ``GET /v2/user/get-funds-and-margin``."""
        data = self._call("GET", Route.FUNDS_V2, Endpoint.OTHER) or {}
        out: dict[str, Any] = {}
        for name in ("equity", "commodity"):
            seg = data.get(name) or {}
            out[name] = {
                "enabled": bool(seg),
                "net": seg.get("available_margin", 0.0),
                "available": {
                    "cash": seg.get("available_margin", 0.0),
                    "live_balance": seg.get("available_margin", 0.0),
                },
                "utilised": {"debits": seg.get("used_margin", 0.0)},
            }
        return out

    def _unsupported(self, what: str) -> Callable[..., NoReturn]:
        def refuse(*args: Any, **kwargs: Any) -> NoReturn:
            raise BrokerFeatureError(f"Upstox offers no {what} through kitekit")

        return refuse

    def order_margins(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: kitekit does not ask Upstox for margins per order yet."""
        self._unsupported("margin calculation per order")()

    def get_virtual_contract_note(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refuse: Upstox has no contract-note estimate."""
        self._unsupported("charges estimate")()
