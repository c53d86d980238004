"""IV and OI history of an option strike or of the at-the-money, from day candles with OI kept in a candle store.

:func:`iv_history` fetches the day candles (``oi=1``) of the expiry's future and of the strikes it needs through
a :class:`~kitekit.history.History`; with a candle store each closed session is fetched once and read from the
store after, so asking again costs no request. :mod:`kitekit.options.history` turns them into IVs.

Kite keeps no candles of expired options' tokens in its dump, so the history is that of the contracts listed
now: a monthly's reaches back about three months, a weekly's about four weeks (whatever the window asked).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING

import numpy as np

from kitekit.clock import IST
from kitekit.errors import KitekitError
from kitekit.options import DEFAULT_RATE, years_to_expiry
from kitekit.options.expiry import SECONDS_PER_YEAR, expiry_moment
from kitekit.options.history import IVHistory, nearest_strikes, session_ivs

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.history import History
    from kitekit.instruments import InstrumentStore
    from kitekit.wire.instruments_csv import Instrument

__all__ = ["iv_history"]


def iv_history(
    history: History,
    underlying: str,
    expiry: date | str | None = None,
    *,
    strike: float | None = None,
    days: int = 60,
    end: date | None = None,
    rate: float = DEFAULT_RATE,
    exchange: str | None = None,
) -> IVHistory:
    """Return the IV and OI of ``underlying``'s options session by session over the last ``days`` calendar days.

    Route: ``GET /instruments/historical/{instrument_token}/day`` with ``oi=1``, for the future and for each
    strike's call and put (only windows the history's candle store does not hold).

    Args:
        history: fetches and keeps candles; its clock says what "now" is.
        underlying: "NIFTY", "BANKNIFTY", "RELIANCE"…
        expiry: a date or ``yyyy-mm-dd``; None for the nearest not yet expired (15:30 IST on its day).
        strike: one strike's series; None for the at-the-money series (each session, the strike nearest
            that session's forward).
        days: how far back, in calendar days.
        end: the last session; None for today's (its candles still forming: fetched on every call).
        rate: the risk-free rate.
        exchange: where the options are listed (default as the instrument store picks).

    Raises:
        UnknownInstrumentError: no live options on ``underlying``.
        ValueError: ``expiry`` is not one of its expiries, or ``strike`` is not listed for it.
    """
    from kitekit.chain import live_expiry

    store = history.instruments
    now = history.clock.now()
    chosen = expiry if expiry is not None else live_expiry(store, underlying, now, exchange)
    table = store.option_chain(underlying, chosen, exchange)
    day: date = table["expiry"].iloc[0]
    strikes = table["strike"].to_numpy(dtype=np.float64)
    if strike is not None and not np.any(strikes == strike):
        near = strikes[np.argsort(np.abs(strikes - strike))[:3]]
        raise ValueError(
            f"{strike:g} is not a listed strike of {day}; the nearest are {', '.join(f'{k:g}' for k in near)}"
        )
    last = end or now.astimezone(IST).date()
    start = last - timedelta(days=days)
    until: date | datetime = last if end is not None else now
    reference, carry = _forward_source(store, underlying, day, exchange)
    base = history.candles(reference, "day", start, until, oi=False)
    sessions = [t.date() for t in base.index]
    forward = base["close"].to_numpy(dtype=np.float64) * _carry(sessions, day, carry, rate, now)
    chosen_strike = np.full(len(sessions), float(strike)) if strike is not None else nearest_strikes(forward, strikes)
    tokens = {float(k): (table["ce_token"].iloc[i], table["pe_token"].iloc[i]) for i, k in enumerate(strikes.tolist())}
    closes = {side: np.full(len(sessions), np.nan) for side in ("ce_close", "pe_close", "ce_oi", "pe_oi")}
    for k in np.unique(chosen_strike[np.isfinite(chosen_strike)]).tolist():
        on = chosen_strike == k
        for side, token in zip(("ce", "pe"), tokens[k], strict=True):
            if token is None or token != token:  # a strike listing one side only (pandas NA)
                continue
            frame = history.candles(int(token), "day", start, until, oi=True)
            close, oi = _aligned(frame, sessions)
            closes[f"{side}_close"][on] = close[on]
            closes[f"{side}_oi"][on] = oi[on]
    tau = np.array([years_to_expiry(day, min(_session_close(d), now)) for d in sessions])
    call_iv, put_iv, iv = session_ivs(closes["ce_close"], closes["pe_close"], forward, chosen_strike, tau, rate)
    return IVHistory(
        underlying=underlying.upper(),
        expiry=day,
        days=sessions,
        strike=chosen_strike,
        forward=forward,
        tau=tau,
        call_close=closes["ce_close"],
        put_close=closes["pe_close"],
        call_iv=call_iv,
        put_iv=put_iv,
        iv=iv,
        call_oi=closes["ce_oi"],
        put_oi=closes["pe_oi"],
        atm=strike is None,
    )


def _forward_source(
    store: InstrumentStore, underlying: str, day: date, exchange: str | None
) -> tuple[int | str, date | None]:
    """Return (what to fetch for the forward, the expiry its price is for: None for a spot carried).

    The future expiring with the options; else the nearest future; else the underlying itself.
    """
    try:
        futures: list[Instrument] = store.futures(underlying, exchange)
    except KitekitError:
        futures = []
    same = [f for f in futures if f.expiry == day]
    picked = same or futures[:1]
    if picked and picked[0].expiry is not None:
        return picked[0].instrument_token, picked[0].expiry
    return store.key(underlying), None


def _carry(sessions: list[date], day: date, source: date | None, rate: float, now: datetime) -> np.ndarray:
    """Return the factor taking the fetched closes to the options' forward: 1 for the same-expiry future."""
    if source == day:
        return np.ones(len(sessions))
    if source is not None:  # another future: from its expiry to the options'
        gap = (expiry_moment(day) - expiry_moment(source)).total_seconds() / SECONDS_PER_YEAR
        return np.full(len(sessions), np.exp(rate * gap))
    # The spot: carried from each session's close to expiry.
    return np.array([np.exp(rate * years_to_expiry(day, min(_session_close(d), now))) for d in sessions])


def _session_close(day: date) -> datetime:
    return datetime.combine(day, time(15, 30), tzinfo=IST)


def _aligned(frame: pd.DataFrame, sessions: list[date]) -> tuple[np.ndarray, np.ndarray]:
    """Return (close, oi) of ``frame``'s day candles on ``sessions`` (NaN on a session without a candle)."""
    at = {t.date(): i for i, t in enumerate(frame.index)}
    rows = np.array([at.get(d, -1) for d in sessions], dtype=np.int64)
    close = frame["close"].to_numpy(dtype=np.float64)
    oi = frame["oi"].to_numpy(dtype=np.float64) if "oi" in frame else np.full(len(frame), np.nan)
    have = rows >= 0
    out_close, out_oi = np.full(len(sessions), np.nan), np.full(len(sessions), np.nan)
    out_close[have], out_oi[have] = close[rows[have]], oi[rows[have]]
    return out_close, out_oi
