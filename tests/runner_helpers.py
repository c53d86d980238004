"""Shortcuts of the runner's tests: simulators whose market runs (or is driven), clients bound to their clock,
recorded ticks, and strategies small enough to read in the test that uses them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from kiteconnect import KiteConnect

from kitekit.clock import Clock, ManualClock, SystemClock, bind_clock
from kitekit.history import History
from kitekit.instruments import InstrumentStore
from kitekit.sessionclock import SessionClock
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW, login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.ticker import Ticker, TickRecorder
from tests.conftest import eventually

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def client(server: SimServer, clock: Clock) -> KiteConnect:
    """Return the official SDK logged in to ``server``, bound to its market clock (what every part reads)."""
    kite = KiteConnect(server.sim.config.api_key, root=server.url)
    login_via_redirect(server, kite)
    bind_clock(kite, clock)
    return kite


def store_of(market: Market, clock: Clock) -> InstrumentStore:
    """Return an instrument store over the simulator's dump at SIM_NOW (no download)."""
    return InstrumentStore.from_bytes(market.universe(SIM_NOW).dump()[0], SIM_NOW.date(), clock=clock)


@contextmanager
def running_sim(market: Market, speed: float, start: datetime = SIM_NOW, **config: Any) -> Iterator[SimServer]:
    """A simulator whose market runs ``speed`` times real time from ``start`` (a fixed day: SIM_NOW's by default).

    Its ticker sends a tick of each subscribed instrument every market second, so bars close every
    ``60 / speed`` seconds of the test.
    """
    clock = SessionClock(start, SystemClock().now(), speed)
    cfg = SimConfig(rate_limit_enabled=False, **config)
    with SimServer(cfg, clock, market=market) as server:
        yield server


def history_of(kite: KiteConnect, store: InstrumentStore, clock: Clock) -> History:
    """Return a History on the simulator's candles (no candle store: every call fetches)."""
    return History(kite, store, None, clock=clock)


def record(
    server: SimServer,
    clock: ManualClock,
    kite: KiteConnect,
    store: InstrumentStore,
    keys: list[str],
    seconds: int,
    folder: Path,
) -> Path:
    """Record ``seconds`` of market ticks of ``keys`` (full mode) into ``folder``, driving the simulator's clock."""
    recorder = TickRecorder(folder).start()
    ticker = Ticker.from_kite(kite, store)
    ticker.on_frame = recorder.add
    seen = threading.Event()
    ticker.on_ticks = lambda ticks: seen.set()
    ticker.subscribe(keys, mode="full")
    ticker.start()
    try:
        if not seen.wait(10):
            raise AssertionError("the simulator sent no tick")
        step = 10  # the feed catches up a frame per market second when its clock leaps: ten at a time
        for done in range(0, seconds, step):
            before = ticker.stats.frames
            leap = min(step, seconds - done)
            clock.advance(leap)
            eventually(lambda before=before, leap=leap: ticker.stats.frames >= before + leap, timeout=10)  # type: ignore[misc]
    finally:
        ticker.stop()
        recorder.close()
    return folder
