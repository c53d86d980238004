"""Kite's alerts API (``/alerts``): the vocabulary, the form an alert is created with, its checks, its condition.

Shared by the simulator (which stores and triggers alerts) and the client (which checks an alert before it
sends it), so the two refuse the same alerts with the same words. The public references are Kite's alerts
page (https://kite.trade/docs/connect/v3/alerts/), the Go SDK's ``alerts.go`` and kiteconnect-mocks'
``alerts_get_one.json``. What those leave open is decided here, once, and listed as unconfirmed in
``docs/simulator.md`` ("Alerts"): the attribute names besides ``LastTradedPrice``, the refusal texts, and
what becomes of an alert that fired.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.order_terms import MAX_NUMBER
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "ALERT_EXCHANGES",
    "ATTRIBUTES",
    "BASKET_MAX_ITEMS",
    "FIRED_REASON",
    "MAX_ALERTS",
    "NAME_MAX",
    "AlertOperator",
    "AlertStatus",
    "AlertTerms",
    "AlertType",
    "RhsType",
    "alert_not_found",
    "attribute_value",
    "basket_orders",
    "json_number",
    "parse_alert_form",
    "too_many_alerts",
]

#: Alerts a user may hold, disabled ones included (Zerodha support, "What are Kite alerts", 2025).
MAX_ALERTS = 200
#: SIM: the longest name accepted (Kite does not publish one).
NAME_MAX = 100
#: SIM: the most orders an ATO basket holds (Kite's baskets hold 50; the alerts page names no limit).
BASKET_MAX_ITEMS = 50
#: The exchanges an alert's instruments may be on; indices are named on ``INDICES`` (Kite's example).
ALERT_EXCHANGES: tuple[str, ...] = ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX", "INDICES")
#: SIM: ``disabled_reason`` of an alert that fired: Kite's alerts fire once, then wait to be enabled again.
FIRED_REASON = "Alert triggered"


class AlertType(StrEnum):
    """``type``: a notification, or an alert that places its basket of orders (alert triggers order)."""

    SIMPLE = "simple"
    ATO = "ato"


class AlertStatus(StrEnum):
    """``status`` of an alert."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"


class AlertOperator(StrEnum):
    """``operator`` between the two sides of the condition."""

    LE = "<="
    GE = ">="
    LT = "<"
    GT = ">"
    EQ = "=="

    def holds(self, lhs: float, rhs: float) -> bool:
        """Return True if ``lhs <operator> rhs``."""
        if self is AlertOperator.LE:
            return lhs <= rhs
        if self is AlertOperator.GE:
            return lhs >= rhs
        if self is AlertOperator.LT:
            return lhs < rhs
        if self is AlertOperator.GT:
            return lhs > rhs
        return math.isclose(lhs, rhs, rel_tol=0.0, abs_tol=1e-9)

    def reached_within(self, low: float, high: float, rhs: float) -> bool:
        """Return True if a price that moved through every value from ``low`` to ``high`` met the condition."""
        if self in (AlertOperator.LE, AlertOperator.LT):
            return self.holds(low, rhs)
        if self in (AlertOperator.GE, AlertOperator.GT):
            return self.holds(high, rhs)
        return low <= rhs <= high


class RhsType(StrEnum):
    """``rhs_type``: the condition's right side is a number, or another instrument's attribute."""

    CONSTANT = "constant"
    INSTRUMENT = "instrument"


#: Each attribute an alert compares, and where a ``GET /quote`` item holds it. ``LastTradedPrice`` is Kite's
#: (its alerts page); the others are the data points Zerodha lists for alerts (OHLC, day and intraday change,
#: average price, buy and sell quantity, OI and its day range, volume, last quantity) named in its style:
#: SIM, unconfirmed. The two changes are percentages, from the previous close and from the day's open.
ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "LastTradedPrice": ("last_price",),
    "LastTradedQuantity": ("last_quantity",),
    "AverageTradedPrice": ("average_price",),
    "Volume": ("volume",),
    "TotalBuyQuantity": ("buy_quantity",),
    "TotalSellQuantity": ("sell_quantity",),
    "OpenPrice": ("ohlc", "open"),
    "HighPrice": ("ohlc", "high"),
    "LowPrice": ("ohlc", "low"),
    "ClosePrice": ("ohlc", "close"),
    "DayChangePercent": (),
    "IntradayChangePercent": (),
    "OpenInterest": ("oi",),
    "OIDayHigh": ("oi_day_high",),
    "OIDayLow": ("oi_day_low",),
}


def attribute_value(attribute: str, item: Mapping[str, Any]) -> float | None:
    """Return ``attribute`` of an instrument from its ``GET /quote`` item, or None when the item lacks it.

    Raises:
        KeyError: not an attribute of :data:`ATTRIBUTES`.
    """
    path = ATTRIBUTES[attribute]
    if not path:
        last, ohlc = item.get("last_price"), item.get("ohlc") or {}
        base = ohlc.get("close") if attribute == "DayChangePercent" else ohlc.get("open")
        if not isinstance(last, int | float) or not isinstance(base, int | float) or not base:
            return None
        return (float(last) - float(base)) / float(base) * 100.0
    value: Any = item
    for step in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def json_number(value: float) -> int | float:
    """Return ``value`` as Kite writes it in JSON: ``27000`` for a whole number, ``27000.5`` otherwise."""
    return int(value) if float(value).is_integer() and abs(value) < 2**53 else value


