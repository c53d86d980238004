"""The price path through minute candles: its order, its moments, the levels it crosses, and fills on it."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from kitekit.clock import IST
from kitekit.engine.path import UNBOUNDED, Candle, PathPoint, candle_path, path_quotes, price_path, through
from tests.engine_helpers import INFY, NOW, at, current, engine, infy, order

MINUTE_START = NOW + timedelta(minutes=1)


def candle(o: float, h: float, lo: float, c: float, start: datetime = MINUTE_START, volume: int = 0) -> Candle:
    return Candle(start, o, h, lo, c, volume)


def prices(points: list[PathPoint]) -> list[float]:
    return [p.price for p in points]


def test_a_candle_goes_to_its_nearer_extreme_first() -> None:
    assert prices(candle_path(candle(100, 103, 99, 102))) == [100, 99, 103, 102]  # the low is nearer
    assert prices(candle_path(candle(100, 101, 96, 97))) == [100, 101, 96, 97]  # the high is nearer


def test_a_tie_goes_the_way_the_candle_closed() -> None:
    assert prices(candle_path(candle(100, 102, 98, 101))) == [100, 98, 102, 101]  # rising: O, L, H, C
    assert prices(candle_path(candle(100, 102, 98, 99))) == [100, 102, 98, 99]  # falling: O, H, L, C


def test_repeated_prices_are_left_out_and_a_flat_candle_is_its_open() -> None:
    assert prices(candle_path(candle(100, 101, 100, 101))) == [100, 101]
    [only] = candle_path(candle(100, 100, 100, 100))
    assert only == PathPoint(MINUTE_START, 100.0, 0)


def test_crossed_levels_are_points_of_their_own_in_the_order_they_are_met() -> None:
    path = candle_path(candle(100, 103, 99, 102), levels=[102.5, 99.5, 101, 98, 104])
    assert prices(path) == [100, 99.5, 99, 99.5, 101, 102.5, 103, 102.5, 102]


def test_moments_follow_the_distance_travelled_within_the_minute() -> None:
    # O 100 -> L 99 -> H 103 -> C 102: 1 + 4 + 1 = 6 of travel over 59 seconds, in whole seconds.
    path = candle_path(candle(100, 103, 99, 102), levels=[101])
    offsets = [(p.time - MINUTE_START).total_seconds() for p in path]
    assert offsets == [0, 9, 29, 49, 59]  # 100, 99, 101, 103, 102
    assert all(MINUTE_START <= p.time < MINUTE_START + timedelta(minutes=1) for p in path)


def test_a_start_inside_the_candle_runs_straight_to_the_close() -> None:
    start = PathPoint(MINUTE_START + timedelta(seconds=30), 101.0)
    path = candle_path(candle(100, 103, 95, 102), levels=[96, 101.5], start=start)
    assert [(p.price, (p.time - MINUTE_START).total_seconds()) for p in path] == [(101.5, 44), (102, 59)]
    assert candle_path(candle(100, 103, 95, 101), levels=[96], start=start) == []


def test_a_path_over_candles_skips_what_ended_before_its_start() -> None:
    first, second = candle(100, 101, 99, 100.5), candle(100.5, 102, 100, 101, MINUTE_START + timedelta(minutes=1))
    whole = price_path([second, first])
    assert prices(whole) == [100, 99, 101, 100.5, 100.5, 100, 102, 101]
    later = price_path([first, second], start=PathPoint(MINUTE_START + timedelta(seconds=70), 101.5))
    assert prices(later) == [101]
    at_open = price_path([first, second], start=PathPoint(MINUTE_START + timedelta(minutes=1), 100.5))
    assert prices(at_open) == [100.5, 100, 102, 101]  # a start right at a candle's open takes it whole


def test_observations_are_joined_through_the_levels_between_them() -> None:
    t1, t2 = NOW, NOW + timedelta(seconds=5)
    joined = through([PathPoint(t1, 100.0), PathPoint(t2, 97.0)], levels=[98.5, 99, 96], start=PathPoint(t1, 99.5))
    assert [(p.price, p.time) for p in joined] == [(100, t1), (99, t2), (98.5, t2), (97, t2)]


def test_candles_read_from_the_sdk_and_from_the_wire_alike() -> None:
    moment = datetime(2026, 11, 27, 11, 1, tzinfo=IST)
    sdk = {"date": moment, "open": 1, "high": 2, "low": 0.5, "close": 1.5, "volume": 7}
    wire = ["2026-11-27T11:01:00+0530", 1, 2, 0.5, 1.5, 7, 0]
    assert Candle.from_kite(sdk) == Candle.from_kite(wire) == Candle(MINUTE_START, 1.0, 2.0, 0.5, 1.5, 7)
    with pytest.raises(ValueError, match="naive"):
        Candle.from_kite({**sdk, "date": datetime(2026, 11, 27, 11, 1)})  # noqa: DTZ001 - the point of the test


def test_path_quotes_offer_the_candles_volume_at_the_points_price() -> None:
    template = infy(1500.0)
    [q] = path_quotes(INFY.instrument_token, [PathPoint(MINUTE_START, 1499.0, 40)], template=template)
    assert (q.last_price, q.bids[0].price, q.asks[0].price, q.asks[0].quantity) == (1499.0, 1499.0, 1499.0, 40)
    assert (q.lower_circuit_limit, q.upper_circuit_limit, q.close) == (1350.0, 1650.0, 1490.0)
    [unknown] = path_quotes(INFY.instrument_token, [PathPoint(MINUTE_START, 1499.0)])
    assert unknown.bids[0].quantity == UNBOUNDED


def _feed(eng, candles: list[Candle]) -> None:  # type: ignore[no-untyped-def]
    levels = eng.resting_levels().get(INFY.instrument_token, [])
    for q in path_quotes(INFY.instrument_token, price_path(candles, levels), template=eng.last_quote(408065)):
        eng.on_quotes([q], q.timestamp)


def test_a_resting_buy_fills_at_its_price_when_the_path_crosses_it() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1497.5), NOW)["order_id"]
    _feed(eng, [candle(1500, 1501, 1496, 1500.5, volume=100)])
    done = current(eng, oid, at(2))
    assert (done["status"], done["average_price"]) == ("COMPLETE", 1497.5)
    [trade] = eng.trades(at(2))
    # O 1500 -> H 1501 (nearer) -> L 1496 -> C 1500.5: 1497.5 after 4.5 of 10.5 of travel, 59 * 4.5 / 10.5 = 25 s.
    assert trade["fill_timestamp"] == "2026-11-27 11:01:25"


def test_a_candle_that_opens_through_a_resting_buy_fills_it_at_the_open() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1497.5), NOW)["order_id"]
    _feed(eng, [candle(1495, 1499, 1494, 1498, volume=100)])
    done = current(eng, oid, at(2))
    assert (done["status"], done["average_price"]) == ("COMPLETE", 1495.0)
    assert eng.trades(at(2))[0]["fill_timestamp"] == "2026-11-27 11:01:00"


def test_a_stop_triggers_where_the_path_reaches_it_and_fills_there() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    sl_m = eng.place_order("regular", order(INFY, "SELL", 5, "SL-M", trigger_price=1496.0), NOW)["order_id"]
    sl = eng.place_order("regular", order(INFY, "BUY", 5, "SL", price=1502.0, trigger_price=1501.5), NOW)["order_id"]
    _feed(eng, [candle(1500, 1503, 1495, 1497, volume=100)])  # O, H (nearer), L, C: 13 of travel in 59 s
    for oid, price in ((sl, 1501.5), (sl_m, 1496.0)):
        state = current(eng, oid, at(2))
        assert (state["status"], state["average_price"]) == ("COMPLETE", price)
    assert [t["fill_timestamp"] for t in eng.trades(at(2))] == ["2026-11-27 11:01:06", "2026-11-27 11:01:45"]


def test_a_fill_takes_no_more_than_the_candles_volume_at_a_point() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 50, price=1497.5), NOW)["order_id"]
    _feed(eng, [candle(1500, 1501, 1497.5, 1500, volume=20)])  # touches 1497.5 once
    state = current(eng, oid, at(2))
    assert (state["status"], state["filled_quantity"]) == ("OPEN", 20)
