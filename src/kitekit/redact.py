"""Keeps secrets out of log lines, including those of libraries we do not own.

urllib3 logs every request line at DEBUG (``DELETE /session/token?…&access_token=…``) and the official SDK's
debug mode logs the ``Authorization`` header. :func:`install` puts a filter on those loggers that masks
secret-looking parameters and every secret value kitekit has seen (:func:`register`).

It stands on the standard library alone (the ground floor imports nothing above it), so the names of Kite's
secret parameters are listed here, where every side that logs (the client, the simulator's access log)
finds them.
"""

from __future__ import annotations

import logging
import re
import threading

__all__ = ["SECRET_PARAMS", "SecretFilter", "install", "redact", "register"]

#: Kite's request and response parameters whose values are secrets: never logged, never shown.
SECRET_PARAMS = frozenset(
    {
        "access_token",
        "api_secret",
        "checksum",
        "enctoken",
        "password",
        "public_token",
        "refresh_token",
        "request_id",
        "request_token",
        "totp_secret",
        "twofa_value",
    }
)

_PARAM = re.compile(rf"(?i)\b({'|'.join(sorted(SECRET_PARAMS))})(['\"]?\s*[=:]\s*['\"]?)([^&\s'\",}}]+)")
_AUTH = re.compile(r"(?i)(token\s+)[^\s:'\"]+:[^\s'\",}]+")
_known: set[str] = set()
_lock = threading.Lock()
#: Loggers of other libraries that print URLs or headers.
THIRD_PARTY = (
    "urllib3.connectionpool",
    "kiteconnect.connect",
    "kiteconnect.ticker",
    "uvicorn.access",
    "websockets.client",  # its debug log prints the ticker's upgrade request, access token and all
)


def register(*secrets: str | None) -> None:
    """Remember secret values so they are masked wherever they appear in a log line."""
    with _lock:
        _known.update(s for s in secrets if s and len(s) >= 6)


def redact(text: str) -> str:
    """Return ``text`` with secret parameters, Authorization values and registered secrets masked."""
    text = _PARAM.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _AUTH.sub(lambda m: f"{m.group(1)}***:***", text)
    with _lock:
        known = sorted(_known, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, "***")
    return text


class SecretFilter(logging.Filter):
    """A logging filter that rewrites each record's message through :func:`redact`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


_installed = False


def install() -> None:
    """Attach :class:`SecretFilter` to kitekit's and the known third-party loggers (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    flt = SecretFilter()
    for name in ("kitekit", *THIRD_PARTY):
        logging.getLogger(name).addFilter(flt)
