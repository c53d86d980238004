"""Reference data for the simulated universe: real instruments with their tokens and levels.

The real equities (the NIFTY 500 constituents and the most traded ETFs) are data, ``equities.csv`` beside this
module; the indices, currencies and commodities are below. Prices are levels at :data:`ANCHOR` (the market model
walks from there, backwards and forwards in time). Lot sizes and strike steps follow the exchanges' late-2025
contract specifications closely enough for a simulator; nothing here is used for real trading.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib import resources

__all__ = [
    "ANCHOR",
    "BSE_INDICES",
    "COMMODITIES",
    "CURRENCIES",
    "EQUITIES",
    "FIRST_EQUITIES",
    "MORE_NSE_INDICES",
    "NSE_INDICES",
    "Contract",
    "Index",
    "Listing",
    "Stock",
]

#: The trading day on which every underlying sits at its catalogue price.
ANCHOR = date(2026, 1, 2)


class Listing(StrEnum):
    """How a real equity is listed: with futures and options, for cash only, or as an ETF."""

    FNO = "fno"
    EQ = "eq"
    ETF = "etf"


@dataclass(frozen=True)
class Stock:
    """A listed company or ETF: NSE symbol and exchange token, BSE scrip code, name, level, how it is listed."""

    symbol: str
    nse_token: int  # exchange token on NSE (instrument_token = nse_token * 256 + 1)
    bse_code: int  # BSE scrip code (instrument_token = bse_code * 256 + 4)
    name: str
    price: float
    listing: Listing = Listing.FNO


@dataclass(frozen=True)
class Index:
    """An index: display symbol, exchange token, level, yearly vol, and its F&O contract spec if any."""

    symbol: str
    exchange_token: int
    price: float
    vol: float
    fno_symbol: str = ""
    strike_step: float = 0.0
    lot: int = 0
    weekly: bool = False
    strikes_each_side: int = 0


#: The file of real equities: the NIFTY 500 and the most traded ETFs (its header says where they come from).
EQUITIES_FILE = "equities.csv"


def _equities() -> tuple[Stock, ...]:
    """Read :data:`EQUITIES_FILE`, shipped in the package, in its row order (the seeded draws follow it)."""
    text = resources.files(__package__ or "kitekit.sim.market").joinpath(EQUITIES_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return tuple(
        Stock(
            row["symbol"],
            int(row["nse_token"]),
            int(row["bse_code"]),
            row["name"],
            float(row["price"]),
            Listing(row["kind"]),
        )
        for row in rows
    )


#: Real equities. Tokens are the exchanges' (738561 = 2885*256+1) where the file says so.
EQUITIES: tuple[Stock, ...] = _equities()
#: How many of :data:`EQUITIES` the catalogue held before the NIFTY 500 came (issue 23): they come first in the
#: file, and in the market model before the synthetic companies, as they always did.
FIRST_EQUITIES = 48

NSE_INDICES: tuple[Index, ...] = (
    Index("NIFTY 50", 1001, 26150.0, 0.13, "NIFTY", 50.0, 65, weekly=True, strikes_each_side=100),
    Index("NIFTY BANK", 1016, 59700.0, 0.15, "BANKNIFTY", 100.0, 30, strikes_each_side=80),
    Index("NIFTY FIN SERVICE", 1007, 27600.0, 0.15, "FINNIFTY", 50.0, 60, strikes_each_side=60),
    Index("NIFTY MID SELECT", 1125, 13650.0, 0.17, "MIDCPNIFTY", 25.0, 120, strikes_each_side=60),
    Index("NIFTY NEXT 50", 1058, 69500.0, 0.15, "NIFTYNXT50", 100.0, 25, strikes_each_side=50),
    Index("NIFTY IT", 1015, 36900.0, 0.20),
    Index("INDIA VIX", 1035, 11.5, 0.70),
    Index("NIFTY MIDCAP 100", 1003, 60500.0, 0.17),
    Index("NIFTY SMLCAP 100", 1043, 17800.0, 0.20),
    Index("NIFTY AUTO", 1029, 27400.0, 0.18),
    Index("NIFTY PHARMA", 1025, 22600.0, 0.17),
    Index("NIFTY FMCG", 1023, 55600.0, 0.14),
    Index("NIFTY METAL", 1030, 10600.0, 0.24),
    Index("NIFTY REALTY", 1020, 910.0, 0.28),
    Index("NIFTY ENERGY", 1022, 35700.0, 0.19),
    Index("NIFTY PSU BANK", 1027, 8200.0, 0.24),
)

#: The broad and thematic indices traders chart besides (issue 23); the tokens from NIFTY MIDCAP 150 on are the
#: simulator's own. Kept apart from :data:`NSE_INDICES` because underlyings are numbered in order of addition.
MORE_NSE_INDICES: tuple[Index, ...] = (
    Index("NIFTY 100", 1018, 26900.0, 0.13),
    Index("NIFTY 200", 1033, 14600.0, 0.14),
    Index("NIFTY 500", 1047, 23900.0, 0.14),
    Index("NIFTY MIDCAP 50", 1019, 17100.0, 0.18),
    Index("NIFTY PVT BANK", 1059, 28500.0, 0.16),
    Index("NIFTY MEDIA", 1031, 1550.0, 0.26),
    Index("NIFTY INFRA", 1021, 9500.0, 0.17),
    Index("NIFTY MNC", 1024, 30500.0, 0.14),
    Index("NIFTY CPSE", 1048, 6700.0, 0.22),
    Index("NIFTY PSE", 1026, 10000.0, 0.21),
    Index("NIFTY COMMODITIES", 1005, 9200.0, 0.18),
    Index("NIFTY CONSUMPTION", 1006, 12100.0, 0.14),
    Index("NIFTY MIDCAP 150", 1130, 22000.0, 0.17),
    Index("NIFTY SMLCAP 250", 1131, 17500.0, 0.20),
    Index("NIFTY HEALTHCARE", 1132, 14800.0, 0.17),
    Index("NIFTY CONSR DURBL", 1133, 38000.0, 0.19),
    Index("NIFTY OIL AND GAS", 1134, 12000.0, 0.20),
)

BSE_INDICES: tuple[Index, ...] = (
    Index("SENSEX", 1, 85200.0, 0.13, "SENSEX", 100.0, 20, weekly=True, strikes_each_side=100),
    Index("BANKEX", 1072, 66800.0, 0.15, "BANKEX", 100.0, 30, strikes_each_side=50),
)


@dataclass(frozen=True)
class Contract:
    """A non-equity underlying traded only as derivatives (currency or commodity)."""

    symbol: str
    name: str
    price: float
    vol: float
    tick: float
    strike_step: float
    #: Also-listed mini contracts that follow the same price path (GOLDM follows GOLD).
    minis: tuple[str, ...] = ()
    #: Future expiry months as 1..12; empty means every month.
    months: tuple[int, ...] = ()
    #: Day of the month futures expire on (or the trading day before it); 0 = currency rule.
    expiry_day: int = 0
    options: bool = True


CURRENCIES: tuple[Contract, ...] = (
    Contract("USDINR", "USDINR", 88.6, 0.045, 0.0025, 0.25),
    Contract("EURINR", "EURINR", 103.2, 0.065, 0.0025, 0.25),
    Contract("GBPINR", "GBPINR", 117.4, 0.07, 0.0025, 0.25),
    Contract("JPYINR", "JPYINR", 57.1, 0.09, 0.0025, 0.25),
)

COMMODITIES: tuple[Contract, ...] = (
    Contract("GOLD", "GOLD", 131500.0, 0.15, 1.0, 500.0, ("GOLDM",), (2, 4, 6, 8, 10, 12), 5),
    Contract("SILVER", "SILVER", 168000.0, 0.26, 1.0, 1000.0, ("SILVERM",), (3, 5, 7, 9, 12), 5),
    Contract("CRUDEOIL", "CRUDEOIL", 5350.0, 0.35, 1.0, 50.0, ("CRUDEOILM",), (), 19),
    Contract("NATURALGAS", "NATURALGAS", 342.0, 0.55, 0.1, 5.0, ("NATGASMINI",), (), 25),
    Contract("COPPER", "COPPER", 1010.0, 0.20, 0.05, 5.0, (), (), 28),
    Contract("ZINC", "ZINC", 292.0, 0.20, 0.05, 2.5, ("ZINCMINI",), (), 28),
    Contract("ALUMINIUM", "ALUMINIUM", 258.0, 0.18, 0.05, 2.5, ("ALUMINI",), (), 28, options=False),
    Contract("LEAD", "LEAD", 183.0, 0.15, 0.05, 2.5, ("LEADMINI",), (), 28, options=False),
)
