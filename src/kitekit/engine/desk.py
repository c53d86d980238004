"""Place, modify, cancel and exit as Kite's order routes define them, with each variety's extra steps.

Orders come in as typed :class:`~kitekit.wire.order_terms.PlaceRequest` objects (:meth:`OrderDesk.submit`);
Kite's form fields are parsed into one first (:meth:`OrderDesk.place`), so both paths run the same code.
Varieties on top of the state machine of :mod:`.flow`: ``amo`` queues until the open, ``iceberg`` places
its legs one after another, ``co`` adds an SL-M stop-loss leg once the entry fills, and ``autoslice=true``
splits an order above the freeze quantity into children that may fail one by one (``docs/protocol.md`` §8.5).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

from kitekit.engine import risk
from kitekit.engine.flow import OrderFlow
from kitekit.engine.margins import margin_for
from kitekit.engine.order import Order
from kitekit.engine.spec import InstrumentSpec
from kitekit.engine.validation import check_modified, check_place, invalid, parse_modify, parse_place
from kitekit.wire.envelope import RejectionError
from kitekit.wire.order_rules import MODIFY_MARKET_RULES, TRIGGERED_MARKET_RULES
from kitekit.wire.order_terms import MAX_NUMBER, PlaceRequest, merge, slice_size
from kitekit.wire.orders import OrderStatus as S
from kitekit.wire.orders import OrderType, Product, TransactionType, Validity, Variety

__all__ = ["OrderDesk"]


class OrderDesk:
    """The order routes of one account, on top of its :class:`OrderFlow`."""

    def __init__(self, flow: OrderFlow) -> None:
        self.flow = flow
        flow.on_done = self._done

    # -- place --------------------------------------------------------------------------------------
    def place(self, variety: str, params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``POST /orders/{variety}``: parse the form into a request and :meth:`submit` it.

        Raises:
            RejectionError: the request is refused outright (see :mod:`.validation`).
        """
        return self.submit(parse_place(variety, params), now, parsed=True)

    def submit(self, req: PlaceRequest, now: datetime, *, parsed: bool = False) -> dict[str, Any]:
        """Place a request: return ``{"order_id"}``, or the autoslice shape with ``children``.

        Args:
            req: the request.
            now: the time of placement.
            parsed: ``req`` comes from :func:`parse_place`, so its fields are known to be well-formed.

        Raises:
            RejectionError: the request is refused outright (see :mod:`.validation`).
        """
        flow = self.flow
        if not parsed:
            req = well_formed(req)
        spec = check_place(req, flow.spec_of(req.exchange, req.tradingsymbol), flow.limits, now, flow.calendar)
        if req.autoslice:
            return self._autoslice(req, spec, now)
        if req.variety is _ICEBERG:
            first = dataclasses.replace(req, quantity=req.iceberg_quantity)
            meta = {"iceberg": _iceberg_meta(1, req.iceberg_legs, req.iceberg_quantity, req.quantity, req.quantity)}
            return {"order_id": flow.submit(first, spec, now, meta=meta).order_id}
        return {"order_id": flow.submit(req, spec, now).order_id}

    def _autoslice(self, req: PlaceRequest, spec: InstrumentSpec, now: datetime) -> dict[str, Any]:
        # Kite answers with a parent id of its own, distinct from every slice's (no order in the book carries
        # it); each slice is an order of its own tagged ["autoslice", "autoslice:<parent>"] (Kite's docs).
        # At most ``max_autoslices`` slices: check_place refused more already (autoslice_slices).
        freeze = slice_size(spec.lot_size, spec.freeze_quantity) or req.quantity
        sizes = [freeze] * (req.quantity // freeze) + ([req.quantity % freeze] if req.quantity % freeze else [])
        parent = self.flow.account.ids.order_id(now)
        tags = ["autoslice", f"autoslice:{parent}"]
        children: list[dict[str, Any]] = []
        errors: list[RejectionError] = []
        for size in sizes:
            child = dataclasses.replace(req, quantity=size, autoslice=False)
            try:
                order = self.flow.submit(child, spec, now, strict=True, tags=tags)
                children.append({"order_id": order.order_id})
            except RejectionError as exc:
                errors.append(exc)
                children.append({"error": exc.as_kite()})
        if len(errors) == len(sizes):
            raise errors[0]
        return {"order_id": parent, "children": children}

    # -- modify -------------------------------------------------------------------------------------
    def modify(self, variety: str, order_id: str, params: Mapping[str, Any], now: datetime) -> dict[str, Any]:
        """``PUT /orders/{variety}/{order_id}``: change a live order, the history gaining the modify states.

        Raises:
            RejectionError: no such order, not live, 25 modifications already, or the new terms are refused.
        """
        flow = self.flow
        order = flow.get(order_id, variety)
        if not order.status.is_live:
            raise invalid(f"Order cannot be modified as it is {order.status.lower()}.")
        if order.modifications >= flow.limits.max_modifications:
            raise invalid(f"Maximum allowed order modifications ({flow.limits.max_modifications}) exceeded.")
        mod = parse_modify(params)
        if order.variety is Variety.CO and order.parent_order_id is not None:
            # A cover order's stop-loss leg can only move its trigger.
            mod = dataclasses.replace(mod, quantity=None, price=None, order_type=None, validity=None)
        new = merge(flow.request_of(order), mod)
        spec = flow.account.specs[order.instrument_token]
        if new.quantity <= order.filled_quantity:
            raise invalid("Quantity should be more than the quantity already filled.")
        check_modified(new, spec, flow.limits, now)
        required = self._check_modify(order, new, spec)
        queued = order.status is S.AMO_REQ_RECEIVED
        order.enter(S.MODIFY_VALIDATION_PENDING, now)
        order.enter(S.MODIFY_PENDING, now)
        self._apply(order, new, now)
        funds = flow.account.funds[spec.funds_segment]
        funds.blocked += required - order.blocked
        order.blocked = required
        order.enter(S.MODIFIED, now)
        if queued:
            back = S.AMO_REQ_RECEIVED
        elif order.is_stop and not order.triggered:
            back = S.TRIGGER_PENDING
        else:
            back = S.OPEN
        order.cap_price = 0.0  # a modified market order takes a new protection band from the next quote
        snap = order.enter(back, now)
        flow.account.track(order)
        flow.emit(order, snap, S.UPDATE)
        if back is S.OPEN:
            flow.match(order, now, arriving=True)  # a modified order re-enters the book and may cross now
        return {"order_id": order.order_id}

    def _check_modify(self, order: Order, new: PlaceRequest, spec: InstrumentSpec) -> float:
        acct = self.flow.account
        quote = acct.quotes.get(order.instrument_token)
        found = None
        if order.exchange_order_id is not None:
            rules = TRIGGERED_MARKET_RULES if order.triggered else MODIFY_MARKET_RULES
            found = risk.market(rules, new, spec, quote)
        if found is not None:
            raise found.error()
        if order.blocked <= 0:
            return 0.0  # it closes a position or sells holdings; closing stays free
        ref = new.price or new.trigger_price or (quote.last_price if quote else 0.0)
        pending = new.quantity - order.filled_quantity
        required = margin_for(spec, order.product, order.is_buy, pending, ref, new.trigger_price).total
        short = risk.funds(required, acct.available(spec.funds_segment) + order.blocked)
        if short is not None:
            raise short.error()
        return required

    @staticmethod
    def _apply(order: Order, new: PlaceRequest, now: datetime) -> None:
        if new.order_type is not order.order_type:
            order.triggered = False
        order.quantity, order.price, order.trigger_price = new.quantity, new.price, new.trigger_price
        order.order_type, order.validity = new.order_type, new.validity
        order.disclosed_quantity, order.market_protection = new.disclosed_quantity, new.market_protection
        order.placed_at = now  # Kite moves order_timestamp to the modification time
        order.modified = True
        order.modifications += 1

    # -- cancel and exit ----------------------------------------------------------------------------
    def cancel(self, variety: str, order_id: str, now: datetime, parent_order_id: str | None = None) -> dict[str, Any]:
        """``DELETE /orders/{variety}/{order_id}``: cancel a live order (a CO stop-loss leg exits instead).

        Raises:
            RejectionError: no such order, another variety, or the order is no longer live.
        """
        order = self.flow.get(order_id, variety)
        if order.variety is Variety.CO and order.parent_order_id is not None:
            return self.exit(variety, order_id, now, parent_order_id)
        self.flow.cancel(order, now)
        return {"order_id": order.order_id}

    def exit(self, variety: str, order_id: str, now: datetime, parent_order_id: str | None = None) -> dict[str, Any]:
        """Exit a cover order: its stop-loss leg is sent at market. Other orders are simply cancelled.

        Raises:
            RejectionError: no such order, or it is no longer live.
        """
        flow = self.flow
        order = flow.get(order_id, variety)
        if order.variety is Variety.CO and order.parent_order_id is None:
            legs = [o for o in flow.account.orders.values() if o.parent_order_id == order.order_id]
            if legs and order.status is S.COMPLETE:
                order = legs[0]
        if not (order.variety is Variety.CO and order.parent_order_id is not None):
            flow.cancel(order, now)
            return {"order_id": order.order_id}
        if order.status is not S.TRIGGER_PENDING:
            raise invalid(f"Order cannot be exited as it is {order.status.lower()}.")
        order.order_type = OrderType.MARKET
        order.market_protection = order.market_protection or -1
        flow.trigger(order, now)
        return {"order_id": order.order_id}

    # -- follow-ups ---------------------------------------------------------------------------------
    def _done(self, order: Order, now: datetime) -> None:
        """Place what follows a finished order: the next iceberg leg, or a cover order's stop-loss leg."""
        iceberg = order.meta.get("iceberg") if order.meta else None
        if iceberg and order.status is S.COMPLETE and iceberg["remaining_quantity"] > 0:
            self._next_leg(order, iceberg, now)
        if order.variety is _CO and order.parent_order_id is None and order.filled_quantity > 0:
            self._stop_leg(order, now)

    def _next_leg(self, done: Order, iceberg: dict[str, Any], now: datetime) -> None:
        flow = self.flow
        leg = iceberg["leg"] + 1
        quantity = min(iceberg["leg_quantity"], iceberg["remaining_quantity"])
        meta = {
            "iceberg": _iceberg_meta(
                leg, iceberg["legs"], iceberg["leg_quantity"], iceberg["total_quantity"], iceberg["remaining_quantity"]
            )
        }
        req = dataclasses.replace(flow.request_of(done), quantity=quantity)
        flow.submit(req, flow.account.specs[done.instrument_token], now, meta=meta)

    def _stop_leg(self, entry: Order, now: datetime) -> None:
        flow = self.flow
        spec = flow.account.specs[entry.instrument_token]
        req = dataclasses.replace(
            flow.request_of(entry),
            transaction_type=flow.opposite(entry.transaction_type),
            order_type=OrderType.SL_M,
            quantity=entry.filled_quantity,
            price=0.0,
            validity=Validity.DAY,
            market_protection=entry.market_protection or -1,
            tag=entry.tag,
        )
        leg = flow.new_order(req, spec, now, parent_order_id=entry.order_id)
        leg.enter(S.PUT_ORDER_REQ_RECEIVED, now)
        leg.enter(S.VALIDATION_PENDING, now)
        flow.open(leg, now)


_ENUMS = (
    ("variety", Variety),
    ("transaction_type", TransactionType),
    ("order_type", OrderType),
    ("product", Product),
    ("validity", Validity),
)
_INTS = ("quantity", "disclosed_quantity", "iceberg_legs", "iceberg_quantity")
_FLOATS = ("price", "trigger_price", "market_protection")
_UNPRICED = frozenset({OrderType.MARKET, OrderType.SL_M})
_ICEBERG, _CO = Variety.ICEBERG, Variety.CO  # read at every order: bound once, not looked up on the enum
_NUMBERS = frozenset({int, float})


def well_formed(req: PlaceRequest) -> PlaceRequest:
    """Return a typed request as :func:`parse_place` would have made it, or refuse what no form could carry.

    A request built in code skips the parser, so what the parser guarantees is checked here: the wire enums,
    whole numbers, finite prices within :data:`MAX_NUMBER`, text fields; MARKET and SL-M prices become 0, and
    market protection a float (the parser reads it as one: ``2.5`` is allowed since 2026).

    Raises:
        RejectionError: InputException naming the field.
    """
    # One expression for the common case (every field fine); the loops below only name what is wrong.
    price, trigger, ttl, protection = req.price, req.trigger_price, req.validity_ttl, req.market_protection
    if not (
        type(req.variety) is Variety
        and type(req.transaction_type) is TransactionType
        and type(req.order_type) is OrderType
        and type(req.product) is Product
        and type(req.validity) is Validity
        and type(req.quantity) is int
        and type(req.disclosed_quantity) is int
        and type(req.iceberg_legs) is int
        and type(req.iceberg_quantity) is int
        and -MAX_NUMBER <= req.quantity <= MAX_NUMBER
        and (ttl is None or (type(ttl) is int and -MAX_NUMBER <= ttl <= MAX_NUMBER))
        and type(price) in _NUMBERS
        and -MAX_NUMBER <= price <= MAX_NUMBER  # False for NaN; infinities are beyond MAX_NUMBER
        and type(trigger) in _NUMBERS
        and -MAX_NUMBER <= trigger <= MAX_NUMBER
        and type(protection) in _NUMBERS
        and -MAX_NUMBER <= protection <= MAX_NUMBER
        and type(req.autoslice) is bool
        and type(req.exchange) is str
        and type(req.tradingsymbol) is str
        and (req.tag is None or type(req.tag) is str)
        and (req.auction_number is None or type(req.auction_number) is str)
        and (req.algo_id is None or type(req.algo_id) is str)
    ):
        _refuse(req)
    if req.price and req.order_type in _UNPRICED:
        req = dataclasses.replace(req, price=0.0)  # the parser drops a MARKET or SL-M order's price too
    if type(protection) is not float:
        req = dataclasses.replace(req, market_protection=float(protection))
    return req


def _refuse(req: PlaceRequest) -> NoReturn:
    """Raise the InputException naming the first field of ``req`` that :func:`well_formed` does not take."""
    for name, kind in _ENUMS:
        if type(getattr(req, name)) is not kind:
            raise invalid(f"Invalid `{name}` {getattr(req, name)!r}. Use a {kind.__name__} member.")
    for name in (*_INTS, "validity_ttl"):
        value = getattr(req, name)
        if value is None and name == "validity_ttl":
            continue
        if type(value) is not int or abs(value) > MAX_NUMBER:
            raise invalid(f"Invalid `{name}` {value!r}. It must be a whole number.")
    for name in _FLOATS:
        value = getattr(req, name)
        if type(value) not in _NUMBERS or not math.isfinite(value) or abs(value) > MAX_NUMBER:
            raise invalid(f"Invalid `{name}` {value!r}. It must be a number below {MAX_NUMBER:g}.")
    for name in ("exchange", "tradingsymbol", "tag", "auction_number", "algo_id"):
        value = getattr(req, name)
        if type(value) is not str and not (value is None and name in ("tag", "auction_number", "algo_id")):
            raise invalid(f"Invalid `{name}` {value!r}. It must be text.")
    if type(req.autoslice) is not bool:
        raise invalid(f"Invalid `autoslice` {req.autoslice!r}. It must be True or False.")
    raise AssertionError(f"well_formed refused {req!r} but no field is wrong")  # pragma: no cover


def _iceberg_meta(leg: int, legs: int, leg_quantity: int, total: int, remaining_before: int) -> dict[str, int]:
    this = min(leg_quantity, remaining_before)
    return {
        "leg": leg,
        "legs": legs,
        "leg_quantity": leg_quantity,
        "total_quantity": total,
        "remaining_quantity": remaining_before - this,
    }
