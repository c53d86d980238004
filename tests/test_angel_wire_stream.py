"""WebSocket 2.0 packets: kitekit's encoder and decoder against the official SDK's parser, and malformed bytes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kitekit.wire.angel.stream import (
    PACKET_SIZE,
    AngelTick,
    ExchangeType,
    Level,
    PacketError,
    StreamMode,
    decode,
    encode,
)

i64 = st.integers(-(2**63), 2**63 - 1)
paise = st.integers(0, 10**12)
u16 = st.integers(0, 2**16 - 1)
tokens = st.text(alphabet="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-", min_size=1, max_size=25)
quantities = st.floats(min_value=0, max_value=1e15, allow_nan=False)
five = st.lists(st.builds(Level, st.integers(0, 10**12), paise, u16), min_size=5, max_size=5).map(tuple)
twenty = st.lists(
    st.builds(Level, st.integers(0, 2**31 - 1), st.integers(0, 2**31 - 1), st.integers(0, 2**15 - 1)),
    min_size=20,
    max_size=20,
).map(tuple)


@st.composite
def ticks(draw: st.DrawFn) -> AngelTick:
    mode = draw(st.sampled_from(list(StreamMode)))
    common: dict[str, Any] = {
        "mode": mode,
        "exchange_type": draw(st.sampled_from(list(ExchangeType))),
        "token": draw(tokens),
        "sequence_number": draw(i64),
        "exchange_timestamp": draw(i64),
    }
    if mode is StreamMode.DEPTH:
        return AngelTick(**common, depth_buy=draw(twenty), depth_sell=draw(twenty))
    common["last_traded_price"] = draw(paise)
    if mode is StreamMode.LTP:
        return AngelTick(**common)
    quote: dict[str, Any] = {
        name: draw(paise)
        for name in ("last_traded_quantity", "average_traded_price", "volume", "open", "high", "low", "close")
    }
    quote["total_buy_quantity"] = draw(quantities)
    quote["total_sell_quantity"] = draw(quantities)
    if mode is StreamMode.QUOTE:
        return AngelTick(**common, **quote)
    snap: dict[str, Any] = {
        name: draw(paise) for name in ("last_traded_timestamp", "open_interest", "upper_circuit", "lower_circuit")
    }
    snap.update(week52_high=draw(paise), week52_low=draw(paise), open_interest_change=0)
    return AngelTick(**common, **quote, **snap, best_five_buy=draw(five), best_five_sell=draw(five))


def sdk_parser(smartapi: dict[str, Any]) -> Any:
    # The parser needs no connection: an instance without __init__ makes no log folder.
    cls = smartapi["ws2"].SmartWebSocketV2
    return cls.__new__(cls)


def same_as_sdk(tick: AngelTick, parsed: dict[str, Any]) -> None:
    """Assert the SDK's dict says what kitekit's decoder says, field by field."""
    assert parsed["subscription_mode"] == tick.mode
    assert parsed["exchange_type"] == tick.exchange_type
    assert parsed["token"] == tick.token
    assert parsed["exchange_timestamp"] == tick.exchange_timestamp
    if tick.mode is StreamMode.DEPTH:
        assert parsed["packet_received_time"] == tick.exchange_timestamp
        for side, levels in (("depth_20_buy_data", tick.depth_buy), ("depth_20_sell_data", tick.depth_sell)):
            got = [(d["quantity"], d["price"], d["num_of_orders"]) for d in parsed[side]]
            assert got == [(lvl.quantity, lvl.price, lvl.orders) for lvl in levels]
        return
    assert parsed["sequence_number"] == tick.sequence_number
    assert parsed["last_traded_price"] == tick.last_traded_price
    if tick.mode is StreamMode.LTP:
        return
    pairs = {
        "last_traded_quantity": tick.last_traded_quantity,
        "average_traded_price": tick.average_traded_price,
        "volume_trade_for_the_day": tick.volume,
        "total_buy_quantity": tick.total_buy_quantity,
        "total_sell_quantity": tick.total_sell_quantity,
        "open_price_of_the_day": tick.open,
        "high_price_of_the_day": tick.high,
        "low_price_of_the_day": tick.low,
        "closed_price": tick.close,
    }
    if tick.mode is StreamMode.SNAP_QUOTE:
        pairs.update(
            {
                "last_traded_timestamp": tick.last_traded_timestamp,
                "open_interest": tick.open_interest,
                "open_interest_change_percentage": tick.open_interest_change,
                "upper_circuit_limit": tick.upper_circuit,
                "lower_circuit_limit": tick.lower_circuit,
                "52_week_high_price": tick.week52_high,
                "52_week_low_price": tick.week52_low,
            }
        )
        # The SDK files flag-0 rows under "buy" and then swaps its two lists: its best_5_buy_data ends up
        # holding the flag-1 rows, kitekit's bids.
        for side, levels in (("best_5_buy_data", tick.best_five_buy), ("best_5_sell_data", tick.best_five_sell)):
            got = [(d["quantity"], d["price"], d["no of orders"]) for d in parsed[side]]
            assert got == [(lvl.quantity, lvl.price, lvl.orders) for lvl in levels]
    for key, value in pairs.items():
        assert parsed[key] == value, key


# The fixture only hands over the SDK's modules: nothing in it changes from one example to the next.
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tick=ticks())
def test_every_encoded_packet_decodes_alike_in_kitekit_and_the_sdk(smartapi: dict[str, Any], tick: AngelTick) -> None:
    data = encode(tick)
    assert len(data) == PACKET_SIZE[tick.mode]
    assert decode(data) == tick
    same_as_sdk(tick, sdk_parser(smartapi)._parse_binary_data(data))


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"", "empty"),
        (bytes([9]) + bytes(50), "unknown subscription mode"),
        (bytes([1]) + bytes(49), "is 51 bytes"),
        (bytes([2]) + bytes(122 + 1), "is 123 bytes"),
        (bytes([3]) + bytes(377), "is 379 bytes"),
        (bytes([4]) + bytes(443), "is 443 bytes"),
        (bytes([1, 1]) + b"\xff" * 25 + bytes(24), "not ASCII"),
    ],
)
def test_malformed_packets_are_refused_with_a_reason(data: bytes, why: str) -> None:
    with pytest.raises(PacketError, match=why):
        decode(data)


def test_a_token_longer_than_25_characters_cannot_be_encoded() -> None:
    with pytest.raises(PacketError, match="25 ASCII"):
        encode(AngelTick(StreamMode.LTP, 1, "9" * 26, 0, 0, 100))


def test_the_sdk_wrote_no_log_folder_for_a_parser_alone(smartapi: dict[str, Any]) -> None:
    from pathlib import Path

    sdk_parser(smartapi)._parse_binary_data(encode(AngelTick(StreamMode.LTP, 1, "2885", 1, 2, 3)))
    assert not Path("logs").exists()
