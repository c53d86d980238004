"""Black-76 greeks on numpy arrays, in the units traders quote: theta per calendar day, vega and rho per 1%.

The conventions are vollib's (``vollib.black.greeks.analytical``), so the two agree: delta is taken against the
forward (futures) price and includes the premium's discounting, e^(-r tau) Φ(d1) for a call, which is also the
number of futures that hedge one option; gamma is its derivative; theta is the value lost in one calendar day
(1/365 of a year) with the forward held; rho is the change for +1% in the rate with the forward held.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from kitekit.options.black76 import ArrayLike, flat
from kitekit.options.normal import cdf_flat

__all__ = ["Greeks", "greeks", "greeks_of"]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
DAYS_PER_YEAR = 365.0


@dataclass(frozen=True)
class Greeks:
    """Price and greeks of options, arrays shaped as the inputs broadcast together (NaN where vol is NaN).

    Attributes:
        price: the discounted Black-76 price.
        delta: dV/dF, discounted (calls 0..1, puts -1..0).
        gamma: d²V/dF².
        theta: the change in value over one calendar day (negative for a long option, as a rule).
        vega: the change in value for +1 volatility point (vol + 0.01).
        rho: the change in value for +1% in the rate, the forward held.
    """

    price: np.ndarray
    delta: np.ndarray
    gamma: np.ndarray
    theta: np.ndarray
    vega: np.ndarray
    rho: np.ndarray


def greeks(
    forward: ArrayLike, strike: ArrayLike, tau: ArrayLike, rate: ArrayLike, vol: ArrayLike, is_call: ArrayLike
) -> Greeks:
    """Return the Black-76 price and greeks of European options on a forward.

    Args:
        forward: the forward (futures) price for each option's expiry.
        strike: strikes.
        tau: years to expiry; at or below zero everything is NaN (the option has expired).
        rate: the risk-free rate discounting the premium.
        vol: yearly volatilities (e.g. from :func:`~kitekit.options.implied_vol`); zero gives the limits
            (delta 0 or ±discount factor, gamma and vega 0).
        is_call: True for calls, False for puts.
    """
    (f, k, t, r, v), call, shape = flat(forward, strike, tau, rate, vol, is_call=is_call)
    with np.errstate(all="ignore"):  # zero vols and expiries divide by zero; their values are set after
        parts = greeks_of(f, k, t, r, v, call, x=np.log(f / k), root_t=np.sqrt(t), discount=np.exp(-r * t))
    return Greeks(*(a.reshape(shape) for a in parts))


def greeks_of(
    f: np.ndarray,
    k: np.ndarray,
    t: np.ndarray,
    r: np.ndarray,
    v: np.ndarray,
    call: np.ndarray,
    *,
    x: np.ndarray,
    root_t: np.ndarray,
    discount: np.ndarray,
    price: np.ndarray | None = None,
) -> list[np.ndarray]:
    """Return [price, delta, gamma, theta, vega, rho] of flat arrays, from what the caller has already computed.

    Args:
        f: forwards.
        k: strikes.
        t: years to expiry.
        r: rates.
        v: volatilities.
        call: True for calls.
        x: ln(f / k).
        root_t: sqrt(t).
        discount: e^(-r t).
        price: the options' discounted prices when known (an implied volatility's own price): it spares the
            second half of the normal distribution's work; None to compute Black-76's.

    Call it inside ``np.errstate(all="ignore")``: zero vols and expired options divide by zero before their
    values are set.
    """
    theta_sign = np.where(call, 1.0, -1.0)
    sd = v * root_t
    live = sd > 0  # False for NaN, zero vol and expired options
    everywhere = bool(live.all())
    if everywhere:
        d1 = x / sd + 0.5 * sd
    else:
        sd = np.where(live, sd, 1.0)
        # Without time value the option is its intrinsic value: d1 and d2 are ±inf on its side of the strike.
        d1 = np.where(live, x / sd + 0.5 * sd, np.where(f > k, np.inf, -np.inf))
    n = f.size
    if price is None:
        d2 = d1 - sd if everywhere else np.where(live, d1 - sd, d1)
        cdf = cdf_flat(np.concatenate((theta_sign * d1, theta_sign * d2)))
        price = theta_sign * discount * (f * cdf[:n] - k * cdf[n:])
    else:
        cdf = cdf_flat(theta_sign * d1)
    density = _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1)  # 0 at ±inf
    delta = theta_sign * discount * cdf[:n]
    gamma = discount * density / (f * sd)
    vega = f * discount * density * root_t
    theta = r * price - vega * v / (2.0 * t)
    if not everywhere:
        # A zero vol has no time value to lose, and an expired or NaN-vol option has no greeks at all.
        gone = ~(t > 0) | np.isnan(v)
        theta = np.where(live, theta, r * price)
        parts = [price, delta, np.where(live, gamma, 0.0), theta, vega]
        price, delta, gamma, theta, vega = (np.where(gone, np.nan, a) for a in parts)
    return [price, delta, gamma, theta / DAYS_PER_YEAR, 0.01 * vega, -0.01 * t * price]
