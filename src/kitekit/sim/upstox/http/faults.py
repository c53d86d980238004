"""How the Upstox simulator answers injected faults (:mod:`kitekit.sim.http.fault_edge`): Upstox's UDAPI bodies.

A failed request answers 503 or 502 with ``{"status": "error", "errors": [UDAPI100500]}`` (both key spellings,
as every Upstox error); a placement refused before the exchange saw it answers 429 UDAPI10005, Upstox's
rate-limit refusal; an order accepted and then failed answers the configured 5xx with UDAPI100500.
"""

from __future__ import annotations

from starlette.responses import Response

from kitekit.sim.faults import Fault
from kitekit.sim.upstox.http.state import json_response
from kitekit.wire.upstox.errors import UDAPI, UpstoxError

__all__ = ["UPSTOX_DIALECT"]

# SIM: Upstox documents no message for its gateway's 5xx; the simulator says what Kite's does.
_MESSAGES = {
    Fault.NETWORK: "Couldn't connect to the order management system. Please try again.",
    Fault.DATA: "Couldn't parse the order management system's response.",
}


class _UpstoxDialect:
    def failure(self, fault: Fault) -> Response:
        status = 503 if fault is Fault.NETWORK else 502
        return json_response(UpstoxError(UDAPI.INTERNAL, _MESSAGES.get(fault), status=status).body(), status)

    def rate_limited(self) -> Response:
        return json_response(UpstoxError(UDAPI.RATE_LIMIT).body(), UDAPI.RATE_LIMIT.status)

    def accepted_error(self, status: int) -> Response:
        return json_response(UpstoxError(UDAPI.INTERNAL, status=status).body(), status)


#: Upstox's answers to injected faults.
UPSTOX_DIALECT = _UpstoxDialect()
