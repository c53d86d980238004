"""The chart's candles and fills, and the option chain's rows, for the dashboard's Chart and Option chain pages.

Candles come from the dashboard's market data source (:mod:`kitekit.dashboard.source`: kitekit's history client
on Kite, a broker's neutral history on Upstox or Angel One; kept in the candle store when the dashboard has
one); the page extends them live from ticks. The option chain's analytics (change in OI from the previous close,
IV, max pain) are built on Kite's quotes and candles: on another data broker the page says so instead. Times go
to the page as epoch seconds shifted to IST, because the chart library draws its axis in UTC and a trader reads
the chart in exchange time.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST
from kitekit.dashboard.source import KiteSource
from kitekit.dashboard.views import money

if TYPE_CHECKING:
    from kitekit.dashboard.desk import Desk

__all__ = ["INTERVALS", "IST_SHIFT", "chain_unavailable", "chain_view", "chart_view"]

#: Seconds added to UTC epoch times so the chart's UTC axis reads IST.
IST_SHIFT = 19_800

#: The intervals the chart offers, and how many days back each shows.
INTERVALS: dict[str, int] = {"minute": 2, "5minute": 7, "15minute": 15, "60minute": 45, "day": 365}


def chart_view(desk: Desk, symbol: str, interval: str) -> dict[str, Any]:
    """Return the candles of ``symbol`` at ``interval`` up to now, and the day's fills on it as markers.

    Route: ``GET /instruments/historical/{instrument_token}/{interval}`` (or the data broker's candles).

    Raises:
        ValueError: an interval the chart does not offer.
        UnknownInstrumentError: nothing matches ``symbol``.
    """
    if interval not in INTERVALS:
        raise ValueError(f"interval must be one of {', '.join(INTERVALS)}, not {interval!r}")
    instrument = desk.market.instrument(symbol)
    now = desk.clock.now()
    frame = desk.call(desk.market.candles, instrument, interval, now - timedelta(days=INTERVALS[interval]), now)
    candles = [
        {"time": int(ts.timestamp()) + IST_SHIFT, "open": o, "high": h, "low": lo, "close": c}
        for ts, o, h, lo, c in zip(frame.index, frame["open"], frame["high"], frame["low"], frame["close"], strict=True)
    ]
    fills = []
    trades = [t for t in desk.call(desk.gateway.trades) if f"{t.exchange}:{t.tradingsymbol}" == instrument.key]
    # A broker whose trade book carries no fill time (Angel One's) is marked at its order's time.
    placed = {o.order_id: o.order_timestamp for o in desk.call(desk.gateway.orders)} if trades else {}
    for t in trades:
        when = t.fill_timestamp or placed.get(t.order_id)
        if when is None:
            continue
        fills.append({
            "time": int(when.timestamp()) + IST_SHIFT,
            "side": str(t.transaction_type),
            "quantity": t.quantity,
            "price": t.average_price,
            "text": f"{t.transaction_type} {t.quantity} @ {money(t.average_price)}",
        })  # fmt: skip
    desk.follow([instrument.token])
    return {
        "key": instrument.key,
        "instrument_token": instrument.token,
        "interval": interval,
        "seconds": _seconds(interval),
        "candles": candles,
        "fills": fills,
    }


def _seconds(interval: str) -> int:
    if interval == "day":
        return 86_400
    return 60 * int(interval.removesuffix("minute") or 1)


def _previous_oi(history: Any, tokens: list[int], day: Any) -> dict[int, float]:
    from kitekit.chain import previous_oi

    return previous_oi(history, tokens, day)


def chain_unavailable(desk: Desk) -> str | None:
    """Return why the option chain cannot be shown on this dashboard's data broker, None when it can."""
    if isinstance(desk.market, KiteSource):
        return None
    return (
        f"The option chain's analytics (change in OI, IV, PCR, max pain) are offered on Kite Connect only, and "
        f"this dashboard's market data comes from {desk.market.label}. Start it with --data kite to see them."
    )


def chain_view(desk: Desk, underlying: str, strikes: int) -> dict[str, Any]:
    """Return the option chain of ``underlying``: strikes around the money, LTP, OI and change in OI per side.

    The change in OI is the open interest now (the quote's ``oi``) less the contract's open interest at the
    previous session's close, as :func:`kitekit.chain.chain` computes it (and ``kitekit chain`` shows it). Kite's
    quote carries the OI now and the day's high and low, not a base to change from; the previous close comes from
    the contract's day candle with OI (``GET /instruments/historical/…/day?oi=1``), fetched once a day per contract
    and kept by the dashboard (and in the candle store when it has one), so it shows on a fresh start and costs
    nothing after the first look. A contract listed today has no previous close: its change is left blank.

    On another data broker it returns only ``unavailable``: the reason, which the page shows in its place.

    Route: ``GET /quote`` (and ``GET /instruments/historical/...`` once a day per contract).
    """
    from kitekit.chain import chain
    from kitekit.quotes import MarketData

    why = chain_unavailable(desk)
    source = desk.market
    if why is not None or not isinstance(source, KiteSource):
        return {"unavailable": why}
    store = source.store
    data = MarketData(source.kite, resolve=store.key)
    known = desk.previous_oi

    def snapshot(previous: dict[int, float]) -> Any:
        return desk.call(
            lambda: chain(store, data, underlying, clock=desk.clock, strikes=strikes, previous_oi=previous)
        )

    snap = snapshot(known.values(desk.clock.now().astimezone(IST).date()))
    day = snap.now.astimezone(IST).date()
    tokens = [int(t) for side in ("ce_token", "pe_token") for t in snap.columns[side].tolist() if t > 0]
    if known.missing(day, tokens):
        known.fetch(day, tokens, lambda missing: desk.call(_previous_oi, source.history(), missing, day))
        snap = snapshot(known.values(day))
    cols = snap.columns
    rows = []
    for i, strike in enumerate(snap.strikes.tolist()):
        row: dict[str, Any] = {"strike": strike, "atm": strike == snap.atm_strike}
        for side in ("ce", "pe"):
            for name in ("ltp", "oi", "oi_change", "iv"):
                value = cols.get(f"{side}_{name}")
                v = float(value[i]) if value is not None else math.nan
                row[f"{side}_{name}"] = None if math.isnan(v) else v
        rows.append(row)
    return {
        "underlying": snap.underlying,
        "expiry": snap.expiry.isoformat(),
        "now": snap.now.astimezone(IST).strftime("%Y-%m-%d %H:%M:%S IST"),
        "forward": snap.forward,
        "atm_strike": snap.atm_strike,
        "pcr_oi": None if math.isnan(snap.pcr_oi) else snap.pcr_oi,
        "max_pain": snap.max_pain,
        "rows": rows,
    }
