"""Where a run lives on disk (its folder under ``<data dir>/runs``) and the state that outlives a restart.

A run's folder holds::

    run.json        what ran: mode, strategy file, parameters, symbols, when it started and ended, how it ended
    state.json      what a restart needs: the day, the risk state (a halt, a kill), the order sequence, the run's
                    orders and intents, its book, the day's starting P&L, and what the strategy's on_save returned
    KILL            the kill flag (see kitekit.runner.killswitch), when set
    equity.jsonl, trades.jsonl, orders.jsonl   paper and live: the curve, fills and orders as they come
    events.jsonl    paper and live: the run's events (orders, fills, risk state, kills, its stop) as it notes them
    equity.parquet, trades.parquet, round_trips.parquet, stats.parquet, stats.json, report.html   the report

Every file is replaced atomically. ``state.json`` is written before each order is sent (the intent and its tag
first, so a crash between the send and the answer leaves a record to find the order by) and after each batch
of events that changed anything.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from kitekit.files import atomic_write, ensure_dir

__all__ = ["STATE_VERSION", "JsonLines", "RunFolder", "RunState", "run_name", "runs_root", "tag_prefix"]

STATE_VERSION = 1
_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def runs_root(data: Path | None = None) -> Path:
    """Return the folder every run's folder is in: ``<data dir>/runs`` (a simulator's own data dir on one)."""
    if data is None:
        from kitekit.config import data_dir

        data = data_dir()
    return data / "runs"


def run_name(text: str) -> str:
    """Return ``text`` as a run's folder name: letters, digits, ``_``, ``.`` and ``-`` only.

    Raises:
        ValueError: nothing of it is left.
    """
    name = _NAME.sub("-", text.strip()).strip("-.")
    if not name:
        raise ValueError(f"{text!r} cannot name a run: use letters, digits, '_', '.' or '-'")
    return name[:80]


def tag_prefix(run: str, day: date, length: int = 12) -> str:
    """Return the first ``length`` characters of the tags of ``run``'s orders on ``day``: ``kk``, a hash, ``mmdd``.

    Kite's tag takes 20 letters and digits; the last 8 number the intent. Every order of the run carries the
    prefix, so the run finds its own orders in an account's order book after a restart. A broker with shorter
    tags (Angel's take 19) gets a shorter hash: ``length`` 11 keeps 5 of its characters.
    """
    digest = hashlib.sha256(run.encode()).hexdigest()[: max(length - 6, 1)]
    return f"kk{digest}{day:%m%d}"


@dataclass
class RunState:
    """What a run keeps across restarts (see the module docstring)."""

    day: str = ""
    seq: int = 0
    risk: dict[str, Any] = field(default_factory=dict)
    book: dict[str, Any] = field(default_factory=dict)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    day_start_pnl: float = 0.0
    strategy: dict[str, Any] = field(default_factory=dict)
    squared_off: str = ""  # the day the run's intraday positions were squared off
    killed: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the state as JSON-able values."""
        return {
            "version": STATE_VERSION,
            "day": self.day,
            "seq": self.seq,
            "risk": self.risk,
            "book": self.book,
            "orders": self.orders,
            "intents": self.intents,
            "day_start_pnl": self.day_start_pnl,
            "strategy": self.strategy,
            "squared_off": self.squared_off,
            "killed": self.killed,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """Return the state :meth:`to_json` wrote.

        Raises:
            ValueError: a state of another version.
        """
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"run state version {data.get('version')!r} is not {STATE_VERSION}")
        return cls(
            day=str(data.get("day", "")),
            seq=int(data.get("seq", 0)),
            risk=dict(data.get("risk") or {}),
            book=dict(data.get("book") or {}),
            orders=dict(data.get("orders") or {}),
            intents=dict(data.get("intents") or {}),
            day_start_pnl=float(data.get("day_start_pnl", 0.0)),
            strategy=dict(data.get("strategy") or {}),
            squared_off=str(data.get("squared_off", "")),
            killed=data.get("killed"),
        )


class JsonLines:
    """An append-only file of JSON records, one a line: what a paper or live run collects over restarts.

    Each record is written whole and flushed (``durable``: fsync'd too) before :meth:`append` returns; a line cut
    short by a crash is skipped when read back.
    """

    def __init__(self, path: Path, durable: bool = True) -> None:
        self.path = path
        self.durable = durable

    def append(self, record: dict[str, Any]) -> None:
        """Add one record."""
        import os

        ensure_dir(self.path.parent)
        line = (json.dumps(record, default=str) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line)
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)

    def load(self) -> list[dict[str, Any]]:
        """Return every whole record, oldest first."""
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # the line a crash cut short
            if isinstance(record, dict):
                out.append(record)
        return out


class RunFolder:
    """One run's folder and its files."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        """Return the run's name (its folder's)."""
        return self.path.name

    def file(self, name: str) -> Path:
        """Return the path of one of the run's files."""
        return self.path / name

    @property
    def kill_flag(self) -> Path:
        """Return the path of this run's kill flag."""
        return self.path / "KILL"

    def create(self) -> RunFolder:
        """Create the folder (private to the user); return self."""
        ensure_dir(self.path)
        return self

    def exists(self) -> bool:
        """Return True when the run has been started here before."""
        return self.file("run.json").is_file()

    # -- run.json -----------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """Return ``run.json`` (empty when missing or unreadable)."""
        try:
            data = json.loads(self.file("run.json").read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace ``run.json``."""
        atomic_write(self.file("run.json"), json.dumps(meta, indent=1, default=str).encode())

    def update_meta(self, **changes: Any) -> dict[str, Any]:
        """Change some fields of ``run.json``; return it."""
        meta = {**self.meta(), **changes}
        self.write_meta(meta)
        return meta

    # -- state.json ---------------------------------------------------------------------------------
    def load_state(self) -> RunState | None:
        """Return the saved state, None when there is none.

        Raises:
            ValueError: the file is damaged or of another version (never replaced silently: it holds the
                record of the run's orders).
        """
        path = self.file("state.json")
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            return RunState.from_json(json.loads(raw))
        except (ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{path} cannot be read as a run's state ({exc}); move it aside to start afresh") from None

    def save_state(self, state: RunState) -> None:
        """Replace ``state.json`` (atomically, fsync'd)."""
        atomic_write(self.file("state.json"), json.dumps(state.to_json(), default=str).encode())
