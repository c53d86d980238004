"""Kite's JSON response envelope and its ten ``error_type`` names with their HTTP statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["TOO_MANY_REQUESTS", "ErrorType", "error_body", "success_body"]

#: The exact message Kite sends with HTTP 429.
TOO_MANY_REQUESTS = "Too many requests"


class ErrorType(StrEnum):
    """Every ``error_type`` Kite can send (API.md §2.1); the value is the wire string."""

    TOKEN = "TokenException"  # noqa: S105 - an error name, not a secret
    PERMISSION = "PermissionException"
    USER = "UserException"
    ORDER = "OrderException"
    INPUT = "InputException"
    MARGIN = "MarginException"
    HOLDING = "HoldingException"
    NETWORK = "NetworkException"
    DATA = "DataException"
    GENERAL = "GeneralException"

    @property
    def http_status(self) -> int:
        """Return the HTTP status Kite pairs with this error (rate limiting overrides NETWORK with 429)."""
        return _STATUS[self]


_STATUS: dict[ErrorType, int] = {
    ErrorType.TOKEN: 403,
    ErrorType.PERMISSION: 403,
    ErrorType.USER: 400,
    ErrorType.ORDER: 500,
    ErrorType.INPUT: 400,
    ErrorType.MARGIN: 400,
    ErrorType.HOLDING: 400,
    ErrorType.NETWORK: 503,
    ErrorType.DATA: 502,
    ErrorType.GENERAL: 500,
}


def success_body(data: Any) -> dict[str, Any]:
    """Return ``{"status": "success", "data": data}``."""
    return {"status": "success", "data": data}


def error_body(error_type: ErrorType, message: str) -> dict[str, Any]:
    """Return Kite's error envelope: status, message, error_type and a null data."""
    return {"status": "error", "message": message, "error_type": str(error_type), "data": None}