# -- refusals: Kite's texts are not public; these are the simulator's and the client's, in one place -----------
def _refuse(message: str) -> RejectionError:
    return RejectionError(ErrorType.INPUT, message)


def too_many_alerts() -> RejectionError:
    """Return the refusal of an alert beyond :data:`MAX_ALERTS` (400 InputException; SIM wording)."""
    return _refuse(f"You can have at most {MAX_ALERTS} alerts, disabled ones included. Delete some to add more.")


def alert_not_found(uuid: str) -> RejectionError:
    """Return the refusal of an unknown (or deleted) alert's uuid (400 InputException; SIM wording)."""
    return _refuse(f"Alert {uuid!r} not found.")


@dataclass(frozen=True)
class AlertTerms:
    """What an alert is made of: its name, type, condition and, for an ATO alert, its basket.

    The form fields of ``POST /alerts`` and ``PUT /alerts/{uuid}``, checked (:func:`parse_alert_form`).
    """

    name: str
    type: AlertType
    lhs_exchange: str
    lhs_tradingsymbol: str
    lhs_attribute: str
    operator: AlertOperator
    rhs_type: RhsType
    rhs_constant: float = 0.0
    rhs_exchange: str = ""
    rhs_tradingsymbol: str = ""
    rhs_attribute: str = ""
    basket: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def lhs_key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL`` of the left side."""
        return f"{self.lhs_exchange}:{self.lhs_tradingsymbol}"

    @property
    def rhs_key(self) -> str | None:
        """Return ``EXCHANGE:TRADINGSYMBOL`` of the right side, or None when it is a constant."""
        return f"{self.rhs_exchange}:{self.rhs_tradingsymbol}" if self.rhs_type is RhsType.INSTRUMENT else None

    def condition(self) -> str:
        """Return the condition as an alert's history writes it: ``LastTradedPrice("INDICES:NIFTY 50") >= 27000``."""
        lhs = f'{self.lhs_attribute}("{self.lhs_key}")'
        if self.rhs_type is RhsType.INSTRUMENT:
            rhs = f'{self.rhs_attribute}("{self.rhs_key}")'
        else:
            rhs = str(json_number(self.rhs_constant))
        return f"{lhs} {self.operator} {rhs}"

    def to_form(self) -> dict[str, str]:
        """Return the form fields as the Go SDK sends them (the right side's fields only for its kind)."""
        form = {
            "name": self.name,
            "type": str(self.type),
            "lhs_exchange": self.lhs_exchange,
            "lhs_tradingsymbol": self.lhs_tradingsymbol,
            "lhs_attribute": self.lhs_attribute,
            "operator": str(self.operator),
            "rhs_type": str(self.rhs_type),
        }
        if self.rhs_type is RhsType.CONSTANT:
            form["rhs_constant"] = str(json_number(self.rhs_constant))
        else:
            form.update(
                rhs_exchange=self.rhs_exchange,
                rhs_tradingsymbol=self.rhs_tradingsymbol,
                rhs_attribute=self.rhs_attribute,
            )
        if self.basket is not None:
            form["basket"] = json.dumps(self.basket, separators=(",", ":"))
        return form

    def checked(self) -> AlertTerms:
        """Return these terms after the checks :func:`parse_alert_form` makes (a client checks before sending).

        Raises:
            RejectionError: InputException naming the first field that is wrong.
        """
        return parse_alert_form(self.to_form())


_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)", re.ASCII)


def _number(value: str, name: str) -> float:
    if not _DECIMAL.fullmatch(value):
        raise _refuse(f"Invalid `{name}` {value!r}. It must be a number.")
    parsed = float(value)
    if abs(parsed) > MAX_NUMBER:
        raise _refuse(f"Invalid `{name}` {value!r}. It must be a number below {MAX_NUMBER:g}.")
    return parsed


def _required(form: Mapping[str, str], name: str) -> str:
    value = (form.get(name) or "").strip()
    if not value:
        raise _refuse(f"Missing `{name}`.")
    return value


