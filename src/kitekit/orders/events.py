"""Order status changes as events: callbacks and an async iterator, de-duplicated whatever brings them.

They come from polling the order book (``GET /orders`` through the gateway, so under the pacer), from
:meth:`OrderEvents.push` (each ``{"type": "order", "data": …}`` payload the ticker receives: the official
``KiteTicker``'s ``on_order_update``, or kitekit's asyncio ticker; and each verified postback, through
:class:`kitekit.orders.postbacks.PostbackInbox`), and from :meth:`OrderEvents.replay` of an order's history
when a gap is reconciled. However they come, one change is reported once, and never backwards: a stale poll
that still shows an order OPEN after a push reported it COMPLETE is ignored.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kitekit.orders.model import Order
from kitekit.wire.orders import OrderStatus

__all__ = ["OrderEvents", "OrderUpdate"]

log = logging.getLogger("kitekit.orders")


class _Book(Protocol):
    def orders(self) -> list[Order]: ...


@dataclass(frozen=True)
class OrderUpdate:
    """One change of one order: its new state, the status before (None when first seen) and the source."""

    order: Order
    previous: OrderStatus | str | None
    source: str

    @property
    def status(self) -> OrderStatus | str:
        """Return the order's status after the change."""
        return self.order.status


def _progress(order: Order) -> tuple[Any, ...]:
    return (str(order.status), order.filled_quantity, order.quantity, order.price, order.trigger_price)


#: The states of an order's history a replay reports: where it rests or ends. The transient ones in between
#: (validation, a modification or a cancellation on its way) are neither pushed by Kite nor kept by its book.
_REPLAYED = frozenset(
    {
        OrderStatus.AMO_REQ_RECEIVED,
        OrderStatus.OPEN,
        OrderStatus.TRIGGER_PENDING,
        OrderStatus.COMPLETE,
        OrderStatus.CANCELLED,
        OrderStatus.REJECTED,
        OrderStatus.LAPSED,
    }
)


class _Pushes(Protocol):
    """Anything that calls ``on_order_update(payload)`` with Kite's order messages: a ticker."""

    on_order_update: Callable[[dict[str, Any]], object] | None


class OrderEvents:
    """Turns order book snapshots and pushed updates into one stream of changes.

    Args:
        book: anything with ``orders()``: a :class:`~kitekit.orders.LiveBroker` or :class:`~kitekit.orders.PaperBroker`.
        interval: seconds between polls of the background thread and of :meth:`stream`.
    """

    def __init__(self, book: _Book, interval: float = 1.0) -> None:
        self.book = book
        self.interval = interval
        self._seen: dict[str, tuple[Any, ...]] = {}
        self._callbacks: list[Callable[[OrderUpdate], None]] = []
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: Polls that failed (the background thread logs each and carries on).
        self.failures = 0

    # -- subscribing --------------------------------------------------------------------------------
    def on_update(self, callback: Callable[[OrderUpdate], None]) -> Callable[[], None]:
        """Call ``callback`` with every change from now on; return a function that stops it."""
        with self._lock:
            self._callbacks.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._callbacks:
                    self._callbacks.remove(callback)

        return unsubscribe

    async def stream(self) -> AsyncIterator[OrderUpdate]:
        """Yield every change from now on; polls by itself unless the background thread runs.

        Route: ``GET /orders`` (through the gateway) every ``interval`` seconds while it polls.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[OrderUpdate] = asyncio.Queue()

        def deliver(update: OrderUpdate) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, update)  # callbacks run on the polling thread

        unsubscribe = self.on_update(deliver)
        poller = None if self.running else asyncio.create_task(self._poll_forever())
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()
            if poller is not None:
                poller.cancel()

    async def _poll_forever(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.poll)
            except Exception as exc:  # a failed poll is a gap, not the end of the stream
                self.failures += 1
                log.warning("order poll failed (%s: %s); polling on", type(exc).__name__, exc)
            await asyncio.sleep(self.interval)

    # -- sources ------------------------------------------------------------------------------------
    def poll(self) -> list[OrderUpdate]:
        """Read the order book once and report what changed since it was last seen. Route: ``GET /orders``."""
        updates = []
        for order in self.book.orders():
            update = self._accept(order, "poll")
            if update is not None:
                updates.append(update)
        return updates

    def listen(self, ticker: _Pushes) -> None:
        """Merge the order updates a :class:`~kitekit.ticker.Ticker` receives, as they arrive.

        Updates then reach callbacks and :meth:`stream` within moments of the exchange's change, and polling
        still fills any gap (a reconnect, a missed frame); each change is reported once either way.
        """
        ticker.on_order_update = self.push

    def push(self, payload: Mapping[str, Any] | Order, source: str = "websocket") -> OrderUpdate | None:
        """Merge one pushed order update (the ``data`` of a ticker's order message, or a postback).

        Kite's ``UPDATE`` status (a partial fill or a change) stands for the order's current live status, so
        it merges with what a poll shows. Returns the change, or None if it was already known.
        """
        order = payload if isinstance(payload, Order) else Order.from_kite(payload)
        if order.status == OrderStatus.UPDATE:
            known = self._seen.get(order.order_id)
            live = known[0] if known and known[0] in (OrderStatus.OPEN, OrderStatus.TRIGGER_PENDING) else "OPEN"
            order = Order.from_kite({**order.raw, "status": live})
        return self._accept(order, source)

    def is_current(self, order: Order) -> bool:
        """Return True if ``order`` as it stands is the last change reported of it (nothing new to tell)."""
        with self._lock:
            return self._seen.get(order.order_id) == _progress(order)

    def replay(self, history: Sequence[Order], source: str = "reconcile") -> list[OrderUpdate]:
        """Report the states of one order's history (oldest first) that came after the last one reported.

        What fills a gap: after a missed push (a dropped postback, a reconnect), the order's history
        (``GET /orders/{order_id}``) holds every state it went through; those after the last reported one are
        reported in order, the transient ones skipped. Returns the changes reported.
        """
        if not history:
            return []
        with self._lock:
            seen = self._seen.get(history[0].order_id)
        start = 0
        for i, state in enumerate(history):
            if _progress(state) == seen:
                start = i + 1  # the latest occurrence: an order may return to an earlier state
        updates = []
        for state in history[start:]:
            if state.status in _REPLAYED and (update := self._accept(state, source)) is not None:
                updates.append(update)
        return updates

    def _accept(self, order: Order, source: str) -> OrderUpdate | None:
        key = _progress(order)
        with self._lock:
            before = self._seen.get(order.order_id)
            if before == key or (before is not None and _backwards(before, key)):
                return None
            self._seen[order.order_id] = key
            callbacks = list(self._callbacks)
        update = OrderUpdate(order, before[0] if before else None, source)
        for callback in callbacks:
            try:
                callback(update)
            except Exception:  # one faulty listener must not starve the others
                log.exception("an order update callback failed")
        return update

    # -- the background poller ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return True while the background thread polls."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> OrderEvents:
        """Poll every ``interval`` seconds in a daemon thread (idempotent); return self."""
        if not self.running:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="kitekit-order-events", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop the background thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll()
            except Exception as exc:  # the poller outlives a failed read; the next one may succeed
                self.failures += 1
                log.warning("order poll failed (%s: %s); polling on", type(exc).__name__, exc)
            self._stop.wait(self.interval)


def _backwards(before: tuple[Any, ...], after: tuple[Any, ...]) -> bool:
    """Return True if ``after`` is older news than ``before`` (a stale snapshot arriving late)."""
    was_final = before[0] in {s.value for s in OrderStatus if s.is_terminal}
    return was_final or after[1] < before[1]
