"""Upstox's error envelope and its UDAPI codes: ``{"status": "error", "errors": [{…}]}``.

Each error item carries its fields twice, in camelCase (``errorCode``, ``propertyPath``, ``invalidValue``) and
in snake_case (``error_code``, ``property_path``, ``invalid_value``): the SDK's ``Problem`` model reads the
first spelling, its ``MultiOrderError`` the second, and Upstox sends both. :func:`error_body` builds such a
body; :func:`decode_errors` reads either spelling back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kitekit.errors import KitekitError

__all__ = [
    "UDAPI",
    "UpstoxError",
    "UpstoxProblem",
    "decode_errors",
    "error_body",
    "problem_item",
]


class UDAPI(StrEnum):
    """The UDAPI error codes kitekit and its simulator know, with the HTTP status and message of each.

    Codes from Upstox's documentation as summarised in issue 26; the SDK names none of them (its models only
    carry ``errorCode`` as text). SIM marks codes the simulator had to choose.
    """

    INVALID_TOKEN = "UDAPI100050"  # noqa: S105 - an error code, not a secret
    RATE_LIMIT = "UDAPI10005"
    API_VERSION = "UDAPI100015"
    TOO_MANY_KEYS = "UDAPI100043"
    FUNDS_UNAVAILABLE = "UDAPI100072"
    # SIM: the codes below are the simulator's choices for refusals whose code the summary does not give.
    INVALID_INPUT = "UDAPI1004"
    INVALID_CREDENTIALS = "UDAPI100069"
    INVALID_CODE = "UDAPI100057"
    ORDER_NOT_FOUND = "UDAPI100010"
    ORDER_REJECTED = "UDAPI100049"
    NOT_FOUND = "UDAPI100060"
    METHOD_NOT_ALLOWED = "UDAPI100061"
    INVALID_DATE_RANGE = "UDAPI1148"
    MULTI_ORDER_LIMIT = "UDAPI1127"
    INTERNAL = "UDAPI100500"

    @property
    def status(self) -> int:
        """Return the HTTP status Upstox answers this code with."""
        return _STATUS.get(self, 400)

    @property
    def message(self) -> str:
        """Return Upstox's standard message for this code."""
        return _MESSAGE[self]


_STATUS: dict[UDAPI, int] = {
    UDAPI.INVALID_TOKEN: 401,
    UDAPI.RATE_LIMIT: 429,
    UDAPI.FUNDS_UNAVAILABLE: 423,  # SIM: Upstox's status for the nightly funds window is not documented
    UDAPI.ORDER_NOT_FOUND: 404,
    UDAPI.NOT_FOUND: 404,
    UDAPI.METHOD_NOT_ALLOWED: 405,
    UDAPI.INVALID_CREDENTIALS: 401,
    UDAPI.INTERNAL: 500,
}

_MESSAGE: dict[UDAPI, str] = {
    UDAPI.INVALID_TOKEN: "Invalid token used to access API",
    UDAPI.RATE_LIMIT: "Too Many Request Sent",
    UDAPI.API_VERSION: "API Version does not exist",
    UDAPI.TOO_MANY_KEYS: "Maximum instrument key limit exceeded",
    UDAPI.FUNDS_UNAVAILABLE: "Funds service is not available from 12:00 AM to 5:30 AM IST",
    UDAPI.INVALID_INPUT: "Invalid input",
    UDAPI.INVALID_CREDENTIALS: "Invalid Credentials",
    UDAPI.INVALID_CODE: "Invalid Auth code",
    UDAPI.ORDER_NOT_FOUND: "Order not found",
    UDAPI.ORDER_REJECTED: "Order rejected",
    UDAPI.NOT_FOUND: "Resource not Found",
    UDAPI.METHOD_NOT_ALLOWED: "Method not allowed",
    UDAPI.INVALID_DATE_RANGE: "Invalid date range",
    UDAPI.MULTI_ORDER_LIMIT: "Maximum 25 orders allowed in a multi order request",
    UDAPI.INTERNAL: "Something went wrong",
}


@dataclass(frozen=True)
class UpstoxProblem:
    """One item of an error body."""

    error_code: str
    message: str
    property_path: str | None = None
    invalid_value: Any = None


def problem_item(problem: UpstoxProblem) -> dict[str, Any]:
    """Return one error item with both key spellings, as Upstox sends it."""
    return {
        "errorCode": problem.error_code,
        "message": problem.message,
        "propertyPath": problem.property_path,
        "invalidValue": problem.invalid_value,
        "error_code": problem.error_code,
        "property_path": problem.property_path,
        "invalid_value": problem.invalid_value,
    }


def error_body(*problems: UpstoxProblem) -> dict[str, Any]:
    """Return ``{"status": "error", "errors": [...]}`` for ``problems``."""
    return {"status": "error", "errors": [problem_item(p) for p in problems]}


def decode_errors(body: bytes | str | Any) -> list[UpstoxProblem]:
    """Return the problems of an error body (raw JSON or parsed), reading either key spelling.

    A body that is not Upstox's envelope yields one problem whose message is an excerpt of it (never an empty
    list: an error answer always says something).
    """
    parsed = body
    if isinstance(body, bytes | str):
        try:
            parsed = json.loads(body)
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return [UpstoxProblem("", text[:200] or "an empty answer")]
    items = parsed.get("errors") if isinstance(parsed, dict) else None
    if not isinstance(items, list) or not items:
        return [UpstoxProblem("", str(parsed)[:200])]
    out = []
    for item in items:
        if not isinstance(item, dict):
            out.append(UpstoxProblem("", str(item)[:200]))
            continue
        out.append(
            UpstoxProblem(
                str(item.get("errorCode") or item.get("error_code") or ""),
                str(item.get("message") or ""),
                item.get("propertyPath", item.get("property_path")),
                item.get("invalidValue", item.get("invalid_value")),
            )
        )
    return out


class UpstoxError(KitekitError):
    """Upstox refuses this: raised on our side of the wire (the simulator's routes, kitekit's checks).

    Args:
        code: the UDAPI code.
        message: what went wrong (the code's standard message by default).
        property_path: the request field at fault, if one is.
        invalid_value: the value refused.
        status: the HTTP status (the code's by default).
    """

    def __init__(
        self,
        code: UDAPI,
        message: str | None = None,
        property_path: str | None = None,
        invalid_value: Any = None,
        status: int | None = None,
    ) -> None:
        self.code = code
        self.problem = UpstoxProblem(code.value, message or code.message, property_path, invalid_value)
        self.status = status or code.status
        super().__init__(self.problem.message)

    def body(self) -> dict[str, Any]:
        """Return the error envelope of this refusal."""
        return error_body(self.problem)
