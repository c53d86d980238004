"""The pre-trade rules, one function each: every refusal names its rule and the nearest valid value.

Kite refuses a price off the tick, a quantity off the lot or a MARKET order without protection only after
the round trip (and counts the request against the order budget). These checks run first, on the
instrument's data and, when one is at hand, a quote (circuit limits, stops the price already passed);
:class:`kitekit.orders.validator.Validator` applies them in order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from kitekit.engine.matching import on_tick
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.engine.validation import MAX_NUMBER
from kitekit.errors import OrderValidationError
from kitekit.orders.model import OrderRequest
from kitekit.wire.orders import OrderType, Product, Validity, Variety

__all__ = [
    "FREEZE_QUANTITIES",
    "PreTradeRules",
    "Rule",
    "as_quote",
    "check_against_quote",
    "check_disclosed",
    "check_freeze",
    "check_iceberg",
    "check_prices",
    "check_product",
    "check_protection",
    "check_quantity",
    "check_validity",
    "fail",
    "nearest_tick",
    "slice_size",
    "valid_tag",
]

#: NSE's quantity freeze limits of index derivatives, by underlying: the most one order may carry (units, not
#: lots). Source: NSE's circular of 31 October 2025 (effective 3 November 2025), as the simulator uses. They
#: change a few times a year, so pass your own table (``PreTradeRules(freeze_quantities=...)``) when they do;
#: stock derivatives have a limit per stock that Kite's dump does not carry: give those the same way.
FREEZE_QUANTITIES: Mapping[str, int] = {
    "NIFTY": 1800,
    "BANKNIFTY": 600,
    "FINNIFTY": 1800,
    "MIDCPNIFTY": 2800,
    "NIFTYNXT50": 600,
}


class Rule(StrEnum):
    """The pre-trade rules; an :class:`OrderValidationError`'s ``rule`` is one of these."""

    INSTRUMENT = "instrument"
    QUANTITY = "quantity"
    LOT = "lot"
    FREEZE = "freeze"
    TICK = "tick"
    PRICE = "price"
    TRIGGER = "trigger"
    PRODUCT = "product"
    CIRCUIT = "circuit"
    PROTECTION = "market_protection"
    VALIDITY = "validity"
    DISCLOSED = "disclosed_quantity"
    ICEBERG = "iceberg"
    TAG = "tag"


@dataclass(frozen=True)
class PreTradeRules:
    """The settings the checks follow.

    Args:
        default_market_protection: given to MARKET and SL-M orders that set none (-1: Kite's automatic band).
        freeze_quantities: freeze limits by underlying name, tradingsymbol or ``EXCHANGE:TRADINGSYMBOL``.
        max_tag_length: Kite's tag limit (20 letters and digits).
        max_iceberg_legs: the most legs an iceberg may have.
        protection_required_from: from this day a MARKET order with protection 0 is refused (Kite,
            1 April 2026); None never.
    """

    default_market_protection: int = -1
    freeze_quantities: Mapping[str, int] = field(default_factory=lambda: dict(FREEZE_QUANTITIES))
    max_tag_length: int = 20
    max_iceberg_legs: int = 10
    protection_required_from: date | None = date(2026, 4, 1)


def _decimals(tick: float) -> int:
    text = f"{tick:.10f}".rstrip("0")
    return max(2, len(text.partition(".")[2]))


def _show(value: float, tick: float) -> str:
    return f"{value:.{_decimals(tick)}f}"


