"""The intent journal: every placement recorded (SQLite, WAL, fsync'd) before it is sent, and how it ended.

An intent is one order the caller means to have at the exchange, named by an intent id unique per account
and trading day, and carrying a tag derived from that id (:func:`derive_tag`). Its states::

    new ──claim──▶ sending ──answer──▶ placed | rejected
     ▲               │
     └── absent ◀────┘ (in doubt: looked up by tag, not found)        failed: given up (a past day, too many sends)

``sending`` is written and fsync'd *before* the request leaves, so a crash at any point leaves either an
intent that was never sent (``new``) or one that is in doubt (``sending``) and must be looked up by its tag
before anything is sent again. The same file keeps each send's time, which the order budgets count.

Every process of the machine may place the same intents through one journal, so each change is a
compare-and-set, in one transaction, on the intent as the caller read it (its state, sends and owner):

- :meth:`IntentJournal.claim` moves ``new`` to ``sending`` and writes this journal's owner token; only the
  claimant sends. Whoever else finds the intent ``sending`` waits for the outcome while the owner is alive
  (:class:`~kitekit.orders.owners.Owners`), and looks the order up by its tag only once the owner is gone or
  has handed the doubt over (:meth:`IntentJournal.release`).
- An order id is never overwritten: every exchange order known for an intent is kept (table ``orders``); the
  first is the intent's ``order_id``, any other is an :class:`ExtraOrder`, there to be reported and dealt with.
- Opening the file and every transaction wait for SQLite's lock, up to ``lock_timeout`` seconds.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from kitekit.clock import IST
from kitekit.errors import IntentConflictError, JournalError
from kitekit.files import private_file
from kitekit.orders.owners import Owners
from kitekit.orders.rules import valid_tag

__all__ = ["DEFAULT_FILENAME", "Claim", "ExtraOrder", "Intent", "IntentJournal", "IntentState", "derive_tag"]

#: The journal's file name inside the folder it is given.
DEFAULT_FILENAME = "journal.sqlite3"

T = TypeVar("T")

#: The schema version this module writes (``PRAGMA user_version``); 0 is a journal from before claims.
_VERSION = 1
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS intents ("
    " account TEXT NOT NULL, day TEXT NOT NULL, intent_id TEXT NOT NULL, tag TEXT NOT NULL,"
    " request TEXT NOT NULL, state TEXT NOT NULL, order_id TEXT, sends INTEGER NOT NULL DEFAULT 0,"
    " error_type TEXT, status INTEGER, message TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL,"
    " owner TEXT, PRIMARY KEY (account, day, intent_id), UNIQUE (account, day, tag))",
    "CREATE TABLE IF NOT EXISTS sends (account TEXT NOT NULL, day TEXT NOT NULL, at REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS sends_by_time ON sends (account, at)",
    "CREATE INDEX IF NOT EXISTS intents_by_state ON intents (account, state)",
    # Every exchange order known for an intent: its first (the intent's order_id) and any other.
    "CREATE TABLE IF NOT EXISTS orders ("
    " account TEXT NOT NULL, day TEXT NOT NULL, intent_id TEXT NOT NULL, order_id TEXT NOT NULL,"
    " how TEXT NOT NULL, noted_at TEXT NOT NULL, PRIMARY KEY (account, order_id))",
    "CREATE INDEX IF NOT EXISTS orders_by_intent ON orders (account, day, intent_id)",
)
_COLUMNS = (
    "account, day, intent_id, tag, request, state, order_id, sends, error_type, status, message, created_at,"
    " updated_at, owner"
)
_KEY = "account=? AND day=? AND intent_id=?"
# The column list is a constant, never user input, so building these statements from it is safe.
_ONE = f"SELECT {_COLUMNS} FROM intents WHERE {_KEY}"  # noqa: S608
_INSERT = f"INSERT INTO intents ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, NULL, 0, NULL, NULL, NULL, ?, ?, NULL)"  # noqa: S608
_OF_ACCOUNT = f"SELECT {_COLUMNS} FROM intents WHERE account=?"  # noqa: S608
_UNSETTLED = f"SELECT {_COLUMNS} FROM intents WHERE account=? AND state IN (?, ?) ORDER BY created_at, rowid"  # noqa: S608
_NOTE_ORDER = (
    "INSERT OR IGNORE INTO orders (account, day, intent_id, order_id, how, noted_at) VALUES (?, ?, ?, ?, ?, ?)"
)
_EXTRA = (
    "SELECT o.account, o.day, o.intent_id, i.tag, o.order_id, i.order_id, o.how, o.noted_at FROM orders o"
    " JOIN intents i ON i.account=o.account AND i.day=o.day AND i.intent_id=o.intent_id"
    " WHERE o.account=? AND o.order_id != i.order_id"
)


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
    """One journal entry.

    ``owner`` is the token of the journal that claimed a ``sending`` intent and has not yet recorded its
    outcome (None once recorded, or once the doubt was handed over for anyone to settle by lookup).
    """

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
    owner: str | None = None

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
            owner=row[13],
        )

    @property
    def key(self) -> tuple[str, str, str]:
        """The journal's key of the intent: account, ISO day, intent id."""
        return (self.account, self.day.isoformat(), self.intent_id)


