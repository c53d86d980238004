"""Rendering the quote monitor: a line per reading, or a live table, plus the CSV record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from kitekit.cli.fit import ALWAYS, Col, FitTable
from kitekit.monitor import CsvRecorder, Monitor, Reading, Track

__all__ = ["MonitorRun", "live_table", "reading_line", "run_monitor"]


@dataclass(frozen=True)
class MonitorRun:
    """How a monitor run went: readings taken, readings with a gap, and readings where every key failed."""

    readings: int
    with_gaps: int
    all_failed: int


def reading_line(reading: Reading, keys: list[str]) -> Text:
    """Return the classic one-line rendering of a reading."""
    line = Text(f"{reading.at:%Y-%m-%d %H:%M:%S}")
    for key in keys:
        line.append("  ")
        line.append(key, style="bold")
        price = reading.price(key)
        if price is None:
            line.append(f" — gap: {reading.gaps.get(key, 'no data')}", style="red")
        else:
            line.append(f" {price:,.2f}")
    return line


def live_table(tracks: list[Track], now: datetime, taken: int, count: int | None) -> FitTable:
    """Return the live table: LTP, change, change %, day range, sparkline and staleness per instrument."""
    title = f"reading {taken}" + (f" of {count}" if count else "") + f" · {now:%H:%M:%S} IST"
    # Symbols and prices stay whole at any width; the rest make room first (see kitekit.cli.fit).
    table = FitTable(
        Col("instrument", whole=True, keep=ALWAYS),
        Col("LTP", whole=True, keep=ALWAYS, justify="right"),
        Col("change", whole=True, keep=5, justify="right"),
        Col("%", whole=True, keep=4, justify="right"),
        Col("day low", whole=True, keep=2, justify="right"),
        Col("day high", whole=True, keep=2, justify="right"),
        Col("trend", whole=True, keep=1),
        Col("age", whole=True, keep=3, justify="right"),
        title=title,
        title_justify="left",
    )
    for t in tracks:
        change, pct = t.change, t.change_pct
        style = "green" if (change or 0) > 0 else "red" if (change or 0) < 0 else ""
        age = t.staleness(now)
        table.add_row(
            t.key,
            "—" if t.last is None else f"{t.last:,.2f}",
            Text("" if change is None else f"{change:+,.2f}", style=style),
            Text("" if pct is None else f"{pct:+.2f}", style=style),
            "" if t.low is None else f"{t.low:,.2f}",
            "" if t.high is None else f"{t.high:,.2f}",
            t.sparkline(),
            Text("" if age is None else f"{age:.0f}s", style="red" if t.gap else ""),
        )
    return table


def run_monitor(monitor: Monitor, console: Console, live: bool, csv_path: Path | None) -> MonitorRun:
    """Run the loop, rendering each reading; return how it went."""
    recorder = CsvRecorder(csv_path) if csv_path else None  # opened first: a bad path fails before any reading
    taken = gaps = dead = 0

    def count(reading: Reading) -> None:
        nonlocal taken, gaps, dead
        taken += 1
        gaps += bool(reading.gaps)
        dead += not reading.items
        if recorder:
            recorder.record(reading, monitor.keys)

    try:
        if live:
            with Live(console=console, auto_refresh=False, transient=False) as view:
                for i, reading in enumerate(monitor.readings(), start=1):
                    count(reading)
                    notes = [Text(f"{k}: {why}", style="red") for k, why in reading.gaps.items()]
                    view.update(
                        Group(live_table(list(monitor.tracks.values()), reading.at, i, monitor.count), *notes),
                        refresh=True,
                    )
        else:
            for reading in monitor.readings():
                count(reading)
                console.print(reading_line(reading, monitor.keys), highlight=False, soft_wrap=True)
    finally:
        if recorder:
            recorder.close()
    return MonitorRun(taken, gaps, dead)
