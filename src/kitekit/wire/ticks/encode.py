"""Encoding ticks into frames the official SDK reads exactly as meant, refusing values it would misread."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from kitekit.errors import TickValueError
from kitekit.wire.ticks.layout import (
    _BUY_WORD,
    _DEPTH,
    _DEPTH_FIELDS,
    _DIVISORS,
    _KIND_NAMES,
    _KIND_VALUES,
    _NAT,
    _NET_CHANGE_WORD,
    _SELL_WORD,
    _UINT16,
    _UINT32,
    _WORDS,
    INT_FIELDS,
    MAX_PACKETS,
    PRICE_FIELDS,
    TIME_FIELDS,
    PacketKind,
    packet_kind,
)
from kitekit.wire.ticks.model import Tick, TickColumns, _FloatArray, _IntArray, _TimeArray

# -- encoding ---------------------------------------------------------------------------------------------------


def _refuse(name: str, rows: Any, bad: npt.NDArray[np.bool_], values: npt.NDArray[Any], why: str) -> TickValueError:
    """Return the error for the first bad value: its field, row (in the whole frame), depth level and value."""
    grid = bad.reshape(len(bad), -1)
    at = int(np.flatnonzero(grid.any(axis=1))[0])
    level = int(np.flatnonzero(grid[at])[0])
    value = values.reshape(len(values), -1)[at, level].item()
    row = at if rows is None else int(rows[at])
    where = f"row {row}, level {level}" if bad.ndim > 1 else f"row {row}"
    return TickValueError(f"{name} {value!r} of {where}: {why}", name, row)


def _wire_ints(name: str, values: npt.NDArray[Any], rows: Any, limit: int = _UINT32) -> _IntArray:
    if values.dtype.kind not in "iu":
        raise TickValueError(f"{name} must hold integers, not {values.dtype}", name)
    bad = (values < 0) | (values > limit)
    if bad.any():
        raise _refuse(name, rows, bad, values, f"the SDK reads this field as unsigned, 0 to {limit}")
    return values.astype(np.int64, copy=False)


def _wire_prices(name: str, values: _FloatArray, div: _FloatArray, rows: Any) -> _IntArray:
    if values.dtype.kind != "f":
        raise TickValueError(f"{name} must hold float prices, not {values.dtype}", name)
    scaled = values * div
    finite = np.isfinite(scaled)
    if not finite.all():
        raise _refuse(name, rows, ~finite, values, "a price the packet carries is missing (NaN) or infinite")
    wire = np.rint(scaled)
    bad = (wire < 0) | (wire > _UINT32)
    if bad.any():
        raise _refuse(
            name, rows, bad, values, "out of range: the wire carries 0 to (2**32 - 1) / divisor (42949672.95 at 100)"
        )
    # A float a hair off the integer (1573.15 * 100 = 157314.99999999997) is fine; anything more is a price
    # the SDK would read back as a different number.
    off = np.abs(scaled - wire) > 1e-6 + scaled * 1e-15
    if off.any():
        raise _refuse(name, rows, off, values, "not on the segment's price grid (a multiple of 1 / divisor)")
    return wire.astype(np.int64)


def _wire_times(name: str, values: _TimeArray, rows: Any) -> _IntArray:
    if values.dtype.kind in "iu":  # epoch seconds in a hand-built TickColumns
        values = values.astype(np.int64).view("datetime64[s]")
    seconds = values.astype("datetime64[s]").view(np.int64)
    missing = np.isnat(values)
    if missing.any():
        raise _refuse(name, rows, missing, values, "a time the packet carries is missing (NaT)")
    return _wire_ints(name, seconds, rows)


def _pick(array: npt.ArrayLike, rows: Any) -> npt.NDArray[Any]:
    array = np.asarray(array)
    return array if rows is None else array[rows]


def _pack(columns: TickColumns, kind: PacketKind, rows: Any) -> npt.NDArray[np.uint8]:
    """Return the packets of ``rows`` (all rows if None), each with its length prefix, as (m, 2 + L) bytes."""
    token = _wire_ints("instrument_token", _pick(columns.instrument_token, rows), rows)
    m = len(token)
    div = _DIVISORS[token & 0xFF]
    record = np.zeros(m, dtype=np.dtype([("length", ">u2"), ("words", ">u4", (int(kind) // 4,))]))
    record["length"] = int(kind)
    words = record["words"]
    words[:, 0] = token
    for name, word in _WORDS[kind].items():
        if name in PRICE_FIELDS:
            words[:, word] = _wire_prices(name, _pick(getattr(columns, name), rows), div, rows)
        elif name in TIME_FIELDS:
            words[:, word] = _wire_times(name, _pick(getattr(columns, name), rows), rows)
        elif name != "instrument_token":
            words[:, word] = _wire_ints(name, _pick(getattr(columns, name), rows), rows)
    if kind.index:
        # Net change in price units, signed per Kite's docs. The SDK ignores it; saturate, never wrap.
        change = words[:, _WORDS[kind]["last_price"]].astype(np.int64) - words[:, _WORDS[kind]["close"]]
        words[:, _NET_CHANGE_WORD] = np.clip(change, -(2**31), 2**31 - 1) & _UINT32
    if kind is PacketKind.FULL:
        column = div[:, None]
        for side, first in (("buy", _BUY_WORD), ("sell", _SELL_WORD)):
            names = (f"depth_{side}_quantity", f"depth_{side}_price", f"depth_{side}_orders")
            quantity, price, orders = (_pick(getattr(columns, name), rows) for name in names)
            quantity = _wire_ints(names[0], quantity, rows)
            price = _wire_prices(names[1], price, column, rows)
            orders = _wire_ints(names[2], orders, rows, limit=_UINT16)
            words[:, first : first + 15 : 3] = quantity
            words[:, first + 1 : first + 15 : 3] = price
            words[:, first + 2 : first + 15 : 3] = orders << 16  # uint16 orders, then 2 pad bytes
    return record.view(np.uint8).reshape(m, 2 + int(kind))


def encode_columns(columns: TickColumns) -> bytes:
    """Encode columns as one binary frame, one packet per row in row order, each of its row's kind.

    Args:
        columns: from :meth:`TickColumns.new` (or a decoder: decoding then encoding gives the frame back).

    Returns:
        The frame's bytes.

    Raises:
        TickValueError: more than 65,535 rows, an unknown kind, or a value the SDK would misread in a field
            the row's kind carries: negative or past 2**32 - 1 (65,535 for depth orders), a price off the
            segment's grid or out of its range, a missing price (NaN) or time (NaT).
    """
    n = len(columns)
    if n > MAX_PACKETS:
        raise TickValueError(f"{n} packets do not fit one frame (its count is a uint16: at most {MAX_PACKETS})")
    kinds = np.asarray(columns.kind)
    known = np.isin(kinds, _KIND_VALUES)
    if not known.all():
        row = int(np.flatnonzero(~known)[0])
        raise TickValueError(f"kind {int(kinds[row])} of row {row} is no packet kind ({_KIND_NAMES})", "kind", row)
    present = [kind for kind in PacketKind if (kinds == kind).any()]
    header = n.to_bytes(2, "big")
    if len(present) <= 1:
        return header + (_pack(columns, present[0], None).tobytes() if present else b"")
    sizes = kinds.astype(np.int64) + 2
    starts = 2 + np.cumsum(sizes) - sizes
    out = np.empty(2 + int(sizes.sum()), dtype=np.uint8)
    out[:2] = np.frombuffer(header, dtype=np.uint8)
    for kind in present:
        rows = np.flatnonzero(kinds == kind)
        out[starts[rows, None] + np.arange(2 + int(kind))] = _pack(columns, kind, rows)
    return out.tobytes()


def _epoch(name: str, moment: datetime | None, row: int) -> int | None:
    if moment is None:
        return None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise TickValueError(f"{name} of row {row} is a naive datetime; give a timezone-aware one", name, row)
    return math.floor(moment.timestamp())


def encode_ticks(ticks: Iterable[Tick]) -> bytes:
    """Encode ticks as one binary frame, each as the packet kind of its mode and token.

    Args:
        ticks: the ticks, in the order their packets go into the frame.

    Returns:
        The frame's bytes.

    Raises:
        TickValueError: as :func:`encode_columns`; also a naive timestamp, a timestamp missing where the kind
            carries one, or more than 5 depth levels a side.
    """
    ticks = list(ticks)
    n = len(ticks)
    if n == 0:
        return b"\x00\x00"
    depth = {name: np.zeros((n, _DEPTH), dtype=np.int64) for name in _DEPTH_FIELDS if not name.endswith("_price")}
    depth_prices = {name: np.zeros((n, _DEPTH)) for name in _DEPTH_FIELDS if name.endswith("_price")}
    times: dict[str, list[Any]] = {name: [] for name in TIME_FIELDS}
    for row, tick in enumerate(ticks):
        for side, levels in (("buy", tick.depth_buy), ("sell", tick.depth_sell)):
            if len(levels) > _DEPTH:
                raise TickValueError(f"depth_{side} of row {row} has {len(levels)} levels; a packet carries 5", row=row)
            for level, entry in enumerate(levels):
                depth[f"depth_{side}_quantity"][row, level] = entry.quantity
                depth_prices[f"depth_{side}_price"][row, level] = entry.price
                depth[f"depth_{side}_orders"][row, level] = entry.orders
        for name in TIME_FIELDS:
            epoch = _epoch(name, getattr(tick, name), row)
            times[name].append(np.datetime64(epoch, "s") if epoch is not None else _NAT)
    columns = TickColumns.new(
        [packet_kind(t.instrument_token, t.mode) for t in ticks],
        np.array([t.instrument_token for t in ticks]),
        **{name: np.array([float(getattr(t, name)) for t in ticks]) for name in PRICE_FIELDS},
        **{name: np.array([getattr(t, name) for t in ticks]) for name in INT_FIELDS},
        **{name: np.array(values, dtype="datetime64[s]") for name, values in times.items()},
        **depth,
        **depth_prices,
    )
    return encode_columns(columns)
