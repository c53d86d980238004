"""The tick codec from bytes: every packet kind and segment, malformed frames, round trips, and the SDK's parser."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from kitekit.errors import TickFrameError, TickValueError
from kitekit.wire.segments import Segment, token_of
from kitekit.wire.ticks import (
    HEARTBEAT,
    MAX_PACKETS,
    DepthLevel,
    Mode,
    PacketKind,
    Tick,
    TickColumns,
    decode_columns,
    decode_columns_batch,
    decode_ticks,
    encode_columns,
    encode_ticks,
    is_heartbeat,
    packet_kind,
    packet_kinds,
)

INFY = 408065  # NSE, segment 1
NIFTY = 256265  # indices, segment 9
USDINR = token_of(1234, Segment.CDS)
EPOCH = 1_764_215_100  # 2025-11-27 03:45:00 UTC = 09:15 IST
# POSIX TZ strings need no zoneinfo files: UTC, IST, a DST zone, and a half-hour DST zone.
ZONES = ("UTC0", "IST-5:30", "EST5EDT,M3.2.0,M11.1.0", "LHST-10:30LHDT-11,M10.1.0,M4.1.0")


def words(*values: int) -> bytes:
    """Pack big-endian uint32 words."""
    return struct.pack(f">{len(values)}I", *values)


def frame(*packets: bytes, count: int | None = None) -> bytes:
    """Build a frame by hand: count, then each packet with its uint16 length."""
    n = len(packets) if count is None else count
    return struct.pack(">H", n) + b"".join(struct.pack(">H", len(p)) + p for p in packets)


def depth_words(levels: list[tuple[int, int, int]], pad: int = 0) -> bytes:
    """Pack depth levels as (uint32 quantity, uint32 price, uint16 orders, uint16 pad)."""
    return b"".join(struct.pack(">IIHH", q, p, o, pad) for q, p, o in levels)


def typed(value: Any) -> Any:
    """Return ``value`` with every leaf paired with its type and every dict as ordered items, for strict ==."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("list", [typed(item) for item in value])
    return (type(value).__name__, value)


