"""Options analytics in pure numpy: Black-76 prices, implied volatility, greeks and option chain analytics.

No I/O and no clock: times to expiry come from an instant the caller gives (:func:`years_to_expiry`). The
simulator prices its options with the same functions, so the analytics read its chains as a smile.

>>> from kitekit.options import black_price, implied_vol
>>> price = black_price(25000.0, 25500.0, 7 / 365, 0.065, 0.14, True)
>>> round(float(implied_vol(price, 25000.0, 25500.0, 7 / 365, 0.065, True).vol), 10)
0.14
"""

from kitekit.options.black76 import black_price, intrinsic, normalised_otm
from kitekit.options.chain import (
    BuildUp,
    ChainAnalytics,
    ChainSide,
    analyse_chain,
    build_up,
    max_pain,
    parity_forward,
    pcr,
)
from kitekit.options.expiry import EXPIRY_TIME, SECONDS_PER_YEAR, expiry_moment, years_to_expiry
from kitekit.options.greeks import Greeks, greeks
from kitekit.options.implied import REASONS, ImpliedVol, NoIV, implied_greeks, implied_vol

#: The risk-free rate used when none is given: about India's 91-day treasury bill yield (6.5%), which is also
#: the simulator's (its futures carry and option discounting).
DEFAULT_RATE = 0.065

__all__ = [
    "DEFAULT_RATE",
    "EXPIRY_TIME",
    "REASONS",
    "SECONDS_PER_YEAR",
    "BuildUp",
    "ChainAnalytics",
    "ChainSide",
    "Greeks",
    "ImpliedVol",
    "NoIV",
    "analyse_chain",
    "black_price",
    "build_up",
    "expiry_moment",
    "greeks",
    "implied_greeks",
    "implied_vol",
    "intrinsic",
    "max_pain",
    "normalised_otm",
    "parity_forward",
    "pcr",
    "years_to_expiry",
]
