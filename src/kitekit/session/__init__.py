"""Kite sessions: log in, save the access token safely, hand out verified, paced ``KiteConnect`` clients.

Parts: ``record`` (the saved session and its file), ``client`` (building a paced client, once), ``login``
(the login URL, the redirect catcher, pasted URLs, TOTP automation) and ``manager`` (:class:`SessionManager`,
the facade users import).
"""

from kitekit.session.manager import SessionManager
from kitekit.session.record import SavedSession, SessionStore, next_token_expiry

__all__ = ["SavedSession", "SessionManager", "SessionStore", "next_token_expiry"]
