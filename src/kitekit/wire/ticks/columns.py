"""Decoding frames into columns: one numpy array per field, one entry per packet, for speed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kitekit.errors import TickFrameError
from kitekit.wire.ticks.dicts import _count, _frame_error, _trailing_error
from kitekit.wire.ticks.layout import (
    _BUY_WORD,
    _DEPTH,
    _DEPTH_FIELDS,
    _DIVISORS,
    _INDICES,
    _KIND_SET,
    _NAT,
    _SELL_WORD,
    _WORDS,
    INT_FIELDS,
    PRICE_FIELDS,
    TIME_FIELDS,
    PacketKind,
)
from kitekit.wire.ticks.model import TickColumns, _change

# -- decoding: columns ------------------------------------------------------------------------------------------


def _walk(frame: bytes, count: int) -> tuple[list[int], list[int]]:
    """Return each packet's payload offset and length, checking the frame's structure on the way."""
    size = len(frame)
    offsets: list[int] = []
    lengths: list[int] = []
    pos = 2
    for number in range(count):
        start = pos + 2
        if start > size:
            raise _frame_error(frame, count, number, pos)
        length = frame[pos] << 8 | frame[pos + 1]
        pos = start + length
        if pos > size or length not in _KIND_SET:
            raise _frame_error(frame, count, number, start - 2)
        offsets.append(start)
        lengths.append(length)
    if pos != size:
        raise _trailing_error(frame, count, pos)
    return offsets, lengths


_SECONDS = np.dtype("datetime64[s]")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where one packet kind keeps its fields, prepared once so a decode only indexes."""

    price_words: npt.NDArray[np.intp]  # words holding prices (depth prices last, bids then asks)
    price_names: tuple[str, ...]  # the non-depth prices, in price_words order
    ints: tuple[tuple[str, int], ...]  # (field, word) of unscaled integers
    times: tuple[tuple[str, int], ...]  # (field, word) of epoch seconds
    absent: tuple[str, ...]  # fields of the columns that this kind does not carry


def _layout(kind: PacketKind) -> _Layout:
    words = _WORDS[kind]
    depth = [*range(_BUY_WORD + 1, _BUY_WORD + 15, 3), *range(_SELL_WORD + 1, _SELL_WORD + 15, 3)]
    carried = set(words) | (set(_DEPTH_FIELDS) if kind is PacketKind.FULL else set())
    return _Layout(
        price_words=np.array(
            [w for name, w in words.items() if name in PRICE_FIELDS] + (depth if kind is PacketKind.FULL else []),
            dtype=np.intp,
        ),
        price_names=tuple(name for name in words if name in PRICE_FIELDS),
        ints=tuple((name, w) for name, w in words.items() if name in INT_FIELDS),
        times=tuple((name, w) for name, w in words.items() if name in TIME_FIELDS),
        absent=tuple(name for name in _READ_FIELDS if name not in carried),
    )


_READ_FIELDS = ("instrument_token", *PRICE_FIELDS, *INT_FIELDS, *TIME_FIELDS, *_DEPTH_FIELDS)
_LAYOUTS = {kind: _layout(kind) for kind in PacketKind}


def _read(words: npt.NDArray[np.uint32], kind: PacketKind) -> dict[str, npt.NDArray[Any]]:
    """Return the fields of packets of one kind from their big-endian words, shape (L / 4, packets).

    The words are copied once into int64 rows, so each field is a contiguous row (depth fields are
    (packets, 5) views of five rows) and the whole read is a dozen numpy calls whatever the kind: on small
    frames the calls are the cost, so none is spent on what a view or a table made at import can do.
    """
    width, m = words.shape
    rows = np.empty((width, m), dtype=np.int64)
    np.copyto(rows, words)
    token = rows[0]
    div = _DIVISORS[token & 0xFF]
    layout = _LAYOUTS[kind]
    if m < 256:
        prices = np.divide(rows.take(layout.price_words, axis=0), div)
    else:  # row by row: no gathered copy to write and read again, which costs more than the calls
        prices = np.empty((len(layout.price_words), m))
        for i, word in enumerate(layout.price_words):
            np.divide(rows[word], div, out=prices[i])
    out: dict[str, npt.NDArray[Any]] = dict(zip(layout.price_names, prices, strict=False))
    out["instrument_token"] = token
    for name, word in layout.ints:
        out[name] = rows[word]
    for name, word in layout.times:
        out[name] = rows[word].view(_SECONDS)
    if kind is PacketKind.FULL:
        depth = prices[6:].T
        out["depth_buy_price"], out["depth_sell_price"] = depth[:, :_DEPTH], depth[:, _DEPTH:]
        out["depth_buy_quantity"] = rows[_BUY_WORD : _BUY_WORD + 15 : 3].T
        out["depth_sell_quantity"] = rows[_SELL_WORD : _SELL_WORD + 15 : 3].T
        # orders is the high half of its word; the low half is padding.
        orders = np.right_shift(rows[_BUY_WORD + 2 :: 3], 16).T
        out["depth_buy_orders"], out["depth_sell_orders"] = orders[:, :_DEPTH], orders[:, _DEPTH:]
    return out


