"""Upstox's wire module on its own: the protobuf codec against the SDK's generated module, keys, errors, caps."""

from __future__ import annotations

from datetime import date

import pytest
from google.protobuf import json_format
from upstox_client.feeder.proto import MarketDataFeedV3_pb2 as pb

from kitekit.sim.upstox.limits import WindowLimiter
from kitekit.wire.upstox.errors import UDAPI, UpstoxError, decode_errors
from kitekit.wire.upstox.feed import decode_feed, encode_feed
from kitekit.wire.upstox.history import check_span, parse_v2_interval, parse_v3_interval
from kitekit.wire.upstox.keys import Segment, parse_instrument_key, valid_isin
from kitekit.wire.upstox.proto import ProtoError
from kitekit.wire.upstox.routes import LIMITS, Limit, LimitClass, needs_api_version, uses_order_host
from kitekit.wire.upstox.stream import parse_request

FULL = {
    "type": "live_feed",
    "currentTs": 1764221400000,
    "feeds": {
        "NSE_EQ|INE002A01018": {
            "fullFeed": {
                "marketFF": {
                    "ltpc": {"ltp": 1234.5, "ltt": 1764221399000, "ltq": 10, "cp": 1200.0},
                    "marketLevel": {"bidAskQuote": [{"bidQ": 5, "bidP": 1234.4, "askQ": 7, "askP": 1234.6}] * 5},
                    "marketOHLC": {
                        "ohlc": [
                            {
                                "interval": "1d",
                                "open": 1.0,
                                "high": 2.0,
                                "low": 0.5,
                                "close": 1.5,
                                "vol": 100,
                                "ts": 1764181800000,
                            }
                        ]
                    },
                    "atp": 1230.1,
                    "vtt": 12345,
                    "tbq": 1000.0,
                    "tsq": 900.0,
                    "casEligible": True,
                }
            },
            "requestMode": "full_d5",
        },
        "NSE_INDEX|Nifty 50": {"ltpc": {"ltp": 26000.1, "ltt": -5, "cp": 25900.0, "iep": 0.0}},
        "NSE_FO|35001": {
            "firstLevelWithGreeks": {"ltpc": {"ltp": 3.5}, "optionGreeks": {"delta": -0.25}},
            "requestMode": "option_greeks",
        },
    },
    "marketInfo": {"segmentStatus": {"NSE_FO": "PRE_OPEN_START", "NSE_EQ": "NORMAL_OPEN"}},
}


def test_the_encoder_writes_the_bytes_the_sdk_serializes() -> None:
    ours = encode_feed(FULL)
    theirs = pb.FeedResponse.FromString(ours)
    assert theirs.SerializeToString(deterministic=True) == ours
    as_dict = json_format.MessageToDict(theirs)
    assert as_dict["feeds"]["NSE_INDEX|Nifty 50"]["ltpc"]["iep"] == 0.0  # a wrapper survives at 0
    assert as_dict["marketInfo"]["segmentStatus"]["NSE_FO"] == "PRE_OPEN_START"


def test_the_decoder_reads_what_the_sdk_writes_without_the_sdk() -> None:
    message = pb.FeedResponse()
    json_format.ParseDict(
        {"type": "live_feed", "feeds": {"K": {"ltpc": {"ltp": 1.5, "ltt": "-7"}}}, "currentTs": "9"}, message
    )
    decoded = decode_feed(message.SerializeToString())
    assert decoded == {"type": "live_feed", "feeds": {"K": {"ltpc": {"ltp": 1.5, "ltt": -7}}}, "currentTs": 9}
    assert decode_feed(encode_feed(FULL))["marketInfo"]["segmentStatus"]["NSE_FO"] == "PRE_OPEN_START"
    assert decode_feed(b"")["type"] == "initial_feed"


def test_unknown_fields_are_skipped_as_protobuf_does() -> None:
    extra = bytes([0x78, 0x05]) + encode_feed({"currentTs": 3})  # field 15, varint 5: not in the schema
    assert decode_feed(extra)["currentTs"] == 3


@pytest.mark.parametrize(
    "data",
    [
        encode_feed(FULL)[:-3],  # truncated inside a field
        b"\x12\xff\xff\xff\xff\x0f",  # a length far past the end
        b"\x18" + b"\xff" * 11,  # a varint longer than ten bytes
        b"\x08\x01\x0b",  # wire type 3 (a group): unsupported
        b"\x19\x00",  # currentTs (varint) sent as fixed64
        b"\x12\x06\x0a\x02\xff\xfe\x12\x00",  # a map key that is not UTF-8
    ],
)
def test_malformed_bytes_raise_proto_error(data: bytes) -> None:
    with pytest.raises(ProtoError):
        decode_feed(data)


