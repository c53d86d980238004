"""The local candle store: fetched candles kept in one DuckDB file, with what has been fetched, per series.

A series is one instrument's candles of one interval (``EXCHANGE:TRADINGSYMBOL``, not the token: Kite reuses
the tokens of expired contracts), continuous or not. Beside the candles the store keeps each series'
*coverage*: the time ranges whose every candle has been fetched and had closed. A request then needs only
the ranges missing from it (:meth:`CandleStore.missing`).

Each window's answer is written in one transaction, together with the coverage it earns
(:meth:`CandleStore.write`): it replaces whatever the store held inside the window, only the candles that had
closed by the time it was asked for are kept (a still-forming candle is never stored), and DuckDB's
write-ahead log makes it durable on commit. A crash or Ctrl-C mid-backfill therefore loses at most the
windows still in flight, and the next run fetches exactly what is missing.

A series is replaced as a whole only through a new version (:meth:`CandleStore.new_version`): filled window
by window beside the stored one, invisible to readers, and swapped in by one transaction once it covers
everything the stored one did. Until then, and if it never completes, the stored series stays as it was.

Connections are opened per operation and closed after it, so several kitekit processes can share the file
(DuckDB lets one process hold it at a time; the others wait up to ``busy_timeout``). Times are stored as
microseconds since the epoch; ``volume`` and ``oi`` as doubles (exact for any whole number up to 2**53),
read back as integers when they all are.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from kitekit.clock import IST
from kitekit.errors import CandleStoreError
from kitekit.history.duckfile import open_database
from kitekit.paths import data_dir
from kitekit.wire.candles import CANDLE_COLUMNS, INDEX_NAME, OI_COLUMN, empty_candles
from kitekit.wire.history import Interval

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

__all__ = ["DEFAULT_FILENAME", "Anchor", "CandleStore", "SeriesInfo", "SeriesKey", "SeriesVersion"]

#: The store's file under the kitekit data dir.
DEFAULT_FILENAME = "candles.duckdb"
_US = 1_000_000  # microseconds a second: windows meet one second apart
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ALL = (-(2**62), 2**62)  # the whole time line, in microseconds

# One lock per file in this process: DuckDB shares one database instance between a process's connections.
_LOCKS: dict[Path, threading.RLock] = {}
_LOCKS_GUARD = threading.Lock()


class SeriesKey(NamedTuple):
    """What a stored series is keyed on."""

    exchange: str
    tradingsymbol: str
    interval: Interval
    continuous: bool = False

    @property
    def key(self) -> str:
        """Return ``EXCHANGE:TRADINGSYMBOL``."""
        return f"{self.exchange}:{self.tradingsymbol}"


@dataclass(frozen=True)
class SeriesInfo:
    """A stored series: its key, token, how many candles, and the first and last candle times."""

    series: SeriesKey
    instrument_token: int
    candles: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class Anchor:
    """The last closed candle the store holds just before a gap: what a fetch across the gap re-reads.

    Kite adjusts the whole history of an instrument for splits and bonuses, and corrects a candle now and
    then, so a stored candle may no longer match Kite's; re-reading this one is how the store finds out.
    """

    time: datetime
    prices: tuple[float, float, float, float]  # open, high, low, close
    since: datetime  # where the covered span holding it begins: the stored candles before it run back to here

    def frame(self) -> pd.DataFrame:
        """Return this candle as a one-row frame of its prices, indexed by its time."""
        import pandas as pd

        index = pd.DatetimeIndex([self.time], name=INDEX_NAME).as_unit("us")
        return pd.DataFrame([self.prices], index=index, columns=["open", "high", "low", "close"])


class CandleStore:
    """Candles kept on disk per instrument and interval, and the ranges already fetched.

    Args:
        path: the DuckDB file (created with its folder, private to the user); default
            ``<data dir>/candles.duckdb``.
        busy_timeout: seconds to wait while another process has the file open.

    A file DuckDB cannot read is moved aside (``*.damaged-<time>``, kept for inspection) and a fresh store
    started, with a warning: everything in it can be fetched again.
    """

    def __init__(self, path: Path | None = None, busy_timeout: float = 60.0) -> None:
        self.path = (path or data_dir() / DEFAULT_FILENAME).absolute()
        self.busy_timeout = busy_timeout
        with _LOCKS_GUARD:
            self._lock = _LOCKS.setdefault(self.path, threading.RLock())

    def __repr__(self) -> str:
        return f"CandleStore({str(self.path)!r})"

    # -- reading -----------------------------------------------------------------------------------------
    def missing(self, series: SeriesKey, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """Return the parts of ``[start, end]`` (inclusive, whole seconds) not yet covered, oldest first."""
        first, last = _us(start), _us(end)
        with self._connect() as con:
            sid = self._series_id(con, series)
            spans = [] if sid is None else _coverage(con, sid, first - _US, last + _US)
        gaps: list[tuple[int, int]] = []
        at = first
        for lo, hi in spans:
            if lo > at:
                gaps.append((at, min(lo - _US, last)))
            at = max(at, hi + _US)
            if at > last:
                break
        if at <= last:
            gaps.append((at, last))
        return [(_moment(a), _moment(b)) for a, b in gaps if a <= b]

    def anchor(self, series: SeriesKey, gap_start: datetime) -> Anchor | None:
        """Return the last stored closed candle before ``gap_start``, if the coverage runs up to the gap.

        Args:
            series: which series.
            gap_start: where a gap :meth:`missing` returned begins.
        """
        edge = _us(gap_start) - _US
        with self._connect() as con:
            sid = self._series_id(con, series)
            spans = [] if sid is None else _coverage(con, sid, edge, edge)
            if not spans:
                return None
            row = con.execute(
                "SELECT ts, open, high, low, close FROM candles WHERE series = ? AND ts BETWEEN ? AND ? "
                "ORDER BY ts DESC LIMIT 1",
                [sid, spans[0][0], edge],
            ).fetchone()
        if row is None or any(v is None for v in row[1:]):
            return None
        prices = (float(row[1]), float(row[2]), float(row[3]), float(row[4]))
        return Anchor(_moment(int(row[0])), prices, _moment(spans[0][0]))

    def coverage(self, series: SeriesKey) -> list[tuple[datetime, datetime]]:
        """Return the ranges of ``series`` whose candles are all stored and closed, oldest first."""
        with self._connect() as con:
            sid = self._series_id(con, series)
            spans = [] if sid is None else _coverage(con, sid, *_ALL)
        return [(_moment(a), _moment(b)) for a, b in spans]

    def read(
        self, series: SeriesKey, start: datetime | None = None, end: datetime | None = None, oi: bool = False
    ) -> pd.DataFrame:
        """Return the stored candles of ``series`` stamped in ``[start, end]``, shaped as ``parse_candles`` does.

        Args:
            series: which series.
            start: the first candle time wanted (None: from the first stored).
            end: the last candle time wanted, inclusive (None: to the last stored).
            oi: include the ``oi`` column.
        """
        import pandas as pd

        with self._connect() as con:
            sid = self._series_id(con, series)
            if sid is None:
                return empty_candles(oi=oi)
            cols = ", ".join((*CANDLE_COLUMNS, OI_COLUMN) if oi else CANDLE_COLUMNS)
            got = con.execute(
                f"SELECT ts, {cols} FROM candles WHERE series = ? AND ts BETWEEN ? AND ? ORDER BY ts",  # noqa: S608
                [sid, _ALL[0] if start is None else _us(start), _ALL[1] if end is None else _us(end)],
            ).fetchnumpy()
        if not len(got["ts"]):
            return empty_candles(oi=oi)
        stamps = np.asarray(got["ts"], dtype=np.int64).astype("datetime64[us]")
        index = pd.DatetimeIndex(stamps, name=INDEX_NAME).tz_localize("UTC").tz_convert(IST)
        values = {name: _column(name, got[name]) for name in got if name != "ts"}
        return pd.DataFrame(values, index=index, copy=False)

    def export(self, series: SeriesKey, path: Path, start: datetime | None = None, end: datetime | None = None) -> Path:
        """Write a stored series (all of it, or ``[start, end]``) to a CSV or Parquet file, by its suffix.

        Raises:
            ValueError: the suffix is neither ``.csv`` nor ``.parquet``.
            OSError: the file cannot be written.
        """
        from kitekit.history.export import write_candles

        return write_candles(self.read(series, start, end, oi=True), path)

    def series(self) -> list[SeriesInfo]:
        """Return every stored series with its candle count and first and last candle times."""
        with self._connect() as con:
            rows = con.execute(
                "SELECT s.exchange, s.tradingsymbol, s.interval, s.continuous, s.instrument_token, "
                "count(c.ts), min(c.ts), max(c.ts) FROM series s LEFT JOIN candles c ON c.series = s.id "
                "GROUP BY ALL ORDER BY s.exchange, s.tradingsymbol, s.interval, s.continuous"
            ).fetchall()
        return [
            SeriesInfo(
                SeriesKey(exchange, symbol, Interval(interval), bool(continuous)),
                int(token),
                int(count),
                None if low is None else _moment(int(low)),
                None if high is None else _moment(int(high)),
            )
            for exchange, symbol, interval, continuous, token, count, low, high in rows
        ]

    # -- writing -----------------------------------------------------------------------------------------
    def write(
        self,
        series: SeriesKey,
        instrument_token: int,
        window: tuple[datetime, datetime],
        frame: pd.DataFrame,
        complete_until: datetime | None = None,
    ) -> None:
        """Store one window's answer in one transaction: it replaces what the store held inside the window.

        Args:
            series: the series the window belongs to.
            instrument_token: the token it was fetched with (kept for reference).
            window: the range the request asked for (both ends inclusive). For day candles give the whole of
                the last date (its 23:59:59), which the answer covers.
            frame: the answer, as :func:`parse_candles` returns it; rows outside the window are ignored.
            complete_until: the last candle time that had surely closed when the window was asked for (by
                the clock of the data: see :func:`~kitekit.history.rules.complete_until`); the window is
                stored and counts as covered up to it (None: all of it). Later candles were still forming:
                they are not stored, and the next fetch asks for them again.
        """
        with self._transaction() as con:
            sid = self._series_id(con, series, create=instrument_token)
            assert sid is not None  # noqa: S101 - created above
            _put(con, sid, window, frame, complete_until)

    def new_version(self, series: SeriesKey, instrument_token: int) -> SeriesVersion:
        """Begin the next version of ``series``: filled beside the stored one, swapped in only when complete.

        What a crashed or interrupted earlier version of the series left behind is removed first.

        Args:
            series: the series to replace (it need not be stored yet).
            instrument_token: the token its candles are fetched with.
        """
        tag = _series_tag(series)
        with self._transaction() as con:
            for (name,) in con.execute("SELECT name FROM meta WHERE value = ?", [tag]).fetchall():
                _forget(con, int(str(name).removeprefix(_VERSION_PREFIX)))
                con.execute("DELETE FROM meta WHERE name = ?", [name])
            # Its candles are kept under a negative series id, which no key resolves to: readers never see it.
            made = con.execute("SELECT nextval('series_ids')").fetchone()
            assert made is not None  # noqa: S101 - a sequence always answers
            scratch = -int(made[0])
            con.execute("INSERT INTO meta VALUES (?, ?)", [f"{_VERSION_PREFIX}{scratch}", tag])
        return SeriesVersion(self, series, instrument_token, scratch)

    def drop(self, series: SeriesKey) -> bool:
        """Forget a series (its candles and coverage): the store fetches it again when next asked.

        Returns:
            True if the store held it.
        """
        with self._connect() as con:
            sid = self._series_id(con, series)
            if sid is None:
                return False
            con.execute("BEGIN TRANSACTION")
            _forget(con, sid)
            con.execute("DELETE FROM series WHERE id = ?", [sid])
            con.execute("COMMIT")
        return True

    # -- the file ----------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection inside a transaction: committed if the block ends normally, else rolled back."""
        with self._connect() as con:
            con.execute("BEGIN TRANSACTION")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(Exception):
                    con.execute("ROLLBACK")
                raise

    @contextlib.contextmanager
    def _connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Yield a connection for one operation; DuckDB's errors leave as :class:`CandleStoreError`."""
        import duckdb

        with self._lock:
            con = open_database(self.path, self.busy_timeout)
            try:
                yield con
            except duckdb.Error as exc:
                raise CandleStoreError(f"The candle store {self.path} failed: {exc}") from exc
            finally:
                con.close()

    @staticmethod
    def _series_id(con: duckdb.DuckDBPyConnection, series: SeriesKey, create: int | None = None) -> int | None:
        """Return the id of ``series``; with ``create`` (its token) add it if missing (inside a transaction)."""
        key = [series.exchange, series.tradingsymbol, series.interval.value, series.continuous]
        row = con.execute(
            "SELECT id FROM series WHERE exchange = ? AND tradingsymbol = ? AND interval = ? AND continuous = ?", key
        ).fetchone()
        if row is not None:
            if create is not None:
                con.execute("UPDATE series SET instrument_token = ? WHERE id = ?", [create, row[0]])
            return int(row[0])
        if create is None:
            return None
        made = con.execute(
            "INSERT INTO series VALUES (nextval('series_ids'), ?, ?, ?, ?, ?) RETURNING id", [*key, create]
        )
        return int(made.fetchone()[0])  # type: ignore[index]


