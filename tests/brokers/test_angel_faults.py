"""Angel One under a faulty network: the cron login and order placement when 30% of requests fail.

The faults are the network's, injected at the ``requests`` transport (the seam the client offers): a request
refused before it left, an answer lost after the simulator acted on it, a 503 page, or Angel's 403 rate-limit
text. The simulator's own limits are off so the runs take seconds; every fault is seeded. The order run places
100 intents by default; ``KITEKIT_RELIABILITY_ORDERS=1000`` runs the issue's full thousand.
"""

from __future__ import annotations

import os
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect.exceptions import KiteException
from requests.adapters import HTTPAdapter

from kitekit.brokers.angel.broker import AngelBroker
from kitekit.brokers.angel.session import AngelCredentials, AngelSession
from kitekit.clock import ManualClock
from kitekit.errors import OrderInDoubtError
from kitekit.orders import OrderRequest
from kitekit.orders.placement import LookupPolicy
from kitekit.rest.retry import RetryPolicy
from kitekit.sim.angel.config import AngelSimConfig
from kitekit.sim.angel.server import AngelSimServer
from kitekit.sim.market import Market
from kitekit.wire.angel.routes import RATE_LIMITED_TEXT
from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH

from ..orders_helpers import advancing

INFY = "NSE:INFY"


class FaultyNetwork(HTTPAdapter):
    """Fails a share of requests the four ways a network does; counts what it did."""

    def __init__(self, share: float, seed: int) -> None:
        super().__init__()
        self.share = share
        self.draw = random.Random(seed)
        self.done: Counter[str] = Counter()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if SCRIP_MASTER_PATH in (request.path_url or "") or self.draw.random() >= self.share:
            return super().send(request, *args, **kwargs)
        kind = self.draw.choice(("refused", "lost", "503", "403"))
        self.done[kind] += 1
        if kind == "refused":
            raise requests.ConnectionError("connection refused (injected)")
        if kind == "lost":
            super().send(request, *args, **kwargs)  # the server acts; its answer never comes back
            raise requests.ReadTimeout("the answer was lost (injected)")
        answer = requests.Response()
        answer.status_code = 503 if kind == "503" else 403
        answer._content = b"<html>503 Service Unavailable</html>" if kind == "503" else RATE_LIMITED_TEXT.encode()
        answer.url = request.url or ""
        answer.request = request
        return answer


@pytest.fixture
def quiet_angel(sim_clock: ManualClock, sim_market: Market) -> Iterator[AngelSimServer]:
    """An Angel simulator without its rate limits (the faults, not the limits, are under test)."""
    server = AngelSimServer(
        AngelSimConfig(rate_limit_enabled=False), sim_clock, market=sim_market, totp_clock=sim_clock
    )
    with server:
        yield server


def _broker(server: AngelSimServer, clock: ManualClock, folder: Path, network: HTTPAdapter) -> AngelBroker:
    cfg = server.angel.config
    session = AngelSession(
        AngelCredentials(cfg.api_key, cfg.client_code, cfg.pin, cfg.totp_secret, server.url),
        folder / "angel.json",
        clock=clock,
        retry=RetryPolicy(base=0.001, cap=0.002, rate_limit_pause=0.0),
        sleep=lambda _: None,
        adapter=network,
    )
    return AngelBroker(session, folder / "instruments", scrip_url=server.url + SCRIP_MASTER_PATH)


def test_the_cron_login_succeeds_99_times_in_100_when_30_percent_of_requests_fail(
    quiet_angel: AngelSimServer, sim_clock: ManualClock, tmp_path: Path
) -> None:
    network = FaultyNetwork(0.3, seed=27)
    broker = _broker(quiet_angel, sim_clock, tmp_path, network)
    ok = 0
    for _ in range(100):
        broker.session.path.unlink(missing_ok=True)
        try:
            info = broker.session.login_unattended()
        except Exception:  # noqa: S112 - a failed login is what is counted here
            continue
        ok += info.user_id == quiet_angel.angel.config.client_code
    assert ok >= 99
    assert sum(network.done.values()) >= 30 and set(network.done) == {"refused", "lost", "503", "403"}


def test_orders_under_30_percent_faults_are_neither_lost_nor_duplicated(
    quiet_angel: AngelSimServer, sim_clock: ManualClock, tmp_path: Path
) -> None:
    setup = _broker(quiet_angel, sim_clock, tmp_path, HTTPAdapter())
    setup.session.login_unattended()
    last = setup.quotes().ltp(INFY)[INFY].last_price
    price = round(round(last * 0.9 / 0.05) * 0.05, 2)

    network = FaultyNetwork(0.3, seed=1000)
    broker = _broker(quiet_angel, sim_clock, tmp_path, network)
    lookup = LookupPolicy(settle=0.05, looks=2, max_sends=10)
    gateway: Any = None
    for _ in range(20):  # opening the gateway reads the order book (reconcile), which the network may fail too
        try:
            gateway = broker.orders(paper=False, folder=tmp_path / "journal", lookup=lookup, sleep=advancing(sim_clock))
            break
        except (OrderInDoubtError, requests.RequestException):
            continue
    assert gateway is not None
    placed: dict[str, str] = {}
    intents = [f"reliable-{i}" for i in range(int(os.environ.get("KITEKIT_RELIABILITY_ORDERS", "100")))]
    for intent in intents:
        for _ in range(20):  # the caller's own retry: placing the same intent again is always safe
            try:
                placed[intent] = gateway.place(OrderRequest.buy(INFY, 1, price=price), intent).tag
                break
            except (OrderInDoubtError, requests.RequestException, KiteException):
                continue

    tags = Counter(str(o.get("tag")) for o in quiet_angel.angel.exchange.accepted_orders())
    assert set(placed) == set(intents)  # none lost
    assert all(tags[tag] == 1 for tag in placed.values())  # none duplicated
    assert sum(tags.values()) == len(intents)
    assert network.done["lost"] > 0 and network.done["refused"] > 0
