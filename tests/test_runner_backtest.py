"""Backtests: the examples on the simulator's candles and recorded ticks, the report they leave, no lookahead."""

from __future__ import annotations

import gc
import itertools
import re
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from kiteconnect import KiteConnect

from kitekit.clock import IST, ManualClock
from kitekit.errors import RunError
from kitekit.instruments import InstrumentStore
from kitekit.runner import Bar, RiskLimits, Strategy, Timer, backtest, load_report, load_strategy
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from tests.runner_helpers import EXAMPLES, client, history_of, record, store_of

DAY = datetime(2026, 11, 26, tzinfo=IST)  # the Thursday before SIM_NOW: a whole session of candles


@pytest.fixture
def kite(sim: SimServer, sim_clock: ManualClock) -> KiteConnect:
    return client(sim, sim_clock)


@pytest.fixture
def store(sim_market: Market, sim_clock: ManualClock) -> InstrumentStore:
    return store_of(sim_market, sim_clock)


def run_example(
    name: str,
    kite: KiteConnect,
    store: InstrumentStore,
    clock: ManualClock,
    root: Path,
    params: dict[str, str] | None = None,
    **options: Any,
) -> Any:
    strategy = load_strategy(EXAMPLES / name, params or {})
    end = options.pop("end", DAY + timedelta(hours=23, minutes=59))
    return backtest(
        strategy,
        instruments=store,
        history=history_of(kite, store, clock),
        start=DAY,
        end=end,
        root=root,
        source=str(EXAMPLES / name),
        **options,
    )


