"""Downloading the raw instruments dump past the SDK's parse (see :mod:`kitekit.rest.raw` for why)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from kitekit.errors import InstrumentCacheError
from kitekit.rest.raw import kite_get, raise_error_answer
from kitekit.wire.envelope import ErrorType, exception_class
from kitekit.wire.instruments_csv import HEADER

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["DUMP_READ_WAIT", "Fetcher", "Progress", "download", "fetch_dump", "fetcher_for"]

#: Seconds the dump's download waits for its first (and each next) bytes. The SDK's 7 s suits Kite's ready-made
#: file; a simulator builds a new day's (115k rows) when first asked, seconds on a busy machine, and a client
#: that gives up at 7 s only asks again, to wait behind the same build.
DUMP_READ_WAIT = 90.0

#: Called while downloading with (bytes received, total bytes or None when the size is unknown).
Progress = Callable[[int, int | None], None]
#: Downloads a dump: ``(exchange or None for all, progress) -> CSV bytes``.
Fetcher = Callable[[str | None, Progress | None], bytes]


def fetch_dump(kite: KiteConnect, exchange: str | None = None, progress: Progress | None = None) -> bytes:
    """Download the raw instruments CSV through the client's ``requests`` session.

    Route: ``GET /instruments`` or ``GET /instruments/{exchange}``.

    We bypass the SDK here on purpose: ``KiteConnect.instruments()`` always parses the CSV into a list of
    dicts (seconds for 100k+ rows), the very cost the store exists to avoid. The request goes through
    :func:`kitekit.rest.raw.kite_get` (the client's paced session, the SDK's headers and settings), and errors map
    to the exceptions the SDK would raise.

    Args:
        kite: a logged-in client.
        exchange: one exchange (``NSE``, ``NFO``…), or None for all.
        progress: called as chunks arrive with (bytes received on the wire, Content-Length or None).

    Raises:
        kiteconnect.exceptions.KiteException: Kite answered with an error (the SDK's class for its
            ``error_type``; ``code`` is the HTTP status), or with neither CSV nor JSON (DataException).
        requests.RequestException: the network failed or the body was cut short.
    """
    path = f"/instruments/{exchange}" if exchange else "/instruments"
    with kite_get(kite, path, stream=True, read_wait=DUMP_READ_WAIT) as r:
        kind = r.headers.get("content-type", "")
        if "json" in kind:
            otherwise = "Kite answered the instruments route with JSON, not the CSV dump"
            raise_error_answer(kite, r.status_code, kind, r.content, otherwise)
        if "csv" not in kind:
            raise exception_class(ErrorType.DATA)(
                f"Unknown Content-Type ({kind}) with response: ({r.content[:200]!r})", code=r.status_code
            )
        length = r.headers.get("content-length", "")
        total = int(length) if length.isdigit() else None
        wire = getattr(r.raw, "tell", None)  # bytes read off the socket: what Content-Length counts under gzip
        chunks: list[bytes] = []
        received = 0
        for chunk in r.iter_content(chunk_size=256 * 1024):
            chunks.append(chunk)
            received += len(chunk)
            if progress is not None:
                progress(int(wire()) if callable(wire) else received, total)
    return b"".join(chunks)


def fetcher_for(fetch: KiteConnect | Fetcher | None) -> Fetcher:
    """Return a download function for a ``KiteConnect`` (through :func:`fetch_dump`) or a fetcher.

    Raises:
        InstrumentCacheError: ``fetch`` is None (the store was made without a way to download).
    """
    if fetch is None:
        raise InstrumentCacheError("The instrument store has no way to download the dump; pass a KiteConnect.")
    if not hasattr(fetch, "reqsession"):  # a plain callable; checked without importing the SDK
        return fetch
    kite: KiteConnect = fetch

    def get(exchange: str | None, progress: Progress | None) -> bytes:
        return fetch_dump(kite, exchange, progress)

    return get


def download(get: Fetcher, exchanges: list[str] | None, progress: Progress | None = None) -> bytes:
    """Download the whole dump (``exchanges`` None) or those exchanges' parts joined under one header.

    Raises:
        ValueError: a part does not start with Kite's header.
    """
    if exchanges is None:
        return get(None, progress)
    bodies = []
    for exchange in exchanges:
        part = get(exchange, progress)
        header, _, body = part.partition(b"\n")
        if header.rstrip(b"\r") != HEADER.encode():
            raise ValueError(f"not a Kite instruments dump: the {exchange} part does not start with the header")
        bodies.append(body if not body or body.endswith(b"\n") else body + b"\n")
    return HEADER.encode() + b"\n" + b"".join(bodies)
