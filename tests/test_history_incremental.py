"""The candle store over the simulator: only what is missing is fetched, forming candles refreshed, crashes, faults."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import DataException

from kitekit.clock import IST, ManualClock
from kitekit.history import CandleStore, History
from kitekit.history.client import series_of
from kitekit.history.rules import complete_until
from kitekit.instruments import InstrumentStore
from kitekit.rest.retry import RetryPolicy
from kitekit.rest.transport import install_transport
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.wire.history import Interval
from tests.history_helpers import RELIANCE, fresh, historical_requests, pace, record, set_faults

pytestmark = pytest.mark.usefixtures("unlimited")

INFY = 408065
SECOND = timedelta(seconds=1)


@pytest.fixture
def kept(sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path) -> History:
    """A History that keeps candles in a store of its own, on an unpaced client and the simulator's clock."""
    store = CandleStore(tmp_path / "candles.duckdb")
    return History(pace(sim_kite, tmp_path, paced=False), sim_instruments, store, clock=sim_clock)


def test_a_repeated_request_fetches_only_the_candles_still_forming(sim: SimServer, kept: History) -> None:
    start = SIM_NOW - timedelta(days=150)
    first = kept.candles(RELIANCE, "minute", start, SIM_NOW)
    assert historical_requests(sim) == 3
    sent = record(kept.kite)
    again = kept.candles(RELIANCE, "minute", start, SIM_NOW)
    # The last window ended at 11:00, when the 11:00 candle was forming: only the tail is asked for again,
    # from the last closed candle stored (10:58), which is re-read to check Kite has not rewritten history.
    assert [(s.start, s.end) for s in sent] == [(SIM_NOW - timedelta(minutes=2), SIM_NOW)]
    pd.testing.assert_frame_equal(again, first)
    pd.testing.assert_frame_equal(again, fresh(kept, RELIANCE, "minute", start, SIM_NOW))


def test_a_range_that_ended_before_today_is_fetched_once(sim: SimServer, kept: History) -> None:
    end = datetime(2026, 11, 20, 23, 59, tzinfo=IST)
    first = kept.candles(RELIANCE, "5minute", end - timedelta(days=250), end)
    assert historical_requests(sim) == 3
    again = kept.candles(RELIANCE, "5minute", end - timedelta(days=100), end - timedelta(days=10))
    assert historical_requests(sim) == 3
    assert again.index.isin(first.index).all() and len(again) == 4500  # 60 sessions of 75 candles


def test_a_longer_range_fetches_only_the_part_not_yet_stored(sim: SimServer, kept: History) -> None:
    kept.candles(INFY, "15minute", SIM_NOW - timedelta(days=100), SIM_NOW)
    sent = record(kept.kite)
    start = SIM_NOW - timedelta(days=300)
    longer = kept.candles(INFY, "15minute", start, SIM_NOW)
    assert sorted((s.start, s.end) for s in sent) == [
        (start, SIM_NOW - timedelta(days=100) - SECOND),
        (SIM_NOW - timedelta(minutes=30), SIM_NOW),  # from the last closed candle stored: 10:45 closed since
    ]
    pd.testing.assert_frame_equal(longer, fresh(kept, INFY, "15minute", start, SIM_NOW))


def test_todays_forming_candles_are_refetched_and_replaced_not_duplicated(
    sim: SimServer, kept: History, sim_clock: ManualClock
) -> None:
    start = SIM_NOW - timedelta(days=3)
    before = kept.candles(RELIANCE, "minute", start)
    day_before = kept.candles(RELIANCE, "day", start)
    sim_clock.advance(timedelta(minutes=45))
    after = kept.candles(RELIANCE, "minute", start)
    day_after = kept.candles(RELIANCE, "day", start)
    assert after.index.is_unique and len(after) == len(before) + 45
    assert after.loc[before.index[-1], "volume"] > before["volume"].iloc[-1]  # 11:00 was partial, now closed
    pd.testing.assert_frame_equal(after, fresh(kept, RELIANCE, "minute", start))
    assert len(day_after) == len(day_before) and day_after["volume"].iloc[-1] > day_before["volume"].iloc[-1]
    pd.testing.assert_frame_equal(day_after, fresh(kept, RELIANCE, "day", start))