class SeriesVersion:
    """The next version of a stored series, built beside it and swapped in whole (:meth:`CandleStore.new_version`).

    Windows are written to it as they land (:meth:`write`, as :meth:`CandleStore.write` does); readers keep
    seeing the stored series until :meth:`commit` replaces it in one transaction. An interrupted build (an
    exception, Ctrl-C, a crash) leaves the stored series as it was; :meth:`discard` removes what it wrote, and
    the next version of the series removes what a crash left.
    """

    def __init__(self, store: CandleStore, series: SeriesKey, instrument_token: int, scratch: int) -> None:
        self.store = store
        self.series = series
        self.instrument_token = instrument_token
        self._scratch = scratch

    def write(
        self, window: tuple[datetime, datetime], frame: pd.DataFrame, complete_until: datetime | None = None
    ) -> None:
        """Store one window's answer in the new version (see :meth:`CandleStore.write` for the arguments)."""
        with self.store._transaction() as con:
            self._check_alive(con)
            _put(con, self._scratch, window, frame, complete_until)

    def commit(self, required: Sequence[tuple[datetime, datetime]] = ()) -> tuple[int, int]:
        """Replace the stored series with this version, in one transaction, if it covers ``required``.

        Args:
            required: the ranges the new version must cover (the stored series' closed ranges, say): if any
                part is missing, nothing is replaced.

        Returns:
            How many candles the stored series held, and how many the new version holds.

        Raises:
            CandleStoreError: the version does not cover ``required``, or another run removed it; the stored
                series is left as it was.
        """
        with self.store._transaction() as con:
            self._check_alive(con)
            spans = _coverage(con, self._scratch, *_ALL)
            for lo, hi in required:
                if not _covers(spans, _us(lo), _us(hi)):
                    raise CandleStoreError(
                        f"The new version of {self.series.key} {self.series.interval.value} does not cover "
                        f"{lo.isoformat()} to {hi.isoformat()}; the stored series was kept as it was."
                    )
            sid = CandleStore._series_id(con, self.series, create=self.instrument_token)
            assert sid is not None  # noqa: S101 - created above
            before = _count(con, sid)
            _forget(con, sid)
            for table in ("candles", "coverage"):
                con.execute(f"UPDATE {table} SET series = ? WHERE series = ?", [sid, self._scratch])  # noqa: S608
            con.execute("DELETE FROM meta WHERE name = ?", [f"{_VERSION_PREFIX}{self._scratch}"])
            return before, _count(con, sid)

    def discard(self) -> None:
        """Remove what this version wrote; the stored series is untouched."""
        with self.store._transaction() as con:
            _forget(con, self._scratch)
            con.execute("DELETE FROM meta WHERE name = ?", [f"{_VERSION_PREFIX}{self._scratch}"])

    def _check_alive(self, con: duckdb.DuckDBPyConnection) -> None:
        """Refuse to go on if another run began a newer version of the series (and removed this one)."""
        found = con.execute("SELECT 1 FROM meta WHERE name = ?", [f"{_VERSION_PREFIX}{self._scratch}"]).fetchone()
        if found is None:
            raise CandleStoreError(
                f"Another run began a new version of {self.series.key} {self.series.interval.value} in "
                f"{self.store.path}; this one was set aside and the stored series kept as it was."
            )


