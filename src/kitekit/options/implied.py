"""Implied volatility of Black-76 prices: a vectorised solver that never leaves a valid price without one.

The price is turned into the normalised price of the out-of-the-money option (an in-the-money price loses its
intrinsic value by put-call parity), then s = vol * sqrt(tau) is found by third-order Householder steps on an
objective that is nearly linear where the price lies, after P. Jäckel ("By Implication", Wilmott 2006; "Let's
Be Rational", 2013): 1/ln(b) below the inflection point s_c = sqrt(2|x|), ln(b_max - b) above it.

Speed comes from doing the same few numpy calls for every element. From the first guess (Corrado and Miller
near the money, the small-s asymptote far from it, each within -20%/+30% of the root where it is used) two
Householder steps are taken everywhere, with no masks and no test in between. A step of relative size d leaves
an error of about d^4, so an element whose second step moved it by less than 5e-4 is done to double precision.
The rare others (prices of a few thousandths of a tick, far out of the money) take a third step and, if still
moving, go on to a bracketed loop that bisects whenever a step leaves its bracket: every price strictly inside
the no-arbitrage bounds gets a finite volatility; a price outside them gets NaN and a :class:`NoIV` reason.
Large batches are solved in blocks that stay in the CPU's cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from kitekit.options.black76 import ArrayLike, flat
from kitekit.options.greeks import Greeks, greeks_of
from kitekit.options.normal import cdf_flat

__all__ = ["REASONS", "ImpliedVol", "NoIV", "implied_greeks", "implied_vol"]

_SQRT_2PI = math.sqrt(2.0 * math.pi)
_INV_SQRT_2PI = 1.0 / _SQRT_2PI
#: The fixed Householder steps every element takes.
_FIXED_STEPS = 2
#: A last step at most this large (relative) leaves an error of about its fourth power (6e-14): done.
_DONE_AFTER = 5e-4
#: In the bracketed loop, a step this small is taken and the element is done.
_CONVERGED = 1e-5
_MAX_STEPS = 40
#: Options solved at a time: the solver's arrays of this many doubles stay in the CPU's caches, where numpy's
#: arithmetic runs several times faster than on arrays that stream from memory (a million options: 2-3 times
#: the throughput of one pass; 8,192 beat 2,048, 4,096 and 16,384 on the reference machine).
CHUNK = 8192
#: (x, beta, room) of the stand-in solved where an element has no volatility to find.
_STAND_IN = (-0.1, 0.05, math.exp(-0.05) - 0.05)


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
    (p, f, k, t, r), call, shape = flat(price, forward, strike, tau, rate, is_call=is_call)
    vol, reason, steps, _ = _in_chunks(p, f, k, t, r, call, with_greeks=False)
    return ImpliedVol(vol.reshape(shape), reason.reshape(shape), steps)


def implied_greeks(
    price: ArrayLike, forward: ArrayLike, strike: ArrayLike, tau: ArrayLike, rate: ArrayLike, is_call: ArrayLike
) -> tuple[ImpliedVol, Greeks]:
    """Return the implied volatilities of ``price`` and the greeks at them, in one pass over the inputs.

    The same numbers as ``implied_vol`` followed by :func:`~kitekit.options.greeks` at its volatilities (to
    rounding), for less work: the inputs are read and transformed once, and the greeks' ``price`` is the
    option's own price where it has a volatility (the model price there, to the solver's precision).

    Args:
        price: discounted option prices.
        forward: the forward (futures) price for each option's expiry.
        strike: strikes.
        tau: years to expiry.
        rate: the risk-free rate the premium is discounted at.
        is_call: True for calls, False for puts.
    """
    (p, f, k, t, r), call, shape = flat(price, forward, strike, tau, rate, is_call=is_call)
    vol, reason, steps, parts = _in_chunks(p, f, k, t, r, call, with_greeks=True)
    implied = ImpliedVol(vol.reshape(shape), reason.reshape(shape), steps)
    return implied, Greeks(*(a.reshape(shape) for a in parts))


def _in_chunks(
    p: np.ndarray, f: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, call: np.ndarray, with_greeks: bool
) -> tuple[np.ndarray, np.ndarray, int, list[np.ndarray]]:
    """Solve flat arrays a :data:`CHUNK` at a time; return (vol, reason, steps, greeks' six arrays or [])."""
    n = p.size
    with np.errstate(all="ignore"):
        if n <= CHUNK:
            return _solve(p, f, k, t, r, call, with_greeks)
        vol, reason = np.empty(n), np.empty(n, dtype=np.uint8)
        parts = [np.empty(n) for _ in range(6)] if with_greeks else []
        steps = 0
        for start in range(0, n, CHUNK):
            part = slice(start, start + CHUNK)
            v, why, took, g = _solve(p[part], f[part], k[part], t[part], r[part], call[part], with_greeks)
            vol[part], reason[part], steps = v, why, max(steps, took)
            for whole, piece in zip(parts, g, strict=True):
                whole[part] = piece
    return vol, reason, steps, parts


def _solve(
    p: np.ndarray, f: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, call: np.ndarray, with_greeks: bool
) -> tuple[np.ndarray, np.ndarray, int, list[np.ndarray]]:
    growth = np.exp(r * t)  # undoes the premium's discounting
    x = np.log(f / k)
    diff = f - k
    # The time value is the price of the out-of-the-money option at the same strike (put-call parity).
    time_value = p * growth - np.maximum(np.where(call, diff, -diff), 0.0)
    beta = time_value / np.sqrt(f * k)
    xo = -np.abs(x)
    room = np.exp(0.5 * xo) - beta  # b_max - b: what the out-of-the-money price may still grow by
    # NaN compares False, so a NaN anywhere leaves an element out (and _reasons says why).
    solvable = (time_value > 0) & (room > 0) & (t > 0) & (np.minimum(f, k) > 0) & np.isfinite(f + k + t + r)
    root_t = np.sqrt(t)
    everywhere = bool(solvable.all())
    if everywhere:
        s, steps = _normalised_vol(xo, beta, room)
    else:
        # The elements with no volatility to find are solved on a stand-in (a plain out-of-the-money price)
        # rather than cut out and put back, which costs more than the arithmetic; their values are set below.
        x_in, beta_in, room_in = (np.where(solvable, a, b) for a, b in zip((xo, beta, room), _STAND_IN, strict=True))
        s, steps = _normalised_vol(x_in, beta_in, room_in)
    vol = s / root_t
    if everywhere:
        reason = np.zeros(p.shape, dtype=np.uint8)
    else:
        reason = _reasons(p, f, k, t, r, time_value, room)
        vol = np.where(solvable, vol, np.where((reason == NoIV.OK) & (time_value == 0), 0.0, np.nan))
    if not with_greeks:
        return vol, reason, steps, []
    return vol, reason, steps, greeks_of(f, k, t, r, vol, call, x=x, root_t=root_t, discount=1.0 / growth, price=p)


def _reasons(
    p: np.ndarray, f: np.ndarray, k: np.ndarray, t: np.ndarray, r: np.ndarray, time_value: np.ndarray, room: np.ndarray
) -> np.ndarray:
    """Return the :class:`NoIV` code of each element (``OK`` for those with a volatility, zero included)."""
    reason = np.zeros(p.shape, dtype=np.uint8)
    # One pass for "all finite" (a sum is finite only if every term is) and one for "all positive".
    bad = ~np.isfinite(f + k + t + r) | ~(np.minimum(f, k) > 0) | (p < 0) | np.isinf(p)
    reason[bad] = NoIV.BAD_INPUT
    reason[~bad & np.isnan(p)] = NoIV.NO_PRICE
    reason[(reason == NoIV.OK) & (t <= 0)] = NoIV.EXPIRED
    pending = reason == NoIV.OK
    reason[pending & (time_value < 0)] = NoIV.BELOW_INTRINSIC
    reason[pending & (time_value >= 0) & (room <= 0)] = NoIV.ABOVE_MAXIMUM
    return reason


@dataclass(frozen=True)
class _Objective:
    """What one Householder step needs per element, fixed for the whole solve.

    Below the inflection point (``lower``) the step works on h = b, the out-of-the-money price, and Jäckel's
    objective 1/ln h - 1/ln beta; above it on h = b_max - b and ln h - ln(room). Both are written in terms of
    depth = -ln h (> 0 on both sides, as h < 1) as one formula with ``lam`` = 1 (below) or 0 (above), so that
    a step is the same numpy calls for every element, without masks.
    """

    x: np.ndarray
    half_x: np.ndarray
    sign: np.ndarray  # +1 below: h = e Φ(d1) - Φ(d2)/e; -1 above: h = e Φ(-d1) + Φ(d2)/e (no cancellation)
    e_plus: np.ndarray
    e_minus: np.ndarray
    vega_sign: np.ndarray  # sign / sqrt(2 pi): h' / (e^(x/2) φ(d1)) up to the density's constant
    aim: np.ndarray  # ln of what h must reach: ln beta below, ln(room) above
    lam: np.ndarray
    twice: np.ndarray  # 2 lam
    scale: np.ndarray  # lam / -aim
    offset: np.ndarray  # 1 - 2 lam
    upper_aim: np.ndarray  # (1 - lam) * -aim

    @classmethod
    def build(cls, x: np.ndarray, beta: np.ndarray, room: np.ndarray, lower: np.ndarray) -> _Objective:
        """Return the objective of each element: the lower one where ``lower``, else the upper one."""
        sign = np.where(lower, 1.0, -1.0)
        e_plus = np.exp(0.5 * x)
        aim = np.log(np.where(lower, beta, room))
        lam = lower.astype(np.float64)
        depth = -aim  # > 0: both targets are below 1
        return cls(
            x, 0.5 * x, sign, e_plus, sign / e_plus, sign * _INV_SQRT_2PI, aim, lam, 2.0 * lam, lam / depth,
            1.0 - 2.0 * lam, (1.0 - lam) * depth,
        )  # fmt: skip

    def take(self, index: np.ndarray) -> _Objective:
        """Return the objective of the elements at ``index``."""
        return _Objective(*(getattr(self, name)[index] for name in self.__dataclass_fields__))

    def step(self, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the Householder (third-order) step from ``s``, kept above -s/2 so that s stays positive; and h."""
        n = s.size
        inv_s = 1.0 / s
        hx = self.x * inv_s
        d1 = hx + 0.5 * s
        both = np.empty(2 * n)
        np.multiply(self.sign, d1, out=both[:n])
        np.subtract(d1, s, out=both[n:])
        cdf = cdf_flat(both)
        h = self.e_plus * cdf[:n] - self.e_minus * cdf[n:]
        # The derivatives of ln h: l1 = h'/h; and of b: a = b''/b', a1 = b'''/b'.
        l1 = self.vega_sign * np.exp(self.half_x - 0.5 * d1 * d1) / h
        qs = hx * hx * inv_s
        a = qs - 0.25 * s
        a1 = a * a - 3.0 * qs * inv_s - 0.25
        depth = -np.log(h)  # > 0: h < 1 on both sides
        r2 = a - l1  # (ln h)'' / (ln h)'
        r3 = a1 + l1 * (2.0 * l1 - 3.0 * a)  # (ln h)''' / (ln h)'
        # Below, g = -1/depth: its derivative ratios differ from ln h's by terms in m = 2 l1 / depth.
        m = self.twice * l1 / depth
        h2 = r2 + m
        h3 = r3 + m * (1.5 * m + 3.0 * r2)
        # -g/g': below depth (depth / depth_aim - 1) / l1, above (depth - depth_aim) / l1.
        nu = (depth * (self.scale * depth + self.offset) - self.upper_aim) / l1
        move = nu * (1.0 + 0.5 * h2 * nu) / (1.0 + nu * (h2 + h3 * nu / 6.0))
        return np.maximum(move, -0.5 * s), h


def _normalised_vol(x: np.ndarray, beta: np.ndarray, room: np.ndarray) -> tuple[np.ndarray, int]:
    """Return s with b(x, s) = beta for x <= 0 and 0 < beta < e^(x/2) (``room`` = e^(x/2) - beta); and the steps."""
    s = _upper_guess(x, beta)
    # The side of the inflection point s_c = sqrt(2|x|) the first guess lies on picks the objective; either
    # one converges from anywhere near, each fastest on its own side.
    lower = s * s < -2.0 * x
    if lower.any():
        # Where |x|/s > 2 (far out of the money, or little time) the asymptote, nearer the money Corrado and
        # Miller's: on a million random options and on tick-rounded chains every guess is then within -20%/+30%
        # of the root, from where two steps reach double precision.
        deep = _lower_guess(x, beta)
        s = np.where(lower & (deep < -0.5 * x), deep, s)
    objective = _Objective.build(x, beta, room, lower)
    for _ in range(_FIXED_STEPS):
        move, _ = objective.step(s)
        s = s + move
    slow = np.flatnonzero(~(np.abs(move) <= _DONE_AFTER * s))  # NaN is slow too
    if not slow.size:
        return s, _FIXED_STEPS
    # One more step for the few whose guess was poorest, then the bracketed loop for any still moving.
    objective = objective.take(slow)
    move, _ = objective.step(s[slow])
    s[slow] += move
    still = ~(np.abs(move) <= _DONE_AFTER * s[slow])
    if not still.any():
        return s, _FIXED_STEPS + 1
    slow = slow[still]
    start = s[slow]
    start = np.where(np.isfinite(start) & (start > 0), start, np.sqrt(-2.0 * x[slow]))
    s[slow], more = _bracketed(objective.take(still), start)
    return s, _FIXED_STEPS + 1 + more


def _bracketed(objective: _Objective, s: np.ndarray) -> tuple[np.ndarray, int]:
    """Return the roots near ``s`` by Householder steps kept inside a bracket of the signs seen; and the steps.

    Each element keeps a bracket from the side of the root each step lands on; a step that would leave it
    bisects instead (doubling while there is no upper end), so the loop converges from anywhere.
    """
    out = np.empty_like(s)
    at = np.arange(s.size)
    lower = objective.lam > 0
    aim = np.exp(objective.aim)  # below: the price; above: the room left
    lo = np.zeros_like(s)
    hi = np.full_like(s, np.inf)
    for step in range(1, _MAX_STEPS + 1):
        move, h = objective.step(s)
        below = (h < aim) == lower  # the root lies above s
        lo = np.where(below, s, lo)
        hi = np.where(below, hi, s)
        nxt = s + move
        # A step this small is taken as it is: at the root the bracket's ends are rounding noise.
        done = np.abs(nxt - s) <= _CONVERGED * s
        outside = ~((nxt > lo) & (nxt < hi) | done)
        if outside.any():
            middle = np.where(np.isinf(hi), 2.0 * s, np.where(lo > 0, 0.5 * (lo + hi), 0.25 * hi))
            nxt = np.where(outside, middle, nxt)
        if done.all():
            out[at] = nxt
            return out, step
        if done.any():
            keep = ~done
            out[at[done]] = nxt[done]
            at, lower, aim, lo, hi, nxt = at[keep], lower[keep], aim[keep], lo[keep], hi[keep], nxt[keep]
            objective = objective.take(keep)
        s = nxt
    out[at] = s
    return out, _MAX_STEPS


def _lower_guess(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Return a first s far below the inflection point, from b ~ φ(d1) e^(x/2) s^3 / x^2 as s -> 0.

    The asymptote ln b = 3 ln s - x²/(2s²) - s²/8 - ln(x² sqrt(2π)) is solved for ln s by two Newton steps
    (a plain fixed-point iteration on it oscillates once |x|/s falls below about 2, where this guess is used).
    """
    y = x * x
    rest = -np.log(beta) - np.log(y) - 0.5 * math.log(2.0 * math.pi)
    log_s = 0.5 * np.log(y / (-2.0 * np.log(beta)))  # the leading term alone: b ~ exp(-x²/(2s²))
    for _ in range(2):
        s2 = np.exp(2.0 * log_s)
        q = y / s2
        log_s -= (3.0 * log_s - 0.5 * q - 0.125 * s2 + rest) / (3.0 + q - 0.25 * s2)
    return np.exp(log_s)


def _upper_guess(x: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Return a first s from Corrado and Miller's near-the-money formula, normalised."""
    q = np.sinh(0.5 * x)  # (F - K) / 2, normalised; <= 0 out of the money
    m = beta - q
    root = np.sqrt(np.maximum(m * m - 4.0 * q * q / math.pi, 0.0))
    return _SQRT_2PI / (2.0 * np.cosh(0.5 * x)) * (m + root)
