"""Requests that bypass the SDK's parse: sent through the client's own session, headers and settings.

The official ``KiteConnect`` always parses what it downloads (the instruments CSV into a list of dicts, every
candle time with ``dateutil``), the very cost kitekit's fast parsers exist to avoid, and it offers no way to
get the bytes. :func:`kite_get` is the one place kitekit sends a request beside the SDK: through
``kite.reqsession``, so the adapters mounted on it (pacing, retries, the session guard) apply, with the SDK's
headers, proxies, TLS and timeout settings. Callers turn error answers into the SDK's exceptions with
:func:`raise_error_answer`, as ``KiteConnect._request`` would.

:func:`kite_call` sends the routes the SDK does not know at all (Kite's ``/alerts``) the same way, and returns
the envelope's ``data`` as the SDK's own methods would.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urljoin

from kitekit.wire.auth import authorization
from kitekit.wire.envelope import ErrorType, decode_error, exception_class, exception_for

if TYPE_CHECKING:
    import requests
    from kiteconnect import KiteConnect

__all__ = ["kite_call", "kite_get", "raise_error_answer"]


def kite_get(
    kite: KiteConnect,
    path: str,
    params: Mapping[str, str | int] | None = None,
    *,
    stream: bool = False,
    read_wait: float | None = None,
) -> requests.Response:
    """Send ``GET path`` as the SDK would and return the response unparsed (use it as a context manager).

    Args:
        kite: a logged-in client; its ``reqsession``, root, headers, proxies, TLS and timeout are used.
        path: the route, e.g. ``/instruments/historical/738561/minute``.
        params: the query parameters.
        stream: leave the body on the socket to be read in chunks (a big download with progress).
        read_wait: the most seconds to wait for the answer's next bytes, when longer than the client's
            timeout (which stays the wait to connect).

    Raises:
        requests.RequestException: the network failed (after the transport's retries).
    """
    response: requests.Response = kite.reqsession.get(
        urljoin(kite.root, path),
        params=params,
        headers=_headers(kite),
        verify=not kite.disable_ssl,
        allow_redirects=True,
        timeout=kite.timeout if read_wait is None else (kite.timeout, max(kite.timeout, read_wait)),
        proxies=kite.proxies,
        stream=stream,
    )
    return response


def kite_call(
    kite: KiteConnect,
    method: str,
    path: str,
    params: Mapping[str, str] | Sequence[tuple[str, str]] | None = None,
    form: Mapping[str, str] | None = None,
) -> Any:
    """Send ``METHOD path`` as the SDK sends its own routes and return the envelope's ``data``.

    Args:
        kite: a logged-in client (its ``reqsession``, so the request is paced like every other).
        method: ``GET``, ``POST``, ``PUT`` or ``DELETE``.
        path: the route, e.g. ``/alerts``.
        params: the query (pairs repeat a key, as ``uuid`` in ``DELETE /alerts?uuid=…&uuid=…``).
        form: the urlencoded body.

    Raises:
        kiteconnect.exceptions.KiteException: Kite answered an error (its class by ``error_type``), or
            something that is not its JSON envelope (DataException).
        requests.RequestException: the network failed.
    """
    response: requests.Response = kite.reqsession.request(
        method,
        urljoin(kite.root, path),
        params=params,
        data=form,
        headers=_headers(kite),
        verify=not kite.disable_ssl,
        allow_redirects=True,
        timeout=kite.timeout,
        proxies=kite.proxies,
    )
    content_type = response.headers.get("content-type", "")
    if response.status_code >= 400:
        raise_error_answer(kite, response.status_code, content_type, response.content, f"HTTP {response.status_code}")
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if not isinstance(body, dict) or body.get("status") != "success":
        raise exception_class(ErrorType.DATA)(f"Unexpected answer to {method} {path}.", code=response.status_code)
    return body.get("data")


def _headers(kite: KiteConnect) -> dict[str, str]:
    """Return the headers the SDK sends with each request (the Authorization header once logged in)."""
    headers = {"X-Kite-Version": kite.kite_header_version, "User-Agent": kite._user_agent()}
    if kite.api_key and kite.access_token:
        headers["Authorization"] = authorization(kite.api_key, kite.access_token)
    return headers


def raise_error_answer(kite: KiteConnect, status: int, content_type: str, body: bytes, otherwise: str) -> NoReturn:
    """Raise what ``KiteConnect._request`` raises for Kite's JSON error answer, running the expiry hook.

    Args:
        kite: the client (its session-expiry hook runs on a 403 TokenException, as in the SDK).
        status: the HTTP status.
        content_type: the answer's ``Content-Type``.
        body: the answer.
        otherwise: the DataException's message for a JSON answer that carries no error at all.

    Raises:
        kiteconnect.exceptions.KiteException: always: the SDK's class for the ``error_type`` (``code`` the
            status); DataException for an answer that is not Kite's error envelope, or carries no error.
    """
    error = decode_error(status, content_type, body)
    if error is None:
        raise exception_class(ErrorType.DATA)(otherwise, code=status)
    if kite.session_expiry_hook and status == 403 and error.error_type is ErrorType.TOKEN:
        kite.session_expiry_hook()
    raise exception_for(error)
