"""Upstox logins on the simulator: authorization codes, access tokens, the v3 token request, WebSocket codes.

- The dialog issues a single-use ``code`` (valid ``code_ttl_s``); ``POST /v2/login/authorization/token``
  trades it, with the client id, secret, redirect URI and ``grant_type=authorization_code``, for an access
  token that dies at the first 03:30 IST after it is issued (the simulator's clock), plus an
  ``extended_token`` (long-lived, read-only on Upstox; the simulator accepts it nowhere).
- The v3 token request (``POST /v3/login/auth/token/request/{client_id}``) waits for the user's approval
  (:meth:`UpstoxAuth.approve`, or at once with ``auto_approve_requests``); on approval the token is POSTed
  to the app's notifier URL, as Upstox does.
- Each WebSocket authorisation issues a single-use code for the redirect URL.

Access tokens persist in the world's ``config.state_file`` when it has one (every simulator process on the world
shares them, as Upstox's servers do: :class:`~kitekit.sim.shared_state.SharedStateFile`); codes, token requests
and WebSocket tickets live in memory, for the seconds they last.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from kitekit.clock import IST, Clock
from kitekit.sim.shared_state import SharedStateFile
from kitekit.sim.upstox.config import UpstoxSimConfig
from kitekit.wire.upstox.errors import UDAPI, UpstoxError

__all__ = ["FeedTicket", "PendingRequest", "UpstoxAuth", "UpstoxGrant", "expiry_after"]


def expiry_after(issued: datetime, config: UpstoxSimConfig) -> datetime:
    """Return when a token issued at ``issued`` dies: the first ``token_expiry`` (03:30 IST) after it."""
    local = issued.astimezone(IST)
    at = local.replace(hour=config.token_expiry.hour, minute=config.token_expiry.minute, second=0, microsecond=0)
    return at if at > local else at + timedelta(days=1)


@dataclass
class UpstoxGrant:
    """An access token and whom it belongs to."""

    user_id: str
    access_token: str
    extended_token: str
    issued: datetime
    expires: datetime
    revoked: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the grant as the state file keeps it."""
        return asdict(self) | {"issued": self.issued.isoformat(), "expires": self.expires.isoformat()}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> UpstoxGrant:
        """Return the grant a state file's record describes (KeyError, TypeError or ValueError if none)."""
        times = {"issued": datetime.fromisoformat(raw["issued"]), "expires": datetime.fromisoformat(raw["expires"])}
        return cls(**(raw | times))


@dataclass
class PendingRequest:
    """A v3 token request awaiting the user's approval."""

    request_id: str
    client_id: str
    expires: datetime
    notifier_url: str | None


@dataclass
class FeedTicket:
    """A single-use WebSocket code: whose, which stream, and what it asked for."""

    grant: UpstoxGrant
    stream: str
    update_types: tuple[str, ...] = field(default_factory=tuple)

    def revoked_or_expired(self, now: datetime) -> bool:
        """Return True when the token behind the ticket no longer works."""
        return self.grant.revoked or self.grant.expires <= now


