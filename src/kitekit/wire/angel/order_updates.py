"""The order-update stream (``smart-order-update``): its JSON messages and their ``order-status`` codes.

Each message is a text frame ``{"user-id", "status-code": "200", "order-status": "AB05", "error-message",
"orderData": {…an order-book row…}}``; the first, on connecting, carries ``AB00`` and no order (SIM: as
Angel's docs show it). The handshake carries the same headers as WebSocket 2.0 (the SDK sends them all).
"""

from __future__ import annotations

import json
from typing import Any

from kitekit.wire.angel.orders import OrderStatus

__all__ = ["CONNECTED", "STATUS_CODES", "update_message", "update_status"]

#: The code of the message that greets a new connection.
CONNECTED = "AB00"

#: ``order-status`` per order status (Angel's table; "modified" is sent as AB04 whatever the order's state).
STATUS_CODES: dict[OrderStatus, str] = {
    OrderStatus.OPEN: "AB01",
    OrderStatus.CANCELLED: "AB02",
    OrderStatus.REJECTED: "AB03",
    OrderStatus.MODIFIED: "AB04",
    OrderStatus.COMPLETE: "AB05",
    OrderStatus.AMO_RECEIVED: "AB06",
    OrderStatus.OPEN_PENDING: "AB09",
    OrderStatus.TRIGGER_PENDING: "AB10",
}


def update_status(status: str) -> str:
    """Return the ``order-status`` code of an order-book ``status`` (AB01, open, for one not in the table)."""
    try:
        return STATUS_CODES[OrderStatus(status)]
    except ValueError:
        return STATUS_CODES[OrderStatus.OPEN]


def update_message(user_id: str, order: dict[str, Any] | None, code: str | None = None) -> str:
    """Return the text frame announcing ``order`` (an order-book row), or the greeting when it is None."""
    status = code or (CONNECTED if order is None else update_status(str(order.get("status", ""))))
    return json.dumps(
        {
            "user-id": user_id,
            "status-code": "200",
            "order-status": status,
            "error-message": "",
            "orderData": order or {},
        },
        separators=(",", ":"),
    )
