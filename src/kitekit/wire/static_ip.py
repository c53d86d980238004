"""Kite's static-IP rule, once: which routes it guards and how a refusal reads (simulator and client alike).

Since April 2026 Kite takes order placement, modification and cancellation only from the static IP addresses
registered for the app in the developer console; every other route works from anywhere. A request from another
address is refused before it reaches the OMS.

SIM: Kite's error type and HTTP status for the refusal are not public; the text ``IP (<ip>) is not allowed`` is
what traders report. PermissionException (403) is the closest documented error ("call not allowed"); change
:data:`REFUSAL` here if Kite is seen answering otherwise.
"""

from __future__ import annotations

import re

from kitekit.wire.envelope import ErrorType, RejectionError

__all__ = ["REFUSAL", "guards", "ip_not_allowed", "refused_ip"]

#: The error type and HTTP status of the refusal (unconfirmed, see above).
REFUSAL: tuple[ErrorType, int] = (ErrorType.PERMISSION, 403)

_MESSAGE = re.compile(r"IP \(([^)]*)\) is not allowed")


def guards(method: str, path: str) -> bool:
    """Return True for the order routes the rule guards: ``POST``, ``PUT`` and ``DELETE`` under ``/orders/``."""
    return method.upper() in ("POST", "PUT", "DELETE") and path.startswith("/orders/")


def ip_not_allowed(ip: str) -> RejectionError:
    """Return the refusal of an order request from ``ip``."""
    error_type, status = REFUSAL
    return RejectionError(error_type, f"IP ({ip}) is not allowed", status)


def refused_ip(message: str) -> str | None:
    """Return the address a refusal names (``"IP (1.2.3.4) is not allowed"``), or None for another message."""
    found = _MESSAGE.fullmatch(message.strip())
    return found.group(1) if found else None
