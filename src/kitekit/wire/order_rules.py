"""Kite's order rules, once: every condition Kite refuses an order for, judged the same by client and exchange.

A rule is a predicate over an order's terms (:class:`~kitekit.wire.order_terms.PlaceRequest`) and what they
are judged against (:class:`Facts`: the instrument, the limits, the day, a quote at hand). The client's
pre-trade check (:mod:`kitekit.orders.rules`) and the simulator's exchange (:mod:`kitekit.engine.validation`,
:mod:`kitekit.engine.risk`) run the same lists below in the same order, so they refuse the same requests for
the same first reason; they differ only in what they say, which each keeps at its edge in a table from rule
to words: the client names the nearest valid value, the exchange answers with Kite's exact message. A test
holds both tables to every rule here, so a new rule is one definition in this module and one entry at each
edge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from kitekit.wire.order_terms import Contract, OrderLimits, PlaceRequest, Quoted, slice_size
from kitekit.wire.orders import OrderType, Product, Validity, Variety
from kitekit.wire.price_bands import BAND_EXCHANGES, band_range

__all__ = [
    "MARKET_RULES",
    "MODIFY_MARKET_RULES",
    "MODIFY_RULES",
    "ORDER_RULES",
    "PLACE_RULES",
    "TERM_RULES",
    "TRIGGERED_MARKET_RULES",
    "TRIGGER_RULES",
    "Facts",
    "OrderRule",
    "Rule",
    "Scopes",
    "band_reference",
    "first_breach",
    "on_tick",
    "scoped",
    "tag_ok",
]


# Members bound once: every order runs every rule, and reading a member off its enum class (or building a tuple
# of two) costs more than the test it serves.
_CO, _ICEBERG, _AUCTION = Variety.CO, Variety.ICEBERG, Variety.AUCTION
_LIMIT, _SL = OrderType.LIMIT, OrderType.SL
_DAY, _TTL, _IOC = Validity.DAY, Validity.TTL, Validity.IOC
_PRICED = frozenset({OrderType.LIMIT, OrderType.SL})
_STOPS = frozenset({OrderType.SL, OrderType.SL_M})
_UNPRICED = frozenset({OrderType.MARKET, OrderType.SL_M})
_COVER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT})
_COVER_PRODUCTS = frozenset({Product.MIS, Product.CO})
# Where the rules of one variety can break (scopes for :func:`scoped`).
_ONLY_CO, _ONLY_ICEBERG, _ONLY_AUCTION = frozenset({_CO}), frozenset({_ICEBERG}), frozenset({_AUCTION})


class Rule(StrEnum):
    """The families of rules; a client's ``OrderValidationError.rule`` is one of these."""

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
    COVER = "cover_order"
    ICEBERG = "iceberg"
    AUCTION = "auction"
    TAG = "tag"
    AUTOSLICE = "autoslice"
    BAND = "price_band"
    #: Not a rule of the order's terms: the address it is sent from (``kitekit.orders.static_ip``).
    STATIC_IP = "static_ip"


@dataclass(frozen=True, slots=True)
class Facts:
    """What a rule judges an order's terms against besides the terms themselves.

    Args:
        spec: the instrument.
        limits: the limits that are settings.
        day: the trading day, for rules that start on a date (None skips them).
        quote: the market at hand, for :data:`MARKET_RULES` (None skips them).
    """

    spec: Contract
    limits: OrderLimits = field(default_factory=OrderLimits)
    day: date | None = None
    quote: Quoted | None = None


Check = Callable[[PlaceRequest, Facts], bool]


@dataclass(frozen=True, slots=True)
class OrderRule:
    """One condition Kite refuses an order for: its name, family, the field at fault, and the test of it.

    ``order_types``, ``varieties`` and ``banded`` say where the rule can break at all (None: any order type or
    variety; ``banded``: only on an exchange with price bands), so :func:`scoped` can leave it out for an
    order it could never refuse. They only ever narrow: the test alone decides, wherever it is run.
    """

    name: str
    rule: Rule
    field: str
    breaks: Check
    order_types: frozenset[OrderType] | None = None
    varieties: frozenset[Variety] | None = None
    banded: bool = False

    def __repr__(self) -> str:
        return f"OrderRule({self.name})"

    def can_break(self, order_type: OrderType, variety: Variety, exchange: str) -> bool:
        """Return False if no order of this type and variety on ``exchange`` can break the rule."""
        return (
            (self.order_types is None or order_type in self.order_types)
            and (self.varieties is None or variety in self.varieties)
            and (not self.banded or exchange in BAND_EXCHANGES)
        )


