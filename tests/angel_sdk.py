"""Keeping the official ``smartapi-python`` SDK inside the test: no network, no stray log folders.

Importing ``SmartApi.smartConnect`` looks up the machine's public IP (``GET https://api.ipify.org``, with no
timeout) while its class body runs, and every ``SmartConnect``, ``SmartWebSocketV2`` and
``SmartWebSocketOrderUpdate`` makes ``logs/<date>/`` in the working directory and points logzero's global
logger at a file there. :func:`loopback_only` makes any name but loopback fail to resolve, so the lookup fails
at once (the SDK catches it and uses its built-in address); the ``smartapi`` fixture (tests/conftest.py) runs
each test in its own folder and closes the log file after it.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import socket
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

__all__ = ["close_sdk_logs", "closing_logfile", "load_sdk", "loopback_only"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", None})


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """Refuse to resolve any host but loopback while inside (``socket.gaierror``, as with no network)."""
    original: Callable[..., Any] = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in _LOOPBACK:
            raise socket.gaierror(socket.EAI_NONAME, f"tests resolve loopback only, not {name!r}")
        return original(host, *args, **kwargs)

    socket.getaddrinfo = guarded
    try:
        yield
    finally:
        socket.getaddrinfo = original


def load_sdk() -> dict[str, ModuleType]:
    """Import the SDK's modules with the network refused; return them by short name."""
    with loopback_only():
        # The import's failed lookup is logged as an error by the SDK's logzero logger: expected, not shown.
        quiet = logging.getLogger("logzero_default")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            return {
                "connect": importlib.import_module("SmartApi.smartConnect"),
                "ws2": importlib.import_module("SmartApi.smartWebSocketV2"),
                "orders": importlib.import_module("SmartApi.smartWebSocketOrderUpdate"),
            }
        finally:
            quiet.setLevel(level)


def close_sdk_logs() -> None:
    """Close and remove the log files the SDK's instances opened through logzero."""
    import logzero  # the SDK's own dependency, imported by load_sdk

    for handler in list(logzero.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            logzero.logger.removeHandler(handler)
            handler.close()


def closing_logfile(original: Callable[..., Any]) -> Callable[..., Any]:
    """Return ``logzero.logfile`` that closes the file it replaces (logzero only drops it, left open)."""

    def logfile(*args: Any, **kwargs: Any) -> Any:
        close_sdk_logs()
        return original(*args, **kwargs)

    return logfile