@dataclass(frozen=True)
class Claim:
    """What :meth:`IntentJournal.claim` did.

    ``won``: this journal moved the intent from ``new`` to ``sending`` and alone may send it now. Otherwise
    ``wait`` > 0 means the budget has no room (``inf``: not today) and nothing changed, and ``wait`` == 0 that
    the intent was no longer as the caller read it: ``intent`` is how it stands now.
    """

    intent: Intent
    won: bool
    wait: float
    sent_today: int


@dataclass(frozen=True)
class ExtraOrder:
    """An exchange order of an intent beyond its first: the journal keeps both, and the first stays its order id.

    ``how`` says how it became known: ``answer`` (a POST returned it), ``lookup`` (found by the intent's tag
    while settling a doubt) or ``audit`` (found in the order book at reconciliation).
    """

    account: str
    day: date
    intent_id: str
    tag: str
    order_id: str
    first_order_id: str
    how: str
    noted_at: datetime


def new_intent_id() -> str:
    """Return a fresh intent id (16 hex digits)."""
    return uuid.uuid4().hex[:16]


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


def _busy(exc: sqlite3.Error) -> bool:
    """Return True if ``exc`` means another connection holds the lock (SQLITE_BUSY or SQLITE_LOCKED)."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


class IntentJournal:
    """The journal file of one machine (any number of accounts), shared by its processes.

    Args:
        path: the SQLite file, or a folder to hold ``journal.sqlite3``. It must be on a local disk.
        lock_timeout: how long opening the file or any change waits for another process's lock before
            :class:`JournalError` says so.

    Raises:
        JournalError: the file cannot be opened, is not a journal (it is never replaced: see the module), or
            stayed locked for ``lock_timeout`` seconds.
    """

    def __init__(self, path: Path, *, lock_timeout: float = 30.0) -> None:
        if path.is_dir() or not path.suffix:
            path = path / DEFAULT_FILENAME
        self.path = path
        self.lock_timeout = lock_timeout
        self._lock = threading.Lock()
        try:
            private_file(path)
            self.owners = Owners(path.with_name(path.name + ".owners"))
        except OSError as exc:
            raise self._error(exc, "cannot be used") from exc
        try:
            con = sqlite3.connect(str(path), isolation_level=None, timeout=lock_timeout, check_same_thread=False)
            try:
                mode = self._waiting(lambda: con.execute("PRAGMA journal_mode=WAL").fetchone()[0])
                if str(mode).lower() != "wal":
                    raise sqlite3.DatabaseError(f"journal mode {mode!r} instead of WAL")
                # FULL: every commit is fsync'd before it returns, so "sending" is on disk before the request leaves.
                con.execute("PRAGMA synchronous=FULL")
                self._migrate(con)
            except BaseException:
                con.close()
                raise
        except (sqlite3.Error, OSError) as exc:
            self.owners.close()
            raise self._error(exc, "cannot be used") from exc
        self._con = con

    @property
    def owner(self) -> str:
        """This journal's owner token, written on the intents it claims."""
        return self.owners.token

    def close(self) -> None:
        """Close the file; claims this journal still holds are abandoned (others then look them up by tag)."""
        with self._lock:
            self._con.close()
            self.owners.close()

    def _waiting(self, action: Callable[[], T]) -> T:
        """Run ``action``, again and again while another connection holds the lock, for ``lock_timeout`` at most.

        SQLite's own busy timeout covers most waits, but a few steps answer SQLITE_BUSY at once without
        waiting (changing the journal mode, which two processes opening a new journal both do): those are
        tried again here, with short pauses. Lock waits are real time, whatever clock the caller runs on.
        """
        deadline = time.monotonic() + self.lock_timeout
        pause = 0.001
        while True:
            try:
                return action()
            except sqlite3.Error as exc:
                left = deadline - time.monotonic()
                if not _busy(exc) or left <= 0:
                    raise
                time.sleep(min(pause, left))
                pause = min(pause * 2, 0.05)

    def _error(self, exc: BaseException, doing: str) -> JournalError:
        if isinstance(exc, sqlite3.Error) and _busy(exc):
            return JournalError(
                f"The order journal {self.path} stayed locked by another process for {self.lock_timeout:g} s "
                f"({exc}); nothing was changed. Another kitekit process (or a tool with the file open) is holding "
                "it: let it finish or end it, or give a longer lock_timeout."
            )
        if doing == "cannot be used":
            return JournalError(
                f"The order journal {self.path} cannot be used ({exc}). It records which orders may be at the "
                "exchange, so kitekit does not replace it: move it aside only after checking Kite's order book."
            )
        return JournalError(f"The order journal {self.path} {doing} ({exc}).")

    def _migrate(self, con: sqlite3.Connection) -> None:
        """Create the tables, or bring a journal from before claims up to date (in one transaction)."""
        if int(self._waiting(lambda: con.execute("PRAGMA user_version").fetchone()[0])) >= _VERSION:
            return
        self._waiting(lambda: con.execute("BEGIN IMMEDIATE"))
        try:
            if int(con.execute("PRAGMA user_version").fetchone()[0]) < _VERSION:  # another process may have done it
                for statement in _SCHEMA:
                    con.execute(statement)
                if "owner" not in {row[1] for row in con.execute("PRAGMA table_info(intents)")}:
                    con.execute("ALTER TABLE intents ADD COLUMN owner TEXT")
                con.execute(
                    "INSERT OR IGNORE INTO orders (account, day, intent_id, order_id, how, noted_at) SELECT account,"
                    " day, intent_id, order_id, 'answer', updated_at FROM intents WHERE order_id IS NOT NULL"
                )
                con.execute(f"PRAGMA user_version = {_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                con.execute("ROLLBACK")
            raise

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            con = self._con
            try:
                self._waiting(lambda: con.execute("BEGIN IMMEDIATE"))
                yield con
                con.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise self._error(exc, "could not be written") from exc
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    con.execute("ROLLBACK")
                raise

    def _rows(self, query: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        """Run a read (no transaction: WAL readers never wait for writers, save while a WAL is recovered)."""
        with self._lock:
            try:
                return self._waiting(lambda: self._con.execute(query, args).fetchall())
            except sqlite3.Error as exc:
                raise self._error(exc, "could not be read") from exc

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
        rows = self._rows(_ONE, (account, day.isoformat(), intent_id))
        return Intent._of(rows[0]) if rows else None

    def intents(self, account: str, day: date | None = None) -> list[Intent]:
        """Return the account's intents (of ``day``, or every day), oldest first."""
        query = _OF_ACCOUNT + (" AND day=?" if day else "")
        args: tuple[str, ...] = (account, day.isoformat()) if day else (account,)
        return [Intent._of(r) for r in self._rows(query + " ORDER BY created_at, rowid", args)]

    def unsettled(self, account: str) -> list[Intent]:
        """Return the account's intents that are new or in doubt, on any day, oldest first."""
        rows = self._rows(_UNSETTLED, (account, IntentState.NEW.value, IntentState.SENDING.value))
        return [Intent._of(r) for r in rows]

    def held(self, intent: Intent) -> bool:
        """Return True if ``intent`` is ``sending`` under a claim whose owner is still alive (it may yet send)."""
        return intent.state is IntentState.SENDING and intent.owner is not None and self.owners.alive(intent.owner)

    def _move(self, intent: Intent, now: datetime, **values: Any) -> Intent:
        """Change the intent only if it still stands as ``intent`` says; return it as it stands afterwards.

        The compare-and-set on state, sends and owner keeps a process acting on a stale copy from undoing
        another's step (marking "absent" an intent someone has claimed again since, say).
        """
        # Column names come from this module's own keyword arguments, never from callers' data.
        sets = ", ".join(f"{name}=?" for name in values)
        stamp = now.astimezone(IST).isoformat()
        with self._tx() as con:
            con.execute(
                f"UPDATE intents SET {sets}, updated_at=? WHERE {_KEY} AND state=? AND sends=? AND owner IS ?",  # noqa: S608
                (*values.values(), stamp, *intent.key, intent.state.value, intent.sends, intent.owner),
            )
            row = con.execute(_ONE, intent.key).fetchone()
        return Intent._of(row)

    def placed(
        self, intent: Intent, order_id: str, now: datetime, message: str | None = None, how: str = "answer"
    ) -> Intent:
        """Record that the exchange has ``order_id`` for the intent (``message``: how that was learnt, when not
        from its answer; ``how``: ``answer``, ``lookup`` or ``audit``).

        The first order id recorded stays the intent's, whatever state anyone left it in; a different one
        recorded later is kept as an :class:`ExtraOrder` (see :meth:`extra_orders`), never written over it.
        Compare the returned intent's ``order_id`` with ``order_id`` to know which happened.
        """
        stamp = now.astimezone(IST).isoformat()
        with self._tx() as con:
            con.execute(_NOTE_ORDER, (*intent.key, order_id, how, stamp))
            row = con.execute(_ONE, intent.key).fetchone()
            if row[6] is None:
                con.execute(
                    f"UPDATE intents SET state=?, order_id=?, message=?, owner=NULL, updated_at=? WHERE {_KEY}",  # noqa: S608
                    (IntentState.PLACED.value, order_id, message, stamp, *intent.key),
                )
                row = con.execute(_ONE, intent.key).fetchone()
        return Intent._of(row)

    def rejected(self, intent: Intent, error_type: str, status: int, message: str, now: datetime) -> Intent:
        """Record that Kite refused the order outright (no order exists): its error, HTTP status and message."""
        return self._move(
            intent,
            now,
            state=IntentState.REJECTED.value,
            error_type=error_type,
            status=status,
            message=message,
            owner=None,
        )

    def absent(self, intent: Intent, now: datetime, message: str | None = None) -> Intent:
        """Record that a lookup found no order with the intent's tag: it is safe to send (again)."""
        return self._move(intent, now, state=IntentState.NEW.value, message=message, owner=None)

    def failed(self, intent: Intent, message: str, now: datetime) -> Intent:
        """Record that the intent is given up (``message`` says why)."""
        return self._move(intent, now, state=IntentState.FAILED.value, message=message, owner=None)

    def release(self, intent: Intent, now: datetime) -> Intent:
        """Hand a ``sending`` intent's doubt over: its owner (this journal, or one that is gone) sends nothing more.

        ``updated_at`` becomes ``now``: any request of that claim left before it, so whoever settles the doubt
        trusts an absence only ``settle`` seconds after ``now``.
        """
        return self._move(intent, now, owner=None)

    # -- exchange orders ----------------------------------------------------------------------------
    def order_ids(self, account: str, day: date) -> dict[str, str]:
        """Return every exchange order id the journal knows on ``day``, with the intent id it belongs to."""
        rows = self._rows(
            "SELECT order_id, intent_id FROM orders WHERE account=? AND day=?", (account, day.isoformat())
        )
        return {str(r[0]): str(r[1]) for r in rows}

    def extra_orders(self, account: str, day: date | None = None) -> list[ExtraOrder]:
        """Return the exchange orders of intents beyond their first (of ``day``, or every day), oldest first."""
        query = _EXTRA + (" AND o.day=?" if day else "") + " ORDER BY o.noted_at, o.rowid"
        args: tuple[str, ...] = (account, day.isoformat()) if day else (account,)
        return [
            ExtraOrder(r[0], date.fromisoformat(r[1]), r[2], r[3], r[4], r[5], r[6], datetime.fromisoformat(r[7]))
            for r in self._rows(query, args)
        ]

    # -- sends and budgets --------------------------------------------------------------------------
    def claim(
        self, intent: Intent, now: datetime, per_minute: int, per_day: int, window: float = 60.0, count: int = 1
    ) -> Claim:
        """Claim a ``new`` intent for sending and count the send (``count`` orders), if the budgets allow it now.

        One fsync'd transaction, before the request leaves: it checks that the intent is still ``new`` with
        the sends the caller read, checks the budgets, counts the send, and moves the intent to ``sending``
        under this journal's owner token. Only the winner of the claim may send.

        Returns:
            The :class:`Claim`: won; or the budget's wait (the per-minute budget frees room in ``wait`` seconds
            of the sliding ``window``; ``inf`` when the day's is spent); or lost, with the intent as it stands.
        """
        at = now.timestamp()
        key = intent.key
        with self._tx() as con:
            current = Intent._of(con.execute(_ONE, key).fetchone())
            today = int(
                con.execute(
                    "SELECT COUNT(*) FROM sends WHERE account=? AND day=?", (intent.account, key[1])
                ).fetchone()[0]
            )
            if current.state is not IntentState.NEW or current.sends != intent.sends:
                return Claim(current, False, 0.0, today)
            if today + count > per_day:
                return Claim(current, False, float("inf"), today)
            recent = [row[0] for row in con.execute(
                "SELECT at FROM sends WHERE account=? AND at > ? ORDER BY at", (intent.account, at - window)
            )]  # fmt: skip
            if len(recent) + count > per_minute:
                # Room frees once enough of the oldest sends have left the window.
                oldest = recent[min(len(recent) - 1, len(recent) + count - per_minute - 1)]
                return Claim(current, False, max(0.001, oldest + window - at), today)
            con.executemany(
                "INSERT INTO sends (account, day, at) VALUES (?, ?, ?)", [(intent.account, key[1], at)] * count
            )
            con.execute(
                f"UPDATE intents SET state=?, sends=sends+1, owner=?, updated_at=? WHERE {_KEY}",  # noqa: S608
                (IntentState.SENDING.value, self.owner, now.astimezone(IST).isoformat(), *key),
            )
            row = con.execute(_ONE, key).fetchone()
            con.execute("DELETE FROM sends WHERE account=? AND at < ?", (intent.account, at - 3 * 86400.0))
        return Claim(Intent._of(row), True, 0.0, today + count)

    def sends_since(self, account: str, since: datetime) -> int:
        """Return how many order requests the account sent since ``since``."""
        rows = self._rows("SELECT COUNT(*) FROM sends WHERE account=? AND at >= ?", (account, since.timestamp()))
        return int(rows[0][0])


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
