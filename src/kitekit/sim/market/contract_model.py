"""How every listed contract follows its underlying: price, day volume, open interest and circuit band.

Quotes and candles both call this one model, so a contract's values agree wherever they are read.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np

from kitekit.sim.market.pricing import SECONDS_PER_YEAR, black76, futures_price, smile_vol
from kitekit.sim.market.rng import hash_uniform
from kitekit.sim.market.timeline import LAST_SECOND
from kitekit.sim.market.underlyings import Underlying
from kitekit.sim.market.universe import ContractKind, Universe

__all__ = ["ContractModel", "round_tick"]

# Hash tags keep the random streams of different quantities apart. Their values feed every price and
# volume the simulator has ever served, so they never change (some are reserved and unused).
_T_VBASE, _T_VDAY, _T_VDAY2, _T_LASTQ, _T_BOOK, _T_OI, _T_OIDRIFT, _T_BAND, _T_LTT = range(11, 20)


def round_tick(values: np.ndarray, tick: np.ndarray) -> np.ndarray:
    """Return ``values`` rounded to their tick sizes (0.05 where a tick is missing)."""
    safe = np.where(tick > 0, tick, 0.05)
    return np.round(np.round(values / safe) * safe, 4)


def _box_muller(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


class ContractModel:
    """Values of universe rows derived from their underlyings' prices; arrays in, arrays out; thread-safe."""

    def __init__(self, seed: int, underlyings: list[Underlying]) -> None:
        self.seed = seed
        self._carry = np.array([u.carry for u in underlyings])
        # Options imply 1.1x the volatility their underlying realises, as implied vols usually sit above it.
        self._iv = np.array([u.vol for u in underlyings]) * 1.1

    def tau(self, uni: Universe, rows: np.ndarray, when: datetime | np.ndarray) -> np.ndarray:
        """Return years to expiry of ``rows`` at ``when`` (a datetime or epoch seconds); 0 without expiry."""
        exp = uni.expiry[rows]
        # Contracts expire at the 15:30 close of their expiry day.
        close_s = (exp.astype("datetime64[s]") + np.timedelta64(15 * 3600 + 30 * 60 - 19800, "s")).astype(np.int64)
        now_s = np.asarray(when.timestamp() if isinstance(when, datetime) else when, dtype=np.float64)
        tau = (close_s - now_s) / SECONDS_PER_YEAR
        return np.where(np.isnat(exp), 0.0, np.maximum(tau, 0.0))

    def price(self, uni: Universe, rows: np.ndarray, spot: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """Return the unrounded prices of ``rows`` for underlying prices ``spot`` and times to expiry ``tau``."""
        kind = uni.kind[rows]
        uid = uni.uid[rows]
        fwd = futures_price(spot, self._carry[uid], tau)
        strike = np.where(uni.strike[rows] > 0, uni.strike[rows], 1.0)
        opt = black76(fwd, strike, tau, smile_vol(self._iv[uid], fwd, strike), kind == ContractKind.CE)
        out = np.where(kind == ContractKind.FUT, fwd, spot)
        is_opt = (kind == ContractKind.CE) | (kind == ContractKind.PE)
        # Options never trade below one tick.
        return np.where(is_opt, np.maximum(opt, uni.price_tick[rows]), out)

    def day_volume(
        self,
        uni: Universe,
        rows: np.ndarray,
        tokens: np.ndarray,
        n: int | np.ndarray,
        day64: np.ndarray | np.datetime64,
        s_prev: np.ndarray,
    ) -> np.ndarray:
        """Return each instrument's total volume for session ``n`` on ``day64`` (units, not lots)."""
        kind = uni.kind[rows]
        lot = np.maximum(uni.lot[rows], 1)
        u_base = hash_uniform(self.seed, tokens, _T_VBASE)
        z = _box_muller(hash_uniform(self.seed, tokens, n, _T_VDAY), hash_uniform(self.seed, tokens, n, _T_VDAY2))
        noise = np.exp(0.35 * z)
        shares = 10 ** (7.0 + 3.0 * u_base) / np.maximum(s_prev, 1.0)
        shares = np.where(uni.exchange_token[rows] >= 500000, shares * 0.08, shares)  # BSE trades far less
        days_left = (uni.expiry[rows] - day64).astype(np.float64)
        days_left = np.nan_to_num(days_left, nan=0.0).clip(0, None)
        lots = 10 ** (2.5 + 2.0 * u_base)
        fut_lots = lots * np.exp(-days_left / 25.0)
        strike = uni.strike[rows]
        money = np.abs(np.log(np.where(strike > 0, strike, 1.0) / s_prev))
        opt_lots = lots * np.exp(-money / 0.03) * np.exp(-days_left / 20.0) * 3.0
        out = np.select(
            [
                kind == ContractKind.EQ,
                kind == ContractKind.FUT,
                (kind == ContractKind.CE) | (kind == ContractKind.PE),
            ],
            [shares, fut_lots * lot, opt_lots * lot],
            default=0.0,
        )
        return out * noise

    def open_interest(
        self,
        kind: np.ndarray,
        tokens: np.ndarray,
        lot: np.ndarray,
        v_day: np.ndarray,
        n: int | np.ndarray,
        s: int | np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (oi, day high, day low) at second ``s`` of session ``n``; zero for all but derivatives."""
        deriv = (kind == ContractKind.FUT) | (kind == ContractKind.CE) | (kind == ContractKind.PE)
        h = hash_uniform(self.seed, tokens, n, np.array([_T_OI, _T_OIDRIFT])[:, None])
        oi_open = np.floor(v_day * 1.5 * (0.6 + 0.8 * h[0]) / lot) * lot
        oi_now = np.floor(oi_open * (1.0 + 0.08 * (2 * h[1] - 1) * s / LAST_SECOND) / lot) * lot
        oi_open, oi_now = (np.where(deriv, a, 0).astype(np.int64) for a in (oi_open, oi_now))
        return oi_now, np.maximum(oi_open, oi_now), np.minimum(oi_open, oi_now)

    def circuits(
        self, kind: np.ndarray, tokens: np.ndarray, prev: np.ndarray, s_prev: np.ndarray, tick: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (lower, upper) circuit limits around the previous close ``prev``; zero for indices."""
        h = hash_uniform(self.seed, tokens, _T_BAND)
        # Stocks get a 20%, 10% or 5% band, futures 10%; options are bounded by the underlying's move.
        band = np.where(h < 0.7, 0.2, np.where(h < 0.9, 0.1, 0.05))
        band = np.where(kind == ContractKind.FUT, 0.1, band)
        lower = round_tick(prev * (1 - band), tick)
        upper = round_tick(prev * (1 + band), tick)
        is_opt = (kind == ContractKind.CE) | (kind == ContractKind.PE)
        lower = np.where(is_opt, tick, lower)
        upper = np.where(is_opt, round_tick(prev + s_prev * 0.1, tick), upper)
        is_index = kind == ContractKind.INDEX
        return np.where(is_index, 0.0, lower), np.where(is_index, 0.0, upper)
