"""Opening a Redis client for the bus from a ``redis://`` URL, with a clear error when the client is missing."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from kitekit.errors import BusUnavailableError, ConfigError

if TYPE_CHECKING:
    import redis
    import redis.asyncio

__all__ = ["check_bus_url", "redis_client", "redis_client_async", "shown_url"]

_SCHEMES = ("redis", "rediss", "unix")
_MISSING = "the bus needs the Python redis client: pip install 'kitekit[scale]'"
#: Seconds a call may wait on a silent server: a dead bus must be noticed in time to fail closed, not hang.
SOCKET_TIMEOUT = 2.0


def shown_url(url: str) -> str:
    """Return a bus URL as it may be printed: without the password it may hold (``redis://:secret@host``)."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return f"unix://{parts.path}"
    return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


def check_bus_url(url: str) -> str:
    """Return ``url`` if it is a Redis URL (``redis://host:port/db``, ``rediss://``, ``unix://``).

    Raises:
        ConfigError: another scheme, or no host.
    """
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or (parts.scheme != "unix" and not parts.hostname):
        raise ConfigError(f"a bus URL looks like redis://127.0.0.1:6379/0 (or rediss://, unix://), got {url!r}")
    return url


def redis_client(url: str, timeout: float = SOCKET_TIMEOUT) -> redis.Redis:
    """Return a blocking Redis client for ``url`` (no connection is made yet).

    Raises:
        BusUnavailableError: the ``redis`` package is not installed.
        ConfigError: ``url`` is not a Redis URL.
    """
    try:
        import redis
    except ImportError as exc:
        raise BusUnavailableError(_MISSING) from exc
    return redis.Redis.from_url(
        check_bus_url(url), socket_timeout=timeout, socket_connect_timeout=timeout, health_check_interval=10
    )


def redis_client_async(url: str, timeout: float | None = SOCKET_TIMEOUT) -> redis.asyncio.Redis:
    """Return an asyncio Redis client for ``url`` (``timeout`` None for clients that block on reads).

    Raises:
        BusUnavailableError: the ``redis`` package is not installed.
        ConfigError: ``url`` is not a Redis URL.
    """
    try:
        import redis.asyncio
    except ImportError as exc:
        raise BusUnavailableError(_MISSING) from exc
    return redis.asyncio.Redis.from_url(
        check_bus_url(url), socket_timeout=timeout, socket_connect_timeout=SOCKET_TIMEOUT
    )
