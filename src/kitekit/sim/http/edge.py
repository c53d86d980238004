"""What every area handler shares at the Starlette edge: Kite's envelope as a response, the form, flags."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse

from kitekit.sim.auth import Grant
from kitekit.sim.errors import ApiError
from kitekit.wire.envelope import error_body, success_body

__all__ = ["Handler", "error_response", "flag", "form_of", "json_response", "success_response"]

#: An API handler: the request and its grant (None on routes without auth) in, the envelope's ``data`` out
#: (or a ready Response, e.g. CSV). :meth:`SimApp.api` wraps it with auth, rate limits and the envelope.
Handler = Callable[[Request, Grant | None], Awaitable[Any]]


def json_response(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Return ``body`` as JSON with HTTP ``status``."""
    return JSONResponse(body, status_code=status)


def success_response(data: Any) -> JSONResponse:
    """Return Kite's success envelope around ``data``."""
    return json_response(success_body(data))


def error_response(err: ApiError) -> JSONResponse:
    """Return Kite's error envelope for ``err`` with its HTTP status."""
    return json_response(error_body(err.error_type, err.message), err.status)


async def form_of(request: Request) -> dict[str, str]:
    """Return the urlencoded form body (Kite never sends multipart), parsed once per request."""
    cached = getattr(request.state, "form", None)
    if cached is None:
        cached = dict(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
        request.state.form = cached
    return cached


def flag(value: str | None) -> bool:
    """Return a query flag's truth: the SDK sends 0/1 for historical flags, Python's True/False elsewhere."""
    return (value or "").strip().lower() in ("1", "true", "yes")
