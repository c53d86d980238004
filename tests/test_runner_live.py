"""Paper and live on a running simulator: the three examples trade, a halt holds across a restart, orders are
reconciled, and a live run's orders reach the exchange while a paper run's never do."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kiteconnect import KiteConnect

from kitekit.instruments import InstrumentStore
from kitekit.runner import Bar, RiskLimits, RiskState, Strategy, load_strategy, trade
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from tests.orders_helpers import accepted
from tests.runner_helpers import EXAMPLES, client, running_sim, store_of

#: Market seconds per second of the test: a minute bar closes every half second.
SPEED = 120.0


@pytest.fixture
def market_sim(sim_market: Market) -> Iterator[SimServer]:
    with running_sim(sim_market, SPEED) as server:
        yield server


@pytest.fixture
def kite(market_sim: SimServer) -> KiteConnect:
    return client(market_sim, market_sim.sim.clock)


def run_on(server: SimServer, kite: KiteConnect, market: Market, strategy: Strategy, minutes: float, live: bool,
           store: InstrumentStore | None = None, **options: Any) -> Any:  # fmt: skip
    store = store or store_of(market, server.sim.clock)
    return trade(strategy, kite=kite, instruments=store, live=live, duration=timedelta(minutes=minutes), html=False,
                 poll_every=0.2, **options)  # fmt: skip


def tags_at_exchange(server: SimServer, prefix: str) -> list[str]:
    return [o["tag"] for o in accepted(server) if str(o.get("tag") or "").startswith(prefix)]


EXAMPLE_RUNS = [
    ("ema_cross.py", {"fast": "2", "slow": "3"}, 16.0),
    # 16 market minutes (8 s at 120x): a live run's login, reconciliation and ticker connect come out of the window,
    # and with the calendar matrix's four workers on two cores 8 minutes (4 s) ran out before the first tick.
    ("opening_range.py", {"range_minutes": "1", "stop": "0.0003", "target": "0.0003"}, 16.0),
    # Entry and exit come from the market's clock when the run starts (see ``timed``).
    ("short_straddle.py", {"entry": "+2", "exit": "+4", "stop": "0.05"}, 6.0),
]


def timed(params: dict[str, str], now: datetime) -> dict[str, str]:
    """Return ``params`` with each ``+N`` time as the market minute N minutes after ``now`` (HH:MM).

    The market runs at 120x: the seconds a loaded machine takes to set a run up are minutes of it, so a fixed
    11:01 could already be gone when the run starts.
    """
    return {
        k: (now + timedelta(minutes=int(v[1:]))).strftime("%H:%M") if v.startswith("+") else v
        for k, v in params.items()
    }


@pytest.mark.parametrize("live", [False, True], ids=["paper", "live"])
@pytest.mark.parametrize(("name", "params", "minutes"), EXAMPLE_RUNS, ids=[e[0] for e in EXAMPLE_RUNS])
def test_each_example_trades_on_the_simulator_in_paper_and_in_live(
    market_sim: SimServer, kite: KiteConnect, sim_market: Market, name: str, params: dict[str, str], minutes: float,
    live: bool,
) -> None:  # fmt: skip
    store = store_of(sim_market, market_sim.sim.clock)
    strategy = load_strategy(EXAMPLES / name, timed(params, market_sim.sim.clock.now()))
    result = run_on(market_sim, kite, sim_market, strategy, minutes, live, store)
    assert result.reason == "the run's time is up"
    orders, trades = result.report.orders, result.report.trades
    # ema_cross takes its side at the start on its warmed averages; whether it reverses within the window is
    # the market's path. The other examples always place two (entry and exit, or two legs).
    least = 1 if name == "ema_cross.py" else 2
    assert len(orders) >= least and len(trades) >= 1, list(result.core.events)
    assert set(orders["outcome"]) == {"placed"}
    prefix = result.core._prefix
    at_exchange = tags_at_exchange(market_sim, prefix)
    if live:  # every order of the run went to the simulator's exchange, once
        assert len(at_exchange) == len(orders) and len(set(at_exchange)) == len(at_exchange)
    else:  # paper: nothing reached it
        assert at_exchange == []
    assert (trades["charges"] > 0).all()


class BuyEveryBar(Strategy):
    """Buys one share a bar: with a loss limit of a rupee, the first fill's charges halt it."""

    symbols = ("NSE:INFY",)

    def on_bar(self, bar: Bar) -> None:
        self.buy(bar.key, 1, product="MIS")


def test_a_halt_for_the_days_loss_holds_across_a_restart_the_same_day(
    market_sim: SimServer, kite: KiteConnect, sim_market: Market, tmp_path: Path
) -> None:
    limits = RiskLimits(max_daily_loss=1.0)
    # 12 market minutes are 6 s at 120x: a loaded machine's start-up must leave a bar, its fill and the check in it.
    first = run_on(market_sim, kite, sim_market, BuyEveryBar(), 12.0, False, name="loser", limits=limits)
    assert first.core.guard.state is RiskState.HALTED
    orders = first.report.orders
    assert list(orders["intent"].str.split("-").str[0])[:2] == ["n1", "halt"]  # one buy, then flattened
    assert first.core.book.open_lots() == []
    lost = first.core.day_pnl()
    assert lost < -1.0
    again = run_on(market_sim, kite, sim_market, BuyEveryBar(), 3.0, False, name="loser", limits=limits)
    assert again.core.guard.state is RiskState.HALTED and "max_daily_loss" in again.core.guard.reason
    assert again.core.day_pnl() == pytest.approx(lost)  # the day's loss came back with the run
    assert len(again.report.orders) == len(orders)  # the restarted run placed nothing: still halted today
    assert any("halted for the day" in line for line in again.core.events)


def test_the_ema_example_holds_its_position_before_the_first_bar_after_its_start_has_closed(
    sim_market: Market,
) -> None:
    # A slower market than the other tests': the seconds the run takes to start are market seconds too.
    with running_sim(sim_market, 10.0) as server:
        kite = client(server, server.sim.clock)
        store = store_of(sim_market, server.sim.clock)
        started = server.sim.clock.now()
        # The bar forming at the start is partial (left out); the first bar after the start closes a minute later.
        first_bar_closes = started.replace(second=0, microsecond=0) + timedelta(minutes=2)
        strategy = load_strategy(EXAMPLES / "ema_cross.py", {"fast": "2", "slow": "3"})
        result = trade(strategy, kite=kite, instruments=store, until=first_bar_closes, html=False, poll_every=0.2,
                       name="ema-warm")  # fmt: skip
    assert result.report is not None
    trades = result.report.trades
    assert len(trades) == 1, list(result.core.events)  # its side, taken at the start on the warmed EMAs
    assert pd.Timestamp(trades["time"].iloc[0]).to_pydatetime() < first_bar_closes
    assert abs(result.core.position("NSE:INFY")) == 10  # held (a run keeps its positions when it stops)
    assert any("warmed up on 9 bars of 1" in line for line in result.core.events), list(result.core.events)
