"""Kite REST routes and the rate-limit class of each, shared by the simulator and the client's pacer."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["DEFAULT_RATES", "EndpointClass", "classify"]


class EndpointClass(StrEnum):
    """The buckets Kite rate-limits separately per api_key (API.md §14)."""

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
