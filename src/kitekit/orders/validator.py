"""The pre-trade check of a request or a change, against the instrument store and a quote when one is at hand."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from kitekit.clock import IST
from kitekit.engine.quote import MarketQuote
from kitekit.engine.spec import InstrumentSpec
from kitekit.orders.model import Order, OrderChange, OrderRequest
from kitekit.orders.rules import (
    PreTradeRules,
    Rule,
    as_quote,
    check_disclosed,
    check_freeze,
    check_iceberg,
    check_prices,
    check_product,
    check_protection,
    check_quantity,
    check_validity,
    fail,
    slice_size,
    valid_tag,
)
from kitekit.wire.instruments_csv import Instrument
from kitekit.wire.orders import Exchange, OrderType, Validity, Variety

__all__ = ["Validator", "day_of"]


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
            raise fail(Rule.INSTRUMENT, f"{req.key} is an index and cannot be traded; trade its futures or options")
        req = check_product(req, spec)
        check_quantity(req.quantity, spec)
        req = check_iceberg(req, spec, self.rules)
        size = req.iceberg_quantity if req.variety is Variety.ICEBERG and req.iceberg_quantity else req.quantity
        check_freeze(size, spec)
        req = check_prices(req, spec, as_quote(quote))
        req = check_protection(req, self.rules, self.today() if self.today else None)
        check_validity(req)
        check_disclosed(req, spec)
        return req

    def slices(self, req: OrderRequest) -> list[OrderRequest]:
        """Return ``req`` cut into orders each within the freeze quantity (one order when it already is).

        Raises:
            UnknownInstrumentError: no such instrument.
        """
        spec = self.spec(req.key)
        size = slice_size(spec)
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
            raise fail(
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
        terms = change.to_kite()
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
        check_quantity(merged.quantity, spec)
        check_freeze(merged.quantity, spec)
        check_prices(merged, spec, as_quote(quote))
        return change


def day_of(now: Callable[[], datetime]) -> Callable[[], date]:
    """Return a ``today`` for :class:`Validator` reading ``now`` (an aware clock) in IST."""
    return lambda: now().astimezone(IST).date()
