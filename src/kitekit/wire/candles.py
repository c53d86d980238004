"""Historical candle answers: Kite's JSON to a pandas DataFrame column by column, and windows merged at seams.

``GET /instruments/historical/{token}/{interval}`` answers
``{"status": "success", "data": {"candles": [[time, open, high, low, close, volume(, oi)], …]}}`` with every
time like ``2024-03-15T09:15:00+0530``. The official SDK turns each row into a dict and each time into a
datetime with ``dateutil`` (about 35 µs a candle); here the body is decoded once with :func:`json.loads`, the
rows are transposed into columns, and the times are read as one fixed-width grid of characters with numpy.

The frame :func:`parse_candles` returns holds what the SDK's ``historical_data()`` followed by
``pd.DataFrame(...)`` holds, with the time as the index:

* index ``date``: ``datetime64[us, Asia/Kolkata]`` (:data:`kitekit.clock.IST`); the same instants as the
  SDK's ``tzoffset(None, 19800)`` datetimes, in the zone the rest of kitekit uses;
* ``open``, ``high``, ``low``, ``close``: ``float64`` always (Kite's encoder writes ``2450`` for 2450.0,
  which alone would give the SDK's frame an integer column);
* ``volume`` and, with ``oi=1``, ``oi``: ``int64``; ``float64`` only if Kite ever sent a fractional one.

pandas is imported on first use: it costs ~0.3 s, and importing this module must not (start-up matters
to the CLI).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from kitekit.clock import IST
from kitekit.wire.envelope import ErrorType, error_in, exception_class, exception_for, excerpt, not_json_message

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect.exceptions import KiteException

__all__ = ["CANDLE_COLUMNS", "INDEX_NAME", "OI_COLUMN", "empty_candles", "merge_candles", "parse_candles"]

#: The value columns of every candle frame, in Kite's row order; ``oi`` follows when asked for.
CANDLE_COLUMNS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
#: The open-interest column, present when the request had ``oi=1``.
OI_COLUMN = "oi"
#: The index name: the SDK's key for the candle time.
INDEX_NAME = "date"

_UNIT: Literal["us"] = "us"  # what pandas makes of Python datetimes and ISO strings, and DuckDB's TIMESTAMPTZ precision
_IST_SECONDS = 5 * 3600 + 30 * 60
_STAMP = "2024-03-15T09:15:00+0530"  # the one shape of Kite's candle times: 24 characters, always IST
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_DIGITS_AT = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_FIXED_AT = np.array([4, 7, 10, 13, 16, 19, 20, 21, 22, 23])
_FIXED = np.array([ord(_STAMP[i]) for i in _FIXED_AT], dtype=np.uint32)


def parse_candles(body: bytes | str, *, oi: bool = False, status: int | None = None) -> pd.DataFrame:
    """Parse a historical candles answer into a frame indexed by IST time (see the module docstring).

    Route: the answer of ``GET /instruments/historical/{instrument_token}/{interval}``.

    Args:
        body: the response body, as received.
        oi: whether the request asked for open interest. Only an empty answer needs it, to have the same
            columns as a full one; rows of 7 values always give ``oi``.
        status: the HTTP status of the answer, given to a Kite error as its ``code`` the way the SDK does.
            None uses the status Kite pairs with the error's ``error_type`` (429 for "Too many requests").

    Returns:
        The candles in Kite's order; an empty frame with the same columns and dtypes for no candles.

    Raises:
        kiteconnect.exceptions.KiteException: Kite's error envelope, as the SDK's class for its
            ``error_type`` (GeneralException for a name the SDK has no class for), ``code`` the status.
        kiteconnect.exceptions.DataException: a body that is not a candles answer: not JSON (the SDK's
            own message and code 502), no ``data.candles`` list, rows of the wrong length, a time or a
            value that cannot be read. The message says which row and what was expected.

    The SDK's session-expiry hook is the caller's to run (this function sees only the bytes).
    """
    try:
        payload = json.loads(body)
    except ValueError:
        # What KiteConnect._request raises, word for word and with its default code (the body cut short).
        raise _data_error(not_json_message(body)) from None
    if not isinstance(payload, dict):
        raise _data_error(f"expected a JSON object with data.candles, got {excerpt(body)}", status)
    error = error_in(payload, status)
    if error is not None:
        raise exception_for(error)
    data = payload.get("data")
    rows = data.get("candles") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise _data_error(f"a historical answer needs a data.candles list, got {excerpt(body)}", status)
    if not rows:
        return empty_candles(oi=oi)
    width = _row_width(rows, status)
    columns = list(zip(*rows, strict=True))
    import pandas as pd

    index = _times(columns[0], status)
    values: dict[str, np.ndarray] = {}
    for name, column in zip((*CANDLE_COLUMNS, OI_COLUMN)[: width - 1], columns[1:], strict=True):
        values[name] = _numbers(name, column, integral=name in ("volume", OI_COLUMN), status=status)
    return pd.DataFrame(values, index=index, copy=False)


def empty_candles(oi: bool = False) -> pd.DataFrame:
    """Return a candle frame with no rows: the columns and dtypes :func:`parse_candles` gives."""
    import pandas as pd

    index = pd.DatetimeIndex([], dtype=pd.DatetimeTZDtype(_UNIT, tz=IST), name=INDEX_NAME)
    names = (*CANDLE_COLUMNS, OI_COLUMN) if oi else CANDLE_COLUMNS
    values = {name: np.array([], dtype=np.int64 if name in ("volume", OI_COLUMN) else np.float64) for name in names}
    return pd.DataFrame(values, index=index)


def merge_candles(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate the frames of consecutive windows into one, each time once, in time order.

    Kite includes both ends of a range, so windows that touch can both hold the candle at their seam.
    Where a time repeats, the later frame's row wins: windows are fetched in order, so it is the fresher
    one (today's still-forming candle is the case that matters).

    Args:
        frames: candle frames as :func:`parse_candles` returns them, in window order.

    Returns:
        One frame; an empty one (with the first frame's columns, if any) when every frame is empty.

    Raises:
        ValueError: frames with rows disagree on their columns (windows fetched with and without ``oi``).
    """
    import pandas as pd

    given = list(frames)
    full = [f for f in given if len(f)]
    if not full:
        return given[0].copy() if given else empty_candles()
    columns = list(full[0].columns)
    for frame in full[1:]:
        if list(frame.columns) != columns:
            raise ValueError(f"cannot merge candle frames with columns {columns} and {list(frame.columns)}")
    merged = pd.concat(full) if len(full) > 1 else full[0].copy()
    if not merged.index.is_unique:
        merged = merged[~merged.index.duplicated(keep="last")]
    if not merged.index.is_monotonic_increasing:
        merged = merged.sort_index(kind="stable")
    return merged