def refuses(
    rule: Rule,
    field_name: str,
    *,
    order_types: frozenset[OrderType] | None = None,
    varieties: frozenset[Variety] | None = None,
    banded: bool = False,
) -> Callable[[Check], OrderRule]:
    """Return a decorator making a predicate (True: the terms break it) an :class:`OrderRule`.

    The keywords narrow where it can break (see :class:`OrderRule`); ``tests/test_order_rules_scope.py``
    holds every rule to them on every order type, variety and exchange.
    """

    def define(check: Check) -> OrderRule:
        return OrderRule(check.__name__, rule, field_name, check, order_types, varieties, banded)

    return define


def first_breach(rules: Iterable[OrderRule], req: PlaceRequest, facts: Facts) -> OrderRule | None:
    """Return the first of ``rules`` the terms break, or None when they break none."""
    for rule in rules:  # a plain loop: a generator's frame costs as much as a rule on the engine's hot path
        if rule.breaks(req, facts):
            return rule
    return None


# (id of a rule list, order type, variety, banded) -> (the list, the rules of it that can break): keyed by
# identity because hashing a tuple of rules hashes every field of each, dearer than judging them; the list is
# kept in the value so its id cannot be reused while the entry lives.
_SCOPED: dict[tuple[int, OrderType, Variety, bool], tuple[tuple[OrderRule, ...], tuple[OrderRule, ...]]] = {}


def scoped(
    rules: tuple[OrderRule, ...], order_type: OrderType, variety: Variety, exchange: str
) -> tuple[OrderRule, ...]:
    """Return those of ``rules`` an order of this type and variety on ``exchange`` can break, in their order.

    :func:`first_breach` over them answers as over all of ``rules``: the rules left out return False for
    such an order whatever its other terms and facts (the engine judges the market rules this way at every
    order: a LIMIT order on NSE meets one of the five).
    """
    key = (id(rules), order_type, variety, exchange in BAND_EXCHANGES)
    hit = _SCOPED.get(key)
    if hit is not None and hit[0] is rules:
        return hit[1]
    if len(_SCOPED) > 1024:  # only ever a few module-level lists; lists built on the fly must not pile up
        _SCOPED.clear()
    narrowed = tuple(r for r in rules if r.can_break(order_type, variety, exchange))
    _SCOPED[key] = (rules, narrowed)
    return narrowed


class Scopes:
    """:func:`scoped` of one rule list on one exchange, kept by order type and variety.

    For a caller that judges many orders of one instrument (the engine keeps one per instrument): two lookups
    by enum member instead of building and hashing a key with the list's identity at every order.
    """

    __slots__ = ("_by_type", "exchange", "rules")

    def __init__(self, rules: tuple[OrderRule, ...], exchange: str) -> None:
        self.rules, self.exchange = rules, exchange
        self._by_type: dict[OrderType, dict[Variety, tuple[OrderRule, ...]]] = {}

    def of(self, order_type: OrderType, variety: Variety) -> tuple[OrderRule, ...]:
        """Return ``scoped(rules, order_type, variety, exchange)``."""
        by_variety = self._by_type.get(order_type)
        if by_variety is None:
            by_variety = self._by_type[order_type] = {}
        hit = by_variety.get(variety)
        if hit is None:
            hit = by_variety[variety] = scoped(self.rules, order_type, variety, self.exchange)
        return hit


def on_tick(price: float, tick: float) -> bool:
    """Return True if ``price`` is a whole number of ticks (a price that is not 0 is at least one tick)."""
    if tick <= 0:
        return True
    steps = price / tick
    if not math.isfinite(steps):
        return False  # 1e308 / 0.05 overflows: no tick count, and round() of it would raise
    whole = round(steps)
    # Without the second test 1e-300 would pass as "0 ticks" while being a price above 0.
    return abs(steps - whole) < 1e-6 and (whole != 0 or price == 0)


def tag_ok(tag: str, limits: OrderLimits) -> bool:
    """Return True for a tag Kite takes: ASCII letters and digits, 1 to ``max_tag_length`` of them."""
    return 0 < len(tag) <= limits.max_tag_length and tag.isascii() and tag.isalnum()


def _market(req: PlaceRequest) -> bool:
    return req.order_type in _UNPRICED


def band_reference(quote: Quoted) -> float:
    """Return the price a quote's band is drawn around: its average trade price, else its last price."""
    return quote.average_price if quote.average_price > 0 else quote.last_price


