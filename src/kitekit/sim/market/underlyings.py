"""The simulated underlyings: every independent price path, real names first, then seeded synthetic ones."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from kitekit.sim.market import catalog
from kitekit.sim.market.rng import generator, key_of

__all__ = ["AssetClass", "Underlying", "build_underlyings"]


class AssetClass(StrEnum):
    """What kind of thing a price path belongs to; sets carry and which segments list it."""

    EQUITY = "equity"
    INDEX = "index"
    CURRENCY = "currency"
    COMMODITY = "commodity"


@dataclass(frozen=True)
class Underlying:
    """One independent price path and how its derivatives are specified."""

    uid: int
    asset: AssetClass
    symbol: str  # NSE symbol, index name, or contract symbol
    name: str
    price: float  # level at catalog.ANCHOR
    vol: float  # yearly volatility of log price
    drift: float  # yearly drift of log price
    tick: float
    nse_token: int = 0  # exchange token on NSE (equities and NSE indices)
    bse_token: int = 0  # exchange token on BSE (equities and BSE indices)
    fno_symbol: str = ""  # symbol of its futures and options, "" when none
    strike_step: float = 0.0
    lot: int = 0
    strikes_each_side: int = 0
    weekly: bool = False
    minis: tuple[str, ...] = ()
    months: tuple[int, ...] = ()
    expiry_day: int = 0
    options: bool = True

    @property
    def carry(self) -> float:
        """Return the yearly cost of carry used to price futures off the spot path."""
        return {AssetClass.CURRENCY: 0.02, AssetClass.COMMODITY: 0.04}.get(self.asset, 0.065)


_SYLLABLES = (
    "AR",
    "VI",
    "KA",
    "NO",
    "SU",
    "RA",
    "MI",
    "TE",
    "LA",
    "DE",
    "PO",
    "NI",
    "SHA",
    "VA",
    "GO",
    "BHA",
    "JA",
    "RU",
    "MA",
    "KI",
    "SA",
    "TA",
    "ZE",
    "HI",
    "DHA",
    "PRI",
    "YA",
    "NA",
    "LO",
    "VE",
    "SI",
    "KU",
    "BA",
    "CHE",
)
_SECTORS = (
    ("IND", "INDUSTRIES"),
    ("TECH", "TECHNOLOGIES"),
    ("FIN", "FINANCE"),
    ("PHARM", "PHARMACEUTICALS"),
    ("STEEL", "STEEL"),
    ("POWER", "POWER"),
    ("BANK", "BANK"),
    ("CHEM", "CHEMICALS"),
    ("AUTO", "AUTO"),
    ("INFRA", "INFRASTRUCTURE"),
    ("TEX", "TEXTILES"),
    ("AGRO", "AGRO PRODUCTS"),
    ("MOT", "MOTORS"),
    ("LABS", "LABORATORIES"),
    ("", "ENTERPRISES"),
    ("", "HOLDINGS"),
    ("CEM", "CEMENT"),
    ("FOODS", "FOODS"),
)

#: NSE-listed synthetic companies (all also on BSE), and BSE-only ones.
NSE_SYNTHETIC = 2552
BSE_ONLY = 2400
#: Stocks with futures and options in all: the catalogue's F&O ones, and synthetic ones up to this number.
FNO_STOCKS = 220
#: Synthetic companies are picked for F&O by tossing a seeded coin until this many are: the coin is still tossed
#: that often now that real F&O stocks take most of the places, so every synthetic company keeps its price.
_FNO_TOSSES = 172
STRIKES_EACH_SIDE_STOCK = 35


def _stock_strike_step(price: float) -> float:
    for limit, step in (
        (100, 1.0),
        (250, 2.5),
        (500, 5.0),
        (1000, 10.0),
        (2500, 20.0),
        (5000, 50.0),
        (10000, 100.0),
    ):
        if price < limit:
            return step
    return 250.0


def _stock_lot(price: float) -> int:
    # Exchanges size stock lots so a contract is worth roughly ₹5–10 lakh.
    raw = 650_000 / price
    unit = 25 if raw >= 100 else 5 if raw >= 10 else 1
    return max(unit, round(raw / unit) * unit)


def _equity_tick(price: float, listing: catalog.Listing = catalog.Listing.EQ) -> float:
    # NSE moved stocks under ₹250 to a one-paisa tick in 2025; ETFs trade in paise at any price.
    return 0.01 if price < 250 or listing is catalog.Listing.ETF else 0.05


def _synthetic_names(seed: int, count: int, real: set[str]) -> list[tuple[str, str]]:
    """Return ``count`` seeded (symbol, name) pairs, none of them a real company's symbol.

    The names are drawn as they were when the catalogue held its first 48 companies; one that a real company
    added since holds is replaced by a name drawn after all the others, so every other synthetic company keeps
    its name.
    """
    rng = generator(seed, key_of("names"))
    taken = {s.symbol for s in catalog.EQUITIES[: catalog.FIRST_EQUITIES]}
    drawn: list[tuple[str, str]] = []
    while True:
        if len(drawn) >= count:
            clashes = sum(symbol in real for symbol, _ in drawn[:count])
            spare = [pair for pair in drawn[count:] if pair[0] not in real]
            if len(spare) >= clashes:
                break
        stem = "".join(_SYLLABLES[i] for i in rng.integers(0, len(_SYLLABLES), size=int(rng.integers(2, 4))))
        short, long = _SECTORS[int(rng.integers(0, len(_SECTORS)))]
        symbol = (stem + short)[:10]
        if symbol in taken or len(symbol) < 3:
            continue
        taken.add(symbol)
        drawn.append((symbol, f"{stem} {long}"))
    replacements = iter(spare)
    return [next(replacements) if symbol in real else (symbol, name) for symbol, name in drawn[:count]]


def build_underlyings(seed: int) -> list[Underlying]:
    """Return every underlying, deterministic in ``seed``; ``uid`` equals the list position."""
    rng = generator(seed, key_of("underlyings"))
    out: list[Underlying] = []

    def add(**kw: object) -> Underlying:
        u = Underlying(uid=len(out), **kw)  # type: ignore[arg-type]
        out.append(u)
        return u

    def add_index(ix: catalog.Index, token_field: str) -> None:
        add(
            asset=AssetClass.INDEX,
            symbol=ix.symbol,
            name=ix.symbol,
            price=ix.price,
            vol=ix.vol,
            drift=0.11,
            tick=0.05,
            fno_symbol=ix.fno_symbol,
            strike_step=ix.strike_step,
            lot=ix.lot,
            strikes_each_side=ix.strikes_each_side,
            weekly=ix.weekly,
            **{token_field: ix.exchange_token},
        )

    def add_stock(st: catalog.Stock) -> None:
        fno = st.listing is catalog.Listing.FNO
        add(
            asset=AssetClass.EQUITY,
            symbol=st.symbol,
            name=st.name,
            price=st.price,
            # An ETF tracks an index or a metal: it moves like one, not like a single company.
            vol=float(rng.uniform(0.2, 0.35)) * (0.5 if st.listing is catalog.Listing.ETF else 1.0),
            drift=float(rng.uniform(0.05, 0.16)),
            tick=_equity_tick(st.price, st.listing),
            nse_token=st.nse_token,
            bse_token=st.bse_code,
            fno_symbol=st.symbol if fno else "",
            strike_step=_stock_strike_step(st.price) if fno else 0.0,
            lot=_stock_lot(st.price) if fno else 0,
            strikes_each_side=STRIKES_EACH_SIDE_STOCK if fno else 0,
        )

    # A price path is keyed by its underlying's uid (its place in this list) and draws from one seeded sequence:
    # underlyings are only ever added at the end, so every earlier one keeps its prices.
    for ix in catalog.NSE_INDICES:
        add_index(ix, "nse_token")
    for ix in catalog.BSE_INDICES:
        add_index(ix, "bse_token")
    for st in catalog.EQUITIES[: catalog.FIRST_EQUITIES]:
        add_stock(st)

    names = _synthetic_names(seed, NSE_SYNTHETIC + BSE_ONLY, {s.symbol for s in catalog.EQUITIES})
    fno_places = max(0, FNO_STOCKS - sum(st.listing is catalog.Listing.FNO for st in catalog.EQUITIES))
    tosses = _FNO_TOSSES
    for i, (symbol, name) in enumerate(names):
        price = float(round(math.exp(rng.uniform(math.log(15), math.log(9000))), 1))
        on_nse = i < NSE_SYNTHETIC
        heads = on_nse and tosses > 0 and price >= 100 and rng.uniform() < 0.25
        tosses -= int(heads)
        fno = heads and fno_places > 0
        fno_places -= int(fno)
        add(
            asset=AssetClass.EQUITY,
            symbol=symbol,
            name=name,
            price=price,
            vol=float(rng.uniform(0.22, 0.55)),
            drift=float(rng.uniform(-0.02, 0.2)),
            tick=_equity_tick(price),
            nse_token=30000 + i if on_nse else 0,
            bse_token=600000 + i,
            fno_symbol=symbol if fno else "",
            strike_step=_stock_strike_step(price) if fno else 0.0,
            lot=_stock_lot(price) if fno else 0,
            strikes_each_side=STRIKES_EACH_SIDE_STOCK if fno else 0,
        )

    for group, asset in (
        (catalog.CURRENCIES, AssetClass.CURRENCY),
        (catalog.COMMODITIES, AssetClass.COMMODITY),
    ):
        for c in group:
            add(
                asset=asset,
                symbol=c.symbol,
                name=c.name,
                price=c.price,
                vol=c.vol,
                drift=0.03 if asset is AssetClass.CURRENCY else 0.05,
                tick=c.tick,
                fno_symbol=c.symbol,
                strike_step=c.strike_step,
                lot=1,
                strikes_each_side=40 if c.options else 0,
                weekly=c.symbol == "USDINR",
                minis=c.minis,
                months=c.months,
                expiry_day=c.expiry_day,
                options=c.options,
            )

    # Added with the NIFTY 500 (issue 23), after everything that was there before.
    for ix in catalog.MORE_NSE_INDICES:
        add_index(ix, "nse_token")
    for st in catalog.EQUITIES[catalog.FIRST_EQUITIES :]:
        add_stock(st)
    return out


def parameter_arrays(underlyings: list[Underlying]) -> dict[str, np.ndarray]:
    """Return price, vol and drift of every underlying as arrays indexed by ``uid``."""
    return {
        "price": np.array([u.price for u in underlyings]),
        "vol": np.array([u.vol for u in underlyings]),
        "drift": np.array([u.drift for u in underlyings]),
        "carry": np.array([u.carry for u in underlyings]),
    }
