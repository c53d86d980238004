"""Angel One's adapter beyond the shared contract: what only Angel has (a JWT renewed by its refresh token, a
20-character tag it refuses, its rate-limit answers, WebSocket 2.0's reconnects), and the mixed mode with Kite.

Everything runs against the Angel simulator (and the Kite simulator for the mixed mode) over loopback; the day
is the simulator's, Friday 2026-11-27 11:00 IST.
"""

from __future__ import annotations

import asyncio
import stat
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from websockets.asyncio.server import ServerConnection, serve

from kitekit.brokers import BrokerPair, FeedMode, Tick
from kitekit.brokers.angel.broker import AngelBroker
from kitekit.brokers.angel.feed import AngelFeed
from kitekit.brokers.registry import OpenOptions, choose, open_pair
from kitekit.clock import ManualClock
from kitekit.errors import LoginError
from kitekit.orders import OrderRequest, OrderStatus
from kitekit.orders.placement import LookupPolicy
from kitekit.sim.angel.server import AngelSimServer
from kitekit.ticker.reconnect import Backoff
from kitekit.wire.angel.routes import Route

from ..conftest import eventually
from .conftest import Harness

INFY = "NSE:INFY"


def _angel(harness: Harness) -> AngelBroker:
    broker = harness.broker
    assert isinstance(broker, AngelBroker)
    return broker


@pytest.fixture
def logged_in(angel_harness: Harness) -> Harness:
    """Angel One on its simulator, logged in (only Angel: these tests read what only Angel has)."""
    angel_harness.broker.session.login_unattended()
    return angel_harness


# -- session ------------------------------------------------------------------------------------------------------
def test_the_saved_session_is_private_and_no_message_shows_a_token(logged_in: Harness) -> None:
    broker = _angel(logged_in)
    saved = broker.session.stored()
    assert saved is not None
    assert stat.S_IMODE(broker.session.path.stat().st_mode) == 0o600
    shown = " ".join([repr(saved), repr(broker.session.credentials), str(broker.session.saved())])
    for secret in (saved.jwt, saved.refresh_token, saved.feed_token, broker.session.credentials.totp_secret):
        assert secret not in shown


def test_a_session_about_to_end_is_renewed_by_its_refresh_token_before_a_call(
    logged_in: Harness, angel_sim: AngelSimServer
) -> None:
    broker = _angel(logged_in)
    first = broker.session.stored()
    assert first is not None
    logged_in.clock.set(first.expires_at - timedelta(minutes=30))  # within refresh_before (1 h)

    assert broker.quotes().ltp(INFY)[INFY].last_price > 0

    renewed = broker.session.stored()
    assert renewed is not None and renewed.jwt != first.jwt
    assert renewed.expires_at == logged_in.clock.now() + broker.capabilities.session_lifetime  # type: ignore[operator]
    assert angel_sim.angel.requests[f"POST {Route.TOKEN.value}"] == 1
    assert broker.session.advice() is None


def test_wrong_credentials_fail_the_unattended_login_at_once(angel_harness: Harness, angel_sim: AngelSimServer) -> None:
    broker = _angel(angel_harness)
    creds = broker.session.credentials
    object.__setattr__(creds, "pin", "0000")
    with pytest.raises(LoginError, match="refused the login"):
        broker.session.login_unattended()
    assert angel_sim.angel.requests[f"POST {Route.LOGIN.value}"] == 1  # not retried: no retry fixes a wrong PIN
    assert broker.session.saved() is None


# -- limits -------------------------------------------------------------------------------------------------------
def test_a_burst_of_quotes_is_paced_under_angels_limits_without_one_refusal(
    logged_in: Harness, angel_sim: AngelSimServer
) -> None:
    quotes = _angel(logged_in).quotes()
    for _ in range(25):  # 10 a second is Angel's cap: unpaced, this burst would be refused within the first second
        quotes.ltp(INFY)
    assert angel_sim.angel.requests[f"POST {Route.QUOTE.value}"] == 25
    assert angel_sim.angel.limiter.refused == {}


