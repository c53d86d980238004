"""Angel's market data over the shared market model: ``getLtpData``, ``quote``, ``getCandleData``, ``getOIData``.

Plain functions: a request's fields in, the answer's ``data`` out (or an :class:`AngelError`). Numbers come
from the same snapshot the Kite simulator's quotes and the WebSocket packets are cut from, so all agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from kitekit.clock import IST
from kitekit.sim.angel.catalog import AngelCatalog, Listing, angel_catalog
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.market import Market, Snapshot
from kitekit.wire.angel.envelope import ErrorCode
from kitekit.wire.angel.history import CandleInterval, format_candle_time, parse_request_time
from kitekit.wire.history import Interval

__all__ = ["MAX_QUOTE_TOKENS", "QuoteMode", "candles", "ltp_data", "oi_data", "quote", "week52"]

#: Tokens one ``quote`` request may ask for, all exchanges together.
MAX_QUOTE_TOKENS = 50
_KITE_INTERVAL = {
    CandleInterval.ONE_MINUTE: Interval.MINUTE,
    CandleInterval.THREE_MINUTE: Interval.MINUTE_3,
    CandleInterval.FIVE_MINUTE: Interval.MINUTE_5,
    CandleInterval.TEN_MINUTE: Interval.MINUTE_10,
    CandleInterval.FIFTEEN_MINUTE: Interval.MINUTE_15,
    CandleInterval.THIRTY_MINUTE: Interval.MINUTE_30,
    CandleInterval.ONE_HOUR: Interval.MINUTE_60,
    CandleInterval.ONE_DAY: Interval.DAY,
}


class QuoteMode:
    """The ``mode`` values of the quote endpoint."""

    LTP = "LTP"
    OHLC = "OHLC"
    FULL = "FULL"
    ALL = (LTP, OHLC, FULL)


def week52(snap: Snapshot) -> tuple[np.ndarray, np.ndarray]:
    """Return the 52-week high and low of every row of ``snap``.

    SIM: the market model keeps no year of history per quote; these are a band around the day's range,
    the same in REST quotes and WebSocket packets.
    """
    tick = np.where(snap.tick > 0, snap.tick, 0.05)
    high = np.ceil(np.maximum(snap.high, snap.close) * 1.18 / tick) * tick
    low = np.floor(np.minimum(np.where(snap.low > 0, snap.low, snap.close), snap.close) * 0.78 / tick) * tick
    return np.round(high, 4), np.round(low, 4)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(IST).strftime("%d-%b-%Y %H:%M:%S")


def ltp_data(market: Market, fields: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    """``POST getLtpData`` ``{exchange, tradingsymbol, symboltoken}``: the instrument's OHLC and last price.

    Raises:
        AngelError: AB1009 for an instrument not listed, or a symbol that is not the token's.
    """
    catalog = angel_catalog(market, market.universe(now))
    listing = resolve(catalog, fields)
    snap = market.snapshot(catalog.universe, np.array([listing.row]), now)
    return {
        "exchange": listing.exchange,
        "tradingsymbol": listing.symbol,
        "symboltoken": listing.token,
        "open": float(snap.open[0]),
        "high": float(snap.high[0]),
        "low": float(snap.low[0]),
        "close": float(snap.close[0]),
        "ltp": float(snap.last_price[0]),
    }


def resolve(catalog: AngelCatalog, fields: Mapping[str, Any]) -> Listing:
    """Return the instrument a request names by ``exchange``, ``symboltoken`` and ``tradingsymbol``.

    Raises:
        AngelError: AB1009 when the token is not listed on the exchange or the symbol is not the token's.
    """
    exchange, token = str(fields.get("exchange", "")), str(fields.get("symboltoken", ""))
    listing = catalog.find(exchange, token)
    symbol = fields.get("tradingsymbol")
    if listing is None or (symbol is not None and str(symbol) != listing.symbol):
        raise AngelError(ErrorCode.SYMBOL_NOT_FOUND)
    return listing


def quote(market: Market, mode: Any, exchange_tokens: Any, now: datetime) -> dict[str, Any]:
    """``POST quote`` ``{mode, exchangeTokens: {"NSE": ["3045"]}}``: ``{fetched: [...], unfetched: [...]}``.

    Raises:
        AngelError: AB4000 for an unknown mode, a malformed ``exchangeTokens`` or more than 50 tokens.
    """
    if mode not in QuoteMode.ALL:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, f"Invalid mode {mode!r}: use LTP, OHLC or FULL.", 400)
    if not isinstance(exchange_tokens, dict) or not all(
        isinstance(tokens, list) and all(isinstance(t, str) for t in tokens) for tokens in exchange_tokens.values()
    ):
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "exchangeTokens must map exchanges to token lists.", 400)
    wanted = [(str(ex), tok) for ex, tokens in exchange_tokens.items() for tok in dict.fromkeys(tokens)]
    if not wanted or len(wanted) > MAX_QUOTE_TOKENS:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, f"A quote request takes 1 to {MAX_QUOTE_TOKENS} tokens.", 400)
    catalog = angel_catalog(market, market.universe(now))
    found = [(ex, tok, lst) for ex, tok in wanted if (lst := catalog.find(ex, tok)) is not None]
    unfetched = [
        {"exchange": ex, "symbolToken": tok, "message": "Failed to get symbol details", "errorCode": "AB1018"}
        for ex, tok in wanted
        if catalog.find(ex, tok) is None
    ]
    fetched: list[dict[str, Any]] = []
    if found:
        snap = market.snapshot(catalog.universe, np.array([lst.row for _, _, lst in found]), now)
        fetched = _quote_rows(mode, snap, [lst for _, _, lst in found])
    return {"fetched": fetched, "unfetched": unfetched}


def _quote_rows(mode: str, snap: Snapshot, listings: list[Listing]) -> list[dict[str, Any]]:
    ltp = snap.last_price.tolist()
    ohlc = [a.tolist() for a in (snap.open, snap.high, snap.low, snap.close)]
    rows: list[dict[str, Any]] = []
    for i, lst in enumerate(listings):
        row: dict[str, Any] = {
            "exchange": lst.exchange,
            "tradingSymbol": lst.symbol,
            "symbolToken": lst.token,
            "ltp": ltp[i],
        }
        if mode != QuoteMode.LTP:
            row.update(open=ohlc[0][i], high=ohlc[1][i], low=ohlc[2][i], close=ohlc[3][i])
        rows.append(row)
    if mode != QuoteMode.FULL:
        return rows
    moment = snap.point.moment
    book = snap.book()
    high52, low52 = (a.tolist() for a in week52(snap))
    for i, row in enumerate(rows):
        bids, asks = book.levels(i)
        close = ohlc[3][i]
        change = round(ltp[i] - close, 4)
        row.update(
            lastTradeQty=int(snap.last_quantity[i]),
            exchFeedTime=_stamp(moment),
            exchTradeTime=_stamp(moment - timedelta(seconds=int(snap.last_trade_lag[i]))),
            netChange=change,
            percentChange=round(change / close * 100, 2) if close else 0.0,
            avgPrice=float(snap.average_price[i]),
            tradeVolume=int(snap.volume[i]),
            opnInterest=int(snap.oi[i]),
            lowerCircuit=float(snap.lower_circuit[i]),
            upperCircuit=float(snap.upper_circuit[i]),
            totBuyQuan=int(snap.buy_quantity[i]),
            totSellQuan=int(snap.sell_quantity[i]),
            **{"52WeekLow": low52[i], "52WeekHigh": high52[i]},
            depth={
                "buy": [{"price": p, "quantity": q, "orders": o} for p, q, o in bids],
                "sell": [{"price": p, "quantity": q, "orders": o} for p, q, o in asks],
            },
        )
    return rows


def _history_query(fields: Mapping[str, Any]) -> tuple[CandleInterval, datetime, datetime]:
    try:
        interval = CandleInterval(str(fields.get("interval", "")))
    except ValueError:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "Invalid interval.", 400) from None
    try:
        start = parse_request_time(str(fields.get("fromdate", "")))
        end = parse_request_time(str(fields.get("todate", "")))
    except ValueError:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "fromdate and todate must be yyyy-MM-dd HH:mm.", 400) from None
    if end < start:
        raise AngelError(ErrorCode.INVALID_PARAMETERS, "fromdate is after todate.", 400)
    if end - start > timedelta(days=interval.max_days):
        raise AngelError(
            ErrorCode.INVALID_PARAMETERS,
            f"{interval.value} candles are served for at most {interval.max_days} days per request.",
            400,
        )
    return interval, start, end


def candles(market: Market, fields: Mapping[str, Any], now: datetime, oi: bool = False) -> list[Any]:
    """``POST getCandleData`` (``oi`` False) or ``getOIData`` (True) ``{exchange, symboltoken, interval, fromdate,
    todate}``: ``[[time, o, h, l, c, v], …]`` or ``[{"time", "oi"}, …]``.

    Raises:
        AngelError: AB4000 for a bad interval or dates, a span over the interval's day cap; AB1009 for an
            instrument not listed.
    """
    interval, start, end = _history_query(fields)
    catalog = angel_catalog(market, market.universe(now))
    listing = resolve(catalog, {k: v for k, v in fields.items() if k != "tradingsymbol"})
    rows = market.candles(catalog.universe, listing.row, _KITE_INTERVAL[interval], start, end, now, oi=oi)
    if oi:
        return [{"time": format_candle_time(r[0]), "oi": r[6]} for r in rows]  # type: ignore[arg-type]
    return [[format_candle_time(r[0]), *r[1:6]] for r in rows]  # type: ignore[arg-type]


def oi_data(market: Market, fields: Mapping[str, Any], now: datetime) -> list[Any]:
    """``POST getOIData``: see :func:`candles`."""
    return candles(market, fields, now, oi=True)
