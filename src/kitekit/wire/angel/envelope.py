"""Angel's answer bodies: the success envelope and its two error dialects, as both sides build and read them.

- The OMS dialect, from SmartAPI's own services: ``{"status": false, "message", "errorcode": "AB…", "data"}``
  (HTTP 200, or 400 for a malformed request).
- The gateway's dialect, from the API gateway in front of them (tokens): ``{"success": false, "message",
  "errorCode": "AG…", "data": ""}`` (HTTP 401 in the simulator: SIM, the status Angel gives varies).
- Rate limiting is neither: plain text :data:`~.routes.RATE_LIMITED_TEXT` with HTTP 403 (sometimes 429).

The SDK raises on none of them: it returns the parsed body (and raises ``DataException`` on the plain text).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kitekit.wire.angel.routes import RATE_LIMITED_TEXT

__all__ = [
    "AngelFailure",
    "Dialect",
    "ErrorCode",
    "error_body",
    "gateway_body",
    "read_body",
    "success_body",
]


class Dialect(StrEnum):
    """Which of Angel's error shapes a failure came in."""

    OMS = "oms"
    GATEWAY = "gateway"
    RATE_LIMIT = "rate_limit"
    NOT_JSON = "not_json"


class ErrorCode(StrEnum):
    """Angel's error codes the simulator answers with; the value is the wire code (SmartAPI "Error Codes")."""

    INVALID_TOKEN = "AG8001"  # noqa: S105 - an error code, not a secret
    TOKEN_EXPIRED = "AG8002"  # noqa: S105 - an error code, not a secret
    TOKEN_MISSING = "AG8003"  # noqa: S105 - an error code, not a secret
    INVALID_REFRESH_TOKEN = "AB8050"  # noqa: S105 - an error code, not a secret
    REFRESH_TOKEN_EXPIRED = "AB8051"  # noqa: S105 - an error code, not a secret
    INVALID_CREDENTIALS = "AB1000"
    SOMETHING_WRONG = "AB1004"
    INVALID_VARIETY = "AB1008"
    SYMBOL_NOT_FOUND = "AB1009"
    CLIENT_NOT_LOGGED_IN = "AB1011"
    INVALID_PRODUCT = "AB1012"
    ORDER_NOT_FOUND = "AB1013"
    POSITION_CONVERSION_FAILED = "AB1017"
    INTERNAL_ERROR = "AB2001"
    ROBO_BLOCKED = "AB2002"
    TAG_TOO_LONG = "AB4008"
    # SIM: the codes below are those the forum reports for these cases; Angel's table does not list them.
    INVALID_TOTP = "AB1050"
    INVALID_PARAMETERS = "AB4000"
    ORDER_REJECTED = "AB4036"


#: The message Angel gives with each code (used when the simulator has nothing more specific to say).
MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.INVALID_TOKEN: "Invalid Token",
    ErrorCode.TOKEN_EXPIRED: "Token Expired",
    ErrorCode.TOKEN_MISSING: "Token Missing",
    ErrorCode.INVALID_REFRESH_TOKEN: "Invalid Refresh Token",
    ErrorCode.REFRESH_TOKEN_EXPIRED: "Refresh Token Expired",
    ErrorCode.INVALID_CREDENTIALS: "Invalid clientcode or password",
    ErrorCode.SOMETHING_WRONG: "Something Went Wrong, Please Try After Sometime",
    ErrorCode.INVALID_VARIETY: "Invalid Order Variety",
    ErrorCode.SYMBOL_NOT_FOUND: "Symbol Not Found",
    ErrorCode.CLIENT_NOT_LOGGED_IN: "Client not login",
    ErrorCode.INVALID_PRODUCT: "Invalid Product Type",
    ErrorCode.ORDER_NOT_FOUND: "Order not found",
    ErrorCode.POSITION_CONVERSION_FAILED: "Position conversion failed",
    ErrorCode.INTERNAL_ERROR: "Internal Error, Please try after sometime",
    ErrorCode.ROBO_BLOCKED: "ROBO order is block",
    ErrorCode.TAG_TOO_LONG: "ordertag length should be less than 20 characters",
    ErrorCode.INVALID_TOTP: "Invalid totp",
    ErrorCode.INVALID_PARAMETERS: "Invalid Parameters",
    ErrorCode.ORDER_REJECTED: "Order rejected",
}

#: The codes the gateway answers in its own dialect.
GATEWAY_CODES = frozenset({ErrorCode.INVALID_TOKEN, ErrorCode.TOKEN_EXPIRED, ErrorCode.TOKEN_MISSING})


def success_body(data: Any, message: str = "SUCCESS") -> dict[str, Any]:
    """Return Angel's success envelope around ``data``."""
    return {"status": True, "message": message, "errorcode": "", "data": data}


def error_body(code: str, message: str | None = None) -> dict[str, Any]:
    """Return the OMS dialect's failure body (``status`` false, ``errorcode`` lower-case c)."""
    return {"status": False, "message": _message(code, message), "errorcode": code, "data": None}


def gateway_body(code: str, message: str | None = None) -> dict[str, Any]:
    """Return the gateway dialect's failure body (``success`` false, ``errorCode`` camel-case, ``data`` "")."""
    return {"success": False, "message": _message(code, message), "errorCode": code, "data": ""}


def _message(code: str, message: str | None) -> str:
    if message is not None:
        return message
    known = {c.value: c for c in ErrorCode}.get(code)
    return MESSAGES[known] if known is not None else code


@dataclass(frozen=True)
class AngelFailure:
    """A failed answer, whichever dialect it came in."""

    dialect: Dialect
    code: str
    message: str
    http_status: int


def read_body(http_status: int, text: str) -> Any | AngelFailure:
    """Return a success answer's ``data``, or the :class:`AngelFailure` the body describes.

    Args:
        http_status: the HTTP status of the answer.
        text: its body as text.
    """
    if text.strip() == RATE_LIMITED_TEXT:
        return AngelFailure(Dialect.RATE_LIMIT, "", RATE_LIMITED_TEXT, http_status)
    try:
        body = json.loads(text)
    except ValueError:
        return AngelFailure(Dialect.NOT_JSON, "", text[:200], http_status)
    if not isinstance(body, dict):
        return AngelFailure(Dialect.NOT_JSON, "", text[:200], http_status)
    if body.get("success") is False or "errorCode" in body:
        return AngelFailure(Dialect.GATEWAY, str(body.get("errorCode", "")), str(body.get("message", "")), http_status)
    if body.get("status") is True:
        return body.get("data")
    return AngelFailure(Dialect.OMS, str(body.get("errorcode", "")), str(body.get("message", "")), http_status)
