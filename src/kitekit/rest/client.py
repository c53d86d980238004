"""Building a ``KiteConnect`` that is paced, retried and guarded: the one place kitekit makes a client."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kitekit import redact
from kitekit.paths import data_dir
from kitekit.rest.pacer import DEFAULT_FILENAME, Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.rest.transport import install_transport

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["default_pacer", "paced_client", "pacer_path"]


def pacer_path() -> Path:
    """Return the pacing database every kitekit process of this user shares (``<data dir>/pacing.sqlite3``)."""
    return data_dir() / DEFAULT_FILENAME


def default_pacer() -> Pacer:
    """Return the pacer shared by every kitekit process of this user (:func:`pacer_path`)."""
    return Pacer(pacer_path())


def paced_client(
    api_key: str,
    root: str,
    access_token: str | None = None,
    *,
    pacer: Pacer | None,
    retry: RetryPolicy | None = None,
    guard: Callable[[], None] | None = None,
    on_token_rejected: Callable[[], None] | None = None,
) -> KiteConnect:
    """Return an official ``KiteConnect`` with kitekit's transport mounted on its ``requests`` session.

    Args:
        api_key: the app's key.
        root: the REST root (``https://api.kite.trade`` or a simulator's URL).
        access_token: the session's token; None for a client that only logs in.
        pacer: the shared rate-limit scheduler (None sends unpaced).
        retry: the retry policy for idempotent GETs.
        guard: runs before every request; may raise to stop it (e.g. a session already known dead).
        on_token_rejected: the SDK's session-expiry hook, run when Kite rejects the token (403).
    """
    from kiteconnect import KiteConnect  # imported here: it pulls in Twisted, which commands without Kite skip

    redact.register(access_token)
    kite = KiteConnect(api_key, access_token=access_token, root=root)
    install_transport(kite, pacer=pacer, policy=retry, guard=guard)
    if on_token_rejected is not None:
        kite.set_session_expiry_hook(on_token_rejected)
    return kite
