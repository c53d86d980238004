"""``LiveBroker``: real orders through the official ``KiteConnect``, checked first, never sent twice."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kiteconnect.exceptions import KiteException

from kitekit.clock import Clock, clock_of
from kitekit.errors import OrderStateError
from kitekit.orders.gateway import Instruments, QuoteAtHand
from kitekit.orders.journal import Intent, IntentJournal, derive_tag, new_intent_id
from kitekit.orders.model import Charges, Order, OrderChange, OrderRequest, Placement, Trade
from kitekit.orders.outcomes import Outcome, outcome_of
from kitekit.orders.placement import Budget, LookupPolicy, Placer, Reconciliation, StepHook
from kitekit.orders.portfolio import Funds, Gtt, GttRequest, Holding, Positions
from kitekit.orders.rules import PreTradeRules
from kitekit.orders.static_ip import AddressCheck
from kitekit.orders.validator import Validator, day_of
from kitekit.wire.orders import Variety

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["LiveBroker"]

log = logging.getLogger("kitekit.orders")


class LiveBroker:
    """Real orders on Kite: validated, journaled before sending, looked up by tag after any doubt.

    Constructing one reconciles the journal (``GET /orders``) when it holds intents of today. Any number of
    processes may share one journal and place the same intents: each intent is sent by one of them.

    Args:
        kite: the client from ``get_kite()``; its transport paces order POSTs at 10/s.
        instruments: the instrument store, for validation.
        folder: where the journal lives (``journal.sqlite3``); ignored when ``journal`` is given.
        journal: an open intent journal.
        account: the user id intents are recorded under; default: ``GET /user/profile``'s.
        clock: the time source (trading day, budgets).
        rules: the pre-trade rules.
        budget: the local order budgets (400 a minute, 5,000 a day).
        lookup: how doubts are settled.
        sleep: how to wait (injectable for tests).
        reconcile: settle intents left in doubt now.
        on_step: called between the steps of every placement (a seam for tests and benchmarks: see ``Step``).
    """

    paper = False

    def __init__(
        self,
        kite: KiteConnect,
        instruments: Instruments,
        *,
        folder: Path | None = None,
        journal: IntentJournal | None = None,
        account: str | None = None,
        clock: Clock | None = None,
        rules: PreTradeRules | None = None,
        budget: Budget | None = None,
        lookup: LookupPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        reconcile: bool = True,
        on_step: StepHook | None = None,
    ) -> None:
        if journal is None:
            from kitekit.paths import data_dir

            journal = IntentJournal(folder or data_dir() / "orders")
        self.kite = kite
        self.clock = clock or clock_of(kite)
        self.journal = journal
        self.account = account or str(kite.profile()["user_id"])
        self.instruments = instruments
        self.validator = Validator(instruments.instrument, rules, day_of(self.clock.now))
        #: Kite's static-IP rule, checked before every order request (place, modify, cancel, exit).
        self.address = AddressCheck(kite, self.validator.rules.static_ips)
        self.lookup = lookup or LookupPolicy()
        self.sleep = sleep
        self.placer = Placer(kite, journal, self.account, self.clock, budget, self.lookup, sleep, on_step)
        self.last_reconciliation = self.reconcile() if reconcile else Reconciliation()

    # -- placing ------------------------------------------------------------------------------------
    def check(self, request: OrderRequest, quote: QuoteAtHand = None) -> OrderRequest:
        """Return ``request`` as it would be sent: checked by the pre-trade rules and completed.

        Raises:
            OrderValidationError: a rule is broken (the rule and the nearest valid value are named).
        """
        return self.validator.check(request, quote)

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: QuoteAtHand = None
    ) -> Placement:
        """Validate ``request`` and place it once for ``intent_id``; the same intent again returns its order.

        Route: ``POST /orders/{variety}``; ``GET /orders`` after any doubt.

        Args:
            request: the order.
            intent_id: names the intent (unique per account and day); generated when None, or ``tag`` if given.
            tag: a tag of your own instead of the one derived from the intent id (20 letters or digits).
            quote: a quote of the instrument, to check circuit limits and stops against.

        Raises:
            OrderValidationError: a pre-trade rule is broken (the static-IP rule too); nothing was sent.
            IntentConflictError: the id or tag was used today for a different order.
            OrderInDoubtError: the order may be at the exchange and the order book could not be read.
            OrderBudgetError: the day's order budget is spent.
            kiteconnect.exceptions.KiteException: Kite refused the order.
        """
        checked = self.validator.check(request, quote)
        if tag is not None:
            tag = self.validator.check_tag(tag)
        self.address.check()
        intent_id = intent_id or tag or new_intent_id()
        tag = tag or derive_tag(intent_id, self.account, self.placer.today())
        try:
            return self.placer.place(intent_id, tag, checked.to_kite())
        except KiteException as exc:
            self.address.learn(exc)
            raise

    def place_sliced(self, request: OrderRequest, intent_id: str | None = None) -> list[Placement]:
        """Place ``request`` in slices within the freeze quantity, each its own intent (``<id>-s1``, …).

        Placing the same intent id again returns the slices already placed and places the rest.

        Route: ``POST /orders/{variety}`` per slice.

        Raises:
            As :meth:`place`, for the first slice that fails (the earlier ones stay placed).
        """
        intent_id = intent_id or new_intent_id()
        parts = self.validator.slices(request)
        if len(parts) == 1:
            return [self.place(parts[0], intent_id)]
        return [self.place(part, f"{intent_id}-s{i}") for i, part in enumerate(parts, 1)]

    def reconcile(self) -> Reconciliation:
        """Settle every intent left new or in doubt (found, absent, or given up for a past day), and audit the book.

        Every order of today's book carrying one of today's tags becomes known to the journal; an intent's
        second order is logged as an error and listed in ``extra``.

        Route: ``GET /orders``.
        """
        result = self.placer.reconcile()
        if result.found or result.absent or result.failed:
            log.warning(
                "order journal reconciled: %d found, %d absent, %d given up",
                len(result.found),
                len(result.absent),
                len(result.failed),
            )
        for extra in result.extra:
            log.error(
                "intent %s (tag %s) has a second exchange order today, %s, besides %s: check the position, and "
                "cancel or exit the one not wanted",
                extra.intent_id,
                extra.tag,
                extra.order_id,
                extra.first_order_id,
            )
        return result

    def intents(self) -> list[Intent]:
        """Return today's intents of this account, oldest first."""
        return self.journal.intents(self.account, self.placer.today())

    # -- changing orders ----------------------------------------------------------------------------
    def modify(self, order_id: str, change: OrderChange) -> str:
        """Change a live order; if it already carries the change nothing is sent.

        Route: ``PUT /orders/{variety}/{order_id}``; ``GET /orders/{order_id}`` before and after any doubt.

        Raises:
            OrderValidationError: the new terms break a pre-trade rule.
            OrderStateError: the order is no longer live.
            kiteconnect.exceptions.KiteException: Kite refused the change.
        """

        def send(order: Order) -> None:
            self.validator.check_change(order, change)
            self.address.check()
            self.kite.modify_order(
                order.variety, order.order_id, parent_order_id=order.parent_order_id, **change.to_kite()
            )

        return self._idempotent(order_id, "modified", change.applied_to, send)

    def cancel(self, order_id: str) -> str:
        """Cancel an order; one already cancelled succeeds without a request.

        Route: ``DELETE /orders/{variety}/{order_id}``; ``GET /orders/{order_id}`` before and after any doubt.

        Raises:
            OrderStateError: the order filled or was rejected.
            kiteconnect.exceptions.KiteException: Kite refused the cancel.
        """

        def send(order: Order) -> None:
            self.address.check()
            self.kite.cancel_order(order.variety, order.order_id, parent_order_id=order.parent_order_id)

        return self._idempotent(order_id, "cancelled", lambda o: o.is_cancelled, send)

    def exit(self, order_id: str) -> str:
        """Exit a cover order: its stop-loss leg goes at market (an unfilled entry is cancelled).

        Other orders are cancelled, as :meth:`cancel` does.

        Route: ``DELETE /orders/co/{order_id}``; ``GET /orders`` to find the leg.

        Raises:
            OrderStateError: nothing is left to exit.
        """
        order = self.order(order_id)
        if order.variety != Variety.CO:
            return self.cancel(order_id)
        target = order
        if order.parent_order_id is None:
            legs = [o for o in self.orders() if o.parent_order_id == order_id]
            if order.is_live or not legs:
                return self.cancel(order_id)
            target = legs[0]

        def send(leg: Order) -> None:
            self.address.check()
            self.kite.exit_order(leg.variety, leg.order_id, parent_order_id=leg.parent_order_id)

        return self._idempotent(target.order_id, "exited", lambda o: o.is_terminal, send)

    def _idempotent(
        self, order_id: str, verb: str, done: Callable[[Order], bool], send: Callable[[Order], None]
    ) -> str:
        """Send a change until the order shows it, looking at the order before every (re-)send."""
        for _ in range(self.lookup.max_sends):
            order = self.order(order_id)
            if done(order):
                return order_id
            if not order.is_live:
                raise OrderStateError(f"order {order_id} is {order.status}; it cannot be {verb}")
            started = self.clock.now().timestamp()
            try:
                send(order)
                return order_id
            except BaseException as exc:
                self.address.learn(exc)
                outcome = outcome_of(exc)
                if outcome is None:
                    raise
                if outcome in (Outcome.REFUSED, Outcome.NOT_SENT):
                    # Kite refuses changing a finished order: a change that raced a fill or an earlier
                    # request of ours lands here, so look once more before passing the refusal on.
                    after = self.order(order_id)
                    if done(after):
                        return order_id
                    if not after.is_live:
                        raise OrderStateError(f"order {order_id} is {after.status}; it cannot be {verb}") from exc
                    raise
                if self._settled(order_id, done, started, outcome):
                    return order_id
        raise OrderStateError(f"order {order_id} was not {verb} after {self.lookup.max_sends} requests")

    def _settled(self, order_id: str, done: Callable[[Order], bool], started: float, outcome: Outcome) -> bool:
        """Look at the order until it shows the change or a request in flight can no longer arrive."""
        deadline = started + (self.lookup.settle if outcome is Outcome.SILENT else 0.0)
        step = self.lookup.settle / max(1, self.lookup.looks - 1)
        while True:
            order = self.order(order_id)
            if done(order) or not order.is_live:
                return done(order)
            left = deadline - self.clock.now().timestamp()
            if left <= 0:
                return False
            self.sleep(min(step, left))

    # -- reading ------------------------------------------------------------------------------------
    def orders(self) -> list[Order]:
        """Return today's orders. Route: ``GET /orders``."""
        return [Order.from_kite(o) for o in self.kite.orders()]

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state of an order, oldest first. Route: ``GET /orders/{order_id}``."""
        return [Order.from_kite(o) for o in self.kite.order_history(order_id)]

    def order(self, order_id: str) -> Order:
        """Return an order's current state. Route: ``GET /orders/{order_id}``.

        Raises:
            kiteconnect.exceptions.OrderException: no such order today.
            OrderStateError: Kite returned an empty history.
        """
        history = self.order_history(order_id)
        if not history:
            raise OrderStateError(f"Kite has no history for order {order_id} today")
        return history[-1]

    def trades(self) -> list[Trade]:
        """Return today's fills. Route: ``GET /trades``."""
        return [Trade.from_kite(t) for t in self.kite.trades()]

    def positions(self) -> Positions:
        """Return net and day positions. Route: ``GET /portfolio/positions``."""
        return Positions.from_kite(self.kite.positions())

    def holdings(self) -> list[Holding]:
        """Return the holdings. Route: ``GET /portfolio/holdings``."""
        return [Holding.from_kite(h) for h in self.kite.holdings()]

    def margins(self) -> Funds:
        """Return funds and margins. Route: ``GET /user/margins``."""
        return Funds.from_kite(self.kite.margins())

    def margin_required(self, request: OrderRequest) -> float:
        """Return the margin ``request`` needs if placed alone. Route: ``POST /margins/orders``."""
        return float(self.kite.order_margins([request.margin_item()])[0]["total"])

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return what each order's fills cost. Route: ``POST /charges/orders`` (the virtual contract note)."""
        items = [o.contract_note_item() for o in orders]
        if not items:
            return []
        return [Charges.from_kite(note["charges"]) for note in self.kite.get_virtual_contract_note(items)]

    # -- GTT ----------------------------------------------------------------------------------------
    def gtts(self) -> list[Gtt]:
        """Return the GTT triggers. Route: ``GET /gtt/triggers``."""
        return [Gtt.from_kite(g) for g in self.kite.get_gtts()]

    def place_gtt(self, request: GttRequest) -> int:
        """Place a GTT trigger. Route: ``POST /gtt/triggers``."""
        return int(self.kite.place_gtt(**request.sdk_args())["trigger_id"])

    def modify_gtt(self, trigger_id: int, request: GttRequest) -> int:
        """Change an active GTT trigger. Route: ``PUT /gtt/triggers/{id}``."""
        return int(self.kite.modify_gtt(trigger_id, **request.sdk_args())["trigger_id"])

    def delete_gtt(self, trigger_id: int) -> int:
        """Delete a GTT trigger. Route: ``DELETE /gtt/triggers/{id}``."""
        return int(self.kite.delete_gtt(trigger_id)["trigger_id"])
