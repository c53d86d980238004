"""The shared simulated market seen through Upstox's eyes: instrument keys, trading symbols and the JSON dump.

Built per dump day over the Kite simulator's :class:`~kitekit.sim.market.Universe` (the same rows, prices and
tokens): a row's Upstox key is its segment and ISIN (equities), exchange token (derivatives) or index name.

SIM: the simulated companies have no real ISINs; each has the well-formed one the Kite simulator's holdings
show (:func:`kitekit.sim.instruments.isin_for`), the same on NSE and BSE as on Upstox. Trading symbols are Kite's
(``NIFTY26D0120300CE``), where Upstox writes derivatives differently; clients must go by the instrument key.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime

from kitekit.sim.instruments import isin_for
from kitekit.sim.market import ContractKind, Market, Universe
from kitekit.wire.order_terms import freeze_quantity
from kitekit.wire.upstox.instruments import DumpRow, encode_dump, expiry_millis
from kitekit.wire.upstox.keys import Segment, quote_key, segment_for

__all__ = ["INDEX_NAMES", "UpstoxCatalog", "UpstoxListing"]

#: Upstox's names of the simulated indices (its ``NSE_INDEX|…`` keys); others keep Kite's name.
INDEX_NAMES: dict[str, str] = {
    "NIFTY 50": "Nifty 50",
    "NIFTY BANK": "Nifty Bank",
    "NIFTY FIN SERVICE": "Nifty Fin Service",
    "NIFTY MID SELECT": "NIFTY MID SELECT",
    "NIFTY NEXT 50": "Nifty Next 50",
    "NIFTY IT": "Nifty IT",
    "INDIA VIX": "India VIX",
    "NIFTY MIDCAP 100": "NIFTY MIDCAP 100",
    "NIFTY SMLCAP 100": "NIFTY SMLCAP 100",
    "NIFTY AUTO": "Nifty Auto",
    "SENSEX": "SENSEX",
    "BANKEX": "BANKEX",
}
# Upstox's trading symbols of the indices it lists under a short name.
_INDEX_SYMBOLS = {"NIFTY 50": "NIFTY", "NIFTY BANK": "BANKNIFTY", "NIFTY FIN SERVICE": "FINNIFTY"}
_INSTRUMENT_TYPE = {ContractKind.EQ: "EQ", ContractKind.INDEX: "INDEX", ContractKind.FUT: "FUT"}


@dataclass
class UpstoxListing:
    """One day's universe keyed the Upstox way."""

    universe: Universe
    keys: list[str]
    segments: list[str]
    by_key: dict[str, int]
    _dump: bytes | None = field(default=None, repr=False)

    def trading_symbol(self, row: int) -> str:
        """Return the row's trading symbol (indices: Upstox's short name where it has one)."""
        symbol = self.universe.symbol[row]
        return _INDEX_SYMBOLS.get(symbol, symbol) if self.universe.kind[row] == ContractKind.INDEX else symbol

    def freeze_quantity(self, row: int) -> int:
        """Return the most one order of the row may carry (the engine's figure: v3 slices above it)."""
        uni = self.universe
        return freeze_quantity(uni.exchange[row], uni.symbol[row], uni.name[row])

    def quote_key(self, row: int) -> str:
        """Return the key a quote answer files the row under (``NSE_EQ:RELIANCE``)."""
        return quote_key(self.segments[row], self.trading_symbol(row))

    def resolve(self, instrument_key: str) -> int | None:
        """Return the row of an instrument key, or None."""
        return self.by_key.get(instrument_key)


class UpstoxCatalog:
    """Upstox listings of the shared market, one per dump day (two held at most, like the market's)."""

    def __init__(self, market: Market) -> None:
        self.market = market
        self._lock = threading.Lock()
        self._days: dict[date, UpstoxListing] = {}

    def listing(self, now: datetime) -> UpstoxListing:
        """Return the listing current at ``now``."""
        uni = self.market.universe(now)
        with self._lock:
            found = self._days.get(uni.as_of)
            if found is None or found.universe is not uni:
                found = _listing_of(uni)
                self._days = {d: v for d, v in self._days.items() if d >= self.market.calendar.previous(uni.as_of)}
                self._days[uni.as_of] = found
            return found

    def dump(self, now: datetime) -> bytes:
        """Return the gzipped JSON dump current at ``now`` (built once per day)."""
        listing = self.listing(now)
        with self._lock:
            if listing._dump is None:
                listing._dump = listing.universe.keep("upstox-dump", lambda: encode_dump(_rows(listing)))
            return listing._dump


