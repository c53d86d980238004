"""Recording ticks to daily Parquet files and replaying them: typed rows, raw frames, slow disks, crashes."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.feed import Recording
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW, login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.ticker import Backoff, Ticker, TickRecorder
from kitekit.wire.recording import frames_of, read_recording, write_part
from kitekit.wire.ticks import PacketKind, TickColumns, decode_columns_batch, encode_columns

from .conftest import eventually
from .stream_helpers import INFY, NIFTY, RELIANCE
from .test_sim_kiteticker import probe_result, start_probe

#: When the frames of the recorder-only tests arrive: SIM_NOW, so the day files they make never depend on today.
AT_NS = int(SIM_NOW.timestamp()) * 1_000_000_000

FAST = Backoff(first=0.05, cap=0.2)


def record_from(kite: KiteConnect, clock: ManualClock, folder: Path, seconds: int = 4) -> list[bytes]:
    """Record a few seconds of RELIANCE (full), NIFTY 50 (quote) and INFY (ltp); return the frames received."""
    frames: list[bytes] = []
    recorder = TickRecorder(folder, flush_every=0.05).start()
    ticker = Ticker.from_kite(kite, backoff=FAST)

    def on_frame(frame: bytes, received_ns: int) -> None:
        frames.append(frame)
        recorder.add(frame, received_ns)

    ticker.on_frame = on_frame
    ticker.subscribe([RELIANCE], "full")
    ticker.subscribe([NIFTY], "quote")
    ticker.subscribe([INFY], "ltp")
    ticker.start()
    try:
        eventually(lambda: ticker.stats.ticks >= 3)
        for _ in range(seconds):
            count = len(frames)
            clock.advance(1)
            eventually(lambda: len(frames) > count)  # noqa: B023 - called at once
    finally:
        ticker.stop()
    stats = recorder.close()
    assert stats.dropped_ticks == 0 and stats.written_frames == len(frames)
    return frames


def frame_of(n: int) -> bytes:
    """A frame of ``n`` quote ticks."""
    tokens = np.arange(n, dtype=np.int64) * 256 + 1 + 256
    price = np.full(n, 100.0)
    quantity = np.zeros(n, dtype=np.int64)
    return encode_columns(
        TickColumns.new(
            PacketKind.QUOTE,
            tokens,
            last_price=price,
            last_traded_quantity=quantity,
            average_traded_price=price,
            volume_traded=quantity,
            total_buy_quantity=quantity,
            total_sell_quantity=quantity,
            open=price,
            high=price,
            low=price,
            close=price,
        )
    )


def test_a_recording_holds_one_typed_row_per_tick_and_its_raw_packets_rebuild_every_frame(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, tmp_path: Path
) -> None:
    frames = record_from(sim_kite, sim_clock, tmp_path / "rec")
    files = sorted(p.name for p in (tmp_path / "rec").iterdir())
    assert len(files) == 1 and files[0].startswith("ticks-") and files[0].endswith(".parquet")  # parts merged
    table = read_recording(tmp_path / "rec")
    assert [frame for _, frame in frames_of(table)] == frames
    columns = decode_columns_batch(frames)
    assert table.num_rows == len(columns)
    assert table.column("last_price").to_pylist() == columns.last_price.tolist()
    assert table.column("instrument_token").to_pylist() == columns.instrument_token.tolist()
    rows = table.to_pylist()
    infy = next(r for r in rows if r["instrument_token"] == INFY)
    nifty = next(r for r in rows if r["instrument_token"] == NIFTY)
    reliance = next(r for r in rows if r["instrument_token"] == RELIANCE and r["mode"] == "full")
    assert (infy["mode"], infy["volume_traded"], infy["open"]) == ("ltp", None, None)
    assert nifty["volume_traded"] is None and nifty["open"] > 0 and nifty["depth_buy_price"] is None
    assert reliance["volume_traded"] > 0 and len(reliance["depth_sell_price"]) == 5
    assert reliance["exchange_timestamp"].tzinfo is not None
    assert table.schema.field("received_at").type == pa.timestamp("ns", tz="UTC")


def test_a_crash_loses_at_most_the_last_flush_and_the_next_close_merges_the_parts(tmp_path: Path) -> None:
    folder = tmp_path / "rec"
    crashed = TickRecorder(folder, flush_every=60).start()
    for i in range(5):
        crashed.add(frame_of(3), AT_NS + i)
    assert crashed.flush(timeout=10)
    crashed.add(frame_of(3), AT_NS + 99)  # never flushed: what a crash loses
    # The process dies here: no close(). What was flushed is on disk, in parts.
    assert read_recording(folder).num_rows == 15
    assert any(p.suffix == ".parts" for p in folder.iterdir())
    TickRecorder(folder).start().close()
    assert [p.suffix for p in folder.iterdir()] == [".parquet"] and read_recording(folder).num_rows == 15


class GatedWriter:
    """A disk that takes as long as the test wants: each write waits for ``gate``."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls = 0

    def __call__(self, folder: Path, table: Any, name: str) -> Any:
        self.calls += 1
        assert self.gate.wait(30)
        return write_part(folder, table, name)


