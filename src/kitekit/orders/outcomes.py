"""What a failed order request means for the order: one explicit table, by Kite's error_type and HTTP status.

An order POST (or a modify or cancel) that fails leaves one of four situations, and only one of them allows
sending the same request again without first looking at the order book:

- ``REFUSED``: Kite answered that it made nothing (a bad request, no margin, no holdings): never re-sent.
- ``NOT_SENT``: the request was turned away before any order logic ran (a dead session): safe to send later.
- ``ANSWERED``: Kite answered with an error after the request may have reached the OMS (5xx, 429, a proxy's
  page): the answer is final, so one look at the order book settles it.
- ``SILENT``: no answer at all (timeout, connection reset or dropped): the request may still be in flight, so
  the order book is looked at again after pauses before it is taken as absent.
"""

from __future__ import annotations

from enum import StrEnum

import requests
from kiteconnect.exceptions import KiteException

from kitekit.rest.retry import TRANSPORT_ERRORS
from kitekit.wire.envelope import ErrorType, error_type_of

__all__ = ["ON_ERROR", "Outcome", "outcome_of"]


class Outcome(StrEnum):
    """What a failed order request says about the order."""

    REFUSED = "refused: Kite answered that no order was made"
    NOT_SENT = "not sent: turned away before any order logic ran"
    ANSWERED = "in doubt, answered: one look at the order book settles it"
    SILENT = "in doubt, no answer: look at the order book again after pauses"


#: Every error_type Kite sends (``docs/protocol.md`` §2.1) and what it means for an order request.
ON_ERROR: dict[ErrorType, Outcome] = {
    ErrorType.TOKEN: Outcome.NOT_SENT,  # 403 at the door: log in again, then send
    ErrorType.PERMISSION: Outcome.REFUSED,
    ErrorType.USER: Outcome.REFUSED,
    ErrorType.INPUT: Outcome.REFUSED,  # 400: the request itself is wrong
    ErrorType.MARGIN: Outcome.REFUSED,
    ErrorType.HOLDING: Outcome.REFUSED,
    ErrorType.ORDER: Outcome.ANSWERED,  # the OMS failed somewhere: it may have accepted the order first
    ErrorType.NETWORK: Outcome.ANSWERED,  # 503 OMS unreachable, or 429: Kite may count a 429 after accepting
    ErrorType.DATA: Outcome.ANSWERED,  # 502: Kite could not read the OMS's reply, which may be an acceptance
    ErrorType.GENERAL: Outcome.ANSWERED,  # 500
}


def outcome_of(exc: BaseException) -> Outcome | None:
    """Return what ``exc``, raised by an order request, says about the order; None if it is no Kite failure.

    The table decides by error_type; the HTTP status overrides it twice. A 429 or any 5xx is ``ANSWERED``
    whatever its name (the server may have acted before failing). Below 500 the answer is definite, so a
    name the table reads as ``ANSWERED`` is a refusal there: the SDK raises GeneralException for
    UserException, MarginException and HoldingException (it has no classes of those names), with HTTP 400.
    """
    if isinstance(exc, TRANSPORT_ERRORS):
        return Outcome.SILENT
    if isinstance(exc, KiteException):
        code = int(getattr(exc, "code", 500) or 500)
        if code == 429 or code >= 500:
            return Outcome.ANSWERED
        found = ON_ERROR[error_type_of(exc) or ErrorType.GENERAL]
        return Outcome.REFUSED if found is Outcome.ANSWERED else found
    if isinstance(exc, requests.RequestException):
        return Outcome.SILENT  # any other failure of the HTTP library leaves the request's fate unknown
    return None
