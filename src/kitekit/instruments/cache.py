"""Day files of the instrument cache: one file per dump day, replaced atomically and checked on every read.

A day file is::

    magic (16 bytes) | header length, header CRC-32 (u32 each) | header (JSON) | index | CSV dump

The header records the day, when and what was downloaded, and each section's length and CRC-32; the index is
:meth:`InstrumentIndex.to_bytes`. Opening a day reads and checks the header and the index (a few MB,
milliseconds); the CSV is read and checked the first time a record needs it. A file that is short, long,
from another format, or fails a checksum is never used.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import struct
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from kitekit.errors import InstrumentCacheError
from kitekit.files import atomic_write, ensure_dir
from kitekit.instruments.index import IndexFormatError, InstrumentIndex

__all__ = ["CacheReplacedError", "DayFile", "cached_days", "day_path", "discard", "open_day", "prune", "write_day"]

log = logging.getLogger("kitekit.instruments")

FORMAT = 2
_MAGIC = b"KITEKIT-DUMP\x00\x00\x00\x02"
_PREFIX = struct.Struct("<16sII")
_ALIGN = 16
_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})\.kkdump$")
_STALE_TMP_SECONDS = 3600.0


class CacheReplacedError(InstrumentCacheError):
    """The day file was replaced (or removed) since it was opened: open it again; nothing is damaged."""


def day_path(cache_dir: Path, day: date) -> Path:
    """Return the file that holds the dump of ``day``."""
    return cache_dir / f"{day.isoformat()}.kkdump"


def cached_days(cache_dir: Path) -> list[date]:
    """Return the days with a file in ``cache_dir``, newest first (contents not checked)."""
    days = []
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for entry in os.scandir(cache_dir):
            match = _NAME.match(entry.name)
            if match:
                with contextlib.suppress(ValueError):
                    days.append(date.fromisoformat(match.group(1)))
    return sorted(days, reverse=True)


def write_day(path: Path, facts: dict[str, Any], index: InstrumentIndex, raw: bytes) -> None:
    """Write a day file atomically: a temporary file in the same folder, fsynced, then renamed over ``path``.

    A crash at any point leaves the previous file (or none) in place, never a partial one.
    """
    packed = index.to_bytes()
    header: dict[str, Any] = {
        **facts,
        "format": FORMAT,
        "index": {"length": len(packed), "crc32": zlib.crc32(packed)},
        "csv": {"length": len(raw), "crc32": zlib.crc32(raw)},
    }
    head = json.dumps(header, separators=(",", ":")).encode()
    head += b" " * (-(_PREFIX.size + len(head)) % _ALIGN)  # the index starts aligned
    prefix = _PREFIX.pack(_MAGIC, len(head), zlib.crc32(head))
    atomic_write(path, b"".join((prefix, head, packed, raw)))


@dataclass(frozen=True)
class DayFile:
    """An opened, checked day file: its header, its index arrays, and where its CSV lies."""

    path: Path
    day: date
    header: dict[str, Any]
    index: InstrumentIndex
    head: bytes  # the raw header: identifies this generation of the file

    def read_csv(self) -> bytes:
        """Read the CSV section and check it.

        Raises:
            CacheReplacedError: the file was replaced or removed since it was opened.
            InstrumentCacheError: the CSV is short or fails its checksum.
        """
        csv_spec = self.header["csv"]
        try:
            with open(self.path, "rb") as fh:
                head = _read_head(fh)
                if head != self.head:
                    raise CacheReplacedError(f"{self.path.name} was replaced since it was opened")
                fh.seek(_data_offset(head) + int(self.header["index"]["length"]))
                raw = fh.read(int(csv_spec["length"]) + 1)
        except FileNotFoundError:
            raise CacheReplacedError(f"{self.path.name} was removed since it was opened") from None
        except OSError as exc:
            raise InstrumentCacheError(f"cannot read {self.path.name} ({exc.strerror})") from None
        if len(raw) != int(csv_spec["length"]):
            raise InstrumentCacheError(f"the dump in {self.path.name} is truncated or padded")
        if zlib.crc32(raw) != int(csv_spec["crc32"]):
            raise InstrumentCacheError(f"the dump in {self.path.name} fails its checksum")
        return raw


def _read_head(fh: Any) -> bytes:
    prefix = fh.read(_PREFIX.size)
    if len(prefix) != _PREFIX.size:
        raise InstrumentCacheError("the file is shorter than its header")
    magic, size, crc = _PREFIX.unpack(prefix)
    if magic != _MAGIC:
        raise InstrumentCacheError("not a kitekit instruments file (or another version)")
    head: bytes = fh.read(size)
    if len(head) != size or zlib.crc32(head) != crc:
        raise InstrumentCacheError("the header fails its checksum")
    return head


def _data_offset(head: bytes) -> int:
    return _PREFIX.size + len(head)


def _checked_header(head: bytes) -> dict[str, Any]:
    """Return the parsed header if every field has the shape this version writes; else the file is damaged.

    Valid JSON of the wrong shape is as damaged as garbage: it must cost a download, not a crash later.
    """
    try:
        header = json.loads(head)
    except ValueError as exc:
        raise InstrumentCacheError(f"unreadable header ({exc})") from None
    sections = [header.get(name) for name in ("index", "csv")] if isinstance(header, dict) else []
    shaped = (
        len(sections) == 2
        and all(isinstance(sec, dict) and _whole(sec.get("length")) and _whole(sec.get("crc32")) for sec in sections)
        and isinstance(header.get("format"), int)
        and isinstance(header.get("day"), str)
        and (header.get("selection") is None or _strings(header.get("selection")))
    )
    if not shaped:
        raise InstrumentCacheError("the header does not have the shape kitekit writes")
    return dict(header)


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def open_day(path: Path, day: date) -> DayFile:
    """Open the day file at ``path`` and check its header, size and index.

    Raises:
        FileNotFoundError: there is no such file.
        InstrumentCacheError: the file is damaged, truncated, or from another format.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        head = _read_head(fh)
        header = _checked_header(head)
        index_len, csv_len = header["index"]["length"], header["csv"]["length"]
        if header["format"] != FORMAT or header.get("day") != day.isoformat():
            raise InstrumentCacheError("the file is from another kitekit version or another day")
        if size != _data_offset(head) + index_len + csv_len:
            raise InstrumentCacheError(f"the file is {size} bytes, not {_data_offset(head) + index_len + csv_len}")
        packed = fh.read(index_len)
    if len(packed) != index_len or zlib.crc32(packed) != header["index"]["crc32"]:
        raise InstrumentCacheError("the index fails its checksum")
    try:
        index = InstrumentIndex.from_bytes(packed)
    except IndexFormatError as exc:
        raise InstrumentCacheError(str(exc)) from None
    return DayFile(path=path, day=day, header=header, index=index, head=head)


