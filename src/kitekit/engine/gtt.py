"""Good-till-triggered orders: single and two-leg (OCO) triggers, when they fire, and Kite's shape.

See ``docs/protocol.md`` §10.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kitekit.engine.spec import InstrumentResolver
from kitekit.engine.validation import invalid, number, whole
from kitekit.wire.envelope import RejectionError
from kitekit.wire.formats import format_timestamp
from kitekit.wire.orders import GttStatus, GttType, OrderType, Product, TransactionType

__all__ = ["Gtt", "GttLeg", "parse_gtt"]


@dataclass(slots=True)
class GttLeg:
    """The order a trigger value places, and once placed, what became of it."""

    exchange: str
    tradingsymbol: str
    transaction_type: TransactionType
    quantity: int
    order_type: OrderType
    product: Product
    price: float
    result: dict[str, Any] | None = None

    def order_params(self) -> dict[str, Any]:
        """Return the place-order fields of this leg (a DAY order; market legs get auto protection)."""
        params: dict[str, Any] = {
            "exchange": self.exchange,
            "tradingsymbol": self.tradingsymbol,
            "transaction_type": str(self.transaction_type),
            "quantity": self.quantity,
            "order_type": str(self.order_type),
            "product": str(self.product),
            "validity": "DAY",
        }
        if self.order_type is OrderType.LIMIT:
            params["price"] = self.price
        else:
            params["market_protection"] = -1
        return params


@dataclass(slots=True)
class Gtt:
    """One trigger: its condition on an instrument's last price and the order per trigger value."""

    id: int
    type: GttType
    exchange: str
    tradingsymbol: str
    instrument_token: int
    trigger_values: list[float]
    last_price: float
    orders: list[GttLeg]
    created_at: datetime
    updated_at: datetime
    expires_at: datetime
    user_id: str = ""
    status: GttStatus = GttStatus.ACTIVE
    meta: dict[str, Any] = field(default_factory=dict)

    def fired_leg(self, last_price: float) -> int | None:
        """Return the index of the leg the price ``last_price`` fires, or None.

        A single trigger fires when the price reaches its value from the side it was on at creation; a
        two-leg trigger fires its lower (stop-loss) leg at or below the lower value and its upper (target)
        leg at or above the upper one.
        """
        if self.status is not GttStatus.ACTIVE:
            return None
        if self.type is GttType.SINGLE:
            value = self.trigger_values[0]
            rising = value >= self.last_price
            hit = last_price >= value if rising else last_price <= value
            return 0 if hit else None
        lower, upper = self.trigger_values
        if last_price <= lower:
            return 0
        if last_price >= upper:
            return 1
        return None

    def as_kite(self) -> dict[str, Any]:
        """Return the trigger object as ``GET /gtt/triggers/{id}`` answers it."""
        return {
            "id": self.id,
            "user_id": self.user_id,
            "parent_trigger": None,
            "type": str(self.type),
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
            "expires_at": format_timestamp(self.expires_at),
            "status": str(self.status),
            "condition": {
                "exchange": self.exchange,
                "tradingsymbol": self.tradingsymbol,
                "trigger_values": list(self.trigger_values),
                "last_price": self.last_price,
                "instrument_token": self.instrument_token,
            },
            "orders": [
                {
                    "exchange": leg.exchange,
                    "tradingsymbol": leg.tradingsymbol,
                    "product": str(leg.product),
                    "order_type": str(leg.order_type),
                    "transaction_type": str(leg.transaction_type),
                    "quantity": leg.quantity,
                    "price": leg.price,
                    "result": leg.result,
                }
                for leg in self.orders
            ],
            "meta": dict(self.meta),
        }


