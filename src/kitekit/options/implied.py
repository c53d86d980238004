"""Implied volatility of Black-76 prices: a bracketed, vectorised solver that never leaves a valid price without one.

The price is turned into the normalised price of the out-of-the-money option (an in-the-money price loses its
intrinsic value by put-call parity), then s = vol * sqrt(tau) is found by third-order Householder steps on an
objective that is nearly linear where the price lies, after P. Jäckel ("By Implication", Wilmott 2006; "Let's
Be Rational", 2013): 1/ln(b) below the inflection point s_c = sqrt(2|x|), ln(b_max - b) above it. Each element
keeps a bracket from the signs seen so far, and a step that leaves it bisects instead, so every price strictly
inside the no-arbitrage bounds gets a finite volatility; a price outside them gets NaN and a :class:`NoIV` reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from kitekit.options.black76 import ArrayLike
from kitekit.options.normal import norm_cdf

__all__ = ["REASONS", "ImpliedVol", "NoIV", "implied_vol"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
#: A Householder step this small (relative) leaves an error far below double precision after it is taken.
_CONVERGED = 1e-5
_MAX_STEPS = 40


class NoIV(IntEnum):
    """Why an implied volatility is NaN (``OK`` when it is not)."""

    OK = 0
    BELOW_INTRINSIC = 1
    ABOVE_MAXIMUM = 2
    EXPIRED = 3
    BAD_INPUT = 4
    NO_PRICE = 5


#: What each reason means, for messages and tables.
REASONS: dict[NoIV, str] = {
    NoIV.OK: "",
    NoIV.BELOW_INTRINSIC: "price below intrinsic value (no volatility gives it)",
    NoIV.ABOVE_MAXIMUM: "price at or above its no-arbitrage maximum (discounted forward for a call, strike for a put)",
    NoIV.EXPIRED: "expired: no time left to expiry",
    NoIV.BAD_INPUT: "a negative price, or a missing or non-positive forward or strike",
    NoIV.NO_PRICE: "no price (never traded)",
}


@dataclass(frozen=True)
class ImpliedVol:
    """Implied volatilities and, where one is NaN, why.

    Attributes:
        vol: yearly implied volatilities (0.15 for 15%), NaN where there is none.
        reason: a :class:`NoIV` code per element (``NoIV.OK`` where ``vol`` is a number).
        steps: how many solver steps the slowest element took.
    """

    vol: np.ndarray
    reason: np.ndarray
    steps: int

    def why(self, index: int | tuple[int, ...]) -> str:
        """Return why element ``index`` has no volatility ("" when it has one)."""
        return REASONS[NoIV(int(self.reason[index]))]


def implied_vol(
    price: ArrayLike, forward: ArrayLike, strike: ArrayLike, tau: ArrayLike, rate: ArrayLike, is_call: ArrayLike
) -> ImpliedVol:
    """Return the Black-76 volatilities that give the discounted option prices ``price``.

    Args:
        price: discounted option prices (what the option trades at).
        forward: the forward (futures) price for each option's expiry.
        strike: strikes.
        tau: years to expiry.
        rate: the risk-free rate the premium is discounted at.
        is_call: True for calls, False for puts.

    Returns:
        The volatilities (shaped as the inputs broadcast together) with a reason for each NaN: a price below
        intrinsic value or at or above the forward (call) or strike (put), discounted; no time left; a missing
        or non-positive input; no price (NaN). A price exactly at intrinsic value has volatility 0.
    """
    arrays = [np.asarray(a, dtype=np.float64) for a in (price, forward, strike, tau, rate)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays), np.shape(is_call))
    p, f, k, t, r = (np.broadcast_to(a, shape).ravel() for a in arrays)
    call = np.broadcast_to(np.asarray(is_call, dtype=bool), shape).ravel()
    with np.errstate(all="ignore"):
        vol, reason, steps = _solve(p, f, k, t, r, call)
    return ImpliedVol(vol.reshape(shape), reason.reshape(shape), steps)


def _solve(
    p: np.ndarray, f: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, call: np.ndarray
) -> tuple[np.ndarray, np.ndarray, int]:
    reason = np.zeros(p.shape, dtype=np.uint8)
    # One pass for "all finite" (a sum is finite only if every term is) and one for "all positive".
    bad = ~np.isfinite(f + k + t + r) | ~(np.minimum(f, k) > 0) | (p < 0) | np.isinf(p)
    reason[bad] = NoIV.BAD_INPUT
    reason[~bad & np.isnan(p)] = NoIV.NO_PRICE
    reason[(reason == NoIV.OK) & (t <= 0)] = NoIV.EXPIRED
    undiscounted = p * np.exp(r * t)
    x = np.log(f / k)
    fk = np.sqrt(f * k)
    # The time value is the price of the out-of-the-money option at the same strike (put-call parity).
    diff = f - k
    time_value = undiscounted - np.maximum(np.where(call, diff, -diff), 0.0)
    beta = time_value / fk
    xo = -np.abs(x)
    room = np.exp(0.5 * xo) - beta  # b_max - b: what the out-of-the-money price may still grow by
    pending = reason == NoIV.OK
    reason[pending & (time_value < 0)] = NoIV.BELOW_INTRINSIC
    reason[pending & (time_value >= 0) & (room <= 0)] = NoIV.ABOVE_MAXIMUM
    vol = np.full(p.shape, np.nan)
    vol[(reason == NoIV.OK) & (time_value == 0)] = 0.0
    active = np.flatnonzero((reason == NoIV.OK) & (time_value > 0))
    steps = 0
    if active.size:
        s, steps = _normalised_vol(xo[active], beta[active], room[active])
        vol[active] = s / np.sqrt(t[active])
    return vol, reason, steps


def _normalised_vol(x: np.ndarray, beta: np.ndarray, room: np.ndarray) -> tuple[np.ndarray, int]:
    """Return s with b(x, s) = beta for x <= 0 and 0 < beta < e^(x/2) (``room`` = e^(x/2) - beta); and the steps."""
    s_c = np.sqrt(-2.0 * x)
    near = _upper_guess(x, beta)
    # The side of the inflection point the first guess lies on picks the objective; either one converges
    # from anywhere inside the bracket, each fastest on its own side.
    lower = near < s_c
    if lower.any():
        # Deep out of the money the asymptotic guess, nearer the money Corrado and Miller's.
        deep = _lower_guess(x, beta, s_c)
        near = np.where(lower & (deep < -0.5 * x), deep, near)
    s = near
    out = np.empty_like(s)
    # The state of the elements still being solved, compacted as they finish.
    at = np.arange(s.size)
    sign = np.where(lower, 1.0, -1.0)
    e_plus = np.exp(0.5 * x)
    e_minus = sign / e_plus
    x2 = x * x
    aim = np.where(lower, beta, room)  # below the inflection point the price, above it what it may grow by
    target = np.where(lower, 1.0 / np.log(beta), np.log(room))
    lo = np.zeros_like(s)
    hi = np.full_like(s, np.inf)
    for step in range(1, _MAX_STEPS + 1):
        d1 = x / s + 0.5 * s
        # Each region's quantity without cancellation: b = e Φ(d1) - Φ(d2)/e, b_max - b = e Φ(-d1) + Φ(d2)/e.
        cdf = norm_cdf(np.concatenate((sign * d1, d1 - s)))
        n = s.size
        h = e_plus * cdf[:n] - e_minus * cdf[n:]
        inv_s = 1.0 / s
        q = x2 * inv_s * inv_s
        vega = _INV_SQRT_2PI * np.exp(-0.5 * q - 0.125 * s * s)
        a = q * inv_s - 0.25 * s  # b'' / b'
        a1 = a * a - 3.0 * q * inv_s * inv_s - 0.25  # the third derivative of b over the first
        l1 = sign * vega / h  # the derivatives of ln h
        l2 = l1 * (a - l1)
        l3 = l1 * (a1 - 3.0 * a * l1 + 2.0 * l1 * l1)
        ln_h = np.log(h)
        below = (h < aim) == lower
        lo = np.where(below, s, lo)
        hi = np.where(below, hi, s)
        # Lower region: f = 1/ln b - 1/ln beta; upper: f = ln(b_max - b) - ln(room).
        inv = 1.0 / ln_h
        inv2 = inv * inv
        f0 = np.where(lower, inv, ln_h) - target
        f1 = np.where(lower, -l1 * inv2, l1)
        f2 = np.where(lower, (2.0 * l1 * l1 * inv - l2) * inv2, l2)
        f3 = np.where(lower, (6.0 * l1 * (l2 - l1 * l1 * inv) * inv - l3) * inv2, l3)
        nu = -f0 / f1
        h2 = f2 / f1
        move = nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + f3 / f1 * nu / 6.0))
        nxt = s + move
        # A step this small is taken as it is: at the root the bracket's ends are rounding noise.
        done = np.abs(move) <= _CONVERGED * s
        outside = ~((nxt > lo) & (nxt < hi) | done)
        if outside.any():
            middle = np.where(np.isinf(hi), 2.0 * s, np.where(lo > 0, 0.5 * (lo + hi), 0.25 * hi))
            nxt = np.where(outside, middle, nxt)
        if done.all():
            out[at] = nxt
            return out, step
        if done.any():
            out[at[done]] = nxt[done]
            keep = ~done
            at, x, lower, sign, e_plus, e_minus, x2, aim, target, lo, hi = (
                v[keep] for v in (at, x, lower, sign, e_plus, e_minus, x2, aim, target, lo, hi)
            )
            nxt = nxt[keep]
        s = nxt
    out[at] = s
    return out, _MAX_STEPS


def _lower_guess(x: np.ndarray, beta: np.ndarray, s_c: np.ndarray) -> np.ndarray:
    """Return a first s below the inflection point, from b ~ φ(d1) e^(x/2) s^3 / x^2 as s -> 0."""
    # ln b = ln(s³/x²) - x²/(2s²) - s²/8 - ln(2π)/2, solved for s by two fixed-point steps.
    rest = -np.log(beta) - 0.5 * math.log(2.0 * math.pi) - 2.0 * np.log(-x)
    s = -x / np.sqrt(np.maximum(-2.0 * np.log(beta), 1e-300))
    for _ in range(2):
        s = -x / np.sqrt(np.maximum(2.0 * (rest + 3.0 * np.log(s) - 0.125 * s * s), 1e-300))
    return np.where(np.isfinite(s) & (s > 0), np.minimum(s, s_c), 0.5 * s_c)


def _upper_guess(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Return a first s from Corrado and Miller's near-the-money formula, normalised."""
    q = np.sinh(0.5 * x)  # (F - K) / 2, normalised; <= 0 out of the money
    m = beta - q
    root = np.sqrt(np.maximum(m * m - 4.0 * q * q / math.pi, 0.0))
    return _SQRT_2PI / (2.0 * np.cosh(0.5 * x)) * (m + root)
