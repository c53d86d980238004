"""Black-76: European options on a forward, priced and normalised, on numpy arrays.

Conventions (those of vollib's ``black`` module, so the two agree): ``forward`` is the underlying's forward
(futures) price for the option's expiry, ``tau`` the time to expiry in years, ``rate`` the continuously
compounded risk-free rate that discounts the premium, ``vol`` the yearly volatility (0.15 for 15%).

The normalised form is what the implied-volatility solver works in: with x = ln(F/K) and s = vol * sqrt(tau),
an out-of-the-money price divided by sqrt(F K) depends on (x, s) alone.
"""

from __future__ import annotations

import numpy as np

from kitekit.options.normal import norm_cdf

__all__ = ["ArrayLike", "black_price", "flat", "intrinsic", "normalised_otm"]

#: What the functions take: a number or an array of them (broadcast together).
ArrayLike = np.ndarray | float | int | bool


def flat(*values: ArrayLike, is_call: ArrayLike) -> tuple[list[np.ndarray], np.ndarray, tuple[int, ...]]:
    """Return ``values`` as flat float64 arrays and ``is_call`` as a flat bool array, broadcast together; and the shape.

    A scalar becomes a full column that can be sliced; an input already of that shape may come back as a view of
    itself (callers only read them).
    """
    arrays = [np.asarray(v, dtype=np.float64) for v in values]
    calls = np.asarray(is_call, dtype=bool)
    shape = np.broadcast_shapes(*(a.shape for a in arrays), calls.shape)
    out = [a.ravel() if a.shape == shape else np.broadcast_to(a, shape).ravel() for a in arrays]
    return out, calls.ravel() if calls.shape == shape else np.broadcast_to(calls, shape).ravel(), shape


def normalised_otm(x: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Return the normalised Black price of an out-of-the-money call: b(x, s) for x = ln(F/K) <= 0, s > 0.

    b = e^(x/2) Φ(x/s + s/2) - e^(-x/2) Φ(x/s - s/2); an out-of-the-money put at x > 0 is b(-x, s).
    """
    d1 = x / s + 0.5 * s
    half = 0.5 * x
    # One call to Φ for both terms: its cost is mostly per call on chain-sized arrays.
    both = norm_cdf(np.concatenate((d1, d1 - s)))
    n = d1.shape[0]
    return np.exp(half) * both[:n] - np.exp(-half) * both[n:]


def intrinsic(forward: ArrayLike, strike: ArrayLike, is_call: ArrayLike) -> np.ndarray:
    """Return the undiscounted intrinsic value: max(F - K, 0) for a call, max(K - F, 0) for a put."""
    diff = np.asarray(forward, dtype=np.float64) - np.asarray(strike, dtype=np.float64)
    return np.maximum(np.where(is_call, diff, -diff), 0.0)


def black_price(
    forward: ArrayLike, strike: ArrayLike, tau: ArrayLike, rate: ArrayLike, vol: ArrayLike, is_call: ArrayLike
) -> np.ndarray:
    """Return discounted Black-76 prices; the discounted intrinsic value where ``tau`` or ``vol`` is zero.

    Args:
        forward: the forward (futures) price for the option's expiry.
        strike: the strike.
        tau: years to expiry.
        rate: the risk-free rate discounting the premium (0.065 for 6.5%).
        vol: the yearly volatility.
        is_call: True for calls, False for puts.
    """
    f, k, t, r, v, call = np.broadcast_arrays(
        *(np.asarray(a, dtype=np.float64) for a in (forward, strike, tau, rate, vol)), np.asarray(is_call, dtype=bool)
    )
    f, k, t, r, v, call = (a.ravel() for a in (f, k, t, r, v, call))
    s = v * np.sqrt(np.maximum(t, 0.0))
    live = s > 0
    x = np.log(f / k)
    # Price the out-of-the-money side and add intrinsic value by parity: it keeps deep prices accurate.
    value = intrinsic(f, k, call)
    if live.any():
        fk = np.sqrt(f[live] * k[live])
        value[live] += fk * normalised_otm(-np.abs(x[live]), s[live])
    shape = np.broadcast_shapes(*(np.shape(a) for a in (forward, strike, tau, rate, vol, is_call)))
    return (np.exp(-r * t) * value).reshape(shape)
