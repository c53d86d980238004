"""Live candles: the builder's rules on hand-made ticks, and bars equal to the historical API on the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from kiteconnect import KiteConnect

from kitekit.clock import IST, ManualClock
from kitekit.sim.server import SimServer
from kitekit.ticker import Backoff, Candle, CandleBuilder, Ticker
from kitekit.wire.ticks import PacketKind, TickColumns, decode_columns, encode_columns

from .conftest import eventually
from .stream_helpers import NIFTY, RELIANCE

T0 = datetime(2026, 11, 27, 10, 59, 58, tzinfo=IST)
NIFTY_FUT, NIFTY_CALL = 18200578, 18206210  # NIFTY26DECFUT, NIFTY26DEC25950CE


def tick(token: int, seconds: float, price: float, volume: int | None = None) -> dict[str, Any]:
    """A tick dict as the SDK gives it: the exchange timestamp in naive local time of this machine."""
    out: dict[str, Any] = {
        "instrument_token": token,
        "last_price": price,
        "exchange_timestamp": (T0 + timedelta(seconds=seconds)).astimezone().replace(tzinfo=None),
    }
    if volume is not None:
        out["volume_traded"] = volume
    return out


def bar(builder: CandleBuilder, ticks: list[dict[str, Any]]) -> list[Candle]:
    return [candle for t in ticks for candle in builder.update([t])]


def test_bars_take_open_high_low_close_from_prices_and_volume_from_volume_traded_deltas() -> None:
    builder = CandleBuilder()
    closed = bar(
        builder,
        [
            tick(RELIANCE, 0, 100.0, 1000),  # 10:59:58, in a bar the builder did not see start
            tick(RELIANCE, 1, 100.5, 1010),
            tick(RELIANCE, 2, 101.0, 1030),  # 11:00:00
            tick(RELIANCE, 20, 103.5, 1100),
            tick(RELIANCE, 40, 99.0, 1150),
            tick(RELIANCE, 61, 100.0, 1200),  # 11:00:59
            tick(RELIANCE, 62, 100.5, 1260),  # 11:01:00 closes the 11:00 bar
        ],
    )
    first, whole = closed
    assert first.partial and first.start == datetime(2026, 11, 27, 10, 59, tzinfo=IST)
    assert whole == Candle(RELIANCE, datetime(2026, 11, 27, 11, 0, tzinfo=IST), 101.0, 103.5, 99.0, 100.0, 190, 4)
    forming = builder.forming(RELIANCE)
    assert forming is not None and (forming.open, forming.volume, forming.partial) == (100.5, 60, False)


def test_n_minute_bars_count_from_0915_and_close_on_the_clock_too() -> None:
    closed: list[Candle] = []
    builder = CandleBuilder(minutes=3, on_candle=closed.append)
    bar(builder, [tick(NIFTY, s, 25000.0 + s) for s in (0, 2, 100, 182, 300)])
    # 10:57-11:00 (partial), 11:00-11:03, then 11:03-11:06 is still forming
    assert [(c.start.strftime("%H:%M"), c.open, c.close, c.volume, c.partial) for c in closed] == [
        ("10:57", 25000.0, 25000.0, 0, True),
        ("11:00", 25002.0, 25100.0, 0, False),
    ]
    assert builder.close_until(datetime(2026, 11, 27, 11, 5, 59, tzinfo=IST)) == []
    assert [c.start.strftime("%H:%M") for c in builder.close_until(datetime(2026, 11, 27, 11, 6, tzinfo=IST))] == [
        "11:03"
    ]


def test_a_gap_marks_bars_partial_and_late_ticks_are_counted_not_folded_in() -> None:
    builder = CandleBuilder()
    bar(builder, [tick(RELIANCE, 2, 100.0, 10), tick(RELIANCE, 62, 101.0, 20), tick(RELIANCE, 70, 102.0, 30)])
    builder.gap()
    closed = bar(builder, [tick(RELIANCE, 122, 103.0, 50), tick(RELIANCE, 10, 1.0, 1), tick(RELIANCE, 182, 104.0, 60)])
    assert [(c.start.strftime("%H:%M"), c.partial) for c in closed] == [("11:01", True), ("11:02", True)]
    assert builder.late == 1


def test_columns_build_the_same_bars_as_dicts() -> None:
    stamps = [T0 + timedelta(seconds=s) for s in (2, 30, 61, 62)]
    frames = [
        encode_columns(
            TickColumns.new(
                PacketKind.QUOTE if token == RELIANCE else PacketKind.INDEX_QUOTE,
                [token],
                last_price=[price],
                volume_traded=[volume],
                last_traded_quantity=[0],
                average_traded_price=[price],
                total_buy_quantity=[0],
                total_sell_quantity=[0],
                open=[price],
                high=[price],
                low=[price],
                close=[price],
            )
        )
        for token, price, volume in [
            (RELIANCE, 100.0, 5),
            (RELIANCE, 101.0, 9),
            (RELIANCE, 99.5, 12),
            (RELIANCE, 98.0, 20),
        ]
    ]
    by_columns, by_dicts = CandleBuilder(), CandleBuilder()
    out_columns = [
        c for frame, at in zip(frames, stamps, strict=True) for c in by_columns.update(decode_columns(frame), at)
    ]
    out_dicts = [
        c
        for at, (price, volume) in zip(stamps, [(100.0, 5), (101.0, 9), (99.5, 12), (98.0, 20)], strict=True)
        for c in by_dicts.update([{"instrument_token": RELIANCE, "last_price": price, "volume_traded": volume}], at)
    ]
    assert out_columns == out_dicts and len(out_columns) == 1  # quote ticks are placed by arrival time


def test_a_bar_lasts_at_least_a_minute() -> None:
    with pytest.raises(ValueError, match="at least one minute"):
        CandleBuilder(minutes=0)


def test_live_bars_on_the_simulator_equal_the_historical_candles_of_the_same_minutes(
    unlimited: object, sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    sim_clock.set(datetime(2026, 11, 27, 10, 59, 59, tzinfo=IST))
    minute: list[Candle] = []
    three: list[Candle] = []
    builders = [CandleBuilder(1, minute.append), CandleBuilder(3, three.append)]
    ticker = Ticker.from_kite(sim_kite, backoff=Backoff(first=0.05, cap=0.2))

    def on_ticks(ticks: list[dict[str, Any]]) -> None:
        for builder in builders:
            builder.update(ticks)

    ticker.on_ticks = on_ticks
    tokens = [RELIANCE, NIFTY, NIFTY_FUT, NIFTY_CALL]
    ticker.subscribe(tokens, "full")
    ticker.start()
    try:
        eventually(lambda: ticker.stats.ticks >= len(tokens))
        sim_clock.advance(6 * 60 + 1)  # to 11:06:00: the feed catches up every second in between
        eventually(lambda: len(minute) >= 7 * len(tokens), timeout=30)
    finally:
        ticker.stop()
    assert np.all([c.partial == (c.start.minute == 59) for c in minute])
    for interval, bars, count in (("minute", minute, 6), ("3minute", three, 2)):
        for token in tokens:
            live = [c for c in bars if c.instrument_token == token and not c.partial]
            history = sim_kite.historical_data(token, live[0].start, live[-1].start, interval)
            assert len(live) == count
            assert [(c.start, c.open, c.high, c.low, c.close, c.volume) for c in live] == [
                (h["date"], h["open"], h["high"], h["low"], h["close"], h["volume"]) for h in history
            ]
