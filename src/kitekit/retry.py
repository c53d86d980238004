"""What happens after each kind of Kite failure: one explicit table, and the backoff for retries.

The table follows the well-known production pattern for Kite: a dead session is never retried (it needs a
new login), a network-side failure on an idempotent GET is retried with exponential backoff and full jitter,
a data failure is reported per instrument, and a request Kite considers wrong is raised at once. Orders are
never retried here: a POST that may have reached the exchange must not be sent twice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from kitekit.wire.envelope import ErrorType

__all__ = ["GATEWAY_STATUSES", "IDEMPOTENT", "POLICY", "Action", "RetryPolicy"]


class Action(StrEnum):
    """What the transport and the quotes layer do with a failure."""

    RELOGIN = "never retried; the session is marked dead and the user told to log in again"
    RETRY = "retried with exponential backoff and jitter, on idempotent GETs only"
    REPORT_MISSING = "never retried; the affected instruments are reported missing with the reason"
    RAISE = "raised at once"


#: Every error_type Kite sends (API.md §2.1) and what kitekit does with it.
POLICY: dict[ErrorType, Action] = {
    ErrorType.TOKEN: Action.RELOGIN,
    ErrorType.NETWORK: Action.RETRY,  # OMS unreachable (503) and rate limiting (429)
    ErrorType.DATA: Action.REPORT_MISSING,
    ErrorType.INPUT: Action.RAISE,
    ErrorType.PERMISSION: Action.RAISE,
    ErrorType.GENERAL: Action.RAISE,
    ErrorType.ORDER: Action.RAISE,
    ErrorType.USER: Action.RAISE,
    ErrorType.MARGIN: Action.RAISE,
    ErrorType.HOLDING: Action.RAISE,
}

#: A proxy's non-JSON answer with these statuses is a gateway hiccup, retried like a transport error.
GATEWAY_STATUSES = frozenset({502, 503, 504})
#: Methods safe to send twice. DELETE (cancel) and PUT (modify) are left out on purpose.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass
class RetryPolicy:
    """How often and how patiently to retry: ``attempts`` in all, delays of full jitter up to ``cap``."""

    attempts: int = 4
    base: float = 0.25
    cap: float = 4.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    random: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, retry: int) -> float:
        """Return the pause before retry number ``retry`` (0-based): uniform in [0, min(cap, base*2**retry)]."""
        return self.random() * min(self.cap, self.base * 2.0**retry)
