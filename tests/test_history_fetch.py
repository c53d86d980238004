"""Candles of any length over the simulator: windows at Kite's exact limits, seams, IST, oi, continuous, pace."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect.exceptions import NetworkException

from kitekit.clock import IST, ManualClock
from kitekit.history import History
from kitekit.instruments import InstrumentStore
from kitekit.rest.transport import KiteTransport
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.wire.candles import CANDLE_COLUMNS
from kitekit.wire.history import Interval
from tests.history_helpers import RELIANCE, historical_requests, pace, record, set_faults

SECOND = timedelta(seconds=1)


@pytest.fixture
def history(sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path) -> History:
    """A store-less History on an unpaced client (tests that need Kite's pace build their own)."""
    return History(pace(sim_kite, tmp_path, paced=False), sim_instruments, clock=sim_clock)


def reference(sim: SimServer, token: int, interval: Interval, start: datetime, end: datetime) -> list[Any]:
    """The simulator's candles for the whole range in one piece, straight from its market model."""
    market = sim.sim.market
    uni = market.universe(SIM_NOW)
    row = uni.resolve(str(token))
    assert row is not None
    return market.candles(uni, row, interval, start, end, SIM_NOW)


@pytest.mark.usefixtures("unlimited")
@pytest.mark.parametrize("interval", [i for i in Interval if i.intraday], ids=str)
def test_an_intraday_range_exactly_at_the_limit_is_one_request_the_simulator_serves(
    sim: SimServer, history: History, interval: Interval
) -> None:
    sent = record(history.kite)
    start = SIM_NOW - timedelta(days=interval.max_days)
    frame = history.candles(RELIANCE, interval, start, SIM_NOW)
    assert [(s.start, s.end) for s in sent] == [(start, SIM_NOW)]
    assert len(frame) == len(reference(sim, RELIANCE, interval, start, SIM_NOW)) > 0


@pytest.mark.usefixtures("unlimited")
@pytest.mark.parametrize("interval", [i for i in Interval if i.intraday], ids=str)
def test_one_second_over_the_limit_takes_two_requests_one_second_apart(
    sim: SimServer, history: History, interval: Interval
) -> None:
    sent = record(history.kite)
    start = SIM_NOW - timedelta(days=interval.max_days) - SECOND
    frame = history.candles(RELIANCE, interval, start, SIM_NOW)
    assert sorted((s.start, s.end) for s in sent) == [
        (start, start + timedelta(days=interval.max_days)),
        (start + timedelta(days=interval.max_days) + SECOND, SIM_NOW),
    ]
    assert historical_requests(sim) == 2  # both accepted: no span over the limit reached the simulator
    expected = reference(sim, RELIANCE, interval, start, SIM_NOW)
    assert frame.index.tolist() == [pd.Timestamp(c[0]) for c in expected]


@pytest.mark.usefixtures("unlimited")
def test_day_candles_at_the_limit_are_one_request_and_a_day_more_is_two(sim: SimServer, history: History) -> None:
    sent = record(history.kite)
    last = SIM_NOW.date()
    first = last - timedelta(days=Interval.DAY.max_days)
    at_limit = history.candles(RELIANCE, "day", first, last)
    assert [(s.start.date(), s.end.date()) for s in sent] == [(first, last)]
    sent.clear()
    over = history.candles(RELIANCE, "day", first - timedelta(days=1), last)
    assert sorted((s.start.date(), s.end.date()) for s in sent) == [
        (first - timedelta(days=1), last - timedelta(days=1)),
        (last, last),
    ]
    assert len(over) == len(at_limit) + (1 if (first - timedelta(days=1)).weekday() < 5 else 0)
    assert over.index.is_unique


@pytest.mark.usefixtures("unlimited")
def test_a_candle_on_a_seam_is_in_the_answer_once(sim: SimServer, history: History) -> None:
    # Windows of 60 days from 09:15 end on a 09:15 candle (a Tuesday's): the seam candle of the first window.
    start = datetime(2026, 7, 3, 9, 15, tzinfo=IST)
    seam = start + timedelta(days=60)
    frame = history.candles(RELIANCE, Interval.MINUTE, start, seam + timedelta(days=30))
    assert frame.index.is_unique and frame.index.is_monotonic_increasing
    assert (frame.index == pd.Timestamp(seam)).sum() == 1
    expected = reference(sim, RELIANCE, Interval.MINUTE, start, seam + timedelta(days=30))
    assert frame.index.tolist() == [pd.Timestamp(c[0]) for c in expected]
    assert frame["close"].tolist() == [c[4] for c in expected]


@pytest.mark.usefixtures("unlimited")
def test_day_candles_sit_at_ist_midnight_on_their_trading_date(history: History) -> None:
    # 20:00 UTC on the 19th is 01:30 IST on the 20th: the range starts with the candle of the 20th.
    frame = history.candles("NIFTY 50", "day", datetime(2026, 11, 19, 20, 0, tzinfo=UTC), date(2026, 11, 27))
    assert str(frame.index.dtype) == "datetime64[us, Asia/Kolkata]"
    assert [t.date() for t in frame.index] == [date(2026, 11, d) for d in (20, 23, 25, 26, 27)]  # 24th: a holiday
    index = pd.DatetimeIndex(frame.index)
    assert (index == index.normalize()).all()
    assert frame.index[0].tz_convert("UTC") == pd.Timestamp("2026-11-19 18:30", tz="UTC")


@pytest.mark.usefixtures("unlimited")
def test_oi_adds_a_column_and_is_asked_for_on_the_wire(sim: SimServer, history: History) -> None:
    sent = record(history.kite)
    future = history.instruments.nearest_future("NIFTY")
    with_oi = history.candles(future.key, "15minute", date(2026, 11, 20), SIM_NOW, oi=True)
    without = history.candles(future.key, "15minute", date(2026, 11, 20), SIM_NOW)
    assert [s.oi for s in sent] == [True, False]
    assert list(with_oi.columns) == [*CANDLE_COLUMNS, "oi"] and (with_oi["oi"] > 0).all()
    assert list(without.columns) == list(CANDLE_COLUMNS)
    pd.testing.assert_frame_equal(with_oi[list(CANDLE_COLUMNS)], without)


@pytest.mark.usefixtures("unlimited")
def test_continuous_day_candles_run_back_past_the_contracts_own_listing(history: History) -> None:
    sent = record(history.kite)
    future = history.instruments.nearest_future("NIFTY")
    start = date(2025, 11, 27)
    own = history.candles(future.key, "day", start, SIM_NOW)
    stitched = history.candles(future.key, "day", start, SIM_NOW, continuous=True)
    assert [s.continuous for s in sent] == [False, True]
    assert own.index[0].date() > date(2026, 8, 1)  # the simulator lists a contract 100 days before expiry
    assert stitched.index[0].date() < date(2025, 12, 1) and len(stitched) > 200
    assert stitched.index[-1] == own.index[-1]


class CountingTransport(KiteTransport):
    """The usual transport, counting requests in flight at once."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lock = threading.Lock()
        self.now = self.most = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            return super().send(request, *args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


@pytest.mark.usefixtures("unlimited")
def test_several_windows_are_in_flight_at_once_up_to_the_concurrency(
    sim: SimServer, sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock
) -> None:
    counting = CountingTransport()
    sim_kite.reqsession.mount("http://", counting)
    set_faults(sim, latency_ms=150, paths=["/instruments/historical"])
    history = History(sim_kite, sim_instruments, clock=sim_clock, concurrency=4)
    frame = history.candles(RELIANCE, "5minute", SIM_NOW - timedelta(days=750), SIM_NOW)
    assert historical_requests(sim) == 8
    assert counting.most == 4
    assert frame.index.is_unique and len(frame) > 30_000


def test_windows_leave_at_kites_pace_and_never_meet_a_429(
    sim: SimServer, sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    # The simulator enforces 3/s per api_key on historical requests; six windows in flight would burst.
    assert sim.sim.config.rate_limit_enabled
    sent = record(pace(sim_kite, tmp_path))
    history = History(sim_kite, sim_instruments, clock=sim_clock, concurrency=6)
    frame = history.candles(RELIANCE, "15minute", SIM_NOW - timedelta(days=1300), SIM_NOW)
    assert len(sent) == historical_requests(sim) == 7
    assert sim.sim.limiter.rejected == 0
    assert frame.index.is_unique and frame.index.is_monotonic_increasing


def test_an_unpaced_burst_of_the_same_windows_is_rate_limited(
    sim: SimServer, sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock
) -> None:
    # The control for the test above: the same fetch on a bare SDK client (no pacer) meets the limit.
    history = History(sim_kite, sim_instruments, clock=sim_clock, concurrency=6)
    with pytest.raises(NetworkException, match="Too many requests"):
        history.candles(RELIANCE, "15minute", SIM_NOW - timedelta(days=1300), SIM_NOW)
    assert sim.sim.limiter.rejected > 0
