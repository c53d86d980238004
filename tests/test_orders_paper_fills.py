"""Paper fills that happen: resting orders judged on the market's path since they were placed, not on one quote.

The simulator's market is a function of its clock, so moving the shared ManualClock across minutes with no call
in between lets the price trade through a resting order and come back; the next call must show the fill, at
the order's price and at the moment the path reached it. Which price to rest at is read from the simulated
market's own minute candles for the minutes ahead.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect.exceptions import PermissionException

from kitekit.clock import IST, ManualClock
from kitekit.engine import Candle
from kitekit.instruments import InstrumentStore
from kitekit.orders import OrderRequest, OrderStatus, PaperBroker, QuoteRecorder, RecordedQuotes, Variety
from kitekit.orders.model import Trade
from kitekit.sim.config import SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.formats import parse_kite_datetime
from kitekit.wire.history import Interval

MINUTE = timedelta(minutes=1)
KEYS = ("NSE:INFY", "NSE:RELIANCE", "NSE:TCS", "NSE:SBIN", "NSE:HDFCBANK", "NSE:ITC")


@pytest.fixture
def paper(
    unlimited: SimConfig, sim: SimServer, sim_kite: Any, sim_instruments: InstrumentStore, sim_clock: ManualClock,
    tmp_path: Path,
) -> PaperBroker:  # fmt: skip
    return PaperBroker(sim_kite, sim_instruments, folder=tmp_path / "paper", clock=sim_clock)


def bars(sim: SimServer, key: str, first: datetime, last: datetime) -> list[Candle]:
    """Return the simulated market's minute candles of ``key`` starting in [first, last] (its future, too)."""
    market = sim.sim.market
    uni = market.universe(first)
    end = last + MINUTE
    return [Candle.from_kite(row) for row in market.candles(uni, uni.by_key[key], Interval.MINUTE, first, last, end)]


@dataclass(frozen=True)
class Dip:
    """An instrument that trades below ``limit`` first in ``minute``, above it before and after."""

    key: str
    limit: float
    minute: datetime


def ltp(kite: Any, key: str) -> float:
    return float(kite.ltp(key)[key]["last_price"])


def find_dip(sim: SimServer, kite: Any, clock: ManualClock, placed: datetime, later: datetime) -> Dip:
    """Find an instrument and a limit it trades through after ``placed`` and is back above at ``later``."""
    for key in KEYS:
        clock.set(later)
        after = ltp(kite, key)
        clock.set(placed)
        now = ltp(kite, key)
        first = placed.replace(second=0) + MINUTE
        candles = bars(sim, key, placed.replace(second=0), later.replace(second=0) - 2 * MINUTE)
        low = min(c.low for c in candles[1:])
        limit = round(math.floor(low / 0.05 + 1e-6) * 0.05 + 0.05, 2)  # one tick above the lowest low
        if limit < min(now, after, candles[0].close) - 0.5:
            minute = next(c.start for c in candles[1:] if c.low <= limit + 1e-9)
            assert minute >= first
            return Dip(key, limit, minute)
    raise AssertionError("no instrument dips and recovers in these minutes: pick other moments")


def trade_of(paper: PaperBroker, order_id: str) -> Trade:
    [trade] = [t for t in paper.trades() if t.order_id == order_id]
    return trade


def within(moment: datetime | None, minute: datetime) -> bool:
    return moment is not None and minute <= moment < minute + MINUTE


def test_a_resting_buy_fills_at_its_limit_inside_the_minute_the_market_traded_through_it(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock
) -> None:
    placed, later = sim_clock.now() + timedelta(seconds=30), sim_clock.now() + timedelta(minutes=16, seconds=10)
    dip = find_dip(sim, sim_kite, sim_clock, placed, later)
    order_id = paper.place(OrderRequest.buy(dip.key, 1, price=dip.limit), "dip").order_id
    assert paper.order(order_id).status == OrderStatus.OPEN

    sim_clock.set(later)  # sixteen minutes pass without a call; the price went under the limit and came back
    assert ltp(sim_kite, dip.key) > dip.limit
    order = paper.order(order_id)
    assert (order.status, order.average_price, order.filled_quantity) == (OrderStatus.COMPLETE, dip.limit, 1)
    trade = trade_of(paper, order_id)
    assert trade.average_price == dip.limit and within(trade.fill_timestamp, dip.minute)
    assert within(parse_kite_datetime(order.raw["exchange_update_timestamp"]), dip.minute)