@contextmanager
def local_timezone(tz: str) -> Iterator[None]:
    """Run with the process's local time zone set to ``tz`` (what ``datetime.fromtimestamp`` uses)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = tz
    time.tzset()
    try:
        yield
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture(scope="module")
def sdk() -> KiteTicker:
    """The official ticker, never connected: only its parser is used."""
    return KiteTicker("api_key", "access_token")


def local(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch)  # noqa: DTZ006 - the SDK's naive local time is what is tested


# -- the documented example and each packet kind ---------------------------------------------------------------

API_MD_EXAMPLE = bytes.fromhex("0001 0008 00063A01 00026683")


def test_example_frame_of_api_md_decodes_to_one_ltp_tick(sdk: KiteTicker) -> None:
    expected = [{"tradable": True, "mode": "ltp", "instrument_token": 408065, "last_price": 1573.15}]
    assert typed(decode_ticks(API_MD_EXAMPLE)) == typed(expected)
    assert typed(sdk._parse_binary(API_MD_EXAMPLE)) == typed(expected)
    columns = decode_columns(API_MD_EXAMPLE)
    assert columns.kind.tolist() == [8]
    assert columns.instrument_token.tolist() == [408065]
    assert columns.last_price.tolist() == [1573.15]
    assert columns.mode.tolist() == ["ltp"]


def test_encoder_writes_the_example_frame_of_api_md() -> None:
    assert encode_ticks([Tick(408065, 1573.15, Mode.LTP)]) == API_MD_EXAMPLE


def test_index_quote_packet_orders_ohlc_high_low_open_close_and_ignores_net_change(sdk: KiteTicker) -> None:
    net_change = (-1234) & 0xFFFFFFFF  # a signed field the SDK does not read
    raw = frame(words(NIFTY, 2400050, 2410000, 2390025, 2395000, 2380000, net_change))
    expected = [
        {
            "tradable": False,
            "mode": "quote",
            "instrument_token": NIFTY,
            "last_price": 24000.5,
            "ohlc": {"high": 24100.0, "low": 23900.25, "open": 23950.0, "close": 23800.0},
            "change": (24000.5 - 23800.0) * 100 / 23800.0,
        }
    ]
    assert typed(decode_ticks(raw)) == typed(expected)
    assert typed(sdk._parse_binary(raw)) == typed(expected)
    columns = decode_columns(raw)
    assert (columns.high[0], columns.low[0], columns.open[0], columns.close[0]) == (24100.0, 23900.25, 23950.0, 23800.0)
    assert columns.change[0] == expected[0]["change"]
    assert not columns.tradable[0]


def test_index_full_packet_adds_exchange_timestamp_as_naive_local_time(sdk: KiteTicker) -> None:
    raw = frame(words(NIFTY, 2400050, 2410000, 2390025, 2395000, 2380000, 0, EPOCH))
    with local_timezone("IST-5:30"):
        ticks = decode_ticks(raw)
        assert ticks[0]["mode"] == "full"
        assert ticks[0]["exchange_timestamp"] == datetime(2025, 11, 27, 9, 15)  # noqa: DTZ001 - naive, like the SDK
        assert typed(ticks) == typed(sdk._parse_binary(raw))
    columns = decode_columns(raw)
    assert columns.exchange_timestamp[0] == np.datetime64(EPOCH, "s")
    assert columns.kind[0] == PacketKind.INDEX_FULL


def test_quote_packet_carries_quantities_and_ohlc_in_open_high_low_close_order(sdk: KiteTicker) -> None:
    raw = frame(words(INFY, 157315, 25, 156980, 1_250_000, 40_000, 50_000, 156000, 158000, 155500, 155000))
    expected = [
        {
            "tradable": True,
            "mode": "quote",
            "instrument_token": INFY,
            "last_price": 1573.15,
            "last_traded_quantity": 25,
            "average_traded_price": 1569.8,
            "volume_traded": 1_250_000,
            "total_buy_quantity": 40_000,
            "total_sell_quantity": 50_000,
            "ohlc": {"open": 1560.0, "high": 1580.0, "low": 1555.0, "close": 1550.0},
            "change": (1573.15 - 1550.0) * 100 / 1550.0,
        }
    ]
    assert typed(decode_ticks(raw)) == typed(expected)
    assert typed(sdk._parse_binary(raw)) == typed(expected)
    columns = decode_columns(raw)
    assert columns.volume_traded.tolist() == [1_250_000]
    assert columns.average_traded_price.tolist() == [1569.8]
    assert np.isnat(columns.exchange_timestamp[0])
    assert np.isnan(columns.depth_buy_price).all()


FULL_DEPTH = [(100 + i, 157300 - 5 * i, 3 + i) for i in range(5)] + [(200 + i, 157320 + 5 * i, 7 + i) for i in range(5)]


def full_packet(token: int = INFY, pad: int = 0) -> bytes:
    head = words(token, 157315, 25, 156980, 1_250_000, 40_000, 50_000, 156000, 158000, 155500, 155000)
    return head + words(EPOCH - 2, 9_000, 9_500, 8_000, EPOCH) + depth_words(FULL_DEPTH, pad=pad)


def test_full_packet_carries_oi_times_and_five_levels_each_side(sdk: KiteTicker) -> None:
    raw = frame(full_packet(pad=0xBEEF))  # padding after each level's orders must be ignored
    assert len(full_packet()) == 184
    with local_timezone("IST-5:30"):
        tick = decode_ticks(raw)[0]
        assert typed(decode_ticks(raw)) == typed(sdk._parse_binary(raw))
    assert tick["mode"] == "full"
    assert tick["last_trade_time"] == datetime(2025, 11, 27, 9, 14, 58)  # noqa: DTZ001
    assert (tick["oi"], tick["oi_day_high"], tick["oi_day_low"]) == (9_000, 9_500, 8_000)
    assert tick["depth"]["buy"][0] == {"quantity": 100, "price": 1573.0, "orders": 3}
    assert tick["depth"]["buy"][4] == {"quantity": 104, "price": 1572.8, "orders": 7}
    assert tick["depth"]["sell"][0] == {"quantity": 200, "price": 1573.2, "orders": 7}
    assert tick["depth"]["sell"][4] == {"quantity": 204, "price": 1573.4, "orders": 11}
    assert list(tick) == [
        "tradable",
        "mode",
        "instrument_token",
        "last_price",
        "last_traded_quantity",
        "average_traded_price",
        "volume_traded",
        "total_buy_quantity",
        "total_sell_quantity",
        "ohlc",
        "change",
        "last_trade_time",
        "oi",
        "oi_day_high",
        "oi_day_low",
        "exchange_timestamp",
        "depth",
    ]
    columns = decode_columns(raw)
    assert columns.depth_buy_quantity.tolist() == [[100, 101, 102, 103, 104]]
    assert columns.depth_buy_price.tolist() == [[1573.0, 1572.95, 1572.9, 1572.85, 1572.8]]
    assert columns.depth_buy_orders.tolist() == [[3, 4, 5, 6, 7]]
    assert columns.depth_sell_quantity.tolist() == [[200, 201, 202, 203, 204]]
    assert columns.depth_sell_price.tolist() == [[1573.2, 1573.25, 1573.3, 1573.35, 1573.4]]
    assert columns.depth_sell_orders.tolist() == [[7, 8, 9, 10, 11]]
    assert columns.last_trade_time[0] == np.datetime64(EPOCH - 2, "s")
    assert (columns.oi[0], columns.oi_day_high[0], columns.oi_day_low[0]) == (9_000, 9_500, 8_000)


def test_change_is_the_integer_zero_when_close_is_zero(sdk: KiteTicker) -> None:
    raw = frame(words(INFY, 157315, 0, 0, 0, 0, 0, 0, 0, 0, 0), words(NIFTY, 100, 0, 0, 0, 0, 0))
    ticks = decode_ticks(raw)
    assert [type(t["change"]) for t in ticks] == [int, int]
    assert typed(ticks) == typed(sdk._parse_binary(raw))
    assert decode_columns(raw).change.tolist() == [0.0, 0.0]


def test_a_packet_kind_follows_its_length_even_against_the_token(sdk: KiteTicker) -> None:
    # An index-layout packet for a tradable token: the SDK reads it by length, so do we.
    raw = frame(words(INFY, 100, 200, 50, 75, 80, 0))
    assert decode_ticks(raw)[0]["tradable"] is True
    assert typed(decode_ticks(raw)) == typed(sdk._parse_binary(raw))


# -- segments ----------------------------------------------------------------------------------------------------

DIVISORS = [(s, 1e7 if s == 3 else 1e4 if s in (6, 12) else 100.0) for s in [*Segment, 0, 10, 11, 13, 255]]


@pytest.mark.parametrize(("segment", "divisor"), DIVISORS, ids=[f"segment-{int(s)}" for s, _ in DIVISORS])
def test_every_segment_divides_prices_by_its_divisor(sdk: KiteTicker, segment: int, divisor: float) -> None:
    token = token_of(4321, segment)  # type: ignore[arg-type]
    depth = [(1, 123456789, 1)] * 10
    head = words(token, 123456789, 1, 123456789, 1, 1, 1, 123456789, 123456789, 123456789, 123456789)
    raw = frame(
        words(token, 123456789),
        words(token, 123456789, 123456789, 123456789, 123456789, 123456789, 0),
        head + words(EPOCH, 1, 1, 1, EPOCH) + depth_words(depth),
    )
    price = 123456789 / divisor
    ltp, index, full = decode_ticks(raw)
    assert ltp["last_price"] == index["last_price"] == index["ohlc"]["open"] == price
    assert full["last_price"] == full["average_traded_price"] == full["ohlc"]["close"] == price
    assert {level["price"] for level in full["depth"]["buy"] + full["depth"]["sell"]} == {price}
    assert [t["tradable"] for t in (ltp, index, full)] == [segment != 9] * 3
    assert typed(decode_ticks(raw)) == typed(sdk._parse_binary(raw))
    columns = decode_columns(raw)
    assert columns.last_price.tolist() == [price] * 3
    assert (columns.depth_sell_price[2] == price).all()
    # The encoder scales by the same divisor: a price on the grid goes back to the same integer.
    assert encode_columns(columns) == raw
    assert encode_ticks([Tick(token, price, Mode.LTP)]) == frame(words(token, 123456789))


def test_currency_prices_keep_their_decimals_through_the_encoder() -> None:
    usdinr = Tick(USDINR, 83.1234567, Mode.LTP)
    assert encode_ticks([usdinr]) == frame(words(USDINR, 831234567))
    bcd = Tick(token_of(99, Segment.BCD), 83.1234, Mode.LTP)
    assert encode_ticks([bcd]) == frame(words(bcd.instrument_token, 831234))


# -- heartbeats and malformed frames -----------------------------------------------------------------------------


@pytest.mark.parametrize("beat", [HEARTBEAT, b"\x01", b"\xff"])
def test_a_one_byte_heartbeat_decodes_to_no_ticks(sdk: KiteTicker, beat: bytes) -> None:
    assert is_heartbeat(beat)
    assert decode_ticks(beat) == [] == sdk._parse_binary(beat)
    assert len(decode_columns(beat)) == 0


def test_a_frame_of_zero_packets_is_not_a_heartbeat_and_has_no_ticks() -> None:
    assert not is_heartbeat(b"\x00\x00")
    assert decode_ticks(b"\x00\x00") == []
    assert len(decode_columns(b"\x00\x00")) == 0


def test_an_empty_message_is_refused() -> None:
    with pytest.raises(TickFrameError, match="empty binary message"):
        decode_ticks(b"")
    with pytest.raises(TickFrameError, match="empty binary message"):
        decode_columns(b"")


def both_refuse(raw: bytes, match: str) -> list[TickFrameError]:
    """Assert that both decoders raise TickFrameError matching ``match``; return the errors."""
    errors = []
    for decode in (decode_ticks, decode_columns):
        with pytest.raises(TickFrameError, match=match) as caught:
            decode(raw)
        errors.append(caught.value)
    return errors


def test_every_truncation_of_a_frame_is_refused() -> None:
    raw = frame(full_packet(), words(NIFTY, 1, 2, 3, 4, 5, 6), words(INFY, 157315))
    for cut in range(2, len(raw)):  # one byte would be a heartbeat: a lone byte cannot say it was cut
        both_refuse(raw[:cut], "truncated|ends after|no Kite packet")


def test_a_packet_running_past_the_end_is_named_with_its_offset() -> None:
    raw = frame(words(INFY, 157315), full_packet())[:-140]
    errors = both_refuse(raw, r"packet 2 of 2 at byte 12 declares 184 bytes but only 44 remain")
    assert {e.offset for e in errors} == {12}


def test_a_truncated_full_packet_that_the_sdk_misreads_as_a_quote_is_refused(sdk: KiteTicker) -> None:
    raw = frame(full_packet())[: 4 + 44]  # the declared 184 bytes cut to 44
    assert sdk._parse_binary(raw)[0]["mode"] == "quote"  # the SDK hands out a wrong tick
    both_refuse(raw, "declares 184 bytes but only 44 remain")


def test_a_count_larger_than_the_packets_is_refused() -> None:
    raw = frame(words(INFY, 157315), words(INFY, 157320), count=3)
    errors = both_refuse(raw, "declares 3 packets but ends after 2")
    assert {e.offset for e in errors} == {22}


def test_a_count_smaller_than_the_packets_leaves_trailing_bytes_and_is_refused(sdk: KiteTicker) -> None:
    raw = frame(words(INFY, 157315), words(INFY, 157320), count=1)
    assert len(sdk._parse_binary(raw)) == 1  # the SDK drops the second packet silently
    errors = both_refuse(raw, r"10 trailing byte\(s\) from byte 12, after the 1 packet")
    assert {e.offset for e in errors} == {12}


def test_trailing_bytes_after_a_zero_packet_frame_are_refused() -> None:
    both_refuse(b"\x00\x00\x00\x00\x00", "trailing")


@pytest.mark.parametrize("length", [0, 4, 12, 30, 45, 183, 185])
def test_an_unknown_packet_length_is_refused_not_skipped(sdk: KiteTicker, length: int) -> None:
    raw = frame(words(INFY, 157315), bytes(length), words(INFY, 157320))
    if length >= 4:  # shorter ones make the SDK's token read fail; longer ones it skips silently
        assert len(sdk._parse_binary(raw)) == 2
    errors = both_refuse(raw, f"packet 2 of 3 at byte 12 has length {length}, which is no Kite packet")
    assert {e.offset for e in errors} == {12}


def test_a_mixed_frame_whose_size_looks_uniform_is_walked_packet_by_packet(sdk: KiteTicker) -> None:
    # 32 + 44 + 44 + 8 bytes: the frame is as long as four 32-byte packets would make it.
    packets = [
        words(NIFTY, 100, 110, 90, 95, 99, 1, EPOCH),
        words(INFY, *range(1, 11)),
        words(INFY + 256, *range(11, 21)),
        words(USDINR, 5),
    ]
    raw = frame(*packets)
    assert len(raw) == 2 + 4 * (2 + 32)
    columns = decode_columns(raw)
    assert columns.kind.tolist() == [32, 44, 44, 8]
    assert columns.instrument_token.tolist() == [NIFTY, INFY, INFY + 256, USDINR]
    assert columns.last_price.tolist() == [1.0, 0.01, 0.11, 5e-7]
    assert typed(decode_ticks(raw)) == typed(sdk._parse_binary(raw))


def test_a_frame_that_looks_uniform_but_hides_a_bad_length_is_refused() -> None:
    packets = [words(INFY, 1), bytes.fromhex("00000001") * 2, words(INFY, 3)]
    raw = bytearray(frame(*packets))
    raw[12:14] = (7).to_bytes(2, "big")  # packet 2 claims 7 bytes; the frame size still fits 3 x 8
    both_refuse(bytes(raw), "packet 2 of 3 at byte 12 has length 7")


def test_a_batch_names_the_frame_that_is_malformed() -> None:
    good = frame(words(INFY, 157315))
    with pytest.raises(TickFrameError, match="frame 2 of the batch: packet 1 of 1 at byte 2 declares 8 bytes"):
        decode_columns_batch([good, HEARTBEAT, good[:-1], good])
    with pytest.raises(TickFrameError, match="frame 1 of the batch: empty binary message"):
        decode_columns_batch([good, b""])


@pytest.mark.parametrize("wrap", [bytearray, memoryview])
def test_any_bytes_like_frame_decodes_as_its_bytes(wrap: Any) -> None:
    raw = frame(full_packet(), full_packet(USDINR))
    mixed = frame(full_packet(), words(INFY, 157315))
    for data in (raw, mixed):
        assert decode_ticks(wrap(data)) == decode_ticks(data)
        for got in (decode_columns(wrap(data)), decode_columns_batch([wrap(data), wrap(data)])):
            want = decode_columns_batch([data] * (len(got) // len(decode_ticks(data))))
            assert all(np.array_equal(getattr(got, n), getattr(want, n), equal_nan=True) for n in ("last_price", "oi"))


def test_a_batch_decodes_frames_and_heartbeats_in_order() -> None:
    a = frame(full_packet(INFY))
    b = frame(words(NIFTY, 1, 2, 3, 4, 5, 6), words(USDINR, 7))
    columns = decode_columns_batch([a, HEARTBEAT, b, b"\x00\x00", a])
    assert columns.kind.tolist() == [184, 28, 8, 184]
    assert columns.instrument_token.tolist() == [INFY, NIFTY, USDINR, INFY]
    uniform = decode_columns_batch([a, HEARTBEAT, a])
    assert uniform.kind.tolist() == [184, 184]
    assert uniform.depth_sell_orders.tolist() == [[7, 8, 9, 10, 11]] * 2


# -- columns -----------------------------------------------------------------------------------------------------


def test_columns_hold_absent_values_where_a_kind_does_not_carry_a_field() -> None:
    raw = frame(words(INFY, 157315), words(NIFTY, 1, 2, 3, 4, 5, 6), full_packet())
    columns = decode_columns(raw)
    assert columns.carries("close").tolist() == [False, True, True]
    assert columns.carries("volume_traded").tolist() == [False, False, True]
    assert columns.carries("depth_buy_price").tolist() == [False, False, True]
    assert np.isnan(columns.close[0]) and np.isnan(columns.change[0])
    assert columns.volume_traded.tolist() == [0, 0, 1_250_000]
    assert np.isnat(columns.last_trade_time[:2]).all()
    assert np.isnan(columns.depth_buy_price[:2]).all()
    assert columns.mode.tolist() == ["ltp", "quote", "full"]
    with pytest.raises(KeyError, match="not a tick field"):
        columns.carries("bid")


def test_packet_kind_gives_indices_their_own_layouts() -> None:
    assert packet_kind(NIFTY, "quote") is PacketKind.INDEX_QUOTE
    assert packet_kind(NIFTY, Mode.FULL) is PacketKind.INDEX_FULL
    assert packet_kind(NIFTY, Mode.LTP) is PacketKind.LTP
    assert packet_kind(INFY, Mode.QUOTE) is PacketKind.QUOTE
    assert packet_kind(INFY, Mode.FULL) is PacketKind.FULL
    assert packet_kinds([INFY, NIFTY, USDINR], Mode.FULL).tolist() == [184, 32, 184]
    assert packet_kinds([INFY, NIFTY], "quote").tolist() == [44, 28]
    assert packet_kinds([INFY, NIFTY], "ltp").tolist() == [8, 8]
    assert [k.mode for k in PacketKind] == ["ltp", "quote", "full", "quote", "full"]


def test_new_columns_repeat_scalars_and_check_shapes() -> None:
    columns = TickColumns.new(PacketKind.LTP, [INFY, INFY + 256], last_price=1.5)
    assert columns.kind.tolist() == [8, 8]
    assert columns.last_price.tolist() == [1.5, 1.5]
    assert columns.tradable.tolist() == [True, True]
    with pytest.raises(TickValueError, match=r"last_price has shape \(3,\); expected \(2,\)"):
        TickColumns.new(PacketKind.LTP, [INFY, INFY], last_price=[1.0, 2.0, 3.0])
    with pytest.raises(TickValueError, match="volume_traded must hold integers, not float64"):
        TickColumns.new(PacketKind.QUOTE, [INFY], volume_traded=[1.5])
    with pytest.raises(TickValueError, match="kind 9 of row 1 is no packet kind"):
        TickColumns.new([8, 9], [INFY, INFY])


def test_columns_for_many_instruments_encode_each_in_its_kind(sdk: KiteTicker) -> None:
    tokens = [INFY, NIFTY, USDINR]
    columns = TickColumns.new(
        packet_kinds(tokens, Mode.FULL),
        tokens,
        last_price=[1573.15, 24000.5, 83.1234567],
        close=[1550.0, 23800.0, 83.0],
        open=0.0,
        high=0.0,
        low=0.0,
        average_traded_price=0.0,
        last_trade_time=np.array([EPOCH * 1000 + 999] * 3, dtype="datetime64[ms]"),  # floored to the second
        exchange_timestamp=EPOCH,  # epoch seconds, repeated for every row
        depth_buy_price=np.zeros((3, 5)),
        depth_sell_price=np.zeros((3, 5)),
    )
    raw = encode_columns(columns)
    assert typed(decode_ticks(raw)) == typed(sdk._parse_binary(raw))
    decoded = decode_columns(raw)
    assert decoded.kind.tolist() == [184, 32, 184]
    assert decoded.last_price.tolist() == [1573.15, 24000.5, 83.1234567]
    assert (decoded.exchange_timestamp == np.datetime64(EPOCH, "s")).all()
    assert decoded.last_trade_time[[0, 2]].tolist() == [datetime.fromtimestamp(EPOCH, UTC).replace(tzinfo=None)] * 2


# -- the encoder's refusals --------------------------------------------------------------------------------------


def full_tick(**changes: Any) -> Tick:
    moment = datetime.fromtimestamp(EPOCH, UTC)
    fields: dict[str, Any] = {
        "instrument_token": INFY,
        "last_price": 1573.15,
        "mode": Mode.FULL,
        "last_traded_quantity": 25,
        "average_traded_price": 1569.8,
        "volume_traded": 1_250_000,
        "total_buy_quantity": 40_000,
        "total_sell_quantity": 50_000,
        "open": 1560.0,
        "high": 1580.0,
        "low": 1555.0,
        "close": 1550.0,
        "last_trade_time": moment - timedelta(seconds=2),
        "oi": 9_000,
        "oi_day_high": 9_500,
        "oi_day_low": 8_000,
        "exchange_timestamp": moment,
        "depth_buy": [DepthLevel(q, p / 100, o) for q, p, o in FULL_DEPTH[:5]],
        "depth_sell": [DepthLevel(q, p / 100, o) for q, p, o in FULL_DEPTH[5:]],
    }
    fields.update(changes)
    return Tick(**fields)


def test_a_full_tick_encodes_to_the_hand_built_packet() -> None:
    assert encode_ticks([full_tick()]) == frame(full_packet())


def test_a_tick_with_fewer_depth_levels_sends_empty_levels() -> None:
    raw = encode_ticks([full_tick(depth_buy=[DepthLevel(5, 1573.0, 1)], depth_sell=[])])
    tick = decode_ticks(raw)[0]
    assert tick["depth"]["buy"][0] == {"quantity": 5, "price": 1573.0, "orders": 1}
    empty = {"quantity": 0, "price": 0.0, "orders": 0}
    assert tick["depth"]["buy"][1:] == [empty] * 4
    assert tick["depth"]["sell"] == [empty] * 5


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"volume_traded": -1}, "volume_traded -1 of row 0: the SDK reads this field as unsigned"),
        ({"oi": 2**32}, "oi 4294967296 of row 0"),
        ({"last_price": -0.05}, "last_price -0.05 of row 0: out of range"),
        ({"high": 42949672.96}, "high 42949672.96 of row 0: out of range"),
        ({"close": 1573.153}, "close 1573.153 of row 0: not on the segment's price grid"),
        ({"average_traded_price": float("nan")}, "average_traded_price nan of row 0: .* missing"),
        ({"low": float("inf")}, "low inf of row 0"),
        ({"exchange_timestamp": None}, "exchange_timestamp .* of row 0: a time the packet carries is missing"),
        ({"last_trade_time": datetime(2026, 1, 1, 9, 15)}, "last_trade_time of row 0 is a naive datetime"),  # noqa: DTZ001
        ({"last_trade_time": datetime(1969, 12, 31, tzinfo=UTC)}, "last_trade_time -86400 of row 0"),
        ({"depth_sell": [DepthLevel(1, 1.0, 65536)]}, "depth_sell_orders 65536 of row 0, level 0: .* 0 to 65535"),
        ({"depth_buy": [DepthLevel(), DepthLevel(-5, 1.0, 1)]}, "depth_buy_quantity -5 of row 0, level 1"),
        ({"depth_buy": [DepthLevel(1, 1573.001, 1)]}, "depth_buy_price 1573.001 of row 0, level 0: not on"),
        ({"depth_buy": [DepthLevel()] * 6}, "depth_buy of row 0 has 6 levels"),
        ({"instrument_token": 2**32 + 1}, "instrument_token 4294967297 of row 0"),
    ],
)
def test_the_encoder_refuses_what_the_sdk_would_misread(changes: dict[str, Any], match: str) -> None:
    with pytest.raises(TickValueError, match=match):
        encode_ticks([full_tick(**changes)])


def test_a_refusal_names_the_row_within_the_frame() -> None:
    with pytest.raises(TickValueError, match="volume_traded -1 of row 2") as caught:
        encode_ticks([full_tick(), full_tick(mode=Mode.LTP), full_tick(volume_traded=-1)])
    assert (caught.value.field, caught.value.row) == ("volume_traded", 2)


def test_a_currency_price_past_what_its_divisor_allows_is_refused() -> None:
    with pytest.raises(TickValueError, match=r"last_price 430\.0 of row 0: out of range"):
        encode_ticks([Tick(USDINR, 430.0, Mode.LTP)])  # 430 * 1e7 > 2**32 - 1
    assert decode_ticks(encode_ticks([Tick(USDINR, 429.0, Mode.LTP)]))[0]["last_price"] == 429.0


def test_fields_a_kind_does_not_carry_are_not_checked() -> None:
    # An LTP packet carries no close or volume: whatever they hold is not sent.
    raw = encode_ticks([full_tick(mode=Mode.LTP, close=float("nan"), volume_traded=-1, exchange_timestamp=None)])
    assert raw == frame(words(INFY, 157315))


def test_more_packets_than_a_frame_can_count_are_refused() -> None:
    columns = TickColumns.new(PacketKind.LTP, np.full(MAX_PACKETS + 1, INFY), last_price=1.0)
    with pytest.raises(TickValueError, match="65536 packets do not fit one frame"):
        encode_columns(columns)
    assert len(encode_columns(TickColumns.new(PacketKind.LTP, np.full(MAX_PACKETS, INFY), last_price=1.0))) == 2 + (
        MAX_PACKETS * 10
    )


def test_no_ticks_encode_to_a_frame_of_zero_packets() -> None:
    assert encode_ticks([]) == b"\x00\x00"
    assert encode_columns(TickColumns.new([], np.zeros(0, dtype=np.int64))) == b"\x00\x00"


def test_index_packets_carry_the_net_change_signed() -> None:
    raw = encode_ticks([Tick(NIFTY, 24000.0, Mode.QUOTE, close=24010.5)])
    assert raw[4 + 24 : 4 + 28] == struct.pack(">i", -1050)


def test_timestamps_are_floored_to_whole_seconds() -> None:
    moment = datetime.fromtimestamp(EPOCH, UTC) + timedelta(milliseconds=999)
    raw = encode_ticks([full_tick(exchange_timestamp=moment)])
    assert decode_columns(raw).exchange_timestamp[0] == np.datetime64(EPOCH, "s")
    other_zone = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert encode_ticks([full_tick(exchange_timestamp=other_zone)]) == raw


# -- property tests --------------------------------------------------------------------------------------------------

UINT32 = st.integers(0, 2**32 - 1)
SEGMENTS = st.sampled_from([*(int(s) for s in Segment), 0, 10, 11, 13, 255])


@st.composite
def packets(draw: st.DrawFn) -> bytes:
    """Any packet of any kind: every field an arbitrary uint32 (pad and net change too), any segment."""
    kind = draw(st.sampled_from(list(PacketKind)))
    token = draw(st.integers(0, 2**24 - 1)) << 8 | draw(SEGMENTS)
    rest = draw(st.lists(UINT32, min_size=kind // 4 - 1, max_size=kind // 4 - 1))
    if draw(st.booleans()):  # a zero close often: the SDK's change then is the integer 0
        close = {28: 4, 32: 4, 44: 9, 184: 9}.get(int(kind))
        if close is not None:
            rest[close] = 0
    return words(token, *rest)


FRAMES = st.lists(packets(), max_size=12).map(lambda p: frame(*p))


@given(raw=FRAMES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_dicts_are_identical_to_the_sdk_parser_in_every_time_zone(sdk: KiteTicker, raw: bytes) -> None:
    for zone in ZONES:
        with local_timezone(zone):
            assert typed(decode_ticks(raw)) == typed(sdk._parse_binary(raw))


@given(raw=FRAMES)
@settings(max_examples=200, deadline=None)
def test_columns_agree_with_the_dicts(raw: bytes) -> None:
    ticks = decode_ticks(raw)
    columns = decode_columns(raw)
    assert len(columns) == len(ticks)
    for row, tick in enumerate(ticks):
        assert columns.mode[row] == tick["mode"]
        assert bool(columns.tradable[row]) is tick["tradable"]
        for key, value in tick.items():
            if key == "ohlc":
                for name, price in value.items():
                    assert getattr(columns, name)[row] == price
            elif key == "depth":
                for side in ("buy", "sell"):
                    for level, entry in enumerate(value[side]):
                        for name in ("quantity", "price", "orders"):
                            assert getattr(columns, f"depth_{side}_{name}")[row, level] == entry[name]
            elif key in ("last_trade_time", "exchange_timestamp"):
                epoch = int(getattr(columns, key)[row].astype("datetime64[s]").astype(np.int64))
                assert local(epoch) == value
            elif key not in ("mode", "tradable"):
                assert getattr(columns, key)[row] == value, key
    # Every field a row's kind does not carry holds its absent value.
    assert np.isnan(columns.last_price[~columns.carries("last_price")]).all()
    assert (columns.volume_traded[~columns.carries("volume_traded")] == 0).all()
    assert np.isnat(columns.exchange_timestamp[~columns.carries("exchange_timestamp")]).all()


@given(raw=st.lists(FRAMES, min_size=1, max_size=5))
@settings(max_examples=100, deadline=None)
def test_a_batch_equals_its_frames_decoded_one_by_one(raw: list[bytes]) -> None:
    batch = decode_columns_batch(raw)
    singles = [decode_columns(f) for f in raw]
    for name in ("kind", "instrument_token", "last_price", "close", "volume_traded", "depth_sell_price"):
        expected = np.concatenate([getattr(s, name) for s in singles])
        np.testing.assert_array_equal(getattr(batch, name), expected)


@given(raw=FRAMES)
@settings(max_examples=200, deadline=None)
def test_encoding_decoded_columns_gives_the_frame_back_up_to_what_the_sdk_ignores(raw: bytes) -> None:
    columns = decode_columns(raw)
    again = encode_columns(columns)
    assert len(again) == len(raw)
    assert typed(decode_ticks(again)) == typed(decode_ticks(raw))
    assert encode_columns(decode_columns(again)) == again  # a frame the encoder made comes back byte for byte


@given(data=st.data())
@settings(max_examples=150, deadline=None)
def test_ticks_round_trip_through_the_encoder(data: st.DataObject) -> None:
    def price(token: int) -> float:
        div = 1e7 if token & 0xFF == 3 else 1e4 if token & 0xFF in (6, 12) else 100.0
        return data.draw(st.integers(0, 2**32 - 1)) / div

    ticks = []
    for _ in range(data.draw(st.integers(0, 6))):
        token = data.draw(st.integers(0, 2**24 - 1)) << 8 | data.draw(SEGMENTS)
        when = datetime.fromtimestamp(data.draw(UINT32), UTC)
        levels = [DepthLevel(data.draw(UINT32), price(token), data.draw(st.integers(0, 2**16 - 1))) for _ in range(5)]
        ticks.append(
            Tick(
                token,
                price(token),
                data.draw(st.sampled_from(list(Mode))),
                last_traded_quantity=data.draw(UINT32),
                average_traded_price=price(token),
                volume_traded=data.draw(UINT32),
                open=price(token),
                high=price(token),
                low=price(token),
                close=price(token),
                last_trade_time=when,
                oi=data.draw(UINT32),
                exchange_timestamp=when,
                depth_buy=levels,
                depth_sell=levels[::-1],
            )
        )
    with local_timezone("UTC0"):
        decoded = decode_ticks(encode_ticks(ticks))
    assert [t["instrument_token"] for t in decoded] == [t.instrument_token for t in ticks]
    for tick, got in zip(ticks, decoded, strict=True):
        assert got["mode"] == tick.mode
        assert got["last_price"] == tick.last_price
        if tick.mode is not Mode.LTP:
            assert got["ohlc"] == {"open": tick.open, "high": tick.high, "low": tick.low, "close": tick.close}
        if got["mode"] == "full" and "depth" in got:
            assert got["last_trade_time"] == tick.last_trade_time.replace(tzinfo=None)  # type: ignore[union-attr]
            assert got["oi"] == tick.oi
            assert got["depth"]["sell"][0] == {
                "quantity": tick.depth_sell[0].quantity,
                "price": tick.depth_sell[0].price,
                "orders": tick.depth_sell[0].orders,
            }
