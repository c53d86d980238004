"""Parsing and checking order requests: the rejections Kite answers synchronously with an HTTP error.

Anything wrong with the request itself (a missing or malformed field, a price off the tick, a quantity off
the lot, above the freeze quantity, a product the segment does not take, a bad tag, the market closed, a
market order without protection) is an ``InputException`` (400) raised before an order exists. Checks that
need the account or the live market (funds, holdings, circuit limits, a stop already crossed) are the RMS's
and leave a REJECTED order instead: see :mod:`kitekit.engine.risk`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from kitekit.engine.matching import on_tick
from kitekit.engine.spec import InstrumentSpec
from kitekit.markethours import MarketPhase, TradingCalendar
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "MARKET_CLOSED",
    "MAX_NUMBER",
    "ModifyRequest",
    "PlaceRequest",
    "Rules",
    "check_place",
    "check_product",
    "check_terms",
    "check_variety",
    "invalid",
    "is_decimal",
    "merge",
    "number",
    "parse_modify",
    "parse_place",
    "whole",
]

E = TypeVar("E", bound=StrEnum)

#: The largest magnitude a price, quantity or amount may have: far beyond any real order, small enough that
#: price × quantity and every sum over them stay finite.
MAX_NUMBER = 1e12

# A sign, digits and at most one point; no exponent, no spaces, no other scripts' digits (re.ASCII: \d is 0-9).
_DECIMAL = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)

#: Kite's answer to a regular order outside market hours.
MARKET_CLOSED = "Markets are closed right now. Use GTT for placing long standing orders instead."


@dataclass(frozen=True, slots=True)
class Rules:
    """The order rules that are settings rather than facts (limits Kite has changed over time)."""

    max_modifications: int = 25
    max_iceberg_legs: int = 10
    max_tag_length: int = 20
    #: From this day a market order must carry market protection (FORUM: 1 April 2026); None to never.
    protection_required_from: date | None = date(2026, 4, 1)


@dataclass(frozen=True, slots=True)
class PlaceRequest:
    """A parsed ``POST /orders/{variety}`` request; MARKET and SL-M prices are normalised to 0."""

    variety: Variety
    exchange: str
    tradingsymbol: str
    transaction_type: TransactionType
    order_type: OrderType
    product: Product
    quantity: int
    price: float = 0.0
    trigger_price: float = 0.0
    validity: Validity = Validity.DAY
    validity_ttl: int | None = None
    disclosed_quantity: int = 0
    iceberg_legs: int = 0
    iceberg_quantity: int = 0
    auction_number: str | None = None
    tag: str | None = None
    market_protection: int = 0
    autoslice: bool = False

    @property
    def is_buy(self) -> bool:
        """Return True for a BUY."""
        return self.transaction_type is TransactionType.BUY


@dataclass(frozen=True, slots=True)
class ModifyRequest:
    """A parsed ``PUT /orders/{variety}/{order_id}``: None leaves a field as it is."""

    quantity: int | None = None
    price: float | None = None
    order_type: OrderType | None = None
    trigger_price: float | None = None
    validity: Validity | None = None
    disclosed_quantity: int | None = None
    market_protection: int | None = None


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
        market_protection=_int(params, "market_protection"),
        autoslice=_bool(params.get("autoslice")),
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
        market_protection=_int(params, "market_protection") if given("market_protection") else None,
    )


def check_place(
    req: PlaceRequest, spec: InstrumentSpec | None, rules: Rules, now: datetime, calendar: TradingCalendar
) -> InstrumentSpec:
    """Check a new order against its instrument, the rules and the market hours; return the instrument.

    Raises:
        RejectionError: InputException naming the first rule the request breaks.
    """
    if spec is None or not spec.tradable:
        what = "is not a known instrument" if spec is None else "is an index and cannot be traded"
        raise invalid(f"Invalid `tradingsymbol`: {req.exchange}:{req.tradingsymbol} {what}.")
    check_product(req, spec)
    if req.tag is not None and (len(req.tag) > rules.max_tag_length or not req.tag.isalnum()):
        raise invalid(f"Invalid `tag`. Use up to {rules.max_tag_length} letters and digits.")
    check_terms(req, spec, rules, now)
    check_variety(req, spec, rules)
    # An iceberg's legs reach the exchange one by one, so only a leg must stay under the freeze quantity.
    size = req.iceberg_quantity if req.variety is Variety.ICEBERG else req.quantity
    if spec.freeze_quantity and size > spec.freeze_quantity and not req.autoslice:
        raise invalid(
            f"Quantity {req.quantity} exceeds the freeze quantity of {spec.freeze_quantity} for "
            f"{spec.tradingsymbol}. Place it with autoslice or in slices of at most {spec.freeze_quantity}."
        )
    phase = calendar.phase(now)
    if req.variety is Variety.AMO:
        if phase is MarketPhase.OPEN:
            raise invalid("After market orders can be placed only when the market is closed. Use a regular order.")
    elif phase is not MarketPhase.OPEN:
        raise invalid(MARKET_CLOSED)
    return spec


def check_product(req: PlaceRequest, spec: InstrumentSpec) -> None:
    """Check the product fits the segment (CNC/MTF only in the cash market, NRML only in derivatives)."""
    if req.variety is Variety.CO:
        if req.product not in (Product.MIS, Product.CO):
            raise invalid("Cover orders take product MIS.")
        return
    if req.product not in spec.products:
        allowed = ", ".join(str(p) for p in spec.products)
        raise invalid(f"Product {req.product} is not allowed for {spec.exchange} instruments. Use {allowed}.")


def check_terms(req: PlaceRequest, spec: InstrumentSpec, rules: Rules, now: datetime) -> None:
    """Check quantity, prices, validity, disclosed quantity and market protection (shared with modify)."""
    lot = max(spec.lot_size, 1)
    if req.quantity <= 0:
        raise invalid("Invalid `quantity`. It must be a positive number.")
    if req.quantity % lot:
        raise invalid(f"Quantity should be a multiple of the lot size ({lot}) for {spec.tradingsymbol}.")
    priced = req.order_type in (OrderType.LIMIT, OrderType.SL)
    stop = req.order_type in (OrderType.SL, OrderType.SL_M)
    if priced and req.price <= 0:
        raise invalid("Invalid `price`. A limit or stop-loss limit order needs a price above 0.")
    if stop and req.trigger_price <= 0:
        raise invalid("Invalid `trigger_price`. A stop-loss order needs a trigger price above 0.")
    for name, value in (("price", req.price), ("trigger_price", req.trigger_price)):
        if value and not on_tick(value, spec.tick_size):
            raise invalid(
                f"Tick size for this script is {spec.tick_size:g}. Kindly enter {name.replace('_', ' ')} "
                "in the multiple of tick size for this script."
            )
    if req.order_type is OrderType.SL:
        if req.is_buy and req.trigger_price > req.price:
            raise invalid("Trigger price for stoploss buy orders should be lower than the order price.")
        if not req.is_buy and req.trigger_price < req.price:
            raise invalid("Trigger price for stoploss sell orders should be higher than the order price.")
    if req.validity is Validity.TTL:
        if req.validity_ttl is None or not 1 <= req.validity_ttl <= 24 * 60:
            raise invalid("Invalid `validity_ttl`. TTL orders need a validity of 1 minute to a day (1440).")
        if req.order_type not in (OrderType.LIMIT, OrderType.SL):
            raise invalid("TTL validity is allowed only for limit and stop-loss limit orders.")
    dq = req.disclosed_quantity
    if dq:
        if spec.is_derivative:
            raise invalid("Disclosed quantity is not allowed for derivatives.")
        if dq < 0 or dq > req.quantity or dq * 10 < req.quantity:
            raise invalid("Disclosed quantity should be between 10% of the quantity and the quantity.")
    market = req.order_type in (OrderType.MARKET, OrderType.SL_M)
    if market:
        mp = req.market_protection
        if mp != -1 and not 0 <= mp <= 100:
            raise invalid("Invalid `market_protection`. Use -1 (auto) or a percentage from 0 to 100.")
        required = rules.protection_required_from
        if mp == 0 and required is not None and now.date() >= required:
            raise invalid(
                "Market orders without market protection are not allowed. Set `market_protection` to -1 "
                "(auto) or a percentage from 1 to 100."
            )


def check_variety(req: PlaceRequest, spec: InstrumentSpec, rules: Rules) -> None:
    """Check what each variety needs: CO stops, iceberg legs, auction numbers."""
    if req.variety is Variety.CO:
        if req.order_type not in (OrderType.MARKET, OrderType.LIMIT):
            raise invalid("Cover orders are MARKET or LIMIT orders with a stop-loss `trigger_price`.")
        if req.trigger_price <= 0 or not on_tick(req.trigger_price, spec.tick_size):
            raise invalid("Invalid `trigger_price`. A cover order needs a stop-loss trigger price on the tick.")
        if req.validity is not Validity.DAY:
            raise invalid("Cover orders are DAY orders.")
    if req.variety is Variety.ICEBERG:
        legs, leg_qty = req.iceberg_legs, req.iceberg_quantity
        if not 2 <= legs <= rules.max_iceberg_legs:
            raise invalid(f"Invalid `iceberg_legs`. Use between 2 and {rules.max_iceberg_legs} legs.")
        if req.order_type not in (OrderType.LIMIT, OrderType.SL) or req.validity is Validity.IOC:
            raise invalid("Iceberg orders are LIMIT or SL orders with DAY or TTL validity.")
        if req.autoslice:
            raise invalid("Iceberg orders cannot be autosliced.")
        if leg_qty <= 0 or leg_qty % max(spec.lot_size, 1) or leg_qty * legs < req.quantity:
            raise invalid("Invalid `iceberg_quantity`. The legs must together cover the quantity, in whole lots.")
        if leg_qty * (legs - 1) >= req.quantity:
            raise invalid("Invalid `iceberg_quantity`. Every leg must have a quantity; use fewer legs.")
    if req.variety is Variety.AUCTION:
        if not (req.auction_number or "").isdigit():
            raise invalid("Invalid `auction_number`. Auction orders need the auction's number.")
        if req.order_type is not OrderType.LIMIT:
            raise invalid("Auction orders are LIMIT orders.")


def merge(req: PlaceRequest, mod: ModifyRequest) -> PlaceRequest:
    """Return the request an order would have after a modification (for re-checking it)."""
    changes: dict[str, Any] = {k: v for k, v in dataclasses.asdict(mod).items() if v is not None}
    merged = dataclasses.replace(req, **changes)
    if merged.order_type in (OrderType.MARKET, OrderType.SL_M):
        merged = dataclasses.replace(merged, price=0.0)
    if merged.order_type in (OrderType.MARKET, OrderType.LIMIT) and req.variety is not Variety.CO:
        merged = dataclasses.replace(merged, trigger_price=0.0)
    return merged


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
