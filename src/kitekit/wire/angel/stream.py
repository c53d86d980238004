"""WebSocket 2.0 (``smart-stream``): exchange types, modes, limits and the binary market packets, both ways.

Packets are little-endian, one instrument each, and their length follows the mode (what ``smartapi-python``
1.5.5's ``_parse_binary_data`` reads, offset by offset)::

    0  mode u8 | 1 exchange type u8 | 2 token, 25 bytes NUL-padded ASCII | 27 sequence i64
    35 exchange timestamp i64 (epoch ms) | 43 last traded price i64                              LTP: 51
    51 last traded qty i64 | 59 average price i64 | 67 volume i64 | 75 total buy qty f64
    83 total sell qty f64 | 91 open | 99 high | 107 low | 115 close (i64 each)                 QUOTE: 123
    123 last traded time i64 (epoch s) | 131 open interest i64 | 139 OI change i64
    147 best five: 10 × (flag u16, qty i64, price i64, orders u16) | 347 upper circuit
    355 lower circuit | 363 52-week high | 371 52-week low (i64 each)                    SNAP_QUOTE: 379
    DEPTH (mode 4): bytes 27-35 unused, 35 timestamp, then 20 bids and 20 asks of
    (qty i32, price i32, orders i16) from byte 43                                            DEPTH: 443

Prices are integers: paise (divide by 100), but currency derivatives in 10^-7 rupees (:func:`price_divisor`).
The open-interest change is read as an int64, as the SDK does (Angel's docs call it a double); the
simulator writes 0, on which both readings agree. In the best five, flag 1 marks a bid and 0 an ask (SIM: as
Angel's docs say); the SDK files flag-0 rows under its internal "buy" list and then swaps the two lists, so
its ``best_5_buy_data`` holds the flag-1 rows.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum

__all__ = [
    "BUY_FLAG",
    "EXCHANGE_TYPES",
    "MAX_CONNECTIONS",
    "MAX_DEPTH_TOKENS",
    "MAX_TOKENS",
    "PACKET_SIZE",
    "SELL_FLAG",
    "AngelTick",
    "ExchangeType",
    "Level",
    "PacketError",
    "StreamMode",
    "decode",
    "encode",
    "price_divisor",
]


class ExchangeType(IntEnum):
    """The ``exchangeType`` of a subscription and of a packet."""

    NSE_CM = 1
    NSE_FO = 2
    BSE_CM = 3
    BSE_FO = 4
    MCX_FO = 5
    NCX_FO = 7
    CDE_FO = 13


#: The exchange type of each scrip-master ``exch_seg``.
EXCHANGE_TYPES: dict[str, ExchangeType] = {
    "NSE": ExchangeType.NSE_CM,
    "NFO": ExchangeType.NSE_FO,
    "BSE": ExchangeType.BSE_CM,
    "BFO": ExchangeType.BSE_FO,
    "MCX": ExchangeType.MCX_FO,
    "NCDEX": ExchangeType.NCX_FO,
    "CDS": ExchangeType.CDE_FO,
}


class StreamMode(IntEnum):
    """Subscription modes; a packet's first byte."""

    LTP = 1
    QUOTE = 2
    SNAP_QUOTE = 3
    DEPTH = 4


def price_divisor(exchange_type: int) -> int:
    """Return what a packet's prices of ``exchange_type`` are divided by to give rupees (Angel's docs)."""
    return 10_000_000 if exchange_type == ExchangeType.CDE_FO else 100


PACKET_SIZE = {StreamMode.LTP: 51, StreamMode.QUOTE: 123, StreamMode.SNAP_QUOTE: 379, StreamMode.DEPTH: 443}
#: Connections one client code may hold, tokens one connection may subscribe, and depth-20 tokens in all.
MAX_CONNECTIONS = 3
MAX_TOKENS = 1000
MAX_DEPTH_TOKENS = 50
BUY_FLAG = 1
SELL_FLAG = 0

_HEADER = struct.Struct("<BB25sqqq")  # 51
_QUOTE = struct.Struct("<qqqddqqqq")  # 72, at 51
_SNAP = struct.Struct("<qqq")  # 24, at 123
_BEST = struct.Struct("<HqqH")  # 20, ten of them at 147
_LIMITS = struct.Struct("<qqqq")  # 32, at 347
_DEPTH_HEADER = struct.Struct("<BB25sqq")  # 43
_DEPTH_LEVEL = struct.Struct("<iih")  # 10, forty of them at 43


class PacketError(ValueError):
    """A binary packet that is not one of the four shapes (wrong length, unknown mode, bad token)."""


@dataclass(frozen=True, slots=True)
class Level:
    """One level of a book: quantity, price in paise, number of orders."""

    quantity: int
    price: int
    orders: int


@dataclass(frozen=True, slots=True)
class AngelTick:
    """One decoded packet, in wire units (prices in paise); fields past the mode's length stay at zero."""

    mode: StreamMode
    exchange_type: int
    token: str
    sequence_number: int
    exchange_timestamp: int
    last_traded_price: int = 0
    last_traded_quantity: int = 0
    average_traded_price: int = 0
    volume: int = 0
    total_buy_quantity: float = 0.0
    total_sell_quantity: float = 0.0
    open: int = 0
    high: int = 0
    low: int = 0
    close: int = 0
    last_traded_timestamp: int = 0
    open_interest: int = 0
    open_interest_change: int = 0
    best_five_buy: tuple[Level, ...] = ()
    best_five_sell: tuple[Level, ...] = ()
    upper_circuit: int = 0
    lower_circuit: int = 0
    week52_high: int = 0
    week52_low: int = 0
    depth_buy: tuple[Level, ...] = ()
    depth_sell: tuple[Level, ...] = ()


