"""Kite Connect's limits and features as :class:`~kitekit.brokers.capabilities.BrokerCapabilities`, read from ``wire/``.

Nothing here is a second copy of a Kite fact: rates, batch sizes, candle spans and the tag length come from the
modules the client and the simulator already share, so the neutral description cannot drift from them.
"""

from __future__ import annotations

from datetime import time

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
from kitekit.wire.history import Interval
from kitekit.wire.order_terms import OrderLimits
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass, QuoteEndpoint

__all__ = ["KITE_CAPABILITIES", "KITE_FEED_CONNECTIONS", "KITE_FEED_PER_CONNECTION"]

#: WebSocket connections per api_key, and instruments per connection (``docs/protocol.md`` §15).
KITE_FEED_CONNECTIONS = 3
KITE_FEED_PER_CONNECTION = 3000

_ENDPOINTS = {
    Endpoint.QUOTE: EndpointClass.QUOTE,
    Endpoint.HISTORY: EndpointClass.HISTORICAL,
    Endpoint.ORDER: EndpointClass.ORDER,
    Endpoint.OTHER: EndpointClass.OTHER,
}


def _rates() -> dict[Endpoint, tuple[RateLimit, ...]]:
    rates: dict[Endpoint, tuple[RateLimit, ...]] = {
        ours: (RateLimit(int(DEFAULT_RATES[theirs]), 1.0),) for ours, theirs in _ENDPOINTS.items()
    }
    # Order requests also count against 400 a minute and 5,000 a day (kitekit.orders.placement.Budget).
    rates[Endpoint.ORDER] += (RateLimit(400, 60.0), RateLimit(5000, 86_400.0))
    return rates


KITE_CAPABILITIES = BrokerCapabilities(
    name="kite",
    label="Kite Connect",
    rates=_rates(),
    quote_batch={q.value: q.batch_limit for q in QuoteEndpoint},
    history={i.value: HistorySpan(i.value, i.max_days, i.history_from) for i in Interval},
    feed=FeedLimits(
        KITE_FEED_CONNECTIONS, KITE_FEED_PER_CONNECTION, modes={"ltp": "ltp", "quote": "quote", "full": "full"}
    ),
    tag=TagRule("tag", OrderLimits().max_tag_length),
    # Kite flushes every access token at 06:00 IST (kitekit.session.record.next_token_expiry).
    session_expiry=time(6, 0),
    login_methods=frozenset({LoginMethod.REDIRECT, LoginMethod.PASTE, LoginMethod.TOTP}),
    extras=frozenset({Extra.GTT, Extra.ALERTS, Extra.POSTBACKS, Extra.COVER_ORDERS}),
)