def nearest_tick(value: float, tick: float) -> float:
    """Return the multiple of ``tick`` nearest ``value`` (halves round up), rounded to the tick's decimals."""
    if tick <= 0:
        return value
    steps = (Decimal(repr(value)) / Decimal(repr(tick))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return round(float(steps * Decimal(repr(tick))), _decimals(tick))


def valid_tag(tag: str, limit: int = 20) -> str:
    """Return ``tag`` cut down to what Kite takes: letters and digits only, at most ``limit`` of them."""
    return "".join(ch for ch in tag if ch.isascii() and ch.isalnum())[:limit]


def fail(rule: Rule, message: str, field_name: str = "", nearest: Any = None) -> OrderValidationError:
    """Return the refusal of ``rule`` (raise it)."""
    return OrderValidationError(str(rule), message, field_name, nearest)


def as_quote(quote: MarketQuote | Mapping[str, Any] | None) -> MarketQuote | None:
    """Return a quote at hand as the engine's, or None when there is none (or it has no timestamp)."""
    if quote is None or isinstance(quote, MarketQuote):
        return quote
    try:
        return MarketQuote.from_kite(quote)
    except ValueError:
        return None  # an LTP item without a timestamp still has no circuit limits to check against


def check_product(req: OrderRequest, spec: InstrumentSpec) -> OrderRequest:
    """Return ``req`` with the segment's carry product when it has none; refuse a product the segment does not take."""
    carry = Product.NRML if spec.is_derivative else Product.CNC
    if req.variety is Variety.CO:
        if req.product not in (None, Product.MIS):
            raise fail(
                Rule.PRODUCT,
                f"product {req.product} is not allowed on a cover order; nearest MIS",
                "product",
                Product.MIS,
            )
        return req.replace(product=Product.MIS)
    if req.product is None:
        return req.replace(product=carry)
    if req.product not in spec.products:
        where = "derivatives" if spec.is_derivative else "the cash market"
        raise fail(
            Rule.PRODUCT,
            f"product {req.product} is not allowed on {spec.exchange} ({where}); nearest {carry}",
            "product",
            carry,
        )
    return req


def check_quantity(quantity: int, spec: InstrumentSpec) -> None:
    """Refuse a quantity that is not a positive multiple of the lot."""
    lot = max(spec.lot_size, 1)
    if quantity <= 0:
        raise fail(Rule.QUANTITY, f"quantity {quantity} is not above 0; nearest {lot}", "quantity", lot)
    if quantity % lot:
        nearest = max(lot, round(quantity / lot) * lot)
        raise fail(
            Rule.LOT,
            f"quantity {quantity} is not a multiple of lot {lot} of {spec.key}; nearest {nearest}",
            "quantity",
            nearest,
        )


def slice_size(spec: InstrumentSpec) -> int:
    """Return the largest whole-lot quantity within the freeze quantity (0: no limit)."""
    lot = max(spec.lot_size, 1)
    return (spec.freeze_quantity // lot) * lot if spec.freeze_quantity else 0


def check_freeze(quantity: int, spec: InstrumentSpec) -> None:
    """Refuse a quantity above the freeze quantity."""
    size = slice_size(spec)
    if size and quantity > spec.freeze_quantity:
        count = math.ceil(quantity / size)
        raise fail(
            Rule.FREEZE,
            f"quantity {quantity} is above the freeze quantity {spec.freeze_quantity} of {spec.key}; "
            f"nearest {size} (or send it in {count} slices with place_sliced)",
            "quantity",
            size,
        )


def check_iceberg(req: OrderRequest, spec: InstrumentSpec, rules: PreTradeRules) -> OrderRequest:
    """Return an iceberg with its leg size (quantity / legs in whole lots); refuse bad legs."""
    if req.variety is not Variety.ICEBERG:
        return req
    most = rules.max_iceberg_legs
    legs = req.iceberg_legs or 0
    if not 2 <= legs <= most:
        nearest = min(max(legs, 2), most)
        raise fail(
            Rule.ICEBERG,
            f"iceberg_legs {legs} is not between 2 and {most}; nearest {nearest}",
            "iceberg_legs",
            nearest,
        )
    lot = max(spec.lot_size, 1)
    # Kite's leg size is quantity / legs; round up to whole lots so the legs cover the quantity.
    fair = math.ceil(req.quantity / legs / lot) * lot
    leg = req.iceberg_quantity or fair
    if leg % lot or leg * legs < req.quantity or leg * (legs - 1) >= req.quantity:
        raise fail(
            Rule.ICEBERG,
            f"iceberg_quantity {leg} does not split {req.quantity} into {legs} legs of whole lots; nearest {fair}",
            "iceberg_quantity",
            fair,
        )
    return req.replace(iceberg_quantity=leg)


def check_prices(req: OrderRequest, spec: InstrumentSpec, quote: MarketQuote | None) -> OrderRequest:
    """Refuse prices and triggers the order type does not take or lacks, off the tick, or on the wrong side."""
    tick = spec.tick_size
    ot = req.order_type
    priced, stop = ot in (OrderType.LIMIT, OrderType.SL), ot in (OrderType.SL, OrderType.SL_M)
    hint = nearest_tick(quote.last_price, tick) if quote else None
    if priced and not (req.price or 0) > 0:
        near = f"; nearest {_show(hint, tick)}" if hint else "; give a price above 0"
        raise fail(Rule.PRICE, f"{ot} orders need a price above 0{near}", "price", hint)
    if not priced and req.price:
        raise fail(
            Rule.PRICE,
            f"price {req.price:g} is not taken by a {ot} order; nearest: no price (use LIMIT or SL to cap the price)",
            "price",
            None,
        )
    cover = req.variety is Variety.CO
    if (stop or cover) and not (req.trigger_price or 0) > 0:
        raise fail(
            Rule.TRIGGER,
            f"{'cover' if cover else ot} orders need a trigger_price above 0"
            + (f"; nearest {_show(hint, tick)}" if hint else ""),
            "trigger_price",
            hint,
        )
    if not (stop or cover) and req.trigger_price:
        raise fail(
            Rule.TRIGGER,
            f"trigger_price {req.trigger_price:g} is not taken by a {ot} order; "
            "nearest: no trigger (use SL or SL-M for a stop)",
            "trigger_price",
            None,
        )
    for name in ("price", "trigger_price"):
        value = getattr(req, name)
        if value and not abs(value) <= MAX_NUMBER:
            raise fail(
                Rule.TRIGGER if name == "trigger_price" else Rule.PRICE,
                f"{name} {value:g} is beyond any real price (at most {MAX_NUMBER:g})"
                + (f"; nearest {_show(hint, tick)}" if hint else ""),
                name,
                hint,
            )
        if value and not on_tick(value, tick):
            on = max(nearest_tick(value, tick), tick)  # a price above 0 is at least one tick
            raise fail(
                Rule.TICK,
                f"{name} {value:g} is not a multiple of tick {tick:g}; nearest {_show(on, tick)}",
                name,
                on,
            )
    if ot is OrderType.SL and req.price and req.trigger_price:
        wrong = req.trigger_price > req.price if req.is_buy else req.trigger_price < req.price
        if wrong:
            side = "above" if req.is_buy else "below"
            raise fail(
                Rule.TRIGGER,
                f"trigger_price {_show(req.trigger_price, tick)} is {side} price "
                f"{_show(req.price, tick)} on a {req.transaction_type} SL order; nearest "
                f"{_show(req.price, tick)}",
                "trigger_price",
                req.price,
            )
    if quote is not None:
        check_against_quote(req, tick, quote, stop)
    return req


def check_against_quote(req: OrderRequest, tick: float, quote: MarketQuote, stop: bool) -> None:
    """Refuse a stop the last price already passed, and prices outside the circuit limits."""
    last = quote.last_price
    if stop and req.trigger_price and last > 0:
        # A stop whose trigger the price already passed would fire at once; Kite's RMS rejects it.
        passed = req.trigger_price <= last if req.is_buy else req.trigger_price >= last
        if passed:
            near = nearest_tick(last + tick if req.is_buy else last - tick, tick)
            side = "above" if req.is_buy else "below"
            raise fail(
                Rule.TRIGGER,
                f"trigger_price {_show(req.trigger_price, tick)} of a {req.transaction_type} "
                f"stop must be {side} the last price {_show(last, tick)}; nearest {_show(near, tick)}",
                "trigger_price",
                near,
            )
    low, high = quote.lower_circuit_limit, quote.upper_circuit_limit
    for name in ("price", "trigger_price"):
        value = getattr(req, name) or 0.0
        if value and high > 0 and value > high + 1e-9:
            raise fail(
                Rule.CIRCUIT,
                f"{name} {_show(value, tick)} is above the upper circuit "
                f"{_show(high, tick)} of {req.key}; nearest {_show(high, tick)}",
                name,
                high,
            )
        if value and low > 0 and value < low - 1e-9:
            raise fail(
                Rule.CIRCUIT,
                f"{name} {_show(value, tick)} is below the lower circuit "
                f"{_show(low, tick)} of {req.key}; nearest {_show(low, tick)}",
                name,
                low,
            )


def check_protection(req: OrderRequest, rules: PreTradeRules, today: date | None) -> OrderRequest:
    """Return a MARKET or SL-M order with market protection (the default when it has none); refuse a bad one."""
    if req.order_type not in (OrderType.MARKET, OrderType.SL_M):
        return req.replace(market_protection=None)  # Kite ignores it on priced orders
    mp = req.market_protection
    if mp is None:
        return req.replace(market_protection=rules.default_market_protection)
    if mp != -1 and not 0 <= mp <= 100:
        nearest = 100 if mp > 100 else -1
        raise fail(
            Rule.PROTECTION,
            f"market_protection {mp} is neither -1 (auto) nor 0-100 percent; nearest {nearest}",
            "market_protection",
            nearest,
        )
    required = rules.protection_required_from
    if mp == 0 and required is not None and today is not None and today >= required:
        raise fail(
            Rule.PROTECTION,
            f"market_protection 0 is refused on MARKET and SL-M orders since {required:%d %B %Y}; nearest -1 (auto)",
            "market_protection",
            -1,
        )
    return req


def check_validity(req: OrderRequest) -> None:
    """Refuse TTL validity without minutes or on an order type that does not take it, and minutes without TTL."""
    if req.validity is Validity.TTL:
        if req.order_type not in (OrderType.LIMIT, OrderType.SL):
            raise fail(
                Rule.VALIDITY,
                f"TTL validity is not taken by a {req.order_type} order; nearest DAY",
                "validity",
                Validity.DAY,
            )
        if not (req.validity_ttl or 0) >= 1:
            raise fail(
                Rule.VALIDITY,
                f"validity_ttl {req.validity_ttl} is not 1 minute or more; nearest 1",
                "validity_ttl",
                1,
            )
    elif req.validity_ttl is not None:
        raise fail(
            Rule.VALIDITY,
            f"validity_ttl is only for TTL validity, not {req.validity}; nearest: no validity_ttl",
            "validity_ttl",
            None,
        )


def check_disclosed(req: OrderRequest, spec: InstrumentSpec) -> None:
    """Refuse a disclosed quantity in derivatives, or outside 10%-100% of the quantity."""
    dq = req.disclosed_quantity
    if not dq:
        return
    if spec.is_derivative:
        raise fail(
            Rule.DISCLOSED,
            f"disclosed_quantity {dq} is not allowed on derivatives; nearest 0",
            "disclosed_quantity",
            0,
        )
    least = math.ceil(req.quantity / 10)
    if not least <= dq <= req.quantity:
        nearest = min(max(dq, least), req.quantity)
        raise fail(
            Rule.DISCLOSED,
            f"disclosed_quantity {dq} is not between 10% of the quantity ({least}) "
            f"and the quantity ({req.quantity}); nearest {nearest}",
            "disclosed_quantity",
            nearest,
        )
