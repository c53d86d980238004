"""The neutral value types every broker speaks: instrument identity and facts, quotes, ticks, candles.

Kite's types are dicts and rows in Kite's wire names; another broker's are in its own. These are the shapes the
runner, the dashboard, the CLI and user code read whatever the broker: each adapter builds them at its edge and
keeps the broker's own payload in ``raw`` for anything the neutral shape leaves out.

The identity of an instrument is ``EXCHANGE:SYMBOL`` in Kite's vocabulary (exchanges ``NSE``, ``BSE``, ``NFO``,
``BFO``, ``MCX``, ``CDS``, ``BCD``; symbols as the exchange lists them, ``NIFTY 50`` for indices, and Kite's form
for derivatives, ``NIFTY26DEC26500CE``), because it is the form Indian traders already write. Another broker's
adapter maps its own keys (``NSE_EQ|INE009A01021``, a symbol token) to it, and :func:`derivative_symbol`
spells a contract the neutral way from its facts, so two brokers' listings of one contract meet on one key.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from kitekit.engine.quote import Level, MarketQuote
from kitekit.errors import InstrumentError

__all__ = [
    "CANDLE_COLUMNS",
    "BrokerInstrument",
    "Candle",
    "InstrumentId",
    "InstrumentKind",
    "Level",
    "Ohlc",
    "Quote",
    "QuoteSet",
    "Tick",
    "depth_levels",
    "derivative_symbol",
]

#: The columns of every candle frame (indexed by the candle's IST start time, ``date``); ``oi`` when asked for.
CANDLE_COLUMNS = ("open", "high", "low", "close", "volume")

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
#: A weekly contract's month in its symbol: 1-9, then O, N, D (NSE's convention, which Kite's symbols follow).
_WEEK_MONTHS = "123456789OND"


class InstrumentKind(StrEnum):
    """What an instrument is, the same on every broker."""

    EQUITY = "EQ"
    INDEX = "INDEX"
    FUTURE = "FUT"
    CALL = "CE"
    PUT = "PE"

    @property
    def derivative(self) -> bool:
        """Return True for futures and options."""
        return self in (InstrumentKind.FUTURE, InstrumentKind.CALL, InstrumentKind.PUT)


@dataclass(frozen=True, slots=True, order=True)
class InstrumentId:
    """The neutral identity of an instrument: ``EXCHANGE:SYMBOL``."""

    exchange: str
    symbol: str

    @classmethod
    def parse(cls, text: str) -> InstrumentId:
        """Return the identity ``text`` names (``"NSE:INFY"``; the exchange in any case).

        Raises:
            InstrumentError: ``text`` has no ``EXCHANGE:`` prefix or no symbol.
        """
        exchange, sep, symbol = text.strip().partition(":")
        if not sep or not exchange or not symbol.strip():
            raise InstrumentError(f"{text!r} is not EXCHANGE:SYMBOL (for example NSE:INFY or NSE:NIFTY 50)")
        return cls(exchange.upper(), symbol.strip())

    def __str__(self) -> str:
        return f"{self.exchange}:{self.symbol}"


def derivative_symbol(
    name: str, kind: InstrumentKind | str, expiry: date, strike: float = 0.0, *, monthly: bool
) -> str:
    """Return a contract's neutral symbol: ``NIFTY26DECFUT``, ``NIFTY26DEC26500CE``, weekly ``NIFTY2612326500CE``.

    Args:
        name: the underlying as the exchange names its contracts (``NIFTY``, ``BANKNIFTY``, ``RELIANCE``).
        kind: FUT, CE or PE.
        expiry: the expiry day.
        strike: the strike (options).
        monthly: True when the contract expires on its underlying's last expiry of the month (a monthly
            contract is named by its month; the others by the day).

    Raises:
        ValueError: ``kind`` is not a derivative.
    """
    # A broker's dump spells 100,000 contracts from a few thousand stems and strikes: each is spelled once.
    suffix = _SUFFIXES.get(kind)
    if suffix is None:
        kind = InstrumentKind(kind)  # an unknown kind raises here
        raise ValueError(f"{kind} is not a futures or options contract")
    stem = _stem(name, expiry, bool(monthly))
    return stem + suffix if suffix == "FUT" else stem + _strike_text(strike) + suffix


_SUFFIXES: dict[str, str] = {k.value: k.value for k in (InstrumentKind.FUTURE, InstrumentKind.CALL, InstrumentKind.PUT)}


@functools.lru_cache(maxsize=16384)
def _stem(name: str, expiry: date, monthly: bool) -> str:
    if monthly:
        return f"{name}{expiry:%y}{_MONTHS[expiry.month - 1]}"
    return f"{name}{expiry:%y}{_WEEK_MONTHS[expiry.month - 1]}{expiry.day:02d}"


@functools.lru_cache(maxsize=65536)
def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:.4f}".rstrip("0")


@dataclass(frozen=True, slots=True)
class BrokerInstrument:
    """One instrument as any broker lists it: its neutral identity and the facts orders are checked against.

    ``broker_key`` is the key the broker's own APIs take (Kite: the instrument token as text; Upstox an
    ``instrument_key``; Angel a symbol token); ``token`` is that key as a number where the broker has one.
    """

    exchange: str
    symbol: str
    name: str
    kind: InstrumentKind
    segment: str
    tick_size: float
    lot_size: int
    broker: str
    broker_key: str
    expiry: date | None = None
    strike: float = 0.0
    token: int | None = None

    @property
    def key(self) -> str:
        """Return the neutral identity as text, ``EXCHANGE:SYMBOL``."""
        return f"{self.exchange}:{self.symbol}"

    @property
    def id(self) -> InstrumentId:
        """Return the neutral identity."""
        return InstrumentId(self.exchange, self.symbol)

    @property
    def tradable(self) -> bool:
        """Return False for an index (it has prices but takes no orders)."""
        return self.kind is not InstrumentKind.INDEX


@dataclass(frozen=True, slots=True)
class Ohlc:
    """The day's open, high and low so far, and the previous session's close (as every broker reports it)."""

    open: float
    high: float
    low: float
    close: float


@dataclass(frozen=True, slots=True)
class Quote:
    """One instrument's market snapshot, from any broker's quote API.

    ``ltp`` calls fill only ``last_price``; ``ohlc`` adds ``ohlc``; a full quote adds the rest. ``bids`` and
    ``asks`` are best first, empty levels left out. A circuit limit of 0 means not known.
    """

    key: str
    last_price: float
    timestamp: datetime | None = None
    ohlc: Ohlc | None = None
    volume: int = 0
    average_price: float = 0.0
    oi: float = 0.0
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    lower_circuit_limit: float = 0.0
    upper_circuit_limit: float = 0.0
    last_trade_time: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def market_quote(self, instrument_token: int) -> MarketQuote:
        """Return this quote as the matching engine reads it (the paper broker fills against it).

        Raises:
            ValueError: the quote has no timestamp (the engine tells one market state from the next by it).
        """
        stamp = self.timestamp or self.last_trade_time
        if stamp is None:
            raise ValueError(f"the quote of {self.key} has no timestamp")
        return MarketQuote(
            instrument_token=instrument_token,
            last_price=self.last_price,
            timestamp=stamp,
            bids=self.bids,
            asks=self.asks,
            lower_circuit_limit=self.lower_circuit_limit,
            upper_circuit_limit=self.upper_circuit_limit,
            close=self.ohlc.close if self.ohlc else 0.0,
            average_price=self.average_price,
        )


class QuoteSet(dict[str | int, Quote]):
    """Quotes keyed exactly as the caller named the instruments, plus ``missing``: each key left out, and why."""

    def __init__(self, data: Mapping[str | int, Quote], missing: Mapping[str | int, str]) -> None:
        super().__init__(data)
        self.missing: dict[str | int, str] = dict(missing)


@dataclass(frozen=True, slots=True)
class Tick:
    """One update of one instrument from a broker's live feed.

    ``timestamp`` is the exchange's time of the update when the broker sends one; ``mode`` is the neutral feed
    mode it came in (``ltp``, ``quote``, ``full``), which says which fields are filled.
    """

    key: str
    last_price: float
    mode: str
    timestamp: datetime | None = None
    volume: int = 0
    last_quantity: int = 0
    average_price: float = 0.0
    oi: float = 0.0
    ohlc: Ohlc | None = None
    bids: tuple[Level, ...] = ()
    asks: tuple[Level, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Candle:
    """One OHLCV candle; its ``start`` is aware (IST), and ``oi`` is 0 when not asked for."""

    start: datetime
    open: float
    high: float
    low: float
    close: float
    volume: int
    oi: float = 0.0


def depth_levels(rows: Iterable[Mapping[str, Any]]) -> tuple[Level, ...]:
    """Return Kite-shaped depth rows (``price``, ``quantity``, ``orders``) as levels, the empty ones left out.

    Kite and Upstox pad the depth to five levels with zeros; a zero level holds nothing.
    """
    return tuple(
        Level(float(r["price"]), int(r["quantity"]), int(r.get("orders") or 0))
        for r in rows
        if r.get("price") and r.get("quantity")
    )
