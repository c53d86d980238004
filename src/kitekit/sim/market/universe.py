"""The instrument universe of one trading day: every listed contract as columns, plus its CSV dump."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum

import numpy as np

from kitekit.markethours import TradingCalendar
from kitekit.sim.market import expiries as ex
from kitekit.sim.market.underlyings import AssetClass, Underlying
from kitekit.wire.instruments_csv import Instrument, encode_rows
from kitekit.wire.segments import Segment, token_of

__all__ = ["ContractKind", "Keeper", "Universe", "build_universe"]

#: How a universe keeps bytes derived from it: ``keep(name, make)``.
Keeper = Callable[[str, Callable[[], bytes]], bytes]

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# Weekly contract symbols encode the month in one character: 1-9, then O, N, D.
_WEEK_MONTH = "123456789OND"


class ContractKind(IntEnum):
    """What a listed contract is; decides how its price follows its underlying.

    Stored as int8 in :attr:`Universe.kind`; the dump's ``instrument_type`` is derived from it.
    """

    EQ = 0
    INDEX = 1
    FUT = 2
    CE = 3
    PE = 4


# Kite lists indices with instrument_type EQ.
_TYPE = {
    ContractKind.EQ: "EQ",
    ContractKind.INDEX: "EQ",
    ContractKind.FUT: "FUT",
    ContractKind.CE: "CE",
    ContractKind.PE: "PE",
}
# Derivative exchange tokens are laid out so a contract keeps its token from one day's dump to the next:
# base + ((underlying slot * 64 + expiry week % 64) * 256 + strike index % 256) * 3 + kind.
_DERIV_BASE = {Segment.NFO: 35000, Segment.BFO: 800000, Segment.CDS: 1000, Segment.MCX: 200000}


def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:.4f}".rstrip("0")


def _prefix(symbol: str, expiry: date, weekly: bool) -> str:
    if weekly:
        return f"{symbol}{expiry:%y}{_WEEK_MONTH[expiry.month - 1]}{expiry.day:02d}"
    return f"{symbol}{expiry:%y}{_MONTHS[expiry.month - 1]}"


@dataclass
class Universe:
    """All instruments listed on ``as_of``, column-wise; row ``i`` is one instrument."""

    as_of: date
    token: np.ndarray
    exchange_token: np.ndarray
    symbol: list[str]
    name: list[str]
    exchange: list[str]
    segment: list[str]
    kind: np.ndarray  # ContractKind values
    uid: np.ndarray  # underlying uid
    expiry: np.ndarray  # datetime64[D], NaT when none
    strike: np.ndarray
    tick: np.ndarray  # tick_size as the dump shows it (0.0 for indices)
    price_tick: np.ndarray  # what prices are rounded to (indices move in 0.05)
    lot: np.ndarray
    last_price: np.ndarray = field(default_factory=lambda: np.zeros(0))
    #: Per row, True for a contract that never trades (far out-of-the-money options; set by the market model).
    dead: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    by_token: dict[int, int] = field(default_factory=dict)
    by_key: dict[str, int] = field(default_factory=dict)
    #: Returns the bytes named by its first argument that its second makes, from wherever the universe's
    #: builds are kept (:mod:`kitekit.sim.market.stored` sets it); by default it just makes them.
    keep: Keeper = field(default=lambda name, make: make(), repr=False, compare=False)
    _csv: dict[str, tuple[bytes, bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_token = {int(t): i for i, t in enumerate(self.token.tolist())}
        self.by_key = {f"{e}:{s}": i for i, (e, s) in enumerate(zip(self.exchange, self.symbol, strict=True))}
        if len(self.by_token) != len(self.token):
            raise AssertionError("duplicate instrument tokens in the simulated universe")
        if not len(self.last_price):
            self.last_price = np.zeros(len(self.token))
        if not len(self.dead):
            self.dead = np.zeros(len(self.token), dtype=bool)

    def __len__(self) -> int:
        return len(self.token)

    def resolve(self, key: str) -> int | None:
        """Return the row of ``EXCHANGE:SYMBOL`` or a bare token string, or None if unknown."""
        if key.isascii() and key.isdigit():  # "²".isdigit() too, but int() refuses it
            return self.by_token.get(int(key))
        return self.by_key.get(key)

    def rows(self, exchange: str | None = None) -> list[Instrument]:
        """Return the dump rows, all or of one exchange."""
        # Columns as Python lists first: a numpy scalar read per field and row cost seconds over 115k rows.
        types = [_TYPE[ContractKind(k)] for k in self.kind.tolist()]
        columns = zip(
            self.token.tolist(),
            self.exchange_token.tolist(),
            self.symbol,
            self.name,
            self.last_price.tolist(),
            self.expiry.astype(object).tolist(),  # datetime.date, None where NaT
            self.strike.tolist(),
            self.tick.tolist(),
            self.lot.tolist(),
            types,
            self.segment,
            self.exchange,
            strict=True,
        )
        return [Instrument(*c) for c in columns if exchange is None or c[11] == exchange]

    def dump(self, exchange: str | None = None) -> tuple[bytes, bytes]:
        """Return the CSV dump and its gzip encoding, built once per exchange and cached."""
        key = exchange or ""
        if key not in self._csv:

            def make() -> bytes:
                return gzip.compress(encode_rows(self.rows(exchange)), compresslevel=6, mtime=0)

            gz = self.keep(f"kite-dump-{key or 'all'}", make)
            self._csv[key] = (gzip.decompress(gz), gz)
        return self._csv[key]


class _Columns:
    def __init__(self) -> None:
        self.cols: dict[str, list[object]] = {
            k: []
            for k in (
                "token",
                "exchange_token",
                "symbol",
                "name",
                "exchange",
                "segment",
                "kind",
                "uid",
                "expiry",
                "strike",
                "tick",
                "price_tick",
                "lot",
            )
        }

    def add(
        self,
        seg: Segment,
        et: int,
        symbol: str,
        name: str,
        exchange: str,
        segment: str,
        kind: ContractKind,
        uid: int,
        expiry: date | None,
        strike: float,
        tick: float,
        lot: int,
        price_tick: float = 0.0,
    ) -> None:
        c = self.cols
        c["token"].append(token_of(et, seg))
        c["exchange_token"].append(et)
        c["symbol"].append(symbol)
        c["name"].append(name)
        c["exchange"].append(exchange)
        c["segment"].append(segment)
        c["kind"].append(int(kind))
        c["uid"].append(uid)
        c["expiry"].append(np.datetime64(expiry, "D") if expiry else np.datetime64("NaT", "D"))
        c["strike"].append(strike)
        c["tick"].append(tick)
        c["price_tick"].append(price_tick or tick)
        c["lot"].append(lot)

    def build(self, as_of: date) -> Universe:
        c = self.cols
        return Universe(
            as_of=as_of,
            token=np.array(c["token"], dtype=np.int64),
            exchange_token=np.array(c["exchange_token"], dtype=np.int64),
            symbol=[str(s) for s in c["symbol"]],
            name=[str(s) for s in c["name"]],
            exchange=[str(s) for s in c["exchange"]],
            segment=[str(s) for s in c["segment"]],
            kind=np.array(c["kind"], dtype=np.int8),
            uid=np.array(c["uid"], dtype=np.int32),
            expiry=np.array(c["expiry"], dtype="datetime64[D]"),
            strike=np.array(c["strike"], dtype=np.float64),
            tick=np.array(c["tick"], dtype=np.float64),
            price_tick=np.array(c["price_tick"], dtype=np.float64),
            lot=np.array(c["lot"], dtype=np.int64),
        )


@dataclass(frozen=True)
class _Venue:
    seg: Segment
    exchange: str
    fut_segment: str
    opt_segment: str


_NFO = _Venue(Segment.NFO, "NFO", "NFO-FUT", "NFO-OPT")
_BFO = _Venue(Segment.BFO, "BFO", "BFO-FUT", "BFO-OPT")
_CDS = _Venue(Segment.CDS, "CDS", "CDS-FUT", "CDS-OPT")
_MCX = _Venue(Segment.MCX, "MCX", "MCX-FUT", "MCX-OPT")


def _expiry_plan(
    u: Underlying, cal: TradingCalendar, as_of: date
) -> tuple[_Venue, list[date], list[tuple[date, bool]]]:
    """Return the venue, future expiries, and option expiries (with a weekly flag) of an underlying."""
    if u.asset is AssetClass.CURRENCY:
        futs = ex.currency_monthlies(cal, as_of, 12)
        monthly = futs[:3]
        weekly = ex.weekly_expiries(cal, as_of, ex.FRIDAY, 4) if u.weekly else []
        return _CDS, futs, _merge(monthly, weekly)
    if u.asset is AssetClass.COMMODITY:
        futs = ex.commodity_monthlies(cal, as_of, u.expiry_day, u.months, 5)
        opts = [cal.previous(cal.previous(f)) for f in futs[:2]] if u.options else []
        return _MCX, futs, [(d, False) for d in opts if d >= as_of]
    bse = u.asset is AssetClass.INDEX and u.bse_token and not u.nse_token
    venue, weekday = (_BFO, ex.THURSDAY) if bse else (_NFO, ex.TUESDAY)
    monthly = ex.monthly_expiries(cal, as_of, weekday, 3)
    weekly = ex.weekly_expiries(cal, as_of, weekday, 4) if u.weekly else []
    return venue, monthly, _merge(monthly, weekly)


def _merge(monthly: list[date], weekly: list[date]) -> list[tuple[date, bool]]:
    # A weekly contract never lists in a week that has a monthly expiry; the monthly takes its place.
    weeks = {d.toordinal() // 7 for d in monthly}
    out = [(d, False) for d in monthly] + [(d, True) for d in weekly if d.toordinal() // 7 not in weeks]
    return sorted(out)


def build_universe(
    underlyings: list[Underlying],
    cal: TradingCalendar,
    as_of: date,
    spot_prev: Callable[[int], float],
) -> Universe:
    """Return every instrument listed on trading day ``as_of``.

    Args:
        underlyings: every price path, as from ``build_underlyings``.
        cal: the trading calendar (expiries move off holidays).
        as_of: the dump's trading day; contracts expiring that day are still listed.
        spot_prev: the underlying's previous close by uid; option strikes are centred on it.
    """
    cols = _Columns()
    for u in underlyings:
        if u.asset is AssetClass.INDEX:
            seg_exchange = "NSE" if u.nse_token else "BSE"
            cols.add(
                Segment.INDICES,
                u.nse_token or u.bse_token,
                u.symbol,
                u.symbol,
                seg_exchange,
                "INDICES",
                ContractKind.INDEX,
                u.uid,
                None,
                0.0,
                0.0,
                0,
                price_tick=0.05,
            )
        elif u.asset is AssetClass.EQUITY:
            if u.nse_token:
                cols.add(
                    Segment.NSE,
                    u.nse_token,
                    u.symbol,
                    u.name,
                    "NSE",
                    "NSE",
                    ContractKind.EQ,
                    u.uid,
                    None,
                    0.0,
                    u.tick,
                    1,
                )
            if u.bse_token:
                cols.add(
                    Segment.BSE,
                    u.bse_token,
                    u.symbol,
                    u.name,
                    "BSE",
                    "BSE",
                    ContractKind.EQ,
                    u.uid,
                    None,
                    0.0,
                    u.tick,
                    1,
                )

    slots: dict[Segment, int] = {}
    for u in underlyings:
        if not u.fno_symbol:
            continue
        venue, fut_expiries, opt_expiries = _expiry_plan(u, cal, as_of)
        step = u.strike_step
        centre = round(spot_prev(u.uid) / step) if step else 0
        opt_tick = 0.0025 if venue is _CDS else (0.05 if u.tick < 0.1 else u.tick / 2 if u.tick >= 1 else u.tick)
        fut_tick = 0.0025 if venue is _CDS else u.tick
        for symbol in (u.fno_symbol, *u.minis):
            idx = slots.get(venue.seg, 0)
            slots[venue.seg] = idx + 1
            base = _DERIV_BASE[venue.seg]

            def et(expiry: date, strike_index: int, kind: int, idx: int = idx, base: int = base) -> int:
                return base + ((idx * 64 + (expiry.toordinal() // 7) % 64) * 256 + strike_index % 256) * 3 + kind

            for expiry in fut_expiries:
                cols.add(
                    venue.seg,
                    et(expiry, 0, 0),
                    _prefix(symbol, expiry, False) + "FUT",
                    symbol,
                    venue.exchange,
                    venue.fut_segment,
                    ContractKind.FUT,
                    u.uid,
                    expiry,
                    0.0,
                    fut_tick,
                    u.lot,
                )
            if symbol != u.fno_symbol or not u.strikes_each_side:
                continue  # mini contracts list futures only
            for expiry, weekly in opt_expiries:
                prefix = _prefix(symbol, expiry, weekly)
                for k in range(centre - u.strikes_each_side, centre + u.strikes_each_side + 1):
                    if k <= 0:
                        continue
                    strike = round(k * step, 4)
                    text = _strike_text(strike)
                    for kind, code in ((ContractKind.CE, 1), (ContractKind.PE, 2)):
                        cols.add(
                            venue.seg,
                            et(expiry, k, code),
                            f"{prefix}{text}{_TYPE[kind]}",
                            symbol,
                            venue.exchange,
                            venue.opt_segment,
                            kind,
                            u.uid,
                            expiry,
                            strike,
                            opt_tick,
                            u.lot,
                        )
    return cols.build(as_of)
