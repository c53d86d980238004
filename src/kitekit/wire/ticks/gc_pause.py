"""Holding off CPython's automatic cyclic GC while one call builds many containers that all stay alive.

A full-mode tick dict is four GC-tracked containers (the tick, ``depth`` and its two lists), so a frame of
3,000 ticks allocates 12,000 of them, all alive until the call returns. CPython starts a young collection
every 700 such allocations and promotes what survives, so the decode runs ~17 young collections, a couple
of middle ones and, every few frames, a full collection of the whole heap: none of which can free anything,
as every container is still referenced. That was 4-6 us of a 8-10 us tick on big frames.

Pausing automatic collection for the call skips that work; nothing is lost, as a collection is only
deferred. When the caller drops the ticks, they are freed by reference counting and never reach an older
generation; when it keeps them, the next allocation after the call starts one young collection over all
of them (one pass, not seventeen). Mercurial does the same around its big parses (``util.nogc``).

The GC switch is process-wide, so the pause nests across threads: the first caller in turns collection
off, the last one out turns it back on, and only if it was on to begin with. A program that itself calls
:func:`gc.disable` from another thread while a frame is being decoded finds collection on again
afterwards; to keep it off for good, disable it before the ticker starts.
"""

from __future__ import annotations

import gc
import threading
from types import TracebackType


class GcPause:
    """A context manager: automatic cyclic collection is off inside, as it was before outside."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._inside = 0
        self._resume = False

    def __enter__(self) -> None:
        with self._lock:
            if not self._inside:
                self._resume = gc.isenabled()
                if self._resume:
                    gc.disable()
            self._inside += 1

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        with self._lock:
            self._inside -= 1
            if not self._inside and self._resume:
                gc.enable()


#: The pause shared by every decoder in the process (a second instance would defeat the nesting).
gc_paused = GcPause()
