"""Stored history is never lost: a forming candle stored by mistake is corrected in place, a split replaces the
series through a complete new version, and an interrupted one (the simulator failing, Ctrl-C, a crash) leaves
the stored series as it was."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from kiteconnect import KiteConnect
from kiteconnect.exceptions import DataException

from kitekit.clock import IST, ManualClock
from kitekit.history import CandleStore, History, SeriesKey
from kitekit.history.compare import PRICES
from kitekit.history.fetch import Fetched, Job
from kitekit.history.rules import complete_until
from kitekit.history.windows import split_windows
from kitekit.instruments import InstrumentStore
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.wire.history import Interval
from tests.history_helpers import (
    RELIANCE,
    fresh,
    market_candles,
    pace,
    record,
    set_faults,
    synthetic_minutes,
)

pytestmark = pytest.mark.usefixtures("unlimited")

INFY = 408065
SECOND = timedelta(seconds=1)
MINUTE = timedelta(minutes=1)
THURSDAY = date(2026, 11, 26)
FIVE = Interval.MINUTE_5  # 100-day windows of light answers: a new version of 250 days takes three
RELIANCE_FIVE = SeriesKey("NSE", "RELIANCE", FIVE)


@pytest.fixture
def store(tmp_path: Path) -> CandleStore:
    return CandleStore(tmp_path / "candles.duckdb")


@pytest.fixture
def kite(sim_kite: KiteConnect, tmp_path: Path) -> KiteConnect:
    """The simulator's client with kitekit's transport and no pacing."""
    return pace(sim_kite, tmp_path, paced=False)


def split_before(store: CandleStore, series: SeriesKey, token: int, factor: int) -> pd.DataFrame:
    """Make every stored candle what it was before a 1:``factor`` split (Kite now serves them adjusted)."""
    adjusted = store.read(series, oi=True)
    stale = adjusted.copy()
    stale[list(PRICES)] *= factor
    stale["volume"] //= factor
    for span in store.coverage(series):
        store.write(series, token, span, stale)
    return store.read(series, oi=True)


def version_rows(store: CandleStore) -> int:
    """Return how many candles the store holds for versions not swapped in (nor discarded)."""
    con = duckdb.connect(str(store.path))
    try:
        row = con.execute("SELECT count(*) FROM candles WHERE series < 0").fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0])


def closed(frame: pd.DataFrame, now: datetime, interval: Interval = FIVE) -> pd.DataFrame:
    """Return the candles of ``frame`` that had closed at ``now``: what a store keeps."""
    return frame[frame.index <= complete_until(now, interval)]


def test_a_one_day_fetch_after_a_forming_candle_was_stored_loses_nothing_of_a_four_year_minute_store(
    sim: SimServer,
    kite: KiteConnect,
    sim_instruments: InstrumentStore,
    sim_clock: ManualClock,
    sim_market: Market,
    store: CandleStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sbin = sim_instruments.instrument("NSE:SBIN")
    series = SeriesKey("NSE", "SBIN", Interval.MINUTE)
    # Four years of minute candles up to Thursday's close, written straight into the store: synthetic ones,
    # then the simulator's own for the last 40 days (the part a fetch compares with Kite's).
    recent = datetime.combine(THURSDAY - timedelta(days=40), time(), tzinfo=IST)
    thursday = datetime.combine(THURSDAY, time(23, 59, 59), tzinfo=IST)
    old = synthetic_minutes(date(2022, 11, 28), recent.date() - timedelta(days=1))
    store.write(series, sbin.instrument_token, (old.index[0], recent - SECOND), old)
    served = market_candles(sim_market, sbin.key, Interval.MINUTE, recent, thursday, SIM_NOW)
    store.write(series, sbin.instrument_token, (recent, thursday), served)
    # A history whose clock runs three minutes ahead of the data's (the wall clock beside a simulated session)
    # takes the simulator's 11:00 candle, still forming, for closed and stores it.
    ahead = History(kite, sim_instruments, store, clock=ManualClock(SIM_NOW + 3 * MINUTE))
    ahead.candles(sbin.key, "minute", SIM_NOW - timedelta(days=1))
    before = store.read(series, oi=True)
    assert len(before) > 380_000 and before.index[-1] == SIM_NOW

    # Half an hour later, `history SBIN --days 1` on the data's clock:
    sim_clock.advance(30 * MINUTE)
    now = sim_clock.now()
    sent = record(kite)
    history = History(kite, sim_instruments, store, clock=sim_clock)
    with caplog.at_level(logging.WARNING, logger="kitekit.history"):
        day = history.candles(sbin.key, "minute", now - timedelta(days=1))

    assert [(s.start, s.end) for s in sent] == [(SIM_NOW, now)]  # the tail, from the candle that was forming
    after = store.read(series, oi=True)
    assert before.index.isin(after.index).all()  # not one candle lost
    assert len(after) == len(before) + 28  # and 11:01 to 11:28 added: closed since
    untouched = before.index != SIM_NOW
    pd.testing.assert_frame_equal(after.loc[before.index[untouched]], before[untouched], check_exact=True)
    reference = fresh(history, sbin.key, "minute", now - timedelta(days=1))
    now_closed = reference.index == SIM_NOW  # the 11:00 candle, as it closed
    pd.testing.assert_frame_equal(after[after.index == SIM_NOW][list(PRICES)], reference[now_closed][list(PRICES)])
    assert "1 stored candle(s) differed from Kite's and were corrected in place" in caplog.text
    assert "2026-11-27 11:00" in caplog.text
    pd.testing.assert_frame_equal(day, reference)


def test_a_candle_stored_while_forming_and_read_again_before_it_closed_is_fetched_once_closed(
    sim: SimServer, kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock, store: CandleStore
) -> None:
    start = SIM_NOW - timedelta(days=3)
    History(kite, sim_instruments, store, clock=ManualClock(SIM_NOW + 3 * MINUTE)).candles(RELIANCE, "minute", start)
    history = History(kite, sim_instruments, store, clock=sim_clock)
    sim_clock.advance(90 * SECOND)  # the 11:00 candle is re-read, and by the data's clock not closed yet
    history.candles(RELIANCE, "minute", start)
    series = SeriesKey("NSE", "RELIANCE", Interval.MINUTE)
    assert SIM_NOW not in store.read(series).index and store.missing(series, start, SIM_NOW) == [(SIM_NOW, SIM_NOW)]
    sim_clock.advance(30 * MINUTE)
    history.candles(RELIANCE, "minute", start)
    pd.testing.assert_frame_equal(
        store.read(series), closed(fresh(history, RELIANCE, "minute", start), sim_clock.now(), Interval.MINUTE)
    )


def test_a_repeated_backfill_asks_again_for_no_candle_stored_closed(
    sim: SimServer, kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock, store: CandleStore
) -> None:
    names = [RELIANCE, INFY]
    start = SIM_NOW - timedelta(days=100)
    history = History(kite, sim_instruments, store, clock=sim_clock)
    ended = datetime(2026, 11, 20, 23, 59, 59, tzinfo=IST)
    history.backfill(names, "minute", start, ended)
    sent = record(kite)
    assert [f.windows for f in history.backfill(names, "minute", start, ended)] == [0, 0] and not sent
    # The README's backfill, to now, by a history whose clock runs ahead of the data's: the forming 11:00
    # candles are stored as if closed. An hour later, on the data's clock, the same backfill again:
    History(kite, sim_instruments, store, clock=ManualClock(SIM_NOW + 3 * MINUTE)).backfill(names, "minute", start)
    sim_clock.advance(timedelta(hours=1))
    sent.clear()
    filled = history.backfill(names, "minute", start)
    # One request each, from the candle stored while forming (corrected in place): nothing before it again.
    assert [f.windows for f in filled] == [1, 1]
    assert sorted((s.token, s.start, s.end) for s in sent) == [(t, SIM_NOW, sim_clock.now()) for t in sorted(names)]
    for token in names:
        pd.testing.assert_frame_equal(history.candles(token, "minute", start), fresh(history, token, "minute", start))


def test_a_split_replaces_the_whole_stored_series_through_a_complete_new_version(
    sim: SimServer,
    kite: KiteConnect,
    sim_instruments: InstrumentStore,
    sim_clock: ManualClock,
    store: CandleStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    history = History(kite, sim_instruments, store, clock=sim_clock)
    start = SIM_NOW - timedelta(days=250)
    history.candles(RELIANCE, "5minute", start)
    split_before(store, RELIANCE_FIVE, RELIANCE, 2)
    sim_clock.advance(30 * MINUTE)
    now = sim_clock.now()
    sent = record(kite)
    with caplog.at_level(logging.WARNING, logger="kitekit.history"):
        day = history.candles(RELIANCE, "5minute", now - timedelta(days=1))
    # The tail re-read the last stored candle, the month before it showed one factor throughout, then the
    # whole stored range (and the day asked for) was fetched again: 250 days, though one was asked for.
    again = split_windows(start, now, FIVE)
    assert len(sent) == 2 + len(again) and sorted((s.start, s.end) for s in sent[2:]) == again
    assert "divided by 2 (a split or bonus)" in caplog.text
    assert "fetching the whole stored range again" in caplog.text and "the new version is in place" in caplog.text
    whole = fresh(history, RELIANCE, "5minute", start)
    pd.testing.assert_frame_equal(store.read(RELIANCE_FIVE), closed(whole, now))
    pd.testing.assert_frame_equal(day, fresh(history, RELIANCE, "5minute", now - timedelta(days=1)))
    assert version_rows(store) == 0


def test_one_candle_changed_like_a_split_among_unchanged_ones_is_corrected_in_place(
    sim: SimServer,
    kite: KiteConnect,
    sim_instruments: InstrumentStore,
    sim_clock: ManualClock,
    store: CandleStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    history = History(kite, sim_instruments, store, clock=sim_clock)
    start = SIM_NOW - timedelta(days=100)
    history.candles(RELIANCE, "5minute", start)
    stored = store.read(RELIANCE_FIVE, oi=True)
    last = stored.index[-1]
    wrong = stored.loc[[last]].copy()
    wrong[list(PRICES)] *= 2  # the last stored candle alone, as a bad print Kite has since corrected
    store.write(RELIANCE_FIVE, RELIANCE, (last, last), wrong)
    sim_clock.advance(30 * MINUTE)
    sent = record(kite)
    with caplog.at_level(logging.WARNING, logger="kitekit.history"):
        history.candles(RELIANCE, "5minute", start)
    assert len(sent) == 2  # the tail, and the month before it, which had not changed: no new version
    assert "corrected in place" in caplog.text and "split" not in caplog.text
    after = store.read(RELIANCE_FIVE, oi=True)
    pd.testing.assert_frame_equal(after.loc[stored.index[:-1]], stored.iloc[:-1])
    pd.testing.assert_frame_equal(
        store.read(RELIANCE_FIVE), closed(fresh(history, RELIANCE, "5minute", start), sim_clock.now())
    )


@pytest.mark.parametrize("interruption", ["the simulator fails", "Ctrl-C"])
def test_an_interrupted_new_version_leaves_the_stored_series_as_it_was(
    sim: SimServer,
    kite: KiteConnect,
    sim_instruments: InstrumentStore,
    sim_clock: ManualClock,
    store: CandleStore,
    interruption: str,
) -> None:
    history = History(kite, sim_instruments, store, clock=sim_clock)
    start = SIM_NOW - timedelta(days=250)
    history.candles(RELIANCE, "5minute", start)
    stale = split_before(store, RELIANCE_FIVE, RELIANCE, 2)
    coverage = store.coverage(RELIANCE_FIVE)
    sim_clock.advance(30 * MINUTE)
    history.fetcher.concurrency = 1
    fetch, fetched = history.fetcher.fetch, [0]

    def fetch_then_fail(job: Job) -> Fetched:
        # The tail, the month before it, and the first window of the new version land; then the simulator
        # fails. Counted where windows are fetched: progress is reported from another thread, a window late.
        fetched[0] += 1
        if fetched[0] == 4:
            set_faults(sim, data_error_rate=1.0, paths=["/instruments/historical"])
        return fetch(job)

    def interrupt(done: int, total: int) -> None:
        if done == 3 and interruption == "Ctrl-C":
            raise KeyboardInterrupt

    history.fetcher.fetch = fetch_then_fail  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt if interruption == "Ctrl-C" else DataException):
        history.candles(RELIANCE, "5minute", sim_clock.now() - timedelta(days=1), progress=interrupt)
    history.fetcher.fetch = fetch  # type: ignore[method-assign]
    pd.testing.assert_frame_equal(store.read(RELIANCE_FIVE, oi=True), stale)
    assert store.coverage(RELIANCE_FIVE) == coverage and version_rows(store) == 0
    set_faults(sim, data_error_rate=0.0)
    history.candles(RELIANCE, "5minute", sim_clock.now() - timedelta(days=1))  # finds the split again, completes
    pd.testing.assert_frame_equal(
        store.read(RELIANCE_FIVE), closed(fresh(history, RELIANCE, "5minute", start), sim_clock.now())
    )


CRASH = """
import os, sys
from datetime import datetime, timedelta
from pathlib import Path
from kiteconnect import KiteConnect
from kitekit.clock import ManualClock
from kitekit.history import CandleStore, History
from kitekit.instruments import InstrumentStore
url, api_key, token, dump, db, now = sys.argv[1:]
clock = ManualClock(datetime.fromisoformat(now))
kite = KiteConnect(api_key, access_token=token, root=url)
instruments = InstrumentStore.from_bytes(Path(dump).read_bytes(), clock.now().date())
history = History(kite, instruments, CandleStore(Path(db)), clock=clock, concurrency=1)

