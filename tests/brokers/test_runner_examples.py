"""The runner's three examples, unchanged, on the Upstox and Angel simulators and in the mixed mode (Angel's data,
Kite's orders): backtest, paper and live, each broker through the neutral interfaces only.

The simulators share one market whose clock runs ``SPEED`` times real time from ``SIM_NOW`` (a fixed day), so a
paper or live run of a few market minutes takes seconds; backtests run on the Thursday before it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kitekit.brokers import Broker, BrokerPair, Tick
from kitekit.brokers.recording import FeedRecorder
from kitekit.clock import IST, SystemClock
from kitekit.runner import backtest, load_strategy, trade
from kitekit.runner.brokered import FeedTicker, RunInstruments, pair_of
from kitekit.sessionclock import SessionClock
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.ticker.events import arrival_stamp
from tests.conftest import eventually
from tests.runner_helpers import EXAMPLES

from .conftest import Harness

#: Market seconds per second of the test: a minute bar closes every half second.
SPEED = 120.0
#: The Thursday before SIM_NOW: a whole session of candles.
DAY = datetime(2026, 11, 26, tzinfo=IST)
#: The runs under test: one broker for everything, or Angel's data with Kite's orders.
RUNS = ["upstox", "angel", "mixed"]


@pytest.fixture
def sim_clock() -> Any:
    """The market's clock for every simulator of a test: running at SPEED from SIM_NOW (overrides the plugin's)."""
    return SessionClock(SIM_NOW, SystemClock().now(), SPEED)


def ready(harness: Harness) -> Broker:
    """Return the harness's broker logged in, its instruments loaded (a run's timers are set after that)."""
    harness.broker.session.login_unattended()
    harness.broker.instruments().load().rule_facts().instrument("NSE:INFY")
    return harness.broker


@pytest.fixture(params=RUNS)
def brokers(request: pytest.FixtureRequest) -> Broker | BrokerPair:
    """Each run's brokers, ready: Upstox, Angel One, or Angel's data with Kite's orders."""
    if request.param == "mixed":
        return BrokerPair(
            ready(request.getfixturevalue("angel_harness")), ready(request.getfixturevalue("kite_harness"))
        )
    return ready(request.getfixturevalue(f"{request.param}_harness"))


def order_tags(request: pytest.FixtureRequest) -> list[str]:
    """The tags of every order the order broker's simulator accepted."""
    name = "kite" if request.node.callspec.params["brokers"] == "mixed" else request.node.callspec.params["brokers"]
    harness: Harness = request.getfixturevalue(f"{name}_harness")
    return harness.accepted_tags()


EXAMPLE_RUNS = [
    ("ema_cross.py", {"fast": "2", "slow": "3"}, 16.0),
    ("opening_range.py", {"range_minutes": "1", "stop": "0.0003", "target": "0.0003"}, 8.0),
    # Entry and exit come from the market's clock when the strategy is loaded (see ``timed``), with room for a
    # live run's start: Angel's order book and positions take a call a second (4 market minutes for the two).
    # A stop 20% away: one placed late on a fast-moving option would be refused as already passed.
    ("short_straddle.py", {"entry": "+8", "exit": "+10", "stop": "0.2"}, 12.0),
]


def timed(params: dict[str, str], now: datetime) -> dict[str, str]:
    """Return ``params`` with each ``+N`` time as the market minute N minutes after ``now`` (HH:MM)."""
    return {
        k: (now + timedelta(minutes=int(v[1:]))).strftime("%H:%M") if v.startswith("+") else v
        for k, v in params.items()
    }


@pytest.mark.parametrize("live", [False, True], ids=["paper", "live"])
@pytest.mark.parametrize(("name", "params", "minutes"), EXAMPLE_RUNS, ids=[e[0] for e in EXAMPLE_RUNS])
def test_each_example_trades_in_paper_and_live_on_each_brokers_simulator(
    brokers: Broker | BrokerPair, request: pytest.FixtureRequest, sim_clock: SessionClock, tmp_path: Path,
    name: str, params: dict[str, str], minutes: float, live: bool,
) -> None:  # fmt: skip
    strategy = load_strategy(EXAMPLES / name, timed(params, sim_clock.now()))
    result = trade(strategy, brokers=brokers, live=live, duration=timedelta(minutes=minutes), html=False,
                   poll_every=0.2, data=tmp_path, clock=sim_clock)  # fmt: skip
    assert result.reason == "the run's time is up", list(result.core.events)
    assert result.report is not None
    orders, trades = result.report.orders, result.report.trades
    # ema_cross takes its side at the start on its warmed averages; whether it reverses within the window is
    # the market's path. The other examples always place two (entry and exit, or two legs).
    least = 1 if name == "ema_cross.py" else 2
    assert len(orders) >= least and len(trades) >= 1, list(result.core.events)
    assert set(orders["outcome"]) == {"placed"}, (
        orders[["intent", "key", "outcome"]].to_string(),
        list(result.core.events),
    )
    prefix = result.core._prefix
    at_exchange = [t for t in order_tags(request) if t.startswith(prefix)]
    if live:  # every order of the run went to the order broker's simulator, once
        assert len(at_exchange) == len(orders) and len(set(at_exchange)) == len(at_exchange)
    else:  # paper: nothing reached it
        assert at_exchange == []
    assert (trades["charges"] > 0).all()