def test_a_slow_disk_never_blocks_the_caller_and_every_dropped_tick_is_counted(tmp_path: Path) -> None:
    writer = GatedWriter()
    recorder = TickRecorder(tmp_path / "rec", flush_every=60, buffer_ticks=50, writer=writer).start()
    frame = frame_of(10)
    first = [recorder.add(frame, AT_NS) for _ in range(100)]
    assert first.count(True) == 5  # 50 ticks fit; the other 95 frames are dropped, not waited for
    recorder.flush(timeout=0)
    eventually(lambda: writer.calls == 1)  # the writer is stuck on the disk with those 5 frames…
    # …and the socket goes on: each add() returns at once, dropping while the ticks in flight fill the buffer.
    second = [recorder.add(frame, AT_NS) for _ in range(20)]
    assert second.count(True) == 0
    stats = recorder.stats
    assert (stats.frames, stats.dropped_frames, stats.dropped_ticks, stats.written_ticks) == (120, 115, 1150, 0)
    writer.gate.set()
    eventually(lambda: recorder.stats.written_ticks == 50)
    assert recorder.add(frame, AT_NS)  # room again once the disk caught up
    stats = recorder.close(timeout=30)
    assert (stats.written_frames, stats.written_ticks, stats.dropped_ticks, stats.pending_ticks) == (6, 60, 1150, 0)
    assert read_recording(tmp_path / "rec").num_rows == 60


def test_a_slow_disk_with_room_in_the_buffer_loses_nothing(tmp_path: Path) -> None:
    writer = GatedWriter()
    recorder = TickRecorder(tmp_path / "rec", flush_every=0.01, writer=writer).start()
    for i in range(50):
        assert recorder.add(frame_of(20), AT_NS + i)
        if i == 10:
            eventually(lambda: writer.calls == 1)
    writer.gate.set()
    stats = recorder.close(timeout=30)
    assert (stats.dropped_ticks, stats.written_ticks) == (0, 1000)
    assert read_recording(tmp_path / "rec").num_rows == 1000


def test_recorder_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="flush_every"):
        TickRecorder(tmp_path, flush_every=0)
    with pytest.raises(ValueError, match="at least one tick"):
        TickRecorder(tmp_path, buffer_ticks=0)


@pytest.fixture
def replay_sim(sim_market: Market, sim_clock: ManualClock) -> Any:
    servers: list[SimServer] = []

    def start(folder: Path, speed: float = 5.0) -> SimServer:
        server = SimServer(SimConfig(), sim_clock, market=sim_market)
        server.sim.feed.replay(Recording.load(folder), speed)
        servers.append(server.start())
        return server

    yield start
    for server in servers:
        server.stop()


def test_a_replay_serves_kitekits_ticker_the_recorded_frames_again_in_order(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, tmp_path: Path, replay_sim: Any
) -> None:
    recorded = record_from(sim_kite, sim_clock, tmp_path / "rec")
    server = replay_sim(tmp_path / "rec")
    kite = KiteConnect(server.sim.config.api_key, root=server.url)
    login_via_redirect(server, kite)
    got: list[bytes] = []
    ticker = Ticker.from_kite(kite, backoff=FAST)
    ticker.on_frame = lambda frame, received: got.append(frame)
    ticker.subscribe([RELIANCE], "full")
    ticker.subscribe([NIFTY], "quote")
    ticker.subscribe([INFY], "ltp")
    ticker.start()
    try:
        eventually(lambda: len(got) >= len(recorded))
    finally:
        ticker.stop()
    assert got == recorded
    assert server.sim.feed.info()["source"] == "replay"


def test_a_replay_serves_the_official_sdk_and_cuts_packets_to_the_mode_it_asks_for(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, tmp_path: Path, replay_sim: Any
) -> None:
    recorded = record_from(sim_kite, sim_clock, tmp_path / "rec")
    server = replay_sim(tmp_path / "rec")
    kite = KiteConnect(server.sim.config.api_key, root=server.url)
    login_via_redirect(server, kite)
    # Only RELIANCE, and each of its packets cut to its first 8 bytes: the token and the last price.
    expected = []
    for frame in recorded:
        if RELIANCE in decode_columns_batch([frame]).instrument_token.tolist():
            at = frame.index(RELIANCE.to_bytes(4, "big"))
            expected.append(b"\x00\x01\x00\x08" + frame[at : at + 8])
    with start_probe(server.ws_url, kite, "ltp", len(expected), [RELIANCE]) as probe:
        result = probe_result(probe)
    assert result["frames"] == expected
    assert {t["mode"] for t in result["ticks"]} == {"ltp"}
