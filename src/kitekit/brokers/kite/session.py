"""Kite's :class:`~kitekit.session.SessionManager` behind the neutral :class:`~kitekit.brokers.BrokerSession`."""

from __future__ import annotations

import webbrowser
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from kitekit.brokers.kite.convert import BROKER
from kitekit.brokers.session import SessionInfo, relogin_advice
from kitekit.session.record import SavedSession, next_token_expiry

if TYPE_CHECKING:
    from contextlib import AbstractContextManager

    from kiteconnect import KiteConnect

    from kitekit.session.manager import SessionManager

__all__ = ["KiteSession", "info_of"]


def info_of(saved: SavedSession | None) -> SessionInfo | None:
    """Return a saved Kite session as the neutral session facts (no token in them)."""
    if saved is None:
        return None
    return SessionInfo(BROKER, saved.user_id, saved.user_name, saved.login_time, saved.expires_at, saved.dead)


class KiteSession:
    """The neutral session over a :class:`~kitekit.session.SessionManager`, which keeps doing all the work.

    Args:
        manager: the session manager (its settings, session file, clock and login hint).
    """

    broker = BROKER

    def __init__(self, manager: SessionManager) -> None:
        self.manager = manager
        self.login_hint = manager.login_hint

    def saved(self) -> SessionInfo | None:
        """Return the saved session, valid or not."""
        return info_of(self.manager.saved())

    def valid(self, for_at_least: timedelta = timedelta(0)) -> SessionInfo | None:
        """Return the saved session unless it is over, dead, or ends within ``for_at_least``."""
        return info_of(self.manager.valid(for_at_least))

    def next_expiry(self, moment: datetime) -> datetime:
        """Return 06:00 IST after ``moment``: when Kite flushes every access token."""
        return next_token_expiry(moment)

    def advice(self, within: timedelta = timedelta(hours=1)) -> str | None:
        """Return the advice to log in again, or None while the session has ``within`` or more left."""
        return relogin_advice(self.saved(), self.manager.clock.now(), self.login_hint, within)

    def login_url(self) -> str:
        """Return Kite's login page for this app."""
        return self.manager.login_url()

    def login_with_redirect(
        self,
        timeout: float = 300.0,
        open_browser: Callable[[str], bool] | None = webbrowser.open,
        show_url: Callable[[str], None] | None = None,
    ) -> SessionInfo:
        """Log in in a browser; Kite's redirect is caught on the local redirect URL.

        Routes: ``GET /connect/login`` (in the browser), ``POST /session/token``.
        """
        return _info(self.manager.login_with_redirect(timeout, open_browser, show_url))

    def login_with_paste(self, pasted: str) -> SessionInfo:
        """Complete a login from a pasted redirect URL or request_token. Route: ``POST /session/token``."""
        return _info(self.manager.login_with_paste(pasted))

    def login_unattended(self) -> SessionInfo:
        """Log in by user id, password and TOTP (opt-in; see ``kitekit login --totp``).

        Routes: ``POST /api/login``, ``POST /api/twofa``, ``GET /connect/login``, ``POST /session/token``.
        """
        return _info(self.manager.login_with_totp())

    def logout(self) -> bool:
        """Invalidate the token (``DELETE /session/token``) and delete the saved session."""
        return self.manager.logout()

    def locked(self) -> AbstractContextManager[None]:
        """Hold the session file's lock across threads and processes (the session manager's own)."""
        return self.manager.store.locked()

    def client(self, verify: bool | None = None) -> KiteConnect:
        """Return a paced, verified ``KiteConnect`` on the saved session. Route: ``GET /user/profile`` (verify)."""
        return self.manager.get_kite(verify=verify)


def _info(saved: SavedSession) -> SessionInfo:
    info = info_of(saved)
    assert info is not None  # noqa: S101 - a login returns the session it saved
    return info
