"""Parity on a recorded session: the same ticks give the same intents and fills in a backtest and on paper over
the simulator's replay of them; live against the replay, every difference is listed with its cause."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore
from kitekit.runner import backtest, load_strategy, trade
from kitekit.runner.parity import compare_runs, fills_of, intents_of
from kitekit.sim.feed import Recording
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from tests.runner_helpers import EXAMPLES, client, record, running_sim, store_of

pytestmark = pytest.mark.slow  # real time passes: a replay, a market that runs

#: How much faster than recorded the simulator replays (and its market clock runs, so the two keep together).
SPEED = 40.0
MINUTES = 5
PARAMS = {"range_minutes": "1", "stop": "0.0004", "target": "0.0004"}


@pytest.fixture
def recording(sim: SimServer, sim_clock: ManualClock, sim_market: Market, tmp_path: Path) -> Path:
    kite = client(sim, sim_clock)
    store = store_of(sim_market, sim_clock)
    return record(sim, sim_clock, kite, store, ["NSE:RELIANCE", "NSE:INFY"], MINUTES * 60, tmp_path / "ticks")


@pytest.fixture
def replaying(sim_market: Market, recording: Path) -> Iterator[SimServer]:
    with running_sim(sim_market, SPEED, start=SIM_NOW) as server:
        server.sim.feed.replay(Recording.load(recording), SPEED)
        yield server


def run_over_replay(server: SimServer, market: Market, live: bool) -> Any:
    kite: KiteConnect = client(server, server.sim.clock)
    store: InstrumentStore = store_of(market, server.sim.clock)
    strategy = load_strategy(EXAMPLES / "opening_range.py", PARAMS)
    # Until the replay has sent everything: its last frame is MINUTES after the first, at SPEED.
    return trade(strategy, kite=kite, instruments=store, live=live, duration=timedelta(minutes=MINUTES, seconds=40),
                 html=False, poll_every=0.2, name="parity-live" if live else "parity-paper")  # fmt: skip


def test_the_same_recorded_ticks_give_the_same_intents_and_fills_in_backtest_and_on_paper_over_the_replay(
    recording: Path, replaying: SimServer, sim_market: Market, sim_clock: ManualClock, tmp_path: Path
) -> None:
    store = store_of(sim_market, sim_clock)
    tested = backtest(load_strategy(EXAMPLES / "opening_range.py", PARAMS), instruments=store, ticks=recording,
                      root=tmp_path / "runs")  # fmt: skip
    paper = run_over_replay(replaying, sim_market, live=False)
    assert tested.report is not None and paper.report is not None
    assert len(intents_of(tested.report.orders)) >= 3  # an entry, its stop and its target
    assert len(fills_of(tested.report.trades)) >= 2
    assert intents_of(paper.report.orders) == intents_of(tested.report.orders)
    assert fills_of(paper.report.trades) == fills_of(tested.report.trades)
    assert compare_runs(tested.report, paper.report) == []


def test_live_against_the_replay_lists_each_difference_with_its_cause(
    recording: Path, replaying: SimServer, sim_market: Market, sim_clock: ManualClock, tmp_path: Path
) -> None:
    store = store_of(sim_market, sim_clock)
    tested = backtest(load_strategy(EXAMPLES / "opening_range.py", PARAMS), instruments=store, ticks=recording,
                      root=tmp_path / "runs")  # fmt: skip
    live = run_over_replay(replaying, sim_market, live=True)
    assert tested.report is not None and live.report is not None
    left, right = intents_of(tested.report.orders), intents_of(live.report.orders)
    assert right and right[0] == left[0]  # the entry: decided on the same tick in both
    differences = compare_runs(tested.report, live.report, right_is_live=True)
    for difference in differences:
        assert difference.cause and str(difference)
    fills = [
        d for d in differences if d.kind == "fill" and d.left and d.right and d.left["intent"] == d.right["intent"]
    ]
    for difference in fills:  # the exchange filled at its own book
        assert "exchange" in difference.cause
