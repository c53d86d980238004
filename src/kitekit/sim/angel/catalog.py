"""The simulated market's instruments as Angel lists them: scrip-master rows and lookups both ways.

The universe is the Kite simulator's (one market, one engine); this module only renames. Angel's token is the
exchange's own token (Kite's ``exchange_token``), its symbols follow Angel's patterns (``RELIANCE-EQ``,
``NIFTY26DEC2424000CE``, ``NIFTY26DEC24FUT``), and the famous indices keep Angel's tokens and names
(``99926000`` ``Nifty 50``). SIM: other indices get tokens in the same 999… range, and currency strikes are
written ×100 like the rest (Angel's own currency rows may differ).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import date

from kitekit.sim.market import ContractKind, Market, Universe
from kitekit.wire.angel.scrip import INDEX_TYPE, ScripRow, expiry_text, strike_text, symbol_expiry, tick_text
from kitekit.wire.angel.stream import EXCHANGE_TYPES, ExchangeType

__all__ = ["AngelCatalog", "Listing", "angel_catalog"]

#: Angel's tokens and names of the indices every strategy asks for: Kite symbol -> (token, symbol, name).
_INDICES = {
    ("NSE", "NIFTY 50"): ("99926000", "Nifty 50", "NIFTY"),
    ("NSE", "NIFTY BANK"): ("99926009", "Nifty Bank", "BANKNIFTY"),
    ("NSE", "NIFTY FIN SERVICE"): ("99926037", "Nifty Fin Service", "FINNIFTY"),
    ("NSE", "NIFTY MID SELECT"): ("99926074", "NIFTY MID SELECT", "MIDCPNIFTY"),
    ("NSE", "INDIA VIX"): ("99926017", "India VIX", "INDIA VIX"),
    ("BSE", "SENSEX"): ("99919000", "SENSEX", "SENSEX"),
    ("BSE", "BANKEX"): ("99919012", "BANKEX", "BANKEX"),
}
#: Underlyings whose derivatives Angel types OPTIDX/FUTIDX.
_INDEX_NAMES = frozenset({"NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50", "SENSEX", "BANKEX", "SENSEX50"})
_OPT = {ContractKind.CE: "CE", ContractKind.PE: "PE"}


@dataclass(frozen=True)
class Listing:
    """One instrument as Angel names it, and its row in the day's universe."""

    row: int
    exchange: str
    token: str
    symbol: str
    name: str
    instrumenttype: str
    expiry: date | None
    strike: float | None
    lotsize: int
    tick: float
    option_type: str

    @property
    def exchange_type(self) -> ExchangeType:
        """Return the WebSocket 2.0 exchange type of the instrument's segment."""
        return EXCHANGE_TYPES[self.exchange]

    def scrip(self) -> ScripRow:
        """Return the instrument's scrip-master row."""
        return {
            "token": self.token,
            "symbol": self.symbol,
            "name": self.name,
            "expiry": expiry_text(self.expiry),
            "strike": "0.000000" if self.instrumenttype == INDEX_TYPE else strike_text(self.strike),
            "lotsize": str(self.lotsize),
            "instrumenttype": self.instrumenttype,
            "exch_seg": self.exchange,
            "tick_size": tick_text(self.tick),
        }


@dataclass
class AngelCatalog:
    """Every instrument of one day's universe as Angel lists it."""

    universe: Universe
    listings: list[Listing]
    by_token: dict[tuple[str, str], Listing] = field(default_factory=dict)
    by_row: dict[int, Listing] = field(default_factory=dict)
    _master: bytes | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.by_token = {(lst.exchange, lst.token): lst for lst in self.listings}
        self.by_row = {lst.row: lst for lst in self.listings}

    def find(self, exchange: str, token: str) -> Listing | None:
        """Return the instrument with Angel token ``token`` on ``exchange`` (an ``exch_seg``), or None."""
        return self.by_token.get((exchange, token))

    def find_type(self, exchange_type: int, token: str) -> Listing | None:
        """Return the instrument of a WebSocket subscription (exchange type and token), or None."""
        for exchange, kind in EXCHANGE_TYPES.items():
            if kind == exchange_type:
                found = self.by_token.get((exchange, token))
                if found is not None:
                    return found
        return None

    def master(self) -> bytes:
        """Return the scrip master as JSON (built once per day: it is large)."""
        with self._lock:
            if self._master is None:
                self._master = self.universe.keep(
                    "angel-master",
                    lambda: json.dumps([lst.scrip() for lst in self.listings], separators=(",", ":")).encode(),
                )
            return self._master


