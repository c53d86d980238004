"""Pre-trade checks against the instrument store: each refusal names its rule and the nearest valid value.

Kite refuses a price off the tick, a quantity off the lot or a MARKET order without protection only after
the round trip (and counts the request against the order budget). These checks run first, on the
instrument store's data and, when one is at hand, a quote (circuit limits, stops the price already passed).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from kitekit.engine.matching import on_tick
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.errors import OrderValidationError
from kitekit.orders.model import Order, OrderChange, OrderRequest
from kitekit.wire.instruments_csv import Instrument
from kitekit.wire.orders import Exchange, OrderType, Product, Validity, Variety

__all__ = ["FREEZE_QUANTITIES", "PreTradeRules", "Rule", "Validator", "nearest_tick", "valid_tag"]

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


def _fail(rule: Rule, message: str, field_name: str = "", nearest: Any = None) -> OrderValidationError:
    return OrderValidationError(str(rule), message, field_name, nearest)


def _quote(quote: MarketQuote | Mapping[str, Any] | None) -> MarketQuote | None:
    if quote is None or isinstance(quote, MarketQuote):
        return quote
    try:
        return MarketQuote.from_kite(quote)
    except ValueError:
        return None  # an LTP item without a timestamp still has no circuit limits to check against


class Validator:
    """Checks requests and changes against the instruments, the rules and (optionally) a quote.

    Args:
        instrument: looks an ``EXCHANGE:TRADINGSYMBOL`` up (``InstrumentStore.instrument``); raises
            ``UnknownInstrumentError`` for an unknown one.
        rules: the settings.
        today: the current trading day (for rules that start on a date); None skips them.
    """

    def __init__(
        self,
        instrument: Callable[[str], Instrument],
        rules: PreTradeRules | None = None,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.instrument = instrument
        self.rules = rules or PreTradeRules()
        self.today = today

    # -- instruments --------------------------------------------------------------------------------
    def spec(self, key: str) -> InstrumentSpec:
        """Return the engine's view of ``key`` (tick, lot, freeze quantity, products).

        Raises:
            UnknownInstrumentError: no such instrument.
        """
        inst = self.instrument(key)
        return InstrumentSpec.from_kite(dataclasses.asdict(inst), freeze_quantity=self.freeze_quantity(inst))

    def freeze_quantity(self, inst: Instrument) -> int:
        """Return the most one order on ``inst`` may carry, 0 when no limit is known."""
        table = self.rules.freeze_quantities
        for name in (inst.key, inst.tradingsymbol, inst.name):
            if name in table:
                return table[name]
        return 0

    # -- new orders ---------------------------------------------------------------------------------
    def check(self, req: OrderRequest, quote: MarketQuote | Mapping[str, Any] | None = None) -> OrderRequest:
        """Return ``req`` checked and completed (default product, market protection, iceberg leg size).

        Raises:
            OrderValidationError: the first rule the request breaks, with the nearest valid value.
            UnknownInstrumentError: no such instrument.
        """
        spec = self.spec(req.key)
        if not spec.tradable:
            raise _fail(Rule.INSTRUMENT, f"{req.key} is an index and cannot be traded; trade its futures or options")
        req = self._product(req, spec)
        self._quantity(req.quantity, spec)
        req = self._iceberg(req, spec)
        size = req.iceberg_quantity if req.variety is Variety.ICEBERG and req.iceberg_quantity else req.quantity
        self._freeze(size, spec)
        req = self._prices(req, spec, _quote(quote))
        req = self._protection(req)
        self._validity(req)
        self._disclosed(req, spec)
        return req

    def slices(self, req: OrderRequest) -> list[OrderRequest]:
        """Return ``req`` cut into orders each within the freeze quantity (one order when it already is).

        Raises:
            UnknownInstrumentError: no such instrument.
        """
        spec = self.spec(req.key)
        size = self._slice_size(spec)
        if not size or req.quantity <= size:
            return [req]
        sizes = [size] * (req.quantity // size) + ([req.quantity % size] if req.quantity % size else [])
        return [req.replace(quantity=q) for q in sizes]

    def check_tag(self, tag: str) -> str:
        """Return ``tag`` if Kite takes it (letters and digits, at most 20).

        Raises:
            OrderValidationError: rule ``tag``, the nearest tag Kite would take.
        """
        limit = self.rules.max_tag_length
        if not tag or len(tag) > limit or not (tag.isascii() and tag.isalnum()):
            raise _fail(
                Rule.TAG,
                f"tag {tag!r} is not {limit} letters or digits at most; nearest {valid_tag(tag, limit)!r}",
                "tag",
                valid_tag(tag, limit),
            )
        return tag

    # -- changes ------------------------------------------------------------------------------------
    def check_change(
        self, order: Order, change: OrderChange, quote: MarketQuote | Mapping[str, Any] | None = None
    ) -> OrderChange:
        """Check a modification of ``order`` by the same rules as a new order with the new terms.

        Raises:
            OrderValidationError: the first rule the order would break after the change.
        """
        terms = {k: v for k, v in change.to_kite().items()}
        order_type = OrderType(terms.get("order_type", order.order_type))
        priced = order_type in (OrderType.LIMIT, OrderType.SL)
        stop = order_type in (OrderType.SL, OrderType.SL_M)
        merged = OrderRequest(
            exchange=Exchange(order.exchange),
            tradingsymbol=order.tradingsymbol,
            transaction_type=order.transaction_type,
            quantity=int(terms.get("quantity", order.quantity)),
            order_type=order_type,
            price=float(terms.get("price", order.price)) if priced else None,
            trigger_price=float(terms.get("trigger_price", order.trigger_price)) if stop else None,
            validity=Validity(str(terms.get("validity", order.validity))),
        )
        if merged.validity is Validity.TTL:
            merged = merged.replace(validity_ttl=int(order.raw.get("validity_ttl") or 1))
        spec = self.spec(merged.key)
        self._quantity(merged.quantity, spec)
        self._freeze(merged.quantity, spec)
        self._prices(merged, spec, _quote(quote))
        return change

    # -- the rules ----------------------------------------------------------------------------------
    def _product(self, req: OrderRequest, spec: InstrumentSpec) -> OrderRequest:
        carry = Product.NRML if spec.is_derivative else Product.CNC
        if req.variety is Variety.CO:
            if req.product not in (None, Product.MIS):
                raise _fail(
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
            raise _fail(
                Rule.PRODUCT,
                f"product {req.product} is not allowed on {spec.exchange} ({where}); nearest {carry}",
                "product",
                carry,
            )
        return req

    def _quantity(self, quantity: int, spec: InstrumentSpec) -> None:
        lot = max(spec.lot_size, 1)
        if quantity <= 0:
            raise _fail(Rule.QUANTITY, f"quantity {quantity} is not above 0; nearest {lot}", "quantity", lot)
        if quantity % lot:
            nearest = max(lot, round(quantity / lot) * lot)
            raise _fail(
                Rule.LOT,
                f"quantity {quantity} is not a multiple of lot {lot} of {spec.key}; nearest {nearest}",
                "quantity",
                nearest,
            )

    def _slice_size(self, spec: InstrumentSpec) -> int:
        lot = max(spec.lot_size, 1)
        return (spec.freeze_quantity // lot) * lot if spec.freeze_quantity else 0

    def _freeze(self, quantity: int, spec: InstrumentSpec) -> None:
        size = self._slice_size(spec)
        if size and quantity > spec.freeze_quantity:
            count = math.ceil(quantity / size)
            raise _fail(
                Rule.FREEZE,
                f"quantity {quantity} is above the freeze quantity {spec.freeze_quantity} of {spec.key}; "
                f"nearest {size} (or send it in {count} slices with place_sliced)",
                "quantity",
                size,
            )

    def _iceberg(self, req: OrderRequest, spec: InstrumentSpec) -> OrderRequest:
        if req.variety is not Variety.ICEBERG:
            return req
        most = self.rules.max_iceberg_legs
        legs = req.iceberg_legs or 0
        if not 2 <= legs <= most:
            nearest = min(max(legs, 2), most)
            raise _fail(
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
            raise _fail(
                Rule.ICEBERG,
                f"iceberg_quantity {leg} does not split {req.quantity} into {legs} legs of whole lots; nearest {fair}",
                "iceberg_quantity",
                fair,
            )
        return req.replace(iceberg_quantity=leg)

    def _prices(self, req: OrderRequest, spec: InstrumentSpec, quote: MarketQuote | None) -> OrderRequest:
        tick = spec.tick_size
        ot = req.order_type
        priced, stop = ot in (OrderType.LIMIT, OrderType.SL), ot in (OrderType.SL, OrderType.SL_M)
        hint = nearest_tick(quote.last_price, tick) if quote else None
        if priced and not (req.price or 0) > 0:
            near = f"; nearest {_show(hint, tick)}" if hint else "; give a price above 0"
            raise _fail(Rule.PRICE, f"{ot} orders need a price above 0{near}", "price", hint)
        if not priced and req.price:
            raise _fail(
                Rule.PRICE,
                f"price {req.price:g} is not taken by a {ot} order; nearest: no price "
                "(use LIMIT or SL to cap the price)",
                "price",
                None,
            )
        cover = req.variety is Variety.CO
        if (stop or cover) and not (req.trigger_price or 0) > 0:
            raise _fail(
                Rule.TRIGGER,
                f"{'cover' if cover else ot} orders need a trigger_price above 0"
                + (f"; nearest {_show(hint, tick)}" if hint else ""),
                "trigger_price",
                hint,
            )
        if not (stop or cover) and req.trigger_price:
            raise _fail(
                Rule.TRIGGER,
                f"trigger_price {req.trigger_price:g} is not taken by a {ot} order; "
                "nearest: no trigger (use SL or SL-M for a stop)",
                "trigger_price",
                None,
            )
        for name in ("price", "trigger_price"):
            value = getattr(req, name)
            if value and not on_tick(value, tick):
                on = nearest_tick(value, tick)
                raise _fail(
                    Rule.TICK,
                    f"{name} {value:g} is not a multiple of tick {tick:g}; nearest {_show(on, tick)}",
                    name,
                    on,
                )
        if ot is OrderType.SL and req.price and req.trigger_price:
            wrong = req.trigger_price > req.price if req.is_buy else req.trigger_price < req.price
            if wrong:
                side = "above" if req.is_buy else "below"
                raise _fail(
                    Rule.TRIGGER,
                    f"trigger_price {_show(req.trigger_price, tick)} is {side} price "
                    f"{_show(req.price, tick)} on a {req.transaction_type} SL order; nearest "
                    f"{_show(req.price, tick)}",
                    "trigger_price",
                    req.price,
                )
        if quote is not None:
            self._against_quote(req, tick, quote, stop)
        return req

    def _against_quote(self, req: OrderRequest, tick: float, quote: MarketQuote, stop: bool) -> None:
        last = quote.last_price
        if stop and req.trigger_price and last > 0:
            # A stop whose trigger the price already passed would fire at once; Kite's RMS rejects it.
            passed = req.trigger_price <= last if req.is_buy else req.trigger_price >= last
            if passed:
                near = nearest_tick(last + tick if req.is_buy else last - tick, tick)
                side = "above" if req.is_buy else "below"
                raise _fail(
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
                raise _fail(
                    Rule.CIRCUIT,
                    f"{name} {_show(value, tick)} is above the upper circuit "
                    f"{_show(high, tick)} of {req.key}; nearest {_show(high, tick)}",
                    name,
                    high,
                )
            if value and low > 0 and value < low - 1e-9:
                raise _fail(
                    Rule.CIRCUIT,
                    f"{name} {_show(value, tick)} is below the lower circuit "
                    f"{_show(low, tick)} of {req.key}; nearest {_show(low, tick)}",
                    name,
                    low,
                )

    def _protection(self, req: OrderRequest) -> OrderRequest:
        if req.order_type not in (OrderType.MARKET, OrderType.SL_M):
            return req.replace(market_protection=None)  # Kite ignores it on priced orders
        mp = req.market_protection
        if mp is None:
            return req.replace(market_protection=self.rules.default_market_protection)
        if mp != -1 and not 0 <= mp <= 100:
            nearest = 100 if mp > 100 else -1
            raise _fail(
                Rule.PROTECTION,
                f"market_protection {mp} is neither -1 (auto) nor 0-100 percent; nearest {nearest}",
                "market_protection",
                nearest,
            )
        required = self.rules.protection_required_from
        if mp == 0 and required is not None and self.today is not None and self.today() >= required:
            raise _fail(
                Rule.PROTECTION,
                f"market_protection 0 is refused on MARKET and SL-M orders since "
                f"{required:%d %B %Y}; nearest -1 (auto)",
                "market_protection",
                -1,
            )
        return req

    def _validity(self, req: OrderRequest) -> None:
        if req.validity is Validity.TTL:
            if req.order_type not in (OrderType.LIMIT, OrderType.SL):
                raise _fail(
                    Rule.VALIDITY,
                    f"TTL validity is not taken by a {req.order_type} order; nearest DAY",
                    "validity",
                    Validity.DAY,
                )
            if not (req.validity_ttl or 0) >= 1:
                raise _fail(
                    Rule.VALIDITY,
                    f"validity_ttl {req.validity_ttl} is not 1 minute or more; nearest 1",
                    "validity_ttl",
                    1,
                )
        elif req.validity_ttl is not None:
            raise _fail(
                Rule.VALIDITY,
                f"validity_ttl is only for TTL validity, not {req.validity}; nearest: no validity_ttl",
                "validity_ttl",
                None,
            )

    def _disclosed(self, req: OrderRequest, spec: InstrumentSpec) -> None:
        dq = req.disclosed_quantity
        if not dq:
            return
        if spec.is_derivative:
            raise _fail(
                Rule.DISCLOSED,
                f"disclosed_quantity {dq} is not allowed on derivatives; nearest 0",
                "disclosed_quantity",
                0,
            )
        least = math.ceil(req.quantity / 10)
        if not least <= dq <= req.quantity:
            nearest = min(max(dq, least), req.quantity)
            raise _fail(
                Rule.DISCLOSED,
                f"disclosed_quantity {dq} is not between 10% of the quantity ({least}) "
                f"and the quantity ({req.quantity}); nearest {nearest}",
                "disclosed_quantity",
                nearest,
            )


def day_of(now: Callable[[], datetime]) -> Callable[[], date]:
    """Return a ``today`` for :class:`Validator` reading ``now`` (an aware clock) in IST."""
    from kitekit.clock import IST

    return lambda: now().astimezone(IST).date()
