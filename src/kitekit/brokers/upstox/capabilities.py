"""Upstox's limits and features as :class:`~kitekit.brokers.capabilities.BrokerCapabilities`, read from ``wire/upstox``.

Rates, the quote batch, candle spans and the feed's key limits come from the modules the simulator shares, so
the neutral description cannot drift from the protocol. Upstox limits every API alike (50 a second, 500 a
minute, 2,000 per 30 minutes), so each endpoint class gets the same windows.
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
from kitekit.wire.upstox.history import Unit, V3Interval
from kitekit.wire.upstox.routes import LIMITS, QUOTE_KEY_LIMIT, LimitClass
from kitekit.wire.upstox.stream import KEY_LIMITS, Mode

__all__ = ["FEED_MODES", "INTERVALS", "UPSTOX_CAPABILITIES", "span_days"]

#: The neutral candle intervals (Kite's names) as Upstox's v3 intervals.
INTERVALS: dict[str, V3Interval] = {
    "minute": V3Interval(Unit.MINUTES, 1),
    "3minute": V3Interval(Unit.MINUTES, 3),
    "5minute": V3Interval(Unit.MINUTES, 5),
    "10minute": V3Interval(Unit.MINUTES, 10),
    "15minute": V3Interval(Unit.MINUTES, 15),
    "30minute": V3Interval(Unit.MINUTES, 30),
    "60minute": V3Interval(Unit.HOURS, 1),
    "day": V3Interval(Unit.DAYS, 1),
    "week": V3Interval(Unit.WEEKS, 1),
    "month": V3Interval(Unit.MONTHS, 1),
}

#: The neutral feed modes as Upstox's (Upstox has no mode between the last price and five levels of depth).
FEED_MODES: dict[str, Mode] = {"ltp": Mode.LTPC, "quote": Mode.FULL, "full": Mode.FULL}


def span_days(interval: V3Interval) -> int | None:
    """Return the most days one request of ``interval`` may span: its cap in months as days no month is shorter than.

    Upstox refuses a range reaching the same day ``months`` later (:func:`kitekit.wire.upstox.history.check_span`),
    so ``28 * months - 1`` days always fits, whatever the months.
    """
    months = interval.span.months
    return None if months is None else 28 * months - 1


def _rates() -> dict[Endpoint, tuple[RateLimit, ...]]:
    windows = tuple(RateLimit(n, s) for s, n in LIMITS[LimitClass.STANDARD].windows())
    return dict.fromkeys(Endpoint, windows)


UPSTOX_CAPABILITIES = BrokerCapabilities(
    name="upstox",
    label="Upstox",
    rates=_rates(),
    quote_batch=dict.fromkeys(("ltp", "ohlc", "quote"), QUOTE_KEY_LIMIT),
    history={n: HistorySpan(n, span_days(i), i.span.earliest) for n, i in INTERVALS.items()},
    feed=FeedLimits(
        # One market-feed connection per user; a connection in one mode takes up to the mode's first limit.
        connections=1,
        per_connection=KEY_LIMITS[Mode.LTPC][0],
        modes={n: m.value for n, m in FEED_MODES.items()},
        per_mode={n: KEY_LIMITS[m][0] for n, m in FEED_MODES.items()},
    ),
    # SIM: Upstox documents no tag length; kitekit's derived tags are 20 characters (Kite's rule), which it takes.
    tag=TagRule("tag", 20),
    session_expiry=time(3, 30),
    login_methods=frozenset({LoginMethod.REDIRECT, LoginMethod.PASTE, LoginMethod.TOKEN_REQUEST}),
    extras=frozenset({Extra.MULTI_ORDER}),
)
