"""Progress bars for the terminal (rich): downloads by bytes, historical fetches by request windows."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = ["DownloadBar", "WindowsBar"]


class DownloadBar:
    """``with DownloadBar(console, "what") as bar: fetch(progress=bar.update)``."""

    def __init__(self, console: Console, label: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(f"Downloading {label}", total=None)

    def update(self, done: int, total: int | None) -> None:
        """Record progress (``total`` None when the size is unknown, as with gzip transfers)."""
        self._progress.update(self._task, completed=done, total=total)

    def __enter__(self) -> DownloadBar:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()


class WindowsBar:
    """``with WindowsBar(console, "what") as bar: history.candles(..., progress=bar.update)``: windows and ETA."""

    def __init__(self, console: Console, label: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("windows"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self._task = self._progress.add_task(f"Fetching {label}", total=None)
        self.total = 0

    def update(self, done: int, total: int) -> None:
        """Record ``done`` of ``total`` request windows fetched."""
        self.total = total
        self._progress.update(self._task, completed=done, total=total)

    def __enter__(self) -> WindowsBar:
        self._progress.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._progress.stop()
