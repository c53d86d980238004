"""Kite's WebSocket ticker protocol: binary tick frames (docs/protocol.md §15.3-§15.5) and text messages.

A frame is ``uint16 N`` then N x (``uint16 L`` + L bytes), big-endian. The packet's kind is its length
alone, as the official SDK reads it: 8 LTP, 28 index quote, 32 index full, 44 quote, 184 full (5 + 5
depth levels). Prices travel as unsigned integers, rupees times the segment's divisor (100; 1e7 CDS; 1e4 BCD
and NCO, see :mod:`kitekit.wire.segments`).

Two decoders share one reading of the protocol:

- :func:`decode_ticks` returns the dicts ``kiteconnect.KiteTicker._parse_binary`` (5.2.2) returns for the
  same bytes, down to key order, ``int`` versus ``float`` and naive *local* datetimes;
- :func:`decode_columns` (and :func:`decode_columns_batch` for many frames at once) returns
  :class:`TickColumns`, one numpy array per field with one entry per packet.

Where the SDK guesses, both refuse: a frame whose packet count, lengths or size disagree raises
:class:`~kitekit.errors.TickFrameError` naming the problem and its byte offset, and no tick of it is
returned. (The SDK silently drops packets of unknown length, ignores trailing bytes, and reads a packet cut
short by the end of the frame as whatever kind its shortened length happens to match.)

Heartbeats: Kite sends a 1-byte binary message (any value) when idle. Both decoders accept it and return
no ticks, as the SDK does; :func:`is_heartbeat` tells it apart from a frame that merely holds no packets.
An empty (0-byte) message is not in the protocol and raises.

The encoder (:func:`encode_columns` for many instruments at once, :func:`encode_ticks` for :class:`Tick`
objects) refuses with :class:`~kitekit.errors.TickValueError` any value the SDK would read differently
from what was meant: negative numbers or numbers past 2**32 - 1 in its unsigned fields, prices off the
segment's price grid, missing (NaN, NaT) values in a field the packet carries, more than 65,535 packets.

The JSON text messages (subscribe, unsubscribe and mode from the client; order updates and errors from the
server, §15.2 and §15.8) are built and read in :mod:`kitekit.wire.ticks.messages`, for both sides.

The package's parts: ``layout`` (packet kinds, modes, field offsets), ``model`` (:class:`Tick`,
:class:`TickColumns`), ``dicts`` and ``columns`` (the two decoders), ``encode`` and ``messages``.
"""

from kitekit.wire.ticks.columns import decode_columns, decode_columns_batch
from kitekit.wire.ticks.dicts import decode_ticks
from kitekit.wire.ticks.encode import encode_columns, encode_ticks
from kitekit.wire.ticks.layout import HEARTBEAT, MAX_PACKETS, Mode, PacketKind, is_heartbeat, packet_kind, packet_kinds
from kitekit.wire.ticks.model import DepthLevel, Tick, TickColumns

__all__ = [
    "HEARTBEAT",
    "MAX_PACKETS",
    "DepthLevel",
    "Mode",
    "PacketKind",
    "Tick",
    "TickColumns",
    "decode_columns",
    "decode_columns_batch",
    "decode_ticks",
    "encode_columns",
    "encode_ticks",
    "is_heartbeat",
    "packet_kind",
    "packet_kinds",
]
