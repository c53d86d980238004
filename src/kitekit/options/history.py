"""Implied-volatility and open-interest history of one option strike, or of the at-the-money, session by session.

Pure numpy on arrays the caller fills from day candles (``kitekit.iv_history`` does it from a candle store):
per session, the closes of the strike's call and put, the forward's close (the same-expiry future) and the time
from that close to expiry give each side's implied volatility; the at-the-money series takes, every session,
the listed strike nearest that session's forward. An IV percentile then ranks today's IV among the sessions
before it. No I/O and no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import numpy as np

from kitekit.options.implied import implied_vol

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["IVHistory", "nearest_strikes", "percentile_rank", "session_ivs"]


def nearest_strikes(forward: np.ndarray, strikes: np.ndarray) -> np.ndarray:
    """Return, for each forward, the strike of ``strikes`` (ascending) nearest it (NaN for a NaN forward)."""
    forward = np.asarray(forward, dtype=np.float64)
    strikes = np.asarray(strikes, dtype=np.float64)
    if not strikes.size:
        return np.full(forward.shape, np.nan)
    at = np.searchsorted(strikes, forward)  # NaN sorts last
    below, above = np.clip(at - 1, 0, strikes.size - 1), np.clip(at, 0, strikes.size - 1)
    pick = np.where(np.abs(strikes[above] - forward) < np.abs(forward - strikes[below]), above, below)
    return np.where(np.isfinite(forward), strikes[pick], np.nan)


def session_ivs(
    call_close: np.ndarray,
    put_close: np.ndarray,
    forward: np.ndarray,
    strike: np.ndarray,
    tau: np.ndarray,
    rate: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (call IV, put IV, the session's IV) from aligned closes; NaN where a close is missing or unusable.

    The session's IV is the mean of the two where both exist (the straddle's, which parity makes insensitive
    to a forward slightly off), else whichever exists.
    """
    n = np.size(forward)
    price = np.concatenate((np.asarray(call_close, dtype=np.float64), np.asarray(put_close, dtype=np.float64)))
    price = np.where(price > 0, price, np.nan)  # no candle, or Kite's 0 for a contract that never traded
    both = [np.concatenate((np.asarray(a, dtype=np.float64),) * 2) for a in (forward, strike, tau)]
    vol = implied_vol(price, both[0], both[1], both[2], rate, np.arange(2 * n) < n).vol
    call_iv, put_iv = vol[:n], vol[n:]
    with np.errstate(invalid="ignore"):
        iv = np.where(np.isnan(call_iv), put_iv, np.where(np.isnan(put_iv), call_iv, 0.5 * (call_iv + put_iv)))
    return call_iv, put_iv, iv


def percentile_rank(history: np.ndarray, value: float) -> float:
    """Return the percentage of the finite values in ``history`` below ``value`` (NaN with none, or no value).

    The usual IV percentile: 62 means IV was lower than today's on 62% of the sessions looked at.
    """
    past = np.asarray(history, dtype=np.float64)
    past = past[np.isfinite(past)]
    if not past.size or not math.isfinite(value):
        return float("nan")
    return float(100.0 * np.count_nonzero(past < value) / past.size)


@dataclass(frozen=True)
class IVHistory:
    """IV and OI of one strike, or of each session's at-the-money strike, one entry per session, oldest first.

    Attributes:
        underlying: what the options are on ("NIFTY").
        expiry: the options' expiry.
        days: the sessions.
        strike: the strike each session's values are for (fixed, or that session's nearest to the forward).
        forward: the forward at each session's close.
        tau: years from each session's close (or now, for today's) to expiry.
        call_close: the call's close (NaN without a candle that session).
        put_close: the put's close.
        call_iv: the call's IV (NaN without a price, or one outside the no-arbitrage bounds).
        put_iv: the put's IV.
        iv: the session's IV: the mean of the two sides where both exist, else the one that does.
        call_oi: the call's open interest at the close.
        put_oi: the put's.
        atm: True when the strike follows the forward (the at-the-money series).
    """

    underlying: str
    expiry: date
    days: list[date]
    strike: np.ndarray
    forward: np.ndarray
    tau: np.ndarray
    call_close: np.ndarray
    put_close: np.ndarray
    call_iv: np.ndarray
    put_iv: np.ndarray
    iv: np.ndarray
    call_oi: np.ndarray
    put_oi: np.ndarray
    atm: bool

    @property
    def sessions(self) -> int:
        """Return how many sessions have an IV."""
        return int(np.count_nonzero(np.isfinite(self.iv)))

    def percentile(self, value: float | None = None) -> float:
        """Return the percentage of sessions whose IV was below ``value``.

        Args:
            value: an IV to rank against every session (0.14 for 14%, e.g. the live chain's); None to rank the
                last session's IV against the sessions before it.
        """
        past, current = self._against(value)
        return percentile_rank(past, current)

    def rank(self, value: float | None = None) -> float:
        """Return where ``value`` lies from the sessions' lowest IV (0) to their highest (100); None as above."""
        past, current = self._against(value)
        past = past[np.isfinite(past)]
        if not math.isfinite(current) or past.size < 2 or past.max() == past.min():
            return float("nan")
        return float(100.0 * (current - past.min()) / (past.max() - past.min()))

    def _against(self, value: float | None) -> tuple[np.ndarray, float]:
        if value is not None:
            return self.iv, value
        if not self.iv.size:
            return self.iv, float("nan")
        return self.iv[:-1], float(self.iv[-1])

    def frame(self) -> pd.DataFrame:
        """Return the series as a DataFrame indexed by session: strike, forward, closes, IVs and OI."""
        import pandas as pd  # only tables need it

        columns = ("strike", "forward", "call_close", "put_close", "call_iv", "put_iv", "iv", "call_oi", "put_oi")
        return pd.DataFrame({name: getattr(self, name) for name in columns}, index=pd.Index(self.days, name="date"))