# -- columns ----------------------------------------------------------------------------------------------------


def _row_width(rows: list[Any], status: int | None) -> int:
    """Return 6 or 7, the number of values every row holds."""
    widths = {len(row) if type(row) is list else -1 for row in rows}
    if len(widths) == 1 and widths <= {6, 7}:
        return widths.pop()
    # The first row sets the width (if it has a valid one); the first row that differs is the one to show.
    first = len(rows[0]) if type(rows[0]) is list and len(rows[0]) in (6, 7) else -1
    bad = next(i for i, row in enumerate(rows) if type(row) is not list or len(row) != first)
    raise _data_error(
        f"candle row {bad} is {rows[bad]!r}; every row must be [time, open, high, low, close, volume], "
        "all with a seventh value (oi) or none",
        status,
    )


def _times(stamps: Sequence[Any], status: int | None) -> pd.DatetimeIndex:
    """Return candle times as an IST index; every ``yyyy-mm-ddThh:mm:ss+0530`` read at once."""
    import pandas as pd

    epoch = _fast_times(stamps)
    if epoch is None:
        epoch = _slow_times(stamps, status)
    utc = pd.DatetimeIndex(epoch.astype(f"datetime64[{_UNIT}]"), name=INDEX_NAME)
    return utc.tz_localize("UTC").tz_convert(IST)


def _fast_times(stamps: Sequence[Any]) -> np.ndarray | None:
    """Return seconds since the epoch for times all shaped like Kite's, else None (for the slow path)."""
    try:
        text = np.asarray(stamps)
    except ValueError:
        return None
    # A str array is UCS-4: exactly 24 characters each is a (rows, 24) uint32 grid, one code point a cell.
    # Shorter strings are padded with NUL, which fails the fixed characters; longer ones widen the dtype.
    if text.dtype.kind != "U" or text.dtype.itemsize != 4 * len(_STAMP):
        return None
    grid = text.view(np.uint32).reshape(len(text), len(_STAMP))
    if not (grid[:, _FIXED_AT] == _FIXED).all():
        return None
    digits = (grid[:, _DIGITS_AT] - np.uint32(48)).astype(np.int64)  # wraps below '0', so one test finds junk
    if not (digits < 10).all():
        return None
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month, day, hour, minute, second = (digits[:, k] * 10 + digits[:, k + 1] for k in range(4, 14, 2))
    months = (year - 1970) * 12 + month - 1
    first = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    month_days = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - first
    valid = (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
    valid &= (hour < 24) & (minute < 60) & (second < 60)
    if not valid.all():
        return None  # e.g. 2024-02-30: let the slow path name it
    days = first + day - 1
    seconds: np.ndarray = days * 86_400 + hour * 3600 + minute * 60 + second - _IST_SECONDS
    return seconds.astype("datetime64[s]")


def _slow_times(stamps: Sequence[Any], status: int | None) -> np.ndarray:
    """Read times one by one: other offsets, fractions of a second, or a bad one to report by row."""
    micros = np.empty(len(stamps), dtype=np.int64)
    for i, stamp in enumerate(stamps):
        try:
            moment = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            moment = None
        if moment is None:
            raise _data_error(f"candle row {i} has time {stamp!r}, not one like {_STAMP!r}", status)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=IST)  # Kite's times are IST (the SDK would leave this one naive)
        micros[i] = (moment - _EPOCH) // _MICROSECOND
    return micros.astype("datetime64[us]")


def _numbers(name: str, column: Sequence[Any], *, integral: bool, status: int | None) -> np.ndarray:
    """Return one value column: float64 prices; int64 volume and oi (float64 if one is fractional)."""
    try:
        array = np.asarray(column)
    except ValueError:
        array = np.asarray(column, dtype=object)  # lists of different lengths in the cells
    # Anything but JSON numbers (strings, null, lists, huge integers) leaves numpy a non-numeric dtype.
    if array.dtype.kind not in "if" or array.ndim != 1:
        bad = next(i for i, v in enumerate(column) if type(v) not in (int, float) or not -(2**63) <= v < 2**63)
        raise _data_error(f"candle row {bad} has {name} {column[bad]!r}, not a number", status)
    if not integral:
        return array.astype(np.float64, copy=False)
    if array.dtype.kind == "f" and bool(np.all(np.isfinite(array) & (array == np.floor(array)))):
        return array.astype(np.int64)
    return array


# -- errors -----------------------------------------------------------------------------------------------------


def _data_error(message: str, status: int | None = None) -> KiteException:
    data_exception = exception_class(ErrorType.DATA)
    return data_exception(message) if status is None else data_exception(message, code=status)
