"""Rendering the WebSocket feed: a line per tick, the monitor's live table from ticks, and a recording run."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from kitekit.cli.monitor_view import MonitorRun, live_table
from kitekit.clock import IST, Clock
from kitekit.monitor import CsvRecorder, Reading, Track
from kitekit.ticker import Ticker, TickRecorder
from kitekit.ticker.recorder import BufferedRecorder, RecorderStats

if TYPE_CHECKING:
    from collections.abc import Callable

    from kitekit.brokers.feed import LiveFeed
    from kitekit.brokers.recording import FeedRecorder
    from kitekit.bus.consumer import BusTicker
    from kitekit.cli.neutral import TickDicts

__all__ = ["print_ticks", "record_feed", "record_ticks", "stream_monitor", "tick_line"]

#: The live table is redrawn at most this often (ticks may come many times a second).
REFRESH_S = 0.1


def tick_line(tick: dict[str, Any], label: str, now: datetime) -> Text:
    """Return one tick as a line: time, instrument, last price, and what its mode carries."""
    stamp = tick.get("exchange_timestamp")
    # The SDK's tick times are naive local time of this machine (§15.6); show them in IST.
    at = stamp.astimezone(IST) if isinstance(stamp, datetime) else now.astimezone(IST)
    line = Text(f"{at:%H:%M:%S}  ")
    line.append(label, style="bold")
    line.append(f"  {tick['last_price']:,.2f}")
    if "change" in tick:
        change = float(tick["change"])
        line.append(f"  {change:+.2f}%", style="green" if change > 0 else "red" if change < 0 else "")
    if "volume_traded" in tick:
        line.append(f"  vol {tick['volume_traded']:,}")
    depth = tick.get("depth")
    if depth:
        bid, ask = depth["buy"][0], depth["sell"][0]
        line.append(f"  bid {bid['price']:,.2f}×{bid['quantity']:,}  ask {ask['price']:,.2f}×{ask['quantity']:,}")
    if tick.get("oi"):
        line.append(f"  oi {tick['oi']:,}")
    return line


async def print_ticks(
    ticker: Ticker | BusTicker | TickDicts, labels: dict[int, str], console: Console, clock: Clock, count: int | None
) -> int:
    """Print each tick as it arrives until ``count`` ticks (or forever); return how many were printed."""
    printed = 0
    async with ticker:
        async for ticks in ticker:
            now = clock.now()
            for tick in ticks:
                label = labels.get(tick["instrument_token"], str(tick["instrument_token"]))
                console.print(tick_line(tick, label, now), highlight=False, soft_wrap=True)
                printed += 1
                if count is not None and printed >= count:
                    return printed
    return printed


async def record_ticks(
    ticker: Ticker | BusTicker, recorder: TickRecorder, err: Console, count: int | None
) -> RecorderStats:
    """Record until ``count`` ticks have arrived, Ctrl-C or SIGTERM; write what is buffered; return the counts."""
    ticker.on_frame = recorder.add
    try:
        return await _record(ticker, recorder, err, count, None)
    finally:
        ticker.on_frame = None


async def record_feed(
    feed: LiveFeed, recorder: FeedRecorder, err: Console, count: int | None, clock: Clock
) -> RecorderStats:
    """Record another broker's feed as :func:`record_ticks` does Kite's, each frame stamped by ``clock``."""
    from kitekit.ticker.events import arrival_stamp

    stamp = arrival_stamp(clock)
    return await _record(feed, recorder, err, count, lambda ticks: recorder.add(ticks, stamp()))


async def _record(
    ticker: Ticker | BusTicker | LiveFeed,
    recorder: BufferedRecorder[Any],
    err: Console,
    count: int | None,
    each: Callable[[Any], object] | None,
) -> RecorderStats:
    import asyncio

    recorder.start()
    err.print(f"Recording to {recorder.folder}; Ctrl-C stops and writes what is buffered.", highlight=False)
    seen = 0
    stop_on_term = _stop_on_sigterm(asyncio.current_task())
    try:
        async with ticker:
            async for ticks in ticker:
                if each is not None:
                    each(ticks)
                seen += len(ticks)
                if count is not None and seen >= count:
                    break
    except (KeyboardInterrupt, asyncio.CancelledError):
        pass  # stopping a recording is what Ctrl-C is for: write what is buffered and report
    finally:
        stop_on_term()
    return await asyncio.to_thread(recorder.close)


def _stop_on_sigterm(task: Any) -> Any:
    """Make SIGTERM stop ``task`` the way Ctrl-C does; return what puts the default handling back.

    systemd, docker and ``kill`` stop a recorder with SIGTERM, whose default ends the process at once: no
    summary, and the day's parts left unmerged until the next run.
    """
    import asyncio
    import contextlib
    import signal

    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):  # Windows, or not the main thread: as before
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.remove_signal_handler(signal.SIGTERM)

    return restore


async def stream_monitor(
    ticker: Ticker | TickDicts,
    labels: dict[int, list[str]],
    console: Console,
    clock: Clock,
    count: int | None,
    csv_path: Path | None,
) -> MonitorRun:
    """Show the polling monitor's live table fed by ticks, redrawn as they arrive; ``count`` frames at most."""
    csv = CsvRecorder(csv_path) if csv_path else None  # opened first: a bad path fails before connecting
    tracks = {key: Track(key) for keys in labels.values() for key in keys}
    taken = 0
    drawn = 0.0
    try:
        with Live(console=console, auto_refresh=False, transient=False) as view:
            async with ticker:
                async for ticks in ticker:
                    at = clock.now().astimezone(IST)
                    items = {key: tick for tick in ticks for key in labels.get(tick["instrument_token"], [])}
                    reading = Reading(at, items, {})
                    for key in items:
                        tracks[key].update(reading)
                    if csv:
                        csv.record(reading, list(items))
                    taken += 1
                    last = count is not None and taken >= count
                    if last or time.monotonic() - drawn >= REFRESH_S:
                        view.update(Group(live_table(list(tracks.values()), at, taken, count)), refresh=True)
                        drawn = time.monotonic()
                    if last:
                        break
    finally:
        if csv:
            csv.close()
    return MonitorRun(taken, 0, 0)
