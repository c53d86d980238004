"""The strategy runner: one strategy file in backtest, paper and live, with risk limits, a kill switch and reports.

The parts, each with one job::

    strategy     Strategy (hooks on_start, on_bar, on_tick, on_order, on_timer, on_stop, on_save/on_load), plain
                 function strategies, load_strategy() of a file and its --param values
    run          backtest() over candles or recorded ticks, trade() on paper or live; RunResult
    core         RunCore: the one run loop (days, kill switch, timers, square-off, orders, book, loss limits)
    ├── drivers  the sources of events: candles, recorded ticks, the live ticker; the simulated clock; TickBars
    ├── access   quotes, history and new instruments per mode (no lookahead in a backtest)
    ├── orders   RunOrders: the strategy's OrderGateway, every order through the risk guard first
    ├── risk     RiskLimits, RiskGuard, RiskState (active, reducing-only, halted, killed)
    ├── book     the run's own positions, P&L, charges and round trips
    ├── timers   StrategyClock: the run's time, every() and at() timers
    ├── state    the run's folder, its state across restarts, run names and order tags
    └── killswitch   the kill flag files and their watcher
    simbroker    BacktestBroker: the paper broker's engine in memory, fed bars or ticks
    market       DepthModel (a book around a bar's price), TickQuotes (quotes from the latest ticks)
    report       equity, drawdown, trades with Kite's charges, statistics, as Parquet; html: the HTML report
    grid         a parameter grid in parallel processes, ranked
    instruments  StaticInstruments: a fixed, picklable set of instruments

Names load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.runner.book import Book, RoundTrip
    from kitekit.runner.core import RunCore
    from kitekit.runner.grid import parse_grid, rank, run_grid
    from kitekit.runner.instruments import StaticInstruments
    from kitekit.runner.killswitch import KillSwitch, clear_kill, read_kill, request_kill
    from kitekit.runner.market import DepthModel, TickQuotes
    from kitekit.runner.model import Bar, OrderEvent, OrderEventKind, PositionView, RunMode
    from kitekit.runner.report import RunReport, load_report
    from kitekit.runner.risk import RiskLimits, RiskState, parse_limits
    from kitekit.runner.run import RunResult, backtest, trade
    from kitekit.runner.simbroker import BacktestBroker
    from kitekit.runner.state import RunFolder, runs_root
    from kitekit.runner.strategy import Strategy, load_strategy
    from kitekit.runner.timers import StrategyClock, Timer

__all__ = [
    "BacktestBroker",
    "Bar",
    "Book",
    "DepthModel",
    "KillSwitch",
    "OrderEvent",
    "OrderEventKind",
    "PositionView",
    "RiskLimits",
    "RiskState",
    "RoundTrip",
    "RunCore",
    "RunFolder",
    "RunMode",
    "RunReport",
    "RunResult",
    "StaticInstruments",
    "Strategy",
    "StrategyClock",
    "TickQuotes",
    "Timer",
    "backtest",
    "clear_kill",
    "load_report",
    "load_strategy",
    "parse_grid",
    "parse_limits",
    "rank",
    "read_kill",
    "request_kill",
    "run_grid",
    "runs_root",
    "trade",
]

_LAZY = {
    "Book": "kitekit.runner.book",
    "RoundTrip": "kitekit.runner.book",
    "RunCore": "kitekit.runner.core",
    "parse_grid": "kitekit.runner.grid",
    "rank": "kitekit.runner.grid",
    "run_grid": "kitekit.runner.grid",
    "StaticInstruments": "kitekit.runner.instruments",
    "KillSwitch": "kitekit.runner.killswitch",
    "clear_kill": "kitekit.runner.killswitch",
    "read_kill": "kitekit.runner.killswitch",
    "request_kill": "kitekit.runner.killswitch",
    "DepthModel": "kitekit.runner.market",
    "TickQuotes": "kitekit.runner.market",
    "Bar": "kitekit.runner.model",
    "OrderEvent": "kitekit.runner.model",
    "OrderEventKind": "kitekit.runner.model",
    "PositionView": "kitekit.runner.model",
    "RunMode": "kitekit.runner.model",
    "RunReport": "kitekit.runner.report",
    "load_report": "kitekit.runner.report",
    "RiskLimits": "kitekit.runner.risk",
    "RiskState": "kitekit.runner.risk",
    "parse_limits": "kitekit.runner.risk",
    "RunResult": "kitekit.runner.run",
    "backtest": "kitekit.runner.run",
    "trade": "kitekit.runner.run",
    "BacktestBroker": "kitekit.runner.simbroker",
    "RunFolder": "kitekit.runner.state",
    "runs_root": "kitekit.runner.state",
    "Strategy": "kitekit.runner.strategy",
    "load_strategy": "kitekit.runner.strategy",
    "StrategyClock": "kitekit.runner.timers",
    "Timer": "kitekit.runner.timers",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
