"""Angel One's order API in the shape kitekit's live broker drives, so its journal and placement logic serve Angel too.

:class:`~kitekit.orders.live.LiveBroker` was written once, against the calls it makes (``place_order``,
``orders``, ``order_history``, ``cancel_order``, ``modify_order``, the books) and the failures it reads
(:func:`kitekit.orders.outcomes.outcome_of`). :class:`AngelOrderClient` answers those calls with Angel's routes
and translates at this edge, both ways:

- requests: Kite's vocabulary (the neutral one: ``regular``, ``CNC``, ``SL-M``, ``NSE:INFY``) to Angel's
  (``NORMAL``/``STOPLOSS``, ``DELIVERY``, ``STOPLOSS_MARKET``, ``INFY-EQ`` + symbol token, ``ordertag``);
- books: Angel's rows (lower-case statuses, numbers as text, ``ordertag``) to Kite's order objects, keyed by
  the neutral symbol and token;
- failures: Angel's answers to what they mean for an order. A rate-limited or 5xx answer, or one that is not
  Angel's JSON, is *in doubt* (looked up by ``ordertag`` before anything is sent again, never re-sent blindly);
  a refusal in the OMS dialect made nothing; a rejected JWT was turned away at the gateway.

:class:`AngelLiveBroker` is the live broker with Angel's tag rule (at most 19 characters: Angel refuses 20).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kiteconnect import exceptions as kex

from kitekit.brokers.angel.capabilities import ANGEL_CAPABILITIES
from kitekit.brokers.angel.client import AngelApiError, AngelClient
from kitekit.clock import IST
from kitekit.errors import BrokerFeatureError, UnknownInstrumentError
from kitekit.orders.journal import derive_tag, new_intent_id
from kitekit.orders.live import LiveBroker
from kitekit.orders.model import OrderRequest, Placement
from kitekit.orders.placement import Budget
from kitekit.wire.angel.envelope import Dialect, ErrorCode
from kitekit.wire.angel.orders import OrderStatus as AngelStatus
from kitekit.wire.angel.orders import OrderType as AngelType
from kitekit.wire.angel.orders import ProductType, Variety
from kitekit.wire.angel.routes import RATE_LIMITS, Route

if TYPE_CHECKING:
    from kitekit.brokers.angel.instruments import AngelInstruments
    from kitekit.orders.gateway import QuoteAtHand

__all__ = ["AngelLiveBroker", "AngelOrderClient", "to_kite_order"]

_TYPES = {
    "MARKET": AngelType.MARKET,
    "LIMIT": AngelType.LIMIT,
    "SL": AngelType.STOPLOSS_LIMIT,
    "SL-M": AngelType.STOPLOSS_MARKET,
}
_BACK_TYPES = {v.value: k for k, v in _TYPES.items()}
_PRODUCTS = {
    "CNC": ProductType.DELIVERY,
    "MIS": ProductType.INTRADAY,
    "NRML": ProductType.CARRYFORWARD,
    "MTF": ProductType.MARGIN,
}
_BACK_PRODUCTS = {v.value: k for k, v in _PRODUCTS.items()}
_STATUSES = {
    AngelStatus.OPEN: "OPEN",
    AngelStatus.OPEN_PENDING: "OPEN PENDING",
    AngelStatus.TRIGGER_PENDING: "TRIGGER PENDING",
    AngelStatus.COMPLETE: "COMPLETE",
    AngelStatus.CANCELLED: "CANCELLED",
    AngelStatus.REJECTED: "REJECTED",
    AngelStatus.MODIFIED: "OPEN",  # Angel's "modified" is an open order whose terms changed
    AngelStatus.VALIDATION_PENDING: "VALIDATION PENDING",
    AngelStatus.AMO_RECEIVED: "AMO REQ RECEIVED",
}
#: Refusals in the OMS dialect that are Angel's own failure, not the request's: the order may exist.
_IN_DOUBT = frozenset({ErrorCode.SOMETHING_WRONG.value, ErrorCode.INTERNAL_ERROR.value})


def _time(text: Any) -> str | None:
    """Return Angel's ``27-Nov-2026 11:00:00`` as Kite's ``2026-11-27 11:00:00`` (None when empty or unreadable)."""
    if not text:
        return None
    try:
        return datetime.strptime(str(text), "%d-%b-%Y %H:%M:%S").replace(tzinfo=IST).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None


def kite_error(exc: AngelApiError) -> kex.KiteException:
    """Return the SDK exception telling :func:`~kitekit.orders.outcomes.outcome_of` what ``exc`` means for an order."""
    failure = exc.failure
    if failure.dialect is Dialect.RATE_LIMIT:
        # Angel's gateway counts the request before refusing it; kitekit treats it as Kite's 429: in doubt.
        return kex.NetworkException(str(exc), code=429)
    if failure.dialect is Dialect.NOT_JSON or failure.http_status >= 500 or failure.code in _IN_DOUBT:
        return kex.NetworkException(str(exc), code=max(failure.http_status, 502))
    if failure.code == ErrorCode.ORDER_NOT_FOUND.value:
        return kex.OrderException(str(exc), code=400)
    return kex.InputException(str(exc), code=400)


def to_kite_order(row: Mapping[str, Any], instruments: AngelInstruments) -> dict[str, Any]:
    """Return a row of Angel's order book as Kite's order object, named by the neutral symbol and token."""
    exchange, token = str(row.get("exchange", "")), str(row.get("symboltoken", ""))
    try:
        inst = instruments.instrument(f"{exchange}|{token}")
        symbol, number = inst.symbol, inst.token
    except UnknownInstrumentError:
        symbol, number = str(row.get("tradingsymbol", "")), 0
    status = str(row.get("status") or row.get("orderstatus") or "")
    try:
        kite_status = _STATUSES[AngelStatus(status)]
    except ValueError:
        kite_status = status.upper()
    stamp = _time(row.get("updatetime"))
    return {
        "order_id": str(row.get("orderid", "")),
        "status": kite_status,
        "exchange": exchange,
        "tradingsymbol": symbol,
        "instrument_token": number,
        "transaction_type": str(row.get("transactiontype", "BUY")),
        "order_type": _BACK_TYPES.get(str(row.get("ordertype")), "LIMIT"),
        "product": _BACK_PRODUCTS.get(str(row.get("producttype")), "NRML"),
        "variety": "amo" if row.get("variety") == Variety.AMO else "regular",
        "validity": str(row.get("duration") or "DAY"),
        "quantity": int(float(row.get("quantity") or 0)),
        "price": float(row.get("price") or 0.0),
        "trigger_price": float(row.get("triggerprice") or 0.0),
        "average_price": float(row.get("averageprice") or 0.0),
        "filled_quantity": int(float(row.get("filledshares") or 0)),
        "pending_quantity": int(float(row.get("unfilledshares") or 0)),
        "cancelled_quantity": int(float(row.get("cancelsize") or 0)),
        "disclosed_quantity": int(float(row.get("disclosedquantity") or 0)),
        "tag": str(row.get("ordertag") or "") or None,
        "status_message": str(row.get("text") or "") or None,
        "order_timestamp": stamp,
        "exchange_timestamp": _time(row.get("exchtime")),
        "exchange_order_id": None,
        "parent_order_id": str(row.get("parentorderid") or "") or None,
        "angel": dict(row),
    }


class AngelOrderClient:
    """Angel's orders, books and funds answered in the calls and shapes ``LiveBroker`` uses.

    Args:
        client: the paced Angel client on the session.
        instruments: Angel's instruments (the neutral symbol to Angel's symbol and token, and back).
        clock: the time the broker reads (``clock_of`` looks for it here).
    """

    def __init__(self, client: AngelClient, instruments: AngelInstruments, clock: Any) -> None:
        self.client = client
        self.instruments = instruments
        self.clock = clock
        self.root = client.root
        self.reqsession = client.reqsession
        self._varieties: dict[str, str] = {}
        self._lock = threading.Lock()

    def _call(self, route: Route, body: Mapping[str, Any] | None = None, method: str = "POST") -> Any:
        try:
            return self.client.call(route, body, method=method)
        except AngelApiError as exc:
            raise kite_error(exc) from exc

    def profile(self) -> dict[str, Any]:
        """Return who is logged in, as Kite's profile (``user_id`` is the client code). Route: ``GET getProfile``."""
        data = self._call(Route.PROFILE, method="GET") or {}
        return {"user_id": str(data.get("clientcode") or self.client.client_code), "user_name": data.get("name", "")}

    def place_order(self, variety: str = "regular", *, tag: str | None = None, **kite: Any) -> str:
        """Place one order given in Kite's terms; return Angel's order id. Route: ``POST placeOrder``."""
        request = OrderRequest.from_kite({"variety": variety, **kite})
        inst = self.instruments.instrument(f"{request.exchange}:{request.tradingsymbol}")
        order_type = _TYPES[str(request.order_type)]
        stop = order_type in (AngelType.STOPLOSS_LIMIT, AngelType.STOPLOSS_MARKET)
        body: dict[str, Any] = {
            "variety": (
                Variety.AMO if str(request.variety) == "amo" else Variety.STOPLOSS if stop else Variety.NORMAL
            ).value,
            "tradingsymbol": self.instruments.angel_symbol(inst),
            "symboltoken": inst.broker_key.partition("|")[2],
            "transactiontype": str(request.transaction_type),
            "exchange": inst.exchange,
            "ordertype": order_type.value,
            "producttype": _PRODUCTS.get(str(request.product or "CNC"), ProductType.DELIVERY).value,
            "duration": str(request.validity or "DAY"),
            "price": str(request.price or 0),
            "triggerprice": str(request.trigger_price or 0),
            "quantity": str(request.quantity),
            "disclosedquantity": str(request.disclosed_quantity or 0),
            "squareoff": "0",
            "stoploss": "0",
        }
        if tag:
            body["ordertag"] = tag
        data = self._call(Route.ORDER_PLACE, body) or {}
        order_id = str(data.get("orderid") or "")
        if not order_id:
            # An acceptance without an id cannot be told from a failure: in doubt, looked up by its tag.
            raise kex.DataException("Angel One accepted an order but named no orderid", code=502)
        return order_id

    def _book(self) -> list[dict[str, Any]]:
        rows = self._call(Route.ORDER_BOOK, method="GET") or []
        orders = [to_kite_order(r, self.instruments) for r in rows if isinstance(r, dict)]
        with self._lock:
            for order in orders:
                self._varieties[order["order_id"]] = str(order["angel"].get("variety") or Variety.NORMAL)
        return orders

    def orders(self) -> list[dict[str, Any]]:
        """Return today's orders as Kite's order objects, oldest first. Route: ``GET getOrderBook``."""
        return self._book()

    def order_history(self, order_id: str) -> list[dict[str, Any]]:
        """Return an order's current state as a one-entry history (Angel keeps no history of states).

        Raises:
            OrderException: no such order today.
        """
        found = [o for o in self._book() if o["order_id"] == str(order_id)]
        if not found:
            raise kex.OrderException(f"Angel One has no order {order_id} today", code=400)
        return found

    def cancel_order(self, variety: str, order_id: str, parent_order_id: str | None = None) -> str:
        """Cancel an order. Route: ``POST cancelOrder``."""
        with self._lock:
            angel_variety = self._varieties.get(
                str(order_id), Variety.AMO.value if variety == "amo" else Variety.NORMAL.value
            )
        self._call(Route.ORDER_CANCEL, {"variety": angel_variety, "orderid": str(order_id)})
        return str(order_id)

    def modify_order(self, variety: str, order_id: str, parent_order_id: str | None = None, **change: Any) -> str:
        """Change an open order's terms (those not given are kept). Route: ``POST modifyOrder``."""
        current = next((o for o in self._book() if o["order_id"] == str(order_id)), None)
        if current is None:
            raise kex.OrderException(f"Angel One has no order {order_id} today", code=400)
        row = current["angel"]
        order_type = _TYPES[str(change.get("order_type") or current["order_type"])]
        body = {
            "variety": row.get("variety") or Variety.NORMAL.value,
            "orderid": str(order_id),
            "ordertype": order_type.value,
            "producttype": row.get("producttype"),
            "duration": str(change.get("validity") or row.get("duration") or "DAY"),
            "price": str(change["price"] if change.get("price") is not None else current["price"]),
            "triggerprice": str(
                change["trigger_price"] if change.get("trigger_price") is not None else current["trigger_price"]
            ),
            "quantity": str(change["quantity"] if change.get("quantity") is not None else current["quantity"]),
            "tradingsymbol": row.get("tradingsymbol"),
            "symboltoken": row.get("symboltoken"),
            "exchange": row.get("exchange"),
            "transactiontype": row.get("transactiontype"),
        }
        self._call(Route.ORDER_MODIFY, body)
        return str(order_id)

    def exit_order(self, variety: str, order_id: str, parent_order_id: str | None = None) -> str:
        """Angel has no cover orders: an exit is a cancel."""
        return self.cancel_order(variety, order_id, parent_order_id)

    def trades(self) -> list[dict[str, Any]]:
        """Return today's fills as Kite's trade objects. Route: ``GET getTradeBook``."""
        rows = self._call(Route.TRADE_BOOK, method="GET") or []
        out = []
        for row in rows:
            try:
                inst = self.instruments.instrument(f"{row.get('exchange')}:{row.get('tradingsymbol')}")
                symbol, number = inst.symbol, inst.token
            except UnknownInstrumentError:
                symbol, number = str(row.get("tradingsymbol", "")), 0
            out.append(
                {
                    "trade_id": str(row.get("fillid", "")),
                    "order_id": str(row.get("orderid", "")),
                    "exchange": str(row.get("exchange", "")),
                    "tradingsymbol": symbol,
                    "instrument_token": number,
                    "product": _BACK_PRODUCTS.get(str(row.get("producttype")), "NRML"),
                    "transaction_type": str(row.get("transactiontype", "BUY")),
                    "quantity": int(float(row.get("fillsize") or 0)),
                    "average_price": float(row.get("fillprice") or 0.0),
                    "fill_timestamp": None,
                }
            )
        return out

    def _listed(self, row: Mapping[str, Any]) -> tuple[str, int | None]:
        """Return the symbol and token of a position or holding row (its own symbol and 0 when not listed)."""
        try:
            inst = self.instruments.instrument(f"{row.get('exchange')}|{row.get('symboltoken')}")
        except UnknownInstrumentError:
            return str(row.get("tradingsymbol", "")), 0
        return inst.symbol, inst.token

    def positions(self) -> dict[str, list[dict[str, Any]]]:
        """Return net positions as Kite's (Angel lists no separate day positions). Route: ``GET getPosition``."""
        rows = self._call(Route.POSITION, method="GET") or []
        net = []
        for row in rows:
            symbol, number = self._listed(row)
            net.append(
                {
                    "exchange": row.get("exchange"),
                    "tradingsymbol": symbol,
                    "instrument_token": number,
                    "product": _BACK_PRODUCTS.get(str(row.get("producttype")), "NRML"),
                    "quantity": row.get("netqty"),
                    "average_price": row.get("avgnetprice"),
                    "last_price": row.get("ltp"),
                    "pnl": row.get("pnl"),
                    "realised": row.get("realised"),
                    "unrealised": row.get("unrealised"),
                    "buy_quantity": row.get("buyqty"),
                    "sell_quantity": row.get("sellqty"),
                    "buy_value": row.get("buyamount"),
                    "sell_value": row.get("sellamount"),
                }
            )
        return {"net": net, "day": []}

    def holdings(self) -> list[dict[str, Any]]:
        """Return the holdings as Kite's. Route: ``GET getHolding``."""
        rows = self._call(Route.HOLDING, method="GET") or []
        out = []
        for row in rows:
            symbol, number = self._listed(row)
            out.append(
                {
                    "exchange": row.get("exchange"),
                    "tradingsymbol": symbol,
                    "instrument_token": number,
                    "isin": row.get("isin"),
                    "quantity": row.get("quantity"),
                    "t1_quantity": row.get("t1quantity"),
                    "average_price": row.get("averageprice"),
                    "last_price": row.get("ltp"),
                    "close_price": row.get("close"),
                    "pnl": row.get("profitandloss"),
                }
            )
        return out

    def margins(self) -> dict[str, Any]:
        """Return funds as Kite's equity segment (Angel's RMS is one pool). Route: ``GET getRMS``."""
        rms = self._call(Route.RMS, method="GET") or {}
        return {
            "equity": {
                "enabled": True,
                "net": rms.get("net"),
                "available": {"cash": rms.get("availablecash"), "live_balance": rms.get("net")},
                "utilised": {"debits": rms.get("utiliseddebits")},
            },
            "commodity": {"enabled": False},
        }

    def order_margins(self, items: Any) -> Any:
        """Not offered here: Angel's margin calculator is not modelled (BrokerFeatureError)."""
        raise BrokerFeatureError("Angel One's margin calculator is not available through kitekit yet")

    def get_virtual_contract_note(self, items: Any) -> Any:
        """Not offered by Angel One (BrokerFeatureError)."""
        raise BrokerFeatureError("Angel One has no contract-note calculator")


