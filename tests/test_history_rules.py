"""What a candles request may ask for, checked before anything is sent; every refusal says what is allowed."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from kiteconnect import KiteConnect

from kitekit.clock import IST, ManualClock
from kitekit.errors import HistoryRangeError, UnknownInstrumentError
from kitekit.history import History
from kitekit.history.rules import SETTLE, check_request, complete_until
from kitekit.instruments import Instrument, InstrumentStore
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from kitekit.wire.history import Interval
from tests.history_helpers import historical_requests

SECOND = timedelta(seconds=1)


@pytest.fixture
def reliance(sim_instruments: InstrumentStore) -> Instrument:
    return sim_instruments.instrument("NSE:RELIANCE")


@pytest.fixture
def future(sim_instruments: InstrumentStore) -> Instrument:
    return sim_instruments.nearest_future("NIFTY")


def test_an_unknown_interval_is_refused_listing_the_eight_kite_serves(reliance: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"unknown candle interval 'hour'; Kite serves minute, 3minute.*day"):
        check_request(reliance, "hour", date(2026, 11, 1), None, now=SIM_NOW)


def test_start_after_end_is_refused(reliance: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"start 2026-11-20T00:00:00\+05:30 is after end .*start <= end"):
        check_request(reliance, "day", date(2026, 11, 20), date(2026, 11, 19), now=SIM_NOW)


def test_a_start_in_the_future_is_refused(reliance: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"in the future \(now is 2026-11-27T11:00:00\+05:30\); candles exist"):
        check_request(reliance, "minute", SIM_NOW + SECOND, None, now=SIM_NOW)


def test_naive_datetimes_and_strings_are_refused_with_the_forms_accepted(reliance: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"naive datetime.*tzinfo=kitekit\.clock\.IST.*or give a date"):
        check_request(reliance, "day", datetime(2026, 11, 1), None, now=SIM_NOW)  # noqa: DTZ001 - the point
    with pytest.raises(HistoryRangeError, match=r"end must be a timezone-aware datetime or a date, got str"):
        check_request(reliance, "day", date(2026, 11, 1), "2026-11-20", now=SIM_NOW)  # type: ignore[arg-type]


def test_continuous_is_refused_for_anything_but_futures(reliance: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"continuous=True is for futures contracts.*NSE:RELIANCE is EQ"):
        check_request(reliance, "day", date(2026, 1, 1), None, now=SIM_NOW, continuous=True)


def test_continuous_is_refused_for_intraday_candles(future: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"day interval only, not 5minute: use interval 'day'"):
        check_request(future, "5minute", date(2026, 11, 1), None, now=SIM_NOW, continuous=True)


def test_continuous_day_candles_of_a_future_run_across_its_expiries(future: Instrument) -> None:
    request = check_request(future, "day", date(2024, 1, 1), date(2027, 6, 1), now=SIM_NOW, continuous=True)
    assert request.continuous and request.start == datetime(2024, 1, 1, tzinfo=IST)
    assert request.end == datetime(2026, 11, 27, 23, 59, 59, tzinfo=IST)  # today's end, not the expiry's


def test_a_range_wholly_before_kites_history_is_refused_with_its_first_date(reliance: Instrument) -> None:
    with pytest.raises(HistoryRangeError, match=r"Kite keeps minute candles from 2015-01-01 on.*ends on or after"):
        check_request(reliance, "minute", date(2012, 1, 1), date(2014, 12, 31), now=SIM_NOW)
    with pytest.raises(HistoryRangeError, match=r"Kite keeps day candles from 1990-01-01 on"):
        check_request(reliance, "day", date(1985, 1, 1), date(1989, 12, 31), now=SIM_NOW)


def test_a_range_starting_before_kites_history_starts_with_it(reliance: Instrument) -> None:
    request = check_request(reliance, "60minute", date(2010, 1, 1), date(2015, 3, 1), now=SIM_NOW)
    assert request.start == datetime(2015, 1, 1, tzinfo=IST)
    assert len(request.windows()) == 1  # five years of windows that would have come back empty, saved


def test_a_range_ending_after_today_ends_with_today(reliance: Instrument) -> None:
    request = check_request(reliance, "minute", date(2026, 11, 20), date(2027, 6, 1), now=SIM_NOW)
    assert request.end == datetime(2026, 11, 27, 23, 59, 59, tzinfo=IST)
    assert len(request.windows()) == 1


def test_the_last_date_and_moments_beyond_ist_years_are_answered_not_crashed_on(reliance: Instrument) -> None:
    request = check_request(reliance, "day", date(2026, 11, 1), date(9999, 12, 31), now=SIM_NOW)
    assert request.end == datetime(2026, 11, 27, 23, 59, 59, tzinfo=IST)
    late = datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-10)))  # the year 10000 in IST
    with pytest.raises(HistoryRangeError, match="outside the years 1-9999 in IST"):
        check_request(reliance, "day", date(2026, 11, 1), late, now=SIM_NOW)


def test_dates_mean_whole_ist_days_and_times_are_cut_to_whole_seconds(reliance: Instrument) -> None:
    by_dates = check_request(reliance, "minute", date(2026, 11, 20), date(2026, 11, 23), now=SIM_NOW)
    assert (by_dates.start, by_dates.end) == (
        datetime(2026, 11, 20, tzinfo=IST),
        datetime(2026, 11, 23, 23, 59, 59, tzinfo=IST),
    )
    exact = check_request(
        reliance,
        "minute",
        datetime(2026, 11, 20, 3, 45, 0, 500, tzinfo=UTC),
        SIM_NOW - timedelta(microseconds=1),
        now=SIM_NOW,
    )
    assert (exact.start, exact.end) == (datetime(2026, 11, 20, 9, 15, 1, tzinfo=IST), SIM_NOW - SECOND)
    day = check_request(reliance, "day", datetime(2026, 11, 20, 14, 0, tzinfo=IST), SIM_NOW, now=SIM_NOW)
    assert (day.start, day.end) == (datetime(2026, 11, 20, tzinfo=IST), datetime(2026, 11, 27, 23, 59, 59, tzinfo=IST))


def test_candles_count_as_closed_a_settling_minute_and_one_interval_before_the_ask() -> None:
    asked = datetime(2026, 11, 27, 11, 0, 30, 250_000, tzinfo=IST)
    assert timedelta(seconds=60) == SETTLE
    assert complete_until(asked, Interval.MINUTE) == datetime(2026, 11, 27, 10, 58, 30, tzinfo=IST)
    assert complete_until(asked, Interval.MINUTE_60) == datetime(2026, 11, 27, 9, 59, 30, tzinfo=IST)
    assert complete_until(asked, Interval.DAY) == datetime(2026, 11, 26, 23, 59, 59, tzinfo=IST)
    just_after_midnight = datetime(2026, 11, 28, 0, 0, 30, tzinfo=IST)
    assert complete_until(just_after_midnight, Interval.DAY) == datetime(2026, 11, 26, 23, 59, 59, tzinfo=IST)


@pytest.mark.usefixtures("unlimited")
def test_a_refused_request_sends_nothing_and_an_unknown_symbol_lists_close_ones(
    sim: SimServer, sim_kite: KiteConnect, sim_instruments: InstrumentStore, sim_clock: ManualClock
) -> None:
    history = History(sim_kite, sim_instruments, clock=sim_clock)
    with pytest.raises(UnknownInstrumentError, match=r"Did you mean: .*RELIANCE"):
        history.candles("RELIANC", "day", date(2026, 1, 1))
    with pytest.raises(HistoryRangeError):
        history.candles("RELIANCE", "5minute", date(2026, 1, 1), continuous=True)
    with pytest.raises(HistoryRangeError):
        history.candles("RELIANCE", "hour", date(2026, 1, 1))
    assert historical_requests(sim) == 0


@pytest.fixture
def day_after_expiry(sim_market: Market, tmp_path: Path) -> InstrumentStore:
    """An instrument store that cached Monday 2026-11-23's dump, the day NIFTY26NOVFUT expired, then Wednesday's."""
    clock = ManualClock(datetime(2026, 11, 23, 10, 0, tzinfo=IST))

    def fetch(exchange: str | None, progress: object) -> bytes:
        return sim_market.universe(clock.now()).dump(exchange)[0]

    store = InstrumentStore(tmp_path / "instruments", fetch, clock=clock).load()
    clock.set(datetime(2026, 11, 25, 10, 0, tzinfo=IST))
    return store.load()


def test_an_expired_contract_resolves_through_the_previous_dump_for_day_candles_up_to_its_expiry(
    day_after_expiry: InstrumentStore,
) -> None:
    expired = day_after_expiry.instrument("NFO:NIFTY26NOVFUT")
    assert expired.expiry == date(2026, 11, 23) and len(day_after_expiry.cached_days()) == 2
    now = day_after_expiry.clock.now()
    request = check_request(expired, "day", date(2026, 10, 1), None, now=now)
    assert request.end == datetime(2026, 11, 23, 23, 59, 59, tzinfo=IST)


def test_an_expired_contracts_intraday_candles_are_refused_naming_what_is_kept(
    day_after_expiry: InstrumentStore,
) -> None:
    expired = day_after_expiry.instrument("NFO:NIFTY26NOVFUT")
    now = day_after_expiry.clock.now()
    with pytest.raises(HistoryRangeError, match=r"expired on 2026-11-23.*only day candles.*continuous=True on a live"):
        check_request(expired, "minute", date(2026, 11, 20), None, now=now)


@pytest.mark.usefixtures("unlimited")
def test_an_expired_contracts_day_candles_come_from_the_simulator_up_to_its_expiry(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, day_after_expiry: InstrumentStore
) -> None:
    sim_clock.set(day_after_expiry.clock.now())
    history = History(sim_kite, day_after_expiry, clock=sim_clock)
    frame = history.candles("NFO:NIFTY26NOVFUT", "day", date(2026, 11, 2))
    assert len(frame) == 15 and frame.index[-1].date() == date(2026, 11, 23)  # 16 weekdays, 2-23 Nov, one a holiday
    assert historical_requests(sim) == 1


def test_a_range_after_a_contracts_expiry_is_refused(day_after_expiry: InstrumentStore) -> None:
    expired = day_after_expiry.instrument("NFO:NIFTY26NOVFUT")
    now = day_after_expiry.clock.now()
    with pytest.raises(
        HistoryRangeError, match=r"no candles after it: ask for a range that starts on or before 2026-11-23"
    ):
        check_request(expired, "day", date(2026, 11, 24), None, now=now)
