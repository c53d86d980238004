"""The margin and charges calculators (``/margins/orders``, ``/margins/basket``, ``/charges/orders``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from kitekit.engine.account import Account
from kitekit.engine.charges import add_charges, order_charges, zero_charges
from kitekit.engine.margins import BasketLine, basket_margin, margin_for
from kitekit.engine.spec import InstrumentResolver, InstrumentSpec
from kitekit.engine.validation import invalid, number, whole
from kitekit.wire.orders import OrderType, Product, TransactionType, Variety

__all__ = ["basket_margins", "contract_note", "order_margins"]


def _line(item: Mapping[str, Any], resolve: InstrumentResolver, account: Account) -> BasketLine:
    if not isinstance(item, Mapping):
        raise invalid("Invalid order: each order must be an object.")
    exchange, symbol = str(item.get("exchange", "")), str(item.get("tradingsymbol", ""))
    spec: InstrumentSpec | None = resolve(exchange, symbol)
    if spec is None:
        raise invalid(f"Invalid `tradingsymbol`: {exchange}:{symbol} is not a known instrument.")
    try:
        side = TransactionType(str(item.get("transaction_type")))
        product = Product(str(item.get("product")))
        order_type = OrderType(str(item.get("order_type", "MARKET")))
        quantity = whole(item.get("quantity") or 0, "quantity")
        trigger = number(item.get("trigger_price") or 0.0, "trigger_price")
        executed = number(item.get("average_price") or 0.0, "average_price")
        price = executed or number(item.get("price") or 0.0, "price")
    except (TypeError, ValueError):
        raise invalid("Invalid order: check transaction_type, product, order_type, quantity and price.") from None
    if str(item.get("variety", "regular")) == Variety.CO:
        product = Product.CO
    if not executed:
        # An order not yet executed is priced as Kite prices it: market at the last price, SL-M at its trigger.
        quote = account.quotes.get(spec.instrument_token)
        if order_type is OrderType.SL_M and trigger > 0:
            price = trigger
        elif (order_type is OrderType.MARKET or price <= 0) and quote is not None:
            price = quote.last_price
    return BasketLine(spec, product, side is TransactionType.BUY, quantity, price, trigger)


def _block(line: BasketLine, on: date) -> dict[str, Any]:
    charges = order_charges(line.spec, line.product, line.is_buy, line.quantity, line.price, on)
    margin = margin_for(line.spec, line.product, line.is_buy, line.quantity, line.price, line.trigger_price)
    return margin.block(line.spec, charges)


def order_margins(
    items: Iterable[Mapping[str, Any]], resolve: InstrumentResolver, account: Account, on: date
) -> list[dict[str, Any]]:
    """``POST /margins/orders``: one margin block per order, each as if placed alone.

    Market orders are priced at the instrument's last quote, SL-M orders at their trigger.

    Raises:
        RejectionError: InputException for an unknown instrument or a malformed order.
    """
    return [_block(_line(item, resolve, account), on) for item in items]


def basket_margins(
    items: Iterable[Mapping[str, Any]],
    resolve: InstrumentResolver,
    account: Account,
    on: date,
    consider_positions: bool = False,
    compact: bool = False,
) -> dict[str, Any]:
    """``POST /margins/basket``: ``{initial, final, orders, charges}`` for a basket.

    ``final`` nets the basket per instrument (and against open positions with ``consider_positions``).
    SIM: ``mode=compact`` keeps only the totals of each block, as Kite describes compact mode.

    Raises:
        RejectionError: InputException for an unknown instrument or a malformed order.
    """
    lines = [_line(item, resolve, account) for item in items]
    positions = None
    if consider_positions:
        positions = {
            (pos.instrument_token, "MIS" if pos.product is Product.CO else str(pos.product)): pos.quantity
            for pos in account.positions.values()
        }
    initial, final = basket_margin(lines, positions)
    orders = [_block(line, on) for line in lines]
    total = zero_charges()
    for block in orders:
        total = add_charges(total, block["charges"])
    out = {"initial": initial.block(None), "final": final.block(None), "orders": orders, "charges": total}
    if compact:
        out["initial"] = {"total": initial.total}
        out["final"] = {"total": final.total}
        out["orders"] = [{k: b[k] for k in ("type", "tradingsymbol", "exchange", "total")} for b in orders]
    return out


def contract_note(
    items: Iterable[Mapping[str, Any]], resolve: InstrumentResolver, account: Account, on: date
) -> list[dict[str, Any]]:
    """``POST /charges/orders``: the charges of executed orders (a virtual contract note).

    Raises:
        RejectionError: InputException for an unknown instrument or a malformed order.
    """
    out = []
    for item in items:
        line = _line(item, resolve, account)
        out.append(
            {
                "transaction_type": "BUY" if line.is_buy else "SELL",
                "tradingsymbol": line.spec.tradingsymbol,
                "exchange": line.spec.exchange,
                "variety": str(item.get("variety", "regular")),
                "product": str(item.get("product")),
                "order_type": str(item.get("order_type", "MARKET")),
                "quantity": line.quantity,
                "price": line.price,
                "charges": order_charges(line.spec, line.product, line.is_buy, line.quantity, line.price, on),
            }
        )
    return out
