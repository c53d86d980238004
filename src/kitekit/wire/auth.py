"""The ``Authorization`` header of every authenticated REST call: ``token <api_key>:<access_token>`` (§3).

Built by the client where it sends a request beside the SDK (:func:`kitekit.rest.raw.kite_get`; the SDK
builds its own the same way), read by the simulator's HTTP edge. The header carries a secret: never log it.
"""

from __future__ import annotations

__all__ = ["SCHEME", "authorization", "parse_authorization"]

#: The scheme word in front of the credentials.
SCHEME = "token"


def authorization(api_key: str, access_token: str) -> str:
    """Return the ``Authorization`` header value for ``api_key``'s session ``access_token``."""
    return f"{SCHEME} {api_key}:{access_token}"


def parse_authorization(header: str | None) -> tuple[str, str] | None:
    """Return ``(api_key, access_token)`` from an ``Authorization`` header, or None if it is not Kite's form.

    The access token is everything after the first colon; either part may be empty (the caller refuses that).
    """
    prefix = f"{SCHEME} "
    if not header or not header.startswith(prefix) or ":" not in header:
        return None
    api_key, _, access_token = header[len(prefix) :].strip().partition(":")
    return api_key, access_token
