"""A simulator's login state in a file of its world that every simulator process on the world shares.

Each ``--sim`` command starts a simulator process of its own over one world, and two may run at once: a
token one of them issued must be accepted by the others, and by the next one, as a broker's servers accept it.
:class:`SharedStateFile` keeps a broker simulator's tokens in one JSON file (0600, replaced atomically): each
change is made under a file lock on the state as it is on disk, and a change another process made is read back
before a token is checked (by the file's stamp, so an unchanged file costs one ``stat``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kitekit.files import atomic_write

__all__ = ["SharedStateFile"]

log = logging.getLogger("kitekit.sim")


class SharedStateFile:
    """One simulator's persisted login state; in memory only when ``path`` is None.

    Args:
        path: the world's file (None: nothing persists, as a simulator without a world).
        read: replaces the caller's state with the file's JSON (None when there is no file: a new world).
        dump: returns the caller's state to keep, as JSON (only what is still live).
    """

    def __init__(self, path: Path | None, read: Callable[[Any], None], dump: Callable[[], Any]) -> None:
        self.path = path
        self.read = read
        self.dump = dump
        #: Held while the caller's state is read or changed (reentrant: a change may read it).
        self.lock = threading.RLock()
        self._seen: tuple[int, int] | None = None
        self._file_lock: Any = None
        with self.lock:
            self._load()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat() if self.path is not None else None
        except OSError:
            return None
        return None if st is None else (st.st_mtime_ns, st.st_size)

    def _load(self) -> None:
        self._seen = self._stamp()
        if self.path is None:
            return
        raw: Any = None
        if self._seen is not None:
            try:
                raw = json.loads(self.path.read_bytes())
            except (OSError, ValueError) as exc:
                log.warning("ignoring the simulator state file %s: %s", self.path, exc)
        try:
            self.read(raw)
        except (ValueError, KeyError, TypeError) as exc:
            # A damaged state file only costs a fresh login; never let it stop the simulator.
            log.warning("ignoring the simulator state file %s: %s", self.path, exc)
            self.read(None)

    def sync(self) -> None:
        """Read the file again if another process changed it since this one last read or wrote it."""
        with self.lock:
            if self.path is not None and self._stamp() != self._seen:
                self._load()

    @contextlib.contextmanager
    def changing(self) -> Iterator[None]:
        """Hold the locks (thread and file) on the latest state; save it afterwards."""
        with self.lock, self._locked_file():
            self.sync()
            yield
            if self.path is not None:
                # Tokens are secrets: the file is 0600 from its first byte.
                atomic_write(self.path, json.dumps(self.dump()).encode(), mode=0o600)
                self._seen = self._stamp()

    @contextlib.contextmanager
    def _locked_file(self) -> Iterator[None]:
        if self.path is None:
            yield
            return
        if self._file_lock is None:
            from filelock import FileLock

            self._file_lock = FileLock(str(self.path.with_name(f".{self.path.name}.lock")), mode=0o600)
        with self._file_lock:
            yield
