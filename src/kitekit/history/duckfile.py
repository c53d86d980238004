"""The candle store's DuckDB file: opened with its schema, waited for while busy, set aside when damaged."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kitekit.errors import CandleStoreError
from kitekit.files import ensure_dir

if TYPE_CHECKING:
    import duckdb

__all__ = ["SCHEMA_VERSION", "open_database"]

log = logging.getLogger("kitekit.history")

#: The store's format; a file of another one is refused rather than misread.
SCHEMA_VERSION = "1"

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE SEQUENCE IF NOT EXISTS series_ids",
    "CREATE TABLE IF NOT EXISTS series (id INTEGER PRIMARY KEY, exchange VARCHAR NOT NULL, "
    "tradingsymbol VARCHAR NOT NULL, interval VARCHAR NOT NULL, continuous BOOLEAN NOT NULL, "
    "instrument_token BIGINT NOT NULL, UNIQUE (exchange, tradingsymbol, interval, continuous))",
    # No key on candles: a window's rows are replaced as a range (delete then insert) in one transaction.
    "CREATE TABLE IF NOT EXISTS candles (series INTEGER NOT NULL, ts BIGINT NOT NULL, open DOUBLE, high DOUBLE, "
    "low DOUBLE, close DOUBLE, volume DOUBLE, oi DOUBLE)",
    "CREATE TABLE IF NOT EXISTS coverage (series INTEGER NOT NULL, first BIGINT NOT NULL, last BIGINT NOT NULL)",
)


def open_database(path: Path, busy_timeout: float) -> duckdb.DuckDBPyConnection:
    """Open the store at ``path`` with its schema, creating it (private to the user) if it is missing.

    DuckDB lets one process hold a file at a time: while another does, this waits up to ``busy_timeout``
    seconds. A file DuckDB cannot read is renamed ``*.damaged-<time>`` (kept for inspection) and a fresh one
    started, with a warning: everything in a candle store can be fetched again.

    Raises:
        CandleStoreError: the file is still busy after ``busy_timeout``, has another format, or cannot be
            opened for another reason (the message says which).
        OSError: its folder cannot be created.
    """
    import duckdb

    ensure_dir(path.parent)
    deadline = time.monotonic() + busy_timeout
    damaged_once = False
    while True:
        try:
            fresh = not path.exists()
            con = duckdb.connect(str(path))
            if fresh:
                # DuckDB refuses an empty file, so it cannot be made private before it exists; the folder is
                # private (0700) already, and the file is now too.
                os.chmod(path, 0o600)
            try:
                _ensure_schema(con, path)
            except BaseException:
                con.close()
                raise
            return con
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                if time.monotonic() > deadline:
                    raise CandleStoreError(
                        f"The candle store {path} is in use by another process (waited {busy_timeout:.0f}s); "
                        "let it finish, or give this run another store."
                    ) from exc
                time.sleep(0.05)
                continue
            if damaged_once or not _damaged(exc):
                raise CandleStoreError(f"The candle store {path} cannot be opened: {exc}") from exc
            damaged_once = True
            _set_aside(path, exc)
        except (duckdb.SerializationException, duckdb.InternalException, duckdb.CatalogException) as exc:
            if damaged_once:
                raise CandleStoreError(f"The candle store {path} cannot be opened: {exc}") from exc
            damaged_once = True
            _set_aside(path, exc)


def _ensure_schema(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta' AND table_schema = 'main'"
    ).fetchone()
    if found is not None and found[0]:
        version = con.execute("SELECT value FROM meta WHERE name = 'schema'").fetchone()
        if version is not None and version[0] == SCHEMA_VERSION:
            return
        if version is not None:
            raise CandleStoreError(
                f"The candle store {path} has format {version[0]}, this kitekit reads {SCHEMA_VERSION}; "
                "upgrade kitekit, or move the file away to start a new store."
            )
    con.execute("BEGIN TRANSACTION")
    for statement in _SCHEMA:
        con.execute(statement)
    con.execute("INSERT OR REPLACE INTO meta VALUES ('schema', ?)", [SCHEMA_VERSION])
    con.execute("COMMIT")


def _damaged(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "not a valid duckdb" in text or "corrupt" in text or "checksum" in text or "magic" in text


def _set_aside(path: Path, exc: BaseException) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.damaged-{stamp}")
    log.warning("The candle store %s is damaged (%s); kept as %s, starting a fresh one.", path, exc, aside)
    path.replace(aside)
    with contextlib.suppress(FileNotFoundError):
        Path(f"{path}.wal").replace(Path(f"{aside}.wal"))