def test_a_stop_triggers_and_fills_at_its_trigger_inside_the_minute_the_market_reached_it(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock
) -> None:
    placed, later = sim_clock.now() + timedelta(seconds=30), sim_clock.now() + timedelta(minutes=16, seconds=10)
    dip = find_dip(sim, sim_kite, sim_clock, placed, later)
    paper.place(OrderRequest.buy(dip.key, 1), "own")  # something to sell
    stop = paper.place(OrderRequest.sell(dip.key, 1, trigger_price=dip.limit), "stop").order_id
    assert paper.order(stop).status == OrderStatus.TRIGGER_PENDING
    sim_clock.set(later)
    order = paper.order(stop)
    assert (order.status, order.average_price) == (OrderStatus.COMPLETE, dip.limit)
    assert within(trade_of(paper, stop).fill_timestamp, dip.minute)


def test_a_queued_order_that_the_open_gaps_through_fills_at_the_open(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock
) -> None:
    friday_evening = sim_clock.now().replace(hour=17)
    monday_open = datetime(2026, 11, 30, 9, 15, tzinfo=IST)
    [first, *_] = bars(sim, "NSE:INFY", monday_open, monday_open + MINUTE)
    sim_clock.set(friday_evening)
    friday_close = ltp(sim_kite, "NSE:INFY")
    assert abs(first.open - friday_close) >= 0.1, "the simulated market must gap at Monday's open"
    limit = round(max(first.open, friday_close) + 2.0, 1)  # above both: it fills the moment the market opens
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 2, price=limit, variety=Variety.AMO), "amo").order_id
    assert paper.order(order_id).status == OrderStatus.AMO_REQ_RECEIVED

    sim_clock.set(monday_open + timedelta(minutes=20))
    login_via_redirect(sim, sim_kite)  # Kite flushes access tokens every morning
    order = paper.order(order_id)
    assert (order.status, order.average_price) == (OrderStatus.COMPLETE, first.open)
    assert trade_of(paper, order_id).fill_timestamp == monday_open


def test_a_candle_fetch_that_fails_is_made_again_and_the_fill_is_not_lost(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    placed, later = sim_clock.now() + timedelta(seconds=30), sim_clock.now() + timedelta(minutes=16, seconds=10)
    dip = find_dip(sim, sim_kite, sim_clock, placed, later)
    order_id = paper.place(OrderRequest.buy(dip.key, 1, price=dip.limit), "dip").order_id
    faults = {"network_error_rate": 1.0, "paths": ["/instruments/historical"]}
    requests.put(f"{sim.url}/__sim/faults", json=faults, timeout=5).raise_for_status()
    sim_clock.set(later)
    with caplog.at_level(logging.WARNING, "kitekit.orders"):
        assert paper.order(order_id).status == OrderStatus.OPEN  # the quote of the moment is above the limit
    assert "trying again next call" in caplog.text
    requests.delete(f"{sim.url}/__sim/faults", timeout=5).raise_for_status()
    sim_clock.advance(5)
    order = paper.order(order_id)
    assert (order.status, order.average_price) == (OrderStatus.COMPLETE, dip.limit)
    # Booked at the failed call's moment: the account had already reached it, and time never runs backwards.
    assert trade_of(paper, order_id).fill_timestamp == later


class NoHistory:
    """A Kite client on an account without the historical data add-on: candles are refused (403)."""

    def __init__(self, kite: Any) -> None:
        self.kite = kite

    def quote(self, *instruments: Any) -> Mapping[Any, Mapping[str, Any]]:
        answer: Mapping[Any, Mapping[str, Any]] = self.kite.quote(*instruments)
        return answer

    def historical_data(self, *args: Any, **kwargs: Any) -> list[dict[str, Any]]:
        raise PermissionException("Insufficient permission for that call.", code=403)


def test_without_historical_data_paper_judges_on_quotes_and_says_so_once(
    unlimited: SimConfig, sim: SimServer, sim_kite: Any, sim_instruments: InstrumentStore, sim_clock: ManualClock,
    tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    paper = PaperBroker(NoHistory(sim_kite), sim_instruments, folder=tmp_path / "p", clock=sim_clock)
    price = round(sim_kite.quote("NSE:INFY")["NSE:INFY"]["ohlc"]["low"] + 0.5, 1)  # within the day's range
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 1, price=price), "low").order_id
    with caplog.at_level(logging.WARNING, "kitekit.orders"):
        for _ in range(3):
            sim_clock.advance(120)
            assert paper.order(order_id).status == OrderStatus.OPEN
    assert caplog.text.count("no historical data on this account") == 1


