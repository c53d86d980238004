"""Kite's market data API: quotes (``/quote``, ``/quote/ohlc``, ``/quote/ltp``), the dump, history, trigger ranges.

Requests are checked and answers shaped by plain functions over the :class:`Market`; the handlers only read
the request and run the numeric work off the event loop.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kitekit.sim.auth import Grant
from kitekit.sim.errors import invalid_input
from kitekit.sim.http.edge import Handler, flag
from kitekit.sim.market import ContractKind, Market, Snapshot
from kitekit.wire.formats import format_candle_time, format_timestamp, parse_kite_datetime
from kitekit.wire.history import Interval
from kitekit.wire.routes import EXCHANGES, QuoteEndpoint

if TYPE_CHECKING:
    from kitekit.sim.http.state import SimState

__all__ = [
    "HistoryQuery",
    "candles_payload",
    "check_exchange",
    "parse_history_query",
    "quote_keys",
    "quote_payload",
    "quotes",
    "routes",
    "trigger_range_payload",
]

# `from` and `to` as Kite takes them: yyyy-mm-dd, optionally with hh:mm:ss (re.ASCII: \d is 0-9 only).
_KITE_MOMENT = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}:\d{2})?", re.ASCII)

#: LTP requests of up to this many keys are answered on the event loop, without a worker thread.
_INLINE_LTP = 50

#: SIM: how far either side of the last price a cover order's stop-loss trigger may be (Kite does not publish
#: its bands; its documentation's example spans about ±3%).
TRIGGER_BAND = 0.03

# The full-quote fields read straight off a snapshot, one list per field for the whole batch.
_QUOTE_COLUMNS = (
    "last_quantity",
    "buy_quantity",
    "sell_quantity",
    "volume",
    "average_price",
    "oi",
    "oi_day_high",
    "oi_day_low",
    "lower_circuit",
    "upper_circuit",
    "close",
    "last_trade_lag",
    "traded",
)


# -- quotes ----------------------------------------------------------------------------------------
def quote_keys(values: list[str], endpoint: QuoteEndpoint) -> list[str]:
    """Return the distinct instrument keys of a quote request, in order.

    Raises:
        RejectionError: no key, or more than the endpoint's batch limit (400 InputException).
    """
    keys = list(dict.fromkeys(values))
    if not keys:
        raise invalid_input("No instruments specified. Pass one or more `i` parameters.")
    limit = endpoint.batch_limit
    if len(keys) > limit:
        raise invalid_input(f"Too many instruments. A request to {endpoint.path} takes at most {limit}.")
    return keys


def quotes(market: Market, endpoint: QuoteEndpoint, keys: list[str], now: datetime) -> dict[str, Any]:
    """Return the ``data`` of a quote call at ``now``: keyed by the keys as sent, unknown ones left out."""
    uni = market.universe(now)
    found = [(k, r) for k in keys if (r := uni.resolve(k)) is not None]
    if not found:
        return {}
    rows = np.array([r for _, r in found])
    if endpoint is QuoteEndpoint.LTP:  # the commonest call needs the price alone
        prices = market.last_prices(uni, rows, now).tolist()
        tokens = uni.token[rows].tolist()
        return {key: {"instrument_token": tokens[i], "last_price": prices[i]} for i, (key, _) in enumerate(found)}
    snap = market.snapshot(uni, rows, now)
    return quote_payload(endpoint, snap, [k for k, _ in found])


def quote_payload(endpoint: QuoteEndpoint, snap: Snapshot, keys: list[str]) -> dict[str, Any]:
    """Return the items ``endpoint`` answers for the rows of ``snap``, keyed by ``keys`` (one per row)."""
    tokens = snap.tokens.tolist()
    ltp = snap.last_price.tolist()
    if endpoint is QuoteEndpoint.LTP:
        return {key: {"instrument_token": tokens[i], "last_price": ltp[i]} for i, key in enumerate(keys)}
    ohlc = [
        {"open": o, "high": h, "low": lo, "close": c}
        for o, h, lo, c in zip(
            snap.open.tolist(), snap.high.tolist(), snap.low.tolist(), snap.close.tolist(), strict=True
        )
    ]
    if endpoint is QuoteEndpoint.OHLC:
        return {
            key: {"instrument_token": tokens[i], "last_price": ltp[i], "ohlc": ohlc[i]} for i, key in enumerate(keys)
        }
    moment = snap.point.moment
    stamp = format_timestamp(moment)
    trade_times = {lag: format_timestamp(moment - timedelta(seconds=lag)) for lag in set(snap.last_trade_lag.tolist())}
    book = snap.book()
    cols = {name: getattr(snap, name).tolist() for name in _QUOTE_COLUMNS}
    out: dict[str, Any] = {}
    for i, key in enumerate(keys):
        bids, asks = book.levels(i)
        out[key] = {
            "instrument_token": tokens[i],
            "timestamp": stamp,
            # A contract that never traded has no last trade time (the SDK leaves the null as None).
            "last_trade_time": trade_times[cols["last_trade_lag"][i]] if cols["traded"][i] else None,
            "last_price": ltp[i],
            "last_quantity": cols["last_quantity"][i],
            "buy_quantity": cols["buy_quantity"][i],
            "sell_quantity": cols["sell_quantity"][i],
            "volume": cols["volume"][i],
            "average_price": cols["average_price"][i],
            "oi": cols["oi"][i],
            "oi_day_high": cols["oi_day_high"][i],
            "oi_day_low": cols["oi_day_low"][i],
            "net_change": round(ltp[i] - cols["close"][i], 4),
            "lower_circuit_limit": cols["lower_circuit"][i],
            "upper_circuit_limit": cols["upper_circuit"][i],
            "ohlc": ohlc[i],
            "depth": {
                "buy": [{"price": p, "quantity": q, "orders": o} for p, q, o in bids],
                "sell": [{"price": p, "quantity": q, "orders": o} for p, q, o in asks],
            },
        }
    return out


def trigger_range_payload(market: Market, side: str, keys: list[str], now: datetime) -> dict[str, Any]:
    """Return the ``data`` of ``GET /instruments/trigger_range/{buy|sell}``: per key, the trigger band.

    Raises:
        RejectionError: a side other than buy or sell, no key, or more than 1000 (400 InputException).
    """
    if side not in ("buy", "sell"):
        raise invalid_input("Invalid `transaction_type`. Use buy or sell.")
    keys = quote_keys(keys, QuoteEndpoint.LTP)
    uni = market.universe(now)
    found = [(k, r) for k in keys if (r := uni.resolve(k)) is not None]
    if not found:
        return {}
    snap = market.snapshot(uni, np.array([r for _, r in found]), now)
    out: dict[str, Any] = {}
    for i, (key, _) in enumerate(found):
        ltp, tick = float(snap.last_price[i]), float(snap.tick[i]) or 0.05
        out[key] = {
            "instrument_token": int(snap.tokens[i]),
            "lower": round(math.ceil(ltp * (1 - TRIGGER_BAND) / tick) * tick, 4),
            "upper": round(math.floor(ltp * (1 + TRIGGER_BAND) / tick) * tick, 4),
        }
    return out


# -- instruments -----------------------------------------------------------------------------------
def check_exchange(exchange: str | None) -> None:
    """Raise a 400 InputException unless ``exchange`` is None (the whole dump) or one Kite lists."""
    if exchange is not None and exchange not in EXCHANGES:
        raise invalid_input(f"Invalid exchange {exchange!r}. Use one of {', '.join(EXCHANGES)}.")


# -- history ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HistoryQuery:
    """A checked historical-candles request."""

    token: str
    interval: Interval
    start: datetime
    end: datetime
    continuous: bool
    oi: bool


def parse_history_query(token: str, interval_text: str, query: Mapping[str, str]) -> HistoryQuery:
    """Check the path and query of ``GET /instruments/historical/{token}/{interval}``.

    Args:
        token: the path's instrument token, as text.
        interval_text: the path's interval.
        query: ``from``, ``to`` (``yyyy-mm-dd hh:mm:ss`` or ``yyyy-mm-dd``), ``continuous``, ``oi``.

    Raises:
        RejectionError: anything Kite refuses with 400 InputException: a bad token, interval or date, ``from``
            after ``to``, a span over the interval's limit, ``continuous`` with an intraday interval.
    """
    if not (token.isascii() and token.isdigit()):
        raise invalid_input("invalid token")
    try:
        interval = Interval(interval_text)
    except ValueError:
        names = ", ".join(i.value for i in Interval)
        raise invalid_input(f"invalid interval {interval_text!r}; use one of {names}") from None
    if not query.get("from") or not query.get("to"):
        raise invalid_input("`from` and `to` are required (yyyy-mm-dd hh:mm:ss).")
    for name in ("from", "to"):
        # Exactly Kite's two forms: no spaces or newline around them, ASCII digits only.
        if not _KITE_MOMENT.fullmatch(query[name]):
            raise invalid_input(
                f"invalid from/to date: `{name}` {query[name]!r} is not yyyy-mm-dd hh:mm:ss or yyyy-mm-dd"
            )
    try:
        start = parse_kite_datetime(query["from"])
        end = parse_kite_datetime(query["to"])
    except ValueError as exc:
        raise invalid_input(f"invalid from/to date: {exc}") from None
    if len(query["to"]) == 10:
        end += timedelta(days=1, seconds=-1)  # SIM: a bare `to` date means the whole of that day
    if end < start:
        raise invalid_input("`from` date is after `to` date.")
    if end - start > timedelta(days=interval.max_days):
        raise invalid_input(f"interval exceeds max limit: {interval.max_days} days")
    continuous, with_oi = flag(query.get("continuous")), flag(query.get("oi"))
    if continuous and interval.intraday:
        raise invalid_input("continuous data is available only for the `day` interval")
    return HistoryQuery(token, interval, start, end, continuous, with_oi)


def candles_payload(market: Market, query: HistoryQuery, now: datetime) -> dict[str, Any]:
    """Return the ``data`` of a historical call at ``now``: ``{"candles": [[time, o, h, l, c, v(, oi)], …]}``.

    Raises:
        RejectionError: the token is not listed today or in the previous dump, an expired contract is asked for
            anything but day candles, or ``continuous`` is asked of anything but a future (400).
    """
    uni = market.universe(now)
    row = uni.resolve(query.token)
    if row is None:
        # Kite keeps the day candles of expired contracts; the simulator serves those of the contracts the
        # previous dump listed (the dump kitekit's instrument store keeps to resolve them).
        uni = market.previous_universe(now)
        row = uni.resolve(query.token)
        if row is None:
            raise invalid_input("invalid token")
        if query.interval is not Interval.DAY:
            raise invalid_input("only day candles are kept for expired contracts")
    if query.continuous and uni.kind[row] != ContractKind.FUT:
        raise invalid_input("continuous data is available only for futures")
    candles = market.candles(uni, row, query.interval, query.start, query.end, now, query.oi, query.continuous)
    for c in candles:
        c[0] = format_candle_time(c[0])  # type: ignore[arg-type]
    return {"candles": candles}


# -- routes ----------------------------------------------------------------------------------------
def routes(sim: SimState) -> list[BaseRoute]:
    """Return the market data routes: one per quote endpoint, the dump, history."""

    def quote_handler(endpoint: QuoteEndpoint) -> Handler:
        async def quote(request: Request, grant: Grant | None) -> Any:
            """``GET /quote``, ``/quote/ohlc`` or ``/quote/ltp`` with repeated ``i``."""
            keys = quote_keys(request.query_params.getlist("i"), endpoint)
            if endpoint is QuoteEndpoint.LTP and len(keys) <= _INLINE_LTP:
                # A few prices take less time than the hop to a worker thread and back.
                return quotes(sim.market, endpoint, keys, sim.clock.now())
            return await run_in_threadpool(quotes, sim.market, endpoint, keys, sim.clock.now())

        return quote

    async def instruments(request: Request, grant: Grant | None) -> Any:
        """``GET /instruments`` and ``GET /instruments/{exchange}``: the CSV dump, gzip when accepted."""
        exchange = request.path_params.get("exchange")
        check_exchange(exchange)
        uni = await run_in_threadpool(sim.market.universe, sim.clock.now())
        raw, gz = await run_in_threadpool(uni.dump, exchange)
        if "gzip" in request.headers.get("accept-encoding", ""):
            return Response(gz, media_type="text/csv", headers={"content-encoding": "gzip"})
        return Response(raw, media_type="text/csv")

    async def trigger_range(request: Request, grant: Grant | None) -> Any:
        """``GET /instruments/trigger_range/{buy|sell}`` with repeated ``i``: a cover order's trigger band."""
        side, keys = request.path_params["transaction_type"], request.query_params.getlist("i")
        return await run_in_threadpool(trigger_range_payload, sim.market, side, keys, sim.clock.now())

    async def historical(request: Request, grant: Grant | None) -> Any:
        """``GET /instruments/historical/{token}/{interval}?from=…&to=…&continuous=0|1&oi=0|1``."""
        p = request.path_params
        query = parse_history_query(p["token"], p["interval"], request.query_params)
        return await run_in_threadpool(candles_payload, sim.market, query, sim.clock.now())

    return [
        *(Route(endpoint.path, sim.api(quote_handler(endpoint)), methods=["GET"]) for endpoint in QuoteEndpoint),
        Route("/instruments", sim.api(instruments), methods=["GET"]),
        Route("/instruments/historical/{token}/{interval}", sim.api(historical), methods=["GET"]),
        Route("/instruments/trigger_range/{transaction_type}", sim.api(trigger_range), methods=["GET"]),
        Route("/instruments/{exchange}", sim.api(instruments), methods=["GET"]),
    ]