# -- helpers ------------------------------------------------------------------------------------------------

_VERSION_PREFIX = "version:"  # meta rows naming a version being built, valued with its series' tag


def _series_tag(series: SeriesKey) -> str:
    return f"{series.exchange}\t{series.tradingsymbol}\t{series.interval.value}\t{int(series.continuous)}"


def _put(
    con: duckdb.DuckDBPyConnection,
    sid: int,
    window: tuple[datetime, datetime],
    frame: pd.DataFrame,
    complete_until: datetime | None,
) -> None:
    """Replace a window's candles with the closed ones of ``frame``: covered up to ``complete_until``, no further.

    A part of the window covered before but not closed now (a candle stored by a clock that ran ahead of the
    data's) is uncovered with its candles gone, so the next fetch asks for it again.
    """
    first, last = _us(window[0]), _us(window[1])
    covered = last if complete_until is None else min(last, _us(complete_until))
    con.execute("DELETE FROM candles WHERE series = ? AND ts BETWEEN ? AND ?", [sid, first, last])
    rows = _rows(frame, first, covered) if covered >= first else None
    if rows is not None:
        rows.insert(0, "series", np.full(len(rows), sid, dtype=np.int32))
        con.register("incoming", rows)
        con.execute("INSERT INTO candles SELECT * FROM incoming")
        con.unregister("incoming")
    if covered < last:
        _remove_coverage(con, sid, max(first, covered + _US), last)
    if covered >= first:
        _add_coverage(con, sid, first, covered)


