"""Derivative prices from the underlying: futures with cost of carry, options with Black-76 and a smile.

Options are priced by :mod:`kitekit.options` itself (discounted Black-76 on the futures price for their
expiry), so the client's analytics read the simulator's chains back as the smile below, exactly up to the
tick rounding of quoted prices. The smile is free of static arbitrage: its total variance σ(k)² τ at a fixed
log-moneyness k grows with τ (no calendar arbitrage), and call prices fall and stay convex in the strike on
every listed strike (no vertical or butterfly arbitrage; ``tests/test_options_sim.py`` checks the whole chain).
"""

from __future__ import annotations

import numpy as np

from kitekit.options import DEFAULT_RATE, black_price

__all__ = ["RISK_FREE_RATE", "SECONDS_PER_YEAR", "black76", "futures_price", "smile_vol"]

SECONDS_PER_YEAR = 365.0 * 86400.0
#: The simulated world's risk-free rate, which discounts option premiums: the analytics' default rate, so a
#: chain analysed with defaults shows the smile the simulator priced.
RISK_FREE_RATE = DEFAULT_RATE


def futures_price(spot: np.ndarray, carry: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Return ``spot * exp(carry * tau)`` (tau in years)."""
    return spot * np.exp(carry * tau)


def smile_vol(base: np.ndarray, forward: np.ndarray, strike: np.ndarray) -> np.ndarray:
    """Return an implied vol with a mild put skew and smile around ``base`` (the ATM vol)."""
    x = np.log(strike / forward)
    return base * (1.0 - 0.35 * x + 2.0 * x * x)


def black76(
    forward: np.ndarray, strike: np.ndarray, tau: np.ndarray, vol: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """Return Black-76 option prices discounted at :data:`RISK_FREE_RATE`; intrinsic value once ``tau`` is zero."""
    return black_price(forward, strike, np.maximum(tau, 0.0), RISK_FREE_RATE, vol, is_call)
