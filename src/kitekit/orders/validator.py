"""The pre-trade check of a request or a change, against the instrument store and a quote when one is at hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from kitekit.clock import IST
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.orders.model import Order, OrderChange, OrderRequest, amount, whole
from kitekit.orders.rules import PreTradeRules, as_quote, check_shape, complete, fail, refuse, tag_advice, terms_of
from kitekit.wire.instruments_csv import Instrument
from kitekit.wire.order_rules import (
    MARKET_RULES,
    MODIFY_MARKET_RULES,
    MODIFY_RULES,
    PLACE_RULES,
    TRIGGERED_MARKET_RULES,
    Facts,
    Rule,
    tag_ok,
)
from kitekit.wire.order_terms import ModifyRequest, PlaceRequest, freeze_quantity, merge, slice_size
from kitekit.wire.orders import OrderStatus, OrderType, Product, Validity, Variety

__all__ = ["Validator", "day_of", "standing_terms"]

E = TypeVar("E", bound=StrEnum)


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
        freeze = freeze_quantity(inst.exchange, inst.tradingsymbol, inst.name, self.rules.freeze_quantities)
        return InstrumentSpec.from_kite(dataclasses.asdict(inst), freeze_quantity=freeze)

    def _facts(self, spec: InstrumentSpec, quote: MarketQuote | None) -> Facts:
        return Facts(spec, self.rules.limits, self.today() if self.today else None, quote)

    # -- new orders ---------------------------------------------------------------------------------
    def check(self, req: OrderRequest, quote: MarketQuote | Mapping[str, Any] | None = None) -> OrderRequest:
        """Return ``req`` checked and completed (default product, market protection, iceberg leg size).

        The rules and their order are the simulator's exchange's (:mod:`kitekit.wire.order_rules`); with a
        quote at hand the market rules too (circuit limits, stops already passed), except on an AMO, whose
        quote is the last session's.

        Raises:
            OrderValidationError: the first rule the request breaks, with the nearest valid value.
            UnknownInstrumentError: no such instrument.
        """
        spec = self.spec(req.key)
        req = complete(req, spec, self.rules)
        check_shape(req)
        at_hand = None if req.variety is Variety.AMO else as_quote(quote)
        refuse(PLACE_RULES + MARKET_RULES, terms_of(req, spec), spec, self._facts(spec, at_hand))
        return req

    def terms(self, req: OrderRequest, tag: str | None = None) -> PlaceRequest:
        """Return the terms Kite reads from a request :meth:`check` returned, as the exchange parses them from
        its form (with ``tag``): what ``kitekit.engine.Engine.submit`` places without a form to parse.

        Raises:
            UnknownInstrumentError: no such instrument.
        """
        # Built once with its tag: a copy for the tag cost the runner's backtest as much again at every order.
        return terms_of(req, self.spec(req.key), tag)

    def slices(self, req: OrderRequest) -> list[OrderRequest]:
        """Return ``req`` cut into orders each within the freeze quantity (one order when it already is).

        Raises:
            UnknownInstrumentError: no such instrument.
        """
        spec = self.spec(req.key)
        size = slice_size(spec.lot_size, spec.freeze_quantity)
        if not size or req.quantity <= size:
            return [req]
        sizes = [size] * (req.quantity // size) + ([req.quantity % size] if req.quantity % size else [])
        return [req.replace(quantity=q) for q in sizes]

    def check_tag(self, tag: str) -> str:
        """Return ``tag`` if Kite takes it (letters and digits, at most 20).

        Raises:
            OrderValidationError: rule ``tag``, the nearest tag Kite would take.
        """
        if not tag_ok(tag, self.rules.limits):
            message, nearest = tag_advice(tag, self.rules.limits)
            raise fail(Rule.TAG, message, "tag", nearest)
        return tag

    # -- changes ------------------------------------------------------------------------------------
    def check_change(
        self, order: Order, change: OrderChange, quote: MarketQuote | Mapping[str, Any] | None = None
    ) -> OrderChange:
        """Check a modification of ``order`` by the rules the exchange re-judges a modified order by.

        Raises:
            OrderValidationError: the first rule the order would break after the change.
        """
        spec = self.spec(order.key)
        new = merge(standing_terms(order), ModifyRequest(**dataclasses.asdict(change)))
        rules = MODIFY_RULES
        at_hand = as_quote(quote)
        if at_hand is not None and order.status is not OrderStatus.AMO_REQ_RECEIVED:
            triggered = order.status is not OrderStatus.TRIGGER_PENDING
            stops = (OrderType.SL, OrderType.SL_M)
            rules += TRIGGERED_MARKET_RULES if order.order_type in stops and triggered else MODIFY_MARKET_RULES
        refuse(rules, new, spec, self._facts(spec, at_hand))
        return change


def standing_terms(order: Order) -> PlaceRequest:
    """Return the terms ``order`` stands on as Kite holds them (what a modification is merged into)."""
    raw = order.raw
    product = _known(order.product, Product.MIS)
    ttl = whole(raw.get("validity_ttl"))
    # An order object without market_protection (older payloads) is taken as protected: refusing a
    # modification for a field the client cannot see would be worse than letting Kite judge it.
    protection = raw.get("market_protection")
    return PlaceRequest(
        variety=_known(order.variety, Variety.REGULAR),
        exchange=order.exchange,
        tradingsymbol=order.tradingsymbol,
        transaction_type=order.transaction_type,
        order_type=order.order_type,
        product=Product.MIS if product is Product.CO else product,
        quantity=order.quantity,
        price=order.price if order.order_type in (OrderType.LIMIT, OrderType.SL) else 0.0,
        trigger_price=order.trigger_price,
        validity=_known(order.validity, Validity.DAY),
        validity_ttl=ttl or None,
        disclosed_quantity=order.disclosed_quantity,
        market_protection=-1.0 if protection in (None, "") else amount(protection),
    )


def _known(value: E | str, default: E) -> E:
    """Return ``value`` as one of Kite's values we know, else ``default`` (a value Kite added since)."""
    try:
        return type(default)(value)
    except ValueError:
        return default


def day_of(now: Callable[[], datetime]) -> Callable[[], date]:
    """Return a ``today`` for :class:`Validator` reading ``now`` (an aware clock) in IST."""
    return lambda: now().astimezone(IST).date()
