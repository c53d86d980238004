"""Upstox's candles: historical v2 and v3 (each interval's span cap; over it, refused) and intraday.

Paths carry everything: ``/v2/historical-candle/{key}/{interval}/{to_date}[/{from_date}]``,
``/v3/historical-candle/{key}/{unit}/{interval}/{to_date}[/{from_date}]`` and the intraday routes
(the current session). Dates are ``YYYY-MM-DD``; without ``from_date`` the span is the interval's whole cap.
They need no token: the SDK sends none on them (``auth_settings = []``), so they are limited per address.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.routing import BaseRoute, Route

from kitekit.clock import IST
from kitekit.sim.upstox.auth import UpstoxGrant
from kitekit.sim.upstox.candles import upstox_candles
from kitekit.wire.upstox.errors import UDAPI, UpstoxError
from kitekit.wire.upstox.history import V2_INTRADAY, Span, V3Interval, check_span, parse_v2_interval, parse_v3_interval
from kitekit.wire.upstox.keys import parse_instrument_key
from kitekit.wire.upstox.routes import Route as Paths

if TYPE_CHECKING:
    from kitekit.sim.upstox.http.state import UpstoxState

__all__ = ["routes"]


def _date(text: str, name: str) -> date:
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise UpstoxError(UDAPI.INVALID_INPUT, f"Invalid date format of {name}: use YYYY-MM-DD", name, text) from None


def _span_start(span: Span, end: date) -> date:
    if span.months is None:
        return span.earliest
    month = end.month - 1 - span.months
    year, month = end.year + month // 12, month % 12 + 1
    day = min(end.day, 28)
    return max(date(year, month, day), span.earliest)


def routes(state: UpstoxState) -> list[BaseRoute]:
    """Return the candle routes."""

    def row_of(key: str) -> int:
        row = state.listing().resolve(key) if parse_instrument_key(key) is not None else None
        if row is None:
            raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid Instrument key", "instrument_key", key)
        return row

    async def answer(key: str, interval: V3Interval, span: Span, params: dict[str, str]) -> Any:
        row = row_of(key)
        end = _date(params["to_date"], "to_date")
        start = _date(params["from_date"], "from_date") if "from_date" in params else _span_start(span, end)
        why = check_span(span, start, end)
        if why is not None:
            raise UpstoxError(UDAPI.INVALID_DATE_RANGE, why, "from_date", params.get("from_date"))
        start = max(start, span.earliest)
        now = state.clock.now()
        candles = await run_in_threadpool(upstox_candles, state.market, state.listing(), row, interval, start, end, now)
        return {"candles": candles}

    async def v2(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/historical-candle/{instrument_key}/{interval}/{to_date}[/{from_date}]``."""
        p = dict(request.path_params)
        parsed = parse_v2_interval(p["interval"])
        if parsed is None:
            raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid interval", "interval", p["interval"])
        return await answer(p["instrument_key"], parsed[0], parsed[1], p)

    async def v3(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v3/historical-candle/{instrument_key}/{unit}/{interval}/{to_date}[/{from_date}]``."""
        p = dict(request.path_params)
        interval = parse_v3_interval(p["unit"], p["interval"])
        if interval is None:
            raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid unit or interval", "interval", p["interval"])
        return await answer(p["instrument_key"], interval, interval.span, p)

    async def intraday(request: Request, grant: UpstoxGrant | None) -> Any:
        """``GET /v2/historical-candle/intraday/{key}/{interval}`` and ``/v3/…/{key}/{unit}/{interval}``."""
        p = request.path_params
        if "unit" in p:
            interval = parse_v3_interval(p["unit"], p["interval"])
        else:
            parsed = parse_v2_interval(p["interval"]) if p["interval"] in V2_INTRADAY else None
            interval = parsed[0] if parsed else None
        if interval is None or interval.seconds == 0:
            raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid interval for intraday candles", "interval", p["interval"])
        row = row_of(p["instrument_key"])
        now = state.clock.now()
        today = now.astimezone(IST).date()
        if state.market.point(now).day != today:
            return {"candles": []}  # no session today (yet): a holiday, a weekend or before the open
        candles = await run_in_threadpool(
            upstox_candles, state.market, state.listing(), row, interval, today, today, now
        )
        return {"candles": candles}

    return [
        Route(Paths.INTRADAY_V2, state.api(intraday, "intraday", auth=False), methods=["GET"]),
        Route(Paths.INTRADAY_V3, state.api(intraday, "intraday_v3", auth=False), methods=["GET"]),
        Route(Paths.HISTORY_V2, state.api(v2, "history", auth=False), methods=["GET"]),
        Route(Paths.HISTORY_V2_FROM, state.api(v2, "history", auth=False), methods=["GET"]),
        Route(Paths.HISTORY_V3, state.api(v3, "history_v3", auth=False), methods=["GET"]),
        Route(Paths.HISTORY_V3_FROM, state.api(v3, "history_v3", auth=False), methods=["GET"]),
    ]
