"""What a broker allows: rate limits, batch sizes, history spans, feed capacity, order tags, session expiry, extras.

Logic written once against the neutral interfaces reads these facts instead of Kite's constants, so it keeps
within each broker's limits: :meth:`BrokerCapabilities.quote_batches` cuts keys into the batches a quote call
takes, :meth:`~BrokerCapabilities.history_windows` cuts a range into the spans one candle request may ask for,
:meth:`~BrokerCapabilities.feed_shards` spreads subscriptions over the connections a feed allows, and
:meth:`~BrokerCapabilities.tag_ok` says whether an order tag is one the broker takes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from kitekit.errors import HistoryRangeError, TickerError

__all__ = [
    "BrokerCapabilities",
    "Endpoint",
    "Extra",
    "FeedLimits",
    "HistorySpan",
    "LoginMethod",
    "RateLimit",
    "TagRule",
]


class Endpoint(StrEnum):
    """The kinds of call a broker limits separately (each broker's own classes map onto these)."""

    QUOTE = "quote"
    HISTORY = "history"
    ORDER = "order"
    OTHER = "other"


class LoginMethod(StrEnum):
    """The ways a broker's daily login can be done."""

    #: A browser login whose redirect a local listener catches.
    REDIRECT = "redirect"
    #: The redirect URL (or its code) pasted by the user.
    PASTE = "paste"
    #: Unattended: user id, password or PIN, and a TOTP secret (cron-safe).
    TOTP = "totp"
    #: Unattended: the broker asks the user to approve and posts the token to the app (Upstox v3).
    TOKEN_REQUEST = "token_request"  # noqa: S105 - a login flow's name, not a secret


class Extra(StrEnum):
    """Features some brokers have and the neutral interfaces leave out: reached on the broker's own client."""

    GTT = "gtt"
    ALERTS = "alerts"
    POSTBACKS = "postbacks"
    MULTI_ORDER = "multi_order"
    COVER_ORDERS = "cover_orders"


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` calls in any ``seconds`` (one of a class's windows: per second, minute, half hour, day)."""

    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        """Return the sustained rate this window allows."""
        return self.count / self.seconds


@dataclass(frozen=True, slots=True)
class HistorySpan:
    """How much one candle request of an interval may cover, and how far back the broker keeps them.

    ``max_days`` None means no cap on one request; ``earliest`` None means not known.
    """

    interval: str
    max_days: int | None
    earliest: date | None = None


@dataclass(frozen=True, slots=True)
class FeedLimits:
    """The live feed's capacity: connections per user, instruments per connection, and its modes.

    ``modes`` maps each neutral mode (``ltp``, ``quote``, ``full``) to the broker's own name for it;
    ``per_mode`` caps instruments per connection in a mode, where the broker caps them lower than ``per_connection``.
    """

    connections: int
    per_connection: int
    modes: Mapping[str, str]
    per_mode: Mapping[str, int] = field(default_factory=dict)

    @property
    def capacity(self) -> int:
        """Return the most instruments the feed carries at once."""
        return self.connections * self.per_connection

    def limit(self, mode: str) -> int:
        """Return the most instruments one connection carries in ``mode``."""
        return min(self.per_connection, self.per_mode.get(mode, self.per_connection))


@dataclass(frozen=True, slots=True)
class TagRule:
    """The order tag a broker takes: the request parameter it travels in, its longest length, and its characters."""

    parameter: str
    max_length: int
    pattern: str = r"[A-Za-z0-9]+"

    def ok(self, tag: str) -> bool:
        """Return True if the broker takes ``tag``."""
        return 0 < len(tag) <= self.max_length and re.fullmatch(self.pattern, tag) is not None


@dataclass(frozen=True)
class BrokerCapabilities:
    """One broker's limits and features, as the neutral layer needs them.

    Args:
        name: the broker's name in configuration (``kite``, ``upstox``, ``angel``).
        label: its name in messages (``Kite Connect``).
        rates: each endpoint class's windows.
        quote_batch: the most instruments one call takes, per quote kind (``ltp``, ``ohlc``, ``quote``).
        history: each candle interval the broker serves (the neutral name), with its span.
        feed: the live feed's capacity.
        tag: the order tag rule.
        session_expiry: the IST time of day a session ends (Kite 06:00; Upstox 03:30).
        session_lifetime: how long a session lives from its login, for a broker whose sessions end after a
            lifetime rather than at a time of day (Angel One's JWT); None: ``session_expiry`` decides.
        login_methods: the login flows the broker offers.
        extras: features only the broker's own client reaches.
    """

    name: str
    label: str
    rates: Mapping[Endpoint, tuple[RateLimit, ...]]
    quote_batch: Mapping[str, int]
    history: Mapping[str, HistorySpan]
    feed: FeedLimits
    tag: TagRule
    session_expiry: time
    login_methods: frozenset[LoginMethod]
    extras: frozenset[Extra] = frozenset()
    session_lifetime: timedelta | None = None

    def rate(self, endpoint: Endpoint | str) -> float:
        """Return the sustained calls per second ``endpoint`` allows: its tightest window's."""
        windows = self.rates.get(Endpoint(endpoint), ())
        return min((w.per_second for w in windows), default=math.inf)

    def quote_batches(self, kind: str, keys: Sequence[str]) -> list[list[str]]:
        """Split ``keys`` into the batches one ``kind`` quote call takes.

        Raises:
            KeyError: the broker has no such quote kind.
        """
        size = self.quote_batch[kind]
        return [list(keys[i : i + size]) for i in range(0, len(keys), size)]

    def span(self, interval: str) -> HistorySpan:
        """Return what one candle request of ``interval`` may cover.

        Raises:
            HistoryRangeError: the broker does not serve that interval (the message lists those it does).
        """
        try:
            return self.history[str(interval)]
        except KeyError:
            served = ", ".join(self.history)
            raise HistoryRangeError(f"{self.label} has no {interval!s} candles; it serves {served}") from None

    def history_windows(self, interval: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Cut ``start``..``end`` into consecutive windows no longer than one ``interval`` request may ask for.

        Raises:
            HistoryRangeError: an interval the broker does not serve, or ``end`` before ``start``.
        """
        if end < start:
            raise HistoryRangeError(f"the range ends ({end:%Y-%m-%d %H:%M}) before it starts ({start:%Y-%m-%d %H:%M})")
        cap = self.span(interval).max_days
        if cap is None:
            return [(start, end)]
        step = timedelta(days=cap)
        windows: list[tuple[datetime, datetime]] = []
        left = start
        while left <= end:
            right = min(left + step, end)
            windows.append((left, right))
            left = right + timedelta(seconds=1)
        return windows

    def feed_shards(self, keys: Sequence[str], mode: str) -> list[list[str]]:
        """Spread ``keys`` over the fewest connections the feed allows in ``mode``.

        Raises:
            TickerError: more instruments than the feed's connections carry in that mode.
        """
        per = self.feed.limit(mode)
        needed = math.ceil(len(keys) / per) if keys else 0
        if needed > self.feed.connections:
            raise TickerError(
                f"{len(keys):,} instruments need {needed} connections in {mode} mode; {self.label} allows "
                f"{self.feed.connections} of {per:,} each"
            )
        return [list(keys[i * per : (i + 1) * per]) for i in range(needed)]

    def tag_ok(self, tag: str) -> bool:
        """Return True if the broker takes ``tag`` as an order tag."""
        return self.tag.ok(tag)
