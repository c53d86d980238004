"""Upstox's v3 market feed message, ``FeedResponse``, as a schema for :mod:`.proto`: encode and decode.

Transcribed from the descriptor of ``upstox_client/feeder/proto/MarketDataFeedV3_pb2.py`` (SDK 2.30, package
``com.upstox.marketdatafeederv3udapi.rpc.proto``, proto3). Note the request mode the JSON calls ``full`` is
``full_d5`` in the proto's ``RequestMode``. :func:`encode_feed` output equals the SDK's
``FeedResponse(...).SerializeToString(deterministic=True)`` for the same content; :func:`decode_feed` needs
neither the SDK nor ``protobuf``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kitekit.wire.upstox.proto import Field, Schema, decode, encode

__all__ = ["FEED_SCHEMA", "decode_feed", "encode_feed"]

F = Field

FEED_SCHEMA = Schema(
    messages={
        "DoubleValue": (F(1, "value", "double"),),
        "LTPC": (
            F(1, "ltp", "double"),
            F(2, "ltt", "int64"),
            F(3, "ltq", "int64"),
            F(4, "cp", "double"),
            F(5, "iep", "double_value"),
        ),
        "MarketLevel": (F(1, "bidAskQuote", "message:Quote", repeated=True),),
        "MarketOHLC": (F(1, "ohlc", "message:OHLC", repeated=True),),
        "Quote": (F(1, "bidQ", "int64"), F(2, "bidP", "double"), F(3, "askQ", "int64"), F(4, "askP", "double")),
        "OptionGreeks": (
            F(1, "delta", "double"),
            F(2, "theta", "double"),
            F(3, "gamma", "double"),
            F(4, "vega", "double"),
            F(5, "rho", "double"),
        ),
        "OHLC": (
            F(1, "interval", "string"),
            F(2, "open", "double"),
            F(3, "high", "double"),
            F(4, "low", "double"),
            F(5, "close", "double"),
            F(6, "vol", "int64"),
            F(7, "ts", "int64"),
        ),
        "MarketFullFeed": (
            F(1, "ltpc", "message:LTPC"),
            F(2, "marketLevel", "message:MarketLevel"),
            F(3, "optionGreeks", "message:OptionGreeks"),
            F(4, "marketOHLC", "message:MarketOHLC"),
            F(5, "atp", "double"),
            F(6, "vtt", "int64"),
            F(7, "oi", "double"),
            F(8, "iv", "double"),
            F(9, "tbq", "double"),
            F(10, "tsq", "double"),
            F(11, "iep", "double"),
            F(12, "rp", "double"),
            F(13, "ieq", "int64"),
            F(14, "iiqTotal", "int64"),
            F(15, "iiqM", "int64"),
            F(16, "casEligible", "bool"),
        ),
        "IndexFullFeed": (F(1, "ltpc", "message:LTPC"), F(2, "marketOHLC", "message:MarketOHLC")),
        # oneof FullFeedUnion
        "FullFeed": (F(1, "marketFF", "message:MarketFullFeed"), F(2, "indexFF", "message:IndexFullFeed")),
        "FirstLevelWithGreeks": (
            F(1, "ltpc", "message:LTPC"),
            F(2, "firstDepth", "message:Quote"),
            F(3, "optionGreeks", "message:OptionGreeks"),
            F(4, "vtt", "int64"),
            F(5, "oi", "double"),
            F(6, "iv", "double"),
        ),
        # oneof FeedUnion (ltpc, fullFeed, firstLevelWithGreeks), then requestMode
        "Feed": (
            F(1, "ltpc", "message:LTPC"),
            F(2, "fullFeed", "message:FullFeed"),
            F(3, "firstLevelWithGreeks", "message:FirstLevelWithGreeks"),
            F(4, "requestMode", "enum:RequestMode"),
        ),
        "StatusInfo": (F(1, "status", "string"), F(2, "updatedTime", "int64")),
        "SegmentStatusEntry": (F(1, "key", "string"), F(2, "value", "enum:MarketStatus")),
        "StatusInfoEntry": (F(1, "key", "string"), F(2, "value", "message:StatusInfo")),
        "MarketInfo": (
            F(1, "segmentStatus", "enum:MarketStatus", map_of="SegmentStatusEntry"),
            F(2, "casMarketStatus", "message:StatusInfo", map_of="StatusInfoEntry"),
            F(3, "preOpenSessionStatus", "message:StatusInfo", map_of="StatusInfoEntry"),
        ),
        "FeedsEntry": (F(1, "key", "string"), F(2, "value", "message:Feed")),
        "FeedResponse": (
            F(1, "type", "enum:Type"),
            F(2, "feeds", "message:Feed", map_of="FeedsEntry"),
            F(3, "currentTs", "int64"),
            F(4, "marketInfo", "message:MarketInfo"),
        ),
    },
    enums={
        "Type": {0: "initial_feed", 1: "live_feed", 2: "market_info"},
        "RequestMode": {0: "ltpc", 1: "full_d5", 2: "option_greeks", 3: "full_d30"},
        "MarketStatus": {
            0: "PRE_OPEN_START",
            1: "PRE_OPEN_END",
            2: "NORMAL_OPEN",
            3: "NORMAL_CLOSE",
            4: "CLOSING_START",
            5: "CLOSING_END",
        },
    },
)


def encode_feed(response: Mapping[str, Any]) -> bytes:
    """Return the bytes of a ``FeedResponse`` dict (``type``, ``feeds`` by instrument key, ``currentTs``, …)."""
    return encode(FEED_SCHEMA, "FeedResponse", response)


def decode_feed(data: bytes | memoryview) -> dict[str, Any]:
    """Return the ``FeedResponse`` in ``data`` as a dict, with ``type`` always present.

    proto3 leaves a field at its default off the wire, so an ``initial_feed`` (type 0) arrives without one;
    this fills it in, since a client dispatches on it.

    Raises:
        ProtoError: the bytes are not a ``FeedResponse``.
    """
    message = decode(FEED_SCHEMA, "FeedResponse", data)
    message.setdefault("type", FEED_SCHEMA.enums["Type"][0])
    return message
