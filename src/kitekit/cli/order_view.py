"""The order commands' tables: orders, an order's history, positions, holdings, funds, trades, an order to confirm."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text

from kitekit.cli.money import inr, pnl, status_style
from kitekit.clock import IST

if TYPE_CHECKING:
    from kitekit.orders import Funds, Holding, Order, OrderRequest, Positions, Trade

__all__ = [
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


def orders_table(orders: Sequence[Order], title: str) -> Table:
    """Return today's orders, oldest first."""
    table = Table("time", "order id", "instrument", "side", "filled/qty", "type", "price", "trigger", "avg",
                  "status", "tag", title=title)  # fmt: skip
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


def history_table(states: Sequence[Order]) -> Table:
    """Return every state of one order, oldest first, with the reason of a rejection."""
    first = states[0]
    title = f"{first.order_id}: {first.transaction_type} {first.quantity} {first.key} ({first.variety})"
    table = Table("time", "status", "filled/qty", "type", "price", "trigger", "avg", "message", title=title)
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


def positions_table(positions: Positions, title: str) -> Table:
    """Return the net positions with P&L coloured and a total."""
    table = Table("instrument", "product", "qty", "avg", "last", "P&L", "realised", "unrealised", title=title,
                  show_footer=True)  # fmt: skip
    for p in positions.net:
        table.add_row(p.key, str(p.product), str(p.quantity), _price(p.average_price), _price(p.last_price),
                      pnl(p.pnl), pnl(p.realised), pnl(p.unrealised))  # fmt: skip
    table.columns[0].footer = "total"
    table.columns[5].footer = pnl(positions.pnl)
    return table


def holdings_table(holdings: Sequence[Holding], title: str) -> Table:
    """Return the holdings with their value, P&L and day change, and totals."""
    table = Table("instrument", "qty", "T1", "avg", "last", "value", "P&L", "day", title=title, show_footer=True)
    for h in holdings:
        table.add_row(h.key, str(h.quantity), str(h.t1_quantity or ""), _price(h.average_price),
                      _price(h.last_price), inr((h.quantity + h.t1_quantity) * h.last_price), pnl(h.pnl),
                      pnl(h.day_change * (h.quantity + h.t1_quantity)))  # fmt: skip
    table.columns[0].footer = "total"
    table.columns[5].footer = inr(sum((h.quantity + h.t1_quantity) * h.last_price for h in holdings))
    table.columns[6].footer = pnl(sum(h.pnl for h in holdings))
    return table


def funds_table(funds: Funds, title: str) -> Table:
    """Return each segment's cash, what is used and what is left."""
    table = Table("segment", "opening", "available cash", "used", "net", title=title)
    for seg in (funds.equity, funds.commodity):
        table.add_row(seg.segment, inr(seg.opening_balance), inr(seg.live_balance or seg.cash), inr(seg.debits),
                      Text(inr(seg.net), style="bold"))  # fmt: skip
    return table


def trades_table(trades: Sequence[Trade], title: str) -> Table:
    """Return today's fills with their value and a total."""
    table = Table("time", "trade id", "order id", "instrument", "side", "qty", "price", "value", title=title,
                  show_footer=True)  # fmt: skip
    for t in trades:
        table.add_row(_time(t.fill_timestamp), t.trade_id, t.order_id, f"{t.exchange}:{t.tradingsymbol}",
                      str(t.transaction_type), str(t.quantity), _price(t.average_price), inr(t.value))  # fmt: skip
    table.columns[0].footer = "total"
    table.columns[7].footer = inr(sum(t.value for t in trades))
    return table


def request_table(request: OrderRequest, tag: str | None) -> Table:
    """Return an order in full, every field Kite will receive, for the user to confirm."""
    table = Table("field", "value", show_header=False)
    for name, value in request.to_kite(tag).items():
        shown = inr(float(value)) if name in ("price", "trigger_price") else str(value)
        table.add_row(name, Text(shown, style="bold" if name in ("transaction_type", "quantity") else ""))
    if request.price:
        table.add_row("value", inr(request.quantity * request.price))
    return table
