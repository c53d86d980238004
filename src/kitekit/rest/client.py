"""Building a ``KiteConnect`` that is paced, retried and guarded: the one place kitekit makes a client."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from kitekit import redact
from kitekit.errors import ConfigError
from kitekit.paths import data_dir
from kitekit.rest.pacer import DEFAULT_FILENAME, Pacer, PacerBackend
from kitekit.rest.retry import RetryPolicy
from kitekit.rest.transport import install_transport

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

__all__ = ["PACER_VARIABLE", "default_pacer", "paced_client", "pacer_path"]

#: The environment variable that chooses the pacer: unset or ``sqlite`` (this machine), or a ``redis://`` URL.
PACER_VARIABLE = "KITEKIT_PACER"


def pacer_path() -> Path:
    """Return the pacing database every kitekit process of this user shares (``<data dir>/pacing.sqlite3``)."""
    return data_dir() / DEFAULT_FILENAME


def default_pacer() -> PacerBackend:
    """Return the pacer every kitekit process of this user shares.

    By default ``<data dir>/pacing.sqlite3``, shared by the processes of one machine. With ``KITEKIT_PACER``
    set to a Redis URL (``redis://host:6379/0``), a :class:`~kitekit.bus.pacer.RedisPacer` shared by every
    process on every host using that server (``docs/scale.md``).

    Raises:
        ConfigError: ``KITEKIT_PACER`` is neither ``sqlite`` nor a Redis URL.
        BusUnavailableError: a Redis URL is set but the ``redis`` client is not installed.
    """
    chosen = os.environ.get(PACER_VARIABLE, "").strip()
    if chosen in ("", "sqlite"):
        return Pacer(pacer_path())
    if chosen.split("://", 1)[0] in ("redis", "rediss", "unix"):
        from kitekit.bus.pacer import RedisPacer  # here: only a Redis pacer needs the redis client

        return RedisPacer(chosen)
    raise ConfigError(f"{PACER_VARIABLE} must be 'sqlite' or a Redis URL like redis://127.0.0.1:6379/0, got {chosen!r}")


def paced_client(
    api_key: str,
    root: str,
    access_token: str | None = None,
    *,
    pacer: PacerBackend | None,
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
