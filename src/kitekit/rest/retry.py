"""What happens after each kind of Kite failure: one explicit table, and the backoff for retries.

The table follows the well-known production pattern for Kite: a dead session is never retried (it needs a
new login), a network-side failure of an idempotent GET is retried with exponential backoff and full jitter,
a data failure is reported per instrument, and a request Kite considers wrong is raised at once. Orders are
never retried here: a POST that may have reached the exchange must not be sent twice.

Besides Kite's own JSON errors (:data:`POLICY`), two kinds of failure never carry an ``error_type``:

- transport errors (:data:`TRANSPORT_ERRORS`: refused or dropped connections, timeouts, a body cut short);
- a proxy's or load balancer's own page (HTML, not Kite's JSON) with HTTP 502, 503 or 504, or any 429.

Both count as network-side: retried on idempotent GETs only, exactly like ``NetworkException``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import requests

from kitekit.wire.envelope import ErrorType

__all__ = [
    "GATEWAY_STATUSES",
    "IDEMPOTENT",
    "POLICY",
    "TRANSPORT_ERRORS",
    "Action",
    "RetryPolicy",
    "action_for",
    "full_jitter",
]


class Action(StrEnum):
    """What the transport and the quotes layer do with a failure."""

    RELOGIN = "never retried; the session is marked dead and the user told to log in again"
    RETRY = "retried with exponential backoff and jitter, on idempotent GETs only"
    REPORT_MISSING = "never retried; the affected instruments are reported missing with the reason"
    RAISE = "raised at once"


#: Every error_type Kite sends (``docs/protocol.md`` §2.1) and what kitekit does with it.
POLICY: dict[ErrorType, Action] = {
    ErrorType.TOKEN: Action.RELOGIN,  # expired or revoked access token: only a new login helps
    ErrorType.NETWORK: Action.RETRY,  # OMS unreachable (503) and rate limiting (429)
    ErrorType.DATA: Action.REPORT_MISSING,  # Kite could not read the OMS reply for these instruments
    ErrorType.INPUT: Action.RAISE,
    ErrorType.PERMISSION: Action.RAISE,
    ErrorType.GENERAL: Action.RAISE,
    ErrorType.ORDER: Action.RAISE,  # an order failure is an answer, not a glitch
    ErrorType.USER: Action.RAISE,
    ErrorType.MARGIN: Action.RAISE,
    ErrorType.HOLDING: Action.RAISE,
}

#: Failures below HTTP, worth another try on an idempotent request. ``requests.Timeout`` covers connect and
#: read timeouts; ``ChunkedEncodingError`` is a connection cut in the middle of a body.
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

#: Statuses whose non-Kite (non-JSON) answer is a gateway hiccup, retried like a transport error.
GATEWAY_STATUSES = frozenset({502, 503, 504})

#: Methods safe to send twice. PUT (modify an order) and DELETE (cancel one) are left out on purpose: a
#: repeat after a lost answer acts on an order that may have changed in between.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


def action_for(status: int, error_type: ErrorType | None) -> Action | None:
    """Return what to do with an HTTP answer, or None when it is not a failure.

    Args:
        status: the HTTP status.
        error_type: the ``error_type`` of Kite's JSON error body; None when the body is not Kite's JSON
            (a proxy's HTML page) or names no known error.
    """
    if error_type is not None:
        return POLICY[error_type]
    if status == 429 or status in GATEWAY_STATUSES:
        return Action.RETRY
    return Action.RAISE if status >= 400 else None


def full_jitter(retry: int, base: float, cap: float, draw: Callable[[], float]) -> float:
    """Return the pause before retry number ``retry`` (0-based): uniform in ``[0, min(cap, base * 2**retry)]``.

    "Full jitter" spreads clients that failed together, so they do not all come back at the same moment.
    """
    return draw() * min(cap, base * 2.0**retry)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently the transport retries an idempotent GET.

    The pause before retry ``n`` (0-based) is uniform in ``[0, min(cap, base * 2**n)]`` ("full jitter"), so
    many clients that failed together do not come back together.

    Args:
        attempts: tries in all, the first one included (1 disables retries).
        base: the pause ceiling of the first retry, in seconds; it doubles with each retry.
        cap: the largest pause ceiling, in seconds.
        rate_limit_pause: the least pause before retrying a 429 when no pacer is installed. With a pacer,
            the class's shared cooldown spaces the retry instead.
        sleep: how to pause, injectable so tests run instantly.
        random: a uniform draw in [0, 1), injectable so tests are deterministic.

    Raises:
        ValueError: fewer than one attempt, or a negative delay.
    """

    attempts: int = 4
    base: float = 0.25
    cap: float = 4.0
    rate_limit_pause: float = 1.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    random: Callable[[], float] = field(default=random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1 (the first try counts), got {self.attempts}")
        if min(self.base, self.cap, self.rate_limit_pause) < 0:
            raise ValueError("base, cap and rate_limit_pause must be >= 0 seconds")

    def delay(self, retry: int) -> float:
        """Return the pause before retry number ``retry`` (0-based)."""
        return full_jitter(retry, self.base, self.cap, self.random)