# Listings by the universe they key, shared like the universes (``kitekit.sim.market.market``): markets of one
# seed share a day's universe, and its listing (and JSON dump) cost seconds more.
_LISTINGS: dict[int, UpstoxListing] = {}
_LISTINGS_LOCK = threading.Lock()
_LISTINGS_KEPT = 4


def _listing_of(uni: Universe) -> UpstoxListing:
    with _LISTINGS_LOCK:
        found = _LISTINGS.get(id(uni))
        if found is None or found.universe is not uni:  # an id outlives its object only once that is gone
            found = _LISTINGS[id(uni)] = _build(uni)
            for old in list(_LISTINGS)[:-_LISTINGS_KEPT]:
                del _LISTINGS[old]
        return found


def _kinds(uni: Universe) -> list[ContractKind]:
    """Return each row's kind (one enum call per kind, not per row)."""
    kind_of = {k.value: k for k in ContractKind}
    return [kind_of[k] for k in uni.kind.tolist()]


def _build(uni: Universe) -> UpstoxListing:
    keys, segments = [], []
    # Columns as Python lists: a numpy scalar read per row costs seconds over the 115k rows.
    for kind, exchange, symbol, uid, exchange_token in zip(
        _kinds(uni), uni.exchange, uni.symbol, uni.uid.tolist(), uni.exchange_token.tolist(), strict=True
    ):
        segment = segment_for(exchange, kind is ContractKind.INDEX) or Segment.NSE_EQ
        if kind is ContractKind.INDEX:
            ident = INDEX_NAMES.get(symbol, symbol)
        elif kind is ContractKind.EQ:
            ident = isin_for(uid)
        else:
            ident = str(exchange_token)
        keys.append(f"{segment}|{ident}")
        segments.append(segment.value)
    return UpstoxListing(uni, keys, segments, {k: i for i, k in enumerate(keys)})


def _rows(listing: UpstoxListing) -> list[DumpRow]:
    uni = listing.universe
    kinds = _kinds(uni)
    uids = uni.uid.tolist()
    exchange_of = {s.value: s.exchange for s in Segment}  # an enum call and property per row cost a second
    underlying_key: dict[int, str] = {}
    for i, kind in enumerate(kinds):  # an F&O row's underlying: the index, else the NSE (or BSE) stock
        if kind in (ContractKind.INDEX, ContractKind.EQ):
            underlying_key.setdefault(uids[i], listing.keys[i])
    expiries = uni.expiry.astype(object).tolist()  # datetime.date, None where NaT
    millis = {d: expiry_millis(d) for d in set(expiries) if d is not None}  # a few hundred over 115k rows
    columns = zip(
        kinds,
        uids,
        listing.keys,
        listing.segments,
        uni.name,
        uni.symbol,
        uni.exchange,
        uni.exchange_token.tolist(),
        uni.lot.tolist(),
        uni.tick.tolist(),
        uni.strike.tolist(),
        expiries,
        strict=True,
    )
    rows: list[DumpRow] = []
    for kind, uid, key, segment_value, name, symbol, exchange, exchange_token, lot, tick, strike, expiry in columns:
        index = kind is ContractKind.INDEX
        row: DumpRow = {
            "segment": segment_value,
            "name": INDEX_NAMES.get(name, name) if index else name,
            "exchange": exchange_of[segment_value],
            "instrument_type": _INSTRUMENT_TYPE.get(kind, kind.name),
            "instrument_key": key,
            "exchange_token": str(exchange_token),
            "trading_symbol": _INDEX_SYMBOLS.get(symbol, symbol) if index else symbol,
        }
        if not index:
            row["lot_size"] = lot
            row["tick_size"] = round(tick * 100, 4)  # paise
            row["freeze_quantity"] = float(freeze_quantity(exchange, symbol, name))
        if kind is ContractKind.EQ:
            row["isin"] = key.split("|", 1)[1]
            row["short_name"] = name.title()
            row["security_type"] = "NORMAL"
        if kind in (ContractKind.FUT, ContractKind.CE, ContractKind.PE):
            under = underlying_key.get(uid, "")
            under_type = "INDEX" if "_INDEX|" in under else ("EQUITY" if under else "COM")
            row["expiry"] = millis[expiry]
            row["strike_price"] = strike
            row["minimum_lot"] = lot
            row["weekly"] = symbol[len(name) + 3 : len(name) + 4].isdigit()
            row["underlying_key"] = row["asset_key"] = under
            row["underlying_symbol"] = row["asset_symbol"] = name
            row["underlying_type"] = row["asset_type"] = under_type
            row["qty_multiplier"] = 1.0
        rows.append(row)
    return rows
