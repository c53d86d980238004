"""Placing an intent exactly once: journal first, send, and after any doubt look the order up by its tag.

The rules (the module docstring of :mod:`kitekit.orders.outcomes` says why each failure is what it is):

1. the intent is recorded, and marked ``sending`` (fsync'd, with the send counted against the budgets),
   before the request leaves;
2. a clear answer settles it: an order id (placed) or a refusal (rejected, raised);
3. any doubt (no answer, a 5xx, a 429, a crash) is settled by looking for the tag in ``GET /orders``, never
   by sending again; only an order book without the tag, looked at long enough after the send that the
   request cannot still be in flight, lets the same request (same tag) go again;
4. on start, every intent left ``sending`` is settled the same way (:meth:`Placer.reconcile`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect.exceptions import KiteException

from kitekit.clock import IST, Clock
from kitekit.errors import OrderBudgetError, OrderError, OrderInDoubtError
from kitekit.orders.journal import Intent, IntentJournal, IntentState
from kitekit.orders.model import Order, Placement
from kitekit.orders.outcomes import Outcome, outcome_of
from kitekit.wire.envelope import ErrorType, error_type_of, exception_class

__all__ = ["FOUND", "Budget", "LookupPolicy", "Placer", "Reconciliation"]

log = logging.getLogger("kitekit.orders")

#: The journal's note on an intent settled by finding its tag in the order book instead of by an answer.
FOUND = "found in the order book by its tag after an unclear answer"


@dataclass(frozen=True)
class Budget:
    """Order requests allowed per user (Kite: 400 a minute and 5,000 a day; each re-send and iceberg leg counts).

    The minute is a sliding ``window`` (a second longer than Kite's, so a request that takes longer to arrive
    than the one 400 before it never lands in the same clock minute at Kite): any 60 seconds then hold at
    most ``per_minute``, whichever minute Kite counts by.
    """

    per_minute: int = 400
    per_day: int = 5000
    window: float = 61.0


@dataclass(frozen=True)
class LookupPolicy:
    """How the order book is searched for an order whose request got no clear answer.

    Args:
        settle: seconds after a send during which a request that got no answer may still be in flight;
            absence is trusted only once they have passed. Must cover the longest time an order takes to
            appear in the book after its request left.
        looks: how many looks spread over ``settle`` (at least one, the first at once).
        max_sends: requests per intent in all, re-sends after a confirmed absence included.
    """

    settle: float = 3.0
    looks: int = 4
    max_sends: int = 5


@dataclass(frozen=True)
class Reconciliation:
    """What :meth:`Placer.reconcile` found for the intents left unsettled."""

    found: list[Intent] = field(default_factory=list)
    absent: list[Intent] = field(default_factory=list)
    failed: list[Intent] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.found or self.absent or self.failed)


def _refusal(intent: Intent) -> KiteException:
    """Return the SDK exception Kite answered for a refused intent, rebuilt from the journal."""
    try:
        kind = ErrorType(intent.error_type or "")
    except ValueError:
        kind = ErrorType.GENERAL
    return exception_class(kind)(intent.message or "", code=intent.status or kind.http_status)


class Placer:
    """The journal-backed placement of one account.

    Args:
        kite: the official client (from ``get_kite()``: its transport paces order POSTs at 10/s).
        journal: the intent journal.
        account: the user id the intents belong to.
        clock: the time source (the trading day, budget windows, settle times).
        budget: the local order budgets.
        lookup: how doubts are settled.
        sleep: how to wait (injectable for tests).
    """

    def __init__(
        self,
        kite: KiteConnect,
        journal: IntentJournal,
        account: str,
        clock: Clock,
        budget: Budget | None = None,
        lookup: LookupPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.kite = kite
        self.journal = journal
        self.account = account
        self.clock = clock
        self.budget = budget or Budget()
        self.lookup = lookup or LookupPolicy()
        self.sleep = sleep

    def today(self) -> date:
        """Return the trading day intents are recorded under (the IST date)."""
        return self.clock.now().astimezone(IST).date()

    # -- placing ------------------------------------------------------------------------------------
    def place(self, intent_id: str, tag: str, params: Mapping[str, Any]) -> Placement:
        """Place the order ``params`` (``place_order`` keyword arguments) once for ``intent_id``.

        Route: ``POST /orders/{variety}``; ``GET /orders`` to settle doubts.

        Raises:
            IntentConflictError: the id or tag was used today for a different order.
            OrderInDoubtError: the order may be at the exchange and the order book could not be read.
            OrderBudgetError: the day's order budget is spent.
            OrderError: the intent was given up earlier (too many sends).
            kiteconnect.exceptions.KiteException: Kite refused it (raised again for a replay of the intent).
        """
        intent = self.journal.open(self.account, self.today(), intent_id, tag, params, self.clock.now())
        replayed = intent.state is IntentState.PLACED
        recovered = False
        while True:
            if intent.state is IntentState.PLACED:
                assert intent.order_id is not None  # noqa: S101 - placed intents always carry their order id
                return Placement(intent.intent_id, intent.tag, intent.order_id, replayed, recovered)
            if intent.state is IntentState.REJECTED:
                raise _refusal(intent)
            if intent.state is IntentState.FAILED:
                raise OrderError(f"intent {intent.intent_id!r} was given up: {intent.message}")
            if intent.state is IntentState.SENDING:
                # Left in doubt by an earlier call or process: its request may have arrived; look before sending.
                intent = self._settle(intent, Outcome.SILENT)
                recovered = intent.state is IntentState.PLACED
                continue
            intent, recovered = self._send(intent)

    def _send(self, intent: Intent) -> tuple[Intent, bool]:
        """Send a ``new`` intent once; return it as the answer left it, and whether a lookup found it.

        Raises:
            OrderError: too many requests already; KiteException: Kite refused it (or the session is dead).
        """
        if intent.sends >= self.lookup.max_sends:
            self.journal.failed(intent, f"no order after {intent.sends} requests", self.clock.now())
            raise OrderError(f"intent {intent.intent_id!r} was not placed after {intent.sends} requests; given up")
        sending = self._reserve(intent)
        try:
            order_id = str(self.kite.place_order(**sending.request, tag=sending.tag))
        except BaseException as exc:
            outcome = outcome_of(exc)
            if outcome is None:
                raise  # left "sending": the next call or reconcile() looks it up first
            log.info("order %s (%s): %s after request %d", sending.intent_id, sending.tag, outcome.name, sending.sends)
            now = self.clock.now()
            if outcome is Outcome.REFUSED:
                kind = error_type_of(exc) or ErrorType.GENERAL
                self.journal.rejected(sending, kind.value, int(getattr(exc, "code", 400)), str(exc), now)
                raise
            if outcome is Outcome.NOT_SENT:
                self.journal.absent(sending, now, f"not sent: {exc}")
                raise
            settled = self._settle(sending, outcome)
            return settled, settled.state is IntentState.PLACED
        return self.journal.placed(sending, order_id, self.clock.now()), False

    def _reserve(self, intent: Intent) -> Intent:
        """Wait for room in the per-minute budget, then mark the intent as being sent (fsync'd)."""
        while True:
            legs = int(intent.request.get("iceberg_legs") or 1) if intent.request.get("variety") == "iceberg" else 1
            sending, wait, sent_today = self.journal.begin_send(
                intent, self.clock.now(), self.budget.per_minute, self.budget.per_day, self.budget.window, legs
            )
            if sending is not None:
                return sending
            if math.isinf(wait):
                raise OrderBudgetError(
                    f"{sent_today} order requests were sent today, the day's budget of {self.budget.per_day} "
                    f"(Kite's limit per user); intent {intent.intent_id!r} was not sent. It can go tomorrow "
                    "or after Kite raises the limit (Budget(per_day=...))."
                )
            log.warning("order budget: %d requests in the last minute; waiting %.1fs", self.budget.per_minute, wait)
            self.sleep(wait)

    # -- settling doubts ----------------------------------------------------------------------------
    def _settle(self, intent: Intent, outcome: Outcome) -> Intent:
        """Look for the intent's tag until found, or until absence can be trusted; record what was found.

        Raises:
            OrderInDoubtError: the order book could not be read.
        """
        # An answered request is over; a silent one may still be in flight until `settle` after its send.
        deadline = intent.updated_at.timestamp() + (self.lookup.settle if outcome is Outcome.SILENT else 0.0)
        step = self.lookup.settle / max(1, self.lookup.looks - 1)
        while True:
            found = self.find({intent.tag}, intent).get(intent.tag)
            now = self.clock.now()
            if found is not None:
                return self.journal.placed(intent, found.order_id, now, FOUND)
            left = deadline - now.timestamp()
            if left <= 0:
                return self.journal.absent(intent, now, "looked up by tag: not in the order book")
            self.sleep(min(step, left))

    def find(self, tags: set[str], intent: Intent | None = None) -> dict[str, Order]:
        """Return today's orders carrying each of ``tags`` (the oldest, if several do). Route: ``GET /orders``.

        Raises:
            OrderInDoubtError: the order book could not be read (the transport already retried).
        """
        try:
            book = [Order.from_kite(o) for o in self.kite.orders()]
        except (KiteException, requests.RequestException) as exc:
            who = f"intent {intent.intent_id!r} (tag {intent.tag})" if intent else f"{len(tags)} intents"
            raise OrderInDoubtError(
                f"{who} may or may not be at the exchange, and the order book could not be read ({type(exc).__name__}: "
                f"{exc}). Nothing was sent again; place the same intent again, or call reconcile(), to look once more.",
                intent.intent_id if intent else "",
                intent.tag if intent else "",
            ) from exc
        found: dict[str, Order] = {}
        for order in book:
            for tag in tags:
                if order.carries(tag):
                    if tag in found:
                        log.error("tag %s is on two orders (%s, %s)", tag, found[tag].order_id, order.order_id)
                    found.setdefault(tag, order)
        return found

    def reconcile(self) -> Reconciliation:
        """Settle every intent of the account left new or in doubt: look up today's, give up earlier days'.

        Route: ``GET /orders`` (once for all of today's, more only while a recent send may still be in flight).

        Raises:
            OrderInDoubtError: the order book could not be read.
        """
        result = Reconciliation()
        today = self.today()
        doubtful = []
        for intent in self.journal.unsettled(self.account):
            if intent.day < today:
                why = (
                    "never sent"
                    if intent.state is IntentState.NEW
                    else "left in doubt; that day's order book is gone, so check Kite's order history for its tag"
                )
                result.failed.append(self.journal.failed(intent, f"{why} (day {intent.day})", self.clock.now()))
            elif intent.state is IntentState.SENDING:
                doubtful.append(intent)
        if not doubtful:
            return result
        latest = max(i.updated_at.timestamp() for i in doubtful) + self.lookup.settle
        while doubtful:
            found = self.find({i.tag for i in doubtful})
            now = self.clock.now()
            still = []
            for intent in doubtful:
                order = found.get(intent.tag)
                if order is not None:
                    result.found.append(self.journal.placed(intent, order.order_id, now, FOUND))
                elif now.timestamp() >= intent.updated_at.timestamp() + self.lookup.settle:
                    result.absent.append(self.journal.absent(intent, now, "looked up at start: not in the order book"))
                else:
                    still.append(intent)
            doubtful = still
            if doubtful:
                self.sleep(max(0.0, min(self.lookup.settle / max(1, self.lookup.looks - 1), latest - now.timestamp())))
        return result
