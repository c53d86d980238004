"""The dict decoder holds off the cyclic GC on big frames, and hands the switch back as it found it."""

from __future__ import annotations

import gc
import struct
from collections.abc import Iterator

import numpy as np
import pytest
from kiteconnect import KiteTicker

from kitekit.errors import TickFrameError
from kitekit.wire.ticks import PacketKind, TickColumns, decode_ticks, encode_columns
from kitekit.wire.ticks.dicts import PAUSE_GC_FROM
from kitekit.wire.ticks.gc_pause import GcPause

EPOCH = 1_764_215_100


def full_frame(n: int) -> bytes:
    """Return a frame of ``n`` full-mode NSE packets."""
    rng = np.random.default_rng(n)
    tokens = (rng.integers(1, 2**20, n) << 8) | 1
    prices = rng.integers(100_000, 200_000, (n, 5)) / 100
    price, quantity = prices[:, 0], rng.integers(0, 10**6, n)
    return encode_columns(
        TickColumns.new(
            PacketKind.FULL,
            tokens,
            **dict.fromkeys(("last_price", "average_traded_price", "open", "high", "low", "close"), price),
            **dict.fromkeys(("last_traded_quantity", "volume_traded", "total_buy_quantity"), quantity),
            **dict.fromkeys(("total_sell_quantity", "oi", "oi_day_high", "oi_day_low"), quantity),
            last_trade_time=EPOCH,
            exchange_timestamp=EPOCH,
            depth_buy_price=prices,
            depth_sell_price=prices,
        )
    )


@pytest.fixture
def collections() -> Iterator[list[int]]:
    """Count the collections that start, with automatic GC on (as a program runs); restore it after."""
    started: list[int] = []

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started.append(info["generation"])

    was = gc.isenabled()
    gc.enable()
    gc.callbacks.append(count)
    try:
        yield started
    finally:
        gc.callbacks.remove(count)
        if not was:
            gc.disable()


def test_a_big_frame_decodes_without_a_collection_and_gc_is_on_again_after(collections: list[int]) -> None:
    raw = full_frame(3000)  # 12,000 tracked containers: 17 young collections if nothing held them off
    gc.collect()
    collections.clear()
    ticks = decode_ticks(raw)
    during = len(collections)  # before anything allocates: the next container starts the deferred collection
    assert during == 0
    assert gc.isenabled()
    assert ticks == KiteTicker("k", "t")._parse_binary(raw)


def test_a_program_that_turned_gc_off_finds_it_off_after_a_big_frame(collections: list[int]) -> None:
    gc.disable()
    decode_ticks(full_frame(PAUSE_GC_FROM + 1))
    assert not gc.isenabled()


def test_a_malformed_big_frame_still_turns_gc_back_on(collections: list[int]) -> None:
    raw = full_frame(PAUSE_GC_FROM + 1)
    with pytest.raises(TickFrameError, match="truncated"):
        decode_ticks(raw[:-1])
    with pytest.raises(TickFrameError, match="trailing"):
        decode_ticks(raw + struct.pack(">H", 0))
    assert gc.isenabled()


def test_overlapping_pauses_turn_gc_on_only_when_the_last_one_ends(collections: list[int]) -> None:
    pause = GcPause()
    # Two threads' decodes interleaved: A in, B in, A out (B still decoding), B out.
    pause.__enter__()
    pause.__enter__()
    assert not gc.isenabled()
    pause.__exit__(None, None, None)
    assert not gc.isenabled()
    pause.__exit__(None, None, None)
    assert gc.isenabled()
