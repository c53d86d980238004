"""Writing candle frames to CSV or Parquet files, atomically: :func:`write_candles`."""

from __future__ import annotations

import errno
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from kitekit.files import atomic_write, writable_dir

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMATS", "check_output", "check_writable", "write_candles"]

#: File suffixes :func:`write_candles` writes, and what each is.
FORMATS = {".csv": "CSV", ".parquet": "Parquet"}


def check_output(path: Path) -> str:
    """Return the format ``path``'s suffix names, checked before anything is fetched for it.

    Raises:
        ValueError: the suffix is neither ``.csv`` nor ``.parquet``.
        IsADirectoryError: ``path`` is a directory.
        NotADirectoryError: a file stands where one of its folders belongs.
    """
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path.name!r} is neither .csv nor .parquet; name the file with one of those suffixes")
    check_writable(path)
    return FORMATS[suffix]


def check_writable(path: Path) -> None:
    """Fail now, not after a long fetch, if ``path`` could never be written as a file.

    Raises:
        IsADirectoryError: ``path`` is a directory.
        NotADirectoryError: a file stands where one of its folders belongs.
        PermissionError: the folder it goes in (or the nearest one that exists) cannot be written.
    """
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "a directory is in the way of the file", str(path))
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise NotADirectoryError(errno.ENOTDIR, "a file is where a folder belongs", str(parent))
            if not path.exists() or path.is_file():
                # An atomic write makes its temporary file beside the target (and missing folders in the
                # nearest existing one), so that folder must take a new file. A device such as /dev/null is
                # written in place: its folder is left alone.
                writable_dir(parent)
            break


def write_candles(frame: pd.DataFrame, path: Path) -> Path:
    """Write candles to ``path`` as CSV or Parquet (by its suffix), atomically: old file or new, never half.

    CSV has a ``date`` column in ISO format with the IST offset (``2024-03-15 09:15:00+05:30``), then the
    values. Parquet keeps the types: ``date`` as a UTC-adjusted timestamp (microseconds), prices as doubles,
    volume and oi as 64-bit integers. It is written by DuckDB, so no pyarrow is needed.

    Returns:
        ``path``.

    Raises:
        ValueError: the suffix is neither ``.csv`` nor ``.parquet``.
        OSError: the file cannot be written (permissions, a directory in the way, a full disk).
    """
    kind = check_output(path)
    flat = frame.reset_index()
    if kind == "CSV":
        atomic_write(path, flat.to_csv(index=False).encode())
        return path
    import duckdb

    with tempfile.TemporaryDirectory(prefix="kitekit-export-") as tmp:
        staged = Path(tmp) / "candles.parquet"
        con = duckdb.connect()
        try:
            con.register("candles", flat)
            quoted = str(staged).replace("'", "''")
            con.execute(f"COPY candles TO '{quoted}' (FORMAT PARQUET)")
        finally:
            con.close()
        atomic_write(path, staged.read_bytes())
    return path
