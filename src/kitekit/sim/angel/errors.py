"""A refusal by the Angel simulator, in the dialect Angel answers it in (see :mod:`kitekit.wire.angel.envelope`)."""

from __future__ import annotations

from typing import Any

from kitekit.wire.angel.envelope import GATEWAY_CODES, ErrorCode, error_body, gateway_body

__all__ = ["AngelError"]


class AngelError(Exception):
    """Raised by a handler: the answer is Angel's error body for ``code`` with HTTP ``status``."""

    def __init__(self, code: ErrorCode, message: str | None = None, status: int | None = None) -> None:
        super().__init__(message or code.value)
        self.code = code
        self.message = message
        gateway = code in GATEWAY_CODES
        # SIM: the gateway's token errors come with 401; the OMS answers its refusals with 200.
        self.status = status if status is not None else (401 if gateway else 200)
        self.gateway = gateway

    def body(self) -> dict[str, Any]:
        """Return the answer's JSON body."""
        if self.gateway:
            return gateway_body(self.code, self.message)
        return error_body(self.code, self.message)