def _outside_band(price: float, spec: Contract, quote: Quoted | None) -> bool:
    if spec.exchange not in BAND_EXCHANGES:
        return False  # no band (band_of), known before drawing one: most orders are in the cash market
    edges = band_range(spec, band_reference(quote)) if quote is not None else None
    return edges is not None and price > 0 and (price < edges[0] - 1e-9 or price > edges[1] + 1e-9)


def _outside_circuit(value: float, quote: Quoted) -> bool:
    low, high = quote.lower_circuit_limit, quote.upper_circuit_limit  # 0: not known, not checked
    return value > 0 and ((high > 0 and value > high + 1e-9) or (low > 0 and value < low - 1e-9))


# -- the instrument and the request as a whole ---------------------------------------------------------
@refuses(Rule.INSTRUMENT, "tradingsymbol")
def index(req: PlaceRequest, at: Facts) -> bool:
    """An index: it has quotes but no order book."""
    return not at.spec.tradable


@refuses(Rule.PRODUCT, "product")
def product(req: PlaceRequest, at: Facts) -> bool:
    """A product the segment does not take (delivery only in cash, NRML only in derivatives); a CO not MIS."""
    if req.variety is _CO:
        return req.product not in _COVER_PRODUCTS
    return req.product not in at.spec.products


@refuses(Rule.TAG, "tag")
def tag(req: PlaceRequest, at: Facts) -> bool:
    """A tag that is not 1-20 letters and digits."""
    return req.tag is not None and not tag_ok(req.tag, at.limits)


# -- the terms a modification changes ------------------------------------------------------------------
@refuses(Rule.QUANTITY, "quantity")
def quantity(req: PlaceRequest, at: Facts) -> bool:
    """A quantity of 0 or less."""
    return req.quantity <= 0


@refuses(Rule.LOT, "quantity")
def lot(req: PlaceRequest, at: Facts) -> bool:
    """A quantity that is not a whole number of lots."""
    return req.quantity % max(at.spec.lot_size, 1) != 0


@refuses(Rule.PRICE, "price", order_types=_PRICED)
def price(req: PlaceRequest, at: Facts) -> bool:
    """A LIMIT or SL order without a price above 0."""
    return req.order_type in _PRICED and req.price <= 0


@refuses(Rule.TRIGGER, "trigger_price")
def trigger(req: PlaceRequest, at: Facts) -> bool:
    """A stop (SL, SL-M) or a cover order without a trigger above 0."""
    return (req.order_type in _STOPS or req.variety is _CO) and req.trigger_price <= 0


@refuses(Rule.TICK, "price")
def price_tick(req: PlaceRequest, at: Facts) -> bool:
    """A price off the instrument's tick."""
    return bool(req.price) and not on_tick(req.price, at.spec.tick_size)


@refuses(Rule.TICK, "trigger_price")
def trigger_tick(req: PlaceRequest, at: Facts) -> bool:
    """A trigger off the instrument's tick."""
    return bool(req.trigger_price) and not on_tick(req.trigger_price, at.spec.tick_size)


@refuses(Rule.TRIGGER, "trigger_price", order_types=frozenset({OrderType.SL}))
def stop_beyond_price(req: PlaceRequest, at: Facts) -> bool:
    """An SL order triggering beyond its own price: above it on a buy, below it on a sell."""
    if req.order_type is not _SL:
        return False
    return req.trigger_price > req.price if req.is_buy else req.trigger_price < req.price


@refuses(Rule.VALIDITY, "validity_ttl")
def ttl_minutes(req: PlaceRequest, at: Facts) -> bool:
    """TTL validity without 1 minute to a day of it."""
    ttl = req.validity_ttl
    return req.validity is _TTL and not (ttl is not None and 1 <= ttl <= at.limits.max_ttl_minutes)


@refuses(Rule.VALIDITY, "validity", order_types=_UNPRICED)
def ttl_order_type(req: PlaceRequest, at: Facts) -> bool:
    """TTL validity on an order without a price (only LIMIT and SL take it)."""
    return req.validity is _TTL and req.order_type not in _PRICED


@refuses(Rule.DISCLOSED, "disclosed_quantity")
def disclosed_in_derivatives(req: PlaceRequest, at: Facts) -> bool:
    """A disclosed quantity in derivatives."""
    return req.disclosed_quantity != 0 and at.spec.is_derivative


@refuses(Rule.DISCLOSED, "disclosed_quantity")
def disclosed_share(req: PlaceRequest, at: Facts) -> bool:
    """A disclosed quantity under 10% of the quantity or over all of it."""
    shown = req.disclosed_quantity
    return shown != 0 and (shown < 0 or shown > req.quantity or shown * 10 < req.quantity)