def tick(token: int, price: float, **fields: Any) -> dict[str, Any]:
    """A tick as KiteTicker hands it to ``on_ticks`` in ``ltp`` mode (plus any fields given)."""
    return {"tradable": True, "mode": "ltp", "instrument_token": token, "last_price": price, **fields}


def test_live_ticks_fill_a_resting_order_the_moment_they_cross_it_and_spare_the_candle_fetch(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock
) -> None:
    token = sim_kite.quote("NSE:INFY")["NSE:INFY"]["instrument_token"]
    last = ltp(sim_kite, "NSE:INFY")
    limit = round(last - 3.0, 1)
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 3, price=limit), "t").order_id
    other = paper.place(OrderRequest.buy("NSE:INFY", 3, price=round(last - 9.0, 1)), "u").order_id
    sim_clock.advance(20)
    paper.on_ticks([tick(token, last - 1.0), tick(999, 1.0)])  # above the limit; an instrument nobody watches
    assert paper.order(order_id).status == OrderStatus.OPEN
    sim_clock.advance(20)
    tick_time = sim_clock.now()
    paper.on_ticks([tick(token, last - 5.0)])  # through the limit since the last tick: it fills there, now
    order = paper.order(order_id)
    assert (order.status, order.average_price) == (OrderStatus.COMPLETE, limit)
    assert trade_of(paper, order_id).fill_timestamp == tick_time.replace(microsecond=0)
    assert paper.order(other).status == OrderStatus.OPEN

    fetched = historical_requests(sim)
    sim_clock.set(tick_time + timedelta(seconds=50))  # the next minute has ended: the ticks judged it
    paper.on_ticks([tick(token, last - 6.0)])
    sim_clock.advance(10)
    paper.orders()
    assert historical_requests(sim) == fetched


@pytest.fixture
def recorded_day(sim_instruments: InstrumentStore) -> tuple[InstrumentStore, ManualClock]:
    """The simulator's instruments (no simulator running) and a clock at 11:00:30 on the test's Friday."""
    return sim_instruments, ManualClock(datetime(2026, 11, 27, 11, 0, 30, tzinfo=IST))


def _quote(token: int, price: float, moment: datetime) -> dict[str, Any]:
    depth = {"buy": [{"price": price - 0.05, "quantity": 500, "orders": 3}],
             "sell": [{"price": price + 0.05, "quantity": 500, "orders": 3}]}  # fmt: skip
    stamp = moment.strftime("%Y-%m-%d %H:%M:%S")
    return {"instrument_token": token, "last_price": price, "timestamp": stamp, "depth": depth,
            "ohlc": {"close": 99.0}, "lower_circuit_limit": 90.0, "upper_circuit_limit": 110.0}  # fmt: skip


def _row(start: str, o: float, h: float, lo: float, c: float) -> dict[str, Any]:
    return {"date": f"2026-11-27T{start}:00+05:30", "open": o, "high": h, "low": lo, "close": c, "volume": 1000}


def test_in_the_minute_of_a_placement_only_the_move_after_it_counts(
    recorded_day: tuple[InstrumentStore, ManualClock], tmp_path: Path
) -> None:
    instruments, clock = recorded_day
    token = instruments.instrument("NSE:INFY").instrument_token
    key = str(token)
    start = clock.now()
    seen = [(start, 100.0), (start + timedelta(seconds=75), 99.8), (start + timedelta(seconds=100), 99.6)]
    answers = [{"NSE:INFY" if i == 0 else key: _quote(token, price, t)} for i, (t, price) in enumerate(seen)]
    # 11:00 dipped to 98.5 before the order came at 11:00:30 (it was at 100 then) and closed at 100; 11:01
    # went down to 98.9: the order fills there, in 11:01, not in the minute it was placed.
    rows = (_row("11:00", 99, 100.5, 98.5, 100), _row("11:01", 100, 100, 98.9, 99.5))
    paper = PaperBroker(RecordedQuotes(answers, {"minute": {key: {r["date"]: r for r in rows}}}), instruments,
                        folder=tmp_path / "p", clock=clock)  # fmt: skip
    order_id = paper.place(OrderRequest.buy("NSE:INFY", 1, price=99.0), "p").order_id
    clock.set(seen[1][0])  # 11:01:45: the candle of 11:00 is final, from 100 at 11:00:30 to its close at 100
    assert paper.order(order_id).status == OrderStatus.OPEN
    clock.set(seen[2][0])  # 11:02:10: the candle of 11:01 is final
    order = paper.order(order_id)
    assert (order.status, order.average_price) == (OrderStatus.COMPLETE, 99.0)
    assert within(trade_of(paper, order_id).fill_timestamp, start.replace(second=0) + MINUTE)