def test_instrument_keys_and_isins() -> None:
    assert parse_instrument_key("NSE_EQ|INE002A01018") is not None
    assert parse_instrument_key("NSE_EQ|INE002A01019") is None  # a wrong check digit
    assert parse_instrument_key("NSE_FO|35001") is not None
    assert parse_instrument_key("NSE_FO|ABC") is None
    assert str(parse_instrument_key("NSE_INDEX|Nifty 50")) == "NSE_INDEX|Nifty 50"
    assert parse_instrument_key("NSE:RELIANCE") is None
    assert valid_isin("US0378331005") and not valid_isin("us0378331005")
    assert Segment.NCD_FO.exchange == "NSE" and Segment.BSE_INDEX.is_index


def test_error_bodies_carry_both_spellings_and_decode_from_either() -> None:
    body = UpstoxError(UDAPI.TOO_MANY_KEYS, property_path="symbol").body()
    item = body["errors"][0]
    assert item["errorCode"] == item["error_code"] == "UDAPI100043"
    assert item["propertyPath"] == item["property_path"] == "symbol"
    snake = {"status": "error", "errors": [{"error_code": "UDAPI10005", "message": "Too Many Request Sent"}]}
    assert decode_errors(snake)[0].error_code == "UDAPI10005"
    assert decode_errors(b"<html>502</html>")[0].message.startswith("<html>")
    assert UDAPI.INVALID_TOKEN.status == 401 and UDAPI.RATE_LIMIT.status == 429


def test_routes_follow_the_sdk_order_host_and_api_version_rules() -> None:
    assert uses_order_host("/v2/order/place") and uses_order_host("/v3/order/cancel")
    assert not uses_order_host("/v2/order/multi/place")  # the SDK sends multi-order to the API host
    assert needs_api_version("/v2/user/profile") and not needs_api_version("/v3/market-quote/ltp")
    assert not needs_api_version("/v2/order/multi/place")


def test_history_caps_v2_and_v3() -> None:
    one = parse_v3_interval("minutes", "1")
    assert one is not None and check_span(one.span, date(2026, 10, 27), date(2026, 11, 26)) is None
    assert check_span(one.span, date(2026, 10, 26), date(2026, 11, 26)) is not None
    sixteen = parse_v3_interval("minutes", "16")
    assert sixteen is not None and check_span(sixteen.span, date(2026, 8, 27), date(2026, 11, 26)) is None
    assert parse_v3_interval("minutes", "301") is None and parse_v3_interval("hours", "6") is None
    weeks = parse_v3_interval("weeks", "1")
    assert weeks is not None and check_span(weeks.span, date(2000, 1, 3), date(2026, 11, 26)) is None
    v2 = parse_v2_interval("30minute")
    assert v2 is not None and v2[0].seconds == 1800


def test_stream_requests_parse_as_the_sdk_builds_them() -> None:
    request = parse_request(b'{"guid":"x","method":"sub","data":{"instrumentKeys":["A","A","B"],"mode":"full"}}')
    assert request.keys == ("A", "B") and request.mode == "full"
    for bad in (b"not json", b'{"method":"sub","data":{"instrumentKeys":["A"]}}', b'{"method":"x","data":{}}'):
        with pytest.raises(ValueError):
            parse_request(bad)


def test_the_window_limiter_holds_each_window() -> None:
    now = [0.0]
    limiter = WindowLimiter({LimitClass.STANDARD: Limit(2, 3, 4)}, monotonic=lambda: now[0])
    assert limiter.allow("u", "a", LimitClass.STANDARD) and limiter.allow("u", "a", LimitClass.STANDARD)
    assert not limiter.allow("u", "a", LimitClass.STANDARD)  # 2 a second
    assert limiter.allow("u", "b", LimitClass.STANDARD)  # per API
    now[0] = 1.0
    assert limiter.allow("u", "a", LimitClass.STANDARD)
    assert not limiter.allow("u", "a", LimitClass.STANDARD)  # 3 a minute
    now[0] = 61.0
    assert limiter.allow("u", "a", LimitClass.STANDARD)
    now[0] = 62.5
    assert not limiter.allow("u", "a", LimitClass.STANDARD)  # 4 in 30 minutes
    assert LIMITS[LimitClass.MULTI_ORDER] == Limit(4, 40, 160)
