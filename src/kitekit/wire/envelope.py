"""Kite's JSON envelope: success and error bodies, the ten ``error_type`` names, and their SDK exceptions.

Both sides use this one module: the simulator builds its answers with :func:`success_body`,
:func:`error_body` and :func:`rate_limited_body`; the client decodes error answers with
:func:`decode_error` (the transport, the raw dump download, the candle parser through :func:`error_in`)
and turns them into the official SDK's exception classes through one explicit table
(:func:`exception_class`), exactly as ``KiteConnect._request`` would. See ``docs/protocol.md`` §2 for the
rules.

:class:`RejectionError` is the one exception for "Kite refuses this" raised on our side of the wire: by the
matching engine (the paper broker raises the SDK's class of its ``error_type``), by the simulator's routes
and by its ticker at the upgrade (their edges answer with :meth:`RejectionError.body` and its ``status``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from typing import TYPE_CHECKING, Any

from kitekit.errors import KitekitError

if TYPE_CHECKING:
    from kiteconnect.exceptions import KiteException

__all__ = [
    "TOO_MANY_REQUESTS",
    "ErrorType",
    "KiteError",
    "RejectionError",
    "decode_error",
    "error_body",
    "error_in",
    "error_type_of",
    "exception_class",
    "exception_for",
    "excerpt",
    "not_json_message",
    "rate_limited_body",
    "status_for",
    "success_body",
]

#: The exact message Kite sends with HTTP 429.
TOO_MANY_REQUESTS = "Too many requests"


class ErrorType(StrEnum):
    """Every ``error_type`` Kite can send; the value is the wire string."""

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

#: The SDK class each error_type raises. The SDK looks the name up in ``kiteconnect.exceptions`` and falls
#: back to GeneralException; UserException, MarginException and HoldingException have no class there.
_SDK_CLASS: dict[ErrorType, str] = {
    ErrorType.TOKEN: "TokenException",
    ErrorType.PERMISSION: "PermissionException",
    ErrorType.USER: "GeneralException",
    ErrorType.ORDER: "OrderException",
    ErrorType.INPUT: "InputException",
    ErrorType.MARGIN: "GeneralException",
    ErrorType.HOLDING: "GeneralException",
    ErrorType.NETWORK: "NetworkException",
    ErrorType.DATA: "DataException",
    ErrorType.GENERAL: "GeneralException",
}


class RejectionError(KitekitError):
    """A request refused the way Kite refuses it: its ``error_type``, message and HTTP status.

    Raised by the matching engine (an order, a modification, a GTT, a margin call), by the simulator's logic
    and by its ticker at the upgrade. The simulator answers it as it is (:meth:`body` with ``status``); the
    paper broker raises the SDK's exception of that ``error_type``. (It was ``kitekit.errors.RejectionError``
    until the ground floor stopped importing ``wire/``; it lives here, beside :class:`ErrorType`.)

    Args:
        error_type: Kite's ``error_type``.
        message: Kite's message, word for word where Kite's is known.
        status: the HTTP status; None takes the one Kite pairs with ``error_type``.
    """

    def __init__(self, error_type: ErrorType, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else error_type.http_status

    def body(self) -> dict[str, Any]:
        """Return Kite's error envelope for this refusal (:func:`error_body`)."""
        return error_body(self.error_type, self.message)

    def as_kite(self) -> dict[str, object]:
        """Return ``{code, error_type, message, data}``, the shape of an autoslice child's ``error``."""
        return {"code": self.status, "error_type": str(self.error_type), "message": self.message, "data": None}


def success_body(data: Any) -> dict[str, Any]:
    """Return ``{"status": "success", "data": data}``."""
    return {"status": "success", "data": data}


def error_body(error_type: ErrorType, message: str) -> dict[str, Any]:
    """Return Kite's error envelope: status, message, error_type and a null data."""
    return {"status": "error", "message": message, "error_type": str(error_type), "data": None}


def rate_limited_body() -> dict[str, Any]:
    """Return the body Kite sends with HTTP 429: exactly these three keys, without the ``data`` of other errors."""
    return {"status": "error", "message": TOO_MANY_REQUESTS, "error_type": str(ErrorType.NETWORK)}


@dataclass(frozen=True)
class KiteError:
    """A decoded error answer.

    Attributes:
        status: the HTTP status.
        error_type: Kite's ``error_type``; None when the body is not Kite's JSON (a proxy's HTML page) or
            names no known error.
        message: Kite's message, or a description of the body that carried none.
        kite_json: True when the body was Kite's JSON error envelope.
    """

    status: int
    error_type: ErrorType | None
    message: str
    kite_json: bool


