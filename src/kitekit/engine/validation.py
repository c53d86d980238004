"""The exchange's edge of Kite's order rules: parsing form fields, and the 400s Kite answers with its words.

Anything wrong with the request itself (a missing or malformed field, a price off the tick, a quantity off
the lot, above the freeze quantity, a product the segment does not take, a bad tag, the market closed, a
market order without protection) is an ``InputException`` (400) raised before an order exists. The rules
themselves are :mod:`kitekit.wire.order_rules`, the same the client's pre-trade check runs; this module
keeps only what the exchange says for each (:data:`KITE_SAYS`). Checks that need the account or the live
market (funds, holdings, circuit limits, a stop already crossed) are the RMS's and leave a REJECTED order
instead: see :mod:`kitekit.engine.risk`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from kitekit.engine.spec import InstrumentSpec
from kitekit.markethours import MarketPhase, TradingCalendar
from kitekit.wire import order_rules as r
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.order_rules import MODIFY_RULES, PLACE_RULES, Facts, OrderRule, Scopes, first_breach
from kitekit.wire.order_terms import MAX_NUMBER, ModifyRequest, OrderLimits, PlaceRequest
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "KITE_SAYS",
    "MARKET_CLOSED",
    "PROTECTION_REQUIRED",
    "check_modified",
    "check_place",
    "invalid",
    "is_decimal",
    "number",
    "parse_modify",
    "parse_place",
    "whole",
]

E = TypeVar("E", bound=StrEnum)

# A sign, digits and at most one point; no exponent, no spaces, no other scripts' digits (re.ASCII: \d is 0-9).
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)

#: Kite's answer to a regular order outside market hours.
MARKET_CLOSED = "Markets are closed right now. Use GTT for placing long standing orders instead."

#: Kite's answer (InputException) to a MARKET or SL-M order without market protection since April 2026, word
#: for word as traders report it (kiteconnect issue 242).
PROTECTION_REQUIRED = (
    "Market orders without market protection are not allowed via API. Please set market protection or use a "
    "Limit order."
)


def invalid(message: str) -> RejectionError:
    """Return a 400 InputException."""
    return RejectionError(ErrorType.INPUT, message)


def parse_place(variety: str | Variety, params: Mapping[str, Any]) -> PlaceRequest:
    """Parse form fields (strings, as the SDK sends them) or typed values into a request.

    Raises:
        RejectionError: InputException for a missing or malformed field.
    """
    kind = _enum(Variety, {"variety": variety}, "variety")
    order_type = _enum(OrderType, params, "order_type")
    priced = order_type in (OrderType.LIMIT, OrderType.SL)
    tag = params.get("tag")
    return PlaceRequest(
        variety=kind,
        exchange=_text(params, "exchange"),
        tradingsymbol=_text(params, "tradingsymbol"),
        transaction_type=_enum(TransactionType, params, "transaction_type"),
        order_type=order_type,
        product=_enum(Product, params, "product"),
        quantity=_int(params, "quantity"),
        price=_float(params, "price") if priced else 0.0,
        trigger_price=_float(params, "trigger_price"),
        validity=_enum(Validity, params, "validity", Validity.DAY),
        validity_ttl=_int(params, "validity_ttl") if params.get("validity_ttl") not in (None, "") else None,
        disclosed_quantity=_int(params, "disclosed_quantity"),
        iceberg_legs=_int(params, "iceberg_legs"),
        iceberg_quantity=_int(params, "iceberg_quantity"),
        auction_number=str(params["auction_number"]) if params.get("auction_number") not in (None, "") else None,
        tag=None if tag in (None, "") else str(tag),
        market_protection=_float(params, "market_protection"),
        autoslice=_bool(params.get("autoslice")),
        algo_id=str(params["algo_id"]) if params.get("algo_id") not in (None, "") else None,
    )


def parse_modify(params: Mapping[str, Any]) -> ModifyRequest:
    """Parse the optional fields of a modification.

    Raises:
        RejectionError: InputException for a malformed field.
    """

    def given(name: str) -> bool:
        return params.get(name) not in (None, "")

    return ModifyRequest(
        quantity=_int(params, "quantity") if given("quantity") else None,
        price=_float(params, "price") if given("price") else None,
        order_type=_enum(OrderType, params, "order_type") if given("order_type") else None,
        trigger_price=_float(params, "trigger_price") if given("trigger_price") else None,
        validity=_enum(Validity, params, "validity") if given("validity") else None,
        disclosed_quantity=_int(params, "disclosed_quantity") if given("disclosed_quantity") else None,
        market_protection=_float(params, "market_protection") if given("market_protection") else None,
    )


def _tick(spec: InstrumentSpec, name: str) -> str:
    return (
        f"Tick size for this script is {spec.tick_size:g}. Kindly enter {name} in the multiple of tick size for "
        "this script."
    )


def _stop_side(req: PlaceRequest) -> str:
    if req.is_buy:
        return "Trigger price for stoploss buy orders should be lower than the order price."
    return "Trigger price for stoploss sell orders should be higher than the order price."


Says = Callable[[PlaceRequest, InstrumentSpec, OrderLimits], str]

#: What Kite answers (an InputException, 400) for each rule a request breaks (:data:`.order_rules.PLACE_RULES`).
KITE_SAYS: Mapping[OrderRule, Says] = {
    r.index: lambda req, spec, lim: (
        f"Invalid `tradingsymbol`: {req.exchange}:{req.tradingsymbol} is an index and cannot be traded."
    ),
    r.product: lambda req, spec, lim: (
        "Cover orders take product MIS."
        if req.variety is Variety.CO
        else f"Product {req.product} is not allowed for {spec.exchange} instruments. "
        f"Use {', '.join(str(p) for p in spec.products)}."
    ),
    r.tag: lambda req, spec, lim: f"Invalid `tag`. Use up to {lim.max_tag_length} letters and digits.",
    r.quantity: lambda req, spec, lim: "Invalid `quantity`. It must be a positive number.",
    r.lot: lambda req, spec, lim: (
        f"Quantity should be a multiple of the lot size ({max(spec.lot_size, 1)}) for {spec.tradingsymbol}."
    ),
    r.price: lambda req, spec, lim: "Invalid `price`. A limit or stop-loss limit order needs a price above 0.",
    r.trigger: lambda req, spec, lim: (
        "Invalid `trigger_price`. A cover order needs a stop-loss trigger price on the tick."
        if req.variety is Variety.CO
        else "Invalid `trigger_price`. A stop-loss order needs a trigger price above 0."
    ),
    r.price_tick: lambda req, spec, lim: _tick(spec, "price"),
    r.trigger_tick: lambda req, spec, lim: _tick(spec, "trigger price"),
    r.stop_beyond_price: lambda req, spec, lim: _stop_side(req),
    r.ttl_minutes: lambda req, spec, lim: (
        f"Invalid `validity_ttl`. TTL orders need a validity of 1 minute to a day ({lim.max_ttl_minutes})."
    ),
    r.ttl_order_type: lambda req, spec, lim: "TTL validity is allowed only for limit and stop-loss limit orders.",
    r.disclosed_in_derivatives: lambda req, spec, lim: "Disclosed quantity is not allowed for derivatives.",
    r.disclosed_share: lambda req, spec, lim: (
        "Disclosed quantity should be between 10% of the quantity and the quantity."
    ),
    # SIM: Kite's words for a value out of range are not public; these say what the docs allow.
    r.protection_range: lambda req, spec, lim: (
        "Invalid `market_protection`. Use -1 (automatic) or a percentage above 0 up to 100."
    ),
    r.protection_required: lambda req, spec, lim: PROTECTION_REQUIRED,
    r.cover_order_type: lambda req, spec, lim: (
        "Cover orders are MARKET or LIMIT orders with a stop-loss `trigger_price`."
    ),
    r.cover_validity: lambda req, spec, lim: "Cover orders are DAY orders.",
    r.iceberg_legs: lambda req, spec, lim: f"Invalid `iceberg_legs`. Use between 2 and {lim.max_iceberg_legs} legs.",
    r.iceberg_order_type: lambda req, spec, lim: "Iceberg orders are LIMIT or SL orders with DAY or TTL validity.",
    r.iceberg_autoslice: lambda req, spec, lim: "Iceberg orders cannot be autosliced.",
    r.iceberg_quantity: lambda req, spec, lim: (
        "Invalid `iceberg_quantity`. The legs must together cover the quantity, in whole lots."
    ),
    r.iceberg_empty_leg: lambda req, spec, lim: (
        "Invalid `iceberg_quantity`. Every leg must have a quantity; use fewer legs."
    ),
    r.auction_number: lambda req, spec, lim: "Invalid `auction_number`. Auction orders need the auction's number.",
    r.auction_order_type: lambda req, spec, lim: "Auction orders are LIMIT orders.",
    r.freeze: lambda req, spec, lim: (
        f"Quantity {req.quantity} exceeds the freeze quantity of {spec.freeze_quantity} for "
        f"{spec.tradingsymbol}. Place it with autoslice or in slices of at most {spec.freeze_quantity}."
    ),
    # SIM: Kite's words are not public; they name the limit of 10 slices its docs give.
    r.autoslice_slices: lambda req, spec, lim: (
        f"Quantity {req.quantity} needs more than {lim.max_autoslices} slices of at most {spec.freeze_quantity} "
        f"for {spec.tradingsymbol}. Autoslice places at most {lim.max_autoslices} slices."
    ),
}


def _refuse(rules: tuple[OrderRule, ...], req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> None:
    broken = first_breach(rules, req, facts)
    if broken is not None:
        raise invalid(KITE_SAYS[broken](req, spec, facts.limits))


def _place_breach(req: PlaceRequest, spec: InstrumentSpec, limits: OrderLimits, day: date) -> OrderRule | None:
    # Only the rules that can break for the order's type and variety are run (a LIMIT order on NSE meets 14 of
    # the 27): scoped() answers as the whole list would. No verdict is remembered: the runner tags every
    # order, and a strategy's prices move, so a request is seldom judged twice, and a cache keyed on one
    # cost more to hash and file on every order than it saved.
    # The facts of an instrument are kept while its spec, the limits and the day stand (by identity: all are
    # frozen): a frozen dataclass cost more to build at every order than the rules it serves. Its rules by
    # order type and variety are kept with them.
    kept = _PLACE_FACTS.get(id(spec))
    if kept is None or (facts := kept[0]).spec is not spec or facts.limits is not limits or facts.day != day:
        if len(_PLACE_FACTS) > 4096:  # specs of a day's dump come and go; never more than this kept
            _PLACE_FACTS.clear()
        scopes = kept[1] if kept is not None and kept[0].spec is spec else Scopes(PLACE_RULES, spec.exchange)
        kept = _PLACE_FACTS[id(spec)] = (Facts(spec, limits, day), scopes)
    return first_breach(kept[1].of(req.order_type, req.variety), req, kept[0])


# id(spec) -> the place rules' facts of that spec and its rules (the facts hold the spec, so the id is not
# reused while kept).
_PLACE_FACTS: dict[int, tuple[Facts, Scopes]] = {}


def check_place(
    req: PlaceRequest, spec: InstrumentSpec | None, limits: OrderLimits, now: datetime, calendar: TradingCalendar
) -> InstrumentSpec:
    """Check a new order against Kite's rules and the market hours; return its instrument.

    Raises:
        RejectionError: InputException with Kite's message for the first rule the request breaks.
    """
    if spec is None:
        raise invalid(f"Invalid `tradingsymbol`: {req.exchange}:{req.tradingsymbol} is not a known instrument.")
    broken = _place_breach(req, spec, limits, now.date())
    if broken is not None:
        raise invalid(KITE_SAYS[broken](req, spec, limits))
    phase = calendar.phase(now)
    if req.variety is _AMO:
        if phase is _OPEN:
            raise invalid("After market orders can be placed only when the market is closed. Use a regular order.")
    elif phase is not _OPEN:
        raise invalid(MARKET_CLOSED)
    return spec


# Read at every order: bound once, not looked up on their enums (as dear as a dict lookup each time).
_AMO, _OPEN = Variety.AMO, MarketPhase.OPEN


def check_modified(new: PlaceRequest, spec: InstrumentSpec, limits: OrderLimits, now: datetime) -> None:
    """Check an order's terms after a modification (:func:`~kitekit.wire.order_terms.merge`) by Kite's rules.

    Raises:
        RejectionError: InputException with Kite's message for the first rule the terms break.
    """
    _refuse(MODIFY_RULES, new, spec, Facts(spec, limits, now.date()))


def _text(params: Mapping[str, Any], name: str) -> str:
    value = params.get(name)
    if value in (None, ""):
        raise invalid(f"Missing `{name}`.")
    return str(value)


def _enum(cls: type[E], params: Mapping[str, Any], name: str, default: E | None = None) -> E:
    value = params.get(name)
    if value in (None, ""):
        if default is not None:
            return default
        raise invalid(f"Missing `{name}`.")
    try:
        return cls(str(value))
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise invalid(f"Invalid `{name}` {value!r}. Use one of {allowed}.") from None


def number(value: Any, name: str) -> float:
    """Return ``value`` (a number or its text) as a float within :data:`MAX_NUMBER`.

    Infinities, NaN and absurd magnitudes are refused here: they would otherwise poison margins and P&L and
    could not even be sent back as JSON. Text must be plain decimal ASCII (``"10"``, ``"2270.05"``, ``"-1"``),
    as Kite's OMS reads it: Python's ``float()`` would also take ``"1e3"``, ``" 1"``, ``"1_000"`` and other
    scripts' digits (``"١"``), all of which Kite refuses.

    Raises:
        RejectionError: InputException naming the field.
    """
    if isinstance(value, str) and not is_decimal(value):
        raise invalid(f"Invalid `{name}` {value!r}. It must be a number.")
    try:
        parsed = float(value)
    except (TypeError, ValueError, OverflowError):
        raise invalid(f"Invalid `{name}` {value!r}. It must be a number.") from None
    if not math.isfinite(parsed) or abs(parsed) > MAX_NUMBER:
        raise invalid(f"Invalid `{name}` {value!r}. It must be a number below {MAX_NUMBER:g}.")
    return parsed


def is_decimal(text: str) -> bool:
    """Return True if ``text`` is a plain decimal number: ASCII digits, an optional ``-`` and ``.``, no spaces."""
    return _DECIMAL.fullmatch(text) is not None


def whole(value: Any, name: str) -> int:
    """Return ``value`` as a whole number (``"10"``, ``10``, ``"10.0"``).

    Raises:
        RejectionError: InputException naming the field.
    """
    parsed = number(value, name)
    if parsed != int(parsed):
        raise invalid(f"Invalid `{name}` {value!r}. It must be a whole number.")
    return int(parsed)


def _int(params: Mapping[str, Any], name: str) -> int:
    value = params.get(name)
    return 0 if value in (None, "") else whole(value, name)


def _float(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name)
    return 0.0 if value in (None, "") else number(value, name)


def _bool(value: Any) -> bool:
    # The SDK sends `true` for autoslice; other clients send True or 1.
    return str(value).strip().lower() in ("true", "1", "yes")
