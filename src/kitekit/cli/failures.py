"""What the CLI says when a command fails: one line that says what went wrong and what to do, and an exit code.

Every exception a command lets out is classified here, at the edge, so no traceback reaches a user (``-v``
shows it to those who want it). The exit codes are documented in the README:

====  =====================================================================================
 0    success
 1    the command failed: Kite answered an error, the network failed, a local condition
      (unknown symbol, damaged cache, every monitor reading failed…)
 2    usage: a wrong argument or option value (a date in the future, a range ending before it
      starts, a historical range Kite would refuse…), an order that breaks a pre-trade rule, or
      an alert Kite would refuse
 3    session: not logged in, the session expired or was rejected, or the login failed
 4    files: a file or directory could not be read or written (permissions, full disk, a
      directory where a file belongs)
 5    configuration: credentials missing, a config or .env file malformed, a malformed API root
70    an unexpected error inside kitekit (a bug): run again with -v and report the traceback
130   interrupted (Ctrl-C)
====  =====================================================================================

Classifying never imports the SDK or ``requests``: an exception of theirs can only exist once they are loaded.
"""

from __future__ import annotations

import errno
import sqlite3
import sys
from dataclasses import dataclass

from kitekit.errors import (
    PAPER_REFUSAL_NOTE,
    AlertValidationError,
    BrokerFeatureError,
    ConfigError,
    HistoryRangeError,
    KitekitError,
    OrderValidationError,
    SessionError,
    SimWorldError,
)

__all__ = ["CONFIG", "FAILED", "FILES", "INTERNAL", "INTERRUPTED", "SESSION", "USAGE", "Failure", "describe"]

FAILED = 1
USAGE = 2
SESSION = 3
FILES = 4
CONFIG = 5
INTERNAL = 70
INTERRUPTED = 130


@dataclass(frozen=True)
class Failure:
    """The line to print (rich markup allowed) and the exit code."""

    message: str
    code: int


def _plain(value: object) -> str:
    """Return ``value`` as text rich prints as it is: a message's own brackets are not markup."""
    from rich.markup import escape

    return escape(str(value))


def describe(exc: BaseException) -> Failure:
    """Return what to tell the user about ``exc`` and the exit code to end with."""
    if isinstance(exc, ConfigError):
        return Failure(f"[red]Configuration error:[/] {_plain(exc)}", CONFIG)
    if isinstance(exc, KitekitError) and isinstance(exc, OSError):  # e.g. a session Kite gave but no disk took
        return Failure(f"[red]File error:[/] {_plain(exc)}", FILES)
    if isinstance(exc, HistoryRangeError):  # a range Kite would refuse is a wrong argument, as for orders
        return Failure(f"[red]Error:[/] {_plain(exc)}", USAGE)
    if isinstance(exc, SessionError):
        return Failure(f"[red]Error:[/] {_plain(exc)}", SESSION)
    if isinstance(exc, SimWorldError):  # a simulator asked to start where it cannot: a wrong argument
        return Failure(f"[red]Error:[/] {_plain(exc)}", USAGE)
    if isinstance(exc, OrderValidationError):  # a wrong order is a wrong argument: the message names the rule
        return Failure(f"[red]Order refused before sending ({_plain(exc.rule)}):[/] {_plain(exc)}", USAGE)
    if isinstance(exc, BrokerFeatureError):  # asking a broker for what it does not offer: a wrong argument
        return Failure(f"[red]Error:[/] {_plain(exc)}", USAGE)
    if isinstance(exc, AlertValidationError):  # the same for an alert Kite would refuse
        return Failure(f"[red]Alert refused before sending:[/] {_plain(exc)}", USAGE)
    if isinstance(exc, HistoryRangeError):  # dates, interval or flags a candle request may not have: arguments
        return Failure(f"[red]Candle request refused before sending:[/] {_plain(exc)}", USAGE)
    if isinstance(exc, KitekitError):
        return Failure(f"[red]Error:[/] {_plain(exc)}", FAILED)
    kite = _kite_failure(exc)
    if kite is not None:
        return kite
    network = _network_failure(exc)
    if network is not None:
        return network
    if isinstance(exc, OSError):
        return Failure(f"[red]File error:[/] {_plain(_os_error(exc))}", FILES)
    if isinstance(exc, sqlite3.Error):
        return Failure(f"[red]File error:[/] a kitekit database could not be used ({_plain(exc)}).", FILES)
    if isinstance(exc, UnicodeError):
        return Failure(f"[red]Error:[/] a file or value is not valid text ({_plain(exc)}).", FAILED)
    return Failure(
        f"[red]kitekit hit an unexpected error[/] ({type(exc).__name__}: {_plain(exc)}). Run the command again with -v "
        "to see the traceback, and please report it.",
        INTERNAL,
    )


def _kite_failure(exc: BaseException) -> Failure | None:
    kex = sys.modules.get("kiteconnect.exceptions")
    if kex is None or not isinstance(exc, kex.KiteException):
        return None
    name = type(exc).__name__
    if isinstance(exc, kex.TokenException):
        return Failure(f"[red]Kite rejected the session ({name}, HTTP {exc.code}):[/] {_plain(exc)}", SESSION)
    if PAPER_REFUSAL_NOTE in getattr(exc, "__notes__", ()):
        return Failure(f"[red]The paper broker refused it ({name}, as Kite would):[/] {_plain(exc)}", FAILED)
    return Failure(f"[red]Kite answered {name} (HTTP {exc.code}):[/] {_plain(exc)}", FAILED)


def _network_failure(exc: BaseException) -> Failure | None:
    rex = sys.modules.get("requests.exceptions")
    if rex is None or not isinstance(exc, rex.RequestException):
        return None
    if isinstance(exc, rex.InvalidURL | rex.MissingSchema | rex.InvalidSchema | rex.URLRequired):
        url = getattr(exc.request, "url", None) or (exc.args[0] if exc.args else "")
        return Failure(
            f'[red]The API root is malformed[/] ({_plain(url)}). Set KITE_ROOT (or "root" in config.json) to a URL '
            "like https://api.kite.trade, or KITE_SIM_URL to http://127.0.0.1:PORT.",
            CONFIG,
        )
    return Failure(
        f"[red]Network error talking to Kite:[/] {type(exc).__name__}. Check the connection and retry.", FAILED
    )


def _os_error(exc: OSError) -> str:
    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno == errno.ENOSPC:
        return f"the disk is full; nothing was written to{where or ' the file'}. Free some space and retry."
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"no permission to write or read{where}. Choose another path or fix its permissions."
    if exc.errno == errno.EISDIR:
        return f"{where.strip() or 'the path'} is a directory, where a file belongs. Give a file name."
    if exc.errno == errno.ENOTDIR:
        return f"a part of{where} is a file, where a directory belongs."
    if exc.errno == errno.ENOENT:
        return f"{where.strip() or 'a file'} does not exist (or its folder does not)."
    return f"{exc.strerror or exc}{':' + where if where else ''}."
