"""Angel One SmartAPI's REST routes, hosts, client headers and per-endpoint rate limits.

Routes are the paths ``smartapi-python`` 1.5.5 posts to (its ``_routes`` table), named after its keys.
Limits are Angel's published ones per client code (SmartAPI "Rate Limits" page); the simulator enforces
them and a client paces under them, so the two read one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "CLIENT_HEADERS",
    "LOGIN_URL",
    "ORDER_UPDATE_URL",
    "RATE_LIMITED_TEXT",
    "RATE_LIMITS",
    "REST_ROOT",
    "STREAM_URL",
    "RateLimit",
    "Route",
]

REST_ROOT = "https://apiconnect.angelone.in"
LOGIN_URL = "https://smartapi.angelone.in/publisher-login"
#: WebSocket 2.0 market data; the SDK's ``SmartWebSocketV2.ROOT_URI``.
STREAM_URL = "wss://smartapisocket.angelone.in/smart-stream"
#: The order-update stream; the SDK's ``SmartWebSocketOrderUpdate.WEBSOCKET_URI``.
ORDER_UPDATE_URL = "wss://tns.angelone.in/smart-order-update"

#: Headers every REST call carries (the SDK's ``requestHeaders``). Angel requires them present; their
#: values (IPs, MAC address) are not checked. ``X-PrivateKey`` is the api_key.
CLIENT_HEADERS = (
    "X-ClientLocalIP",
    "X-ClientPublicIP",
    "X-MACAddress",
    "X-PrivateKey",
    "X-UserType",
    "X-SourceID",
)

#: The body of a rate-limited answer: plain text, not JSON, with HTTP 403 (sometimes 429).
RATE_LIMITED_TEXT = "Access denied because of exceeding access rate"


class Route(StrEnum):
    """SmartAPI's REST paths; the member name follows the SDK's route key."""

    LOGIN = "/rest/auth/angelbroking/user/v1/loginByPassword"
    LOGOUT = "/rest/secure/angelbroking/user/v1/logout"
    TOKEN = "/rest/auth/angelbroking/jwt/v1/generateTokens"  # noqa: S105 - a path
    PROFILE = "/rest/secure/angelbroking/user/v1/getProfile"
    RMS = "/rest/secure/angelbroking/user/v1/getRMS"
    ORDER_PLACE = "/rest/secure/angelbroking/order/v1/placeOrder"
    ORDER_MODIFY = "/rest/secure/angelbroking/order/v1/modifyOrder"
    ORDER_CANCEL = "/rest/secure/angelbroking/order/v1/cancelOrder"
    ORDER_BOOK = "/rest/secure/angelbroking/order/v1/getOrderBook"
    ORDER_DETAILS = "/rest/secure/angelbroking/order/v1/details/{uniqueorderid}"
    TRADE_BOOK = "/rest/secure/angelbroking/order/v1/getTradeBook"
    LTP = "/rest/secure/angelbroking/order/v1/getLtpData"
    POSITION = "/rest/secure/angelbroking/order/v1/getPosition"
    CONVERT_POSITION = "/rest/secure/angelbroking/order/v1/convertPosition"
    SEARCH_SCRIP = "/rest/secure/angelbroking/order/v1/searchScrip"
    HOLDING = "/rest/secure/angelbroking/portfolio/v1/getHolding"
    ALL_HOLDING = "/rest/secure/angelbroking/portfolio/v1/getAllHolding"
    QUOTE = "/rest/secure/angelbroking/market/v1/quote"
    CANDLES = "/rest/secure/angelbroking/historical/v1/getCandleData"
    OI_DATA = "/rest/secure/angelbroking/historical/v1/getOIData"
    # GTT: create/modify/cancel live under /gtt-service, details and list do not (the SDK's table).
    GTT_CREATE = "/gtt-service/rest/secure/angelbroking/gtt/v1/createRule"
    GTT_MODIFY = "/gtt-service/rest/secure/angelbroking/gtt/v1/modifyRule"
    GTT_CANCEL = "/gtt-service/rest/secure/angelbroking/gtt/v1/cancelRule"
    GTT_DETAILS = "/rest/secure/angelbroking/gtt/v1/ruleDetails"
    GTT_LIST = "/rest/secure/angelbroking/gtt/v1/ruleList"


@dataclass(frozen=True)
class RateLimit:
    """Requests one client code may make to one endpoint per second, minute and hour (None: no such cap)."""

    per_second: int
    per_minute: int | None = None
    per_hour: int | None = None

    def windows(self) -> tuple[tuple[float, int], ...]:
        """Return ``(window seconds, cap)`` for every cap this limit has."""
        caps = ((1.0, self.per_second), (60.0, self.per_minute), (3600.0, self.per_hour))
        return tuple((w, c) for w, c in caps if c is not None)


_ORDERS = RateLimit(20, 500, 1000)
_QUOTES = RateLimit(10, 500, 5000)
_BOOKS = RateLimit(1)

#: Angel's published limits per client code; a route not listed here is not limited by the simulator.
RATE_LIMITS: dict[Route, RateLimit] = {
    Route.LOGIN: RateLimit(1),
    Route.TOKEN: RateLimit(1, None, 1000),
    Route.PROFILE: RateLimit(3),
    Route.ORDER_PLACE: _ORDERS,
    Route.ORDER_MODIFY: _ORDERS,
    Route.ORDER_CANCEL: _ORDERS,
    Route.LTP: _QUOTES,
    Route.QUOTE: _QUOTES,
    Route.CANDLES: RateLimit(3, 180),
    Route.ORDER_BOOK: _BOOKS,
    Route.TRADE_BOOK: _BOOKS,
    Route.POSITION: _BOOKS,
    Route.HOLDING: _BOOKS,
    Route.ALL_HOLDING: _BOOKS,
    Route.RMS: _BOOKS,
}
