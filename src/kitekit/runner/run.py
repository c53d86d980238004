"""Running a strategy: :func:`backtest` over candles or recorded ticks, :func:`trade` on paper or for real.

Both build the same :class:`~kitekit.runner.core.RunCore` around the strategy and differ only in the market and
broker they give it: a simulated clock and :class:`~kitekit.runner.simbroker.BacktestBroker`, or the market's
clock, the live ticker and :class:`~kitekit.orders.PaperBroker` (or :class:`~kitekit.orders.LiveBroker`, only
with ``live=True``). Every run ends with its report in its folder (:mod:`kitekit.runner.report`).
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.clock import IST, Clock, clock_of
from kitekit.errors import RunError
from kitekit.runner.access import BarAccess, LiveAccess, TickAccess
from kitekit.runner.core import RunCore
from kitekit.runner.drivers import (
    LiveSource,
    SimulatedClock,
    TickBars,
    interval_span,
    load_recording,
    merge_bars,
    run_bars,
    run_live,
    run_ticks,
)
from kitekit.runner.killswitch import KILL_FILE, KillSwitch
from kitekit.runner.market import DepthModel, TickQuotes
from kitekit.runner.model import RunMode
from kitekit.runner.report import RunReport, write_report
from kitekit.runner.risk import RiskLimits, RiskState
from kitekit.runner.simbroker import BacktestBroker
from kitekit.runner.state import RunFolder, run_name, runs_root
from kitekit.runner.strategy import Strategy

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.brokers.broker import Broker, BrokerPair
    from kitekit.history import History

__all__ = ["RunResult", "backtest", "frozen_heap", "new_run_folder", "trade"]

log = logging.getLogger("kitekit.runner")

#: Candles loaded before a backtest's first day, so ``history()`` has something to answer in ``on_start``.
WARMUP = timedelta(days=7)


@dataclass
class RunResult:
    """How a run ended and what it left: its name, folder, report, and the core (its book, orders, events)."""

    name: str
    folder: RunFolder
    mode: RunMode
    reason: str
    events: int
    core: RunCore
    report: RunReport | None

    @property
    def stats(self) -> dict[str, Any]:
        """Return the run's statistics (empty without a report)."""
        return dict(self.report.stats) if self.report is not None else {}


def new_run_folder(root: Path, stem: str) -> RunFolder:
    """Return a run folder named ``stem`` under ``root`` that no run used yet (``stem-2``, ``stem-3``…)."""
    base = run_name(stem)
    candidate, n = root / base, 1
    while (candidate / "run.json").exists():
        n += 1
        candidate = root / f"{base}-{n}"
    return RunFolder(candidate).create()


def _keys(strategy: Strategy, instruments: Any, symbols: Sequence[str] | None) -> list[str]:
    wanted = list(symbols) if symbols else list(strategy.symbols)
    if not wanted:
        raise RunError(f"{type(strategy).__name__} names no instruments: set its symbols, or give --symbols")
    finder = getattr(instruments, "key", None)
    return [str(finder(s)) if callable(finder) else str(s) for s in wanted]


def _meta(strategy: Strategy, name: str, mode: RunMode, keys: Sequence[str], interval: str, capital: float,
          limits: RiskLimits, source: str | None, **extra: Any) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "mode": str(mode),
        "strategy": source or type(strategy).__name__,
        "class": type(strategy).__name__,
        "params": dict(vars(strategy.p)),
        "symbols": list(keys),
        "interval": interval,
        "capital": capital,
        "limits": limits.to_json(),
        "pid": os.getpid(),
        "status": "running",
        **extra,
    }


def _data_label(ticks: Path | Sequence[Any] | None) -> str:
    """Return what a backtest ran on, for its record: the recording's folder, ``ticks`` in memory, or ``candles``."""
    if ticks is None:
        return "candles"
    return str(ticks) if isinstance(ticks, Path) else "ticks"


