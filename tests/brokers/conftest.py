"""The brokers the shared contract suite runs against, each a real client on its own simulator over loopback.

A broker joins the suite by adding one fixture, ``<name>_harness``, that returns a :class:`Harness` (its broker
logged out, the simulator's clock, and two read-outs of its simulator), and its name to :data:`BROKERS`. The
tests themselves are written once, against the neutral interfaces only.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from kitekit.brokers import Broker
from kitekit.brokers.angel.broker import AngelBroker
from kitekit.brokers.angel.client import angel_pacer
from kitekit.brokers.angel.session import AngelCredentials, AngelSession
from kitekit.brokers.kite import KiteBroker
from kitekit.clock import ManualClock
from kitekit.files import atomic_write
from kitekit.instruments import InstrumentStore
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.session import SessionManager, SessionStore
from kitekit.sim.angel.server import AngelSimServer
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from kitekit.sim.upstox import UpstoxServer
from kitekit.wire.angel.routes import Route
from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH
from kitekit.wire.routes import EndpointClass

from ..conftest import sim_settings
from ..orders_helpers import accepted

#: Every broker the contract runs against.
BROKERS = ["kite", "upstox", "angel"]


@dataclass
class Harness:
    """One broker on its simulator, as the contract needs it.

    Args:
        broker: the broker, not logged in yet.
        clock: the simulator's market clock (the broker's too), which tests move.
        calls: how many calls of an endpoint class (``quote``, ``history``, ``order``) the simulator received.
        accepted_tags: the tags of every order the simulator's exchange accepted.
        listed: ``count`` neutral keys of instruments the simulator lists (for batches beyond one call).
        admin: the simulator's admin API (``http://127.0.0.1:PORT/__sim``): faults, order faults, its orders.
    """

    broker: Broker
    clock: ManualClock
    calls: Callable[[str], int]
    accepted_tags: Callable[[], list[str]]
    listed: Callable[[int], list[str]]
    admin: str


@pytest.fixture(params=BROKERS)
def harness(request: pytest.FixtureRequest) -> Harness:
    """Each broker of :data:`BROKERS` in turn."""
    found: Harness = request.getfixturevalue(f"{request.param}_harness")
    return found


@pytest.fixture
def logged_in(harness: Harness) -> Harness:
    """The broker of ``harness`` with a fresh session (its unattended login)."""
    harness.broker.session.login_unattended()
    return harness


#: Kite's routes by the contract's endpoint class (``sim.sim.requests`` counts "METHOD /path").
_KITE_ROUTES = {
    "quote": ("GET /quote",),
    "history": ("GET /instruments/historical/",),
    "order": ("POST /orders/",),
}


@pytest.fixture
def kite_harness(
    unlimited: SimConfig,
    sim: SimServer,
    sim_clock: ManualClock,
    sim_market: Market,
    sim_instruments: InstrumentStore,
    tmp_path: Path,
) -> Harness:
    """Kite Connect on the Kite simulator: kitekit's own session manager, instrument store, quotes, ticker, orders."""
    sim.sim.auth.totp_clock = sim_clock  # TOTP codes made and checked at the test's time, so it may move it
    fast = dict.fromkeys(EndpointClass, 1000.0)  # the simulator's limits are off; the pacer's would only slow the suite
    manager = SessionManager(
        sim_settings(sim),
        SessionStore(tmp_path / "sessions" / "kite.json"),
        clock=sim_clock,
        totp_clock=sim_clock,
        pacer=Pacer(None, rates=fast),
        retry=RetryPolicy(base=0.01, cap=0.05),
        login_hint="kitekit --sim login",
    )

    def calls(kind: str) -> int:
        counts = dict(sim.sim.requests)
        return sum(n for route, n in counts.items() if route.startswith(_KITE_ROUTES[kind]))

    def listed(count: int) -> list[str]:
        universe = sim_market.universe(sim_clock.now())
        return [f"{universe.exchange[i]}:{universe.symbol[i]}" for i in range(count)]

    return Harness(
        KiteBroker(manager, sim_instruments),
        sim_clock,
        calls,
        lambda: [str(o.get("tag")) for o in accepted(sim)],
        listed,
        f"{sim.url}/__sim",
    )


