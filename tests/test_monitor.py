"""The quote monitor against a faulty simulator: every reading present or explained, no 429, clean stops."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from kiteconnect import KiteConnect
from rich.console import Console

from kitekit.cli.monitor_view import run_monitor
from kitekit.clock import ManualClock
from kitekit.errors import SessionExpiredError
from kitekit.monitor import Monitor
from kitekit.quotes import MarketData
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.session import SessionManager, SessionStore
from kitekit.sim.faults import Fault
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.ratelimit import RateLimiter
from kitekit.sim.server import SimServer
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

from .conftest import sim_settings

KEYS = ["NSE:NIFTY 50", "NSE:NIFTY BANK", "NSE:RELIANCE"]
FAST_RATES = {**DEFAULT_RATES, EndpointClass.QUOTE: 20.0}


@pytest.fixture
def manager(sim: SimServer, sim_clock: ManualClock, tmp_path: Path) -> SessionManager:
    """A logged-in manager whose clients pace at 20 quote calls a second, as the simulator now allows."""
    sim.sim.limiter = RateLimiter(FAST_RATES, sim.sim.config.rate_tolerance)
    mgr = SessionManager(
        sim_settings(sim),
        SessionStore(tmp_path / "s.json"),
        clock=sim_clock,
        pacer=Pacer(tmp_path / "p.sqlite3", rates=FAST_RATES),
        retry=RetryPolicy(attempts=4, base=0.01, cap=0.05),
    )
    mgr.login_with_totp()
    return mgr


class Ticker:
    """Time for the monitor: sleeping moves the simulator's clock, so every reading sees a new market second."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        self.clock.advance(timedelta(seconds=seconds))


def monitor_for(manager: SessionManager, sim_clock: ManualClock, count: int, with_ohlc: bool = False) -> Monitor:
    ticker = Ticker(sim_clock)
    return Monitor(
        MarketData(manager.get_kite()),
        KEYS,
        every=1.0,
        count=count,
        with_ohlc=with_ohlc,
        clock=sim_clock,
        sleep=ticker.sleep,
        monotonic=ticker.monotonic,
    )


def test_monitor_finishes_under_faults_with_every_reading_present_or_explained(
    sim: SimServer, manager: SessionManager, sim_clock: ManualClock
) -> None:
    requests.put(
        f"{sim.url}/__sim/faults",
        timeout=5,
        json={
            "network_error_rate": 0.3,
            "drop_rate": 0.1,
            "latency_ms": 20,
            "jitter_ms": 30,
            "seed": 11,
            "paths": ["/quote"],
        },
    ).raise_for_status()
    readings = list(monitor_for(manager, sim_clock, count=25).readings())
    assert len(readings) == 25
    for reading in readings:
        for key in KEYS:
            assert reading.price(key) is not None or reading.gaps[key], (reading.at, key)
    assert sum(r.price(KEYS[0]) is not None for r in readings) >= 20  # retries recovered most of them
    assert sim.sim.faults.injected[Fault.NETWORK] + sim.sim.faults.injected[Fault.DROP] > 5
    assert sim.sim.limiter.rejected == 0


def test_a_reading_that_still_fails_is_a_gap_with_the_reason_and_the_loop_goes_on(
    sim: SimServer, manager: SessionManager, sim_clock: ManualClock
) -> None:
    requests.put(f"{sim.url}/__sim/faults", json={"data_error_rate": 1.0, "paths": ["/quote"]}, timeout=5)
    mon = monitor_for(manager, sim_clock, count=3)
    readings = list(mon.readings())
    assert [r.gaps[KEYS[0]].split(":")[0] for r in readings] == ["DataException (HTTP 502)"] * 3
    requests.delete(f"{sim.url}/__sim/faults", timeout=5)
    assert mon.read_once().price(KEYS[0]) is not None


def test_an_expired_session_stops_the_monitor_with_the_relogin_message(
    sim: SimServer, manager: SessionManager, sim_clock: ManualClock
) -> None:
    mon = monitor_for(manager, sim_clock, count=10)
    readings = mon.readings()
    next(readings)
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    with pytest.raises(SessionExpiredError, match="kitekit login"):
        next(readings)


def test_line_output_has_a_timestamp_and_a_price_or_gap_per_instrument(
    manager: SessionManager, sim_clock: ManualClock
) -> None:
    console = Console(record=True, width=250, file=io.StringIO())
    ticker = Ticker(sim_clock)
    mon = Monitor(
        MarketData(manager.get_kite()),
        [*KEYS, "NSE:NO-SUCH"],
        every=1.0,
        count=3,
        clock=sim_clock,
        sleep=ticker.sleep,
        monotonic=ticker.monotonic,
    )
    run_monitor(mon, console, live=False, csv_path=None)
    lines = console.export_text().splitlines()
    assert len(lines) == 3
    kite = manager.get_kite()
    for second, line in enumerate(lines):
        moment = SIM_NOW + timedelta(seconds=second)
        assert line.startswith(f"{moment:%Y-%m-%d %H:%M:%S}  "), line
        sim_clock.set(moment)  # each line shows the simulator's prices at the moment it is stamped with
        for key, quote in kite.ltp(KEYS).items():
            assert f" {key} {quote['last_price']:,.2f} " in f" {line} ", (key, line)
        assert "NSE:NO-SUCH — gap: Kite returned no data" in line


def test_live_table_shows_change_range_trend_and_age(manager: SessionManager, sim_clock: ManualClock) -> None:
    console = Console(record=True, width=200, file=io.StringIO())
    run_monitor(monitor_for(manager, sim_clock, count=4, with_ohlc=True), console, live=True, csv_path=None)
    text = console.export_text()
    for header in ("instrument", "LTP", "change", "day low", "day high", "trend", "age"):
        assert header in text
    assert "reading 4 of 4" in text
    # The clock stands at the last reading: the simulator's OHLC now is what the last table must show.
    final = manager.get_kite().ohlc(KEYS)
    for key in KEYS:
        last_row = [line for line in text.splitlines() if f" {key} " in line][-1]
        cells = [cell.strip() for cell in last_row.split("│")[1:-1]]
        ltp, ohlc = final[key]["last_price"], final[key]["ohlc"]
        change = ltp - ohlc["close"]
        assert cells[:6] == [
            key,
            f"{ltp:,.2f}",
            f"{change:+,.2f}",
            f"{change * 100 / ohlc['close']:+.2f}",
            f"{ohlc['low']:,.2f}",
            f"{ohlc['high']:,.2f}",
        ]
        assert cells[6] and set(cells[6]) <= set("▁▂▃▄▅▆▇█")  # a sparkline of the four readings
        assert cells[7] == "0s"


def test_csv_records_every_reading(manager: SessionManager, sim_clock: ManualClock, tmp_path: Path) -> None:
    path = tmp_path / "ticks.csv"
    run_monitor(monitor_for(manager, sim_clock, count=2), Console(file=io.StringIO()), live=False, csv_path=path)
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * len(KEYS)
    assert {r["instrument"] for r in rows} == set(KEYS)
    assert all(float(r["last_price"]) > 0 for r in rows)


def test_monitor_refuses_nonsense_settings(manager: SessionManager) -> None:
    data = MarketData(KiteConnect("k"))
    with pytest.raises(ValueError, match="positive"):
        Monitor(data, KEYS, every=0)
    with pytest.raises(ValueError, match="at least one"):
        Monitor(data, [], every=1)
