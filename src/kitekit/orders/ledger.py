"""The paper account on disk: a snapshot now and then, and between snapshots an append-only log of changes.

Per paper account (``<a>``: its name made safe for a file name), in the paper folder::

    ledger-<a>.json     the snapshot (0600): {"version": 2, "generation": g, "engine": state, "intents", "paths"}
    ledger-<a>.log      one JSON line per call that changed the account: {"g": g, "engine": changes, ...}
    .ledger-<a>.lock    the file lock that keeps two processes from interleaving their changes

A call's line is written, flushed and fsync'd before the call returns, so an order the broker acknowledged is
on disk; what a line costs follows what the call changed (:mod:`kitekit.engine.changes`), not how many orders
the day holds. A crash mid-write leaves at most a torn last line: loading ignores it and cuts it off, so the
next line starts on a line of its own. Once the log outgrows the snapshot, a new snapshot (generation g+1, written
atomically) takes in everything and the log is emptied; a crash between the two leaves lines of generation g,
which the new snapshot already holds and loading skips. Loading folds the snapshot's generation's lines into
it, in order.

A version 1 ledger (the whole state in ``ledger-<a>.json``, rewritten on every change) becomes the first
snapshot when it is first loaded; the original is kept beside it as ``ledger-<a>.v1.json``.

Every method but :meth:`PaperLedger.changed` expects :attr:`PaperLedger.lock` to be held.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from filelock import FileLock

from kitekit.engine import apply_changes
from kitekit.errors import JournalError
from kitekit.files import atomic_write, ensure_dir

__all__ = ["LEDGER_VERSION", "PaperLedger"]

#: Bumped whenever the ledger's shape changes incompatibly (1: the whole state rewritten on every change).
LEDGER_VERSION = 2
#: The log is folded into a new snapshot once it is larger than the snapshot and at least this many bytes.
MIN_COMPACTION_BYTES = 1 << 20

_Stamp = tuple[int, int, int]


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size, st.st_ino


class PaperLedger:
    """Where one paper account lives.

    Args:
        folder: the paper folder (created 0700).
        account: the paper account's name (letters, digits, ``-`` and ``_``; others become ``_``).
        durable: fsync each line before returning (off only in benchmarks that measure what it costs).
        min_compaction: the log size below which it is never folded into a new snapshot.
    """

    def __init__(
        self, folder: Path, account: str, *, durable: bool = True, min_compaction: int = MIN_COMPACTION_BYTES
    ) -> None:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", account)
        ensure_dir(folder)
        self.account = account
        self.path = folder / f"ledger-{safe}.json"
        self.log_path = folder / f"ledger-{safe}.log"
        self.v1_path = folder / f"ledger-{safe}.v1.json"
        self.lock = FileLock(str(folder / f".ledger-{safe}.lock"), mode=0o600)  # filelock's default is 0644 & ~umask
        self.durable = durable
        self.min_compaction = min_compaction
        self.generation = 0
        self._seen: tuple[_Stamp | None, _Stamp | None] | None = None
        self._snapshot_size = 0
        self._log_size = 0  # of the whole lines: a torn tail beyond it is cut before the next line

    # -- reading ------------------------------------------------------------------------------------
    def changed(self) -> bool:
        """Return True if either file changed since this object last read or wrote them."""
        return (_stamp(self.path), _stamp(self.log_path)) != self._seen

    def load(self) -> dict[str, Any] | None:
        """Return the account (``engine`` state, ``intents``, ``paths``) folded from the files, or None if new.

        Raises:
            JournalError: a file is damaged or of an unknown version (it is left as it is).
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._seen, self.generation = (None, _stamp(self.log_path)), 0
            return None
        data = self._parse(raw)
        if data.get("version") == 1:
            data = self._migrate(raw, data)
        else:
            self._snapshot_size = len(raw)
        self.generation = int(data["generation"])
        account: dict[str, Any] = {
            "engine": data["engine"],
            "intents": dict(data.get("intents", {})),
            "paths": dict(data.get("paths", {})),
        }
        for event in self._events():
            if event.get("g") != self.generation:
                continue  # lines the snapshot already holds (a crash came between snapshot and emptying the log)
            apply_changes(account["engine"], event["engine"])
            account["intents"].update(event.get("intents", {}))
            if "paths" in event:
                account["paths"] = dict(event["paths"])
        self._seen = (_stamp(self.path), _stamp(self.log_path))
        return account

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise JournalError(
                f"The paper ledger {self.path} is damaged ({exc}). Move it aside to start a fresh paper account."
            ) from exc
        if not isinstance(data, dict) or data.get("version") not in (1, LEDGER_VERSION):
            raise JournalError(
                f"The paper ledger {self.path} is not a version {LEDGER_VERSION} ledger; move it aside to start afresh."
            )
        return data

    def _events(self) -> list[dict[str, Any]]:
        """Return the log's whole lines, parsed; cut a torn last line off the file."""
        try:
            raw = self.log_path.read_bytes()
        except FileNotFoundError:
            self._log_size = 0
            return []
        whole = raw.rfind(b"\n") + 1  # a last line without its newline was torn by a crash mid-write
        events = []
        for number, line in enumerate(raw[:whole].splitlines(), 1):
            try:
                event = json.loads(line)
            except ValueError as exc:
                raise JournalError(
                    f"The paper ledger's log {self.log_path} is damaged at line {number} ({exc}). "
                    "Move it and the ledger aside to start a fresh paper account."
                ) from exc
            events.append(event)
        if whole < len(raw):
            os.truncate(self.log_path, whole)
        self._log_size = whole
        return events

    def _migrate(self, raw: bytes, data: dict[str, Any]) -> dict[str, Any]:
        """Turn a version 1 ledger into the first snapshot, keeping the original beside it."""
        if not self.v1_path.exists():
            atomic_write(self.v1_path, raw)
        self.generation = 0
        return self.snapshot(
            {"engine": data["engine"], "intents": data.get("intents", {}), "paths": data.get("paths", {})}
        )

    # -- writing ------------------------------------------------------------------------------------
    def append(self, event: Mapping[str, Any]) -> None:
        """Add one call's changes (``engine`` changes, new ``intents``, the ``paths``) as a line of the log."""
        line = json.dumps({"g": self.generation, **event}, separators=(",", ":")).encode() + b"\n"
        fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size != self._log_size:
                # Another writer, or a line of ours torn by a failed write: only a reload under the lock may say.
                raise JournalError(f"The paper ledger's log {self.log_path} changed since it was read; read it again.")
            view = memoryview(line)
            while view:
                view = view[os.write(fd, view) :]
            if self.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        self._log_size += len(line)
        self._seen = (self._seen[0] if self._seen else _stamp(self.path), _stamp(self.log_path))

    def compaction_due(self) -> bool:
        """Return True once the log is larger than the snapshot (and than ``min_compaction``)."""
        return self._log_size > max(self._snapshot_size, self.min_compaction)

    def snapshot(self, account: Mapping[str, Any]) -> dict[str, Any]:
        """Write the whole account as the next generation's snapshot, then empty the log; return what was written.

        Args:
            account: ``engine`` (``Engine.to_state()``), ``intents`` and ``paths``.
        """
        data = {
            "version": LEDGER_VERSION,
            "generation": self.generation + 1,
            "account": self.account,
            "engine": account["engine"],
            "intents": account.get("intents", {}),
            "paths": account.get("paths", {}),
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        atomic_write(self.path, raw)
        self.generation += 1
        self._snapshot_size = len(raw)
        atomic_write(self.log_path, b"")
        self._log_size = 0
        self._seen = (_stamp(self.path), _stamp(self.log_path))
        return data
