"""Request windows for historical candles: Kite's span limits, inclusive seams, day alignment, validation."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

import pytest

from kitekit.clock import IST
from kitekit.errors import HistoryRangeError
from kitekit.history.windows import Window, coerce_interval, split_windows
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.wire.history import Interval

INTRADAY = [i for i in Interval if i.intraday]
SECOND = timedelta(seconds=1)
OPEN = datetime(2024, 1, 1, 9, 15, tzinfo=IST)


def assert_partition(windows: list[Window], start: datetime, end: datetime, interval: Interval) -> None:
    """Windows run back to back from start to end, one second apart, none longer than Kite allows."""
    assert windows[0].start == start
    assert windows[-1].end == end
    for w in windows:
        assert w.start <= w.end
        assert w.end - w.start <= timedelta(days=interval.max_days)
    for before, after in pairwise(windows):
        step = timedelta(days=1) if interval is Interval.DAY else SECOND
        assert after.start == before.end + step


@pytest.mark.parametrize("interval", INTRADAY, ids=str)
def test_an_intraday_range_exactly_at_the_limit_is_one_window(interval: Interval) -> None:
    end = OPEN + timedelta(days=interval.max_days)
    assert split_windows(OPEN, end, interval) == [Window(OPEN, end)]


@pytest.mark.parametrize("interval", INTRADAY, ids=str)
def test_an_intraday_range_one_day_over_the_limit_is_two_windows_one_second_apart(interval: Interval) -> None:
    limit = OPEN + timedelta(days=interval.max_days)
    end = limit + timedelta(days=1)
    assert split_windows(OPEN, end, interval) == [Window(OPEN, limit), Window(limit + SECOND, end)]


def test_a_day_range_exactly_at_the_limit_is_one_window_from_midnight_to_midnight() -> None:
    start = datetime(2015, 1, 1, tzinfo=IST)
    end = start + timedelta(days=Interval.DAY.max_days)
    assert split_windows(start, end, Interval.DAY) == [Window(start, end)]


def test_a_day_range_one_day_over_the_limit_ends_with_a_window_of_its_last_date() -> None:
    start = datetime(2015, 1, 1, tzinfo=IST)
    limit = start + timedelta(days=Interval.DAY.max_days)
    end = limit + timedelta(days=1)
    assert split_windows(start, end, "day") == [Window(start, limit), Window(end, end)]


def test_day_windows_cover_whole_ist_dates_whatever_the_times_given() -> None:
    start = datetime(2024, 3, 15, 14, 0, tzinfo=IST)
    end = datetime(2024, 3, 20, 9, 0, tzinfo=IST)
    assert split_windows(start, end, Interval.DAY) == [
        Window(datetime(2024, 3, 15, tzinfo=IST), datetime(2024, 3, 20, tzinfo=IST))
    ]


def test_day_windows_take_dates_in_ist_not_in_the_zone_given() -> None:
    # 20:00 UTC on the 14th is 01:30 IST on the 15th: the range starts on the 15th in Kite's calendar.
    start = datetime(2024, 3, 14, 20, 0, tzinfo=UTC)
    end = datetime(2024, 3, 15, 18, 0, tzinfo=UTC)  # 23:30 IST on the 15th
    [window] = split_windows(start, end, Interval.DAY)
    assert window == Window(datetime(2024, 3, 15, tzinfo=IST), datetime(2024, 3, 15, tzinfo=IST))
    assert window.start.tzinfo is IST


def test_intraday_windows_are_in_ist_whatever_the_zone_given() -> None:
    start = datetime(2024, 3, 15, 3, 45, tzinfo=UTC)
    [window] = split_windows(start, start + timedelta(hours=6), Interval.MINUTE)
    assert window.start == datetime(2024, 3, 15, 9, 15, tzinfo=IST)
    assert window.start.tzinfo is IST and window.end.tzinfo is IST


@pytest.mark.parametrize("interval", list(Interval), ids=str)
def test_a_long_range_is_split_into_back_to_back_windows_within_the_limit(interval: Interval) -> None:
    start = datetime(2010, 1, 1, tzinfo=IST) if interval is Interval.DAY else OPEN
    end = start + timedelta(days=interval.max_days * 5 + 17, hours=6)
    windows = split_windows(start, end, interval)
    assert len(windows) == 6
    day_end = datetime.combine(end.date(), datetime.min.time(), tzinfo=IST)
    assert_partition(windows, start, day_end if interval is Interval.DAY else end, interval)


def test_a_candle_stamped_on_a_seam_falls_in_exactly_one_window() -> None:
    end = OPEN + timedelta(days=150)
    windows = split_windows(OPEN, end, Interval.MINUTE)
    stamps = [OPEN + timedelta(minutes=m) for m in range(0, 150 * 24 * 60 + 1, 7)]
    stamps += [w.end for w in windows] + [w.start for w in windows]
    for stamp in stamps:
        assert sum(w.start <= stamp <= w.end for w in windows) == 1


@pytest.mark.parametrize(("interval", "days"), [(Interval.MINUTE_5, 250), (Interval.DAY, 4500)], ids=["5minute", "day"])
def test_fetching_window_by_window_gives_the_simulators_candles_once_each(
    sim_market: Market, interval: Interval, days: int
) -> None:
    uni = sim_market.universe(SIM_NOW)
    row = uni.resolve("NSE:RELIANCE")
    assert row is not None
    end = SIM_NOW
    start = end - timedelta(days=days)
    # The simulator serves any span from Market.candles directly, so one call is the reference.
    whole = sim_market.candles(uni, row, interval, start, end, SIM_NOW)
    windows = split_windows(start, end, interval)
    assert len(windows) > 1
    pieces = [c for w in windows for c in sim_market.candles(uni, row, interval, w.start, w.end, SIM_NOW)]
    assert [c[0] for c in pieces] == [c[0] for c in whole]
    assert pieces == whole


def test_sub_second_ends_are_rounded_inward_to_the_wire_resolution() -> None:
    start = OPEN + timedelta(microseconds=250)
    end = OPEN + timedelta(hours=1, microseconds=999_999)
    assert split_windows(start, end, Interval.MINUTE) == [Window(OPEN + SECOND, OPEN + timedelta(hours=1))]


def test_an_intraday_range_inside_one_second_needs_no_window() -> None:
    start = OPEN + timedelta(microseconds=100)
    assert split_windows(start, start + timedelta(microseconds=5), Interval.MINUTE) == []


def test_start_equal_to_end_asks_for_one_moment() -> None:
    assert split_windows(OPEN, OPEN, Interval.MINUTE) == [Window(OPEN, OPEN)]


def test_a_naive_start_is_rejected_with_a_hint_to_attach_ist() -> None:
    with pytest.raises(HistoryRangeError, match=r"start .* naive datetime.*tzinfo=kitekit\.clock\.IST"):
        split_windows(datetime(2024, 1, 1), OPEN, Interval.MINUTE)  # noqa: DTZ001 - the point of the test


def test_a_naive_end_is_rejected() -> None:
    with pytest.raises(HistoryRangeError, match=r"end .* naive"):
        split_windows(OPEN, datetime(2024, 1, 2), Interval.DAY)  # noqa: DTZ001 - the point of the test


def test_a_date_instead_of_a_datetime_is_rejected() -> None:
    with pytest.raises(HistoryRangeError, match="start must be a timezone-aware datetime, got date"):
        split_windows(date(2024, 1, 1), OPEN, Interval.DAY)  # type: ignore[arg-type]


def test_start_after_end_is_rejected_and_the_message_says_what_is_allowed() -> None:
    with pytest.raises(HistoryRangeError, match=r"is after end.*start <= end"):
        split_windows(OPEN + SECOND, OPEN, Interval.MINUTE)


def test_start_after_end_is_judged_as_instants_across_zones() -> None:
    # 09:15 IST is 03:45 UTC: an end at 04:00 UTC comes after it although its clock reads earlier.
    with pytest.raises(HistoryRangeError):
        split_windows(OPEN, datetime(2024, 1, 1, 3, 44, tzinfo=UTC), Interval.MINUTE)
    assert split_windows(OPEN, datetime(2024, 1, 1, 4, 0, tzinfo=UTC), Interval.MINUTE)


def test_an_unknown_interval_is_rejected_listing_the_eight_kite_serves() -> None:
    with pytest.raises(HistoryRangeError, match=r"'hour'.*minute, 3minute, 5minute, 10minute.*60minute, day"):
        split_windows(OPEN, OPEN, "hour")


def test_interval_wire_names_are_accepted() -> None:
    assert coerce_interval("15minute") is Interval.MINUTE_15
    assert coerce_interval(Interval.DAY) is Interval.DAY


def test_history_range_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="naive"):
        split_windows(datetime(2024, 1, 1), OPEN, Interval.MINUTE)  # noqa: DTZ001
