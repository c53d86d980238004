"""kitekit's Ticker against the simulator over loopback: names, reconnects, restarts, stalls, 403, token swap."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.errors import SessionExpiredError, TickerError, TickFrameError
from kitekit.instruments import InstrumentStore
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.ticker import Backoff, Ticker
from kitekit.ticker.connection import StaleLinkError
from kitekit.wire.ticks import TickColumns, decode_ticks

from .conftest import eventually
from .stream_helpers import INFY, NIFTY, RELIANCE

FAST = Backoff(first=0.05, cap=0.2)


class Seen:
    """Everything a ticker's callbacks reported (list appends are atomic across threads)."""

    def __init__(self, ticker: Ticker) -> None:
        self.ticks: list[dict[str, Any]] = []
        self.frames: list[bytes] = []
        self.errors: list[Exception] = []
        self.connects: list[int] = []
        self.closes: list[tuple[int, int, str]] = []
        self.reconnects: list[tuple[int, int]] = []
        self.orders: list[dict[str, Any]] = []
        ticker.on_ticks = self.ticks.extend
        ticker.on_frame = lambda frame, received: self.frames.append(frame)
        ticker.on_error = self.errors.append
        ticker.on_connect = self.connects.append
        ticker.on_close = lambda *closed: self.closes.append(closed)
        ticker.on_reconnect = lambda *attempt: self.reconnects.append(attempt)
        ticker.on_order_update = self.orders.append

    def tokens(self) -> set[int]:
        return {tick["instrument_token"] for tick in list(self.ticks)}


