"""The intent journal: every placement recorded (SQLite, WAL, fsync'd) before it is sent, and how it ended.

An intent is one order the caller means to have at the exchange, named by an intent id unique per account
and trading day, and carrying a tag derived from that id (:func:`derive_tag`). Its states::

    new ──send──▶ sending ──answer──▶ placed | rejected
     ▲               │
     └── absent ◀────┘ (in doubt: looked up by tag, not found)        failed: given up (a past day, too many sends)

``sending`` is written and fsync'd *before* the request leaves, so a crash at any point leaves either an
intent that was never sent (``new``) or one that is in doubt (``sending``) and must be looked up by its tag
before anything is sent again. The same file keeps each send's time, which the order budgets count.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from kitekit.clock import IST
from kitekit.errors import IntentConflictError, JournalError
from kitekit.files import private_file
from kitekit.orders.rules import valid_tag

__all__ = ["DEFAULT_FILENAME", "Intent", "IntentJournal", "IntentState", "derive_tag"]

#: The journal's file name inside the folder it is given.
DEFAULT_FILENAME = "journal.sqlite3"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS intents ("
    " account TEXT NOT NULL, day TEXT NOT NULL, intent_id TEXT NOT NULL, tag TEXT NOT NULL,"
    " request TEXT NOT NULL, state TEXT NOT NULL, order_id TEXT, sends INTEGER NOT NULL DEFAULT 0,"
    " error_type TEXT, status INTEGER, message TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " PRIMARY KEY (account, day, intent_id), UNIQUE (account, day, tag))",
    "CREATE TABLE IF NOT EXISTS sends (account TEXT NOT NULL, day TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sends_by_time ON sends (account, at)",
    "CREATE INDEX IF NOT EXISTS intents_by_state ON intents (account, state)",
)
_COLUMNS = (
    "account, day, intent_id, tag, request, state, order_id, sends, error_type, status, message, created_at, updated_at"
)
# The column list is a constant, never user input, so building these statements from it is safe.
_ONE = f"SELECT {_COLUMNS} FROM intents WHERE account=? AND day=? AND intent_id=?"  # noqa: S608
_INSERT = f"INSERT INTO intents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, NULL, NULL, NULL, ?, ?)"  # noqa: S608
_OF_ACCOUNT = f"SELECT {_COLUMNS} FROM intents WHERE account=?"  # noqa: S608
_UNSETTLED = f"SELECT {_COLUMNS} FROM intents WHERE account=? AND state IN (?, ?) ORDER BY created_at, rowid"  # noqa: S608


class IntentState(StrEnum):
    """Where an intent stands."""

    NEW = "new"  # recorded, not sent (or looked up and found absent): safe to send
    SENDING = "sending"  # a request may have reached Kite and no answer was recorded: in doubt
    PLACED = "placed"  # the exchange has it: order_id is known
    REJECTED = "rejected"  # Kite answered that no order was made
    FAILED = "failed"  # given up; message says why

    @property
    def settled(self) -> bool:
        """Return True for states that never change again."""
        return self in (IntentState.PLACED, IntentState.REJECTED, IntentState.FAILED)


@dataclass(frozen=True)
class Intent:
    """One journal entry."""

    account: str
    day: date
    intent_id: str
    tag: str
    request: dict[str, Any]
    state: IntentState
    order_id: str | None
    sends: int
    error_type: str | None
    status: int | None
    message: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def _of(cls, row: tuple[Any, ...]) -> Intent:
        return cls(
            account=row[0],
            day=date.fromisoformat(row[1]),
            intent_id=row[2],
            tag=row[3],
            request=json.loads(row[4]),
            state=IntentState(row[5]),
            order_id=row[6],
            sends=int(row[7]),
            error_type=row[8],
            status=row[9],
            message=row[10],
            created_at=datetime.fromisoformat(row[11]),
            updated_at=datetime.fromisoformat(row[12]),
        )


def derive_tag(intent_id: str, account: str, day: date) -> str:
    """Return the 20-character tag of an intent: up to 8 of its letters and digits, then a digest.

    The digest (base32 of SHA-256 over account, day and intent id) makes tags unique per account and day
    beyond doubt, and the same intent id always gets the same tag, so a restarted process finds its orders.
    """
    prefix = valid_tag(intent_id, 8)
    digest = hashlib.sha256(f"{account}\x1f{day.isoformat()}\x1f{intent_id}".encode()).digest()
    text = base64.b32encode(digest).decode("ascii").rstrip("=")
    return prefix + text[: 20 - len(prefix)]


def _canonical(request: Mapping[str, Any]) -> str:
    return json.dumps(dict(request), sort_keys=True, separators=(",", ":"))


class IntentJournal:
    """The journal file of one machine (any number of accounts), shared by its processes.

    Args:
        path: the SQLite file, or a folder to hold ``journal.sqlite3``. It must be on a local disk.

    Raises:
        JournalError: the file cannot be opened or is not a journal (it is never replaced: see the module).
    """

    def __init__(self, path: Path) -> None:
        if path.is_dir() or not path.suffix:
            path = path / DEFAULT_FILENAME
        self.path = path
        self._lock = threading.Lock()
        try:
            private_file(path)
            con = sqlite3.connect(str(path), isolation_level=None, timeout=30.0, check_same_thread=False)
            con.execute("PRAGMA journal_mode=WAL")
            # FULL: every commit is fsync'd before it returns, so "sending" is on disk before the request leaves.
            con.execute("PRAGMA synchronous=FULL")
            for statement in _SCHEMA:
                con.execute(statement)
        except (sqlite3.Error, OSError) as exc:
            raise JournalError(
                f"The order journal {path} cannot be used ({exc}). It records which orders may be at the "
                "exchange, so kitekit does not replace it: move it aside only after checking Kite's order book."
            ) from exc
        self._con = con

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._con.close()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = self._con
            try:
                con.execute("BEGIN IMMEDIATE")
                yield con
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise JournalError(f"The order journal {self.path} could not be written ({exc}).") from exc
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise

    # -- intents ------------------------------------------------------------------------------------
    def open(
        self, account: str, day: date, intent_id: str, tag: str, request: Mapping[str, Any], now: datetime
    ) -> Intent:
        """Record a new intent, or return the one already recorded under this id today.

        Raises:
            IntentConflictError: the id was used today for a different order, or the tag by another intent.
        """
        text = _canonical(request)
        stamp = now.astimezone(IST).isoformat()
        with self._tx() as con:
            row = con.execute(_ONE, (account, day.isoformat(), intent_id)).fetchone()
            if row is None:
                other = con.execute(
                    "SELECT intent_id FROM intents WHERE account=? AND day=? AND tag=?", (account, day.isoformat(), tag)
                ).fetchone()
                if other is not None:
                    raise IntentConflictError(
                        f"tag {tag!r} already belongs to intent {other[0]!r} today; give another tag or intent id"
                    )
                con.execute(
                    _INSERT,
                    (account, day.isoformat(), intent_id, tag, text, IntentState.NEW.value, stamp, stamp),
                )
                row = con.execute(_ONE, (account, day.isoformat(), intent_id)).fetchone()
        intent = Intent._of(row)
        if _canonical(intent.request) != text:
            raise IntentConflictError(
                f"intent {intent_id!r} was already used today for {_describe(intent.request)}; this call asks for "
                f"{_describe(request)}. Use a new intent id for a different order."
            )
        return intent

    def get(self, account: str, day: date, intent_id: str) -> Intent | None:
        """Return the intent recorded under ``intent_id`` on ``day``, if any."""
        with self._lock:
            row = self._con.execute(_ONE, (account, day.isoformat(), intent_id)).fetchone()
        return Intent._of(row) if row else None

    def intents(self, account: str, day: date | None = None) -> list[Intent]:
        """Return the account's intents (of ``day``, or every day), oldest first."""
        query = _OF_ACCOUNT + (" AND day=?" if day else "")
        args: tuple[str, ...] = (account, day.isoformat()) if day else (account,)
        with self._lock:
            rows = self._con.execute(query + " ORDER BY created_at, rowid", args).fetchall()
        return [Intent._of(r) for r in rows]

    def unsettled(self, account: str) -> list[Intent]:
        """Return the account's intents that are new or in doubt, on any day, oldest first."""
        with self._lock:
            rows = self._con.execute(
                _UNSETTLED,
                (account, IntentState.NEW.value, IntentState.SENDING.value),
            ).fetchall()
        return [Intent._of(r) for r in rows]

    def _set(self, intent: Intent, now: datetime, **values: Any) -> Intent:
        # Column names come from this module's own keyword arguments, never from callers' data.
        sets = ", ".join(f"{name}=?" for name in values)
        stamp = now.astimezone(IST).isoformat()
        key = (intent.account, intent.day.isoformat(), intent.intent_id)
        with self._tx() as con:
            con.execute(
                f"UPDATE intents SET {sets}, updated_at=? WHERE account=? AND day=? AND intent_id=?",  # noqa: S608
                (*values.values(), stamp, *key),
            )
            row = con.execute(_ONE, key).fetchone()
        return Intent._of(row)

    def placed(self, intent: Intent, order_id: str, now: datetime, message: str | None = None) -> Intent:
        """Record that the exchange has the order (``message``: how that was learnt, when not from its answer)."""
        return self._set(intent, now, state=IntentState.PLACED.value, order_id=order_id, message=message)

    def rejected(self, intent: Intent, error_type: str, status: int, message: str, now: datetime) -> Intent:
        """Record that Kite refused the order outright (no order exists): its error, HTTP status and message."""
        return self._set(
            intent, now, state=IntentState.REJECTED.value, error_type=error_type, status=status, message=message
        )

    def absent(self, intent: Intent, now: datetime, message: str | None = None) -> Intent:
        """Record that a lookup found no order with the intent's tag: it is safe to send (again)."""
        return self._set(intent, now, state=IntentState.NEW.value, message=message)

    def failed(self, intent: Intent, message: str, now: datetime) -> Intent:
        """Record that the intent is given up (``message`` says why)."""
        return self._set(intent, now, state=IntentState.FAILED.value, message=message)

    # -- sends and budgets --------------------------------------------------------------------------
    def begin_send(
        self, intent: Intent, now: datetime, per_minute: int, per_day: int, window: float = 60.0, count: int = 1
    ) -> tuple[Intent | None, float, int]:
        """Mark the intent as being sent and count the send (``count`` orders), if the budgets allow it now.

        Both happen in one fsync'd transaction, before the request leaves.

        Returns:
            ``(intent, 0.0, sent_today)`` when it may go now; ``(None, wait, sent_today)`` when the per-minute
            budget is spent (``wait`` seconds until room frees in the sliding ``window``) or the day's is
            (``wait`` is ``inf``).
        """
        at = now.timestamp()
        key = (intent.account, intent.day.isoformat(), intent.intent_id)
        with self._tx() as con:
            today = con.execute(
                "SELECT COUNT(*) FROM sends WHERE account=? AND day=?", (intent.account, intent.day.isoformat())
            ).fetchone()[0]
            if today + count > per_day:
                return None, float("inf"), int(today)
            recent = [row[0] for row in con.execute(
                "SELECT at FROM sends WHERE account=? AND at > ? ORDER BY at", (intent.account, at - window)
            )]  # fmt: skip
            if len(recent) + count > per_minute:
                # Room frees once enough of the oldest sends have left the window.
                oldest = recent[min(len(recent) - 1, len(recent) + count - per_minute - 1)]
                return None, max(0.001, oldest + window - at), int(today)
            con.executemany(
                "INSERT INTO sends (account, day, at) VALUES (?, ?, ?)", [(intent.account, key[1], at)] * count
            )
            con.execute(
                "UPDATE intents SET state=?, sends=sends+1, updated_at=? WHERE account=? AND day=? AND intent_id=?",
                (IntentState.SENDING.value, now.astimezone(IST).isoformat(), *key),
            )
            row = con.execute(_ONE, key).fetchone()
            con.execute("DELETE FROM sends WHERE account=? AND at < ?", (intent.account, at - 3 * 86400.0))
        return Intent._of(row), 0.0, int(today) + count

    def sends_since(self, account: str, since: datetime) -> int:
        """Return how many order requests the account sent since ``since``."""
        with self._lock:
            return int(
                self._con.execute(
                    "SELECT COUNT(*) FROM sends WHERE account=? AND at >= ?", (account, since.timestamp())
                ).fetchone()[0]
            )


def _describe(request: Mapping[str, Any]) -> str:
    parts = [
        request.get("transaction_type"),
        request.get("quantity"),
        f"{request.get('exchange')}:{request.get('tradingsymbol')}",
        request.get("order_type"),
    ]
    if request.get("price"):
        parts.append(f"@ {request['price']}")
    return " ".join(str(p) for p in parts if p is not None)
