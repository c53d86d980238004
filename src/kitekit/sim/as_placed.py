"""An order as its client placed it, for brokers whose books do not show Kite's market-protection rewrite.

Kite's OMS books a protected MARKET order as a LIMIT at its protection price (an SL-M as an SL), tagged ``mktp``
(docs/simulator.md). The engine books every order that way, since the simulators share it; Upstox and Angel
show the order their client sent, so their edges undo the rewrite with :func:`as_placed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["as_placed"]

_UNDO = {"LIMIT": "MARKET", "SL": "SL-M"}


def as_placed(order: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``order`` (an engine order in Kite's shape) with the order type and price its client placed."""
    out = dict(order)
    if "mktp" in (order.get("tags") or ()) and order.get("order_type") in _UNDO:
        out["order_type"] = _UNDO[str(order["order_type"])]
        out["price"] = 0
    return out
