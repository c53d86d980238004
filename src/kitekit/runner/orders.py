"""The run's gateway: the :class:`~kitekit.orders.OrderGateway` a strategy holds, every order through the risk guard.

The strategy's ``self.orders`` is this object, never the broker: each placement and modification is checked by
the run's :class:`~kitekit.runner.risk.RiskGuard` first, then named and tagged as the run's (so the run finds its
orders in the account's order book after a restart), written ahead to the run's state, and only then sent.
Orders of other runs or placed by hand are not the strategy's to change, and GTTs are refused: they would fire
later, outside the limits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Container, Sequence
from typing import Any, Protocol

from kitekit.errors import OrderStateError, RiskLimitError
from kitekit.orders import (
    Charges,
    Funds,
    Gtt,
    GttRequest,
    Holding,
    Order,
    OrderChange,
    OrderGateway,
    OrderRequest,
    Placement,
    Positions,
    Trade,
    Validator,
)

__all__ = ["RunDesk", "RunOrders", "intent_suffix"]


class _Sequenced(Protocol):
    seq: int


class RunDesk(Protocol):
    """What :class:`RunOrders` needs of its run (:class:`kitekit.runner.core.RunCore` is one).

    A protocol rather than the core's class: the core holds its ``RunOrders``, so naming the class here would
    tie the two modules in a circle.
    """

    @property
    def broker(self) -> OrderGateway: ...  # where the run's orders go
    @property
    def instruments(self) -> Any: ...  # the instrument store (``.instrument(key)``)
    @property
    def state(self) -> _Sequenced: ...  # the run's saved state (``seq``: the last intent number)
    @property
    def tracked(self) -> Container[str]: ...  # the ids of the run's orders

    def place(self, request: OrderRequest, intent_id: str | None, *, quote: Any = None) -> Placement:
        """Check an order against the risk limits, name and tag it, write it ahead, then send it."""
        ...

    def modify(self, order_id: str, change: OrderChange) -> str:
        """Check a modification against the limits, then send it."""
        ...

    def touched(self) -> None:
        """Note that an order changed."""
        ...


def intent_suffix(intent: str) -> str:
    """Return the 8 letters and digits that end the tag of a strategy's named intent."""
    return hashlib.sha256(intent.encode()).hexdigest()[:8]


class RunOrders:
    """Orders of one run: checked by its risk limits, tagged as its own, and written ahead to its state.

    Args:
        core: the run.
    """

    def __init__(self, core: RunDesk) -> None:
        self._core = core
        #: True unless the run trades for real.
        self.paper = bool(core.broker.paper)

    # -- placing ------------------------------------------------------------------------------------
    def check(self, request: OrderRequest, quote: Any = None) -> OrderRequest:
        """Return ``request`` as it would be sent (the broker's pre-trade rules; the risk limits are at placing)."""
        return self._core.broker.check(request, quote)

    def place(
        self, request: OrderRequest, intent_id: str | None = None, *, tag: str | None = None, quote: Any = None
    ) -> Placement:
        """Check ``request`` against the run's risk limits, then place it once for ``intent_id``.

        Args:
            request: the order.
            intent_id: the strategy's name for this order (unique per run and day); placing the same intent
                again returns its first order, even after a restart. Default: the run's next number.
            tag: refused: the run tags its orders itself, to find them again.
            quote: a quote to check circuit limits against.

        Raises:
            RiskLimitError: a risk limit refused it (named); nothing was sent.
            OrderValidationError: a pre-trade rule refused it; nothing was sent.
            kiteconnect.exceptions.KiteException: the broker (Kite, or the engine as Kite would) refused it.
        """
        if tag is not None:
            raise RiskLimitError("tag", "a run tags its own orders (to find them after a restart); leave tag out")
        return self._core.place(request, intent_id, quote=quote)

    def place_sliced(self, request: OrderRequest, intent_id: str | None = None) -> list[Placement]:
        """Place ``request`` in slices within the freeze quantity, each its own intent (``<id>-s1``, …).

        The risk limits check each slice as it goes.
        """
        parts = Validator(self._core.instruments.instrument).slices(request)
        base = intent_id or f"n{self._core.state.seq + 1}"
        if len(parts) == 1:
            return [self.place(parts[0], base)]
        return [self.place(part, f"{base}-s{i}") for i, part in enumerate(parts, 1)]

    # -- changing -----------------------------------------------------------------------------------
    def modify(self, order_id: str, change: OrderChange) -> str:
        """Change one of the run's live orders, within the risk limits.

        Raises:
            RiskLimitError: a limit refused the change.
            OrderStateError: not an order of this run, or no longer live.
        """
        self._own(order_id)
        return self._core.modify(order_id, change)

    def cancel(self, order_id: str) -> str:
        """Cancel one of the run's orders (one already cancelled succeeds).

        Raises:
            OrderStateError: not an order of this run, or filled.
        """
        self._own(order_id)
        result = self._core.broker.cancel(order_id)
        self._core.touched()
        return result

    def exit(self, order_id: str) -> str:
        """Exit one of the run's cover orders (others are cancelled)."""
        self._own(order_id)
        result = self._core.broker.exit(order_id)
        self._core.touched()
        return result

    def _own(self, order_id: str) -> None:
        if order_id not in self._core.tracked:
            raise OrderStateError(f"order {order_id} is not one of this run's; a strategy changes only its own")

    # -- reading ------------------------------------------------------------------------------------
    def orders(self) -> list[Order]:
        """Return the run's orders today, oldest first."""
        mine = self._core.tracked
        return [o for o in self._core.broker.orders() if o.order_id in mine]

    def order(self, order_id: str) -> Order:
        """Return one of the run's orders as it stands."""
        self._own(order_id)
        return self._core.broker.order(order_id)

    def order_history(self, order_id: str) -> list[Order]:
        """Return every state one of the run's orders went through."""
        self._own(order_id)
        return self._core.broker.order_history(order_id)

    def trades(self) -> list[Trade]:
        """Return the run's fills today."""
        mine = self._core.tracked
        return [t for t in self._core.broker.trades() if t.order_id in mine]

    def positions(self) -> Positions:
        """Return the account's positions (the run's own are ``Strategy.positions``)."""
        return self._core.broker.positions()

    def holdings(self) -> list[Holding]:
        """Return the account's holdings."""
        return self._core.broker.holdings()

    def margins(self) -> Funds:
        """Return the account's funds and margins."""
        return self._core.broker.margins()

    def margin_required(self, request: OrderRequest) -> float:
        """Return the margin ``request`` needs if placed alone."""
        return self._core.broker.margin_required(request)

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return what each order's fills cost (Kite's contract note)."""
        return self._core.broker.charges(orders)

    # -- GTT: refused -------------------------------------------------------------------------------
    def gtts(self) -> list[Gtt]:
        """Return the account's GTT triggers."""
        return self._core.broker.gtts()

    def place_gtt(self, request: GttRequest) -> int:
        """Refused: a GTT fires later, outside the run's risk limits (use stop-loss orders).

        Raises:
            RiskLimitError: always.
        """
        raise RiskLimitError("gtt", "a run places no GTT: it would fire outside the run's risk limits; use SL orders")

    def modify_gtt(self, trigger_id: int, request: GttRequest) -> int:
        """Refused, as :meth:`place_gtt`."""
        raise RiskLimitError("gtt", "a run changes no GTT: it would fire outside the run's risk limits")

    def delete_gtt(self, trigger_id: int) -> int:
        """Delete a GTT trigger (removing one never adds risk)."""
        return self._core.broker.delete_gtt(trigger_id)
