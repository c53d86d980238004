"""Angel One's limits and features as :class:`~kitekit.brokers.capabilities.BrokerCapabilities`, from ``wire/angel``.

No Angel fact is written twice: rates come from :data:`kitekit.wire.angel.routes.RATE_LIMITS`, candle spans from
:class:`kitekit.wire.angel.history.CandleInterval`, feed capacity from :mod:`kitekit.wire.angel.stream`.
"""

from __future__ import annotations

from datetime import time, timedelta

from kitekit.brokers.capabilities import (
    BrokerCapabilities,
    Endpoint,
    Extra,
    FeedLimits,
    HistorySpan,
    LoginMethod,
    RateLimit,
    TagRule,
)
from kitekit.wire.angel.history import CandleInterval
from kitekit.wire.angel.routes import RATE_LIMITS, Route
from kitekit.wire.angel.stream import MAX_CONNECTIONS, MAX_TOKENS

__all__ = ["ANGEL_CAPABILITIES", "BROKER", "INTERVALS", "QUOTE_BATCH", "ROUTE_ENDPOINTS", "SESSION_LIFETIME"]

BROKER = "angel"
#: Tokens one ``quote`` call takes (Angel's "Live Market Data API"; ``getLtpData`` takes one).
QUOTE_BATCH = 50
#: How long a JWT lives (Angel: "24-28 hours"; the JWT's own ``exp`` is what a session reads).
SESSION_LIFETIME = timedelta(hours=24)

#: The neutral interval names (Kite's) and Angel's.
INTERVALS: dict[str, CandleInterval] = {
    "minute": CandleInterval.ONE_MINUTE,
    "3minute": CandleInterval.THREE_MINUTE,
    "5minute": CandleInterval.FIVE_MINUTE,
    "10minute": CandleInterval.TEN_MINUTE,
    "15minute": CandleInterval.FIFTEEN_MINUTE,
    "30minute": CandleInterval.THIRTY_MINUTE,
    "60minute": CandleInterval.ONE_HOUR,
    "day": CandleInterval.ONE_DAY,
}

#: The neutral endpoint class each limited route counts against.
ROUTE_ENDPOINTS: dict[Route, Endpoint] = {
    Route.QUOTE: Endpoint.QUOTE,
    Route.LTP: Endpoint.QUOTE,
    Route.CANDLES: Endpoint.HISTORY,
    Route.ORDER_PLACE: Endpoint.ORDER,
    Route.ORDER_MODIFY: Endpoint.ORDER,
    Route.ORDER_CANCEL: Endpoint.ORDER,
}


def _rates() -> dict[Endpoint, tuple[RateLimit, ...]]:
    def windows(route: Route) -> tuple[RateLimit, ...]:
        return tuple(RateLimit(cap, seconds) for seconds, cap in RATE_LIMITS[route].windows())

    # OTHER is the books, positions, holdings and RMS: the tightest of Angel's limits (1/s) covers them all.
    return {
        Endpoint.QUOTE: windows(Route.QUOTE),
        Endpoint.HISTORY: windows(Route.CANDLES),
        Endpoint.ORDER: windows(Route.ORDER_PLACE),
        Endpoint.OTHER: windows(Route.ORDER_BOOK),
    }


ANGEL_CAPABILITIES = BrokerCapabilities(
    name=BROKER,
    label="Angel One SmartAPI",
    rates=_rates(),
    quote_batch={"ltp": QUOTE_BATCH, "ohlc": QUOTE_BATCH, "quote": QUOTE_BATCH},
    history={name: HistorySpan(name, interval.max_days) for name, interval in INTERVALS.items()},
    feed=FeedLimits(MAX_CONNECTIONS, MAX_TOKENS, modes={"ltp": "LTP", "quote": "QUOTE", "full": "SNAP_QUOTE"}),
    # Angel refuses an ordertag of 20 characters or more (AB4008).
    tag=TagRule("ordertag", 19),
    # SIM: Angel gives a JWT a lifetime rather than a daily flush; the time of day is unused (see
    # session_lifetime) and kept at midnight only because the field is required.
    session_expiry=time(0, 0),
    session_lifetime=SESSION_LIFETIME,
    login_methods=frozenset({LoginMethod.TOTP}),
    extras=frozenset({Extra.GTT}),
)