def test_the_ema_example_backtests_a_day_of_minute_candles_with_kites_charges_per_trade(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    result = run_example("ema_cross.py", kite, store, sim_clock, tmp_path, {"fast": "5", "slow": "15"})
    stats, report = result.stats, result.report
    assert report is not None and result.events == 375  # one session of minute bars, every one delivered
    assert stats["trades"] >= 4 and stats["round_trips"] >= 2
    trades = report.trades
    charged = ["brokerage", "stt", "exchange_fees", "sebi_fees", "stamp_duty", "gst"]
    assert (trades[charged].sum(axis=1) - trades["charges"]).abs().max() < 0.05  # the parts make the total
    assert (trades["brokerage"] > 0).all() and (trades["exchange_fees"] > 0).all()
    assert trades.loc[trades["side"] == "BUY", "stamp_duty"].gt(0).all()  # stamp duty on buys only
    assert trades.loc[trades["side"] == "SELL", "stamp_duty"].eq(0).all()
    assert stats["charges"] == pytest.approx(trades["charges"].sum())
    assert stats["final_equity"] == pytest.approx(1_000_000 + trades["net"].sum(), abs=0.01)  # flat at the end
    # Intraday: squared off by the run before the broker's 15:20, nothing held at the close.
    assert result.core.book.open_lots() == []
    assert max(pd.DatetimeIndex(trades["time"])).time() <= time(15, 10, 59)


def test_a_runs_folder_holds_its_report_files_and_an_html_that_opens_offline(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    result = run_example("ema_cross.py", kite, store, sim_clock, tmp_path, {"fast": "5", "slow": "15"})
    folder = result.folder.path
    for name in (
        "equity.parquet",
        "trades.parquet",
        "orders.parquet",
        "round_trips.parquet",
        "stats.parquet",
        "stats.json",
        "report.html",
        "run.json",
    ):
        assert (folder / name).is_file(), name
    equity = pd.read_parquet(folder / "equity.parquet")
    assert len(equity) == 375 and equity["drawdown"].max() <= 0 and equity["drawdown"].min() < 0
    stats = pd.read_parquet(folder / "stats.parquet").iloc[0]
    for name in (
        "total_return",
        "annualised_return",
        "sharpe",
        "sortino",
        "calmar",
        "max_drawdown",
        "max_drawdown_duration_days",
        "win_rate",
        "profit_factor",
        "expectancy",
        "exposure",
        "longest_losing_streak",
    ):
        assert name in stats.index, name
    html = (folder / "report.html").read_text()
    assert "Plotly.newPlot" in html and "plotly.js" in html.lower()  # plotly.js itself is in the file
    assert not re.search(r"<script[^>]+src=", html)  # nothing loaded from anywhere: it opens offline
    again = load_report(folder)
    assert again.stats["trades"] == result.stats["trades"] and len(again.trades) == len(result.report.trades)


def test_the_short_straddle_sells_both_legs_stops_each_and_is_out_before_the_close(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    result = run_example("short_straddle.py", kite, store, sim_clock, tmp_path, {"exit": "14:30"})
    orders = result.report.orders
    entries = orders[orders["intent"].str.startswith("short-")]
    stops = orders[orders["intent"].str.startswith("stop-")]
    assert len(entries) == 2 and set(entries["side"]) == {"SELL"}
    assert {k.endswith(("CE", "PE")) for k in entries["key"]} == {True} and entries["key"].nunique() == 2
    assert pd.DatetimeIndex(entries["time"]).min().time() == time(9, 20, 59)  # at the entry timer
    assert len(stops) == 2 and set(stops["order_type"]) == {"SL"}
    assert result.core.book.open_lots() == []  # both legs bought back (by a stop or at the exit)
    trades = result.report.trades
    assert len(trades) == 4 and max(pd.DatetimeIndex(trades["time"])).time() <= time(14, 30, 59)


def test_the_opening_range_example_trades_recorded_ticks(
    sim: SimServer, sim_clock: ManualClock, kite: KiteConnect, store: InstrumentStore, tmp_path: Path
) -> None:
    folder = record(sim, sim_clock, kite, store, ["NSE:RELIANCE"], 5 * 60, tmp_path / "ticks")
    strategy = load_strategy(
        EXAMPLES / "opening_range.py", {"range_minutes": "1", "stop": "0.0005", "target": "0.0005"}
    )
    result = backtest(strategy, instruments=store, ticks=folder, root=tmp_path / "runs")
    orders = result.report.orders  # type: ignore[union-attr]
    assert result.events >= 5 * 60 and orders["intent"].iloc[0].startswith("entry-")
    assert {i.split("-")[0] for i in orders["intent"]} == {"entry", "stop", "target"}
    assert result.stats["trades"] >= 2  # the entry and the exit that filled first (the other was cancelled)
    assert result.core.book.open_lots() == []


class Peek(Strategy):
    """Notes, for each bar, the last candle history() gives and the quote's last price."""

    symbols = ("NSE:INFY",)

    def on_start(self) -> None:
        self.seen: list[tuple[Bar, pd.Timestamp, float]] = []
        self.fired: list[tuple[str, datetime]] = []
        self.clock.at("10:00", lambda t: self.fired.append(("at", self.clock.now())))
        self.clock.every("30m", name="half-hourly")

    def on_bar(self, bar: Bar) -> None:
        frame = self.history(bar.key, bars=5)
        self.seen.append((bar, frame.index[-1], float(self.quote(bar.key)["last_price"])))

    def on_timer(self, timer: Timer) -> None:
        self.fired.append((timer.name, self.clock.now()))


def test_history_and_quotes_never_look_ahead_and_timers_fire_on_the_runs_clock(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    strategy = Peek()
    run_example_strategy = backtest(
        strategy,
        instruments=store,
        history=history_of(kite, store, sim_clock),
        start=DAY,
        end=DAY + timedelta(hours=23),
        root=tmp_path,
    )
    assert run_example_strategy.events == 375
    for bar, last_candle, price in strategy.seen:
        assert last_candle.to_pydatetime() == bar.start  # the bar just closed is the last one history() knows
        assert price == bar.close  # the market is the bar's close, not a later price
    first = datetime(2026, 11, 26, 9, 15, 59, tzinfo=IST)
    assert ("at", datetime(2026, 11, 26, 10, 0, 59, tzinfo=IST)) in strategy.fired  # the first event at 10:00 or after
    halves = [t for name, t in strategy.fired if name == "half-hourly"]
    assert halves[0] == first + timedelta(minutes=30) and all(
        b - a == timedelta(minutes=30) for a, b in itertools.pairwise(halves)
    )


def test_a_strategy_of_plain_functions_runs_like_a_class(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "buy_once.py"
    path.write_text(
        "SYMBOLS = ['NSE:INFY']\nPARAMS = {'quantity': 3}\n\n"
        "def on_bar(ctx, bar):\n"
        "    if not ctx.position(bar.key) and not ctx.open_orders():\n"
        "        ctx.buy(bar.key, ctx.p.quantity, 'only-once', product='CNC')\n"
    )
    strategy = load_strategy(path, {"quantity": "7"})
    result = backtest(
        strategy,
        instruments=store,
        history=history_of(kite, store, sim_clock),
        start=DAY,
        end=DAY + timedelta(hours=23),
        root=tmp_path / "runs",
    )
    assert result.core.book.quantity("NSE:INFY") == 7 and result.stats["orders"] == 1


def test_a_refused_order_is_noted_and_the_run_goes_on_but_a_bug_stops_it(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    class Refused(Strategy):
        symbols = ("NSE:INFY",)

        def on_bar(self, bar: Bar) -> None:
            self.buy(bar.key, 1_000, product="CNC")  # above max_order_value every time

    result = backtest(
        Refused(),
        instruments=store,
        history=history_of(kite, store, sim_clock),
        start=DAY,
        end=DAY + timedelta(hours=23),
        root=tmp_path,
        limits=RiskLimits(max_order_value=10_000),
    )
    assert result.events == 375 and result.stats["orders"] == 375  # each asked for, each refused
    assert set(result.report.orders["outcome"]) == {"refused: max_order_value"}  # type: ignore[union-attr]

    class Buggy(Strategy):
        symbols = ("NSE:INFY",)

        def on_bar(self, bar: Bar) -> None:
            raise ZeroDivisionError("a bug")

    with pytest.raises(ZeroDivisionError):
        backtest(
            Buggy(),
            instruments=store,
            history=history_of(kite, store, sim_clock),
            start=DAY,
            end=DAY + timedelta(hours=23),
            root=tmp_path,
        )


def test_a_strategy_file_without_a_strategy_or_with_a_wrong_parameter_is_refused_with_what_it_has(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "empty.py"
    empty.write_text("X = 1\n")
    with pytest.raises(RunError, match="no Strategy subclass"):
        load_strategy(empty)
    with pytest.raises(RunError, match="parameters: fast, last_entry, quantity, slow"):
        load_strategy(EXAMPLES / "ema_cross.py", {"fats": "3"})
    with pytest.raises(RunError, match="fast='x' is not a int"):
        load_strategy(EXAMPLES / "ema_cross.py", {"fast": "x"})


class Warmed(Strategy):
    """Counts what it is handed: the warm-up's bars (flagged), then the backtest's own."""

    symbols = ("NSE:INFY", "NSE:RELIANCE")
    warmup = 50

    def __init__(self) -> None:
        super().__init__()
        self.history_bars: list[Bar] = []
        self.live_bars: list[Bar] = []
        self.started_after: int | None = None

    def on_start(self) -> None:
        self.started_after = len(self.history_bars)

    def on_bar(self, bar: Bar) -> None:
        (self.history_bars if self.warming else self.live_bars).append(bar)


def test_a_backtest_warms_the_strategy_on_the_bars_before_its_start_and_never_hands_a_bar_twice(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    strategy = Warmed()
    result = backtest(strategy, instruments=store, history=history_of(kite, store, sim_clock), start=DAY,
                      end=DAY + timedelta(hours=23), root=tmp_path)  # fmt: skip
    assert result.events == 2 * 375  # the day's own bars, each once: the warm-up is not counted among them
    warm, live = strategy.history_bars, strategy.live_bars
    assert strategy.started_after == len(warm) == 2 * 50  # all before on_start, the last 50 of each instrument
    assert {b.key for b in warm} == set(Warmed.symbols)
    assert [b.start for b in warm] == sorted(b.start for b in warm)  # in time order, as the run's own bars
    assert max(b.end for b in warm) <= DAY + timedelta(hours=9, minutes=15)  # the sessions before: closed by the start
    assert min(b.start for b in live) == datetime(2026, 11, 26, 9, 15, tzinfo=IST)
    assert not {(b.key, b.start) for b in warm} & {(b.key, b.start) for b in live}  # no bar twice


def test_a_plain_function_strategy_warms_up_too_and_an_instrument_it_subscribes_is_warmed_in_that_call(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    path = tmp_path / "watch.py"
    path.write_text(
        "SYMBOLS = ['NSE:INFY']\nWARMUP = 20\n\n"
        "def on_start(ctx):\n"
        "    ctx.seen = []\n"
        "    ctx.before_subscribe = len(ctx.warm)\n"
        "    ctx.subscribe('NSE:RELIANCE')\n\n"
        "def on_bar(ctx, bar):\n"
        "    if not hasattr(ctx, 'warm'):\n"
        "        ctx.warm = []\n"
        "    if ctx.warming:\n"
        "        ctx.warm.append(bar)\n"
        "    else:\n"
        "        ctx.seen.append(bar)\n"
    )
    strategy: Any = load_strategy(path)
    backtest(strategy, instruments=store, history=history_of(kite, store, sim_clock), start=DAY,
             end=DAY + timedelta(hours=10, minutes=30), root=tmp_path / "runs")  # fmt: skip
    assert strategy.before_subscribe == 20 and {b.key for b in strategy.warm[:20]} == {"NSE:INFY"}
    added = strategy.warm[20:]
    assert len(added) == 20 and {b.key for b in added} == {"NSE:RELIANCE"}  # warmed when it joined, at the start
    assert max(b.end for b in added) <= DAY + timedelta(hours=9, minutes=15)
    assert {b.key for b in strategy.seen} >= {"NSE:INFY"}


def test_a_backtest_keeps_the_heap_made_before_its_loop_out_of_the_collectors_passes_and_gives_it_back(
    kite: KiteConnect, store: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    class Frozen(Strategy):
        symbols = ("NSE:INFY",)

        def on_start(self) -> None:
            self.frozen: list[int] = []

        def on_bar(self, bar: Bar) -> None:
            self.frozen.append(gc.get_freeze_count())

    assert gc.get_freeze_count() == 0
    strategy = Frozen()
    backtest(strategy, instruments=store, history=history_of(kite, store, sim_clock), start=DAY,
             end=DAY + timedelta(hours=23), root=tmp_path)  # fmt: skip
    assert len(strategy.frozen) == 375 and min(strategy.frozen) > 0  # every bar ran with the heap frozen
    assert gc.get_freeze_count() == 0  # and the collector has it all back once the loop ends
