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

from kitekit.options.black76 import ArrayLike
from kitekit.options.normal import norm_cdf

__all__ = ["Greeks", "greeks"]

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
    arrays = [np.asarray(a, dtype=np.float64) for a in (forward, strike, tau, rate, vol)]
    shape = np.broadcast_shapes(*(a.shape for a in arrays), np.shape(is_call))
    f, k, t, r, v = (np.broadcast_to(a, shape).ravel() for a in arrays)
    theta_sign = np.where(np.broadcast_to(np.asarray(is_call, dtype=bool), shape).ravel(), 1.0, -1.0)
    with np.errstate(all="ignore"):
        root_t = np.sqrt(t)
        sd = v * root_t
        live = sd > 0
        safe = np.where(live, sd, 1.0)
        d1 = np.log(f / k) / safe + 0.5 * safe
        # Without time value the option is its intrinsic value: d1 and d2 are ±inf on its side of the strike.
        d1 = np.where(live, d1, np.where(f > k, np.inf, -np.inf))
        d2 = np.where(live, d1 - sd, d1)
        n = f.size
        cdf = norm_cdf(np.concatenate((theta_sign * d1, theta_sign * d2)))
        disc = np.exp(-r * t)
        price = theta_sign * disc * (f * cdf[:n] - k * cdf[n:])
        density = np.where(live, _INV_SQRT_2PI * np.exp(-0.5 * d1 * d1), 0.0)
        delta = theta_sign * disc * cdf[:n]
        gamma = np.where(live, disc * density / (f * safe), 0.0)
        vega = f * disc * density * root_t
        theta = (r * price - np.where(live, vega * v / (2.0 * t), 0.0)) / DAYS_PER_YEAR
        values = [price, delta, gamma, theta, 0.01 * vega, -0.01 * t * price]
        gone = ~(t > 0) | np.isnan(v)
        out = [np.where(gone, np.nan, a).reshape(shape) for a in values]
    return Greeks(*out)
