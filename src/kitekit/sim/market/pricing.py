"""Derivative prices from the underlying: futures with cost of carry, options with Black-76 on an index-like smile.

Options are priced by :mod:`kitekit.options` itself (discounted Black-76 on the futures price for their
expiry), so the client's analytics read the simulator's chains back as the smile below, exactly up to the
tick rounding of quoted prices.

The smile is Gatheral and Jacquier's SSVI ("Arbitrage-free SVI volatility surfaces", Quantitative Finance 14,
2014) with a power-law curvature: the total implied variance at log-moneyness k = ln(K/F) is

    w(k) = θ/2 (1 + ρ φ k + sqrt((φ k + ρ)² + 1 - ρ²)),   θ = σ_atm² τ,   φ = η / sqrt(θ),

with ρ < 0, so out-of-the-money puts are richer than calls at the same distance, and the skew steepens as
expiry nears, as on index options. Their theorems make it free of static arbitrage: no butterfly arbitrage as
η² (1 + |ρ|) <= 4 (and η sqrt(θ) (1 + |ρ|) < 4, true for any θ a market shows), no calendar arbitrage as θ
grows with τ and θ φ(θ) = η sqrt(θ) grows with θ no faster than their bound. ``tests/test_chain_sim.py``
checks the quoted chains: vertical, butterfly, parity and calendar.
"""

from __future__ import annotations

import numpy as np

from kitekit.options import DEFAULT_RATE, black_price

__all__ = ["RISK_FREE_RATE", "SECONDS_PER_YEAR", "SKEW_ETA", "SKEW_RHO", "black76", "futures_price", "smile_vol"]

SECONDS_PER_YEAR = 365.0 * 86400.0
#: The simulated world's risk-free rate, which discounts option premiums: the analytics' default rate, so a
#: chain analysed with defaults shows the smile the simulator priced.
RISK_FREE_RATE = DEFAULT_RATE
#: SSVI's correlation: the smile's tilt (puts over calls). -0.7 gives a NIFTY-like weekly: a 5% out-of-the-money
#: put about 1.5 times the at-the-money vol, a 5% out-of-the-money call about 0.7 times.
SKEW_RHO = -0.7
#: SSVI's curvature scale; at most 2 / sqrt(1 + |ρ|) (1.53) for no butterfly arbitrage.
SKEW_ETA = 0.5


def futures_price(spot: np.ndarray, carry: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Return ``spot * exp(carry * tau)`` (tau in years)."""
    return spot * np.exp(carry * tau)


def smile_vol(base: np.ndarray, forward: np.ndarray, strike: np.ndarray, tau: np.ndarray) -> np.ndarray:
    """Return the implied vol of each strike on the SSVI smile whose at-the-money vol is ``base``.

    Args:
        base: the at-the-money (k = 0) implied vol.
        forward: the forward for the expiry.
        strike: strikes.
        tau: years to expiry; at zero the vol is ``base`` (an expired option is worth its intrinsic value).
    """
    k = np.log(strike / forward)
    theta = base * base * np.maximum(tau, 1e-12)
    phi = SKEW_ETA / np.sqrt(theta)
    pk = phi * k
    w = 0.5 * theta * (1.0 + SKEW_RHO * pk + np.sqrt((pk + SKEW_RHO) ** 2 + 1.0 - SKEW_RHO**2))
    return np.where(tau > 0, np.sqrt(w / np.maximum(tau, 1e-12)), base)


def black76(
    forward: np.ndarray, strike: np.ndarray, tau: np.ndarray, vol: np.ndarray, is_call: np.ndarray
) -> np.ndarray:
    """Return Black-76 option prices discounted at :data:`RISK_FREE_RATE`; intrinsic value once ``tau`` is zero."""
    return black_price(forward, strike, np.maximum(tau, 0.0), RISK_FREE_RATE, vol, is_call)
