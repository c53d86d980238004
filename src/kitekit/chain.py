"""Option chains with analytics from live quotes: one batched quote call, then :mod:`kitekit.options` on the snapshot.

:func:`chain` reads the chain's strikes from the instrument store, quotes every contract (``GET /quote``, 500 a
call) with the same-expiry future and the spot, and returns :class:`~kitekit.options.ChainAnalytics`.

The forward the options are valued on is, in order: the future expiring with the options (its mid price, else
its last price); else put-call parity at the strikes nearest the money, F = K + e^(r tau) (C - P); else the
nearest future carried to the options' expiry at the rate; else the spot carried at the rate.

Change in OI: Kite's quote has the open interest now (``oi``) and the day's high and low, not the previous
session's close. That comes from the previous session's day candle with ``oi=1``: :func:`previous_oi` fetches it
through a :class:`~kitekit.history.History` (its candle store keeps it, so each contract costs one historical
call a day) and :func:`chain` takes the result as ``previous_oi``; without it the change and build-up are blank.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from kitekit.clock import Clock, clock_of
from kitekit.errors import KitekitError
from kitekit.options import DEFAULT_RATE, ChainAnalytics, ChainSide, analyse_chain, parity_forward, years_to_expiry
from kitekit.options.expiry import SECONDS_PER_YEAR, expiry_moment

if TYPE_CHECKING:
    from kitekit.history import History
    from kitekit.instruments import InstrumentStore
    from kitekit.quotes import MarketData

__all__ = ["chain", "live_expiry", "previous_oi"]


def live_expiry(store: InstrumentStore, underlying: str, now: datetime, exchange: str | None = None) -> date:
    """Return the nearest expiry of ``underlying``'s options that has not expired at ``now`` (15:30 IST).

    On an expiry day after 15:30 that is the next expiry (the day's contracts are still in the day's dump).

    Raises:
        UnknownInstrumentError: no live options on that underlying.
    """
    expiries = store.expiries(underlying, exchange)
    return next((d for d in expiries if expiry_moment(d) > now), expiries[-1])


def chain(
    store: InstrumentStore,
    data: MarketData,
    underlying: str,
    expiry: date | str | None = None,
    *,
    clock: Clock | None = None,
    rate: float = DEFAULT_RATE,
    previous_oi: Mapping[int, float] | None = None,
    strikes: int | None = None,
    exchange: str | None = None,
) -> ChainAnalytics:
    """Return the option chain of ``underlying`` with IV, greeks, OI change and build-up, PCR, max pain and ATM IV.

    Route: ``GET /quote`` (500 instruments a call) for every option of the expiry, its future and the spot.

    Args:
        store: the instrument store (loaded).
        data: the quotes source.
        underlying: "NIFTY", "BANKNIFTY", "RELIANCE"…
        expiry: a date or ``yyyy-mm-dd``; None for the nearest one not yet expired (see :func:`live_expiry`).
        clock: what "now" is; default the client's (:func:`kitekit.clock.clock_of`), a simulator's on one.
        rate: the risk-free rate (6.5% by default).
        previous_oi: each token's open interest at the previous session's close (see :func:`previous_oi`).
        strikes: keep only this many strikes each side of the spot (all when None).
        exchange: where the options are listed (default as the store picks).

    Raises:
        UnknownInstrumentError: no live options on ``underlying``.
        ValueError: ``expiry`` is not one of its expiries (the message lists them).
        TokenException: the session is dead.
    """
    now = (clock or clock_of(data.kite)).now()
    chosen = expiry if expiry is not None else live_expiry(store, underlying, now, exchange)
    table = store.option_chain(underlying, chosen, exchange)
    day: date = table["expiry"].iloc[0]
    strike = table["strike"].to_numpy(dtype=np.float64)
    ce = table["ce_token"].to_numpy(dtype=np.float64, na_value=np.nan)
    pe = table["pe_token"].to_numpy(dtype=np.float64, na_value=np.nan)
    future, spot_key = _future_and_spot(store, underlying, day, exchange)
    extra: list[str | int] = [f.instrument_token for f in future] + ([spot_key] if spot_key else [])
    tokens = [int(t) for t in np.concatenate((ce, pe)) if np.isfinite(t)]
    quotes = data.quote(*tokens, *extra, strict=False)
    spot = _price(quotes.get(spot_key) if spot_key else None)
    if strikes is not None and np.isfinite(spot) and strike.size:
        centre = int(np.argmin(np.abs(strike - spot)))
        keep = slice(max(centre - strikes, 0), centre + strikes + 1)
        strike, ce, pe = strike[keep], ce[keep], pe[keep]
    tau = years_to_expiry(day, now)
    calls, puts = (_side(quotes, side, previous_oi) for side in (ce, pe))
    forward, source = _forward(quotes, future, day, strike, calls, puts, tau, rate, spot)
    lot = int(table["lot_size"].iloc[0]) if len(table) else 0
    label = underlying.upper()
    return analyse_chain(label, day, now, tau, strike, calls, puts, forward, source, rate, lot)


def previous_oi(history: History, tokens: Iterable[int], day: date) -> dict[int, float]:
    """Return each token's open interest at the close of the last session before ``day``, from day candles.

    Route: ``GET /instruments/historical/{instrument_token}/day`` with ``oi=1``, once per token not yet in the
    history's candle store. A token without a candle then (listed that day) is left out.
    """
    out: dict[int, float] = {}
    start = day - timedelta(days=10)  # the previous session is at most a long weekend and a holiday back
    end = day - timedelta(days=1)
    for token in tokens:
        candles = history.candles(int(token), "day", start, end, oi=True)
        if len(candles):
            out[int(token)] = float(candles["oi"].iloc[-1])
    return out


def _future_and_spot(store: InstrumentStore, underlying: str, day: date, exchange: str | None) -> tuple[list[Any], str]:
    """Return (the futures to quote: the same-expiry one first, else the nearest; the spot's key or "")."""
    try:
        futures = store.futures(underlying, exchange)
    except KitekitError:
        futures = []
    same = [f for f in futures if f.expiry == day]
    picked = same or futures[:1]
    try:
        spot_key = store.key(underlying)
    except KitekitError:  # a commodity: no spot instrument
        spot_key = ""
    if any(spot_key == f.key for f in futures):
        spot_key = ""
    return picked, spot_key


def _price(quote: Mapping[str, Any] | None) -> float:
    if not quote:
        return float("nan")
    last = float(quote.get("last_price") or 0.0)
    return last if last > 0 else float("nan")


def _mid(quote: Mapping[str, Any] | None) -> float:
    """Return the mid of the best bid and offer, else the last price (NaN without either)."""
    if not quote:
        return float("nan")
    depth = quote.get("depth") or {}
    buy, sell = (depth.get(side) or [{}] for side in ("buy", "sell"))
    bid, ask = float(buy[0].get("price") or 0.0), float(sell[0].get("price") or 0.0)
    return 0.5 * (bid + ask) if bid > 0 and ask > 0 else _price(quote)


def _side(quotes: Mapping[Any, Any], tokens: np.ndarray, previous: Mapping[int, float] | None) -> ChainSide:
    n = tokens.size
    cols = {name: np.full(n, np.nan) for name in ("ltp", "bid", "ask", "volume", "oi", "prev_oi", "prev_close")}
    token = np.where(np.isfinite(tokens), tokens, -1).astype(np.int64)
    for i, t in enumerate(token.tolist()):
        q = quotes.get(t) if t >= 0 else None
        if not q:
            continue
        depth = q.get("depth") or {}
        bid = float(((depth.get("buy") or [{}])[0]).get("price") or 0.0)
        ask = float(((depth.get("sell") or [{}])[0]).get("price") or 0.0)
        cols["ltp"][i] = float(q.get("last_price") or 0.0)
        cols["bid"][i] = bid if bid > 0 else np.nan
        cols["ask"][i] = ask if ask > 0 else np.nan
        cols["volume"][i] = float(q.get("volume") or 0)
        cols["oi"][i] = float(q.get("oi") or 0)
        close = float((q.get("ohlc") or {}).get("close") or 0.0)
        cols["prev_close"][i] = close if close > 0 else np.nan
        if previous is not None and t in previous:
            cols["prev_oi"][i] = float(previous[t])
    return ChainSide(token=token, **cols)


def _forward(
    quotes: Mapping[Any, Any],
    future: list[Any],
    day: date,
    strikes: np.ndarray,
    calls: ChainSide,
    puts: ChainSide,
    tau: float,
    rate: float,
    spot: float,
) -> tuple[float, str]:
    """Return (forward, where it came from); see the module docstring for the order."""
    if future and future[0].expiry == day:
        price = _mid(quotes.get(future[0].instrument_token))
        if np.isfinite(price):
            return price, "future"
    guess = spot if np.isfinite(spot) else float(np.median(strikes)) if strikes.size else float("nan")
    parity = parity_forward(strikes, calls, puts, tau, rate, guess) if tau > 0 else float("nan")
    if np.isfinite(parity) and parity > 0:
        return parity, "parity"
    if future:
        price = _mid(quotes.get(future[0].instrument_token))
        if np.isfinite(price):
            # From the future's expiry back (or on) to the options': F_o = F_f e^(r (T_o - T_f)).
            gap = (expiry_moment(day) - expiry_moment(future[0].expiry)).total_seconds() / SECONDS_PER_YEAR
            return price * float(np.exp(rate * gap)), "future carried"
    if np.isfinite(spot):
        return spot * float(np.exp(rate * tau)), "spot carried"
    return float("nan"), ""
