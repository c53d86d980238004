"""Tick frame layout: packet kinds by length, modes, the word offsets of every field, segment divisors."""

from __future__ import annotations

from enum import IntEnum, StrEnum

import numpy as np
import numpy.typing as npt

from kitekit.wire.segments import Segment, divisor

#: A heartbeat as the simulator sends it: one byte (Kite sends any value).
HEARTBEAT = b"\x00"
#: The most packets one frame can declare (its count is a uint16).
MAX_PACKETS = 0xFFFF
_UINT32 = 0xFFFFFFFF
_UINT16 = 0xFFFF
_DEPTH = 5


class Mode(StrEnum):
    """A subscription mode; the value is the wire string of ``{"a": "mode"}`` and of a tick's ``mode``."""

    LTP = "ltp"
    QUOTE = "quote"
    FULL = "full"


class PacketKind(IntEnum):
    """A packet kind; the value is its length in bytes, which is all the SDK looks at."""

    LTP = 8
    INDEX_QUOTE = 28
    INDEX_FULL = 32
    QUOTE = 44
    FULL = 184

    @property
    def mode(self) -> Mode:
        """Return the ``mode`` the SDK writes into a tick of this kind."""
        return _MODE_OF[self]

    @property
    def index(self) -> bool:
        """Return True for the two index layouts (OHLC ordered high, low, open, close; no quantities)."""
        return self in (PacketKind.INDEX_QUOTE, PacketKind.INDEX_FULL)


_MODE_OF = {
    PacketKind.LTP: Mode.LTP,
    PacketKind.INDEX_QUOTE: Mode.QUOTE,
    PacketKind.INDEX_FULL: Mode.FULL,
    PacketKind.QUOTE: Mode.QUOTE,
    PacketKind.FULL: Mode.FULL,
}
_KIND_VALUES = tuple(int(k) for k in PacketKind)
_KIND_SET = frozenset(_KIND_VALUES)
_KIND_NAMES = ", ".join(str(k) for k in _KIND_VALUES[:-1]) + f" or {_KIND_VALUES[-1]}"

# One divisor per possible segment byte: the SDK falls back to 100 for codes it does not know.
_DIVISOR_LIST: list[float] = [divisor(code) for code in range(256)]
_DIVISORS = np.array(_DIVISOR_LIST, dtype=np.float64)
_INDICES = int(Segment.INDICES)

# Where each field sits in each packet kind, as the index of its 4-byte word. Index packets put OHLC in
# the order high, low, open, close, and carry a signed net change at word 6 that the SDK ignores.
_WORDS: dict[PacketKind, dict[str, int]] = {
    PacketKind.LTP: {"instrument_token": 0, "last_price": 1},
    PacketKind.INDEX_QUOTE: {"instrument_token": 0, "last_price": 1, "high": 2, "low": 3, "open": 4, "close": 5},
    PacketKind.QUOTE: {
        "instrument_token": 0,
        "last_price": 1,
        "last_traded_quantity": 2,
        "average_traded_price": 3,
        "volume_traded": 4,
        "total_buy_quantity": 5,
        "total_sell_quantity": 6,
        "open": 7,
        "high": 8,
        "low": 9,
        "close": 10,
    },
}
_WORDS[PacketKind.INDEX_FULL] = {**_WORDS[PacketKind.INDEX_QUOTE], "exchange_timestamp": 7}
_WORDS[PacketKind.FULL] = {
    **_WORDS[PacketKind.QUOTE],
    "last_trade_time": 11,
    "oi": 12,
    "oi_day_high": 13,
    "oi_day_low": 14,
    "exchange_timestamp": 15,
}
_NET_CHANGE_WORD = 6
# Depth: 10 levels of (uint32 quantity, uint32 price, uint16 orders, 2 pad bytes) from byte 64, bids first.
_BUY_WORD, _SELL_WORD = 16, 31

#: The fields of a tick that are prices (divided by the segment divisor on the wire).
PRICE_FIELDS = ("last_price", "average_traded_price", "open", "high", "low", "close")
#: The fields of a tick that are whole numbers (quantities, volume, OI), never scaled.
INT_FIELDS = (
    "last_traded_quantity",
    "volume_traded",
    "total_buy_quantity",
    "total_sell_quantity",
    "oi",
    "oi_day_high",
    "oi_day_low",
)
#: The fields of a tick that are epoch seconds.
TIME_FIELDS = ("last_trade_time", "exchange_timestamp")
_DEPTH_FIELDS = (
    "depth_buy_quantity",
    "depth_buy_price",
    "depth_buy_orders",
    "depth_sell_quantity",
    "depth_sell_price",
    "depth_sell_orders",
)
_NAT = np.datetime64("NaT", "s")


def is_heartbeat(message: bytes) -> bool:
    """Return True if a binary WebSocket message is Kite's 1-byte heartbeat rather than a tick frame."""
    return len(message) == 1


def packet_kind(instrument_token: int, mode: Mode | str) -> PacketKind:
    """Return the packet kind Kite sends for a token in a mode (indices have their own quote and full).

    Raises:
        ValueError: ``mode`` is not ``ltp``, ``quote`` or ``full``.
    """
    mode = Mode(mode)
    if mode is Mode.LTP:
        return PacketKind.LTP
    index = instrument_token & 0xFF == _INDICES
    if mode is Mode.QUOTE:
        return PacketKind.INDEX_QUOTE if index else PacketKind.QUOTE
    return PacketKind.INDEX_FULL if index else PacketKind.FULL


def packet_kinds(instrument_tokens: npt.ArrayLike, mode: Mode | str) -> npt.NDArray[np.uint16]:
    """Return :func:`packet_kind` for many tokens in one mode, as an array for :meth:`TickColumns.new`.

    Raises:
        ValueError: ``mode`` is not ``ltp``, ``quote`` or ``full``.
    """
    tokens = np.asarray(instrument_tokens, dtype=np.int64)
    mode = Mode(mode)
    if mode is Mode.LTP:
        return np.full(tokens.shape, PacketKind.LTP, dtype=np.uint16)
    index = (tokens & 0xFF) == _INDICES
    quote = mode is Mode.QUOTE
    plain, idx = (PacketKind.QUOTE, PacketKind.INDEX_QUOTE) if quote else (PacketKind.FULL, PacketKind.INDEX_FULL)
    return np.where(index, np.uint16(idx), np.uint16(plain)).astype(np.uint16)