def _absent_columns(names: Sequence[str], n: int) -> dict[str, npt.NDArray[Any]]:
    """Return the absent value of each named field for ``n`` rows, allocated in one block per type."""
    prices = [name for name in names if name in PRICE_FIELDS]
    times = [name for name in names if name in TIME_FIELDS]
    ints = [name for name in names if name in INT_FIELDS or name == "instrument_token"]
    depth_prices = [name for name in names if name.startswith("depth_") and name.endswith("_price")]
    depth_ints = [name for name in names if name.startswith("depth_") and not name.endswith("_price")]
    out: dict[str, npt.NDArray[Any]] = {}
    for group, fill, shape, dtype in (
        (prices, np.nan, (n,), np.float64),
        (times, _NAT, (n,), "datetime64[s]"),
        (ints, 0, (n,), np.int64),
        (depth_prices, np.nan, (n, _DEPTH), np.float64),
        (depth_ints, 0, (n, _DEPTH), np.int64),
    ):
        if group:
            out.update(zip(group, np.full((len(group), *shape), fill, dtype=dtype), strict=True))
    return out


def _assemble(kinds: npt.NDArray[np.uint16], groups: list[tuple[Any, dict[str, npt.NDArray[Any]]]]) -> TickColumns:
    """Build columns from groups of (rows, fields) of packets of one kind, scattered to their rows."""
    columns: dict[str, Any] = {"kind": kinds, **_absent_columns(_READ_FIELDS, len(kinds))}
    for rows, fields in groups:
        for name, values in fields.items():
            columns[name][rows] = values
    return _finish(columns)


def _finish(columns: dict[str, Any]) -> TickColumns:
    """Add the two derived fields and build the columns."""
    columns["tradable"] = (columns["instrument_token"] & 0xFF) != _INDICES
    columns["change"] = _change(columns["last_price"], columns["close"])
    return TickColumns(**columns)


def decode_columns(frame: bytes) -> TickColumns:
    """Decode one binary message into columns (see :class:`TickColumns`).

    Args:
        frame: a tick frame, or a 1-byte heartbeat (no rows).

    Returns:
        One row per packet, in frame order, with the same values :func:`decode_ticks` gives (timestamps as
        UTC ``datetime64[s]`` instead of local datetimes).

    Raises:
        TickFrameError: as :func:`decode_ticks`.
    """
    count, length = _uniform(frame)
    if length:
        columns = _decode_uniform(frame, 2, count, length)
        if columns is not None:
            return columns
    return decode_columns_batch((frame,))


def _uniform(frame: bytes) -> tuple[int, int]:
    """Return (count, L) if every packet may be L bytes long, else (count or 0, 0): the frame is walked.

    The common case, a few integer operations: a size that fits N packets of the first packet's length
    makes the frame a candidate for the strided read, where every declared length is checked.
    """
    size = len(frame)
    if size < 4:
        return 0, 0
    count = frame[0] << 8 | frame[1]
    length = frame[2] << 8 | frame[3]
    return count, length if size == 2 + count * (2 + length) and length in _KIND_SET else 0


def _declared(buffer: bytes | bytearray, base: int, total: int, length: int) -> bool:
    """Return True if ``total`` packets laid end to end from ``base`` all declare ``length`` bytes.

    Read as bytes, with no numpy call: a high byte of 0 (every length is < 256) and a low byte of ``length``.
    """
    stride = 2 + length
    return buffer[base::stride].count(0) == total and buffer[base + 1 :: stride].count(length) == total