def _finish(core: RunCore, meta: dict[str, Any], reason: str, html: bool) -> RunReport:
    folder = core.folder
    samples = core.samples
    report = write_report(
        folder.path,
        meta=meta,
        times=samples.times,
        equity=samples.equity,
        exposed=samples.exposed,
        trades=core.trade_rows,
        orders=core.order_rows,
        trips=core.book.trips,
        capital=core.capital,
        html=html,
    )
    state = core.guard.state
    status = "killed" if state is RiskState.KILLED else ("halted" if state is RiskState.HALTED else "finished")
    folder.update_meta(status=status, reason=reason, finished=core.clock.now().isoformat(),
                       total_return=report.stats.get("total_return"), trades=report.stats.get("trades"))  # fmt: skip
    return report


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Keep what exists before a backtest's loop (imports, the loaded candles, the strategy) out of the garbage
    collector's full passes while it runs (:func:`gc.freeze`); it is collected as before once the loop ends.

    A backtest leaves orders, states and fills by the thousand, and each full pass walks every tracked object of
    the process, most of them made before the run and never freed by it: about a tenth of what an order cost
    the engine (``BENCHMARKS.md``, matching engine). The collector still runs, over what the run makes; garbage
    cycles among the frozen objects wait until the loop ends.
    """
    # No collection first: a full pass over a heap with pandas loaded cost ~60 ms, more than a short backtest's
    # whole loop. Garbage frozen with the rest is collected once the loop ends.
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def backtest(
    strategy: Strategy,
    *,
    instruments: Any = None,
    brokers: Broker | BrokerPair | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    bars: Mapping[str, pd.DataFrame] | None = None,
    ticks: Path | Sequence[tuple[datetime, list[dict[str, Any]]]] | None = None,
    history: History | None = None,
    symbols: Sequence[str] | None = None,
    interval: str | None = None,
    capital: float = 1_000_000.0,
    limits: RiskLimits | None = None,
    depth: DepthModel | None = None,
    name: str | None = None,
    root: Path | None = None,
    source: str | None = None,
    report: bool = True,
    html: bool = True,
    folder: RunFolder | None = None,
) -> RunResult:
    """Run ``strategy`` over past candles or recorded ticks on a simulated clock; return the run and its report.

    The market is one of: ``bars`` (a frame per instrument, as ``History.candles`` returns), ``ticks`` (a folder
    ``kitekit record`` wrote), or ``history`` (candles from the candle store, fetched first where missing).

    Args:
        strategy: the strategy.
        instruments: the instrument store (pre-trade rules, the engine's instrument specs); default the order
            broker's of ``brokers``.
        brokers: a broker (or a data broker and an order broker) to take instruments and candles from, instead of
            ``instruments`` and ``history``: candles from the data broker, instrument facts from the order broker.
        start: the first moment run (default: the data's first).
        end: the last moment run (default: the data's last).
        bars: candles per ``EXCHANGE:TRADINGSYMBOL``.
        ticks: a tick recording folder (``kitekit record``: of the data broker's feed, Kite's without
            ``brokers``), or frames of Kite tick dicts as (time, ticks), oldest first (another broker's feed
            recorded through :class:`~kitekit.runner.brokered.FeedTicker`).
        history: where candles come from when ``bars`` and ``ticks`` are not given.
        symbols: the instruments (default: the strategy's).
        interval: the bar interval (default: the strategy's).
        capital: the account's funds and the equity curve's origin, in rupees.
        limits: the risk limits.
        depth: how a bar's price becomes a book the engine matches against.
        name: the run's folder name (default: the strategy, the mode and the dates, numbered if taken).
        root: where run folders live (default ``<data dir>/runs``).
        source: the strategy's file, for the record.
        report: write the report files.
        html: write the HTML report too.
        folder: the run's folder, made already (a grid's).

    Raises:
        RunError: no market to run on, an unknown interval, a strategy that names no instruments.
        BrokerFeatureError: ``ticks`` is a recording of another broker's feed than the data broker's.
    """
    data_broker = "kite"  # whose feed a tick recording must be
    if brokers is not None:
        from kitekit.runner.brokered import RunInstruments, pair_of

        pair = pair_of(brokers)
        data_broker = pair.data.name
        instruments = instruments or RunInstruments(pair.instruments())
        history = history or pair.history()  # type: ignore[assignment] # the neutral candles: History's shape
    if instruments is None:
        raise RunError("a backtest needs instruments (instruments= or brokers=)")
    limits = limits or RiskLimits()
    interval = interval or strategy.interval
    span = interval_span(interval)
    keys = _keys(strategy, instruments, symbols)
    if ticks is None and bars is None and history is None:
        raise RunError("a backtest needs candles (bars= or history=) or a tick recording (ticks=)")
    frames: dict[str, pd.DataFrame] = {}
    recording: list[tuple[datetime, list[dict[str, Any]]]] = []
    if ticks is not None:
        if isinstance(ticks, Path):
            recording = load_recording(ticks, start, end, broker=data_broker, token=_token_of(instruments))
        else:  # frames in memory, e.g. another broker's feed through runner.brokered.FeedTicker
            recording = [f for f in ticks if (start is None or f[0] >= start) and (end is None or f[0] <= end)]
            if not recording:
                raise RunError("no tick frames between the dates asked for")
        first, last = recording[0][0], recording[-1][0]
    else:
        if bars is not None:
            frames = {k: bars[k] for k in keys if k in bars}
            missing = [k for k in keys if k not in bars]
            if missing:
                raise RunError(f"no candles given for {', '.join(missing)}")
        else:
            assert history is not None  # noqa: S101 - checked above
            if start is None:
                raise RunError("a backtest on the candle store needs a start (--from)")
            frames = {k: history.candles(k, interval, start - WARMUP, end) for k in keys}
        stamps = [f.index[0] for f in frames.values() if len(f)]
        if not stamps:
            raise RunError(f"no {interval} candles of {', '.join(keys)} in the range asked for")
        first = max(start, min(stamps).to_pydatetime()) if start is not None else min(stamps).to_pydatetime()
        ends = [f.index[-1] for f in frames.values() if len(f)]
        last = min(end, max(ends).to_pydatetime()) if end is not None else max(ends).to_pydatetime()
    clock = SimulatedClock(first.astimezone(IST))
    broker = BacktestBroker(instruments, clock, funds=capital, depth=depth)
    stem = name or f"{Path(source).stem if source else type(strategy).__name__}-backtest-{first:%Y%m%d}-{last:%Y%m%d}"
    run_folder = folder or (RunFolder((root or runs_root()) / run_name(name)).create() if name
                            else new_run_folder(root or runs_root(), stem))  # fmt: skip
    if ticks is not None:
        access: Any = TickAccess(broker, history)
    else:

        def load(more: Sequence[str]) -> Mapping[str, pd.DataFrame]:
            if history is None:
                raise RunError("this backtest was given its candles and cannot load more instruments")
            return {k: history.candles(k, interval, clock.at - WARMUP, last) for k in more}

        access = BarAccess(broker, dict(frames), interval, {}, load if history is not None else None, history)
        access.end = end
    core = RunCore(
        strategy, mode=RunMode.BACKTEST, broker=broker, clock=clock, instruments=instruments, folder=run_folder,
        limits=limits, capital=capital, symbols=keys, interval=interval, market=access,
    )  # fmt: skip
    meta = _meta(strategy, run_folder.name, RunMode.BACKTEST, keys, interval, capital, limits, source,
                 start=first.isoformat(), end=last.isoformat(), started=first.isoformat(),
                 data=_data_label(ticks))  # fmt: skip
    run_folder.write_meta(meta)
    data = None
    begin = stop = 0
    if ticks is None:
        if isinstance(access, BarAccess):
            access.tokens.update({k: core.token_of(k) for k in frames})
        import bisect

        data = merge_bars(frames, core.tokens)
        begin = bisect.bisect_right(data.starts, first - span)  # the warm-up's candles are history, not events
        stop = bisect.bisect_right(data.starts, end) if end is not None else len(data)
        if begin < stop:
            clock.at = max(clock.at, data.starts[begin])  # the strategy starts when its market does (timers too)
    core.start()
    with frozen_heap():
        if ticks is not None:
            count = run_ticks(core, broker, clock, recording, TickBars(_minutes(interval), core.keys, span))
        else:
            assert data is not None  # noqa: S101 - made above for candles
            remaining = access.remaining if isinstance(access, BarAccess) else None
            count = run_bars(core, broker, clock, data, span, remaining, begin, stop)
    reason = core.stopping or "the end of the data"
    core.stop(reason)
    result = RunResult(run_folder.name, run_folder, RunMode.BACKTEST, reason, count, core, None)
    if report:
        result.report = _finish(core, meta, reason, html)
    return result


def _token_of(instruments: Any) -> Callable[[str], int | None]:
    """Return the run's token of a neutral key, None for an instrument the run's broker does not list."""
    from kitekit.errors import UnknownInstrumentError

    def token(key: str) -> int | None:
        try:
            return int(instruments.token(key))
        except UnknownInstrumentError:
            return None

    return token


def _minutes(interval: str) -> int:
    span = interval_span(interval)
    if span >= timedelta(days=1):
        return 375  # one bar a session (09:15-15:30), cut from ticks
    return int(span.total_seconds() // 60)


def trade(
    strategy: Strategy,
    *,
    kite: Any = None,
    instruments: Any = None,
    brokers: Broker | BrokerPair | None = None,
    live: bool = False,
    symbols: Sequence[str] | None = None,
    interval: str | None = None,
    capital: float = 1_000_000.0,
    limits: RiskLimits | None = None,
    name: str | None = None,
    root: Path | None = None,
    data: Path | None = None,
    source: str | None = None,
    history: History | None = None,
    clock: Clock | None = None,
    until: datetime | None = None,
    duration: timedelta | None = None,
    status: Callable[[RunCore], None] | None = None,
    kill_files: Sequence[Path] = (),
    flatten_on_stop: bool = False,
    cancel_on_stop: bool = True,
    html: bool = True,
    ticker: Any = None,
    poll_every: float = 2.0,
) -> RunResult:
    """Run ``strategy`` on the live market: paper by default, real orders only with ``live=True``.

    The run's folder is kept between runs (the same ``name`` goes on where it stopped): before the strategy sees
    anything, its orders and positions are reconciled with the broker, and a halt or a kill of the day holds.

    Args:
        strategy: the strategy.
        kite: the client from ``get_kite()`` (or a simulator's, bound to its clock); or ``brokers``.
        instruments: the instrument store (default with ``brokers``: the order broker's).
        brokers: any broker behind the neutral interfaces instead of ``kite``, or a pair of a data broker (ticks,
            quotes, candles) and an order broker (orders, instrument facts): see :mod:`kitekit.runner.brokered`.
        live: send real orders (``LiveBroker``); False uses ``PaperBroker``.
        symbols: the instruments (default: the strategy's).
        interval: the bar interval (default: the strategy's).
        capital: the equity curve's origin (and a new paper account's funds), in rupees.
        limits: the risk limits.
        name: the run's name (default ``<strategy>-paper`` or ``<strategy>-live``).
        root: where run folders live (default ``<data dir>/runs``).
        data: where the paper ledger and the order journal live (default: the data dir).
        source: the strategy's file, for the record.
        history: where ``history()`` reads candles (default: the candle store of the data dir).
        clock: the run's clock (default: the client's: a simulator's market time on one).
        until: stop at this moment of the run's clock.
        duration: stop this long after the start (the run's clock).
        status: called now and then with the core (a live status display).
        kill_files: more kill flags to watch (``KITE_KILL_FILE`` is watched too).
        flatten_on_stop: close the run's positions when it stops (they are kept by default).
        cancel_on_stop: cancel the run's open orders when it stops.
        html: write the HTML report.
        ticker: the ticker (default ``Ticker.from_kite``, or the data broker's feed).
        poll_every: seconds between looks at the order book while orders are open.

    Raises:
        RunError: the run is killed, or cannot start as asked.
        SessionExpiredError: the session died (the run is stopped and reported first).
    """
    from kitekit.config import data_dir

    market = None
    if brokers is not None:
        from kitekit.runner.brokered import BrokerMarket, pair_of

        market = BrokerMarket(pair_of(brokers))
        instruments = instruments or market.instruments
    elif kite is None:
        raise RunError("a paper or live run needs a broker: kite= or brokers=")
    if instruments is None:
        raise RunError("a paper or live run on kite= needs its instrument store (instruments=)")
    limits = limits or RiskLimits()
    interval = interval or strategy.interval
    span = interval_span(interval)
    keys = _keys(strategy, instruments, symbols)
    mode = RunMode.LIVE if live else RunMode.PAPER
    clock = clock or (market.clock if market is not None else clock_of(kite))
    base = data or data_dir()
    root = root or runs_root(base)
    stem = Path(source).stem if source else type(strategy).__name__
    run_folder = RunFolder(root / run_name(name or f"{stem}-{mode}")).create()
    quotes = TickQuotes(market.quotes if market is not None else kite, instruments.token)
    if market is not None:
        broker: Any = market.gateway(quotes, live=live, base=base, clock=clock, capital=capital)
        history = history or market.history  # type: ignore[assignment] # the neutral candles: History's shape
        ticker = ticker or market.ticker(live)
    elif live:
        from kitekit.orders import LiveBroker

        broker = LiveBroker(kite, instruments, folder=base / "orders", clock=clock)
    else:
        from kitekit.orders import PaperBroker

        broker = PaperBroker(quotes, instruments, folder=base / "paper", clock=clock, funds=capital, candles=False)
    if history is None:
        from kitekit.history import CandleStore, History

        history = History(kite, instruments, CandleStore(base / "candles.duckdb"), clock=clock)
    extra = [Path(p) for p in kill_files]
    if os.environ.get("KITE_KILL_FILE"):
        extra.append(Path(os.environ["KITE_KILL_FILE"]))
    kill = KillSwitch([run_folder.kill_flag, root / KILL_FILE, *extra])
    core = RunCore(
        strategy, mode=mode, broker=broker, clock=clock, instruments=instruments, folder=run_folder, limits=limits,
        capital=capital, symbols=keys, interval=interval, market=LiveAccess(quotes, history), kill=kill, durable=True,
        tag_length=market.tag_length if market is not None else 20,
    )  # fmt: skip
    started = clock.now()
    previous = run_folder.meta()
    meta = _meta(strategy, run_folder.name, mode, keys, interval, capital, limits, source,
                 started=previous.get("started") or started.isoformat(), resumed=started.isoformat(),
                 kill_files=[str(p) for p in kill.paths],
                 **({"broker": market.name} if market is not None else {}))  # fmt: skip
    run_folder.write_meta(meta)
    core.start()
    if ticker is None:
        from kitekit.ticker import Ticker

        ticker = Ticker.from_kite(kite, instruments)
    source_ = LiveSource(ticker, quotes, broker if not live else None, poll_every)
    bars = TickBars(_minutes(interval), core.keys, span)
    stop_at = until or (started + duration if duration is not None else None)
    reason = "stopped"
    try:
        reason = run_live(core, source_, bars, until=stop_at, status=status, cancel_on_stop=cancel_on_stop,
                          flatten_on_stop=flatten_on_stop)  # fmt: skip
    except BaseException as exc:
        reason = "interrupted (Ctrl-C)" if isinstance(exc, KeyboardInterrupt) else f"{type(exc).__name__}: {exc}"
        _finish(core, meta, reason, html)
        raise
    result = RunResult(run_folder.name, run_folder, mode, reason, len(core.samples.times), core, None)
    result.report = _finish(core, meta, reason, html)
    return result