def test_the_ema_example_backtests_a_day_of_each_brokers_candles(brokers: Broker | BrokerPair, tmp_path: Path) -> None:
    strategy = load_strategy(EXAMPLES / "ema_cross.py", {"fast": "5", "slow": "15"})
    result = backtest(strategy, brokers=brokers, start=DAY, end=DAY + timedelta(hours=23, minutes=59),
                      root=tmp_path, html=False)  # fmt: skip
    stats = result.stats
    assert result.report is not None and result.events == 375  # one session of minute bars, every one delivered
    assert stats["trades"] >= 4 and stats["round_trips"] >= 2
    assert result.core.book.open_lots() == []
    assert max(pd.DatetimeIndex(result.report.trades["time"])).time() <= time(15, 10, 59)


def test_the_short_straddle_backtests_on_each_brokers_option_chain(
    brokers: Broker | BrokerPair, tmp_path: Path
) -> None:
    strategy = load_strategy(EXAMPLES / "short_straddle.py", {"exit": "14:30"})
    result = backtest(strategy, brokers=brokers, start=DAY, end=DAY + timedelta(hours=23, minutes=59),
                      root=tmp_path, html=False)  # fmt: skip
    assert result.report is not None
    orders = result.report.orders
    entries = orders[orders["intent"].str.startswith("short-")]
    stops = orders[orders["intent"].str.startswith("stop-")]
    assert len(entries) == 2 and set(entries["side"]) == {"SELL"}
    assert {k.endswith(("CE", "PE")) for k in entries["key"]} == {True} and entries["key"].nunique() == 2
    assert len(stops) == 2 and set(stops["order_type"]) == {"SL"}
    assert result.core.book.open_lots() == []


def record_feed(
    brokers: Broker | BrokerPair, keys: list[str], minutes: float, clock: SessionClock, folder: Path
) -> list[Any]:
    """Return ``minutes`` of the data broker's ticks of ``keys`` as (time, Kite tick dicts) frames, oldest first.

    The same ticks are recorded to ``folder`` as ``kitekit record`` does (the data broker's tokens, its name).
    """
    pair = pair_of(brokers)
    frames: list[tuple[datetime, list[dict[str, Any]]]] = []
    feed = pair.feed()
    ticker = FeedTicker(feed, RunInstruments(pair.instruments()))
    listed = pair.data.instruments()
    recorder = FeedRecorder(folder, pair.data.name, {k: listed.instrument(k) for k in keys}, flush_every=0.2).start()
    stamp = arrival_stamp(clock)
    to_run = feed.on_ticks
    assert to_run is not None

    def both(ticks: list[Tick]) -> None:
        assert recorder.add(ticks, stamp())
        to_run(ticks)

    def keep(ticks: list[dict[str, Any]]) -> None:
        stamps = [t["exchange_timestamp"] for t in ticks if t.get("exchange_timestamp")]
        if stamps:
            frames.append((max(stamps), ticks))

    feed.on_ticks = both
    ticker.on_ticks = keep
    ticker.subscribe(keys, mode="full")
    end = clock.now() + timedelta(minutes=minutes)
    ticker.start()
    try:
        eventually(lambda: clock.now() >= end and len(frames) > 0, timeout=60)
    finally:
        ticker.stop()
        stats = recorder.close()
    assert ticker.error is None and stats.dropped_ticks == 0
    return sorted(frames, key=lambda f: f[0])


def test_the_opening_range_example_backtests_each_brokers_recorded_ticks_alike_in_memory_and_on_disk(
    brokers: Broker | BrokerPair, sim_clock: SessionClock, tmp_path: Path
) -> None:
    frames = record_feed(brokers, ["NSE:RELIANCE"], 6.0, sim_clock, tmp_path / "rec")
    params = {"range_minutes": "1", "stop": "0.0003", "target": "0.0003"}
    strategy = load_strategy(EXAMPLES / "opening_range.py", params)
    result = backtest(strategy, brokers=brokers, ticks=frames, root=tmp_path, html=False)
    assert result.report is not None
    orders = result.report.orders
    assert result.events == len(frames) and orders["intent"].iloc[0].startswith("entry-"), list(result.core.events)
    assert {i.split("-")[0] for i in orders["intent"]} == {"entry", "stop", "target"}
    # The entry, and the exit that filled first (the other cancelled) when the recorded moments reach one: at
    # 120x a tick a second is two market minutes, and a loaded machine records fewer.
    assert result.stats["trades"] >= 1
    if result.stats["trades"] >= 2:
        assert result.core.book.open_lots() == []
    # The recording on disk (the data broker's tokens, to the second) backtests to the same orders and fills.
    again = load_strategy(EXAMPLES / "opening_range.py", params)
    on_disk = backtest(again, brokers=brokers, ticks=tmp_path / "rec", root=tmp_path / "disk", html=False)
    assert on_disk.report is not None and on_disk.events == len(frames)
    columns = ["intent", "key", "side", "quantity", "order_type", "price", "trigger_price", "outcome"]
    assert on_disk.report.orders[columns].to_dict("records") == orders[columns].to_dict("records")
    fills = ["intent", "side", "quantity", "average_price"]
    assert on_disk.report.trades[fills].to_dict("records") == result.report.trades[fills].to_dict("records")
