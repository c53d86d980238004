"""Placing an intent exactly once: claim it in the journal, send, and after any doubt look the order up by its tag.

The rules (the module docstring of :mod:`kitekit.orders.outcomes` says why each failure is what it is):

1. the intent is recorded, then claimed (``new`` to ``sending`` in one fsync'd compare-and-set, with the
   send counted against the budgets) before the request leaves; only the claimant sends;
2. a clear answer settles it: an order id (placed) or a refusal (rejected, raised);
3. any doubt (no answer, a 5xx, a 429, a crash) is settled by looking for the tag in ``GET /orders``, never
   by sending again; only an order book without the tag, looked at long enough after the request could
   last have left that it cannot still be in flight, lets the same request (same tag) go again;
4. whoever finds an intent ``sending`` under a live claim (another process or thread) waits for that
   claim's outcome and returns it; a claim whose owner is gone is settled as in 3;
5. on start, every intent left ``sending`` by a journal that is gone is settled the same way, and every
   order in the book carrying one of the day's tags is made known to the journal (:meth:`Placer.reconcile`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

import requests
from kiteconnect import KiteConnect
from kiteconnect.exceptions import KiteException

from kitekit.clock import IST, Clock
from kitekit.errors import JournalError, OrderBudgetError, OrderError, OrderInDoubtError
from kitekit.orders.journal import Claim, ExtraOrder, Intent, IntentJournal, IntentState
from kitekit.orders.model import Order, Placement
from kitekit.orders.outcomes import Outcome, outcome_of
from kitekit.orders.owners import Owners
from kitekit.wire.envelope import ErrorType, error_type_of, exception_class

__all__ = ["AUDITED", "FOUND", "Budget", "LookupPolicy", "Placer", "Reconciliation", "Step", "StepHook"]

log = logging.getLogger("kitekit.orders")

#: The journal's note on an intent settled by finding its tag in the order book instead of by an answer.
FOUND = "found in the order book by its tag after an unclear answer"
#: The journal's note on an intent whose order the start-up audit of the order book found.
AUDITED = "found in the order book by its tag at reconciliation"


class Step(StrEnum):
    """The steps of a placement, as the ``on_step`` hook of :class:`Placer` (and ``LiveBroker``) sees them.

    The hook runs in the placing thread between two steps, with the intent as it stands; tests and the
    reliability benchmark stall or kill the process there to show that no interleaving sends an intent twice.
    """

    OPENED = "opened"  # the intent is recorded (or read back); nothing decided yet
    CLAIMING = "claiming"  # about to claim it (new to sending): another process may claim it first
    CLAIMED = "claimed"  # the claim is on disk; the request has not left
    ANSWERED = "answered"  # the request came back (an order id or a failure); nothing recorded yet
    RECORDED = "recorded"  # the answer is on disk
    LOOKING = "looking"  # about to read the order book to settle a doubt
    WAITING = "waiting"  # another live journal holds the claim; about to wait a moment for its outcome


#: The hook called between the steps of a placement.
StepHook = Callable[[Step, Intent], None]

#: How often an intent claimed by another live journal is read again while waiting for its outcome (seconds).
_POLL = 0.02


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
        wait: seconds to wait for another process's claim of the same intent to end (its answer recorded)
            before giving up with ``OrderInDoubtError``, nothing sent.
    """

    settle: float = 3.0
    looks: int = 4
    max_sends: int = 5
    wait: float = 60.0