def _token_bytes(token: str) -> bytes:
    raw = token.encode("ascii")
    if len(raw) > 25 or b"\x00" in raw:
        raise PacketError(f"a token must be at most 25 ASCII characters without NUL, got {token!r}")
    return raw


def encode(tick: AngelTick) -> bytes:
    """Return the packet of ``tick`` in its mode.

    Raises:
        PacketError: a token that does not fit, more than five (or twenty) levels a side.
        struct.error: a number out of its field's range.
    """
    token = _token_bytes(tick.token)
    mode = StreamMode(tick.mode)
    out = bytearray(PACKET_SIZE[mode])
    if mode is StreamMode.DEPTH:
        if len(tick.depth_buy) > 20 or len(tick.depth_sell) > 20:
            raise PacketError("depth carries at most 20 levels a side")
        _DEPTH_HEADER.pack_into(out, 0, mode, tick.exchange_type, token, tick.sequence_number, tick.exchange_timestamp)
        for side, levels in ((0, tick.depth_buy), (200, tick.depth_sell)):
            for i, lvl in enumerate(levels):
                _DEPTH_LEVEL.pack_into(out, 43 + side + 10 * i, lvl.quantity, lvl.price, lvl.orders)
        return bytes(out)
    _HEADER.pack_into(
        out, 0, mode, tick.exchange_type, token, tick.sequence_number, tick.exchange_timestamp, tick.last_traded_price
    )
    if mode is StreamMode.LTP:
        return bytes(out)
    _QUOTE.pack_into(
        out,
        51,
        tick.last_traded_quantity,
        tick.average_traded_price,
        tick.volume,
        tick.total_buy_quantity,
        tick.total_sell_quantity,
        tick.open,
        tick.high,
        tick.low,
        tick.close,
    )
    if mode is StreamMode.QUOTE:
        return bytes(out)
    if len(tick.best_five_buy) > 5 or len(tick.best_five_sell) > 5:
        raise PacketError("the best five carries at most five levels a side")
    _SNAP.pack_into(out, 123, tick.last_traded_timestamp, tick.open_interest, tick.open_interest_change)
    rows = [(BUY_FLAG, lvl) for lvl in tick.best_five_buy] + [(SELL_FLAG, lvl) for lvl in tick.best_five_sell]
    for i, (flag, lvl) in enumerate(rows):
        _BEST.pack_into(out, 147 + 20 * i, flag, lvl.quantity, lvl.price, lvl.orders)
    # Unused slots stay zero: flag 0 with nothing in it. The SDK lists them as asks of quantity 0, so the
    # simulator always fills all five a side (see sim/angel/packets.py).
    _LIMITS.pack_into(out, 347, tick.upper_circuit, tick.lower_circuit, tick.week52_high, tick.week52_low)
    return bytes(out)


def decode(data: bytes) -> AngelTick:
    """Return the tick one packet carries.

    Raises:
        PacketError: an empty packet, an unknown mode, a length other than the mode's, a token not ASCII.
    """
    if not data:
        raise PacketError("an empty packet")
    try:
        mode = StreamMode(data[0])
    except ValueError:
        raise PacketError(f"unknown subscription mode {data[0]}") from None
    if len(data) != PACKET_SIZE[mode]:
        raise PacketError(f"a {mode.name} packet is {PACKET_SIZE[mode]} bytes, got {len(data)}")
    if mode is StreamMode.DEPTH:
        _, exchange_type, raw, sequence, stamp = _DEPTH_HEADER.unpack_from(data, 0)
        levels = [Level(*_DEPTH_LEVEL.unpack_from(data, 43 + 10 * i)) for i in range(40)]
        token = _token(raw)
        buy, sell = tuple(levels[:20]), tuple(levels[20:])
        return AngelTick(mode, exchange_type, token, sequence, stamp, depth_buy=buy, depth_sell=sell)
    _, exchange_type, raw, sequence, stamp, ltp = _HEADER.unpack_from(data, 0)
    token = _token(raw)
    if mode is StreamMode.LTP:
        return AngelTick(mode, exchange_type, token, sequence, stamp, ltp)
    ltq, atp, volume, buy_qty, sell_qty, open_, high, low, close = _QUOTE.unpack_from(data, 51)
    quote = AngelTick(
        mode, exchange_type, token, sequence, stamp, ltp, ltq, atp, volume, buy_qty, sell_qty, open_, high, low, close
    )
    if mode is StreamMode.QUOTE:
        return quote
    ltt, oi, oi_change = _SNAP.unpack_from(data, 123)
    buys: list[Level] = []
    sells: list[Level] = []
    for i in range(10):
        flag, quantity, price, orders = _BEST.unpack_from(data, 147 + 20 * i)
        (buys if flag != SELL_FLAG else sells).append(Level(quantity, price, orders))
    upper, lower, high52, low52 = _LIMITS.unpack_from(data, 347)
    return replace(
        quote,
        last_traded_timestamp=ltt,
        open_interest=oi,
        open_interest_change=oi_change,
        best_five_buy=tuple(buys),
        best_five_sell=tuple(sells),
        upper_circuit=upper,
        lower_circuit=lower,
        week52_high=high52,
        week52_low=low52,
    )


def _token(raw: bytes) -> str:
    # The SDK reads up to the first NUL; anything after it is padding.
    text = raw.split(b"\x00", 1)[0]
    try:
        return text.decode("ascii")
    except UnicodeDecodeError:
        raise PacketError(f"a token that is not ASCII: {text!r}") from None
