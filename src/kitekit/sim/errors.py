"""The simulator's error: a Kite ``error_type`` and message, turned into the envelope at the edge."""

from __future__ import annotations

from kitekit.wire.envelope import ErrorType

__all__ = ["ApiError", "invalid_input", "token_error"]


class ApiError(Exception):
    """Raised by simulator logic; the app answers it with Kite's error envelope and HTTP status."""

    def __init__(self, error_type: ErrorType, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status if status is not None else error_type.http_status


def invalid_input(message: str) -> ApiError:
    """Return a 400 InputException."""
    return ApiError(ErrorType.INPUT, message)


def token_error(message: str = "Incorrect `api_key` or `access_token`.") -> ApiError:
    """Return a 403 TokenException (Kite's wording for a bad or expired session by default)."""
    return ApiError(ErrorType.TOKEN, message)
