"""The client's edge of Kite's order rules: a request completed, and refusals that name the nearest valid value.

Kite refuses a price off the tick, a quantity off the lot or a MARKET order without protection only after
the round trip (and counts the request against the order budget). The rules themselves are
:mod:`kitekit.wire.order_rules`, the very ones the simulator's exchange applies, in the same order; this
module completes a request first (the segment's carry product, market protection, the iceberg leg size),
refuses what Kite would silently ignore (a price on a MARKET order), and says for each rule broken what the
nearest valid value is (:data:`ADVICE`). :class:`kitekit.orders.validator.Validator` applies them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.errors import OrderValidationError
from kitekit.orders.model import OrderRequest
from kitekit.wire import order_rules as r
from kitekit.wire.order_rules import Facts, OrderRule, Rule, band_reference, first_breach
from kitekit.wire.order_terms import FREEZE_QUANTITIES, MAX_NUMBER, OrderLimits, PlaceRequest, slice_size
from kitekit.wire.orders import OrderType, Product, Validity, Variety
from kitekit.wire.price_bands import band_range

__all__ = [
    "ADVICE",
    "PreTradeRules",
    "Rule",
    "as_quote",
    "carry_product",
    "check_shape",
    "complete",
    "fail",
    "nearest_tick",
    "refuse",
    "tag_advice",
    "terms_of",
    "valid_tag",
]


@dataclass(frozen=True)
class PreTradeRules:
    """The settings the checks follow.

    Args:
        default_market_protection: given to MARKET and SL-M orders that set none (-1: Kite's automatic band).
        freeze_quantities: freeze limits by underlying name, tradingsymbol or ``EXCHANGE:TRADINGSYMBOL``
            (Kite's table, :data:`kitekit.wire.order_terms.FREEZE_QUANTITIES`, unless you pass a newer one).
        limits: the limits Kite has changed over time (tag length, iceberg legs, when protection became
            mandatory), as the simulator's exchange applies them.
        static_ips: the static IP addresses registered for the app: a live order that would leave from
            another is refused before it is sent (:mod:`kitekit.orders.static_ip`); empty checks nothing
            until Kite refuses an address.
    """

    default_market_protection: float = -1
    freeze_quantities: Mapping[str, int] = field(default_factory=lambda: dict(FREEZE_QUANTITIES))
    limits: OrderLimits = field(default_factory=OrderLimits)
    static_ips: tuple[str, ...] = ()


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


# -- before the rules: completing and tidying a request ------------------------------------------------
def carry_product(variety: Variety, spec: InstrumentSpec) -> Product:
    """Return the product an order gets when it names none: MIS on a cover order, else CNC or NRML."""
    if variety is Variety.CO:
        return Product.MIS
    return Product.NRML if spec.is_derivative else Product.CNC


def complete(req: OrderRequest, spec: InstrumentSpec, rules: PreTradeRules) -> OrderRequest:
    """Return ``req`` with what it left to the defaults: product, market protection, the iceberg leg size."""
    if req.product is None:
        req = req.replace(product=carry_product(req.variety, spec))
    if req.order_type not in (OrderType.MARKET, OrderType.SL_M):
        req = req.replace(market_protection=None)  # Kite ignores it on priced orders
    elif req.market_protection is None:
        req = req.replace(market_protection=rules.default_market_protection)
    legs = req.iceberg_legs or 0
    if req.variety is Variety.ICEBERG and not req.iceberg_quantity and 2 <= legs <= rules.limits.max_iceberg_legs:
        req = req.replace(iceberg_quantity=_fair_leg(req.quantity, legs, spec))
    return req


def _fair_leg(quantity: int, legs: int, spec: InstrumentSpec) -> int:
    # Kite's leg size is quantity / legs; rounded up to whole lots so the legs cover the quantity.
    lot = max(spec.lot_size, 1)
    return max(math.ceil(quantity / max(legs, 1) / lot), 1) * lot


def check_shape(req: OrderRequest) -> None:
    """Refuse a price or trigger the order type does not take, minutes without TTL, a price beyond any real one.

    Kite ignores such fields rather than refusing them; a client that sets one has misunderstood the order.
    """
    ot = req.order_type
    priced, stop = ot in (OrderType.LIMIT, OrderType.SL), ot in (OrderType.SL, OrderType.SL_M)
    if not priced and req.price:
        raise fail(
            Rule.PRICE,
            f"price {req.price:g} is not taken by a {ot} order; nearest: no price (use LIMIT or SL to cap the price)",
            "price",
        )
    if not (stop or req.variety is Variety.CO) and req.trigger_price:
        raise fail(
            Rule.TRIGGER,
            f"trigger_price {req.trigger_price:g} is not taken by a {ot} order; "
            "nearest: no trigger (use SL or SL-M for a stop)",
            "trigger_price",
        )
    if req.validity is not Validity.TTL and req.validity_ttl is not None:
        raise fail(
            Rule.VALIDITY,
            f"validity_ttl is only for TTL validity, not {req.validity}; nearest: no validity_ttl",
            "validity_ttl",
        )
    for name in ("price", "trigger_price"):
        value = getattr(req, name)
        if value and not abs(value) <= MAX_NUMBER:
            rule = Rule.TRIGGER if name == "trigger_price" else Rule.PRICE
            raise fail(rule, f"{name} {value:g} is beyond any real price (at most {MAX_NUMBER:g})", name)


def terms_of(req: OrderRequest, spec: InstrumentSpec, tag: str | None = None) -> PlaceRequest:
    """Return the terms Kite reads from ``req`` (what the simulator's exchange parses from the same fields), with
    ``tag`` if given."""
    priced = req.order_type in (OrderType.LIMIT, OrderType.SL)
    # Positional, in PlaceRequest's order: a backtest builds one for every order it places, and binding
    # keywords cost more than the rest of building it.
    return PlaceRequest(
        req.variety,
        str(req.exchange),
        req.tradingsymbol,
        req.transaction_type,
        req.order_type,
        req.product or carry_product(req.variety, spec),
        req.quantity,
        (req.price or 0.0) if priced else 0.0,  # price
        req.trigger_price or 0.0,
        req.validity,
        req.validity_ttl,
        req.disclosed_quantity or 0,
        req.iceberg_legs or 0,
        req.iceberg_quantity or 0,
        req.auction_number,
        tag,
        req.market_protection or 0.0,
    )


# -- the rules' words on the client side: what is wrong, and the nearest valid value --------------------
Advice = Callable[[PlaceRequest, InstrumentSpec, Facts], tuple[str, Any]]


def refuse(rules: tuple[OrderRule, ...], req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> None:
    """Raise the refusal of the first of ``rules`` the terms break, with the nearest valid value.

    Raises:
        OrderValidationError: ``rule`` the rule's family, ``field`` the field at fault.
    """
    broken = first_breach(rules, req, facts)
    if broken is not None:
        message, nearest = ADVICE[broken](req, spec, facts)
        raise fail(broken.rule, message, broken.field, nearest)


def tag_advice(tag: str, limits: OrderLimits) -> tuple[str, str]:
    """Return what is wrong with a tag Kite refuses, and the nearest one it takes."""
    limit = limits.max_tag_length
    near = valid_tag(tag, limit)
    return f"tag {tag!r} is not {limit} letters or digits at most; nearest {near!r}", near


def _hint(spec: InstrumentSpec, facts: Facts) -> tuple[float | None, str]:
    """Return the last price on the tick (the nearest price to suggest) and how it reads, when a quote is at hand."""
    if facts.quote is None or facts.quote.last_price <= 0:
        return None, ""
    hint = nearest_tick(facts.quote.last_price, spec.tick_size)
    return hint, f"; nearest {_show(hint, spec.tick_size)}"


def _lot(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    lot = max(spec.lot_size, 1)
    nearest = max(lot, round(req.quantity / lot) * lot)
    return f"quantity {req.quantity} is not a multiple of lot {lot} of {spec.key}; nearest {nearest}", nearest


def _no_price(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    hint, near = _hint(spec, facts)
    return f"{req.order_type} orders need a price above 0{near or '; give a price above 0'}", hint


def _no_trigger(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    hint, near = _hint(spec, facts)
    what = "cover" if req.variety is Variety.CO else req.order_type
    return f"{what} orders need a trigger_price above 0{near}", hint


def _off_tick(name: str) -> Advice:
    def advise(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
        value, tick = getattr(req, name), spec.tick_size
        on = max(nearest_tick(value, tick), tick)  # a price above 0 is at least one tick
        return f"{name} {value:g} is not a multiple of tick {tick:g}; nearest {_show(on, tick)}", on

    return advise


def _stop_beyond_price(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    tick, side = spec.tick_size, "above" if req.is_buy else "below"
    return (
        f"trigger_price {_show(req.trigger_price, tick)} is {side} price {_show(req.price, tick)} on a "
        f"{req.transaction_type} SL order; nearest {_show(req.price, tick)}",
        req.price,
    )


def _ttl_minutes(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    most = facts.limits.max_ttl_minutes
    nearest = min(max(req.validity_ttl or 1, 1), most)
    return f"validity_ttl {req.validity_ttl} is not 1 to {most} minutes; nearest {nearest}", nearest


def _disclosed_share(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    shown, least = req.disclosed_quantity, math.ceil(req.quantity / 10)
    nearest = min(max(shown, least), req.quantity)
    return (
        f"disclosed_quantity {shown} is not between 10% of the quantity ({least}) and the quantity "
        f"({req.quantity}); nearest {nearest}",
        nearest,
    )


def _protection_range(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    mp = req.market_protection
    nearest = 100 if mp > 100 else -1
    return (
        f"market_protection {mp:g} is neither -1 (auto) nor a percentage above 0 up to 100 (2.5 is fine); "
        f"nearest {nearest}",
        nearest,
    )


def _protection_required(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    since = facts.limits.protection_required_from
    when = f" since {since:%d %B %Y}" if since else ""
    return f"market_protection 0 is refused on MARKET and SL-M orders{when}; nearest -1 (auto)", -1


def _autoslice_slices(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    most = facts.limits.max_autoslices
    largest = slice_size(spec.lot_size, spec.freeze_quantity) * most
    return (
        f"quantity {req.quantity} of {spec.key} needs more than {most} autoslices of at most "
        f"{spec.freeze_quantity}; nearest {largest} (or send the rest as another order)",
        largest,
    )


def _band(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    tick, quote = spec.tick_size, facts.quote
    reference = band_reference(quote) if quote is not None else 0.0
    edges = band_range(spec, reference) or (0.0, 0.0)
    nearest = edges[0] if req.price < edges[0] else edges[1]
    when = " when its stop triggers" if req.order_type is OrderType.SL else ""
    return (
        f"price {_show(req.price, tick)} is outside the exchange's price band {_show(edges[0], tick)}-"
        f"{_show(edges[1], tick)} around the average trade price {_show(reference, tick)} of {spec.key}{when}; "
        f"nearest {_show(nearest, tick)}",
        nearest,
    )


def _iceberg_legs(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    most, legs = facts.limits.max_iceberg_legs, req.iceberg_legs
    nearest = min(max(legs, 2), most)
    return f"iceberg_legs {legs} is not between 2 and {most}; nearest {nearest}", nearest


def _iceberg_split(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    leg, legs, fair = req.iceberg_quantity, req.iceberg_legs, _fair_leg(req.quantity, req.iceberg_legs, spec)
    return f"iceberg_quantity {leg} does not split {req.quantity} into {legs} legs of whole lots; nearest {fair}", fair


def _iceberg_order_type(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    nearest: Any = Validity.DAY if req.priced else OrderType.LIMIT
    return (
        f"an iceberg is a LIMIT or SL order of DAY or TTL validity, not {req.order_type} {req.validity}; "
        f"nearest {nearest}",
        nearest,
    )


def _freeze(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    size = slice_size(spec.lot_size, spec.freeze_quantity)
    count = math.ceil(req.quantity / size)
    return (
        f"quantity {req.quantity} is above the freeze quantity {spec.freeze_quantity} of {spec.key}; "
        f"nearest {size} (or send it in {count} slices with place_sliced)",
        size,
    )


def _circuit(name: str) -> Advice:
    def advise(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
        value, tick, quote = getattr(req, name), spec.tick_size, facts.quote
        low, high = (quote.lower_circuit_limit, quote.upper_circuit_limit) if quote else (0.0, 0.0)
        side, bound = ("above the upper", high) if high > 0 and value > high else ("below the lower", low)
        return (
            f"{name} {_show(value, tick)} is {side} circuit {_show(bound, tick)} of {spec.key}; "
            f"nearest {_show(bound, tick)}",
            bound,
        )

    return advise


def _stop_passed(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    tick, last = spec.tick_size, facts.quote.last_price if facts.quote else 0.0
    near = nearest_tick(last + tick if req.is_buy else last - tick, tick)
    side = "above" if req.is_buy else "below"
    return (
        f"trigger_price {_show(req.trigger_price, tick)} of a {req.transaction_type} stop must be {side} the last "
        f"price {_show(last, tick)}; nearest {_show(near, tick)}",
        near,
    )


def _cover_stop_side(req: PlaceRequest, spec: InstrumentSpec, facts: Facts) -> tuple[str, Any]:
    tick = spec.tick_size
    entry = req.price or (facts.quote.last_price if facts.quote else 0.0)
    near = nearest_tick(entry - tick if req.is_buy else entry + tick, tick)
    side = "below" if req.is_buy else "above"
    return (
        f"trigger_price {_show(req.trigger_price, tick)} of a {req.transaction_type} cover order must be {side} "
        f"its entry {_show(entry, tick)}; nearest {_show(near, tick)}",
        near,
    )


#: What the client says for each rule in :mod:`kitekit.wire.order_rules`: the message and the nearest value.
ADVICE: Mapping[OrderRule, Advice] = {
    r.index: lambda req, spec, at: (
        f"{spec.key} is an index and cannot be traded; trade its futures or options",
        None,
    ),
    r.product: lambda req, spec, at: (
        (f"product {req.product} is not allowed on a cover order; nearest MIS", Product.MIS)
        if req.variety is Variety.CO
        else (
            f"product {req.product} is not allowed on {spec.exchange} "
            f"({'derivatives' if spec.is_derivative else 'the cash market'}); "
            f"nearest {carry_product(req.variety, spec)}",
            carry_product(req.variety, spec),
        )
    ),
    r.tag: lambda req, spec, at: tag_advice(req.tag or "", at.limits),
    r.quantity: lambda req, spec, at: (
        f"quantity {req.quantity} is not above 0; nearest {max(spec.lot_size, 1)}",
        max(spec.lot_size, 1),
    ),
    r.lot: _lot,
    r.price: _no_price,
    r.trigger: _no_trigger,
    r.price_tick: _off_tick("price"),
    r.trigger_tick: _off_tick("trigger_price"),
    r.stop_beyond_price: _stop_beyond_price,
    r.ttl_minutes: _ttl_minutes,
    r.ttl_order_type: lambda req, spec, at: (
        f"TTL validity is not taken by a {req.order_type} order; nearest DAY",
        Validity.DAY,
    ),
    r.disclosed_in_derivatives: lambda req, spec, at: (
        f"disclosed_quantity {req.disclosed_quantity} is not allowed on derivatives; nearest 0",
        0,
    ),
    r.disclosed_share: _disclosed_share,
    r.protection_range: _protection_range,
    r.protection_required: _protection_required,
    r.cover_order_type: lambda req, spec, at: (
        f"a cover order is MARKET or LIMIT, not {req.order_type}; nearest "
        f"{OrderType.MARKET if req.order_type is OrderType.SL_M else OrderType.LIMIT}",
        OrderType.MARKET if req.order_type is OrderType.SL_M else OrderType.LIMIT,
    ),
    r.cover_validity: lambda req, spec, at: (
        f"a cover order is a DAY order, not {req.validity}; nearest DAY",
        Validity.DAY,
    ),
    r.iceberg_legs: _iceberg_legs,
    r.iceberg_order_type: _iceberg_order_type,
    r.iceberg_autoslice: lambda req, spec, at: ("an iceberg cannot be autosliced too; nearest: no autoslice", None),
    r.iceberg_quantity: _iceberg_split,
    r.iceberg_empty_leg: _iceberg_split,
    r.auction_number: lambda req, spec, at: (
        f"auction_number {req.auction_number!r} is not an auction's number (digits); nearest: the auction's number",
        None,
    ),
    r.auction_order_type: lambda req, spec, at: (
        f"auction orders are LIMIT orders, not {req.order_type}; nearest LIMIT",
        OrderType.LIMIT,
    ),
    r.freeze: _freeze,
    r.autoslice_slices: _autoslice_slices,
    r.price_circuit: _circuit("price"),
    r.trigger_circuit: _circuit("trigger_price"),
    r.price_band: _band,
    r.stop_band: _band,
    r.stop_passed: _stop_passed,
    r.cover_stop_side: _cover_stop_side,
}
