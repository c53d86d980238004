"""The kill switch: a file flag any process, cron job or other host can set, that a running strategy obeys at once.

A run watches three places, and stops new orders, cancels its open ones and (when asked) flattens as soon as
one of them exists:

- ``<runs>/<RUN>/KILL``: this run (``kitekit kill RUN``);
- ``<runs>/KILL``: every run of this data dir (``kitekit kill``);
- the path in ``KITE_KILL_FILE`` (or ``--kill-file``), e.g. on a shared file system another host writes to.

The file's content says what to do: empty, or any text, stops and cancels; a first line ``flatten`` (or JSON
with ``"flatten": true``, which ``kitekit kill --flatten`` writes) also closes the run's positions. A killed
run stays killed across restarts until the flag is removed (``kitekit kill RUN --clear``, or ``rm``).

Checking is one ``stat`` per path, at most every ``interval`` seconds of wall time, so it costs nothing per
event in a backtest and reacts within a fraction of a second live.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from kitekit.files import atomic_write

__all__ = ["KILL_FILE", "KillRequest", "KillSwitch", "clear_kill", "read_kill", "request_kill"]

KILL_FILE = "KILL"


@dataclass(frozen=True)
class KillRequest:
    """A kill flag found: where, whether to flatten, and why (as written)."""

    path: Path
    flatten: bool
    reason: str


def request_kill(path: Path, *, flatten: bool = False, reason: str = "", at: str = "") -> Path:
    """Write a kill flag at ``path`` (atomically): the runs watching it stop at once.

    Args:
        path: ``<runs>/<RUN>/KILL``, ``<runs>/KILL`` or a watched path of your own.
        flatten: also close the runs' positions.
        reason: why, shown by the runs and ``kitekit runs``.
        at: when (text), for the record.
    """
    body = {"flatten": flatten, "reason": reason or "kill switch", "at": at, "pid": os.getpid()}
    atomic_write(path, (json.dumps(body) + "\n").encode(), mode=0o644)
    return path


def read_kill(path: Path) -> KillRequest | None:
    """Return the kill flag at ``path``, None when there is none (an unreadable flag still kills)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return None
    except OSError:
        return KillRequest(path, False, f"kill flag {path} (unreadable)")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            data = json.loads(stripped)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return KillRequest(path, bool(data.get("flatten")), str(data.get("reason") or f"kill flag {path}"))
    first = stripped.splitlines()[0].strip().lower() if stripped else ""
    return KillRequest(path, first == "flatten", f"kill flag {path}" + (f": {stripped[:200]}" if stripped else ""))


def clear_kill(paths: Sequence[Path]) -> list[Path]:
    """Remove the kill flags at ``paths``; return those that were there."""
    removed = []
    for path in paths:
        try:
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            continue
    return removed


class KillSwitch:
    """Watches kill flags for a run.

    Args:
        paths: the flag files to watch.
        interval: the least wall time between two looks (seconds).
        monotonic: the time source of ``interval``.
    """

    def __init__(
        self, paths: Sequence[Path], interval: float = 0.2, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self.paths = list(dict.fromkeys(paths))
        self.interval = interval
        self.monotonic = monotonic
        self._next = 0.0

    def check(self, force: bool = False) -> KillRequest | None:
        """Return the first flag present, looking at most every ``interval`` seconds unless ``force``."""
        now = self.monotonic()
        if not force and now < self._next:
            return None
        self._next = now + self.interval
        for path in self.paths:
            if os.path.lexists(path):
                found = read_kill(path)
                if found is not None:
                    return found
        return None
