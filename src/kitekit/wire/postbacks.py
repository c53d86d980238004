"""Kite's order postbacks: which updates are posted, the payload's added fields, and its checksum.

Kite POSTs the raw JSON order to the app's postback URL on each change of an order placed through the app,
with four fields added: ``user_id``, ``unfilled_quantity``, ``app_id`` and ``checksum``, the hex SHA-256 of
``order_id + order_timestamp + api_secret`` (``docs/protocol.md`` §15.8; ``postback.json`` of
kiteconnect-mocks). The simulator signs with :func:`postback_payload`; a receiver checks with
:func:`checksum_ok`, in constant time, so a forger learns nothing from how long a refusal takes.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

__all__ = ["POSTBACK_STATUSES", "checksum_ok", "postback_checksum", "postback_payload"]

#: The order statuses Kite posts (its postbacks page): a fill or a change is ``UPDATE``; OPEN, TRIGGER PENDING
#: and the in-between states reach the WebSocket only.
POSTBACK_STATUSES = frozenset({"COMPLETE", "CANCELLED", "REJECTED", "UPDATE"})


def postback_checksum(order_id: str, order_timestamp: str, api_secret: str) -> str:
    """Return the lowercase hex SHA-256 of ``order_id + order_timestamp + api_secret`` (UTF-8, no separators)."""
    return hashlib.sha256(f"{order_id}{order_timestamp}{api_secret}".encode()).hexdigest()


def postback_payload(update: Mapping[str, Any], user_id: str, app_id: int, api_secret: str) -> dict[str, Any]:
    """Return an order update as Kite posts it: the order object with ``user_id``, ``unfilled_quantity``,
    ``app_id`` and ``checksum`` added (in that order, as in Kite's mock)."""
    stamp = update.get("order_timestamp") or ""
    return {
        "user_id": user_id,
        "unfilled_quantity": int(update.get("quantity") or 0) - int(update.get("filled_quantity") or 0),
        "app_id": app_id,
        "checksum": postback_checksum(str(update["order_id"]), str(stamp), api_secret),
        **update,
    }


def checksum_ok(payload: Mapping[str, Any], api_secret: str) -> bool:
    """Return True if ``payload``'s checksum is the one ``api_secret`` signs its order id and timestamp with.

    The comparison takes the same time wherever the first wrong character is. A payload without an order id,
    a timestamp or a checksum text is refused.
    """
    given, order_id, stamp = payload.get("checksum"), payload.get("order_id"), payload.get("order_timestamp")
    if not isinstance(given, str) or not isinstance(order_id, str) or not isinstance(stamp, str):
        return False
    want = postback_checksum(order_id, stamp, api_secret)
    # As bytes: compare_digest refuses text with characters beyond ASCII, which a forged checksum may hold.
    return hmac.compare_digest(given.encode("utf-8", "replace"), want.encode())