#: Upstox's routes by the contract's endpoint class.
_UPSTOX_ROUTES = {
    "quote": ("GET /v2/market-quote/", "GET /v3/market-quote/"),
    "history": ("GET /v2/historical-candle/", "GET /v3/historical-candle/"),
    "order": ("POST /v2/order/", "POST /v3/order/"),
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def upstox_dump(sim_market: Market) -> bytes:
    """The Upstox simulator's dump at ``SIM_NOW``, built once per test session (each simulator would build it)."""
    from kitekit.sim.pytest_plugin import SIM_NOW
    from kitekit.sim.upstox.catalog import UpstoxCatalog

    return UpstoxCatalog(sim_market).dump(SIM_NOW)


@pytest.fixture
def upstox_harness(
    upstox_sim: UpstoxServer, upstox_dump: bytes, sim_clock: ManualClock, sim_market: Market, tmp_path: Path
) -> Harness:
    """Upstox on the Upstox simulator: kitekit's Upstox session, instruments, quotes, candles, feed and orders.

    The unattended login is the v3 token request: the simulator approves it at once and POSTs the token to
    the webhook kitekit listens on.
    """
    from kitekit.brokers.upstox import UpstoxApp, UpstoxBroker, UpstoxSession
    from kitekit.brokers.upstox.capabilities import UPSTOX_CAPABILITIES
    from kitekit.brokers.upstox.client import pacer_for

    config = upstox_sim.sim.config
    config.rate_limit_enabled = False  # as the Kite harness: the pacer's real rates would only slow the suite
    config.auto_approve_requests = True
    webhook = f"http://127.0.0.1:{_free_port()}/upstox/webhook"
    config.notifier_url = webhook
    app = UpstoxApp(
        api_key=config.client_id,
        api_secret=config.client_secret,
        redirect_url=config.redirect_uri,
        webhook_url=webhook,
        base_url=upstox_sim.url,
        dump_url=f"{upstox_sim.url}/market-quote/instruments/exchange/complete.json.gz",
    )
    fast = pacer_for(UPSTOX_CAPABILITIES)
    fast.rates = dict.fromkeys(fast.rates, 1000.0)
    session = UpstoxSession(
        app,
        tmp_path / "sessions" / "upstox.json",
        clock=sim_clock,
        login_hint="kitekit --broker upstox login",
        pacer=fast,
        retry=RetryPolicy(base=0.01, cap=0.05),
        webhook_timeout=10.0,
    )

    def calls(kind: str) -> int:
        counts = dict(upstox_sim.sim.requests)
        return sum(n for route, n in counts.items() if route.startswith(_UPSTOX_ROUTES[kind]))

    def listed(count: int) -> list[str]:
        universe = sim_market.universe(sim_clock.now())
        return [f"{universe.exchange[i]}:{universe.symbol[i]}" for i in range(count)]

    broker = UpstoxBroker(session, tmp_path / "cache" / "instruments")
    # The day's dump cached as if downloaded earlier: the client reads the simulator's own bytes.
    atomic_write(broker.instruments()._file(sim_clock.now().date()), upstox_dump, 0o644)
    return Harness(
        broker,
        sim_clock,
        calls,
        lambda: [str(o.get("tag")) for o in upstox_sim.sim.exchange.accepted_orders()],
        listed,
        f"{upstox_sim.url}/__sim",
    )


#: Angel's routes by the contract's endpoint class.
_ANGEL_ROUTES = {
    "quote": (f"POST {Route.QUOTE.value}",),
    "history": (f"POST {Route.CANDLES.value}",),
    "order": (f"POST {Route.ORDER_PLACE.value}",),
}


@pytest.fixture(scope="session")
def angel_scrip_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One scrip-master cache for the session: the master is one day's, the same for every test."""
    return tmp_path_factory.mktemp("angel-instruments")


@pytest.fixture
def angel_harness(
    angel_sim: AngelSimServer, sim_clock: ManualClock, sim_market: Market, angel_scrip_cache: Path, tmp_path: Path
) -> Harness:
    """Angel One on the Angel simulator, its rate limits on: kitekit's Angel client paces under them."""
    cfg = angel_sim.angel.config
    credentials = AngelCredentials(cfg.api_key, cfg.client_code, cfg.pin, cfg.totp_secret, angel_sim.url)
    session = AngelSession(
        credentials,
        tmp_path / "sessions" / "angel.json",
        clock=sim_clock,
        pacer=angel_pacer(),
        retry=RetryPolicy(base=0.01, cap=0.05),
        login_hint="kitekit --sim login --broker angel",
    )
    broker = AngelBroker(
        session,
        angel_scrip_cache,
        scrip_url=angel_sim.url + SCRIP_MASTER_PATH,
        stream_url=angel_sim.stream_url,
        order_update_url=angel_sim.order_update_url,
    )

    def calls(kind: str) -> int:
        counts = dict(angel_sim.angel.requests)
        return sum(n for route, n in counts.items() if route.startswith(_ANGEL_ROUTES[kind]))

    def listed(count: int) -> list[str]:
        universe = sim_market.universe(sim_clock.now())
        return [f"{universe.exchange[i]}:{universe.symbol[i]}" for i in range(count)]

    def accepted_tags() -> list[str]:
        return [str(o.get("tag")) for o in angel_sim.angel.exchange.accepted_orders()]

    return Harness(broker, sim_clock, calls, accepted_tags, listed, f"{angel_sim.url}/__sim")
