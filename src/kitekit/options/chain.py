"""Option chain analytics on one snapshot of quotes: per strike IV, greeks and OI build-up; PCR, max pain, ATM IV.

Pure numpy on arrays the caller fills from quotes (``kitekit.chain`` does it from Kite's ``GET /quote``); no I/O,
no clock: the time to expiry is given. A table (pandas) is built only when asked for, by :meth:`ChainAnalytics.frame`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

import numpy as np

from kitekit.options.implied import REASONS, NoIV, implied_greeks

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "BuildUp",
    "ChainAnalytics",
    "ChainSide",
    "analyse_chain",
    "build_up",
    "max_pain",
    "parity_forward",
    "pcr",
]


class BuildUp(StrEnum):
    """What a change in price and open interest together say about positions (NSE's usual four names)."""

    LONG_BUILD_UP = "long build-up"  # price up, OI up: new buyers
    SHORT_BUILD_UP = "short build-up"  # price down, OI up: new writers
    SHORT_COVERING = "short covering"  # price up, OI down: writers buying back
    LONG_UNWINDING = "long unwinding"  # price down, OI down: buyers selling out
    NONE = ""  # no change in one of them, or one is unknown


@dataclass(frozen=True)
class ChainSide:
    """One side (calls or puts) of a chain: arrays aligned with the strikes, NaN where a value is unknown.

    Attributes:
        ltp: last traded price (NaN for a contract that has not traded, or a strike without this side).
        bid: best bid (NaN when none).
        ask: best ask (NaN when none).
        volume: the day's traded volume.
        oi: open interest now.
        prev_oi: open interest at the previous session's close (NaN when not known).
        prev_close: the previous session's closing price (NaN when not known).
        token: instrument tokens (-1 for a strike without this side).
    """

    ltp: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    volume: np.ndarray
    oi: np.ndarray
    prev_oi: np.ndarray
    prev_close: np.ndarray
    token: np.ndarray

    @classmethod
    def empty(cls, n: int) -> ChainSide:
        """Return a side of ``n`` strikes with nothing known."""
        nan = np.full(n, np.nan)
        return cls(nan, nan, nan, nan, nan, nan, nan, np.full(n, -1, dtype=np.int64))


def build_up(price_change: np.ndarray, oi_change: np.ndarray) -> np.ndarray:
    """Return the :class:`BuildUp` tag (as its string) of each pair of price and OI changes."""
    up, down = price_change > 0, price_change < 0
    more, less = oi_change > 0, oi_change < 0
    return np.select(
        [up & more, down & more, up & less, down & less],
        [BuildUp.LONG_BUILD_UP.value, BuildUp.SHORT_BUILD_UP.value, BuildUp.SHORT_COVERING.value,
         BuildUp.LONG_UNWINDING.value],
        default=BuildUp.NONE.value,
    ).astype(object)  # fmt: skip


def pcr(put_total: float, call_total: float) -> float:
    """Return the put-call ratio ``put_total / call_total`` (NaN when there are no calls)."""
    return put_total / call_total if call_total > 0 else float("nan")


def max_pain(strikes: np.ndarray, call_oi: np.ndarray, put_oi: np.ndarray) -> float:
    """Return the strike at which option buyers, all together, would be paid least at expiry (NaN without OI).

    At settlement price S calls pay OI * max(S - K, 0) and puts OI * max(K - S, 0); the candidates are the strikes.
    """
    c, p = np.nan_to_num(call_oi), np.nan_to_num(put_oi)
    if not len(strikes) or (c.sum() + p.sum()) <= 0:
        return float("nan")
    settle = strikes[:, None]
    paid = (np.maximum(settle - strikes[None, :], 0.0) * c[None, :]).sum(axis=1)
    paid += (np.maximum(strikes[None, :] - settle, 0.0) * p[None, :]).sum(axis=1)
    return float(strikes[int(np.argmin(paid))])


def mid_or_last(side: ChainSide) -> np.ndarray:
    """Return the mid of bid and ask where both are there, else the last price."""
    both = (side.bid > 0) & (side.ask > 0)
    return np.where(both, 0.5 * (side.bid + side.ask), side.ltp)


def parity_forward(
    strikes: np.ndarray, calls: ChainSide, puts: ChainSide, tau: float, rate: float, guess: float, around: int = 3
) -> float:
    """Return the forward implied by put-call parity, F = K + e^(r tau) (C - P), near the money.

    The median over the ``around`` strikes nearest ``guess`` (e.g. the spot) where both sides have a price, from
    the mid of bid and ask when both are quoted, else the last price. NaN when no strike has both.
    """
    c, p = mid_or_last(calls), mid_or_last(puts)
    ok = np.isfinite(c) & np.isfinite(p) & (c > 0) & (p > 0)
    if not ok.any():
        return float("nan")
    k, diff = strikes[ok], (c - p)[ok]
    nearest = np.argsort(np.abs(k - guess), kind="stable")[:around]
    return float(np.median(k[nearest] + np.exp(rate * tau) * diff[nearest]))


@dataclass(frozen=True)
class ChainAnalytics:
    """The analysed chain: per strike and side columns, and the chain's summary figures.

    Attributes:
        underlying: what the chain is on ("NIFTY").
        expiry: the options' expiry day.
        now: the moment of the snapshot.
        tau: years to expiry (0 once expired at 15:30 IST on the expiry day).
        rate: the risk-free rate used.
        forward: the forward price the options were valued on.
        forward_source: where it came from: "future", "parity", "future carried", "spot carried" or "".
        strikes: the strikes, ascending.
        columns: per strike: ``ce_*`` and ``pe_*`` arrays (ltp, bid, ask, volume, oi, oi_change, change, iv,
            iv_reason, delta, gamma, theta, vega, rho, buildup, token).
        pcr_oi: total put OI / total call OI.
        pcr_volume: total put volume / total call volume.
        max_pain: the max-pain strike.
        atm_strike: the strike nearest the forward.
        atm_iv: the implied volatility at the forward, from the out-of-the-money smile.
        lot_size: the contracts' lot size (0 when unknown).
    """

    underlying: str
    expiry: date
    now: datetime
    tau: float
    rate: float
    forward: float
    forward_source: str
    strikes: np.ndarray
    columns: dict[str, np.ndarray] = field(repr=False)
    pcr_oi: float
    pcr_volume: float
    max_pain: float
    atm_strike: float
    atm_iv: float
    lot_size: int = 0

    @property
    def expired(self) -> bool:
        """Return True once the options have expired (15:30 IST on the expiry day)."""
        return self.tau <= 0

    def smile(self) -> tuple[np.ndarray, np.ndarray]:
        """Return (strikes, IV) of the out-of-the-money options (puts below the forward, calls above), NaN dropped."""
        iv = np.where(self.strikes < self.forward, self.columns["pe_iv"], self.columns["ce_iv"])
        ok = np.isfinite(iv)
        return self.strikes[ok], iv[ok]

    def frame(self) -> pd.DataFrame:
        """Return the chain as a DataFrame: one row per strike, ``strike`` then the ``ce_*`` and ``pe_*`` columns."""
        import pandas as pd  # only tables need it, and it costs ~0.3 s to import

        return pd.DataFrame({"strike": self.strikes, **self.columns})

    def why_no_iv(self, side: str, index: int) -> str:
        """Return why strike ``index`` of ``side`` ("ce" or "pe") has no IV ("" when it has one)."""
        return REASONS[NoIV(int(self.columns[f"{side}_iv_reason"][index]))]


def analyse_chain(
    underlying: str,
    expiry: date,
    now: datetime,
    tau: float,
    strikes: np.ndarray,
    calls: ChainSide,
    puts: ChainSide,
    forward: float,
    forward_source: str,
    rate: float,
    lot_size: int = 0,
) -> ChainAnalytics:
    """Return IV, greeks, OI changes and build-up per strike, and PCR, max pain and ATM IV for the chain.

    Args:
        underlying: a label for the chain.
        expiry: the options' expiry day.
        now: the snapshot's moment.
        tau: years to expiry (see :func:`kitekit.options.years_to_expiry`).
        strikes: ascending strikes.
        calls: the call side.
        puts: the put side.
        forward: the forward price for the expiry (see :func:`parity_forward`).
        forward_source: where ``forward`` came from, for display.
        rate: the risk-free rate.
        lot_size: the contracts' lot size, for display.
    """
    strikes = np.asarray(strikes, dtype=np.float64)
    n = strikes.size
    prices = np.concatenate((calls.ltp, puts.ltp))
    prices = np.where(prices > 0, prices, np.nan)  # Kite quotes 0 for a contract that never traded
    k2 = np.concatenate((strikes, strikes))
    is_call = np.arange(2 * n) < n
    iv, g = implied_greeks(prices, forward, k2, tau, rate, is_call)
    columns: dict[str, np.ndarray] = {}
    for name, side, part in (("ce", calls, slice(0, n)), ("pe", puts, slice(n, 2 * n))):
        oi_change = side.oi - side.prev_oi
        change = np.where(side.ltp > 0, side.ltp - side.prev_close, np.nan)
        columns.update(
            {
                f"{name}_token": side.token,
                f"{name}_ltp": side.ltp,
                f"{name}_change": change,
                f"{name}_bid": side.bid,
                f"{name}_ask": side.ask,
                f"{name}_volume": side.volume,
                f"{name}_oi": side.oi,
                f"{name}_oi_change": oi_change,
                f"{name}_buildup": build_up(change, oi_change),
                f"{name}_iv": iv.vol[part],
                f"{name}_iv_reason": iv.reason[part],
                f"{name}_delta": g.delta[part],
                f"{name}_gamma": g.gamma[part],
                f"{name}_theta": g.theta[part],
                f"{name}_vega": g.vega[part],
                f"{name}_rho": g.rho[part],
            }
        )
    known = bool(n) and bool(np.isfinite(forward))
    atm = float(strikes[int(np.argmin(np.abs(strikes - forward)))]) if known else float("nan")
    smile = np.where(strikes < forward, columns["pe_iv"], columns["ce_iv"])
    ok = np.isfinite(smile)
    # Linear in strike between the two out-of-the-money IVs around the forward (the end one beyond them).
    atm_iv = float(np.interp(forward, strikes[ok], smile[ok])) if known and ok.any() else float("nan")
    return ChainAnalytics(
        underlying=underlying,
        expiry=expiry,
        now=now,
        tau=tau,
        rate=rate,
        forward=forward,
        forward_source=forward_source,
        strikes=strikes,
        columns=columns,
        pcr_oi=pcr(float(np.nansum(puts.oi)), float(np.nansum(calls.oi))),
        pcr_volume=pcr(float(np.nansum(puts.volume)), float(np.nansum(calls.volume))),
        max_pain=max_pain(strikes, calls.oi, puts.oi),
        atm_strike=atm,
        atm_iv=atm_iv,
        lot_size=lot_size,
    )
