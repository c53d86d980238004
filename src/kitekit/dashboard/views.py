"""The numbers each page shows, as plain JSON-able dicts: positions marked at the newest tick, orders, trades, funds.

Nothing here computes P&L its own way: a position is marked again at a newer tick with the engine's own formula
(:func:`kitekit.engine.positions.marked_pnl`), on the buy and sell values the broker reported, so the page shows
what the engine (paper, the simulator) or Kite would show at that price. Every amount goes out as a number and
as the text the page prints (:func:`money`), so a test compares the page's text with the engine's number.

Only named fields are copied out of the brokers' objects (never their ``raw`` dicts), so nothing the page was not
meant to see (a token, a key) can ride along.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kitekit.clock import IST
from kitekit.dashboard.feed import LatestTick
from kitekit.engine.positions import marked_pnl
from kitekit.orders.model import Charges, Order, Trade
from kitekit.orders.portfolio import Funds, Position, Positions, SegmentFunds

__all__ = [
    "funds_view",
    "money",
    "order_rows",
    "pnl_totals",
    "position_rows",
    "trade_rows",
]


def money(amount: float) -> str:
    """Return ``amount`` in rupees as the page prints it: two decimals, thousands separated (``-1,234.50``)."""
    text = f"{amount:,.2f}"
    return "0.00" if text == "-0.00" else text


def _amount(amount: float) -> dict[str, Any]:
    return {"value": amount, "text": money(amount)}


def _when(moment: datetime | None) -> str:
    return moment.astimezone(IST).strftime("%H:%M:%S") if moment is not None else ""


def position_rows(positions: Positions, ticks: Mapping[int, LatestTick], as_of: int) -> list[dict[str, Any]]:
    """Return the net positions as rows, each marked at its newest tick when the tick is newer than the positions.

    Args:
        positions: the broker's positions (``GET /portfolio/positions``, or the paper engine's).
        ticks: the newest tick of each instrument (from :class:`~kitekit.dashboard.feed.TickBoard`).
        as_of: the board's sequence when ``positions`` were read: only ticks after it mark the rows again.
    """
    rows = []
    for p in positions.net:
        tick = ticks.get(p.instrument_token)
        rows.append(_position_row(p, tick.last_price if tick is not None and tick.seq > as_of else None))
    return rows


def _position_row(p: Position, ltp: float | None) -> dict[str, Any]:
    last, pnl, m2m = p.last_price, p.pnl, p.m2m
    if ltp is not None and ltp > 0 and ltp != p.last_price:
        raw, m = p.raw, p.multiplier
        last = ltp
        pnl = marked_pnl(p.sell_value, p.buy_value, p.quantity, ltp, m)
        if "sell_m2m" in raw and "buy_m2m" in raw:
            m2m = marked_pnl(float(raw["sell_m2m"]), float(raw["buy_m2m"]), p.quantity, ltp, m)
        else:  # a broker that reports no m2m values: the m2m moves with the price as the P&L does
            m2m = p.m2m + (pnl - p.pnl)
    return {
        "id": f"{p.key}|{p.product}",
        "key": p.key,
        "exchange": p.exchange,
        "tradingsymbol": p.tradingsymbol,
        "instrument_token": p.instrument_token,
        "product": str(p.product),
        "quantity": p.quantity,
        "average_price": _amount(p.average_price),
        "last_price": _amount(last),
        "pnl": _amount(pnl),
        "m2m": _amount(m2m),
        "realised": _amount(p.realised),
        "unrealised": _amount(pnl - p.realised),
    }


def pnl_totals(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Return the day's P&L over position rows: total, realised, unrealised and m2m."""
    total = {name: sum(float(r[name]["value"]) for r in rows) for name in ("pnl", "realised", "unrealised", "m2m")}
    # The values are unrounded (only the text is), so a total of many rows stays the engine's to the paisa.
    return {name: _amount(value) for name, value in total.items()}


def order_rows(orders: Iterable[Order]) -> list[dict[str, Any]]:
    """Return the orders as rows, newest first, with whether each can still be cancelled or modified."""
    rows = []
    for o in orders:
        rows.append({
            "order_id": o.order_id,
            "time": _when(o.order_timestamp),
            "key": o.key,
            "instrument_token": o.instrument_token,
            "side": str(o.transaction_type),
            "order_type": str(o.order_type),
            "product": str(o.product),
            "variety": str(o.variety),
            "quantity": o.quantity,
            "filled_quantity": o.filled_quantity,
            "price": _amount(o.price),
            "trigger_price": _amount(o.trigger_price),
            "average_price": _amount(o.average_price),
            "status": str(o.status),
            "status_message": o.status_message or "",
            "tag": o.tag or "",
            "live": o.is_live,
        })  # fmt: skip
    return rows[::-1]


def trade_rows(trades: Iterable[Trade], charges: Mapping[str, Charges]) -> list[dict[str, Any]]:
    """Return the fills, newest first, each with the charges of its order (Kite's contract note is per order)."""
    rows = []
    for t in trades:
        cost = charges.get(t.order_id)
        rows.append({
            "trade_id": t.trade_id,
            "order_id": t.order_id,
            "time": _when(t.fill_timestamp),
            "ts": t.fill_timestamp.timestamp() if t.fill_timestamp is not None else None,
            "key": f"{t.exchange}:{t.tradingsymbol}",
            "instrument_token": t.instrument_token,
            "side": str(t.transaction_type),
            "product": str(t.product),
            "quantity": t.quantity,
            "price": _amount(t.average_price),
            "value": _amount(t.value),
            "charges": _amount(cost.total) if cost is not None else None,
        })  # fmt: skip
    return rows[::-1]


def _segment(s: SegmentFunds) -> dict[str, Any]:
    return {
        "enabled": s.enabled,
        "available": _amount(s.net),
        "used": _amount(s.debits),
        "cash": _amount(s.cash),
        "opening_balance": _amount(s.opening_balance),
    }


def funds_view(funds: Funds) -> dict[str, Any]:
    """Return both segments' funds: available (Kite's ``net``), margin used (``utilised.debits``), cash, opening."""
    return {"equity": _segment(funds.equity), "commodity": _segment(funds.commodity)}
