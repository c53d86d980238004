"""The neutral orders: :class:`~kitekit.orders.OrderGateway` without Kite's extras, on any broker.

The order vocabulary (:class:`~kitekit.orders.OrderRequest`, ``Order``, ``Trade``, ``Placement``, the
``OrderStatus`` and ``Product`` enums) is already neutral in shape: requests name instruments by
``EXCHANGE:SYMBOL``, and the enums' values are Kite's, which serve as the neutral values; each other broker maps
them at its edge (Upstox's lowercase statuses, Angel's ``DELIVERY`` product). Every implementation keeps the
three promises of Kite's: requests checked by the pre-trade rules before they leave, each intent placed once
(journaled, looked up by tag after any doubt), and paper trading by default.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from kitekit.orders.events import OrderUpdate
from kitekit.orders.gateway import QuoteAtHand
from kitekit.orders.model import Charges, Order, OrderChange, OrderRequest, Placement, Trade
from kitekit.orders.portfolio import Funds, Holding, Positions

__all__ = ["BrokerOrders", "OrderEvent"]

#: One change of one order (its new state, the status before, and where it was seen): the neutral order event.
OrderEvent = OrderUpdate


@runtime_checkable
class BrokerOrders(Protocol):
    """Orders, portfolio and funds, the same way on paper and live, on any broker.

    Every :class:`~kitekit.orders.OrderGateway` is one (Kite's ``PaperBroker`` and ``LiveBroker``); GTTs stay on
    the Kite gateway itself (see :class:`~kitekit.brokers.capabilities.Extra`).
    """

    paper: bool

    def check(self, request: OrderRequest, quote: QuoteAtHand = None) -> OrderRequest:
        """Return ``request`` as it would be sent, or raise OrderValidationError naming the rule."""
        ...

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: QuoteAtHand = None
    ) -> Placement:
        """Validate and place ``request`` once for ``intent_id``; the same intent again returns its first order."""
        ...

    def place_sliced(self, request: OrderRequest, intent_id: str | None = None) -> list[Placement]:
        """Place ``request`` in slices within the freeze quantity, one intent per slice."""
        ...

    def modify(self, order_id: str, change: OrderChange) -> str:
        """Change a live order; a change already in place succeeds without a request."""
        ...

    def cancel(self, order_id: str) -> str:
        """Cancel an order; one already cancelled succeeds."""
        ...

    def orders(self) -> list[Order]:
        """Return today's orders, oldest first."""
        ...

    def order(self, order_id: str) -> Order:
        """Return an order's current state."""
        ...

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state an order went through, oldest first."""
        ...

    def trades(self) -> list[Trade]:
        """Return today's fills."""
        ...

    def positions(self) -> Positions:
        """Return net and day positions."""
        ...

    def holdings(self) -> list[Holding]:
        """Return the holdings."""
        ...

    def margins(self) -> Funds:
        """Return funds and margins per segment."""
        ...

    def margin_required(self, request: OrderRequest) -> float:
        """Return the margin ``request`` needs if placed alone."""
        ...

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return what each order's fills cost in brokerage, taxes and fees."""
        ...
