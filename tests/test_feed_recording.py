"""Another broker's feed recorded in Kite's recording format: typed rows, the broker named, read back as ticks.

Pure and on disk only: the ticks are built here (the CLI tests record the simulators' feeds). Kite's recordings
stay as they were: a file without the broker's name is Kite's, and one folder never mixes two brokers' feeds.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from kitekit.brokers.model import BrokerInstrument, InstrumentKind, Level, Ohlc, Tick
from kitekit.brokers.recording import FeedRecorder, read_feed_recording
from kitekit.clock import IST
from kitekit.errors import BrokerFeatureError, RunError, TickerError
from kitekit.runner.drivers import load_recording
from kitekit.sim.feed import Recording
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.ticker import TickRecorder
from kitekit.wire.recording import BROKER_META, read_recording, recording_source

from .test_tick_recorder import AT_NS, GatedWriter, frame_of

#: RELIANCE and NIFTY 50 as Angel One lists them (its tokens: the exchange type times 10^9 plus Angel's token).
RELIANCE = BrokerInstrument(
    "NSE", "RELIANCE", "RELIANCE", InstrumentKind.EQUITY, "NSE", 0.05, 1, "angel", "NSE|2885", token=1_000_002_885
)
NIFTY = BrokerInstrument(
    "NSE", "NIFTY 50", "NIFTY", InstrumentKind.INDEX, "INDICES", 0.05, 1, "angel", "NSE|99926000", token=1_099_926_000
)
LISTED = {"NSE:RELIANCE": RELIANCE, "NSE:NIFTY 50": NIFTY}
AT = SIM_NOW.astimezone(IST)


def full(price: float, second: int) -> Tick:
    """A full RELIANCE tick ``second`` seconds after SIM_NOW, with three levels a side."""
    return Tick(
        key="NSE:RELIANCE",
        last_price=price,
        mode="full",
        timestamp=AT + timedelta(seconds=second),
        volume=1000 + second,
        last_quantity=7,
        average_price=price - 1,
        oi=0.0,
        ohlc=Ohlc(770.9, 771.65, 755.15, 765.5),
        bids=(Level(price - 0.05, 10, 2), Level(price - 0.1, 20, 3), Level(price - 0.15, 30, 4)),
        asks=(Level(price + 0.05, 11, 1), Level(price + 0.1, 21, 2), Level(price + 0.15, 31, 5)),
    )


def index(price: float, second: int, mode: str = "quote") -> Tick:
    """A NIFTY 50 tick (an index: no volume, no depth)."""
    ohlc = None if mode == "ltp" else Ohlc(25319.65, 25342.6, 25224.2, 25269.8)
    return Tick("NSE:NIFTY 50", price, mode, AT + timedelta(seconds=second), ohlc=ohlc)


def record(folder: Path, frames: list[list[Tick]]) -> FeedRecorder:
    recorder = FeedRecorder(folder, "angel", LISTED, flush_every=0.05).start()
    for i, ticks in enumerate(frames):
        assert recorder.add(ticks, AT_NS + i * 1_000_000)
    return recorder


def test_a_feeds_ticks_are_typed_rows_under_the_brokers_tokens_and_read_back_as_the_same_ticks(
    tmp_path: Path,
) -> None:
    frames = [[full(761.2, 1), index(25245.85, 1)], [index(25248.4, 2, "ltp")], [full(761.15, 3)]]
    stats = record(tmp_path / "rec", frames).close()
    assert (stats.written_frames, stats.written_ticks, stats.dropped_ticks) == (3, 4, 0)
    assert [p.name for p in (tmp_path / "rec").iterdir()] == ["ticks-2026-11-27.parquet"]  # the world's day
    source = recording_source(tmp_path / "rec")
    assert source.broker == "angel" and source.keys == {1_000_002_885: "NSE:RELIANCE", 1_099_926_000: "NSE:NIFTY 50"}
    rows = read_recording(tmp_path / "rec").to_pylist()
    assert [(r["frame"], r["packet"], r["instrument_token"], r["mode"]) for r in rows] == [
        (0, 0, 1_000_002_885, "full"),
        (0, 1, 1_099_926_000, "quote"),
        (1, 0, 1_099_926_000, "ltp"),
        (2, 0, 1_000_002_885, "full"),
    ]
    reliance, nifty, ltp = rows[0], rows[1], rows[2]
    assert reliance["tradable"] and not nifty["tradable"]
    assert (reliance["last_price"], reliance["volume_traded"], reliance["close"]) == (761.2, 1001, 765.5)
    assert reliance["change"] == pytest.approx((761.2 - 765.5) / 765.5 * 100)
    assert reliance["depth_buy_price"] == [lv.price for lv in frames[0][0].bids] + [0.0, 0.0]  # five, as Kite's
    assert reliance["depth_sell_orders"] == [1, 2, 5, 0, 0]
    assert reliance["exchange_timestamp"] == AT + timedelta(seconds=1)
    assert reliance["raw"] == b"" and reliance["total_buy_quantity"] is None  # nothing made up
    assert nifty["depth_buy_price"] is None and nifty["open"] == 25319.65
    assert ltp["open"] is None and ltp["volume_traded"] is None and ltp["last_price"] == 25248.4
    back = read_feed_recording(tmp_path / "rec")
    assert [ticks for _, ticks in back.frames] == frames
    assert [at for at, _ in back.frames] == [AT_NS, AT_NS + 1_000_000, AT_NS + 2_000_000]


def test_a_crash_leaves_readable_parts_that_still_name_the_broker_and_the_next_close_merges_them(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "rec"
    crashed = record(folder, [[full(761.2, 1)], [full(761.3, 2)]])
    assert crashed.flush(timeout=10)  # then the process dies: no close()
    assert any(p.suffix == ".parts" for p in folder.iterdir())
    assert recording_source(folder).broker == "angel" and read_recording(folder).num_rows == 2
    FeedRecorder(folder, "angel", LISTED).start().close()
    assert [p.suffix for p in folder.iterdir()] == [".parquet"]
    assert pq.read_schema(next(folder.iterdir())).metadata[BROKER_META] == b"angel"
    assert [t.last_price for _, ticks in read_feed_recording(folder).frames for t in ticks] == [761.2, 761.3]


def test_a_slow_disk_drops_whole_frames_of_ticks_and_counts_them(tmp_path: Path) -> None:
    writer = GatedWriter()
    recorder = FeedRecorder(tmp_path / "rec", "angel", LISTED, flush_every=60, buffer_ticks=3, writer=writer)
    recorder.start()
    two = [full(761.2, 1), index(25245.85, 1)]
    assert [recorder.add(two, AT_NS), recorder.add(two, AT_NS)] == [True, False]
    assert recorder.add([Tick("NSE:INFY", 1.0, "ltp")], AT_NS)  # not subscribed: nothing to record
    writer.gate.set()
    stats = recorder.close(timeout=30)
    assert (stats.frames, stats.written_ticks, stats.dropped_frames, stats.dropped_ticks) == (2, 2, 1, 2)


def test_one_folder_never_mixes_two_brokers_feeds(tmp_path: Path) -> None:
    kite = TickRecorder(tmp_path / "kite").start()
    kite.add(frame_of(2), AT_NS)
    kite.close()
    with pytest.raises(TickerError, match="the kite feed; this one is the angel feed's"):
        FeedRecorder(tmp_path / "kite", "angel", LISTED).start()
    record(tmp_path / "angel", [[full(761.2, 1)]]).close()
    with pytest.raises(TickerError, match="the angel feed; this one is the kite feed's"):
        TickRecorder(tmp_path / "angel").start()
    with pytest.raises(ValueError, match="TickRecorder"):
        FeedRecorder(tmp_path / "x", "kite", LISTED)


def test_kites_recordings_are_still_kites_and_a_backtest_or_a_replay_refuses_another_brokers(
    tmp_path: Path,
) -> None:
    kite = TickRecorder(tmp_path / "kite").start()
    kite.add(frame_of(2), AT_NS)
    kite.close()
    assert recording_source(tmp_path / "kite").broker == "kite"  # no marker: every recording made before
    assert len(Recording.load(tmp_path / "kite")) == 1
    record(tmp_path / "angel", [[full(761.2, 1)]]).close()
    with pytest.raises(BrokerFeatureError, match=r"Angel One SmartAPI's feed.*from Kite Connect.*--broker angel"):
        load_recording(tmp_path / "angel")
    with pytest.raises(BrokerFeatureError, match=r"Kite Connect's feed.*from Angel One SmartAPI.*--broker kite"):
        load_recording(tmp_path / "kite", broker="angel")
    with pytest.raises(BrokerFeatureError, match="the angel feed: the simulator replays Kite Connect's frames"):
        Recording.load(tmp_path / "angel")
    frames = load_recording(tmp_path / "angel", broker="angel", token={"NSE:RELIANCE": 42}.get)
    [(moment, [tick])] = frames
    assert moment == AT + timedelta(seconds=1) and tick["instrument_token"] == 42 and tick["last_price"] == 761.2
    with pytest.raises(RunError, match="no ticks"):
        load_recording(tmp_path / "angel", broker="angel", token=lambda key: None)  # no instrument the run lists