def decode_columns_batch(frames: Iterable[bytes]) -> TickColumns:
    """Decode many binary messages into one set of columns, rows in message then packet order.

    Decoding a batch in one call (a recording, a burst from the socket) spreads numpy's fixed cost per call
    over all of its frames.

    Args:
        frames: binary messages: tick frames and heartbeats (which add no rows).

    Returns:
        The packets of every frame, in order.

    Raises:
        TickFrameError: any frame is malformed (as :func:`decode_ticks`); the message names the frame.
    """
    # Plan each frame: (number, frame, count, L) when every packet may be L bytes long (checked below),
    # or L = 0 to walk it packet by packet.
    messages = list(frames)
    batch = len(messages) > 1
    plans: list[_Plan] = []
    lengths: set[int] = set()
    for number, frame in enumerate(messages):
        size = len(frame)
        count, length = _uniform(frame)
        if size < 4:
            try:
                count = _count(frame)
            except TickFrameError as exc:
                raise _in_batch(exc, number, batch) from exc
        if count == 0 and size > 2:
            raise _in_batch(_trailing_error(frame, 0, 2), number, batch)
        if count:
            plans.append((number, frame, count, length))
            lengths.add(length)
    if not plans:
        return _assemble(np.zeros(0, dtype=np.uint16), [])
    if len(lengths) == 1 and 0 not in lengths:
        total = sum(count for _, _, count, _ in plans)
        if len(plans) == 1:
            buffer, base = plans[0][1], 2
        else:
            buffer, base = b"".join(memoryview(frame)[2:] for _, frame, _, _ in plans), 0
        columns = _decode_uniform(buffer, base, total, lengths.pop())
        if columns is not None:
            return columns
    return _decode_mixed(plans, batch)


_Plan = tuple[int, bytes, int, int]


def _in_batch(exc: TickFrameError, number: int, batch: bool) -> TickFrameError:
    return TickFrameError(f"frame {number} of the batch: {exc}", exc.offset) if batch else exc


def _decode_uniform(buffer: bytes | bytearray | memoryview, base: int, total: int, length: int) -> TickColumns | None:
    """Decode ``total`` packets of one length laid end to end from ``base`` with a strided read.

    Returns None if some packet declares another length: the frame is mixed (or malformed), which the walk
    tells apart.
    """
    if not isinstance(buffer, bytes | bytearray):
        buffer = bytes(buffer)  # a memoryview (or another buffer) has no .count
    if not _declared(buffer, base, total, length):
        return None
    words = np.ndarray((length // 4, total), dtype=">u4", buffer=buffer, offset=base + 2, strides=(4, 2 + length))
    kind = PacketKind(length)
    columns: dict[str, Any] = _read(words, kind)
    absent = _LAYOUTS[kind].absent
    if absent:
        columns.update(_absent_columns(absent, total))
    columns["kind"] = np.full(total, length, dtype=np.uint16)
    return _finish(columns)


def _decode_mixed(plans: list[_Plan], batch: bool) -> TickColumns:
    """Decode frames that mix packet kinds: walk each, then gather each kind's packets with one index."""
    offsets: list[npt.NDArray[np.int64]] = []
    lengths: list[npt.NDArray[np.int64]] = []
    base = 0
    for number, frame, count, length in plans:
        if length and _declared(bytes(frame), 2, count, length):
            offsets.append(base + 4 + (2 + length) * np.arange(count, dtype=np.int64))
            lengths.append(np.full(count, length, dtype=np.int64))
            base += len(frame)
            continue
        try:
            found, sizes = _walk(frame, count)
        except TickFrameError as exc:
            raise _in_batch(exc, number, batch) from exc
        offsets.append(base + np.array(found, dtype=np.int64))
        lengths.append(np.array(sizes, dtype=np.int64))
        base += len(frame)
    buffer = np.frombuffer(b"".join(frame for _, frame, _, _ in plans), dtype=np.uint8)
    start = np.concatenate(offsets)
    size = np.concatenate(lengths)
    groups: list[tuple[Any, dict[str, npt.NDArray[Any]]]] = []
    for kind in PacketKind:
        rows = np.flatnonzero(size == kind)
        if len(rows):
            packets = buffer[start[rows, None] + np.arange(int(kind))]
            groups.append((rows, _read(packets.view(">u4").T, kind)))
    return _assemble(size.astype(np.uint16), groups)