# -- orders -------------------------------------------------------------------------------------------------------
class _LoseAnswers(HTTPAdapter):
    """A network that delivers order requests but loses the first ``times`` answers to them."""

    def __init__(self, path: str, times: int) -> None:
        super().__init__()
        self.path, self.left = path, times

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        answer = super().send(request, *args, **kwargs)
        if request.path_url == self.path and self.left > 0:
            self.left -= 1
            raise requests.ReadTimeout("the answer was lost on the way back")
        return answer


def test_an_order_whose_answer_was_lost_is_found_by_its_ordertag_and_never_sent_twice(
    logged_in: Harness, angel_sim: AngelSimServer, tmp_path: Path
) -> None:
    gateway: Any = _angel(logged_in).orders(paper=False, folder=tmp_path / "live", lookup=LookupPolicy(settle=0.3))
    gateway.kite.client.reqsession.mount("http://", _LoseAnswers(Route.ORDER_PLACE.value, times=1))
    last = _angel(logged_in).quotes().ltp(INFY)[INFY].last_price
    price = round(round(last * 0.9 / 0.05) * 0.05, 2)

    placed = gateway.place(OrderRequest.buy(INFY, 1, price=price), "lost-answer-1")
    again = gateway.place(OrderRequest.buy(INFY, 1, price=price), "lost-answer-1")

    assert placed.order_id and again.order_id == placed.order_id
    assert len(placed.tag) < 20  # Angel refuses an ordertag of 20 characters (Kite's derived tags are 20)
    assert angel_sim.angel.requests[f"POST {Route.ORDER_PLACE.value}"] == 1
    assert logged_in.accepted_tags().count(placed.tag) == 1
    assert gateway.order(placed.order_id).status == OrderStatus.OPEN


# -- the live feed ------------------------------------------------------------------------------------------------
def test_the_feed_resubscribes_what_is_wanted_after_a_reconnect_and_keeps_bids_below_asks(
    logged_in: Harness,
) -> None:
    feed = _angel(logged_in).feed(backoff=None)
    seen: list[Tick] = []
    connects: list[int] = []
    feed.on_ticks = seen.extend
    feed.on_connect = connects.append
    feed.subscribe([INFY, "NIFTY 50"], FeedMode.FULL)
    feed.start()
    try:
        eventually(lambda: {t.key for t in list(seen)} == {INFY, "NSE:NIFTY 50"})
        infy = next(t for t in list(seen) if t.key == INFY)
        assert infy.bids[0].price < infy.asks[0].price  # the SDK's swapped best-five lists are not inherited
        assert [lv.price for lv in infy.bids] == sorted((lv.price for lv in infy.bids), reverse=True)

        feed.unsubscribe(["NIFTY 50"])  # the SDK's class-wide list loses track here, and resubscribes wrongly
        eventually(lambda: feed.connected == 1)
        seen.clear()
        feed.set_access_token("")  # drops the connection: it comes back on the session's tokens
        eventually(lambda: len(connects) == 2 and feed.connected == 1)
        eventually(lambda: any(t.key == INFY for t in list(seen)))
        assert {t.key for t in list(seen)} == {INFY}
        assert feed.subscriptions == {INFY: FeedMode.FULL}
    finally:
        feed.stop()


# -- data from Angel One, orders on Kite --------------------------------------------------------------------------
def test_the_mixed_mode_takes_angels_quotes_and_fills_kite_paper_orders_at_them(
    angel_harness: Harness, kite_harness: Harness, tmp_path: Path
) -> None:
    angel, kite = angel_harness.broker, kite_harness.broker
    angel.session.login_unattended()
    kite.session.login_unattended()
    pair = BrokerPair(angel, kite)
    assert pair.mixed and pair.instruments().broker == "kite"

    on_angel, on_kite = pair.match("INFY")
    assert on_angel.key == on_kite.key == INFY and on_angel.broker_key != on_kite.broker_key
    future = angel.instruments().nearest_future("NIFTY")
    assert pair.match(future.key)[1].key == future.key  # contracts meet on the neutral symbol too

    gateway = pair.orders(folder=tmp_path / "mixed")
    placed = gateway.place(OrderRequest.buy(INFY, 3), "mixed-angel-kite-1")
    order = gateway.order(placed.order_id)
    book = angel.quotes().quote(INFY)[INFY]
    assert order.status == OrderStatus.COMPLETE and order.filled_quantity == 3
    assert book.asks[0].price <= order.average_price <= book.asks[-1].price
    assert kite_harness.accepted_tags() == [] and angel_harness.accepted_tags() == []