def _listing(
    row: int,
    columns: tuple[str, str, str, ContractKind, int, float, int, float, date | None],
) -> Listing:
    exchange, symbol, name, kind, lot_size, tick_size, exchange_token, strike, expiry = columns
    lot, tick = max(lot_size, 1), tick_size or 0.05
    token = str(exchange_token)
    if kind is ContractKind.INDEX:
        token, angel_symbol, angel_name = _INDICES.get(
            (exchange, symbol), (f"{99926500 + exchange_token % 500}", symbol, symbol)
        )
        return Listing(row, exchange, token, angel_symbol, angel_name, INDEX_TYPE, None, None, 1, 0.05, "")
    if kind is ContractKind.EQ:
        angel_symbol = f"{symbol}-EQ" if exchange == "NSE" else symbol
        return Listing(row, exchange, token, angel_symbol, symbol, "", None, None, lot, tick, "")
    if expiry is None:
        raise AssertionError(f"a derivative without an expiry: {exchange}:{symbol}")
    family = "IDX" if name in _INDEX_NAMES else {"CDS": "CUR", "MCX": "COM"}.get(exchange, "STK")
    stamp = symbol_expiry(expiry)
    if kind is ContractKind.FUT:
        return Listing(row, exchange, token, f"{name}{stamp}FUT", name, f"FUT{family}", expiry, None, lot, tick, "")
    strike_part = str(int(strike)) if strike.is_integer() else f"{strike:g}"
    option = _OPT[kind]
    kind_text = "OPTFUT" if exchange == "MCX" else f"OPT{family}"
    angel_symbol = f"{name}{stamp}{strike_part}{option}"
    return Listing(row, exchange, token, angel_symbol, name, kind_text, expiry, strike, lot, tick, option)


def _listings(uni: Universe) -> list[Listing]:
    # Columns as Python lists first: numpy scalar reads per field and row cost seconds over 115k rows.
    kind_of = {k.value: k for k in ContractKind}
    columns = zip(
        uni.exchange,
        uni.symbol,
        uni.name,
        [kind_of[k] for k in uni.kind.tolist()],
        uni.lot.tolist(),
        uni.tick.tolist(),
        uni.exchange_token.tolist(),
        uni.strike.tolist(),
        uni.expiry.astype(object).tolist(),  # datetime.date, None where NaT
        strict=True,
    )
    return [_listing(row, c) for row, c in enumerate(columns)]


# Catalogs by the universe they list. Markets of one seed share a day's universe (``kitekit.sim.market.market``),
# so they share its catalog too; a few are kept, whichever markets asked (keyed by market, every simulator a
# process started kept two catalogs of 115k listings alive).
_catalogs: dict[int, AngelCatalog] = {}
_catalogs_lock = threading.Lock()
_CATALOGS_KEPT = 4


def angel_catalog(market: Market, uni: Universe) -> AngelCatalog:
    """Return the Angel catalog of ``uni`` (built once per universe; the last few are kept)."""
    with _catalogs_lock:
        found = _catalogs.get(id(uni))
        if found is not None and found.universe is uni:
            return found
    catalog = AngelCatalog(uni, _listings(uni))
    with _catalogs_lock:
        _catalogs[id(uni)] = catalog
        for old in list(_catalogs)[:-_CATALOGS_KEPT]:
            del _catalogs[old]
    return catalog
