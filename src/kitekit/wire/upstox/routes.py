"""Upstox's hosts, routes, the ``Api-Version`` rule, the order-host rule, and the rate-limit table.

Verified against ``upstox-python-sdk`` 2.30: ``Configuration`` sets ``host`` to ``https://api.upstox.com`` and
``order_host`` to ``https://api-hft.upstox.com``; ``ApiClient`` sends a path to ``order_host`` when it contains
``/order/place``, ``/order/modify`` or ``/order/cancel``, so ``/v2/order/multi/place`` and
``/v2/order/multi/cancel`` go to ``host`` (:func:`uses_order_host`). Every v2 method of the SDK but the
multi-order, kill-switch, IP and payments ones takes an ``api_version`` argument it sends as ``Api-Version``;
Upstox refuses a v2 route without it (UDAPI100015), v3 routes need none.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "API_HOST",
    "API_VERSION",
    "API_VERSION_HEADER",
    "DUMP_URL",
    "LIMITS",
    "MULTI_ORDER_LINES",
    "ORDER_HOST",
    "QUOTE_KEY_LIMIT",
    "SANDBOX_HOST",
    "SANDBOX_PATHS",
    "WS_HOST",
    "Limit",
    "LimitClass",
    "Route",
    "limit_class",
    "needs_api_version",
    "uses_order_host",
]

API_HOST = "https://api.upstox.com"
ORDER_HOST = "https://api-hft.upstox.com"
SANDBOX_HOST = "https://api-sandbox.upstox.com"
#: The streamers hard-code this host (``wss://api.upstox.com/v3/feed/market-data-feed``).
WS_HOST = "wss://api.upstox.com"
#: The complete instruments dump: gzipped JSON, rebuilt daily (not behind the API; no token needed).
DUMP_URL = "https://assets.upstox.com/market-quote/instruments/exchange/complete.json.gz"

API_VERSION_HEADER = "Api-Version"
API_VERSION = "2.0"

#: A quote call takes at most this many instrument keys (UDAPI100043 beyond).
QUOTE_KEY_LIMIT = 500
#: A multi-order request carries at most this many lines.
MULTI_ORDER_LINES = 25

#: The paths a sandbox app may call (``Configuration.sandbox_urls``); the sandbox has no market data.
SANDBOX_PATHS = frozenset(
    {
        "/v2/order/place",
        "/v2/order/modify",
        "/v2/order/cancel",
        "/v2/order/multi/place",
        "/v3/order/place",
        "/v3/order/modify",
        "/v3/order/cancel",
    }
)


class Route(StrEnum):
    """Every route the simulator serves and kitekit's client calls; the value is the path (Starlette syntax)."""

    AUTH_DIALOG = "/v2/login/authorization/dialog"
    AUTH_TOKEN = "/v2/login/authorization/token"  # noqa: S105 - a path
    TOKEN_REQUEST = "/v3/login/auth/token/request/{client_id}"  # noqa: S105 - a path
    LOGOUT = "/v2/logout"
    PROFILE = "/v2/user/profile"
    FUNDS_V2 = "/v2/user/get-funds-and-margin"
    FUNDS_V3 = "/v3/user/get-funds-and-margin"
    QUOTES_V2 = "/v2/market-quote/quotes"
    OHLC_V2 = "/v2/market-quote/ohlc"
    LTP_V2 = "/v2/market-quote/ltp"
    QUOTES_V3 = "/v3/market-quote/quotes"
    OHLC_V3 = "/v3/market-quote/ohlc"
    LTP_V3 = "/v3/market-quote/ltp"
    HISTORY_V2 = "/v2/historical-candle/{instrument_key}/{interval}/{to_date}"
    HISTORY_V2_FROM = "/v2/historical-candle/{instrument_key}/{interval}/{to_date}/{from_date}"
    INTRADAY_V2 = "/v2/historical-candle/intraday/{instrument_key}/{interval}"
    HISTORY_V3 = "/v3/historical-candle/{instrument_key}/{unit}/{interval}/{to_date}"
    HISTORY_V3_FROM = "/v3/historical-candle/{instrument_key}/{unit}/{interval}/{to_date}/{from_date}"
    INTRADAY_V3 = "/v3/historical-candle/intraday/{instrument_key}/{unit}/{interval}"
    PLACE_V2 = "/v2/order/place"
    MODIFY_V2 = "/v2/order/modify"
    CANCEL_V2 = "/v2/order/cancel"
    PLACE_V3 = "/v3/order/place"
    MODIFY_V3 = "/v3/order/modify"
    CANCEL_V3 = "/v3/order/cancel"
    MULTI_PLACE = "/v2/order/multi/place"
    MULTI_CANCEL = "/v2/order/multi/cancel"
    ORDER_BOOK = "/v2/order/retrieve-all"
    ORDER_HISTORY = "/v2/order/history"
    ORDER_DETAILS = "/v2/order/details"
    TRADES_DAY = "/v2/order/trades/get-trades-for-day"
    ORDER_TRADES = "/v2/order/trades"
    POSITIONS = "/v2/portfolio/short-term-positions"
    HOLDINGS = "/v2/portfolio/long-term-holdings"
    FEED_AUTHORIZE_V3 = "/v3/feed/market-data-feed/authorize"
    FEED_V3 = "/v3/feed/market-data-feed"
    PORTFOLIO_AUTHORIZE = "/v2/feed/portfolio-stream-feed/authorize"
    PORTFOLIO_FEED = "/v2/feed/portfolio-stream-feed"


def uses_order_host(path: str) -> bool:
    """Return True when the SDK sends ``path`` to ``order_host`` (``ApiClient.__is_order_path``)."""
    return any(part in path for part in ("/order/place", "/order/modify", "/order/cancel"))


# v2 routes the SDK calls without an Api-Version header: Upstox must accept them bare.
_V2_WITHOUT_VERSION = (
    "/v2/order/multi/",
    "/v2/order/details",
    "/v2/order/positions/exit",
    "/v2/user/kill-switch",
    "/v2/user/ip",
    "/v2/user/payments",
    "/v2/login/authorization/dialog",
)


def needs_api_version(path: str) -> bool:
    """Return True when Upstox refuses ``path`` without ``Api-Version: 2.0`` (v2 routes the SDK versions).

    The authorization dialog is a browser page: a browser sends no such header, so it is exempt too.
    """
    return path.startswith("/v2/") and not path.startswith(_V2_WITHOUT_VERSION)


class LimitClass(StrEnum):
    """The two rate-limit tables Upstox publishes."""

    STANDARD = "standard"
    MULTI_ORDER = "multi_order"


@dataclass(frozen=True)
class Limit:
    """Requests allowed per second, per minute and per 30 minutes, per user and API."""

    per_second: int
    per_minute: int
    per_30_minutes: int

    def windows(self) -> tuple[tuple[float, int], ...]:
        """Return ``(seconds, allowed)`` for each window."""
        return ((1.0, self.per_second), (60.0, self.per_minute), (1800.0, self.per_30_minutes))


#: Upstox's published limits (per user, per API).
LIMITS: dict[LimitClass, Limit] = {
    LimitClass.STANDARD: Limit(50, 500, 2000),
    LimitClass.MULTI_ORDER: Limit(4, 40, 160),
}


def limit_class(path: str) -> LimitClass:
    """Return the table ``path`` is limited by."""
    return LimitClass.MULTI_ORDER if path.startswith("/v2/order/multi/") else LimitClass.STANDARD