def test_an_interrupted_backfill_resumes_where_it_stopped(sim: SimServer, kept: History) -> None:
    kept.fetcher.concurrency = 1  # one worker: two windows stored when Ctrl-C comes, the third at most started

    def stop_after_two(done: int, total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    start = SIM_NOW - timedelta(days=300)
    with pytest.raises(KeyboardInterrupt):
        kept.backfill([RELIANCE], "minute", start, SIM_NOW, progress=stop_after_two)
    assert historical_requests(sim) in (2, 3)  # the rest of the five windows were dropped, not waited for
    sent = record(kept.kite)
    [filled] = kept.backfill([RELIANCE], "minute", start, SIM_NOW)
    assert filled.windows == len(sent) == 3 and min(s.start for s in sent) == start + timedelta(days=120, seconds=2)
    pd.testing.assert_frame_equal(
        kept.candles(RELIANCE, "minute", start, SIM_NOW), fresh(kept, RELIANCE, "minute", start, SIM_NOW)
    )


CRASH = """
import os, sys
from datetime import timedelta
from pathlib import Path
from kiteconnect import KiteConnect
from kitekit.clock import ManualClock
from kitekit.history import CandleStore, History
from kitekit.history.client import series_of
from kitekit.instruments import InstrumentStore
from kitekit.sim.pytest_plugin import SIM_NOW
url, api_key, token, dump, db = sys.argv[1:]
kite = KiteConnect(api_key, access_token=token, root=url)
instruments = InstrumentStore.from_bytes(Path(dump).read_bytes(), SIM_NOW.date())
history = History(kite, instruments, CandleStore(Path(db)), clock=ManualClock(SIM_NOW), concurrency=1)

def crash(done, total):
    if done == 3:
        os._exit(9)  # a hard crash: no cleanup, no close

history.backfill(["NSE:RELIANCE", "NSE:INFY"], "minute", SIM_NOW - timedelta(days=200), SIM_NOW, progress=crash)
"""


def test_a_backfill_killed_mid_way_keeps_every_window_it_stored(
    sim: SimServer, kept: History, sim_kite: KiteConnect, sim_dump: bytes, tmp_path: Path
) -> None:
    assert kept.store is not None
    dump = tmp_path / "dump.csv"
    dump.write_bytes(sim_dump)
    args = [sim.url, sim_kite.api_key, sim_kite.access_token, str(dump), str(kept.store.path)]
    crashed = subprocess.run([sys.executable, "-c", CRASH, *args], check=False, env={**os.environ}, timeout=120)
    assert crashed.returncode == 9
    # Three windows were stored. Others may have left before the process died (a worker thread fetches the
    # next windows while the main thread stores), but none of them was stored: the refill below proves it.
    assert historical_requests(sim) >= 3
    start = SIM_NOW - timedelta(days=200)
    filled = kept.backfill(["NSE:RELIANCE", "NSE:INFY"], "minute", start, SIM_NOW)
    assert sum(f.windows for f in filled) == 8 - 3  # 4 windows each; the crash had stored 3 of them
    for token in (RELIANCE, INFY):
        pd.testing.assert_frame_equal(
            kept.candles(token, "minute", start, SIM_NOW), fresh(kept, token, "minute", start, SIM_NOW)
        )


def test_faults_are_retried_and_nothing_is_lost_or_duplicated(
    sim: SimServer, kept: History, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    install_transport(sim_kite, None, RetryPolicy(attempts=8, sleep=lambda _: None))
    kept.fetcher.attempts = 6
    start = SIM_NOW - timedelta(days=400)
    reference = {t: fresh(kept, t, "5minute", start, SIM_NOW) for t in (RELIANCE, INFY)}
    set_faults(
        sim,
        network_error_rate=0.15,
        html_502_rate=0.1,
        drop_rate=0.1,
        data_error_rate=0.1,
        paths=["/instruments/historical"],
        seed=14,
    )
    kept.backfill([RELIANCE, INFY], "5minute", start, SIM_NOW)
    assert all(n > 0 for n in sim.sim.faults.injected.values()), sim.sim.faults.injected
    set_faults(sim, network_error_rate=0, html_502_rate=0, drop_rate=0, data_error_rate=0)
    before = historical_requests(sim)
    for token, expected in reference.items():
        pd.testing.assert_frame_equal(kept.candles(token, "5minute", start, SIM_NOW), expected)
    assert historical_requests(sim) - before == 2  # only the forming tails: every window had been stored
    assert kept.store is not None
    con = duckdb.connect(str(kept.store.path))
    try:
        total, distinct = con.execute("SELECT count(*), count(DISTINCT (series, ts)) FROM candles").fetchone()  # type: ignore[misc]
    finally:
        con.close()
    closed = complete_until(SIM_NOW, Interval.MINUTE_5)  # the still-forming candles are never stored
    assert total == distinct == sum(int((f.index <= closed).sum()) for f in reference.values())


def test_a_window_that_keeps_failing_is_raised_after_the_others_are_stored(sim: SimServer, kept: History) -> None:
    set_faults(sim, data_error_rate=1.0, paths=[f"/instruments/historical/{INFY}/"])
    start = SIM_NOW - timedelta(days=100)
    with pytest.raises(DataException):
        kept.backfill([RELIANCE, INFY], "minute", start, SIM_NOW)
    assert kept.store is not None
    reliance, infy = (kept.request(t, "minute", start, SIM_NOW) for t in (RELIANCE, INFY))
    assert kept.store.missing(series_of(reliance), reliance.start, reliance.end) == [
        (SIM_NOW - timedelta(minutes=2) + SECOND, SIM_NOW)
    ]
    assert kept.store.missing(series_of(infy), infy.start, infy.end) == [(infy.start, infy.end)]


def test_one_instrument_named_twice_in_a_backfill_is_fetched_once(sim: SimServer, kept: History) -> None:
    filled = kept.backfill(["RELIANCE", "NSE:RELIANCE", 738561], "60minute", SIM_NOW - timedelta(days=30), SIM_NOW)
    assert [f.windows for f in filled] == [1, 0, 0] and historical_requests(sim) == 1


def test_a_second_backfill_makes_at_most_one_request_per_instrument(
    sim: SimServer, kept: History, sim_clock: ManualClock
) -> None:
    names = ["NSE:RELIANCE", "NSE:INFY", "NIFTY 50"]
    first = kept.backfill(names, Interval.MINUTE, SIM_NOW - timedelta(days=130), SIM_NOW)
    # The windows the client asked for; the simulator may count one more where the transport sent one again (a
    # 429 or a timeout on a loaded machine), which is not a request the backfill planned.
    assert [f.windows for f in first] == [3, 3, 3] and historical_requests(sim) >= 9
    before = historical_requests(sim)
    sim_clock.advance(timedelta(hours=2))
    filled = kept.backfill(names, Interval.MINUTE, sim_clock.now() - timedelta(days=130), sim_clock.now())
    assert [f.windows for f in filled] == [1, 1, 1] and historical_requests(sim) >= before + 3


def test_day_history_kite_rewrote_for_a_split_is_replaced_whole_by_a_new_version(
    sim: SimServer, kept: History, caplog: pytest.LogCaptureFixture
) -> None:
    start = SIM_NOW - timedelta(days=200)
    stored = kept.candles(RELIANCE, "day", start)
    # Emulate candles stored before a 1:2 split: Kite now serves every earlier price halved, the store kept
    # the old ones. Written through the store itself, up to yesterday's close, as a fetch would have left them.
    assert kept.store is not None
    series = series_of(kept.request(RELIANCE, "day", start))
    closed = stored.iloc[:-1].copy()
    closed[["open", "high", "low", "close"]] *= 2
    closed["volume"] //= 2
    last = closed.index[-1] + timedelta(days=1) - SECOND
    kept.store.write(series, RELIANCE, (closed.index[0], last), closed)
    assert kept.store.read(series)["close"].iloc[-1] == 2 * stored["close"].iloc[-2]
    sent = record(kept.kite)
    with caplog.at_level("WARNING", logger="kitekit.history"):  # today's candle is still forming: a gap
        again = kept.candles(RELIANCE, "day", SIM_NOW - timedelta(days=3))
    assert "divided by 2 (a split or bonus)" in caplog.text and "the new version is in place" in caplog.text
    # The tail found the change, the month before it showed the same factor, then the stored range again.
    assert [(s.start.date(), s.end.date()) for s in sent] == [
        (closed.index[-1].date(), SIM_NOW.date()),
        ((closed.index[-1] - timedelta(days=30)).date(), closed.index[-1].date() - timedelta(days=1)),
        (stored.index[0].date(), SIM_NOW.date()),
    ]
    pd.testing.assert_frame_equal(again, fresh(kept, RELIANCE, "day", SIM_NOW - timedelta(days=3)))
    pd.testing.assert_frame_equal(kept.store.read(series), stored.iloc[:-1])  # all 200 days, today's forming


def test_a_tail_fetch_whose_stored_candle_still_matches_warns_of_nothing(
    sim: SimServer, kept: History, sim_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    start = SIM_NOW - timedelta(days=200)
    kept.candles(RELIANCE, "day", start)
    sent = record(kept.kite)
    sim_clock.advance(timedelta(minutes=5))
    with caplog.at_level("WARNING", logger="kitekit.history"):
        again = kept.candles(RELIANCE, "day", start)
    assert len(sent) == 1 and sent[0].start == datetime(2026, 11, 26, tzinfo=IST) and not caplog.text
    pd.testing.assert_frame_equal(again, fresh(kept, RELIANCE, "day", start))
