"""One day's instruments dump as loaded: its index, its CSV read on demand, and the records and table built from it."""

from __future__ import annotations

import threading
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np

from kitekit.errors import InstrumentCacheError
from kitekit.instruments.cache import CacheReplacedError, DayFile
from kitekit.instruments.index import FnoColumns, InstrumentIndex
from kitekit.wire.dump_columns import DumpColumns
from kitekit.wire.instruments_csv import COLUMNS, Instrument

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DamagedDumpError", "Dump", "day_number", "from_day_number"]

_EPOCH = date(1970, 1, 1)


def day_number(day: date) -> int:
    """Return ``day`` as days since 1970, the unit of :attr:`FnoColumns.expiry`."""
    return (day - _EPOCH).days


def from_day_number(days: int) -> date:
    """Return the date ``days`` after 1970-01-01."""
    return date.fromordinal(_EPOCH.toordinal() + days)


class DamagedDumpError(InstrumentCacheError):
    """A dump's CSV failed its check when first read; ``dump`` says which."""

    def __init__(self, message: str, dump: Dump) -> None:
        super().__init__(message)
        self.dump = dump


class Dump:
    """One day's dump: its index, its CSV (read from the day file and checked on first use), and caches.

    Args:
        day: the trading day the dump belongs to.
        index: the row index.
        raw: the CSV bytes, when already in memory.
        columns: the CSV split into cells, when already done.
        file: the cached day file the CSV is read from when ``raw`` is not given.
    """

    def __init__(
        self,
        day: date,
        index: InstrumentIndex,
        raw: bytes | None = None,
        columns: DumpColumns | None = None,
        file: DayFile | None = None,
    ) -> None:
        self.day = day
        self.index = index
        self.file = file
        self._raw = raw
        self._columns = columns
        self._records: dict[int, Instrument] = {}
        self._table: pd.DataFrame | None = None
        self._upper_symbols: np.ndarray | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, file: DayFile) -> Dump:
        """Return the dump of an opened day file (its CSV is read on first use)."""
        return cls(file.day, file.index, file=file)

    @property
    def raw(self) -> bytes:
        """Return the CSV bytes, reading and checking them from the day file on first use.

        Raises:
            CacheReplacedError: the day file was replaced since it was opened.
            DamagedDumpError: the CSV in the day file is damaged.
        """
        if self._raw is None:
            with self._lock:
                if self._raw is None:
                    assert self.file is not None  # noqa: S101 - a dump has bytes or a file
                    try:
                        self._raw = self.file.read_csv()
                    except CacheReplacedError:
                        raise
                    except InstrumentCacheError as exc:
                        raise DamagedDumpError(str(exc), self) from None
        return self._raw

    @property
    def columns(self) -> DumpColumns:
        """Return the CSV split into cells (built on first use)."""
        if self._columns is None:
            self._columns = DumpColumns(self.raw)
        return self._columns

    @property
    def fno(self) -> FnoColumns:
        """Return the columns futures and option chains need (decoded on first use if not cached)."""
        fno = self.index.fno
        return fno if fno is not None else self.index.add_fno(self.columns)

    def record(self, row: int) -> Instrument:
        """Return row ``row`` as an :class:`Instrument` (read from the CSV once, then kept)."""
        rec = self._records.get(row)
        if rec is None:
            rec = self._records[row] = Instrument.from_fields(self.index.fields(row, self.raw))
        return rec

    @property
    def upper_symbols(self) -> np.ndarray:
        """Return every row's tradingsymbol upper-cased, as bytes (for case-insensitive search)."""
        if self._upper_symbols is None:
            self._upper_symbols = np.char.upper(self.index.symbols)
        return self._upper_symbols

    @property
    def table(self) -> pd.DataFrame:
        """Return every row as a typed DataFrame, built once from the vectorised columns."""
        if self._table is None:
            self._table = typed_table(self.raw, self._columns)
        return self._table


#: The dump's columns typed as the SDK types its rows (``exchange_token`` as the number it is).
_ARROW_TYPES = {
    "instrument_token": "int64",
    "exchange_token": "int64",
    "tradingsymbol": "string",
    "name": "string",
    "last_price": "float64",
    "expiry": "date32",
    "strike": "float64",
    "tick_size": "float64",
    "lot_size": "int64",
    "instrument_type": "string",
    "segment": "string",
    "exchange": "string",
}


def typed_table(raw: bytes, cols: DumpColumns | None = None) -> pd.DataFrame:
    """Return the dump as a DataFrame typed as the SDK types it: ints, floats, ``expiry`` as date or None.

    Kite's own dump goes through Arrow's multi-threaded CSV reader (a C++ parser, about ten times quicker
    than numpy here, because every text column would otherwise become Python objects one by one). A dump
    Arrow will not type as is (an empty or ``1.0`` cell in a number column, a ragged line) falls back to
    :class:`DumpColumns`, whose cell rules read such cells as 0 like :class:`Instrument` does.

    Args:
        raw: the CSV dump.
        cols: the dump already split, if at hand (only the fallback uses it).
    """
    table = _arrow_table(raw)
    if table is not None:
        return table
    import pandas as pd  # imported here: it costs ~0.3 s and only tables need it

    cols = cols or DumpColumns(raw)
    data: dict[str, Any] = {}
    for name in COLUMNS:
        if name in ("instrument_token", "exchange_token", "lot_size"):
            data[name] = cols.ints(name)
        elif name in ("last_price", "strike", "tick_size"):
            data[name] = cols.floats(name)
        elif name == "expiry":
            data[name] = cols.dates(name).astype(object)  # datetime.date, None where NaT
        else:
            data[name] = pd.array(_strings(cols.text(name)), dtype="str")
    return pd.DataFrame(data)


def _arrow_table(raw: bytes) -> pd.DataFrame | None:
    """Return the typed table through Arrow's CSV reader, or None when the dump needs the lenient reader."""
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    types = {name: getattr(pa, kind)() for name, kind in _ARROW_TYPES.items()}
    options = pcsv.ConvertOptions(column_types=types, strings_can_be_null=False, include_columns=list(COLUMNS))
    try:
        table = pcsv.read_csv(io.BytesIO(raw), convert_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.column_names != list(COLUMNS):
        return None
    numbers = [name for name, kind in _ARROW_TYPES.items() if kind in ("int64", "float64")]
    if any(table.column(name).null_count for name in numbers):
        return None  # empty number cells: the lenient reader turns them into 0, as Instrument does
    # date_as_object gives datetime.date (None for no expiry), the type Instrument.expiry has.
    frame: pd.DataFrame = table.to_pandas(date_as_object=True)
    return frame


def _strings(values: np.ndarray) -> np.ndarray:
    """Return a bytes column as an object array of str (each distinct value decoded once)."""
    seen: dict[bytes, str] = {}
    out = np.empty(len(values), dtype=object)
    out[:] = [seen.get(v) or seen.setdefault(v, v.decode("utf-8", "replace")) for v in values.tolist()]
    return out