def crash(done, total):
    if done == 3:  # the tail, the month before it, and the first window of the new version have landed
        os._exit(9)  # a hard crash: no cleanup, no close

history.candles(738561, "5minute", clock.now() - timedelta(days=1), progress=crash)
"""


def test_a_crash_while_a_new_version_is_fetched_leaves_the_stored_series_as_it_was(
    sim: SimServer,
    kite: KiteConnect,
    sim_instruments: InstrumentStore,
    sim_clock: ManualClock,
    store: CandleStore,
    sim_dump: bytes,
    tmp_path: Path,
) -> None:
    history = History(kite, sim_instruments, store, clock=sim_clock)
    start = SIM_NOW - timedelta(days=250)
    history.candles(RELIANCE, "5minute", start)
    stale = split_before(store, RELIANCE_FIVE, RELIANCE, 2)
    coverage = store.coverage(RELIANCE_FIVE)
    sim_clock.advance(30 * MINUTE)
    dump = tmp_path / "dump.csv"
    dump.write_bytes(sim_dump)
    args = [sim.url, kite.api_key, kite.access_token, str(dump), str(store.path), sim_clock.now().isoformat()]
    crashed = subprocess.run([sys.executable, "-c", CRASH, *args], check=False, env={**os.environ}, timeout=120)
    assert crashed.returncode == 9
    pd.testing.assert_frame_equal(store.read(RELIANCE_FIVE, oi=True), stale)
    assert store.coverage(RELIANCE_FIVE) == coverage
    assert version_rows(store) > 0  # what the crashed version had stored, invisible to readers
    history.candles(RELIANCE, "5minute", sim_clock.now() - timedelta(days=1))
    pd.testing.assert_frame_equal(
        store.read(RELIANCE_FIVE), closed(fresh(history, RELIANCE, "5minute", start), sim_clock.now())
    )
    assert version_rows(store) == 0  # the next version cleared it
