"""The neutral session: log in by the broker's flows, the saved session and its expiry, advice to log in again."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from kitekit.clock import IST

__all__ = ["BrokerSession", "SessionInfo", "keep_or_login", "relogin_advice"]


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """A saved session as any broker's is: who, since when, until when, and whether the broker killed it.

    The token itself is never part of it: it stays with the broker's session manager.
    """

    broker: str
    user_id: str
    user_name: str
    login_time: datetime
    expires_at: datetime
    dead: bool = False

    def expired(self, now: datetime) -> bool:
        """Return True if the session is dead or over at ``now``."""
        return self.dead or now >= self.expires_at

    def left(self, now: datetime) -> timedelta:
        """Return how long the session has left at ``now`` (zero once over or dead)."""
        return timedelta(0) if self.dead else max(self.expires_at - now, timedelta(0))


def relogin_advice(info: SessionInfo | None, now: datetime, login_hint: str, within: timedelta) -> str | None:
    """Return what to tell a user whose session is missing, over, or ends within ``within``; None if it is fine.

    Written once for every broker: the facts come from :class:`SessionInfo`, the command from the broker.
    """
    if info is None:
        return f"Not logged in. Log in: {login_hint}"
    if info.dead:
        return f"The session of {info.user_id} was rejected by the broker. Log in again: {login_hint}"
    ends = f"{info.expires_at.astimezone(IST):%Y-%m-%d %H:%M} IST"
    if now >= info.expires_at:
        return f"The session of {info.user_id} expired at {ends}. Log in again: {login_hint}"
    if now + within >= info.expires_at:
        minutes = int(info.left(now).total_seconds() // 60)
        return f"The session of {info.user_id} ends at {ends}, in {minutes} minutes. Log in again soon: {login_hint}"
    return None


@runtime_checkable
class BrokerSession(Protocol):
    """A broker's daily session: its login flows, the session saved on disk, its expiry.

    Which login flows exist is :attr:`BrokerCapabilities.login_methods`; one a broker lacks raises
    :class:`~kitekit.errors.BrokerFeatureError`. Every login saves the session atomically, as Kite's does.
    """

    broker: str
    #: The command users are told to run when they must log in again.
    login_hint: str

    def saved(self) -> SessionInfo | None:
        """Return the saved session, valid or not; None if nothing is saved."""
        ...

    def valid(self, for_at_least: timedelta = timedelta(0)) -> SessionInfo | None:
        """Return the saved session unless it is known to be over, dead, or to end within ``for_at_least``."""
        ...

    def next_expiry(self, moment: datetime) -> datetime:
        """Return when a session logged in at ``moment`` ends (the broker's daily flush)."""
        ...

    def advice(self, within: timedelta = timedelta(hours=1)) -> str | None:
        """Return the advice to log in again (missing, over, dead, or ending within ``within``); None if fine."""
        ...

    def login_url(self) -> str:
        """Return the broker's login page for this app."""
        ...

    def login_with_redirect(
        self,
        timeout: float = 300.0,
        open_browser: Callable[[str], bool] | None = None,
        show_url: Callable[[str], None] | None = None,
    ) -> SessionInfo:
        """Open the login page, catch the redirect on the local redirect URL, and save the session."""
        ...

    def login_with_paste(self, pasted: str) -> SessionInfo:
        """Complete a login from a pasted redirect URL or code, and save the session."""
        ...

    def login_unattended(self) -> SessionInfo:
        """Log in without a browser (TOTP, or the broker's token request), cron-safe; save the session."""
        ...

    def logout(self) -> bool:
        """End the session at the broker and delete the saved one; return True if one was saved."""
        ...

    def locked(self) -> AbstractContextManager[None]:
        """Hold the saved session's lock across threads and processes: nobody else logs in or saves meanwhile."""
        ...

    def client(self, verify: bool | None = None) -> Any:
        """Return the broker's own client on the saved session (Kite: a paced ``KiteConnect``), for its extras.

        Raises:
            NoSessionError: nothing saved.
            SessionExpiredError: the session is over or was rejected.
        """
        ...


def keep_or_login(session: BrokerSession, announce: Callable[[], object] = lambda: None) -> bool:
    """Keep the saved session while the broker accepts it, else log in unattended; return True if it logged in.

    For a simulator, whose credentials are public: a session it no longer accepts (a reset, a revoked token, a
    copy of an old file) is made again without a word of its refusal. Under the session's lock, so two commands
    started at once make one session between them, and the second keeps the first's. Route: the broker's
    profile (``client(verify=True)``), then its unattended login when needed.

    Args:
        session: the broker's session.
        announce: called just before logging in (to say so).

    Raises:
        LoginError: the unattended login failed.
    """
    from kitekit.errors import NoSessionError, SessionExpiredError

    with session.locked():
        if session.valid() is not None:
            try:
                session.client(verify=True)
                return False
            except (NoSessionError, SessionExpiredError):
                pass  # the broker refused it (and it is marked dead): log in again below
        announce()
        session.login_unattended()
        return True