def parse_gtt(
    gtt_id: int, params: Mapping[str, Any], resolve: InstrumentResolver, now: datetime, lifetime: timedelta
) -> Gtt:
    """Parse and check ``type``, ``condition`` and ``orders`` of a place or modify request.

    ``condition`` and ``orders`` may be JSON text (as the SDK sends them) or already decoded.

    Raises:
        RejectionError: InputException naming what is wrong.
    """
    try:
        kind = GttType(str(params.get("type")))
    except ValueError:
        raise invalid("Invalid `type`. Use single or two-leg.") from None
    condition = _json(params.get("condition"), "condition")
    orders = _json(params.get("orders"), "orders")
    if not isinstance(condition, dict) or not isinstance(orders, list):
        raise invalid("Invalid `condition` or `orders`.")
    exchange, symbol = str(condition.get("exchange", "")), str(condition.get("tradingsymbol", ""))
    spec = resolve(exchange, symbol)
    if spec is None:
        raise invalid(f"Invalid `tradingsymbol`: {exchange}:{symbol} is not a known instrument.")
    raw_values = condition.get("trigger_values")
    if not isinstance(raw_values, list):
        raise invalid("Invalid `trigger_values`. It must be a list of prices.")
    values = [number(v, "trigger_values") for v in raw_values]
    want = 1 if kind is GttType.SINGLE else 2
    if len(values) != want:
        raise invalid(f"Invalid `trigger_values`. A {kind} trigger takes exactly {want} trigger value(s).")
    if len(orders) != want:
        raise invalid(f"Invalid `orders`. A {kind} trigger takes exactly {want} order(s), one per trigger value.")
    last = number(condition.get("last_price") or 0.0, "last_price")
    if any(v <= 0 for v in values) or last <= 0:
        raise invalid("Invalid `condition`. Trigger values and `last_price` must be above 0.")
    if kind is GttType.TWO_LEG and not values[0] < last < values[1]:
        raise invalid(
            "Invalid `trigger_values`. A two-leg trigger needs the lower value below the last price "
            "and the upper value above it."
        )
    if kind is GttType.SINGLE and values[0] == last:
        raise invalid("Invalid `trigger_values`. The trigger value must differ from the last price.")
    return Gtt(
        id=gtt_id,
        type=kind,
        exchange=exchange,
        tradingsymbol=symbol,
        instrument_token=spec.instrument_token,
        trigger_values=values,
        last_price=last,
        orders=[_leg(o, exchange, symbol) for o in orders],
        created_at=now,
        updated_at=now,
        expires_at=now + lifetime,
    )


def _json(value: Any, name: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            raise invalid(f"Invalid `{name}`. It must be JSON.") from None
    if value is None:
        raise invalid(f"Missing `{name}`.")
    return value


def _leg(raw: Any, exchange: str, symbol: str) -> GttLeg:
    if not isinstance(raw, dict):
        raise invalid("Invalid `orders`. Each order must be an object.")
    if raw.get("exchange", exchange) != exchange or raw.get("tradingsymbol", symbol) != symbol:
        raise invalid("Invalid `orders`. Orders must be for the instrument of the condition.")
    try:
        leg = GttLeg(
            exchange=exchange,
            tradingsymbol=symbol,
            transaction_type=TransactionType(str(raw.get("transaction_type"))),
            quantity=whole(raw.get("quantity") or 0, "quantity"),
            order_type=OrderType(str(raw.get("order_type", "LIMIT"))),
            product=Product(str(raw.get("product"))),
            price=number(raw.get("price") or 0.0, "price"),
        )
    except (ValueError, TypeError, RejectionError):
        raise invalid("Invalid `orders`. Check transaction_type, quantity, order_type, product and price.") from None
    if leg.quantity <= 0 or leg.order_type not in (OrderType.LIMIT, OrderType.MARKET):
        raise invalid("Invalid `orders`. GTT orders are LIMIT or MARKET orders with a positive quantity.")
    if leg.order_type is OrderType.LIMIT and leg.price <= 0:
        raise invalid("Invalid `orders`. A LIMIT order needs a price above 0.")
    return leg
