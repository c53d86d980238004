"""How the Angel simulator answers injected faults (:mod:`kitekit.sim.http.fault_edge`): in both of Angel's dialects.

A failed request answers 503 in the OMS dialect (``{"status": false, "errorcode": "AB1004"}``) or 502 in the
gateway's (``{"success": false, "errorCode": "AB2001"}``); a placement refused before the exchange saw it
answers Angel's rate limit, plain text with HTTP 403 (the configured ``rate_limit_status``); an order accepted
and then failed answers the configured 5xx, 500 and 503 in the OMS dialect, 502 and 504 in the gateway's.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import JSONResponse, PlainTextResponse, Response

from kitekit.sim.faults import Fault
from kitekit.wire.angel.envelope import ErrorCode, error_body, gateway_body
from kitekit.wire.angel.routes import RATE_LIMITED_TEXT

__all__ = ["AngelDialect"]


class AngelDialect:
    """Angel's answers to injected faults.

    Args:
        rate_limit_status: the HTTP status of the plain-text rate-limit answer (403, sometimes 429 on Angel).
    """

    def __init__(self, rate_limit_status: Callable[[], int]) -> None:
        self._rate_limit_status = rate_limit_status

    def failure(self, fault: Fault) -> Response:
        """Return a failed request's answer: 503 in the OMS dialect (NETWORK), 502 in the gateway's (DATA)."""
        return self.accepted_error(503 if fault is Fault.NETWORK else 502)

    def rate_limited(self) -> Response:
        """Return Angel's rate-limit answer: plain text, 403 by default."""
        return PlainTextResponse(RATE_LIMITED_TEXT, status_code=self._rate_limit_status())

    def accepted_error(self, status: int) -> Response:
        """Return a 5xx: the OMS dialect for 500 and 503, the gateway's for 502 and 504."""
        if status in (502, 504):
            return JSONResponse(gateway_body(ErrorCode.INTERNAL_ERROR.value), status_code=status)
        return JSONResponse(error_body(ErrorCode.SOMETHING_WRONG.value), status_code=status)
