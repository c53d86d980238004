"""Every rate the engine charges or blocks, in one place, each with its source (see docs/engine.md).

Charges (all as fractions of turnover; options on premium):

* Brokerage: Zerodha, https://zerodha.com/charges — ₹0 for equity delivery; 0.03% or ₹20 per executed order,
  whichever is lower, for intraday, futures and currency/commodity futures; flat ₹20 per executed order for
  options; MTF 0.3% or ₹20, whichever is lower.
* STT/CTT: Finance Act (securities transaction tax), Finance Act 2013 (commodities transaction tax); the
  derivative rates changed by the Finance Act 2026 for trades on or after 2026-04-01 (futures 0.02% → 0.05%,
  options premium 0.1% → 0.15%).
* Exchange transaction charges: NSE and BSE circulars effective 2024-10-01 (NSE ₹2.97/lakh cash, ₹1.73/lakh
  futures, ₹35.03/lakh option premium), plus NSE's investor protection fund charge, as Zerodha's charge list
  shows them folded together; MCX and currency rates from the same list.
* SEBI turnover fee: ₹10 per crore (SEBI circular, 2020-06-01).
* Stamp duty: Indian Stamp Act as amended 2020-07-01, buy side only.
* GST: 18% on brokerage + exchange transaction charges + SEBI fee.

Margins are the simulator's approximations of SPAN + exposure (SEBI's exposure margin: 2% of notional for
index derivatives, 3.5% for stock derivatives); real SPAN files change daily and are not reproduced.
"""

from __future__ import annotations

from datetime import date

from kitekit.engine.spec import AssetClass as A

__all__ = [
    "BROKERAGE_CAP",
    "GST",
    "MIS_MARGIN",
    "MTF_MARGIN",
    "SEBI_FEE",
    "brokerage_rate",
    "exchange_rate",
    "futures_margin",
    "stamp_rate",
    "transaction_tax",
]

#: Zerodha's ceiling per executed order, in rupees.
BROKERAGE_CAP = 20.0
#: GST on brokerage, exchange charges and the SEBI fee.
GST = 0.18
#: SEBI turnover fee: ₹10 per crore.
SEBI_FEE = 10 / 1e7
#: Share of the order value blocked for equity intraday (MIS, i.e. 5x leverage) and MTF positions.
MIS_MARGIN = 0.20
MTF_MARGIN = 0.50
#: The date the Finance Act 2026 derivative STT rates start.
STT_2026 = date(2026, 4, 1)

# (asset class, delivery?) -> (percentage of turnover, flat per order); the lower of the two applies when both
# are set, only the flat fee when the percentage is None.
_BROKERAGE: dict[tuple[A, bool], tuple[float | None, float]] = {
    (A.EQUITY, True): (0.0, 0.0),
    (A.EQUITY, False): (0.0003, BROKERAGE_CAP),
    (A.EQUITY_FUTURE, False): (0.0003, BROKERAGE_CAP),
    (A.CURRENCY_FUTURE, False): (0.0003, BROKERAGE_CAP),
    (A.COMMODITY_FUTURE, False): (0.0003, BROKERAGE_CAP),
    (A.EQUITY_OPTION, False): (None, BROKERAGE_CAP),
    (A.CURRENCY_OPTION, False): (None, BROKERAGE_CAP),
    (A.COMMODITY_OPTION, False): (None, BROKERAGE_CAP),
}
_MTF_BROKERAGE = (0.003, BROKERAGE_CAP)

# (asset class, delivery?) -> (rate, charged on buys too?, tax name)
_TAX: dict[tuple[A, bool], tuple[float, bool, str]] = {
    (A.EQUITY, True): (0.001, True, "stt"),
    (A.EQUITY, False): (0.00025, False, "stt"),
    (A.EQUITY_FUTURE, False): (0.0002, False, "stt"),
    (A.EQUITY_OPTION, False): (0.001, False, "stt"),
    (A.CURRENCY_FUTURE, False): (0.0, False, ""),
    (A.CURRENCY_OPTION, False): (0.0, False, ""),
    (A.COMMODITY_FUTURE, False): (0.0001, False, "ctt"),  # non-agricultural commodities
    (A.COMMODITY_OPTION, False): (0.0005, False, "ctt"),
}
_TAX_2026: dict[A, float] = {A.EQUITY_FUTURE: 0.0005, A.EQUITY_OPTION: 0.0015}

