"""What the commands print of the broker-neutral types, in the shapes their Kite tables already read.

The tables of ``quote``, ``instruments`` and the order views were written against Kite's dicts and records;
another broker's answers come as neutral :class:`~kitekit.brokers.model.Quote` and
:class:`~kitekit.brokers.model.BrokerInstrument`. Rather than a second table per command, each neutral value is
given here the few Kite field names its table reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

from kitekit.cli.fit import ALWAYS, Col, FitTable

if TYPE_CHECKING:
    from kitekit.brokers.feed import LiveFeed
    from kitekit.brokers.market import QuoteService
    from kitekit.brokers.model import BrokerInstrument, Quote, QuoteSet, Tick

__all__ = ["KiteShapedQuotes", "TickDicts", "instruments_table", "quote_dict", "tick_dict"]


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


def instrument_columns(second: Col) -> tuple[Col, ...]:
    """Return an instrument list's columns: its key, ``second`` (the broker's own key, a token), then its facts."""
    return (
        Col("key", whole=True, keep=ALWAYS),
        second,
        Col("name", keep=3),
        Col("type", keep=4),
        Col("expiry", whole=True, keep=2),
        Col("strike", whole=True, keep=6, justify="right"),
        Col("lot", whole=True, keep=1, justify="right"),
        Col("tick", whole=True, keep=0, justify="right"),
    )


def instruments_table(rows: list[BrokerInstrument]) -> FitTable:
    """Return one row per instrument: its neutral key, the broker's own key, and the facts orders are checked by."""
    table = FitTable(*instrument_columns(Col("broker key", whole=True, keep=5)))
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


class _Answer(dict[str, dict[str, Any]]):
    """Quotes in Kite's shape under the caller's keys, with ``missing`` as :class:`~kitekit.quotes.MarketData`'s."""

    def __init__(self, got: QuoteSet) -> None:
        super().__init__({str(k): quote_dict(q) for k, q in got.items()})
        self.missing = {str(k): why for k, why in got.missing.items()}


class KiteShapedQuotes:
    """A broker's neutral quotes read the way the monitor reads :class:`~kitekit.quotes.MarketData`'s."""

    def __init__(self, quotes: QuoteService) -> None:
        self.quotes = quotes

    def ltp(self, *instruments: str, strict: bool = True) -> _Answer:
        """Return last prices in Kite's shape."""
        return _Answer(self.quotes.ltp(*instruments, strict=strict))

    def ohlc(self, *instruments: str, strict: bool = True) -> _Answer:
        """Return last prices and the day's OHLC in Kite's shape."""
        return _Answer(self.quotes.ohlc(*instruments, strict=strict))


def tick_dict(tick: Tick, token: int) -> dict[str, Any]:
    """Return a neutral tick as the SDK's tick dict (the fields the tick line and the monitor's table read)."""
    found: dict[str, Any] = {"instrument_token": token, "last_price": tick.last_price, "mode": tick.mode}
    if tick.timestamp is not None:
        found["exchange_timestamp"] = tick.timestamp
    if tick.ohlc is not None:
        ohlc = tick.ohlc
        found["ohlc"] = {"open": ohlc.open, "high": ohlc.high, "low": ohlc.low, "close": ohlc.close}
        if ohlc.close:
            found["change"] = (tick.last_price - ohlc.close) / ohlc.close * 100
    if tick.mode != "ltp" and tick.volume:  # an index trades no volume: Kite's index ticks carry none
        found["volume_traded"] = tick.volume
    if tick.bids and tick.asks:
        found["depth"] = {
            "buy": [{"price": x.price, "quantity": x.quantity, "orders": x.orders} for x in tick.bids],
            "sell": [{"price": x.price, "quantity": x.quantity, "orders": x.orders} for x in tick.asks],
        }
    if tick.oi:
        found["oi"] = tick.oi
    return found


class TickDicts:
    """A broker's live feed yielding the SDK's tick dicts, each instrument under a token of its own.

    The tick printer and the monitor's live table read Kite's ticks, keyed by instrument token; a neutral feed's
    are keyed ``EXCHANGE:SYMBOL``: each subscribed key is given a small number here, its "token" to them.

    Args:
        feed: the broker's feed (not connected).
        keys: the neutral keys subscribed, in order; key ``n`` is token ``n + 1``.
    """

    def __init__(self, feed: LiveFeed, keys: Iterable[str]) -> None:
        self.feed = feed
        self.tokens = {key: n for n, key in enumerate(dict.fromkeys(keys), 1)}

    async def __aenter__(self) -> TickDicts:
        await self.feed.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.feed.close()

    async def __aiter__(self) -> AsyncIterator[list[dict[str, Any]]]:
        async for ticks in self.feed:
            shaped = [tick_dict(t, self.tokens[t.key]) for t in ticks if t.key in self.tokens]
            if shaped:
                yield shaped
