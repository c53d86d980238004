"""Who may hold a claim on an intent: one lock file per open journal, held for as long as it is open.

A journal that moves an intent from ``new`` to ``sending`` writes its owner token on the intent; every other
process must then wait for that owner's outcome, unless the owner is gone. "Gone" has to be known, not
guessed from a timeout: a process stalled on a slow disk or paused by the scheduler is alive and may still
send. So each open journal holds an exclusive ``flock`` on ``<journal>.owners/<token>.lock``; the kernel
releases it the moment the process ends however it ends (SIGKILL included), so a lock anyone else can take
means its owner can no longer send anything. Lock files are per machine, like the journal itself; a file left
by a killed process is removed by whoever next finds it unlocked.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path

from filelock import FileLock, Timeout

from kitekit.files import ensure_dir

__all__ = ["Owners"]


class Owners:
    """The owner token of one open journal, and the liveness of others' tokens.

    Args:
        folder: where the lock files live (made 0700 if missing).

    Raises:
        OSError: the folder or this owner's lock file cannot be made.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = ensure_dir(folder)
        # The pid makes a token readable in messages ("process 4242"); the random part makes it never reused.
        self.token = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._lock: FileLock | None = FileLock(str(self._file(self.token)), mode=0o600)
        self._lock.acquire(timeout=0)  # a fresh name: nobody else can hold it
        self._sweep()

    def _sweep(self) -> None:
        """Remove the lock files of journals gone long ago (a killed process leaves its file behind)."""
        # Only old files: a file is created a moment before its owner locks it, and removing it in that
        # moment would leave a live owner with no file, taken for gone. An hour is far beyond that moment.
        cutoff = time.time() - 3600
        for path in self.folder.glob("*.lock"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    self.alive(path.stem)

    def _file(self, token: str) -> Path:
        return self.folder / f"{token}.lock"

    def alive(self, token: str) -> bool:
        """Return True while the journal that wrote ``token`` is open (in this process or another).

        A token found dead has its lock file removed.
        """
        if token == self.token:
            return self._lock is not None
        path = self._file(token)
        if not path.exists():
            return False
        probe = FileLock(str(path), mode=0o600)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            return True
        try:
            with contextlib.suppress(OSError):
                path.unlink()
        finally:
            probe.release()
        return False

    @staticmethod
    def pid(token: str) -> str:
        """Return the process id written in ``token`` (for messages)."""
        return token.split("-", 1)[0]

    def close(self) -> None:
        """Release this owner's lock: its claims count as abandoned from now on."""
        lock, self._lock = self._lock, None
        if lock is not None:
            path = self._file(self.token)
            with contextlib.suppress(OSError):
                path.unlink()
            lock.release()
