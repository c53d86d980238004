"""The order commands' tables: orders, an order's history, positions, holdings, funds, trades, an order to confirm."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.text import Text

from kitekit.cli.fit import ALWAYS, Col, FitTable
from kitekit.cli.money import inr, pnl, status_style
from kitekit.clock import IST

if TYPE_CHECKING:
    from kitekit.orders import Charges, Funds, Holding, Order, OrderRequest, Positions, Trade

__all__ = [
    "fill_line",
    "funds_table",
    "history_table",
    "holdings_table",
    "orders_table",
    "positions_table",
    "request_table",
    "trades_table",
]


def _time(moment: datetime | None) -> str:
    return moment.astimezone(IST).strftime("%H:%M:%S") if moment else ""


def _price(value: float) -> str:
    return f"{value:,.2f}" if value else ""


def _status(order: Order) -> Text:
    text = str(order.status)
    return Text(text, style=status_style(text))


def orders_table(orders: Sequence[Order], title: str) -> FitTable:
    """Return today's orders, oldest first; ids, symbols and prices stay whole at any width."""
    table = FitTable(
        Col("time", whole=True, keep=1),
        Col("order id", whole=True, keep=ALWAYS),
        Col("instrument", whole=True, keep=ALWAYS),
        Col("side", keep=4),
        Col("filled/qty", whole=True, keep=5),
        Col("type", keep=2),
        Col("price", whole=True, keep=ALWAYS),
        Col("trigger", whole=True, keep=3),
        Col("avg", whole=True, keep=6),
        Col("status", keep=7),
        Col("tag", whole=True, keep=0),
        title=title,
    )
    for o in orders:
        table.add_row(
            _time(o.order_timestamp),
            o.order_id,
            o.key,
            Text(str(o.transaction_type), style="cyan" if o.transaction_type == "BUY" else "magenta"),
            f"{o.filled_quantity}/{o.quantity}",
            f"{o.order_type} {o.product}",
            _price(o.price),
            _price(o.trigger_price),
            _price(o.average_price),
            _status(o),
            o.tag or "",
        )
    return table


def history_table(states: Sequence[Order]) -> FitTable:
    """Return every state of one order, oldest first, with the reason of a rejection."""
    first = states[0]
    title = f"{first.order_id}: {first.transaction_type} {first.quantity} {first.key} ({first.variety})"
    table = FitTable(
        Col("time", whole=True, keep=3),
        Col("status", keep=ALWAYS),
        Col("filled/qty", whole=True, keep=4),
        Col("type", keep=2),
        Col("price", whole=True, keep=ALWAYS),
        Col("trigger", whole=True, keep=1),
        Col("avg", whole=True, keep=5),
        Col("message", keep=6),
        title=title,
    )
    for s in states:
        table.add_row(
            _time(s.order_timestamp),
            _status(s),
            f"{s.filled_quantity}/{s.quantity}",
            str(s.order_type),
            _price(s.price),
            _price(s.trigger_price),
            _price(s.average_price),
            s.status_message or "",
        )
    return table


def positions_table(positions: Positions, title: str) -> FitTable:
    """Return the net positions with P&L coloured and a total."""
    table = FitTable(
        Col("instrument", whole=True, keep=ALWAYS),
        Col("product", keep=2),
        Col("qty", whole=True, keep=5),
        Col("avg", whole=True, keep=ALWAYS),
        Col("last", whole=True, keep=ALWAYS),
        Col("P&L", whole=True, keep=ALWAYS),
        Col("realised", whole=True, keep=1),
        Col("unrealised", whole=True, keep=0),
        title=title,
        footer="total",
    )
    for p in positions.net:
        table.add_row(p.key, str(p.product), str(p.quantity), _price(p.average_price), _price(p.last_price),
                      pnl(p.pnl), pnl(p.realised), pnl(p.unrealised))  # fmt: skip
    table.set_footer("P&L", pnl(positions.pnl))
    return table


def holdings_table(holdings: Sequence[Holding], title: str) -> FitTable:
    """Return the holdings with their value, P&L and day change, and totals."""
    table = FitTable(
        Col("instrument", whole=True, keep=ALWAYS),
        Col("qty", whole=True, keep=5),
        Col("T1", whole=True, keep=0),
        Col("avg", whole=True, keep=ALWAYS),
        Col("last", whole=True, keep=ALWAYS),
        Col("value", whole=True, keep=3),
        Col("P&L", whole=True, keep=6),
        Col("day", whole=True, keep=1),
        title=title,
        footer="total",
    )
    for h in holdings:
        table.add_row(h.key, str(h.quantity), str(h.t1_quantity or ""), _price(h.average_price),
                      _price(h.last_price), inr((h.quantity + h.t1_quantity) * h.last_price), pnl(h.pnl),
                      pnl(h.day_change * (h.quantity + h.t1_quantity)))  # fmt: skip
    table.set_footer("value", inr(sum((h.quantity + h.t1_quantity) * h.last_price for h in holdings)))
    table.set_footer("P&L", pnl(sum(h.pnl for h in holdings)))
    return table


