"""Kite sessions: log in, save the access token safely, hand out verified, paced ``KiteConnect`` clients.

Parts: ``record`` (the saved session and its file), ``login`` (the login URL, the redirect catcher, pasted
URLs), ``totp`` (TOTP automation) and ``manager`` (:class:`SessionManager`, the facade users import); the
clients it hands out are built by :func:`kitekit.rest.client.paced_client`. The names load their modules on
first use, so reading a saved session (``kitekit status``) does not import the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.session.manager import SessionManager
    from kitekit.session.record import SavedSession, SessionStore, next_token_expiry

__all__ = ["SavedSession", "SessionManager", "SessionStore", "next_token_expiry"]

_LAZY = {
    "SavedSession": "kitekit.session.record",
    "SessionManager": "kitekit.session.manager",
    "SessionStore": "kitekit.session.record",
    "next_token_expiry": "kitekit.session.record",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