class FakeTime:
    """The watchdog's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def ticker_for(kite: KiteConnect, **options: Any) -> Ticker:
    return Ticker.from_kite(kite, backoff=FAST, **options)


def feed_modes(sim: SimServer) -> list[dict[str, int]]:
    return [c["modes"] for c in sim.sim.feed.info()["connections"]]


def test_subscriptions_take_symbols_and_names_and_deliver_the_sdks_tick_dicts(
    sim: SimServer, sim_kite: KiteConnect, sim_instruments: InstrumentStore
) -> None:
    ticker = ticker_for(sim_kite, store=sim_instruments)
    seen = Seen(ticker)
    assert ticker.subscribe(["NSE:RELIANCE", "NIFTY 50", "INFY"], mode="full") == [RELIANCE, NIFTY, INFY]
    ticker.start()
    try:
        eventually(lambda: seen.tokens() == {RELIANCE, NIFTY, INFY})
    finally:
        ticker.stop()
    assert seen.ticks == [tick for frame in seen.frames for tick in decode_ticks(frame)]
    assert {t["mode"] for t in seen.ticks} == {"full"} and not seen.errors
    with pytest.raises(TickerError, match="without an instrument store"):
        ticker_for(sim_kite).subscribe(["NSE:RELIANCE"])


def test_a_dropped_link_reconnects_and_resubscribes_every_instrument_in_its_mode(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    ticker = ticker_for(sim_kite)
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE], "full")
    ticker.subscribe([NIFTY], "ltp")
    ticker.subscribe([INFY])
    ticker.start()
    try:
        eventually(lambda: feed_modes(sim) == [{"full": 1, "ltp": 1, "quote": 1}] and len(seen.ticks) >= 3)
        requests.post(f"{sim.url}/__sim/feed/faults", json={"fault": "drop"}, timeout=5).raise_for_status()
        eventually(lambda: ticker.stats.connects == 2 and ticker.connected == 1)
        eventually(lambda: [c["number"] for c in sim.sim.feed.info()["connections"]] == [2])
        eventually(lambda: feed_modes(sim) == [{"full": 1, "ltp": 1, "quote": 1}])
        before = len(seen.ticks)
        sim_clock.advance(1)
        eventually(lambda: len(seen.ticks) >= before + 3)
    finally:
        ticker.stop()
    assert seen.closes[0][:2] == (0, 1006) and seen.reconnects[0] == (0, 1)
    assert {t["instrument_token"]: t["mode"] for t in seen.ticks[-3:]} == {
        RELIANCE: "full",
        NIFTY: "ltp",
        INFY: "quote",
    }


def test_a_restarted_simulator_is_reconnected_to_with_subscriptions_intact(
    tmp_path: Path, sim_market: Market, sim_clock: ManualClock
) -> None:
    config = SimConfig(state_file=tmp_path / "sim-state.json")  # the restarted simulator knows the token
    first = SimServer(config, sim_clock, market=sim_market).start()
    second: SimServer | None = None
    kite = KiteConnect(config.api_key, root=first.url)
    login_via_redirect(first, kite)
    ticker = ticker_for(kite)
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE, NIFTY], "full")
    ticker.start()
    try:
        eventually(lambda: feed_modes(first) == [{"full": 2}])
        port = first.port
        first.stop()
        eventually(lambda: ticker.connected == 0 and len(seen.reconnects) >= 2)  # it keeps trying while down
        second = SimServer(SimConfig(state_file=config.state_file), sim_clock, port=port, market=sim_market).start()
        eventually(lambda: feed_modes(second) == [{"full": 2}])
        before = len(seen.ticks)
        sim_clock.advance(1)
        eventually(lambda: len(seen.ticks) >= before + 2)
    finally:
        ticker.stop()
        first.stop()
        if second is not None:
            second.stop()
    assert not any(isinstance(e, SessionExpiredError) for e in seen.errors)


def test_five_silent_seconds_declare_the_link_dead_and_it_is_replaced(sim: SimServer, sim_kite: KiteConnect) -> None:
    clock = FakeTime()
    ticker = ticker_for(sim_kite, monotonic=clock, stale_after=5.0)
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE])
    ticker.start()
    try:
        eventually(lambda: ticker.connected == 1 and seen.ticks)
        requests.post(f"{sim.url}/__sim/feed/faults", json={"fault": "stall", "seconds": 600}, timeout=5)
        clock.now += 5.5  # what a stalled link looks like: no frame, not even a heartbeat, for 5.5 s
        eventually(lambda: ticker.stats.connects == 2)
        eventually(lambda: [c["number"] for c in sim.sim.feed.info()["connections"]] == [2])
        beats = ticker.stats.heartbeats
        eventually(lambda: ticker.stats.heartbeats > beats)  # the new link is alive
    finally:
        ticker.stop()
    assert any(isinstance(e, StaleLinkError) and "no data and no heartbeat" in str(e) for e in seen.errors)


def test_a_403_stops_the_ticker_with_the_relogin_message_instead_of_retrying(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    ticker = ticker_for(sim_kite, login_hint="kitekit --sim login")
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE])
    ticker.start()
    eventually(lambda: ticker.connected == 1)
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5).raise_for_status()
    requests.post(f"{sim.url}/__sim/feed/faults", json={"fault": "drop"}, timeout=5).raise_for_status()
    with pytest.raises(SessionExpiredError, match=r"HTTP 403.*Log in again: kitekit --sim login"):
        ticker.wait(timeout=30)
    assert not ticker.running and sim.sim.feed.refused[403] == 1
    assert isinstance(seen.errors[-1], SessionExpiredError)

    async def connect_with_a_dead_token() -> None:
        await Ticker(sim_kite.api_key, "dead-token", root=sim.ws_url).connect()

    with pytest.raises(SessionExpiredError, match="expired or was invalidated"):
        asyncio.run(connect_with_a_dead_token())


def test_a_refused_upgrade_is_reported_with_the_message_of_kites_envelope(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    requests.post(
        f"{sim.url}/__sim/feed/faults", json={"fault": "refuse", "seconds": 600}, timeout=5
    ).raise_for_status()
    ticker = ticker_for(sim_kite)
    seen = Seen(ticker)
    ticker.start()
    try:
        eventually(lambda: any(isinstance(e, TickerError) for e in seen.errors))
    finally:
        ticker.stop()
    refusal = str(next(e for e in seen.errors if isinstance(e, TickerError)))
    assert (
        refusal
        == "the ticker refused the connection (HTTP 503): The ticker is not accepting connections now. Retry shortly."
    )


def test_a_fresh_access_token_is_swapped_in_without_losing_subscriptions(sim: SimServer, sim_kite: KiteConnect) -> None:
    ticker = ticker_for(sim_kite)
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE, INFY], "full")
    ticker.subscribe([NIFTY], "ltp")
    ticker.start()
    try:
        eventually(lambda: feed_modes(sim) == [{"full": 2, "ltp": 1}])
        fresh = KiteConnect(sim_kite.api_key, root=sim.url)
        login_via_redirect(sim, fresh)  # a new login ends the old session, as on Kite
        ticker.set_access_token(str(fresh.access_token))
        eventually(lambda: [c["number"] for c in sim.sim.feed.info()["connections"]] == [2])
        eventually(lambda: feed_modes(sim) == [{"full": 2, "ltp": 1}])
    finally:
        ticker.stop()
    assert sim.sim.feed.refused[403] == 0 and ticker.stats.connects == 2 and not seen.reconnects


def test_more_than_3000_instruments_spread_over_up_to_three_connections(
    sim: SimServer, sim_kite: KiteConnect, sim_market: Market
) -> None:
    tokens = sim_market.universe(sim.sim.clock.now()).token[:9001].tolist()
    ticker = ticker_for(sim_kite)
    seen = Seen(ticker)
    ticker.subscribe(tokens[:3500])
    ticker.start()
    try:
        eventually(lambda: sorted(c["instruments"] for c in sim.sim.feed.info()["connections"]) == [500, 3000])
        eventually(lambda: {tokens[0], tokens[3499]} <= seen.tokens())
        with pytest.raises(TickerError, match=r"5,501 more instruments do not fit.*9,000 in all"):
            ticker.subscribe(tokens[3500:])
        assert len(ticker.subscriptions) == 3500
        ticker.subscribe(tokens[3500:9000])
        eventually(lambda: [c["instruments"] for c in sim.sim.feed.info()["connections"]] == [3000] * 3)
        sim.sim.order_updates.publish("KK1234", {"order_id": "1", "status": "OPEN"})
        sim.sim.order_updates.publish("KK1234", {"order_id": "1", "status": "COMPLETE"})
        eventually(lambda: len(seen.orders) >= 2)
        ticker.unsubscribe(tokens[3000:9000])
        eventually(lambda: [c["instruments"] for c in sim.sim.feed.info()["connections"]] == [3000])
    finally:
        ticker.stop()
    # Every connection receives the user's updates; the ticker passes each on once.
    assert [o["status"] for o in seen.orders] == ["OPEN", "COMPLETE"]


def test_the_ticker_runs_beside_a_running_event_loop_and_restarts_in_the_same_process(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    ticker = ticker_for(sim_kite)
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE])

    async def notebook_cell() -> None:  # a notebook's code runs inside the kernel's event loop
        for _ in range(2):
            before = len(seen.ticks)
            ticker.start()
            await asyncio.to_thread(eventually, lambda before=before: len(seen.ticks) > before)
            ticker.stop()
            assert not ticker.running

    asyncio.run(notebook_cell())
    assert ticker.stats.connects == 2 and not seen.errors


def test_async_iteration_yields_columns_when_asked(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    async def consume() -> list[TickColumns]:
        got: list[TickColumns] = []
        async with ticker_for(sim_kite, columns=True) as ticker:
            ticker.subscribe([RELIANCE, NIFTY], "full")
            async for columns in ticker:
                got.append(columns)
                if len(got) == 1:
                    sim_clock.advance(1)
                if len(got) == 2:
                    break
        assert not ticker.running
        return got

    got = asyncio.run(consume())
    assert all(isinstance(columns, TickColumns) for columns in got)
    assert sorted(got[-1].instrument_token.tolist()) == [NIFTY, RELIANCE] and set(got[-1].mode) == {"full"}


def test_a_malformed_frame_and_a_server_error_are_reported_and_the_stream_goes_on(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    sim.sim.feed.limits.tokens_per_connection = 1
    ticker = ticker_for(sim_kite)
    seen = Seen(ticker)
    ticker.subscribe([RELIANCE, NIFTY])
    ticker.start()
    try:
        eventually(lambda: any(isinstance(e, TickerError) for e in seen.errors))
        requests.post(f"{sim.url}/__sim/feed/faults", json={"fault": "malformed"}, timeout=5).raise_for_status()
        eventually(lambda: ticker.stats.bad_frames == 1)
        before = len(seen.ticks)
        sim_clock.advance(1)
        eventually(lambda: len(seen.ticks) > before)
    finally:
        ticker.stop()
    assert "Subscription limit exceeded" in str(next(e for e in seen.errors if isinstance(e, TickerError)))
    assert any(isinstance(e, TickFrameError) for e in seen.errors) and ticker.stats.connects == 1


def test_the_access_token_never_reaches_the_clients_log(
    sim: SimServer, sim_kite: KiteConnect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = str(sim_kite.access_token)
    ticker = ticker_for(sim_kite)
    ticker.subscribe([RELIANCE])
    ticker.start()
    eventually(lambda: ticker.stats.ticks)
    ticker.stop()
    client_side = [r.getMessage() for r in caplog.records if r.name.startswith(("websockets", "kitekit.ticker"))]
    assert any("GET /?api_key=" in line for line in client_side)  # websockets logs the upgrade request…
    assert not [line for line in client_side if token in line]  # …with the token masked
    assert token not in repr(ticker)
