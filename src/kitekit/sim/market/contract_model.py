"""How every listed contract follows its underlying: price, day volume, open interest and circuit band.

Quotes and candles both call this one model, so a contract's values agree wherever they are read.

Options trade most at the money and at round strikes, less the further out of the money they are in standard
deviations of the move left to expiry; a strike that was far out of the money before its expiry's contracts
were listed (:func:`never_traded`) never trades at all, as on the exchange, where such strikes show no last
price. Open interest carries over from one session to the next: each session's OI runs from the previous
close's level to its own close's, with the day's volume, so the change in OI against the previous close (and
the build-up it signals with the price) is a real day's change.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

import numpy as np

from kitekit.sim.market.pricing import SECONDS_PER_YEAR, black76, futures_price, smile_vol
from kitekit.sim.market.rng import hash_uniform
from kitekit.sim.market.underlyings import Underlying
from kitekit.sim.market.universe import ContractKind, Universe

__all__ = ["NEVER_TRADED_BAND", "REFERENCE_DAYS", "ContractModel", "never_traded", "round_tick"]

# Hash tags keep the random streams of different quantities apart. Their values feed every price and
# volume the simulator has ever served, so they never change (some are reserved and unused).
_T_VBASE, _T_VDAY, _T_VDAY2, _T_LASTQ, _T_BOOK, _T_OI, _T_OIDRIFT, _T_BAND, _T_LTT = range(11, 20)
_T_OPT_LOTS, _T_OI_WAVE, _T_VOL_WAVE = 20, 21, 22

#: An option strike further than this many standard deviations (of the underlying's implied move over the
#: expiry's listing horizon) from the underlying's close that long before expiry never trades.
NEVER_TRADED_BAND = 2.0
#: The listing horizons (calendar days) of a weekly and a monthly expiry: longer than the exchange lists each
#: ahead (four weeklies, three monthlies), so the reference close precedes the listing and is never ahead.
REFERENCE_DAYS = (35, 100)
_UNIX_DAY0 = date(1970, 1, 1).toordinal()
#: Open interest is about this many days of an option's typical volume (at the money).
_OI_DAYS = 2.0
#: The slow waves (period in sessions, weight) that move each contract's OI from day to day.
_WAVES = ((7.0, 1.0), (17.0, 0.7), (37.0, 0.5))
#: The waves (period in calendar days, weight) of each underlying's implied vol level.
_VOL_WAVES = ((19.0, 1.0), (47.0, 0.7), (113.0, 0.5))


def round_tick(values: np.ndarray, tick: np.ndarray) -> np.ndarray:
    """Return ``values`` rounded to their tick sizes (0.05 where a tick is missing)."""
    safe = np.where(tick > 0, tick, 0.05)
    return np.round(np.round(values / safe) * safe, 4)


def _expiry_seconds(expiry: np.ndarray) -> np.ndarray:
    """Return the epoch seconds of the 15:30 IST close of each expiry day (contracts expire then)."""
    return (expiry.astype("datetime64[s]") + np.timedelta64(15 * 3600 + 30 * 60 - 19800, "s")).astype(np.int64)


def _box_muller(u1: np.ndarray, u2: np.ndarray) -> np.ndarray:
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)


def _is_option(kind: np.ndarray) -> np.ndarray:
    return (kind == ContractKind.CE) | (kind == ContractKind.PE)


def never_traded(uni: Universe, implied: np.ndarray, reference: Callable[[int, date], float]) -> np.ndarray:
    """Return, per row of ``uni``, whether the contract never trades: far out-of-the-money options.

    Args:
        uni: the universe.
        implied: the at-the-money implied vol of each underlying, by uid.
        reference: the underlying's close on the last session on or before a day, by (uid, day).

    A static rule, so that a contract gets the same answer every day it is listed, and one that never looks
    ahead: the strike lies more than :data:`NEVER_TRADED_BAND` standard deviations of the underlying's implied
    move over the expiry's listing horizon (:data:`REFERENCE_DAYS`: 35 days for a weekly, 100 for a monthly,
    each longer than the exchange lists it ahead) from the underlying's close that long before the expiry.
    """
    out = np.zeros(len(uni), dtype=bool)
    rows = np.flatnonzero(_is_option(uni.kind))
    if not rows.size:
        return out
    keys = np.stack([uni.uid[rows], uni.expiry[rows].astype(np.int64)])
    pairs, which = np.unique(keys, axis=1, return_inverse=True)
    # A monthly is the last expiry of its month among its underlying's (the exchange lists every monthly
    # before its month's weeklies, and no weekly in the monthly's week).
    months = pairs[1].astype("datetime64[D]").astype("datetime64[M]")
    monthly = np.ones(pairs.shape[1], dtype=bool)
    for i in range(pairs.shape[1] - 1):
        same = (pairs[0, i] == pairs[0, i + 1]) & (months[i] == months[i + 1])
        monthly[i] = not same  # pairs are sorted by (uid, expiry)
    horizon = np.where(monthly, REFERENCE_DAYS[1], REFERENCE_DAYS[0])
    spot = np.array(
        [
            reference(int(uid), date.fromordinal(int(day) + _UNIX_DAY0) - timedelta(days=int(back)))
            for (uid, day), back in zip(pairs.T.tolist(), horizon.tolist(), strict=True)
        ]
    )
    band = NEVER_TRADED_BAND * implied[pairs[0]] * np.sqrt(horizon / 365.0)
    which = which.ravel()
    out[rows] = np.abs(np.log(uni.strike[rows] / spot[which])) > band[which]
    return out


class ContractModel:
    """Values of universe rows derived from their underlyings' prices; arrays in, arrays out; thread-safe."""

    def __init__(self, seed: int, underlyings: list[Underlying]) -> None:
        self.seed = seed
        self._carry = np.array([u.carry for u in underlyings])
        # Options imply 1.1x the volatility their underlying realises, as implied vols usually sit above it.
        self._iv = np.array([u.vol for u in underlyings]) * 1.1
        self._step = np.array([u.strike_step for u in underlyings])
        uids = np.arange(len(underlyings))
        self._vol_phase = 2.0 * np.pi * hash_uniform(seed, uids, _T_VOL_WAVE, np.arange(3)[:, None])

    @property
    def implied(self) -> np.ndarray:
        """Return each underlying's at-the-money implied vol, by uid."""
        return self._iv

    def tau(self, uni: Universe, rows: np.ndarray, when: datetime | np.ndarray) -> np.ndarray:
        """Return years to expiry of ``rows`` at ``when`` (a datetime or epoch seconds); 0 without expiry."""
        exp = uni.expiry[rows]
        now_s = np.asarray(when.timestamp() if isinstance(when, datetime) else when, dtype=np.float64)
        tau = (_expiry_seconds(exp) - now_s) / SECONDS_PER_YEAR
        return np.where(np.isnat(exp), 0.0, np.maximum(tau, 0.0))

    def atm_vol(self, uid: np.ndarray | int, when: np.ndarray | float) -> np.ndarray:
        """Return the at-the-money implied vol of underlyings ``uid`` at epoch seconds ``when``.

        It drifts slowly about the underlying's level (1.1 times its realised vol), between about 0.65 and 1.5
        times it, with three waves of 19, 47 and 113 days: enough for an IV percentile to mean something.
        """
        phase = self._vol_phase[:, uid]
        days = np.asarray(when, dtype=np.float64) / 86400.0
        wave = sum(w * np.sin(2.0 * np.pi * days / p + phase[i]) for i, (p, w) in enumerate(_VOL_WAVES))
        return np.asarray(self._iv[uid] * np.exp(0.2 * wave))

    def price(self, uni: Universe, rows: np.ndarray, spot: np.ndarray, tau: np.ndarray) -> np.ndarray:
        """Return the unrounded prices of ``rows`` for underlying prices ``spot`` and times to expiry ``tau``."""
        kind = uni.kind[rows]
        uid = uni.uid[rows]
        fwd = futures_price(spot, self._carry[uid], tau)
        out = np.where(kind == ContractKind.FUT, fwd, spot)
        option = _is_option(kind)
        if not option.any():  # the commonest quote: a share or an index, nothing to price
            return np.asarray(out)
        strike = np.where(uni.strike[rows] > 0, uni.strike[rows], 1.0)
        # The moment priced is the expiry less the time left: the vol level of that moment.
        when = _expiry_seconds(uni.expiry[rows]) - tau * SECONDS_PER_YEAR
        vol = smile_vol(self.atm_vol(uid, when), fwd, strike, tau)
        opt = black76(fwd, strike, tau, vol, kind == ContractKind.CE)
        # Options never trade below one tick.
        return np.where(option, np.maximum(opt, uni.price_tick[rows]), out)

    def _typical_volume(
        self,
        uni: Universe,
        rows: np.ndarray,
        tokens: np.ndarray,
        day64: np.ndarray | np.datetime64,
        s_prev: np.ndarray,
        held: bool = False,
    ) -> np.ndarray:
        """Return each instrument's usual day volume (units) on ``day64``, before the day's own noise.

        With ``held``, the spread of the open positions instead: an option's OI was built over its last couple
        of weeks of trading, so it spreads over more strikes than a day's volume and moves less with the spot.
        """
        kind = uni.kind[rows]
        uid = uni.uid[rows]
        lot = np.maximum(uni.lot[rows], 1)
        u_base = hash_uniform(self.seed, tokens, _T_VBASE)
        shares = 10 ** (7.0 + 3.0 * u_base) / np.maximum(s_prev, 1.0)
        shares = np.where(uni.exchange_token[rows] >= 500000, shares * 0.08, shares)  # BSE trades far less
        days_left = (uni.expiry[rows] - day64).astype(np.float64)
        days_left = np.nan_to_num(days_left, nan=0.0).clip(0, None)
        fut_lots = 10 ** (2.5 + 2.0 * u_base) * np.exp(-days_left / 25.0)
        # Options: one level per underlying, most at the money and at round strikes, falling with the distance
        # in standard deviations of the move left (so a weekly's wings thin out faster than a monthly's).
        strike = np.where(uni.strike[rows] > 0, uni.strike[rows], 1.0)
        log_m = np.log(strike / np.maximum(s_prev, 1e-9))
        sd = self._iv[uid] * np.sqrt((days_left + (10.0 if held else 1.0)) / 365.0)
        # Out of the money the volume falls off slower than in it: OTM options are what most traders buy.
        otm = np.where(kind == ContractKind.CE, log_m > 0, log_m < 0)
        z = np.abs(log_m) / sd * np.where(otm, 1.0, 1.6)
        step = np.where(self._step[uid] > 0, self._step[uid], 1.0)
        index = np.round(strike / step)
        round_strike = 1.0 + 2.0 * (index % 10 == 0) + 0.5 * (index % 2 == 0)
        level = 10 ** (3.0 + 1.5 * hash_uniform(self.seed, uid, _T_OPT_LOTS))
        opt_lots = level * round_strike * np.exp(-(0.75 if held else 1.5) * z) * np.exp(-days_left / 30.0)
        return np.select(
            [kind == ContractKind.EQ, kind == ContractKind.FUT, _is_option(kind)],
            [shares, fut_lots * lot, opt_lots * lot],
            default=0.0,
        )

    def day_volume(
        self,
        uni: Universe,
        rows: np.ndarray,
        tokens: np.ndarray,
        n: int | np.ndarray,
        day64: np.ndarray | np.datetime64,
        s_prev: np.ndarray,
    ) -> np.ndarray:
        """Return each instrument's total volume for session ``n`` on ``day64`` (units, not lots).

        A live option trades at least a lot a day (so its last price is always that day's); one that never
        trades, none.
        """
        z = _box_muller(hash_uniform(self.seed, tokens, n, _T_VDAY), hash_uniform(self.seed, tokens, n, _T_VDAY2))
        out = self._typical_volume(uni, rows, tokens, day64, s_prev) * np.exp(0.35 * z)
        lot = np.maximum(uni.lot[rows], 1)
        option = _is_option(uni.kind[rows])
        out = np.where(option, np.maximum(out, lot), out)
        return np.where(uni.dead[rows], 0.0, out)

    def traded_volume(self, uni: Universe, rows: np.ndarray, v_day: np.ndarray, share: np.ndarray) -> np.ndarray:
        """Return the volume traded once ``share`` of the day's volume ``v_day`` has: whole lots.

        A live option's first lot trades at the open, so a contract with a last price always has volume.
        """
        lot = np.maximum(uni.lot[rows], 1)
        volume = np.floor(v_day * share / lot) * lot
        live = _is_option(uni.kind[rows]) & ~uni.dead[rows]
        return np.where(live, np.maximum(volume, lot), volume).astype(np.int64)

    def _oi_at_close(
        self,
        uni: Universe,
        rows: np.ndarray,
        tokens: np.ndarray,
        n: int | np.ndarray,
        day64: np.ndarray | np.datetime64,
        s_prev: np.ndarray,
    ) -> np.ndarray:
        """Return the open interest (units) at the close of session ``n``: a few days' usual volume, waving."""
        phase = 2.0 * np.pi * hash_uniform(self.seed, tokens, _T_OI_WAVE, np.arange(3)[:, None])
        nn = np.asarray(n, dtype=np.float64)
        wave = sum(w * np.sin(2.0 * np.pi * nn / p + phase[i]) for i, (p, w) in enumerate(_WAVES))
        days = np.where(uni.kind[rows] == ContractKind.FUT, 1.5, _OI_DAYS)
        return self._typical_volume(uni, rows, tokens, day64, s_prev, held=True) * days * np.exp(0.15 * wave)

    def open_interest(
        self,
        uni: Universe,
        rows: np.ndarray,
        n: int | np.ndarray,
        share: np.ndarray,
        days: tuple[np.ndarray | np.datetime64, np.ndarray | np.datetime64],
        closes: tuple[np.ndarray, np.ndarray],
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Return (oi, day high, day low) when ``share`` of session ``n``'s volume has traded.

        Args:
            uni: the universe.
            rows: its rows.
            n: the session's ordinal.
            share: the share of the day's volume traded so far (0 at the open, 1 at the close).
            days: (the session's day, the previous session's day), as datetime64[D].
            closes: the underlying's (previous close, the close before it): the first sets today's OI
                profile, the second yesterday's, which is today's opening OI.

        Zero for all but futures and options, and for options that never trade. The day's OI moves from the
        previous close's value toward today's close's as the volume trades, so the day's high and low are
        its ends.
        """
        kind = uni.kind[rows]
        tokens = uni.token[rows]
        lot = np.maximum(uni.lot[rows], 1)
        deriv = ((kind == ContractKind.FUT) | _is_option(kind)) & ~uni.dead[rows]
        close = self._oi_at_close(uni, rows, tokens, n, days[0], closes[0])
        opening = self._oi_at_close(uni, rows, tokens, np.asarray(n) - 1, days[1], closes[1])
        now = opening + (close - opening) * share
        opening, now = (np.where(deriv, np.floor(a / lot) * lot, 0).astype(np.int64) for a in (opening, now))
        return now, np.maximum(opening, now), np.minimum(opening, now)

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