def test_a_recording_with_candles_replays_the_same_fills(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock, sim_instruments: InstrumentStore,
    tmp_path: Path,
) -> None:  # fmt: skip
    placed, later = sim_clock.now() + timedelta(seconds=30), sim_clock.now() + timedelta(minutes=16, seconds=10)
    dip = find_dip(sim, sim_kite, sim_clock, placed, later)
    runs: list[list[dict[str, Any]]] = []
    recorder = QuoteRecorder(sim_kite)
    for name, source in (("live", recorder), ("replay", None)):
        if source is None:
            recorder.save(tmp_path / "recorded.json")
            source = RecordedQuotes.load(tmp_path / "recorded.json")  # type: ignore[assignment]
        sim_clock.set(placed)
        broker = PaperBroker(source, sim_instruments, folder=tmp_path / name, clock=sim_clock)  # type: ignore[arg-type]
        broker.place(OrderRequest.buy(dip.key, 1, price=dip.limit), "dip")
        sim_clock.set(later)
        runs.append([t.to_kite() for t in broker.trades()])
    assert runs[0] == runs[1] and runs[0][0]["average_price"] == dip.limit


def test_an_order_right_after_the_path_was_fed_meets_the_market_not_the_path(
    paper: PaperBroker, sim_kite: Any, sim_clock: ManualClock
) -> None:
    start = sim_clock.now()
    low = round(ltp(sim_kite, "NSE:INFY") * 0.95, 1)
    paper.place(OrderRequest.buy("NSE:INFY", 1, price=low), "rest")  # the path of INFY is followed from here
    sim_clock.set(start + timedelta(minutes=1, seconds=4, microseconds=500_000))
    paper.orders()  # fetches INFY; the candle of 11:00 is not final yet
    sim_clock.advance(0.7)  # it is now, and INFY's quote was fetched less than a second ago
    ask = sim_kite.quote("NSE:INFY")["NSE:INFY"]["depth"]["sell"][0]["price"]
    bought = paper.place(OrderRequest.buy("NSE:INFY", 1), "now").order_id
    assert paper.order(bought).average_price == ask  # the live book, not the path's last point


def historical_requests(sim: SimServer) -> int:
    return sum(n for route, n in dict(sim.sim.requests).items() if "historical" in route)


def test_no_candles_are_fetched_for_prices_the_days_range_never_reached(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock
) -> None:
    ohlc = sim_kite.quote("NSE:INFY")["NSE:INFY"]["ohlc"]
    far = paper.place(OrderRequest.buy("NSE:INFY", 1, price=round(ohlc["low"] * 0.97, 1)), "far").order_id
    for _ in range(5):
        sim_clock.advance(70)
        assert paper.order(far).status == OrderStatus.OPEN
    assert historical_requests(sim) == 0
    near = paper.place(OrderRequest.buy("NSE:INFY", 1, price=round(ohlc["low"] + 0.5, 1)), "near").order_id
    sim_clock.advance(70)
    assert paper.order(near).status == OrderStatus.OPEN and historical_requests(sim) == 1


def test_a_tick_with_depth_stands_for_a_fresh_quote(
    paper: PaperBroker, sim: SimServer, sim_kite: Any, sim_clock: ManualClock
) -> None:
    paper.place(OrderRequest.buy("NSE:INFY", 1, price=round(ltp(sim_kite, "NSE:INFY") * 0.9, 1)), "rest")
    sim_clock.advance(30)
    item = sim_kite.quote("NSE:INFY")["NSE:INFY"]
    full = {**item, "mode": "full", "tradable": True, "exchange_timestamp": item["timestamp"]}
    paper.on_ticks([full])
    quotes_before = sum(n for route, n in dict(sim.sim.requests).items() if route.startswith("GET /quote"))
    bought = paper.place(OrderRequest.buy("NSE:INFY", 1), "now").order_id
    assert paper.order(bought).average_price == item["depth"]["sell"][0]["price"]
    assert sum(n for route, n in dict(sim.sim.requests).items() if route.startswith("GET /quote")) == quotes_before
