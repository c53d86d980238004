"""Converting a position from one product to another (``PUT /portfolio/positions``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kitekit.engine import risk
from kitekit.engine.flow import OrderFlow
from kitekit.engine.margins import margin_for
from kitekit.engine.validation import invalid, whole
from kitekit.wire.orders import PositionType, Product, TransactionType

__all__ = ["convert_position"]


def convert_position(flow: OrderFlow, params: Mapping[str, Any], now: datetime) -> None:
    """Move ``quantity`` of a position from ``old_product`` to ``new_product`` at its average price.

    ``transaction_type`` names the side being converted (BUY: a long position) and ``position_type`` whether
    it is today's quantity (``day``) or the carried one (``overnight``). Converting into a product that needs
    more margin (MIS to CNC or NRML) needs the difference available; into delivery short, the holdings.

    Raises:
        RejectionError: InputException for bad fields or missing quantity, MarginException or
            HoldingException when the new product cannot be covered.
    """
    acct = flow.account
    try:
        side = TransactionType(str(params.get("transaction_type")))
        kind = PositionType(str(params.get("position_type", "day")).lower())
        old, new = Product(str(params.get("old_product"))), Product(str(params.get("new_product")))
        quantity = whole(params.get("quantity") or 0, "quantity")
    except (TypeError, ValueError):
        raise invalid("Invalid conversion: check transaction_type, position_type, quantity and products.") from None
    exchange, symbol = str(params.get("exchange", "")), str(params.get("tradingsymbol", ""))
    spec = flow.spec_of(exchange, symbol)
    if spec is None:
        raise invalid(f"Invalid `tradingsymbol`: {exchange}:{symbol} is not a known instrument.")
    # A cover order position stays CO: its stop-loss leg is tied to it.
    if old == new or old not in spec.products or new not in spec.products:
        raise invalid(f"Cannot convert {old} to {new} for {spec.exchange} instruments.")
    pos = acct.positions.get(f"{spec.instrument_token}:{old}")
    is_long = side is TransactionType.BUY
    direction = 1 if is_long else -1
    have = 0
    if pos is not None:
        have = pos.overnight_quantity if kind is PositionType.OVERNIGHT else pos.day_quantity
        have = min(have * direction, pos.quantity * direction)
    if quantity <= 0 or quantity % max(spec.lot_size, 1) or quantity > have or pos is None:
        which = "long" if is_long else "short"
        raise invalid(f"No {kind} {old} {which} position of {quantity} in {symbol} to convert.")
    price = pos.net.average or pos.last_price
    if new in (Product.CNC, Product.MTF) and not is_long:
        short = risk.holdings(symbol, quantity, acct.sellable(spec.instrument_token))
        if short is not None:
            raise short.error()
    else:
        after = margin_for(spec, new, is_long, quantity, price).total
        extra = after - margin_for(spec, old, is_long, quantity, price).total
        short_funds = risk.funds(extra, acct.available(spec.funds_segment))
        if extra > 0 and short_funds is not None:
            raise short_funds.error()
    pos.move(is_long, quantity, kind is PositionType.OVERNIGHT, acct.position(spec, new))
    acct.remargin(spec.instrument_token)