# (asset class, exchange) -> exchange transaction charge
_EXCHANGE: dict[tuple[A, str], float] = {
    (A.EQUITY, "NSE"): 0.0000307,
    (A.EQUITY, "BSE"): 0.0000375,
    (A.EQUITY_FUTURE, "NFO"): 0.0000183,
    (A.EQUITY_FUTURE, "BFO"): 0.0,
    (A.EQUITY_OPTION, "NFO"): 0.0003553,
    (A.EQUITY_OPTION, "BFO"): 0.000325,
    (A.CURRENCY_FUTURE, "CDS"): 0.0000035,
    (A.CURRENCY_FUTURE, "BCD"): 0.0000045,
    (A.CURRENCY_OPTION, "CDS"): 0.000311,
    (A.CURRENCY_OPTION, "BCD"): 0.00001,
    (A.COMMODITY_FUTURE, "MCX"): 0.000021,
    (A.COMMODITY_OPTION, "MCX"): 0.000418,
}

# (asset class, delivery?) -> stamp duty on the buy side
_STAMP: dict[tuple[A, bool], float] = {
    (A.EQUITY, True): 0.00015,
    (A.EQUITY, False): 0.00003,
    (A.EQUITY_FUTURE, False): 0.00002,
    (A.EQUITY_OPTION, False): 0.00003,
    (A.CURRENCY_FUTURE, False): 0.000001,
    (A.CURRENCY_OPTION, False): 0.000001,
    (A.COMMODITY_FUTURE, False): 0.00002,
    (A.COMMODITY_OPTION, False): 0.00003,
}

# SIM: (SPAN, exposure) as fractions of notional for futures and short options, by asset class.
_FUTURES_MARGIN: dict[tuple[A, bool], tuple[float, float]] = {
    # (asset class, index underlying?) -> (span, exposure)
    (A.EQUITY_FUTURE, True): (0.09, 0.02),
    (A.EQUITY_FUTURE, False): (0.15, 0.035),
    (A.CURRENCY_FUTURE, False): (0.02, 0.01),
    (A.COMMODITY_FUTURE, False): (0.08, 0.01),
}
_OPTION_UNDERLIER = {A.EQUITY_OPTION: A.EQUITY_FUTURE, A.CURRENCY_OPTION: A.CURRENCY_FUTURE}


def _derivative_key(asset: A, delivery: bool) -> tuple[A, bool]:
    # Only the cash market tells delivery from intraday; derivatives have one schedule.
    return (asset, delivery and asset is A.EQUITY)


def brokerage_rate(asset: A, delivery: bool, mtf: bool = False) -> tuple[float | None, float]:
    """Return (percentage of turnover or None, flat rupees per order) for an executed order."""
    if mtf:
        return _MTF_BROKERAGE
    return _BROKERAGE[_derivative_key(asset, delivery)]


def transaction_tax(asset: A, delivery: bool, on: date) -> tuple[float, bool, str]:
    """Return (rate, also on buys?, ``stt``/``ctt``/``""``) for a trade on day ``on``."""
    rate, both, name = _TAX[_derivative_key(asset, delivery)]
    if on >= STT_2026 and asset in _TAX_2026:
        rate = _TAX_2026[asset]
    return rate, both, name


def exchange_rate(asset: A, exchange: str) -> float:
    """Return the exchange transaction charge as a fraction of turnover (0 for an unlisted pair)."""
    return _EXCHANGE.get((asset, exchange), 0.0)


def stamp_rate(asset: A, delivery: bool) -> float:
    """Return the buy-side stamp duty as a fraction of turnover."""
    return _STAMP[_derivative_key(asset, delivery)]


def futures_margin(asset: A, index: bool) -> tuple[float, float]:
    """Return (SPAN, exposure) fractions of notional for a future, or the future under a short option."""
    base = _OPTION_UNDERLIER.get(asset, A.COMMODITY_FUTURE if asset is A.COMMODITY_OPTION else asset)
    return _FUTURES_MARGIN[(base, index and base is A.EQUITY_FUTURE)]
