"""What the engine needs to know about an instrument, supplied by the caller, and the rules that follow from it."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from functools import cache
from typing import Any

from kitekit.wire.orders import Product

__all__ = ["AssetClass", "InstrumentResolver", "InstrumentSpec", "asset_class_of", "resolver_of"]

# Index underlyings get index-derivative margin rates (SEBI's exposure margin differs for index and stock).
INDEX_UNDERLYINGS = frozenset(
    {"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX", "SENSEX50"}
)


class AssetClass(StrEnum):
    """Which charge and margin schedule an instrument falls under."""

    EQUITY = "equity"  # cash market shares and ETFs on NSE/BSE
    EQUITY_FUTURE = "equity_future"
    EQUITY_OPTION = "equity_option"
    CURRENCY_FUTURE = "currency_future"
    CURRENCY_OPTION = "currency_option"
    COMMODITY_FUTURE = "commodity_future"
    COMMODITY_OPTION = "commodity_option"


_CURRENCY = frozenset({"CDS", "BCD"})
_DERIVATIVE = frozenset({"NFO", "BFO", "CDS", "BCD", "MCX"})
_DERIVATIVE_PRODUCTS = (Product.NRML, Product.MIS)
_CASH_PRODUCTS = (Product.CNC, Product.MIS, Product.MTF)


@dataclass(frozen=True, slots=True)
class InstrumentSpec:
    """One tradable instrument as the engine sees it; field names follow the instruments dump.

    ``freeze_quantity`` 0 means the exchange sets no freeze limit. ``multiplier`` scales price × quantity to
    rupees (1 for everything but a few commodity contracts).
    """

    instrument_token: int
    exchange: str
    tradingsymbol: str
    segment: str = ""
    instrument_type: str = "EQ"
    tick_size: float = 0.05
    lot_size: int = 1
    freeze_quantity: int = 0
    expiry: date | None = None
    strike: float = 0.0
    name: str = ""
    isin: str = ""
    multiplier: float = 1.0

    @classmethod
    def from_kite(cls, row: Mapping[str, Any], freeze_quantity: int = 0, isin: str = "") -> InstrumentSpec:
        """Build a spec from an instruments-dump row (the SDK's ``instruments()`` dict or a CSV row dict)."""
        expiry = row.get("expiry")
        if isinstance(expiry, str):
            expiry = date.fromisoformat(expiry) if len(expiry) == 10 else None
        return cls(
            instrument_token=int(row["instrument_token"]),
            exchange=str(row["exchange"]),
            tradingsymbol=str(row["tradingsymbol"]),
            segment=str(row.get("segment", "")),
            instrument_type=str(row.get("instrument_type", "EQ")),
            tick_size=float(row.get("tick_size") or 0.05),
            lot_size=int(row.get("lot_size") or 1),
            freeze_quantity=freeze_quantity,
            expiry=expiry if isinstance(expiry, date) else None,
            strike=float(row.get("strike") or 0.0),
            name=str(row.get("name", "")),
            isin=isin,
        )

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``."""
        return f"{self.exchange}:{self.tradingsymbol}"

    @property
    def tradable(self) -> bool:
        """Return False for indices, which have quotes but no order book."""
        return self.segment != "INDICES" and self.exchange not in ("INDICES", "NSEIX")

    @property
    def is_option(self) -> bool:
        """Return True for calls and puts."""
        return self.instrument_type in ("CE", "PE")

    @property
    def is_derivative(self) -> bool:
        """Return True for futures and options (every segment but the NSE/BSE cash market)."""
        return self.exchange in _DERIVATIVE

    @property
    def is_index_underlying(self) -> bool:
        """Return True for derivatives on an index (NIFTY, BANKNIFTY, SENSEX, …)."""
        return self.name.upper() in INDEX_UNDERLYINGS

    @property
    def asset_class(self) -> AssetClass:
        """Return the charge/margin schedule this instrument falls under."""
        return asset_class_of(self.exchange, self.instrument_type in ("CE", "PE"))

    @property
    def funds_segment(self) -> str:
        """Return the ``/user/margins`` segment whose funds this instrument uses: equity or commodity."""
        return "commodity" if self.exchange == "MCX" else "equity"

    @property
    def products(self) -> tuple[Product, ...]:
        """Return the products an order on this instrument may carry (delivery products only in cash)."""
        return _DERIVATIVE_PRODUCTS if self.exchange in _DERIVATIVE else _CASH_PRODUCTS


@cache
def asset_class_of(exchange: str, option: bool) -> AssetClass:
    """Return the charge/margin schedule of an instrument on ``exchange`` (``option``: a call or a put)."""
    if exchange not in _DERIVATIVE:
        return AssetClass.EQUITY
    if exchange in _CURRENCY:
        return AssetClass.CURRENCY_OPTION if option else AssetClass.CURRENCY_FUTURE
    if exchange == "MCX":
        return AssetClass.COMMODITY_OPTION if option else AssetClass.COMMODITY_FUTURE
    return AssetClass.EQUITY_OPTION if option else AssetClass.EQUITY_FUTURE


#: Looks an instrument up by exchange and tradingsymbol; None when there is no such instrument.
InstrumentResolver = Callable[[str, str], InstrumentSpec | None]


def resolver_of(specs: Iterable[InstrumentSpec]) -> InstrumentResolver:
    """Return a resolver over a fixed set of specs (tests, the paper broker's watch list)."""
    table = {(s.exchange, s.tradingsymbol): s for s in specs}

    def resolve(exchange: str, tradingsymbol: str) -> InstrumentSpec | None:
        return table.get((exchange, tradingsymbol))

    return resolve
