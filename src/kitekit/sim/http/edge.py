"""What every area handler shares at the Starlette edge: Kite's envelope as a response, the form, flags, JSON."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from kitekit.sim.auth import Grant
from kitekit.sim.errors import invalid_input, token_error
from kitekit.sim.http.fault_edge import DroppedConnection, drop_connection
from kitekit.wire.envelope import RejectionError, success_body

__all__ = [
    "DroppedConnection",
    "Handler",
    "drop_connection",
    "engine_call",
    "error_response",
    "flag",
    "form_of",
    "json_array",
    "json_of",
    "json_response",
    "mf_call",
    "success_response",
    "user_of",
]

if TYPE_CHECKING:
    from kitekit.engine import Engine
    from kitekit.sim.exchange import SimExchange
    from kitekit.sim.mf import MfBook

T = TypeVar("T")

#: An API handler: the request and its grant (None on routes without auth) in, the envelope's ``data`` out
#: (or a ready Response, e.g. CSV). :meth:`SimState.api` wraps it with auth, rate limits and the envelope.
Handler = Callable[[Request, Grant | None], Awaitable[Any]]


class _KiteJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            # A lone surrogate (JSON text may carry one, and an error message may echo it) cannot be UTF-8:
            # escape it as JSON allows, rather than fail the answer.
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode()


def json_response(body: dict[str, Any], status: int = 200) -> JSONResponse:
    """Return ``body`` as JSON with HTTP ``status``."""
    return _KiteJSON(body, status_code=status)


def success_response(data: Any) -> JSONResponse:
    """Return Kite's success envelope around ``data``."""
    return json_response(success_body(data))


def error_response(err: RejectionError) -> JSONResponse:
    """Return Kite's error envelope for ``err`` with its HTTP status."""
    return json_response(err.body(), err.status)


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


async def json_of(request: Request) -> Any:
    """Return the request's JSON body.

    Raises:
        ValueError: it is not JSON (including JSON nested deeper than the parser goes).
    """
    try:
        return json.loads(await request.body())
    except RecursionError:
        raise ValueError("the body is nested too deeply") from None


async def json_array(request: Request) -> list[dict[str, Any]]:
    """Return the JSON array of objects the calculators take (``POST /margins/*``, ``/charges/orders``).

    Raises:
        RejectionError: the body is not JSON, not an array, or holds something other than objects (400).
    """
    try:
        body = json.loads(await request.body())
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        raise invalid_input("The request body must be a JSON array of orders.") from None
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise invalid_input("The request body must be a JSON array of order objects.")
    return body


def user_of(grant: Grant | None) -> str:
    """Return the user a grant belongs to (every exchange route is authenticated, so there is one).

    Raises:
        RejectionError: no grant (403 TokenException), which ``SimState.api(..., auth=True)`` already prevents.
    """
    if grant is None:
        raise token_error()
    return grant.user_id


async def engine_call(
    exchange: SimExchange,
    grant: Grant | None,
    action: Callable[[Engine, datetime], T],
    instruments: Iterable[tuple[str, str]] = (),
    mutates: bool = True,
) -> T:
    """Run ``action(engine, now)`` on the grant's account (:meth:`SimExchange.run`) off the event loop.

    The exchange holds one lock for every account and works the market model's numbers, so it runs in a
    worker thread: the event loop keeps answering (and the WebSocket feed keeps beating) meanwhile.
    """
    return await run_in_threadpool(exchange.run, user_of(grant), action, instruments, mutates)


async def mf_call(
    exchange: SimExchange, grant: Grant | None, action: Callable[[MfBook, datetime], T], mutates: bool = True
) -> T:
    """Run ``action(book, now)`` on the grant's mutual funds (:meth:`SimExchange.run_mf`) off the event loop."""
    return await run_in_threadpool(exchange.run_mf, user_of(grant), action, mutates)