# -- choosing it ----------------------------------------------------------------------------------------------------
def test_the_registry_opens_angel_from_its_credentials_and_a_simulators_root(
    angel_sim: AngelSimServer, sim_clock: ManualClock, tmp_path: Path
) -> None:
    cfg = angel_sim.angel.config
    env = {
        "KITEKIT_BROKER": "angel",
        "ANGEL_API_KEY": cfg.api_key,
        "ANGEL_CLIENT_CODE": cfg.client_code,
        "ANGEL_PIN": cfg.pin,
        "ANGEL_TOTP_SECRET": cfg.totp_secret,
        "ANGEL_ROOT": angel_sim.url,
    }
    (tmp_path / "config.json").write_text("{}")
    options = OpenOptions(env=env, clock=sim_clock, cache_dir=tmp_path / "cache", config_file=tmp_path / "config.json")
    pair = open_pair(choose(options=options), options)
    assert not pair.mixed and pair.data.name == "angel"
    pair.data.session.login_unattended()
    assert "kitekit login --broker angel" in (pair.data.session.login_hint or "")
    assert pair.quotes().ltp("INFY")["INFY"].key == INFY


def test_order_updates_come_through_the_feed_as_kites_order_objects(logged_in: Harness, tmp_path: Path) -> None:
    broker = _angel(logged_in)
    updates: list[dict[str, Any]] = []
    feed = broker.feed()
    feed.on_order_update = updates.append
    feed.subscribe([INFY], FeedMode.LTP)
    feed.start()
    try:
        eventually(lambda: feed.connected == 1)
        gateway = broker.orders(paper=False, folder=tmp_path / "live")
        last = broker.quotes().ltp(INFY)[INFY].last_price
        placed = gateway.place(OrderRequest.buy(INFY, 1, price=round(round(last * 0.9 / 0.05) * 0.05, 2)), "upd-1")
        found = eventually(lambda: [u for u in list(updates) if u["order_id"] == placed.order_id])
        update = found[0]
        assert update["tradingsymbol"] == "INFY" and update["tag"] == placed.tag and update["status"] == "OPEN"
    finally:
        feed.stop()


def test_a_silent_link_is_declared_dead_by_the_watchdog_and_reconnected(logged_in: Harness) -> None:
    broker = _angel(logged_in)
    reconnects: list[int] = []
    errors: list[Exception] = []

    async def scenario() -> None:
        async def silent(link: ServerConnection) -> None:
            async for _ in link:  # reads the subscriptions and pings; never a pong, never a packet
                pass

        async with serve(silent, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            feed = AngelFeed(
                broker.session,
                broker.instruments(),
                f"ws://127.0.0.1:{port}/smart-stream",
                heartbeat=0.05,
                watchdog=0.3,
                backoff=Backoff(first=0.01, cap=0.02),
            )
            twice = asyncio.Event()

            def reconnecting(shard: int, attempt: int) -> None:
                reconnects.append(attempt)
                if len(reconnects) >= 2:
                    twice.set()

            feed.on_reconnect = reconnecting
            feed.on_error = errors.append
            feed.subscribe([INFY], FeedMode.LTP)
            async with feed:
                await twice.wait()

    asyncio.run(asyncio.wait_for(scenario(), timeout=30))
    assert reconnects[:2] == [1, 1]  # each new link starts its count again: it was up before it went silent
    assert any("no packet nor pong" in str(e) for e in errors)
