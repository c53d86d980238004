"""The neutral orders: :class:`~kitekit.orders.OrderGateway` without Kite's extras, on any broker.

The order vocabulary (:class:`~kitekit.orders.OrderRequest`, ``Order``, ``Trade``, ``Placement``, the
``OrderStatus`` and ``Product`` enums) is already neutral in shape: requests name instruments by
``EXCHANGE:SYMBOL``, and the enums' values are Kite's, which serve as the neutral values; each other broker maps
them at its edge (Upstox's lowercase statuses, Angel's ``DELIVERY`` product). Every implementation keeps the
three promises of Kite's: requests checked by the pre-trade rules before they leave, each intent placed once
(journaled, looked up by tag after any doubt), and paper trading by default.

:class:`BrokerOrders` itself is defined once, beside the gateway it is the neutral part of
(:mod:`kitekit.orders.gateway`, whose ``OrderGateway`` adds Kite's exits and GTTs): the brokers build on the
order package, never the other way round, so the protocol lives below them and is named here.
"""

from __future__ import annotations

from kitekit.orders.events import OrderUpdate
from kitekit.orders.gateway import BrokerOrders

__all__ = ["BrokerOrders", "OrderEvent"]

#: One change of one order (its new state, the status before, and where it was seen): the neutral order event.
OrderEvent = OrderUpdate