def _forget(con: duckdb.DuckDBPyConnection, sid: int) -> None:
    """Delete a series id's candles and coverage (its row in ``series``, if any, stays)."""
    for table in ("candles", "coverage"):
        con.execute(f"DELETE FROM {table} WHERE series = ?", [sid])  # noqa: S608 - names are ours


def _count(con: duckdb.DuckDBPyConnection, sid: int) -> int:
    row = con.execute("SELECT count(*) FROM candles WHERE series = ?", [sid]).fetchone()
    return 0 if row is None else int(row[0])


def _covers(spans: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """Return True if the merged ``spans`` hold every second of ``[lo, hi]``."""
    return lo > hi or any(a <= lo and hi <= b for a, b in spans)


def _coverage(con: duckdb.DuckDBPyConnection, sid: int, lo: int, hi: int) -> list[tuple[int, int]]:
    """Return the covered spans of a series that touch ``[lo, hi]``, oldest first."""
    rows = con.execute(
        "SELECT first, last FROM coverage WHERE series = ? AND last >= ? AND first <= ? ORDER BY first", [sid, lo, hi]
    ).fetchall()
    return [(int(a), int(b)) for a, b in rows]


def _add_coverage(con: duckdb.DuckDBPyConnection, sid: int, first: int, last: int) -> None:
    """Record ``[first, last]`` as covered, merged with the spans it overlaps or meets."""
    touching = _coverage(con, sid, first - _US, last + _US)
    if touching:
        first, last = min(first, touching[0][0]), max(last, max(b for _, b in touching))
        con.execute(
            "DELETE FROM coverage WHERE series = ? AND last >= ? AND first <= ?", [sid, first - _US, last + _US]
        )
    con.execute("INSERT INTO coverage VALUES (?, ?, ?)", [sid, first, last])


def _remove_coverage(con: duckdb.DuckDBPyConnection, sid: int, first: int, last: int) -> None:
    """Record ``[first, last]`` as not covered: the spans overlapping it keep only their parts outside it."""
    overlapping = _coverage(con, sid, first, last)
    if not overlapping:
        return
    con.execute("DELETE FROM coverage WHERE series = ? AND last >= ? AND first <= ?", [sid, first, last])
    for lo, hi in overlapping:
        if lo < first:
            con.execute("INSERT INTO coverage VALUES (?, ?, ?)", [sid, lo, first - _US])
        if hi > last:
            con.execute("INSERT INTO coverage VALUES (?, ?, ?)", [sid, last + _US, hi])


def _rows(frame: pd.DataFrame, first: int, last: int) -> pd.DataFrame | None:
    """Return a window's candles as the table's columns (oi NaN when not asked for), or None for none."""
    import pandas as pd

    if not len(frame):
        return None
    stamps = pd.DatetimeIndex(frame.index).as_unit("us").asi8
    keep = (stamps >= first) & (stamps <= last)
    if not keep.any():
        return None
    values: dict[str, Any] = {"ts": stamps[keep]}
    for name in (*CANDLE_COLUMNS, OI_COLUMN):
        column = frame[name].to_numpy()[keep] if name in frame.columns else np.full(int(keep.sum()), np.nan)
        values[name] = column.astype(np.float64)
    return pd.DataFrame(values)


def _column(name: str, values: Any) -> np.ndarray:
    """Return a stored column as :func:`parse_candles` types it: float64 prices; int64 volume and oi if whole."""
    array = np.asarray(values.filled(np.nan) if hasattr(values, "filled") else values, dtype=np.float64)
    if name in ("volume", OI_COLUMN) and bool(np.all(np.isfinite(array) & (array == np.floor(array)))):
        return array.astype(np.int64)
    return array


def _us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _moment(us: int) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(IST)
