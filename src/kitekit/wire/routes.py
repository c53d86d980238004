"""Kite REST routes and their limits: rate-limit classes, quote batch sizes, exchanges.

Shared by the simulator (which enforces them) and the client (which paces and batches under them), so the
two can never disagree. See ``docs/protocol.md`` §6 and §14.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "DEFAULT_RATES",
    "EXCHANGES",
    "PER_SECOND_CAPS",
    "EndpointClass",
    "QuoteEndpoint",
    "classify",
]


class EndpointClass(StrEnum):
    """The buckets Kite rate-limits separately per api_key."""

    QUOTE = "quote"
    HISTORICAL = "historical"
    ORDER = "order"
    OTHER = "other"


#: Requests per second Kite allows per api_key and class.
DEFAULT_RATES: dict[EndpointClass, float] = {
    EndpointClass.QUOTE: 1.0,
    EndpointClass.HISTORICAL: 3.0,
    EndpointClass.ORDER: 10.0,
    EndpointClass.OTHER: 10.0,
}

#: Requests Kite allows per calendar second of its own clock, per user, besides the rate: order placements,
#: 10 (since April 2026; the ``Date`` header of its answers tells that clock).
PER_SECOND_CAPS: dict[EndpointClass, int] = {EndpointClass.ORDER: 10}


class QuoteEndpoint(StrEnum):
    """The three market-quote routes; the value is the SDK method's name."""

    LTP = "ltp"
    OHLC = "ohlc"
    QUOTE = "quote"

    @property
    def path(self) -> str:
        """Return the route: ``/quote/ltp``, ``/quote/ohlc`` or ``/quote``."""
        return "/quote" if self is QuoteEndpoint.QUOTE else f"/quote/{self.value}"

    @property
    def batch_limit(self) -> int:
        """Return the most instruments one call takes (Kite: 500 for full quotes, 1000 otherwise)."""
        return 500 if self is QuoteEndpoint.QUOTE else 1000

    @classmethod
    def of_path(cls, path: str) -> QuoteEndpoint:
        """Return the endpoint serving ``path``.

        Raises:
            ValueError: ``path`` is not a quote route.
        """
        for endpoint in cls:
            if endpoint.path == path:
                return endpoint
        raise ValueError(f"{path!r} is not a quote route")


#: Exchanges the REST API takes in ``exchange`` parameters and instrument keys.
EXCHANGES: tuple[str, ...] = ("NSE", "BSE", "NFO", "BFO", "CDS", "MCX", "BCD")


def classify(method: str, path: str) -> EndpointClass:
    """Return the rate-limit class of a request by HTTP method and URL path."""
    if path == "/quote" or path.startswith("/quote/"):
        return EndpointClass.QUOTE
    if path.startswith("/instruments/historical/"):
        return EndpointClass.HISTORICAL
    # Placement is a POST to /orders/{variety}; modify (PUT) and cancel (DELETE) share "other".
    if method.upper() == "POST" and path.startswith("/orders/"):
        return EndpointClass.ORDER
    return EndpointClass.OTHER
