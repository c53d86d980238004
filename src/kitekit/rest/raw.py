"""Requests that bypass the SDK's parse: sent through the client's own session, headers and settings.

The official ``KiteConnect`` always parses what it downloads (the instruments CSV into a list of dicts, every
candle time with ``dateutil``), the very cost kitekit's fast parsers exist to avoid, and it offers no way to
get the bytes. :func:`kite_get` is the one place kitekit sends a request beside the SDK: through
``kite.reqsession``, so the adapters mounted on it (pacing, retries, the session guard) apply, with the SDK's
headers, proxies, TLS and timeout settings. Callers turn error answers into the SDK's exceptions with
:func:`raise_error_answer`, as ``KiteConnect._request`` would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urljoin

from kitekit.wire.auth import authorization
from kitekit.wire.envelope import ErrorType, decode_error, exception_class, exception_for

if TYPE_CHECKING:
    import requests
    from kiteconnect import KiteConnect

__all__ = ["kite_get", "raise_error_answer"]


def kite_get(
    kite: KiteConnect, path: str, params: Mapping[str, str | int] | None = None, *, stream: bool = False
) -> requests.Response:
    """Send ``GET path`` as the SDK would and return the response unparsed (use it as a context manager).

    Args:
        kite: a logged-in client; its ``reqsession``, root, headers, proxies, TLS and timeout are used.
        path: the route, e.g. ``/instruments/historical/738561/minute``.
        params: the query parameters.
        stream: leave the body on the socket to be read in chunks (a big download with progress).

    Raises:
        requests.RequestException: the network failed (after the transport's retries).
    """
    headers = {"X-Kite-Version": kite.kite_header_version, "User-Agent": kite._user_agent()}
    if kite.api_key and kite.access_token:
        headers["Authorization"] = authorization(kite.api_key, kite.access_token)
    response: requests.Response = kite.reqsession.get(
        urljoin(kite.root, path),
        params=params,
        headers=headers,
        verify=not kite.disable_ssl,
        allow_redirects=True,
        timeout=kite.timeout,
        proxies=kite.proxies,
        stream=stream,
    )
    return response


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