class AngelLiveBroker(LiveBroker):
    """The live broker on Angel One: the same journal and placement logic, with Angel's shorter order tag."""

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: QuoteAtHand = None
    ) -> Placement:
        """Validate ``request`` and place it once for ``intent_id`` (see :meth:`LiveBroker.place`).

        Routes: ``POST placeOrder``; ``GET getOrderBook`` after any doubt (the order looked up by ``ordertag``).
        """
        if tag is None:
            intent_id = intent_id or new_intent_id()
            # Kite's derived tags are 20 characters; Angel refuses 20 (AB4008): the digest is cut by one.
            tag = derive_tag(intent_id, self.account, self.placer.today())[: ANGEL_CAPABILITIES.tag.max_length]
        return super().place(request, intent_id, tag=tag, quote=quote)


def live_broker(
    client: AngelClient, instruments: AngelInstruments, folder: Path, clock: Any, **options: Any
) -> AngelLiveBroker:
    """Return the live Angel broker journaling in ``folder``."""
    shim = AngelOrderClient(client, instruments, clock)
    # Angel allows 500 order requests a minute (Kite 400); its 1,000 an hour has no local budget: a request
    # past it is answered 403, which is in doubt and looked up by tag like any other.
    options.setdefault("budget", Budget(per_minute=RATE_LIMITS[Route.ORDER_PLACE].per_minute or Budget.per_minute))
    return AngelLiveBroker(shim, instruments.rule_facts(), folder=folder, clock=clock, **options)