def funds_table(funds: Funds, title: str) -> FitTable:
    """Return each segment's cash, what is used and what is left."""
    table = FitTable(
        Col("segment", whole=True, keep=ALWAYS),
        Col("opening", whole=True, keep=1),
        Col("available cash", whole=True, keep=ALWAYS),
        Col("used", whole=True, keep=2),
        Col("net", whole=True, keep=ALWAYS),
        title=title,
    )
    for seg in (funds.equity, funds.commodity):
        table.add_row(seg.segment, inr(seg.opening_balance), inr(seg.live_balance or seg.cash), inr(seg.debits),
                      Text(inr(seg.net), style="bold"))  # fmt: skip
    return table


def trades_table(trades: Sequence[Trade], title: str) -> FitTable:
    """Return today's fills with their value and a total."""
    table = FitTable(
        Col("time", whole=True, keep=1),
        Col("trade id", whole=True, keep=3),
        Col("order id", whole=True, keep=ALWAYS),
        Col("instrument", whole=True, keep=ALWAYS),
        Col("side", keep=4),
        Col("qty", whole=True, keep=5),
        Col("price", whole=True, keep=ALWAYS),
        Col("value", whole=True, keep=2),
        title=title,
        footer="total",
    )
    for t in trades:
        table.add_row(_time(t.fill_timestamp), t.trade_id, t.order_id, f"{t.exchange}:{t.tradingsymbol}",
                      str(t.transaction_type), str(t.quantity), _price(t.average_price), inr(t.value))  # fmt: skip
    table.set_footer("value", inr(sum(t.value for t in trades)))
    return table


def request_table(
    request: OrderRequest, tag: str | None, last_price: float | None = None, margin: float | None = None
) -> FitTable:
    """Return an order in full, every field Kite will receive, with its price, value and margin, to confirm.

    Args:
        request: the order as it will be sent.
        tag: its tag.
        last_price: the instrument's last price; a MARKET or SL-M order is valued at it (or at its trigger).
        margin: the margin the order needs (``POST /margins/orders``), when known.
    """
    table = FitTable(Col("field", whole=True, keep=ALWAYS), Col("value", whole=True, keep=ALWAYS), show_header=False)
    for name, value in request.to_kite(tag).items():
        shown = inr(float(value)) if name in ("price", "trigger_price") else str(value)
        table.add_row(name, Text(shown, style="bold" if name in ("transaction_type", "quantity") else ""))
    price, how = _valued_at(request, last_price)
    if price:
        if how:
            table.add_row("price", f"{inr(price)} ({how})")
        table.add_row("value", Text(inr(request.quantity * price), style="bold"))
    if margin is not None:
        table.add_row("margin required", Text(inr(margin), style="bold"))
    return table


def _valued_at(request: OrderRequest, last_price: float | None) -> tuple[float, str]:
    """Return the price an order is valued at, and how it was found when it is not the order's own price."""
    if request.price:
        return request.price, ""
    if request.trigger_price:
        return request.trigger_price, "the trigger price"
    if last_price:
        return last_price, "market: the last price"
    return 0.0, ""


def fill_line(order: Order, charges: Charges) -> Text:
    """Return what a fill came to: quantity, average price, value, and the charges it cost, item by item."""
    part = "" if order.filled_quantity == order.quantity else f" of {order.quantity}"
    value = order.filled_quantity * order.average_price
    items = [
        ("brokerage", charges.brokerage),
        ((charges.transaction_tax_type or "STT").upper(), charges.transaction_tax),
        ("exchange", charges.exchange_turnover_charge),
        ("SEBI", charges.sebi_turnover_charge),
        ("stamp", charges.stamp_duty),
        ("GST", charges.gst),
    ]
    line = Text(f"  filled {order.filled_quantity}{part} at ")
    line.append(inr(order.average_price), style="bold")
    line.append(f" (value {inr(value)}); charges ")
    line.append(inr(charges.total), style="bold")
    line.append(f": {', '.join(f'{name} {inr(amount)}' for name, amount in items)}")
    return line