@dataclass(frozen=True)
class Reconciliation:
    """What :meth:`Placer.reconcile` found: intents settled, and the day's extra orders (``extra``, to act on)."""

    found: list[Intent] = field(default_factory=list)
    absent: list[Intent] = field(default_factory=list)
    failed: list[Intent] = field(default_factory=list)
    extra: list[ExtraOrder] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.found or self.absent or self.failed or self.extra)


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
        on_step: called between the steps of every placement (a seam for tests and benchmarks).
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
        on_step: StepHook | None = None,
    ) -> None:
        self.kite = kite
        self.journal = journal
        self.account = account
        self.clock = clock
        self.budget = budget or Budget()
        self.lookup = lookup or LookupPolicy()
        self.sleep = sleep
        self.on_step = on_step

    def today(self) -> date:
        """Return the trading day intents are recorded under (the IST date)."""
        return self.clock.now().astimezone(IST).date()

    def _step(self, step: Step, intent: Intent) -> None:
        if self.on_step is not None:
            self.on_step(step, intent)

    # -- placing ------------------------------------------------------------------------------------
    def place(self, intent_id: str, tag: str, params: Mapping[str, Any]) -> Placement:
        """Place the order ``params`` (``place_order`` keyword arguments) once for ``intent_id``.

        Any number of processes may place the same intent at once: one sends, the others return its order.

        Route: ``POST /orders/{variety}``; ``GET /orders`` to settle doubts.

        Raises:
            IntentConflictError: the id or tag was used today for a different order.
            OrderInDoubtError: the order may be at the exchange and the order book could not be read, or
                another process's claim of the intent did not end within ``LookupPolicy.wait``.
            OrderBudgetError: the day's order budget is spent.
            OrderError: the intent was given up earlier (too many sends).
            kiteconnect.exceptions.KiteException: Kite refused it (raised again for a replay of the intent).
        """
        intent = self.journal.open(self.account, self.today(), intent_id, tag, params, self.clock.now())
        self._step(Step.OPENED, intent)
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
            if intent.state is IntentState.SENDING and intent.owner is not None:
                if self.journal.held(intent):
                    # Claimed by another process or thread, which may be sending it right now: its outcome is ours.
                    intent = self._wait(intent)
                    replayed, recovered = True, False
                else:
                    # The claimant is gone (killed, or its journal closed) before recording an answer: any
                    # request of its left before now, so hand the doubt over and settle it like any other.
                    intent = self.journal.release(intent, self.clock.now())
                continue
            if intent.state is IntentState.SENDING:
                # Left in doubt by an earlier call or process: its request may have arrived; look before sending.
                intent = self._settle(intent, Outcome.SILENT)
                replayed, recovered = False, intent.state is IntentState.PLACED
                continue
            intent, recovered = self._send(intent)
            replayed = False

    def _wait(self, intent: Intent) -> Intent:
        """Wait while a live claim of another journal (or thread) holds ``intent``; return it once that changes.

        Raises:
            OrderInDoubtError: the claim did not end within ``LookupPolicy.wait`` seconds.
        """
        deadline = self.clock.now().timestamp() + self.lookup.wait
        while True:
            self._step(Step.WAITING, intent)
            self.sleep(_POLL)
            current = self.journal.get(intent.account, intent.day, intent.intent_id)
            assert current is not None  # noqa: S101 - intents are never deleted
            if (current.state, current.sends, current.owner) != (intent.state, intent.sends, intent.owner):
                return current
            if not self.journal.held(current):
                return current
            if self.clock.now().timestamp() >= deadline:
                who = (
                    "this process"
                    if current.owner == self.journal.owner
                    else f"process {Owners.pid(current.owner or '?')}"
                )
                raise OrderInDoubtError(
                    f"intent {intent.intent_id!r} (tag {intent.tag}) is being sent by {who}, which recorded no "
                    f"answer within {self.lookup.wait:g} s. Nothing was sent from here; place the same intent again "
                    "to wait once more (if that process ends first, its request is looked up by tag).",
                    intent.intent_id,
                    intent.tag,
                )

    def _send(self, intent: Intent) -> tuple[Intent, bool]:
        """Claim a ``new`` intent and send it once; return it as the answer left it, and whether a lookup found it.

        When another process claimed or changed it first, nothing is sent and the intent is returned as it stands.

        Raises:
            OrderError: too many requests already; KiteException: Kite refused it (or the session is dead).
        """
        if intent.sends >= self.lookup.max_sends:
            given = self.journal.failed(intent, f"no order after {intent.sends} requests", self.clock.now())
            if given.state is IntentState.FAILED:
                raise OrderError(f"intent {intent.intent_id!r} was not placed after {intent.sends} requests; given up")
            return given, False
        self._step(Step.CLAIMING, intent)
        claim = self._reserve(intent)
        if not claim.won:
            return claim.intent, False
        sending = claim.intent
        recorded = False
        try:
            self._step(Step.CLAIMED, sending)
            try:
                order_id = str(self.kite.place_order(**sending.request, tag=sending.tag))
            except BaseException as exc:
                outcome = outcome_of(exc)
                if outcome is None:
                    raise  # the claim is handed over below: the next call or reconcile() looks it up first
                failed_at = self.clock.now()
                self._step(Step.ANSWERED, sending)
                log.info(
                    "order %s (%s): %s after request %d", sending.intent_id, sending.tag, outcome.name, sending.sends
                )
                if outcome is Outcome.REFUSED:
                    kind = error_type_of(exc) or ErrorType.GENERAL
                    done = self.journal.rejected(
                        sending, kind.value, int(getattr(exc, "code", 400)), str(exc), failed_at
                    )
                    recorded = True
                    self._step(Step.RECORDED, done)
                    raise
                if outcome is Outcome.NOT_SENT:
                    done = self.journal.absent(sending, failed_at, f"not sent: {exc}")
                    recorded = True
                    self._step(Step.RECORDED, done)
                    raise
                settled = self._settle(sending, outcome, failed_at)
                recorded = True
                return settled, settled.state is IntentState.PLACED
            self._step(Step.ANSWERED, sending)
            placed = self._placed(sending, order_id, self.clock.now())
            recorded = True
            self._step(Step.RECORDED, placed)
            return placed, False
        finally:
            if not recorded:
                self._hand_over(sending)

    def _hand_over(self, sending: Intent) -> None:
        """Release this journal's claim of ``sending`` after a failure left it unrecorded (others may settle it)."""
        try:
            self.journal.release(sending, self.clock.now())
        except JournalError as exc:
            # Never hide the failure being raised; a claim left held ends when this journal closes.
            log.error("intent %s (%s) stays claimed by this process: %s", sending.intent_id, sending.tag, exc)

    def _reserve(self, intent: Intent) -> Claim:
        """Wait for room in the per-minute budget, then claim the intent for sending (fsync'd); lost claims return."""
        while True:
            legs = int(intent.request.get("iceberg_legs") or 1) if intent.request.get("variety") == "iceberg" else 1
            claim = self.journal.claim(
                intent, self.clock.now(), self.budget.per_minute, self.budget.per_day, self.budget.window, legs
            )
            if claim.won or claim.wait == 0:
                return claim
            if math.isinf(claim.wait):
                raise OrderBudgetError(
                    f"{claim.sent_today} order requests were sent today, the day's budget of {self.budget.per_day} "
                    f"(Kite's limit per user); intent {intent.intent_id!r} was not sent. It can go tomorrow "
                    "or after Kite raises the limit (Budget(per_day=...))."
                )
            log.warning(
                "order budget: %d requests in the last minute; waiting %.1fs", self.budget.per_minute, claim.wait
            )
            self.sleep(claim.wait)

    def _placed(
        self, intent: Intent, order_id: str, now: datetime, message: str | None = None, how: str = "answer"
    ) -> Intent:
        """Record ``order_id`` for the intent; say so loudly when the intent already had another order."""
        result = self.journal.placed(intent, order_id, now, message, how)
        if result.order_id != order_id:
            log.error(
                "intent %s (tag %s) has a second exchange order %s; %s stays its order. The journal keeps both "
                "(extra_orders()): check the position, and cancel or exit the one not wanted.",
                intent.intent_id,
                intent.tag,
                order_id,
                result.order_id,
            )
        return result

    # -- settling doubts ----------------------------------------------------------------------------
    def _settle(self, intent: Intent, outcome: Outcome, since: datetime | None = None) -> Intent:
        """Look for the intent's tag until found, or until absence can be trusted; record what was found.

        ``since``: when the request failed (it left before then; without it, the intent's last change).

        Raises:
            OrderInDoubtError: the order book could not be read.
        """
        # An answered request is over; a silent one may still be in flight until `settle` after it last could
        # have left: the failure's time (the transport may have paced it long after the claim) or the release.
        start = max(intent.updated_at.timestamp(), since.timestamp() if since else 0.0)
        deadline = start + (self.lookup.settle if outcome is Outcome.SILENT else 0.0)
        step = self.lookup.settle / max(1, self.lookup.looks - 1)
        while True:
            self._step(Step.LOOKING, intent)
            orders = self.find({intent.tag}, intent).get(intent.tag, [])
            now = self.clock.now()
            if orders:
                return self._record_found(intent, orders, now)
            left = deadline - now.timestamp()
            if left <= 0:
                return self.journal.absent(intent, now, "looked up by tag: not in the order book")
            self.sleep(min(step, left))

    def _record_found(self, intent: Intent, orders: list[Order], now: datetime) -> Intent:
        """Record the orders found carrying the intent's tag (the oldest first); return the intent as recorded."""
        recorded = intent
        for order in orders:
            recorded = self._placed(intent, order.order_id, now, FOUND, "lookup")
        return recorded

    def find(self, tags: set[str], intent: Intent | None = None) -> dict[str, list[Order]]:
        """Return today's orders carrying each of ``tags``, oldest first. Route: ``GET /orders``.

        A cover order's second leg carries its parent's tag; it is the same intent's order, so it is left out.

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
        found: dict[str, list[Order]] = {}
        for order in book:
            if order.parent_order_id is not None:
                continue
            for tag in tags:
                if order.carries(tag):
                    found.setdefault(tag, []).append(order)
        return found

    def reconcile(self) -> Reconciliation:
        """Settle every intent of the account left new or in doubt, and audit today's order book against the journal.

        Intents of earlier days left unsettled are given up; today's left ``sending`` by a journal that is gone
        are looked up by tag (those a live journal is sending are left to it); and every order of today's book
        that carries one of today's tags and that the journal does not know is recorded (an intent's first
        order settles it, any other is an extra order, reported in ``extra``).

        Route: ``GET /orders`` (once when the journal has intents today, more only while a recent send may
        still be in flight).

        Raises:
            OrderInDoubtError: the order book could not be read while an intent is in doubt.
        """
        result = Reconciliation()
        today = self.today()
        doubtful = []
        for intent in self.journal.unsettled(self.account):
            if intent.state is IntentState.SENDING and intent.owner is not None and not self.journal.held(intent):
                intent = self.journal.release(intent, self.clock.now())  # its claimant is gone
            if intent.state is IntentState.SENDING and intent.owner is not None:
                continue  # a live journal is sending it and will record the answer
            if intent.day < today:
                why = (
                    "never sent"
                    if intent.state is IntentState.NEW
                    else "left in doubt; that day's order book is gone, so check Kite's order history for its tag"
                )
                given = self.journal.failed(intent, f"{why} (day {intent.day})", self.clock.now())
                if given.state is IntentState.FAILED:
                    result.failed.append(given)
            elif intent.state is IntentState.SENDING:
                doubtful.append(intent)
        todays = self.journal.intents(self.account, today)
        if not todays:
            return result
        latest = max((i.updated_at.timestamp() for i in doubtful), default=0.0) + self.lookup.settle
        audited = False
        while True:
            try:
                book = self.find({i.tag for i in todays})
            except OrderInDoubtError as exc:
                if doubtful:
                    raise
                log.warning("order journal: today's order book could not be read to audit it: %s", exc)
                break
            now = self.clock.now()
            if not audited:
                result.found.extend(self._audit(todays, {i.intent_id for i in doubtful}, book, now, today))
                audited = True
            still = []
            for intent in doubtful:
                orders = book.get(intent.tag, [])
                if orders:
                    result.found.append(self._record_found(intent, orders, now))
                elif now.timestamp() >= intent.updated_at.timestamp() + self.lookup.settle:
                    result.absent.append(self.journal.absent(intent, now, "looked up at start: not in the order book"))
                else:
                    still.append(intent)
            doubtful = still
            if not doubtful:
                break
            self.sleep(max(0.0, min(self.lookup.settle / max(1, self.lookup.looks - 1), latest - now.timestamp())))
        result.extra.extend(self.journal.extra_orders(self.account, today))
        return result

    def _audit(
        self, todays: list[Intent], skip: set[str], book: dict[str, list[Order]], now: datetime, today: date
    ) -> list[Intent]:
        """Record every order of the book carrying one of today's tags that the journal does not know.

        Returns the intents this settled (an order found for an intent that had none).
        """
        known = self.journal.order_ids(self.account, today)
        settled = []
        for intent in todays:
            if intent.intent_id in skip:
                continue
            for order in book.get(intent.tag, []):
                if order.order_id in known:
                    continue
                recorded = self._placed(intent, order.order_id, now, AUDITED, "audit")
                if intent.order_id is None and recorded.order_id == order.order_id:
                    settled.append(recorded)
        return settled
