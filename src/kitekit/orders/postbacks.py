"""Kite's order postbacks, received: verified, de-duplicated, put in order, and fed to :class:`OrderEvents`.

Kite POSTs each update of an order placed through the app to its postback URL, signed with the app's
api_secret (:mod:`kitekit.wire.postbacks`). Nothing else about the delivery is promised: a post may come twice,
late, after a newer one, or never, and anyone who knows the URL can post. :class:`PostbackInbox` takes each
body (the HTTP edge is :mod:`kitekit.web.postbacks`) and

1. refuses what is not a JSON order (:attr:`Verdict.MALFORMED`) or not signed with the api_secret, checked in
   constant time (:attr:`Verdict.FORGED`): nothing of it reaches the events;
2. sets aside an exact repeat (:attr:`Verdict.KNOWN`) and an update older than one already taken of the same
   order (:attr:`Verdict.STALE`: an earlier exchange update time, or fewer fills);
3. pushes the rest to :class:`~kitekit.orders.events.OrderEvents`, where polling and the WebSocket meet it:
   a change is reported once, whichever source brings it first;
4. on :meth:`PostbackInbox.reconcile`, reads the order book and replays the history of each order whose
   state was not reported, so a dropped post leaves no gap.

Two updates of one order within the same second that keep its fills cannot be told apart by their payloads
(Kite's timestamps have whole seconds); if they arrive swapped, the next reconcile reports the later again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections import Counter, OrderedDict
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from kitekit.orders.model import Order
from kitekit.wire.postbacks import checksum_ok

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.orders.events import OrderEvents, OrderUpdate

__all__ = ["KiteOrderBook", "OrderBook", "PostbackInbox", "Verdict"]

log = logging.getLogger("kitekit.orders.postbacks")

#: The largest postback body taken, in bytes (an order object is about 1 KB).
MAX_BODY = 64 * 1024


class Verdict(StrEnum):
    """What became of one postback."""

    ACCEPTED = "accepted"  # verified and new: reported to the events
    KNOWN = "known"  # verified, but nothing new (a repeat, or a change already reported by another source)
    STALE = "stale"  # verified, but older than what is known of the order (it arrived out of order)
    FORGED = "forged"  # not signed with the app's api_secret: refused
    MALFORMED = "malformed"  # not a JSON order object: refused

    @property
    def refused(self) -> bool:
        """Return True for the verdicts the edge answers with an error (nothing of the body was used)."""
        return self in (Verdict.FORGED, Verdict.MALFORMED)


class OrderBook(Protocol):
    """Where a gap is reconciled from: today's orders and one order's history (a ``LiveBroker`` is one)."""

    def orders(self) -> list[Order]:
        """Return today's orders (``GET /orders``)."""
        ...

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state of one order, oldest first (``GET /orders/{order_id}``)."""
        ...


class KiteOrderBook:
    """The order book of a logged-in ``KiteConnect``, as :class:`OrderBook` and ``OrderEvents`` read it."""

    def __init__(self, kite: KiteConnect) -> None:
        self.kite = kite

    def orders(self) -> list[Order]:
        """Return today's orders. Route: ``GET /orders``."""
        return [Order.from_kite(o) for o in self.kite.orders()]

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state of an order, oldest first. Route: ``GET /orders/{order_id}``."""
        return [Order.from_kite(o) for o in self.kite.order_history(order_id)]


def _mark(payload: Any) -> tuple[str, int]:
    """Return how far along an order update is: its exchange update time (or order time), then its fills."""
    stamp = payload.get("exchange_update_timestamp") or payload.get("order_timestamp") or ""
    filled = payload.get("filled_quantity")
    return str(stamp), filled if isinstance(filled, int) and not isinstance(filled, bool) else 0


class PostbackInbox:
    """Takes Kite's postbacks for one app and feeds the verified, new ones to ``events``; thread-safe.

    Args:
        api_secret: the app's secret, which signs every genuine postback. Never logged or shown.
        events: where the updates go, with polling and the WebSocket.
        book: where :meth:`reconcile` reads the orders from; None leaves gaps to polling.
        remember: how many recent postbacks are remembered to recognise a repeat.
    """

    def __init__(
        self, api_secret: str, events: OrderEvents, book: OrderBook | None = None, remember: int = 100_000
    ) -> None:
        if not api_secret:
            raise ValueError("the app's api_secret is needed to verify postbacks")
        self._secret = api_secret
        self.events = events
        self.book = book
        self.remember = remember
        self._lock = threading.Lock()
        self._digests: OrderedDict[str, None] = OrderedDict()
        self._marks: dict[str, tuple[str, int]] = {}
        #: Postbacks by verdict, and updates reported by reconciling.
        self.counts: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"PostbackInbox(events={self.events!r})"  # never the secret

    def receive(self, body: bytes) -> Verdict:
        """Take one postback body (the raw JSON Kite POSTed) and return what became of it."""
        verdict = self._judge(body)
        with self._lock:
            self.counts[verdict] += 1
        return verdict

    def _judge(self, body: bytes) -> Verdict:
        if len(body) > MAX_BODY:
            return Verdict.MALFORMED
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
            return Verdict.MALFORMED
        if not isinstance(payload, dict) or not isinstance(payload.get("order_id"), str):
            return Verdict.MALFORMED
        if not checksum_ok(payload, self._secret):
            log.warning("refused a postback for order %s: its checksum is not the app's", payload["order_id"][:32])
            return Verdict.FORGED
        try:
            order = Order.from_kite(payload)
        except (KeyError, TypeError, ValueError):
            return Verdict.MALFORMED
        digest = hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        mark = _mark(payload)
        with self._lock:
            if digest in self._digests:
                return Verdict.KNOWN
            self._digests[digest] = None
            while len(self._digests) > self.remember:
                self._digests.popitem(last=False)
            known = self._marks.get(order.order_id)
            if known is not None and mark < known:
                return Verdict.STALE
            self._marks[order.order_id] = mark
        return Verdict.ACCEPTED if self.events.push(order, source="postback") is not None else Verdict.KNOWN

    def reconcile(self) -> list[OrderUpdate]:
        """Report what postbacks missed: each order whose state was not reported gets its history replayed.

        Routes: ``GET /orders``, and ``GET /orders/{order_id}`` for each order with news.

        Raises:
            RuntimeError: the inbox was made without a book.
        """
        if self.book is None:
            raise RuntimeError("reconciling needs the order book: give PostbackInbox a book")
        updates: list[OrderUpdate] = []
        for order in self.book.orders():
            if self.events.is_current(order):
                continue
            history = self.book.order_history(order.order_id)
            updates += self.events.replay(history, source="reconcile")
            if history:
                with self._lock:
                    mark = _mark(history[-1].raw)
                    self._marks[order.order_id] = max(mark, self._marks.get(order.order_id, mark))
        with self._lock:
            self.counts["reconciled"] += len(updates)
        return updates
