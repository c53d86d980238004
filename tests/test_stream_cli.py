"""The streaming commands on a simulator: ``ticks``, ``monitor --stream``, ``record``, and ``sim --replay``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.bus.server import RedisServer
from kitekit.cli import run
from kitekit.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.ticker import Backoff, Ticker
from kitekit.wire.recording import frames_of, read_recording

from .conftest import eventually
from .stream_helpers import NIFTY, RELIANCE


@pytest.fixture
def on_sim(tmp_path: Path, cli_sim: SimServer, monkeypatch: pytest.MonkeyPatch) -> SimServer:
    """A simulator the commands reach through KITE_SIM_URL, from an empty working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "220")
    for name in ("KITE_API_KEY", "KITE_API_SECRET", "KITE_SIM", "KITE_CONFIG", "KITE_ACCESS_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KITE_SIM_URL", cli_sim.url)
    return cli_sim


def quotes(server: SimServer, *keys: str) -> dict[str, Any]:
    kite = KiteConnect(DEFAULT_API_KEY, root=server.url)
    login_via_redirect(server, kite)
    got: dict[str, Any] = kite.quote(list(keys))
    return got


def test_ticks_prints_a_line_per_tick_with_what_its_mode_carries(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["ticks", "RELIANCE", "NIFTY 50", "--mode", "full", "--count", "2"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    quote = quotes(on_sim, "NSE:RELIANCE", "NSE:NIFTY 50")
    assert len(lines) == 2
    reliance, nifty = lines if "RELIANCE" in lines[0] else lines[::-1]
    depth = quote["NSE:RELIANCE"]["depth"]
    assert reliance.startswith("11:00:00  NSE:RELIANCE  ") and f"{quote['NSE:RELIANCE']['last_price']:,.2f}" in reliance
    assert f"vol {quote['NSE:RELIANCE']['volume']:,}" in reliance and f"bid {depth['buy'][0]['price']:,.2f}" in reliance
    assert nifty.startswith("11:00:00  NSE:NIFTY 50  ") and "vol" not in nifty


def test_monitor_stream_shows_the_polling_monitors_table_fed_by_ticks(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(["monitor", "NIFTY 50", "RELIANCE", "--stream", "--count", "1", "--csv", "seen.csv"]) == 0
    text = capsys.readouterr().out
    for header in ("instrument", "LTP", "change", "day low", "day high", "trend", "age"):
        assert header in text
    quote = quotes(on_sim, "NSE:NIFTY 50", "NSE:RELIANCE")
    for key, typed in (("NSE:NIFTY 50", "NIFTY 50"), ("NSE:RELIANCE", "RELIANCE")):
        row = [line for line in text.splitlines() if f" {typed} " in line][-1]
        cells = [cell.strip() for cell in row.split("│")[1:-1]]
        item = quote[key]
        ohlc = item["ohlc"]
        change = item["last_price"] - ohlc["close"]
        assert cells[:6] == [
            typed,
            f"{item['last_price']:,.2f}",
            f"{change:+,.2f}",
            f"{change * 100 / ohlc['close']:+.2f}",
            f"{ohlc['low']:,.2f}",
            f"{ohlc['high']:,.2f}",
        ]
    assert len((tmp_path / "seen.csv").read_text().splitlines()) == 3


def test_record_writes_the_ticks_and_reports_the_counts(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(["record", "RELIANCE", "NIFTY 50", "--out", "rec", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "Recorded 2 ticks in 1 frames to rec (dropped 0)." in out
    table = read_recording(tmp_path / "rec")
    assert sorted(table.column("instrument_token").to_pylist()) == [NIFTY, RELIANCE]
    assert set(table.column("mode").to_pylist()) == {"full"}


def test_sim_replay_serves_a_recording_to_the_ticker(
    on_sim: SimServer, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert run(["record", "RELIANCE", "NIFTY 50", "--out", "rec", "--count", "2"]) == 0
    recorded = [frame for _, frame in frames_of(read_recording(tmp_path / "rec"))]
    env = {**os.environ, "KITEKIT_DATA_DIR": str(tmp_path / "sim-data")}
    argv = [sys.executable, "-m", "kitekit.cli", "sim", "--port", "0", "--auto-login", "--replay", "rec"]
    with subprocess.Popen([*argv, "--speed", "5"], stdout=subprocess.PIPE, text=True, env=env) as sim:
        try:
            assert sim.stdout is not None
            banner = "".join(sim.stdout.readline() for _ in range(4))
            url = re.search(r"listening on (http://\S+)", banner)
            assert url is not None and "1 recorded frames from rec at 5x" in banner
            kite = KiteConnect(DEFAULT_API_KEY, root=url.group(1))
            login = requests.get(f"{url.group(1)}/connect/login", params={"api_key": DEFAULT_API_KEY, "v": "3"},
                                 allow_redirects=False, timeout=10)  # fmt: skip
            request_token = parse_qs(urlsplit(login.headers["location"]).query)["request_token"][0]
            kite.generate_session(request_token, DEFAULT_API_SECRET)
            got: list[bytes] = []
            ticker = Ticker.from_kite(kite, backoff=Backoff(first=0.05, cap=0.2))
            ticker.on_frame = lambda frame, received: got.append(frame)
            ticker.subscribe([RELIANCE, NIFTY], "full")
            ticker.start()
            try:
                eventually(lambda: len(got) >= len(recorded))
            finally:
                ticker.stop()
            assert got == recorded
        finally:
            sim.terminate()
            sim.wait(30)


def test_record_stopped_by_sigterm_merges_its_parts_and_reports_like_ctrl_c(on_sim: SimServer, tmp_path: Path) -> None:
    import signal

    argv = [sys.executable, "-m", "kitekit.cli", "record", "RELIANCE", "--out", "rec", "--flush-every", "0.1"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as recorder:
        try:
            eventually(lambda: list((tmp_path / "rec").glob("ticks-*.parts/part-*.parquet")), timeout=60)
            recorder.send_signal(signal.SIGTERM)  # what systemd, docker and kill send
            out, err = recorder.communicate(timeout=60)
        finally:
            if recorder.poll() is None:
                recorder.kill()
    assert recorder.returncode == 0, err
    assert re.search(r"Recorded [1-9]\d* ticks in [1-9]\d* frames to rec \(dropped 0\)\.", out), out
    assert not list((tmp_path / "rec").glob("ticks-*.parts/*")) and list((tmp_path / "rec").glob("ticks-*.parquet"))
    assert read_recording(tmp_path / "rec").column("instrument_token").to_pylist()[0] == RELIANCE


def test_ticks_on_the_bus_reads_what_a_feed_serve_process_publishes(
    on_sim: SimServer, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import signal

    argv = [sys.executable, "-m", "kitekit.cli", "feed", "serve", "--bus", redis_server.url]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as owner:
        try:
            assert run(["ticks", "RELIANCE", "--mode", "full", "--count", "1", "--bus", redis_server.url]) == 0
            owner.send_signal(signal.SIGINT)
            _, err = owner.communicate(timeout=60)
        finally:
            if owner.poll() is None:
                owner.kill()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("11:00:00  NSE:RELIANCE  ") and "bid " in lines[0]
    assert owner.returncode == 130 and re.search(r"Published [1-9]\d* frames; took over [1-9]\d* time", err), err