def decode_error(status: int, content_type: str, body: bytes) -> KiteError | None:
    """Return the error an answer carries, or None for a success.

    Follows the SDK's reading (``docs/protocol.md`` §2): a JSON body is an error when its ``status`` is
    ``"error"`` or it has a truthy ``error_type``; any other non-JSON answer with an HTTP status of 400 or
    more is an error with no ``error_type``. A success body is never parsed unless the status says error:
    a full-quote answer can be megabytes, and the SDK parses it anyway.
    """
    is_json = "json" in content_type
    if status < 400 and not is_json:
        return None
    if not is_json:
        return KiteError(status, None, excerpt(body), kite_json=False)
    if status < 400 and b'"error' not in body:
        return None  # cheap: a success without the word cannot carry an error
    try:
        data = json.loads(body)
    except ValueError:
        return KiteError(status, None, not_json_message(body), kite_json=False)
    if not isinstance(data, dict):
        return KiteError(status, None, f"Unexpected JSON answer: {excerpt(body)}", False) if status >= 400 else None
    error = error_in(data, status)
    if error is None and status >= 400:
        return KiteError(status, None, excerpt(body), False)
    return error


def error_in(payload: dict[str, Any], status: int | None = None) -> KiteError | None:
    """Return the Kite error an answer's decoded JSON object carries, or None when it carries none.

    For a caller that has decoded the body already (a candles answer is decoded once, success or not). The
    same reading as :func:`decode_error`: an error is a ``status`` of ``"error"`` or a truthy ``error_type``.

    Args:
        payload: the decoded JSON object.
        status: the answer's HTTP status; None takes the one Kite pairs with the error (:func:`status_for`).
    """
    name = payload.get("error_type")
    if payload.get("status") != "error" and not name:
        return None
    try:
        error_type = ErrorType(name) if isinstance(name, str) else None
    except ValueError:
        error_type = None  # a name Kite never sends: the SDK's GeneralException
    message = str(payload.get("message", ""))
    return KiteError(status if status is not None else status_for(error_type, message), error_type, message, True)


def status_for(error_type: ErrorType | None, message: str = "") -> int:
    """Return the HTTP status Kite sends with an error: its type's, or 429 for "Too many requests"."""
    if error_type is ErrorType.NETWORK and message == TOO_MANY_REQUESTS:
        return 429
    return (error_type or ErrorType.GENERAL).http_status


def not_json_message(body: bytes | str) -> str:
    """Return the SDK's message for a body that should be JSON and is not, with the body cut to 200 characters.

    ``KiteConnect._request`` puts the whole body in its message; a megabyte of it helps nobody.
    """
    return f"Couldn't parse the JSON response received from the server: {excerpt(body)}"


def excerpt(body: bytes | str, limit: int = 200) -> str:
    """Return the start of ``body`` as a ``repr``, for a message about an answer that could not be read."""
    return repr(body[:limit]) + ("…" if len(body) > limit else "")


@cache
def _sdk_classes() -> dict[ErrorType, type[KiteException]]:
    # Imported on first use: `kiteconnect` pulls in Twisted, which the simulator and a cold CLI never need.
    from kiteconnect import exceptions as kex

    return {error_type: getattr(kex, name) for error_type, name in _SDK_CLASS.items()}


def exception_class(error_type: ErrorType | None) -> type[KiteException]:
    """Return the SDK exception class Kite's ``error_type`` raises (GeneralException for None)."""
    return _sdk_classes()[error_type or ErrorType.GENERAL]


def exception_for(error: KiteError) -> KiteException:
    """Return the SDK exception ``KiteConnect._request`` raises for ``error`` (``code`` = the HTTP status).

    A body that is not Kite's JSON becomes a DataException, as the SDK reports a proxy's page.
    """
    if not error.kite_json:
        return _sdk_classes()[ErrorType.DATA](error.message, code=error.status)
    return exception_class(error.error_type)(error.message, code=error.status)


def error_type_of(exc: BaseException) -> ErrorType | None:
    """Return the error type an SDK exception stands for, or None if it is not one of the SDK's.

    GeneralException stands for several names (UserException, MarginException…) and maps to GENERAL.
    """
    by_class = _error_types_by_class()
    return next((by_class[cls] for cls in type(exc).__mro__ if cls in by_class), None)


@cache
def _error_types_by_class() -> dict[type[BaseException], ErrorType]:
    found: dict[type[BaseException], ErrorType] = {}
    for error_type, cls in _sdk_classes().items():
        # The first name listed for a class wins; for GeneralException that is USER, so name it explicitly.
        found.setdefault(cls, error_type)
    found[_sdk_classes()[ErrorType.GENERAL]] = ErrorType.GENERAL
    return found
