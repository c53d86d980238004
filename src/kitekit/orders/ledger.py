"""The paper account on disk: the engine's whole state and the intents, in one file, saved atomically.

One JSON file per paper account (``ledger-<account>.json``, 0600) holds everything the paper broker knows:
orders, trades, positions, holdings, funds and P&L (the engine's state) and the intent ids already placed.
Each change is written whole with :func:`kitekit.files.atomic_write`, so a crash leaves the previous or the
new ledger, never half of one; a file lock keeps two processes from interleaving their changes.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from filelock import FileLock

from kitekit.errors import JournalError
from kitekit.files import atomic_write, ensure_dir

__all__ = ["LEDGER_VERSION", "PaperLedger"]

#: Bumped whenever the ledger's shape changes incompatibly.
LEDGER_VERSION = 1


class PaperLedger:
    """Where one paper account lives.

    Args:
        folder: the paper folder (created 0700).
        account: the paper account's name (letters, digits, ``-`` and ``_``).
    """

    def __init__(self, folder: Path, account: str) -> None:
        safe = re.sub(r"[^A-Za-z0-9_-]", "_", account)
        ensure_dir(folder)
        self.path = folder / f"ledger-{safe}.json"
        self.lock = FileLock(str(folder / f".ledger-{safe}.lock"), mode=0o600)  # filelock's default is 0644 & ~umask
        self._seen: tuple[int, int] | None = None

    def _stamp(self) -> tuple[int, int] | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_size

    def changed(self) -> bool:
        """Return True if the file changed since this object last read or wrote it."""
        return self._stamp() != self._seen

    def load(self) -> dict[str, Any] | None:
        """Return the saved ledger, or None when there is none yet.

        Raises:
            JournalError: the file is damaged or of another version (it is left as it is).
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            self._seen = None
            return None
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise JournalError(
                f"The paper ledger {self.path} is damaged ({exc}). Move it aside to start a fresh paper account."
            ) from exc
        if not isinstance(data, dict) or data.get("version") != LEDGER_VERSION:
            raise JournalError(
                f"The paper ledger {self.path} is not a version {LEDGER_VERSION} ledger; move it aside to start afresh."
            )
        self._seen = self._stamp()
        return data

    def save(self, data: dict[str, Any]) -> None:
        """Write the ledger whole, atomically (0600)."""
        atomic_write(self.path, json.dumps({**data, "version": LEDGER_VERSION}, separators=(",", ":")).encode())
        self._seen = self._stamp()
