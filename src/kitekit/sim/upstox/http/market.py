"""Upstox's market data: quotes v2 and v3 (full, OHLC, LTP; at most 500 keys), the instruments dump.

v2 takes its keys as ``symbol`` and v3 as ``instrument_key`` (comma-separated either way); answers are keyed
``SEGMENT:TRADING_SYMBOL`` with the instrument key inside each item as ``instrument_token``. A key that is
not well-formed is refused (400); a well-formed one that lists nothing is left out of the answer.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from kitekit.clock import IST
from kitekit.sim.market import Snapshot
from kitekit.sim.upstox.auth import UpstoxGrant
from kitekit.sim.upstox.catalog import UpstoxListing
from kitekit.wire.history import Interval
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.keys import parse_instrument_key
from kitekit.wire.upstox.routes import QUOTE_KEY_LIMIT
from kitekit.wire.upstox.routes import Route as Paths

if TYPE_CHECKING:
    from kitekit.sim.upstox.http.state import UpstoxState

__all__ = ["DUMP_PATH", "quote_rows", "routes"]

#: Where the simulator serves the dump (the path of Upstox's assets URL).
DUMP_PATH = "/market-quote/instruments/exchange/complete.json.gz"

_OHLC_INTERVALS = {"1d": None, "I1": Interval.MINUTE, "I30": Interval.MINUTE_30}


def quote_rows(listing: UpstoxListing, text: str | None, name: str) -> list[int]:
    """Return the listed rows of a comma-separated key list, in order, unknown keys left out.

    Raises:
        UpstoxError: no key, more than 500 (UDAPI100043), or a key that is not well-formed.
    """
    keys = [k for k in dict.fromkeys((text or "").split(",")) if k]
    if not keys:
        raise UpstoxError(UDAPI.INVALID_INPUT, f"{name} is required", name)
    if len(keys) > QUOTE_KEY_LIMIT:
        raise UpstoxError(UDAPI.TOO_MANY_KEYS, property_path=name, invalid_value=len(keys))
    rows = []
    for key in keys:
        if parse_instrument_key(key) is None:
            raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid Instrument key", name, key)
        row = listing.resolve(key)
        if row is not None:
            rows.append(row)
    return rows


def _stamp(moment: datetime) -> str:
    return moment.astimezone(IST).isoformat(timespec="milliseconds")


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _full(listing: UpstoxListing, snap: Snapshot, rows: list[int], v3: bool) -> dict[str, Any]:
    moment = snap.point.moment
    book = snap.book()
    out: dict[str, Any] = {}
    for i, row in enumerate(rows):
        bids, asks = book.levels(i)
        ltp, close = float(snap.last_price[i]), float(snap.close[i])
        ohlc: dict[str, Any] = {
            "open": float(snap.open[i]),
            "high": float(snap.high[i]),
            "low": float(snap.low[i]),
            "close": ltp,  # Upstox's day ohlc closes at the last price
        }
        if v3:
            ohlc |= {
                "volume": int(snap.volume[i]),
                "ts": _millis(datetime.combine(moment.date(), datetime.min.time(), IST)),
            }
        item: dict[str, Any] = {
            "ohlc": ohlc,
            "depth": {
                "buy": [{"quantity": q, "price": p, "orders": o} for p, q, o in bids],
                "sell": [{"quantity": q, "price": p, "orders": o} for p, q, o in asks],
            },
            "timestamp": _stamp(moment),
            "instrument_token": listing.keys[row],
            "symbol": listing.trading_symbol(row),
            "last_price": ltp,
            "volume": int(snap.volume[i]),
            "average_price": float(snap.average_price[i]),
            "oi": float(snap.oi[i]),
            "net_change": round(ltp - close, 4),
            "total_buy_quantity": float(snap.buy_quantity[i]),
            "total_sell_quantity": float(snap.sell_quantity[i]),
            "lower_circuit_limit": float(snap.lower_circuit[i]),
            "upper_circuit_limit": float(snap.upper_circuit[i]),
            "last_trade_time": str(_millis(moment - timedelta(seconds=int(snap.last_trade_lag[i])))),
            "oi_day_high": float(snap.oi_day_high[i]),
            "oi_day_low": float(snap.oi_day_low[i]),
        }
        if v3:
            item["prev_close_price"] = close
        out[listing.quote_key(row)] = item
    return out


def _quotes(state: UpstoxState, kind: str, rows: list[int], v3: bool, interval: str | None) -> dict[str, Any]:
    now = state.clock.now()
    listing = state.listing()
    if not rows:
        return {}
    uni = listing.universe
    snap = state.market.snapshot(uni, np.array(rows), now)
    if kind == "full":
        return _full(listing, snap, rows, v3)
    out: dict[str, Any] = {}
    for i, row in enumerate(rows):
        ltp = float(snap.last_price[i])
        item: dict[str, Any] = {"last_price": ltp, "instrument_token": listing.keys[row]}
        if kind == "ltp" and v3:
            item |= {"ltq": int(snap.last_quantity[i]), "volume": int(snap.volume[i]), "cp": float(snap.close[i])}
        elif kind == "ohlc":
            day: dict[str, Any] = {
                "open": float(snap.open[i]),
                "high": float(snap.high[i]),
                "low": float(snap.low[i]),
                "close": ltp,
            }
            base = _OHLC_INTERVALS.get(interval or "1d")
            if base is not None:  # the running candle of the interval
                start = now - timedelta(minutes=base.minutes)
                candles = state.market.candles(uni, row, base, start, now, now)
                if candles:
                    c = candles[-1]
                    day = {"open": c[1], "high": c[2], "low": c[3], "close": c[4]}
            if v3:
                ts = _millis(datetime.combine(snap.point.moment.date(), datetime.min.time(), IST))
                item["live_ohlc"] = {**day, "volume": int(snap.volume[i]), "ts": ts}
                item["prev_ohlc"] = {**day, "close": float(snap.close[i]), "volume": 0, "ts": ts - 86_400_000}
            else:
                item["ohlc"] = day
        out[listing.quote_key(row)] = item
    return out


def routes(state: UpstoxState) -> list[BaseRoute]:
    """Return the quote routes and the dump."""

    def quote(kind: str, v3: bool) -> Any:
        name = "instrument_key" if v3 else "symbol"

        async def handler(request: Request, grant: UpstoxGrant | None) -> Any:
            """``GET /v{2,3}/market-quote/{quotes|ohlc|ltp}?{symbol|instrument_key}=K1,K2[&interval=1d|I1|I30]``."""
            interval = request.query_params.get("interval")
            if kind == "ohlc" and interval not in _OHLC_INTERVALS:
                raise UpstoxError(UDAPI.INVALID_INPUT, "interval must be 1d, I1 or I30", "interval", interval)
            rows = quote_rows(state.listing(), request.query_params.get(name), name)
            return await run_in_threadpool(_quotes, state, kind, rows, v3, interval)

        return handler

    async def dump(request: Request) -> Response:
        """``GET /market-quote/instruments/exchange/complete.json.gz``: the gzipped JSON dump (no token)."""
        body = await run_in_threadpool(state.catalog.dump, state.clock.now())
        return Response(body, media_type="application/gzip")

    out: list[BaseRoute] = [Route(DUMP_PATH, dump, methods=["GET"])]
    for path, kind, v3 in (
        (Paths.QUOTES_V2, "full", False),
        (Paths.OHLC_V2, "ohlc", False),
        (Paths.LTP_V2, "ltp", False),
        (Paths.QUOTES_V3, "full", True),
        (Paths.OHLC_V3, "ohlc", True),
        (Paths.LTP_V3, "ltp", True),
    ):
        out.append(Route(path, state.api(quote(kind, v3), path), methods=["GET"]))
    return out