class UpstoxAuth:
    """Codes, tokens, token requests and WebSocket tickets; thread-safe."""

    def __init__(self, config: UpstoxSimConfig, clock: Clock) -> None:
        self.config = config
        self.clock = clock
        self._lock = threading.Lock()
        self._codes: dict[str, tuple[datetime, str]] = {}
        self._grants: dict[str, UpstoxGrant] = {}
        self._pending: dict[str, PendingRequest] = {}
        self._tickets: dict[str, FeedTicket] = {}
        #: Tokens delivered through the v3 flow, newest last (what a webhook would have received).
        self.delivered: list[dict[str, object]] = []
        self._state = SharedStateFile(config.state_file, self._read, self._dump)

    def _read(self, raw: Any) -> None:
        grants = [UpstoxGrant.from_json(record) for record in (raw or {}).get("grants", [])]
        self._grants = {g.access_token: g for g in grants}

    def _dump(self) -> dict[str, Any]:
        now = self.clock.now()
        return {"grants": [g.to_json() for g in self._grants.values() if not g.revoked and g.expires > now]}

    # -- the authorization code flow --------------------------------------------------------------------
    def check_client(self, client_id: str, redirect_uri: str | None = None) -> None:
        """Refuse an unknown client id or a redirect URI other than the registered one (400)."""
        if not hmac.compare_digest(client_id.encode(), self.config.client_id.encode()):
            raise UpstoxError(UDAPI.INVALID_CREDENTIALS, "Invalid client_id", "client_id", status=400)
        if redirect_uri is not None and redirect_uri != self.config.redirect_uri:
            raise UpstoxError(UDAPI.INVALID_INPUT, "Invalid redirect_uri", "redirect_uri", redirect_uri)

    def issue_code(self, redirect_uri: str) -> str:
        """Return a new single-use authorization code."""
        code = secrets.token_urlsafe(6)
        with self._lock:
            self._codes[code] = (self.clock.now() + timedelta(seconds=self.config.code_ttl_s), redirect_uri)
        return code

    def exchange(self, form: dict[str, str]) -> UpstoxGrant:
        """Trade a code for a token (``POST /v2/login/authorization/token``'s form).

        Raises:
            UpstoxError: a wrong client, secret, redirect URI or grant type, or an unknown, used or stale code.
        """
        self.check_client(form.get("client_id", ""))
        if not hmac.compare_digest(form.get("client_secret", "").encode(), self.config.client_secret.encode()):
            raise UpstoxError(UDAPI.INVALID_CREDENTIALS, "Invalid client_secret", "client_secret", status=400)
        if form.get("grant_type") != "authorization_code":
            raise UpstoxError(UDAPI.INVALID_INPUT, "grant_type must be authorization_code", "grant_type")
        with self._lock:
            entry = self._codes.pop(form.get("code", ""), None)  # single use, valid or not
        if entry is None or entry[0] < self.clock.now():
            raise UpstoxError(UDAPI.INVALID_CODE, property_path="code")
        if form.get("redirect_uri") != entry[1]:
            raise UpstoxError(UDAPI.INVALID_INPUT, "redirect_uri does not match the dialog's", "redirect_uri")
        return self.new_grant()

    def new_grant(self) -> UpstoxGrant:
        """Issue a token for the simulator's user."""
        now = self.clock.now()
        grant = UpstoxGrant(
            self.config.shared.user_id,
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(32),
            now,
            expiry_after(now, self.config),
        )
        with self._state.changing():
            self._grants[grant.access_token] = grant
        return grant

    # -- bearer tokens ----------------------------------------------------------------------------------
    def authenticate(self, authorization: str | None) -> UpstoxGrant:
        """Return the grant of an ``Authorization: Bearer …`` header.

        Raises:
            UpstoxError: no header, not a bearer token, unknown, revoked or expired (401 UDAPI100050).
        """
        scheme, _, token = (authorization or "").partition(" ")
        self._state.sync()  # another simulator process of the world may have issued or revoked it
        with self._state.lock:
            grant = self._grants.get(token.strip()) if scheme.lower() == "bearer" else None
        if grant is None or grant.revoked or grant.expires <= self.clock.now():
            raise UpstoxError(UDAPI.INVALID_TOKEN)
        return grant

    def logout(self, grant: UpstoxGrant) -> None:
        """Revoke a token (``DELETE /v2/logout``)."""
        with self._state.changing():
            grant.revoked = True
            # The grant may have been read from the file again since it was looked up: revoke the one kept.
            kept = self._grants.get(grant.access_token)
            if kept is not None:
                kept.revoked = True

    def expire_all(self) -> int:
        """Revoke every token (admin); return how many were live."""
        with self._state.changing():
            live = [g for g in self._grants.values() if not g.revoked]
            for g in live:
                g.revoked = True
        return len(live)

    # -- the v3 token request -----------------------------------------------------------------------------
    def request_token(self, client_id: str, client_secret: str) -> PendingRequest:
        """Open a token request the user must approve (it lapses at the next 03:30 IST)."""
        self.check_client(client_id)
        if not hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode()):
            raise UpstoxError(UDAPI.INVALID_CREDENTIALS, "Invalid client_secret", "client_secret", status=400)
        now = self.clock.now()
        pending = PendingRequest(
            secrets.token_hex(8), client_id, expiry_after(now, self.config), self.config.notifier_url
        )
        with self._lock:
            self._pending[pending.request_id] = pending
        return pending

    def pending(self) -> list[PendingRequest]:
        """Return the open token requests."""
        with self._lock:
            return list(self._pending.values())

    def approve(self, request_id: str | None = None) -> tuple[PendingRequest, UpstoxGrant] | None:
        """Approve a token request (the newest when ``request_id`` is None); None when there is none open."""
        with self._lock:
            if request_id is None and self._pending:
                request_id = next(reversed(self._pending))
            pending = self._pending.pop(request_id or "", None)
        if pending is None or pending.expires <= self.clock.now():
            return None
        return pending, self.new_grant()

    # -- WebSocket tickets --------------------------------------------------------------------------------
    def ticket(self, grant: UpstoxGrant, stream: str, update_types: tuple[str, ...] = ()) -> str:
        """Return a single-use code for a WebSocket connection of ``grant`` to ``stream``."""
        code = secrets.token_urlsafe(12)
        with self._lock:
            self._tickets[code] = FeedTicket(grant, stream, update_types)
        return code

    def redeem(self, code: str, stream: str) -> FeedTicket | None:
        """Return (and forget) the ticket of ``code`` for ``stream``; None when unknown, used or for another stream."""
        with self._lock:
            ticket = self._tickets.pop(code, None)
        if ticket is None or ticket.stream != stream or ticket.revoked_or_expired(self.clock.now()):
            return None
        return ticket