def _choice(form: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> str:
    value = _required(form, name)
    if value not in allowed:
        raise _refuse(f"Invalid `{name}` {value!r}. Use one of {', '.join(allowed)}.")
    return value


def parse_alert_form(form: Mapping[str, str]) -> AlertTerms:
    """Parse and check the form of ``POST /alerts`` or ``PUT /alerts/{uuid}`` (every field, as Kite takes it).

    Whether the instruments exist is for the caller to check (the simulator against its listing, the client
    against its instrument store); this checks the form alone.

    Raises:
        RejectionError: InputException naming the first field that is missing or wrong.
    """
    name = _required(form, "name")
    if len(name) > NAME_MAX:
        raise _refuse(f"Invalid `name`. It may be at most {NAME_MAX} characters long.")
    kind = AlertType(_choice(form, "type", tuple(AlertType)))
    lhs_exchange = _choice(form, "lhs_exchange", ALERT_EXCHANGES)
    lhs_symbol = _required(form, "lhs_tradingsymbol")
    lhs_attribute = _choice(form, "lhs_attribute", tuple(ATTRIBUTES))
    operator = AlertOperator(_choice(form, "operator", tuple(AlertOperator)))
    rhs_type = RhsType(_choice(form, "rhs_type", tuple(RhsType)))
    terms: dict[str, Any] = {}
    if rhs_type is RhsType.CONSTANT:
        terms["rhs_constant"] = _number(_required(form, "rhs_constant"), "rhs_constant")
    else:
        terms["rhs_exchange"] = _choice(form, "rhs_exchange", ALERT_EXCHANGES)
        terms["rhs_tradingsymbol"] = _required(form, "rhs_tradingsymbol")
        terms["rhs_attribute"] = _choice(form, "rhs_attribute", tuple(ATTRIBUTES))
    basket = None
    if kind is AlertType.ATO:
        basket = _basket(_required(form, "basket"))
    elif (form.get("basket") or "").strip():
        raise _refuse("Invalid `basket`. Only an ato alert places orders; a simple alert takes no basket.")
    return AlertTerms(name, kind, lhs_exchange, lhs_symbol, lhs_attribute, operator, rhs_type, basket=basket, **terms)


def _basket(text: str) -> dict[str, Any]:
    """Return an ATO basket (JSON text) checked: its items' instruments and order terms, not yet the rules."""
    try:
        basket: Any = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        raise _refuse("Invalid `basket`. It must be JSON.") from None
    if not isinstance(basket, dict):
        raise _refuse("Invalid `basket`. It must be a JSON object with `items`.")
    items = basket.get("items")
    if not isinstance(items, list) or not items:
        raise _refuse("Invalid `basket`. It needs `items`, a list of at least one order.")
    if len(items) > BASKET_MAX_ITEMS:
        raise _refuse(f"Invalid `basket`. It may hold at most {BASKET_MAX_ITEMS} orders.")
    for i, item in enumerate(items, 1):
        _basket_item(item, i)
    return dict(basket)


def _basket_item(item: Any, i: int) -> None:
    where = f"Invalid `basket` order {i}:"
    if not isinstance(item, dict) or not isinstance(item.get("params"), dict):
        raise _refuse(f"{where} each order is an object with `params`.")
    if item.get("exchange") not in ALERT_EXCHANGES[:-1] or not item.get("tradingsymbol"):
        raise _refuse(f"{where} give its `exchange` (an order exchange) and `tradingsymbol`.")
    params = item["params"]
    for name, enum in (("transaction_type", TransactionType), ("order_type", OrderType), ("product", Product)):
        if str(params.get(name)) not in tuple(enum):
            raise _refuse(f"{where} `{name}` must be one of {', '.join(enum)}.")
    for name, enum_v in (("validity", Validity), ("variety", Variety)):
        if params.get(name) not in (None, "") and str(params.get(name)) not in tuple(enum_v):
            raise _refuse(f"{where} `{name}` must be one of {', '.join(enum_v)}.")
    quantity = params.get("quantity")
    if not _finite(quantity) or quantity <= 0 or quantity != int(quantity):
        raise _refuse(f"{where} `quantity` must be a whole number above 0.")
    for name in ("price", "trigger_price", "disclosed_quantity", "market_protection"):
        value = params.get(name)
        if value is not None and not (_finite(value) and (value >= 0 or name == "market_protection")):
            raise _refuse(f"{where} `{name}` must be a number of at least 0.")


def _finite(value: Any) -> bool:
    """Return True for a JSON number that is finite and within :data:`MAX_NUMBER` (not a boolean)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and abs(value) <= MAX_NUMBER
    )


def basket_orders(basket: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Return the ``(variety, place-order form)`` of each order of a checked basket, in its order.

    An order at market (MARKET or SL-M) without a protection above 0 gets Kite's automatic one (-1): Kite
    refuses unprotected market orders from the API, and an alert's basket is placed on the user's behalf.
    """
    out = []
    for item in basket.get("items", []):
        params = item["params"]
        order_type = str(params["order_type"])
        form: dict[str, Any] = {
            "exchange": item["exchange"],
            "tradingsymbol": item["tradingsymbol"],
            "transaction_type": str(params["transaction_type"]),
            "quantity": int(params["quantity"]),
            "order_type": order_type,
            "product": str(params["product"]),
            "validity": str(params.get("validity") or Validity.DAY),
        }
        for name in ("price", "trigger_price"):
            if params.get(name):
                form[name] = params[name]
        if params.get("disclosed_quantity"):
            form["disclosed_quantity"] = params["disclosed_quantity"]
        if order_type in (OrderType.MARKET, OrderType.SL_M):
            protection = params.get("market_protection")
            form["market_protection"] = protection if isinstance(protection, int | float) and protection > 0 else -1
        out.append((str(params.get("variety") or Variety.REGULAR), form))
    return out
