"""Derivative prices from the underlying: futures with cost of carry, options with Black-76 and a smile."""

from __future__ import annotations

import numpy as np

__all__ = ["SECONDS_PER_YEAR", "black76", "futures_price", "smile_vol"]

SECONDS_PER_YEAR = 365.0 * 86400.0


def futures_price(spot: np.ndarray, carry: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Return ``spot * exp(carry * tau)`` (tau in years)."""
    return spot * np.exp(carry * tau)


def smile_vol(base: np.ndarray, forward: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Return an implied vol with a mild put skew and smile around ``base`` (the ATM vol)."""
    x = np.log(strike / forward)
    return base * (1.0 - 0.35 * x + 2.0 * x * x)


def _ncdf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 erf approximation (|error| < 1.5e-7): numpy has no erf and we avoid scipy.
    z = np.abs(x) / np.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(x) * erf)


def black76(
    forward: np.ndarray, strike: np.ndarray, tau: np.ndarray, vol: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """Return undiscounted Black-76 option prices; intrinsic value once ``tau`` reaches zero."""
    forward, strike, tau, vol, is_call = np.broadcast_arrays(forward, strike, tau, vol, is_call)
    intrinsic = np.where(is_call, np.maximum(forward - strike, 0.0), np.maximum(strike - forward, 0.0))
    live = tau > 1e-9
    sd = vol * np.sqrt(np.where(live, tau, 1.0))
    d1 = (np.log(forward / strike) + 0.5 * sd * sd) / sd
    d2 = d1 - sd
    call = forward * _ncdf(d1) - strike * _ncdf(d2)
    put = strike * _ncdf(-d2) - forward * _ncdf(-d1)
    value = np.where(is_call, call, put)
    return np.where(live, np.maximum(value, intrinsic), intrinsic)
