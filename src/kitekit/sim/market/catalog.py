"""Reference data for the simulated universe: well-known instruments with their real tokens and levels.

Prices are levels at :data:`ANCHOR` (the market model walks from there, backwards and forwards in time).
Lot sizes and strike steps follow the exchanges' late-2025 contract specifications closely enough for a
simulator; nothing here is used for real trading.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

__all__ = [
    "ANCHOR",
    "BSE_INDICES",
    "COMMODITIES",
    "CURRENCIES",
    "EQUITIES",
    "NSE_INDICES",
    "Contract",
    "Index",
    "Stock",
]

#: The trading day on which every underlying sits at its catalogue price.
ANCHOR = date(2026, 1, 2)


@dataclass(frozen=True)
class Stock:
    """A listed company: NSE symbol and exchange token, BSE scrip code, name, level."""

    symbol: str
    nse_token: int  # exchange token on NSE (instrument_token = nse_token * 256 + 1)
    bse_code: int  # BSE scrip code (instrument_token = bse_code * 256 + 4)
    name: str
    price: float


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


# (symbol, NSE exchange token, BSE scrip code, name, price). Tokens are the real ones (738561 = 2885*256+1).
EQUITIES: tuple[Stock, ...] = tuple(
    Stock(*row)
    for row in (
        ("RELIANCE", 2885, 500325, "RELIANCE INDUSTRIES", 1540.0),
        ("INFY", 1594, 500209, "INFOSYS", 1600.0),
        ("TCS", 11536, 532540, "TATA CONSULTANCY SERV LT", 3150.0),
        ("HDFCBANK", 1333, 500180, "HDFC BANK", 995.0),
        ("ICICIBANK", 4963, 532174, "ICICI BANK.", 1360.0),
        ("SBIN", 3045, 500112, "STATE BANK OF INDIA", 975.0),
        ("ITC", 1660, 500875, "ITC", 405.0),
        ("HINDUNILVR", 1394, 500696, "HINDUSTAN UNILEVER.", 2350.0),
        ("LT", 11483, 500510, "LARSEN & TOUBRO", 4050.0),
        ("KOTAKBANK", 1922, 500247, "KOTAK MAHINDRA BANK", 2150.0),
        ("AXISBANK", 5900, 532215, "AXIS BANK", 1270.0),
        ("BHARTIARTL", 10604, 532454, "BHARTI AIRTEL", 2100.0),
        ("WIPRO", 3787, 507685, "WIPRO", 262.0),
        ("MARUTI", 10999, 532500, "MARUTI SUZUKI INDIA.", 16300.0),
        ("SUNPHARMA", 3351, 524715, "SUN PHARMACEUTICAL IND L", 1760.0),
        ("BAJFINANCE", 317, 500034, "BAJAJ FINANCE", 1010.0),
        ("ASIANPAINT", 236, 500820, "ASIAN PAINTS", 2820.0),
        ("TATASTEEL", 3499, 500470, "TATA STEEL", 172.0),
        ("HCLTECH", 7229, 532281, "HCL TECHNOLOGIES", 1640.0),
        ("NTPC", 11630, 532555, "NTPC", 330.0),
        ("POWERGRID", 14977, 532898, "POWER GRID CORP.", 270.0),
        ("ONGC", 2475, 500312, "OIL AND NATURAL GAS CORP.", 242.0),
        ("TITAN", 3506, 500114, "TITAN COMPANY", 3900.0),
        ("ULTRACEMCO", 11532, 532538, "ULTRATECH CEMENT", 11800.0),
        ("NESTLEIND", 17963, 500790, "NESTLE INDIA", 1250.0),
        ("ADANIENT", 25, 512599, "ADANI ENTERPRISES", 2300.0),
        ("BAJAJFINSV", 16675, 532978, "BAJAJ FINSERV", 2030.0),
        ("TECHM", 13538, 532755, "TECH MAHINDRA", 1580.0),
        ("M&M", 2031, 500520, "MAHINDRA & MAHINDRA", 3700.0),
        ("DRREDDY", 881, 500124, "DR. REDDY S LABORATORIES", 1260.0),
        ("CIPLA", 694, 500087, "CIPLA", 1510.0),
        ("COALINDIA", 20374, 533278, "COAL INDIA", 385.0),
        ("JSWSTEEL", 11723, 500228, "JSW STEEL", 1160.0),
        ("HINDALCO", 1363, 500440, "HINDALCO  INDUSTRIES", 860.0),
        ("GRASIM", 1232, 500300, "GRASIM INDUSTRIES", 2760.0),
        ("INDUSINDBK", 5258, 532187, "INDUSIND BANK", 880.0),
        ("EICHERMOT", 910, 505200, "EICHER MOTORS", 7100.0),
        ("HEROMOTOCO", 1348, 500182, "HERO MOTOCORP", 5800.0),
        ("BRITANNIA", 547, 500825, "BRITANNIA INDUSTRIES", 5950.0),
        ("APOLLOHOSP", 157, 508869, "APOLLO HOSPITALS ENTER. L", 7300.0),
        ("DIVISLAB", 10940, 532488, "DIVI S LABORATORIES", 6400.0),
        ("BPCL", 526, 500547, "BHARAT PETROLEUM CORP  LT", 360.0),
        ("TATACONSUM", 3432, 500800, "TATA CONSUMER PRODUCT", 1170.0),
        ("SBILIFE", 21808, 540719, "SBI LIFE INSURANCE CO", 2010.0),
        ("HDFCLIFE", 467, 540777, "HDFC LIFE INS CO", 760.0),
        ("SHRIRAMFIN", 4306, 511218, "SHRIRAM FINANCE", 850.0),
        ("ADANIPORTS", 15083, 532921, "ADANI PORTS AND SEZ", 1470.0),
        ("BAJAJ-AUTO", 16669, 532977, "BAJAJ AUTO", 9100.0),
    )
)

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