@refuses(Rule.PROTECTION, "market_protection", order_types=_UNPRICED)
def protection_range(req: PlaceRequest, at: Facts) -> bool:
    """Market protection on a MARKET or SL-M order that is neither -1 (auto) nor 0-100 percent (2.5 is fine)."""
    mp = req.market_protection
    return _market(req) and mp != -1 and not 0 <= mp <= 100


@refuses(Rule.PROTECTION, "market_protection", order_types=_UNPRICED)
def protection_required(req: PlaceRequest, at: Facts) -> bool:
    """A MARKET or SL-M order without market protection, from the day that became mandatory."""
    since = at.limits.protection_required_from
    due = since is not None and at.day is not None and at.day >= since
    return due and _market(req) and req.market_protection == 0


# -- what each variety needs ---------------------------------------------------------------------------
@refuses(Rule.COVER, "order_type", varieties=_ONLY_CO)
def cover_order_type(req: PlaceRequest, at: Facts) -> bool:
    """A cover order that is not MARKET or LIMIT."""
    return req.variety is _CO and req.order_type not in _COVER_TYPES


@refuses(Rule.COVER, "validity", varieties=_ONLY_CO)
def cover_validity(req: PlaceRequest, at: Facts) -> bool:
    """A cover order that is not a DAY order."""
    return req.variety is _CO and req.validity is not _DAY


@refuses(Rule.ICEBERG, "iceberg_legs", varieties=_ONLY_ICEBERG)
def iceberg_legs(req: PlaceRequest, at: Facts) -> bool:
    """An iceberg of fewer than 2 or more than ``max_iceberg_legs`` legs."""
    return req.variety is _ICEBERG and not 2 <= req.iceberg_legs <= at.limits.max_iceberg_legs


@refuses(Rule.ICEBERG, "order_type", varieties=_ONLY_ICEBERG)
def iceberg_order_type(req: PlaceRequest, at: Facts) -> bool:
    """An iceberg that is not a LIMIT or SL order, or is IOC."""
    return req.variety is _ICEBERG and (req.order_type not in _PRICED or req.validity is _IOC)


@refuses(Rule.ICEBERG, "autoslice", varieties=_ONLY_ICEBERG)
def iceberg_autoslice(req: PlaceRequest, at: Facts) -> bool:
    """An iceberg asked to be autosliced too."""
    return req.variety is _ICEBERG and req.autoslice


@refuses(Rule.ICEBERG, "iceberg_quantity", varieties=_ONLY_ICEBERG)
def iceberg_quantity(req: PlaceRequest, at: Facts) -> bool:
    """Iceberg legs that are not whole lots or do not together cover the quantity."""
    leg, legs = req.iceberg_quantity, req.iceberg_legs
    short = leg <= 0 or leg % max(at.spec.lot_size, 1) != 0 or leg * legs < req.quantity
    return req.variety is _ICEBERG and short


@refuses(Rule.ICEBERG, "iceberg_quantity", varieties=_ONLY_ICEBERG)
def iceberg_empty_leg(req: PlaceRequest, at: Facts) -> bool:
    """Iceberg legs so large that the last would carry nothing."""
    return req.variety is _ICEBERG and req.iceberg_quantity * (req.iceberg_legs - 1) >= req.quantity


@refuses(Rule.AUCTION, "auction_number", varieties=_ONLY_AUCTION)
def auction_number(req: PlaceRequest, at: Facts) -> bool:
    """An auction order without the auction's number."""
    number = req.auction_number or ""
    return req.variety is _AUCTION and not (number.isascii() and number.isdigit())


@refuses(Rule.AUCTION, "order_type", varieties=_ONLY_AUCTION)
def auction_order_type(req: PlaceRequest, at: Facts) -> bool:
    """An auction order that is not a LIMIT order."""
    return req.variety is _AUCTION and req.order_type is not _LIMIT


@refuses(Rule.FREEZE, "quantity")
def freeze(req: PlaceRequest, at: Facts) -> bool:
    """More than the freeze quantity in one order (autoslice splits it instead)."""
    # An iceberg's legs reach the exchange one by one, so only a leg must stay within the limit.
    iceberg = req.variety is _ICEBERG and req.iceberg_quantity > 0
    size = req.iceberg_quantity if iceberg else req.quantity
    limit = at.spec.freeze_quantity
    return limit > 0 and size > limit and not req.autoslice


