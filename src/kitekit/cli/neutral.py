"""What the commands print of the broker-neutral types, in the shapes their Kite tables already read.

The tables of ``quote``, ``instruments`` and the order views were written against Kite's dicts and records;
another broker's answers come as neutral :class:`~kitekit.brokers.model.Quote` and
:class:`~kitekit.brokers.model.BrokerInstrument`. Rather than a second table per command, each neutral value is
given here the few Kite field names its table reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kitekit.cli.fit import ALWAYS, Col, FitTable

if TYPE_CHECKING:
    from kitekit.brokers.model import BrokerInstrument, Quote

__all__ = ["instruments_table", "quote_dict"]


def quote_dict(quote: Quote) -> dict[str, Any]:
    """Return a neutral quote as Kite's ``GET /quote`` item (the fields the quote and chain tables read)."""
    ohlc = quote.ohlc
    return {
        "last_price": quote.last_price,
        "ohlc": {"open": ohlc.open, "high": ohlc.high, "low": ohlc.low, "close": ohlc.close} if ohlc else {},
        "volume": quote.volume,
        "oi": quote.oi,
        "average_price": quote.average_price,
        "lower_circuit_limit": quote.lower_circuit_limit,
        "upper_circuit_limit": quote.upper_circuit_limit,
        "last_trade_time": quote.last_trade_time or quote.timestamp or "",
        "depth": {
            "buy": [{"price": x.price, "quantity": x.quantity, "orders": x.orders} for x in quote.bids],
            "sell": [{"price": x.price, "quantity": x.quantity, "orders": x.orders} for x in quote.asks],
        },
    }


def instruments_table(rows: list[BrokerInstrument]) -> FitTable:
    """Return one row per instrument: its neutral key, the broker's own key, and the facts orders are checked by."""
    table = FitTable(
        Col("key", whole=True, keep=ALWAYS),
        Col("broker key", whole=True, keep=5),
        Col("name", keep=3),
        Col("type", keep=4),
        Col("expiry", whole=True, keep=2),
        Col("strike", whole=True, keep=6, justify="right"),
        Col("lot", whole=True, keep=1, justify="right"),
        Col("tick", whole=True, keep=0, justify="right"),
    )
    for i in rows:
        table.add_row(
            i.key,
            i.broker_key,
            i.name,
            i.kind.value,
            i.expiry.isoformat() if i.expiry else "",
            f"{i.strike:g}" if i.strike else "",
            str(i.lot_size),
            f"{i.tick_size:g}",
        )
    return table