def discard(path: Path, reason: str) -> None:
    """Remove a damaged day file, saying why."""
    log.warning("Cached instruments %s are damaged (%s); removing them.", path.name, reason)
    with contextlib.suppress(OSError):
        path.unlink()


@contextlib.contextmanager
def sync_lock(cache_dir: Path, timeout: float = 600.0) -> Iterator[None]:
    """Hold the cache's cross-process sync lock: one download and write at a time; others wait, then reuse it.

    Raises:
        InstrumentCacheError: another sync held the lock for longer than ``timeout`` seconds.
    """
    from filelock import FileLock, Timeout  # imported here: only syncs need it

    ensure_dir(cache_dir)
    try:
        with FileLock(str(cache_dir / ".sync.lock"), timeout=timeout, mode=0o600):
            yield
    except Timeout:
        raise InstrumentCacheError(
            f"Another kitekit process has been syncing instruments in {cache_dir} for {timeout:.0f}s; "
            "try again once it finishes."
        ) from None


def prune(cache_dir: Path, keep: date, syncing: bool = False) -> None:
    """Remove day files older than ``keep`` and the previous day before it, and leftovers of crashed writes.

    Args:
        cache_dir: the cache folder.
        keep: the newest day; it and the day before it stay.
        syncing: the caller holds :func:`sync_lock`, so no other writer is alive and every staging file is
            a leftover of a killed sync; otherwise only staging files older than an hour are removed.
    """
    days = cached_days(cache_dir)
    older = [d for d in days if d < keep]
    for day in older[1:]:
        with contextlib.suppress(FileNotFoundError):
            day_path(cache_dir, day).unlink()
    now = time.time()
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(cache_dir):
            name = entry.name
            # atomic_write's temporary files; a live writer's is young, so only old ones are removed.
            if name.startswith(".") and name.endswith(".tmp") and ".kkdump." in name:
                with contextlib.suppress(OSError):
                    if syncing or now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                        os.unlink(entry.path)
            # Folders of the first cache layout (one folder per day), superseded by day files.
            elif (
                entry.is_dir()
                and re.fullmatch(r"\d{4}-\d{2}-\d{2}", name)
                and os.path.exists(os.path.join(entry.path, "meta.json"))
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
