"""The simulator's shorthands for Kite's two commonest refusals: a 400 InputException and a 403 TokenException.

Every refusal is a :class:`~kitekit.wire.envelope.RejectionError`; the HTTP edge answers it with Kite's error
envelope and its status.
"""

from __future__ import annotations

from kitekit.wire.envelope import ErrorType, RejectionError

__all__ = ["invalid_input", "token_error"]


def invalid_input(message: str) -> RejectionError:
    """Return a 400 InputException."""
    return RejectionError(ErrorType.INPUT, message)


def token_error(message: str = "Incorrect `api_key` or `access_token`.") -> RejectionError:
    """Return a 403 TokenException (Kite's wording for a bad or expired session by default)."""
    return RejectionError(ErrorType.TOKEN, message)
