"""Recording every tick frame to daily Parquet files through a bounded buffer, off the socket's path.

:meth:`TickRecorder.add` only appends to an in-memory buffer, so a slow disk never holds up the ticker. A
writer thread flushes the buffer every ``flush_every`` seconds as one atomically written part (so a crash
loses at most the last interval); :meth:`TickRecorder.close` merges each day's parts into its file. When the
buffer is full a frame is dropped whole, and counted: the counts are in :attr:`TickRecorder.stats` and in the
summary :meth:`close` returns, never silent. The file format is :mod:`kitekit.wire.recording`.

:class:`BufferedRecorder` is that machinery for any kind of frame; :class:`TickRecorder` records Kite's binary
frames with it, and :class:`kitekit.brokers.recording.FeedRecorder` another broker's neutral ticks.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Self, TypeVar

from kitekit.errors import TickerError
from kitekit.files import ensure_dir
from kitekit.wire.recording import KITE, compact, day_of, recording_days, recording_source, table_of, write_part

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["BufferedRecorder", "RecorderStats", "TickRecorder"]

F = TypeVar("F")

log = logging.getLogger("kitekit.ticker.recorder")


@dataclass(frozen=True)
class RecorderStats:
    """Counts of a recording: frames and ticks offered to it, written, and dropped (the buffer was full)."""

    frames: int = 0
    ticks: int = 0
    written_frames: int = 0
    written_ticks: int = 0
    dropped_frames: int = 0
    dropped_ticks: int = 0
    parts: int = 0
    write_errors: int = 0

    @property
    def pending_ticks(self) -> int:
        """Return the ticks buffered and not written yet."""
        return self.ticks - self.written_ticks - self.dropped_ticks


class BufferedRecorder(Generic[F]):
    """Writes frames of some kind to ``folder`` through a bounded buffer, without ever blocking the caller.

    A subclass offers each frame with :meth:`_offer` and says how frames become rows (:meth:`_table`).

    Args:
        folder: the recording folder (created private, 0700).
        flush_every: seconds between flushes: the most a crash can lose.
        buffer_ticks: ticks the buffer holds, those being written included; a frame that does not fit is
            dropped and counted.
        writer: writes one flush (the folder, the rows, a unique part name); tests slow it down.
    """

    #: The broker whose feed is recorded (:attr:`kitekit.wire.recording.RecordingSource.broker`).
    broker: str = KITE

    def __init__(
        self,
        folder: Path,
        flush_every: float = 1.0,
        buffer_ticks: int = 200_000,
        writer: Callable[[Path, Any, str], Any] = write_part,
    ) -> None:
        if not flush_every > 0:
            raise ValueError(f"flush_every must be above 0, got {flush_every}")
        if buffer_ticks < 1:
            raise ValueError(f"the buffer must hold at least one tick, got {buffer_ticks}")
        self.folder = folder
        self.flush_every = flush_every
        self.buffer_ticks = buffer_ticks
        self.writer = writer
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: deque[tuple[int, F, int, int]] = deque()  # (received ns, frame, ticks, number)
        self._buffered = 0
        self._numbers = itertools.count()
        self._parts = itertools.count(1)
        self._run = f"{time.time_ns():020d}"
        self._stats = RecorderStats()
        self._days: set[Any] = set()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._idle = threading.Event()
        self._idle.set()
        #: The last error a write failed with (its flush was dropped and counted), None while all went well.
        self.last_error: BaseException | None = None

    @property
    def stats(self) -> RecorderStats:
        """Return the counts so far."""
        with self._lock:
            return self._stats

    def _offer(self, frame: F, ticks: int, received_ns: int) -> bool:
        """Buffer one frame of ``ticks`` ticks (never blocks on the disk); return False if the buffer was full."""
        if not ticks:
            return True  # heartbeats and empty frames hold nothing to record
        with self._lock:
            s = self._stats
            if self._buffered + ticks > self.buffer_ticks:
                self._stats = replace(
                    s,
                    frames=s.frames + 1,
                    ticks=s.ticks + ticks,
                    dropped_frames=s.dropped_frames + 1,
                    dropped_ticks=s.dropped_ticks + ticks,
                )
                return False
            self._buffer.append((received_ns, frame, ticks, next(self._numbers)))
            self._buffered += ticks
            self._stats = replace(s, frames=s.frames + 1, ticks=s.ticks + ticks)
            self._idle.clear()
        return True

    def _table(self, frames: Sequence[F], received_ns: Sequence[int], numbers: Sequence[int]) -> pa.Table:
        """Return the rows of some frames (:data:`kitekit.wire.recording.SCHEMA`)."""
        raise NotImplementedError

    def start(self) -> Self:
        """Start the writer thread; return self.

        Raises:
            TickerError: the folder holds a recording of another broker's feed (each broker's is kept apart).
        """
        ensure_dir(self.folder)
        self._check_folder()
        if self._thread is None:
            self._stopping = False
            self._thread = threading.Thread(target=self._write_loop, name="kitekit-recorder", daemon=True)
            self._thread.start()
        return self

    def flush(self, timeout: float | None = None) -> bool:
        """Ask for a flush now and wait until the buffer is written; return False on timeout."""
        with self._lock:
            self._wake.notify()
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = None) -> RecorderStats:
        """Write what is buffered, stop the writer, merge each day's parts into its file; return the counts."""
        thread = self._thread
        if thread is not None:
            with self._lock:
                self._stopping = True
                self._wake.notify()
            thread.join(timeout)
            self._thread = None
        days = set(self._days)
        if self.folder.is_dir():
            days.update(recording_days(self.folder))
        for day in sorted(days):
            compact(self.folder, day)
        stats = self.stats
        if stats.dropped_ticks:
            log.warning(
                "the recorder dropped %d ticks in %d frames: the disk could not keep up with the buffer",
                stats.dropped_ticks,
                stats.dropped_frames,
            )
        return stats

    def _check_folder(self) -> None:
        try:
            if not recording_days(self.folder):
                return  # a new folder takes any broker's feed
            found = recording_source(self.folder).broker
        except TickerError:
            raise
        except Exception:  # a damaged file is compact()'s to report, as before
            return
        if found != self.broker:
            raise TickerError(
                f"{self.folder} holds a recording of the {found} feed; this one is the {self.broker} feed's. "
                "Record it to another folder."
            )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _write_loop(self) -> None:
        while True:
            with self._lock:
                if not self._buffer and not self._stopping:
                    self._idle.set()
                    self._wake.wait(self.flush_every)
                batch = list(self._buffer)
                self._buffer.clear()
                stopping = self._stopping
            if batch:
                self._write(batch)
            if stopping:
                with self._lock:
                    done = not self._buffer
                if done:
                    self._idle.set()
                    return

    def _write(self, batch: list[tuple[int, F, int, int]]) -> None:
        received, frames, counts, numbers = zip(*batch, strict=True)
        ticks = sum(counts)
        try:
            table = self._table(frames, received, numbers)
            self.writer(self.folder, table, f"{self._run}-{next(self._parts):08d}")
        except Exception as exc:  # a failed write loses this flush, counted, and the recording goes on
            log.error("the recorder could not write %d ticks to %s: %s", ticks, self.folder, exc)
            self.last_error = exc
            with self._lock:
                s = self._stats
                self._buffered -= ticks
                self._stats = replace(
                    s,
                    dropped_frames=s.dropped_frames + len(batch),
                    dropped_ticks=s.dropped_ticks + ticks,
                    write_errors=s.write_errors + 1,
                )
            return
        with self._lock:
            s = self._stats
            self._buffered -= ticks
            self._days.update({day_of(received[0]), day_of(received[-1])})
            self._stats = replace(
                s,
                written_frames=s.written_frames + len(batch),
                written_ticks=s.written_ticks + ticks,
                parts=s.parts + 1,
            )


class TickRecorder(BufferedRecorder[bytes]):
    """Writes Kite's tick frames to ``folder`` (see :mod:`kitekit.wire.recording`) without ever blocking the caller.

    Use it as ``ticker.on_frame = recorder.add`` between :meth:`start` and :meth:`close` (or ``with``); its
    arguments are :class:`BufferedRecorder`'s.
    """

    def add(self, frame: bytes, received_ns: int) -> bool:
        """Buffer one frame (never blocks on the disk); return False if it was dropped, the buffer being full."""
        return self._offer(frame, frame[0] << 8 | frame[1] if len(frame) >= 2 else 0, received_ns)

    def _table(self, frames: Sequence[bytes], received_ns: Sequence[int], numbers: Sequence[int]) -> pa.Table:
        return table_of(frames, received_ns, numbers)