@refuses(Rule.AUTOSLICE, "quantity")
def autoslice_slices(req: PlaceRequest, at: Facts) -> bool:
    """An autoslice order that would need more than ``max_autoslices`` slices."""
    if not req.autoslice:  # most orders: no slice size to work out
        return False
    size = slice_size(at.spec.lot_size, at.spec.freeze_quantity)
    return size > 0 and math.ceil(req.quantity / size) > at.limits.max_autoslices


# -- the market at hand (Kite's RMS: these leave a REJECTED order, not an HTTP error) ----------------
@refuses(Rule.CIRCUIT, "price", order_types=_PRICED)
def price_circuit(req: PlaceRequest, at: Facts) -> bool:
    """A LIMIT or SL price outside the day's circuit limits."""
    return at.quote is not None and req.order_type in _PRICED and _outside_circuit(req.price, at.quote)


@refuses(Rule.CIRCUIT, "trigger_price", order_types=_STOPS)
def trigger_circuit(req: PlaceRequest, at: Facts) -> bool:
    """A stop's trigger outside the day's circuit limits."""
    return at.quote is not None and req.order_type in _STOPS and _outside_circuit(req.trigger_price, at.quote)


@refuses(Rule.BAND, "price", order_types=frozenset({OrderType.LIMIT}), banded=True)
def price_band(req: PlaceRequest, at: Facts) -> bool:
    """A LIMIT price outside the exchange's price band around the market (:mod:`kitekit.wire.price_bands`)."""
    return req.order_type is _LIMIT and _outside_band(req.price, at.spec, at.quote)


@refuses(Rule.BAND, "price", order_types=frozenset({OrderType.SL}), banded=True)
def stop_band(req: PlaceRequest, at: Facts) -> bool:
    """An SL order's price outside the price band when its stop triggers (judged then, on the market then)."""
    return req.order_type is _SL and _outside_band(req.price, at.spec, at.quote)


@refuses(Rule.TRIGGER, "trigger_price", order_types=_STOPS)
def stop_passed(req: PlaceRequest, at: Facts) -> bool:
    """A stop whose trigger the last price already passed: it would fire at once."""
    if at.quote is None or req.order_type not in _STOPS or at.quote.last_price <= 0:
        return False
    last = at.quote.last_price
    return req.trigger_price <= last if req.is_buy else req.trigger_price >= last


@refuses(Rule.TRIGGER, "trigger_price", varieties=frozenset({Variety.CO}))
def cover_stop_side(req: PlaceRequest, at: Facts) -> bool:
    """A cover order whose stop is not on the losing side of its entry (its price, or the last price)."""
    if at.quote is None or req.variety is not _CO:
        return False
    entry = req.price or at.quote.last_price
    if entry <= 0:
        return False
    return req.trigger_price >= entry if req.is_buy else req.trigger_price <= entry


#: The terms a modification can change, re-judged after it.
TERM_RULES: tuple[OrderRule, ...] = (
    quantity,
    lot,
    price,
    trigger,
    price_tick,
    trigger_tick,
    stop_beyond_price,
    ttl_minutes,
    ttl_order_type,
    disclosed_in_derivatives,
    disclosed_share,
    protection_range,
    protection_required,
)

#: A new order, in the order both sides judge it (the exchange answers the first one broken).
PLACE_RULES: tuple[OrderRule, ...] = (
    index,
    product,
    tag,
    *TERM_RULES,
    cover_order_type,
    cover_validity,
    iceberg_legs,
    iceberg_order_type,
    iceberg_autoslice,
    iceberg_quantity,
    iceberg_empty_leg,
    auction_number,
    auction_order_type,
    freeze,
    autoslice_slices,
)

#: A modified order's terms.
MODIFY_RULES: tuple[OrderRule, ...] = (*TERM_RULES, freeze)

#: A new order against the market at hand (none for an AMO: its quote is the last session's).
MARKET_RULES: tuple[OrderRule, ...] = (price_circuit, trigger_circuit, price_band, stop_passed, cover_stop_side)

#: A stop-loss limit order against the market at the moment its stop triggers (a REJECTED order then).
TRIGGER_RULES: tuple[OrderRule, ...] = (stop_band,)

#: A modified order at the exchange against the market at hand.
MODIFY_MARKET_RULES: tuple[OrderRule, ...] = (price_circuit, price_band, stop_passed)

#: The same once its stop has triggered: where the trigger stands no longer matters, its price is judged now.
TRIGGERED_MARKET_RULES: tuple[OrderRule, ...] = (price_circuit, price_band, stop_band)

#: Every rule once.
ORDER_RULES: tuple[OrderRule, ...] = (*PLACE_RULES, *MARKET_RULES, *TRIGGER_RULES)
