"""``kitekit quote SYMBOL…``: last price, the day's OHLC, volume, open interest and market depth, in one call."""

from typing import Annotated, Any

import typer
from rich.text import Text

from kitekit.cli.context import CliContext
from kitekit.cli.fit import ALWAYS, Col, FitTable
from kitekit.cli.money import group_indian
from kitekit.errors import KitekitError

__all__ = ["depth_table", "quote", "quotes_table"]


def quote(
    ctx: typer.Context,
    instruments: Annotated[list[str], typer.Argument(help='Instruments: RELIANCE, "NIFTY 50", NSE:INFY, 408065…')],
    depth: Annotated[bool, typer.Option("--depth/--no-depth", help="Show the five best bids and offers.")] = True,
) -> None:
    """Show full quotes: last price and change, the day's OHLC, volume, open interest and market depth.

    Exits with 1 when an instrument got no quote (each one is named with the reason).
    """
    cli: CliContext = ctx.obj
    names = list(dict.fromkeys(instruments))
    got: Any
    if cli.on_kite:
        # GET /quote, batched (500 instruments a call) and paced by the client.
        got = cli.market_data().quote(*names, strict=False)
        shown = [(str(name), got[name]) for name in names if name in got]
    else:
        from kitekit.cli.neutral import quote_dict

        # The data broker's full quotes, in the batches it takes, under its limits.
        got = cli.broker_pair().quotes().quote(*names, strict=False)
        shown = [(str(name), quote_dict(got[name])) for name in names if name in got]
    if shown:
        cli.console.print(quotes_table(shown))
    if depth:
        for name, item in shown:
            table = depth_table(name, item)
            if table is not None:
                cli.console.print(table)
    for asked, why in got.missing.items():
        cli.err.print(f"[red]{asked}:[/] {why}", highlight=False)
    if got.missing:
        raise KitekitError(f"No quote for {len(got.missing)} of {len(names)} instruments; the reasons are above.")


def _price(value: Any) -> str:
    return f"{float(value):,.2f}" if value else ""


def _count(value: Any) -> str:
    return group_indian(int(value)) if value is not None else ""


def quotes_table(items: list[tuple[str, dict[str, Any]]]) -> FitTable:
    """Return one row per instrument: last price, change from the previous close, OHLC, volume and OI."""
    table = FitTable(
        Col("instrument", whole=True, keep=ALWAYS),
        Col("LTP", whole=True, keep=ALWAYS, justify="right"),
        Col("change", whole=True, keep=6, justify="right"),
        Col("%", whole=True, keep=5, justify="right"),
        Col("open", whole=True, keep=2, justify="right"),
        Col("high", whole=True, keep=3, justify="right"),
        Col("low", whole=True, keep=3, justify="right"),
        Col("close", whole=True, keep=1, justify="right"),
        Col("volume", whole=True, keep=4, justify="right"),
        Col("OI", whole=True, keep=4, justify="right"),
        Col("last trade", whole=True, keep=0),
        title="Quotes",
    )
    for name, item in items:
        ohlc = item.get("ohlc") or {}
        last, close = float(item.get("last_price") or 0.0), float(ohlc.get("close") or 0.0)
        change = last - close if close else 0.0
        style = "green" if change > 0 else "red" if change < 0 else ""
        table.add_row(
            name,
            Text(_price(last), style="bold"),
            Text(f"{change:+,.2f}" if close else "", style=style),
            Text(f"{change / close:+.2%}" if close else "", style=style),
            _price(ohlc.get("open")),
            _price(ohlc.get("high")),
            _price(ohlc.get("low")),
            _price(close),
            _count(item.get("volume")),
            _count(item.get("oi")),
            str(item.get("last_trade_time") or ""),
        )
    return table


def depth_table(name: str, item: dict[str, Any]) -> FitTable | None:
    """Return the five best bids and offers of one instrument, or None when it has no depth (an index)."""
    book = item.get("depth") or {}
    bids, asks = list(book.get("buy") or []), list(book.get("sell") or [])
    if not any(level.get("quantity") for level in bids + asks):
        return None
    table = FitTable(
        Col("orders", whole=True, keep=0, justify="right"),
        Col("bid qty", whole=True, keep=1, justify="right"),
        Col("bid", whole=True, keep=ALWAYS, justify="right"),
        Col("ask", whole=True, keep=ALWAYS, justify="right"),
        Col("ask qty", whole=True, keep=1, justify="right"),
        Col("orders ", whole=True, keep=0, justify="right"),
        title=f"{name}: market depth",
    )
    empty: dict[str, Any] = {}
    for n in range(max(len(bids), len(asks))):
        bid = bids[n] if n < len(bids) else empty
        ask = asks[n] if n < len(asks) else empty
        table.add_row(
            _count(bid.get("orders")),
            _count(bid.get("quantity")),
            Text(_price(bid.get("price")), style="green"),
            Text(_price(ask.get("price")), style="red"),
            _count(ask.get("quantity")),
            _count(ask.get("orders")),
        )
    return table
