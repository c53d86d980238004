"""The interfaces the order brokers implement (:class:`BrokerOrders`, :class:`OrderGateway`), and what they need.

Only protocols and types live here: the brokers import this module, and :func:`kitekit.orders.factory.broker`
imports the brokers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from kitekit.engine.quote import MarketQuote
from kitekit.orders.model import Charges, Order, OrderChange, OrderRequest, Placement, Trade
from kitekit.orders.portfolio import Funds, Gtt, GttRequest, Holding, Positions
from kitekit.wire.instruments_csv import Instrument

__all__ = ["BrokerOrders", "Instruments", "OrderGateway", "QuoteAtHand"]

#: A quote to check circuit limits and stops against: the engine's, or a ``/quote`` item as Kite sends it.
QuoteAtHand = MarketQuote | Mapping[str, Any] | None


class Instruments(Protocol):
    """What the brokers need of an instrument store: ``InstrumentStore`` is one."""

    def instrument(self, query: str | int) -> Instrument:
        """Return the instrument ``query`` names; raise ``UnknownInstrumentError`` if none."""
        ...


@runtime_checkable
class BrokerOrders(Protocol):
    """Orders, portfolio and funds, the same way on paper and live, on any broker.

    Re-exported by :mod:`kitekit.brokers.orders`, which the runner, dashboard and CLI program against.
    ``paper`` says which one it is. Placements are idempotent per intent id (unique per account and trading
    day): placing an intent again returns its first order. Cancels and modifies are idempotent too: a cancel
    of a cancelled order succeeds. Each broker keeps the promises of Kite's: requests checked by the pre-trade
    rules before they leave, each intent placed once (journaled, looked up by tag after any doubt).
    """

    paper: bool

    def check(self, request: OrderRequest, quote: QuoteAtHand = None) -> OrderRequest:
        """Return ``request`` as it would be sent (validated and completed), or raise OrderValidationError."""
        ...

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: QuoteAtHand = None
    ) -> Placement:
        """Validate and place ``request`` once for ``intent_id`` (generated when None)."""
        ...

    def place_sliced(self, request: OrderRequest, intent_id: str | None = None) -> list[Placement]:
        """Place ``request`` in slices within the freeze quantity, one intent per slice (``<id>-s1``…)."""
        ...

    def modify(self, order_id: str, change: OrderChange) -> str:
        """Change a live order; a change already in place succeeds without a request."""
        ...

    def cancel(self, order_id: str) -> str:
        """Cancel an order; an order already cancelled succeeds."""
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
        """Return the margin ``request`` needs if placed alone (MARKET valued at the last price)."""
        ...

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return what each order's fills cost in brokerage, taxes and fees (Kite's virtual contract note)."""
        ...


@runtime_checkable
class OrderGateway(BrokerOrders, Protocol):
    """The neutral orders plus Kite's extras: cover-order exits and GTTs (Kite's ``PaperBroker`` and ``LiveBroker``)."""

    def exit(self, order_id: str) -> str:
        """Exit a cover order (its stop-loss leg at market); other orders are cancelled."""
        ...

    def gtts(self) -> list[Gtt]:
        """Return the GTT triggers."""
        ...

    def place_gtt(self, request: GttRequest) -> int:
        """Place a GTT trigger; return its id."""
        ...

    def modify_gtt(self, trigger_id: int, request: GttRequest) -> int:
        """Change an active GTT trigger; return its id."""
        ...

    def delete_gtt(self, trigger_id: int) -> int:
        """Delete a GTT trigger; return its id."""
        ...
