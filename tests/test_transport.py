"""Pacing and retries at the transport, against the simulator's enforced limits and injected faults."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.errors import SessionExpiredError
from kitekit.pacer import Pacer
from kitekit.retry import POLICY, Action, RetryPolicy
from kitekit.session import SessionManager, SessionStore
from kitekit.sim.faults import Fault
from kitekit.sim.ratelimit import RateLimiter
from kitekit.sim.server import SimServer
from kitekit.transport import install_transport
from kitekit.wire.envelope import ErrorType
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

from .conftest import sim_settings

FAST = RetryPolicy(attempts=4, base=0.01, cap=0.05)


def faults(sim: SimServer, **settings: Any) -> None:
    requests.put(f"{sim.url}/__sim/faults", json=settings, timeout=5).raise_for_status()


def paced(kite: KiteConnect, pacer: Pacer | None = None, policy: RetryPolicy = FAST) -> KiteConnect:
    install_transport(kite, pacer=pacer, policy=policy)
    return kite


class FakeTime:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# -- the policy table -----------------------------------------------------------------------------------


def test_every_kite_error_type_is_in_the_policy_table() -> None:
    assert set(POLICY) == set(ErrorType)
    assert POLICY[ErrorType.TOKEN] is Action.RELOGIN
    assert POLICY[ErrorType.NETWORK] is Action.RETRY
    assert POLICY[ErrorType.DATA] is Action.REPORT_MISSING
    for name in (ErrorType.INPUT, ErrorType.PERMISSION, ErrorType.GENERAL, ErrorType.ORDER):
        assert POLICY[name] is Action.RAISE


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    top = RetryPolicy(base=0.5, cap=3.0, random=lambda: 1.0)
    assert [top.delay(i) for i in range(4)] == [0.5, 1.0, 2.0, 3.0]
    assert RetryPolicy(random=lambda: 0.0).delay(3) == 0.0


# -- retries ----------------------------------------------------------------------------------------------


def test_network_errors_on_gets_are_retried_until_they_pass(sim: SimServer, sim_kite: KiteConnect) -> None:
    sim.sim.config.rate_limit_enabled = False
    faults(sim, network_error_rate=0.3, seed=3, paths=["/user"])
    kite = paced(sim_kite, policy=RetryPolicy(attempts=8, base=0.001, cap=0.01))
    for _ in range(40):
        assert kite.profile()["user_id"]
    assert sim.sim.faults.injected[Fault.NETWORK] > 5


def test_dropped_connections_and_gateway_pages_on_gets_are_retried(sim: SimServer, sim_kite: KiteConnect) -> None:
    sim.sim.config.rate_limit_enabled = False
    faults(sim, drop_rate=0.25, html_502_rate=0.25, seed=5, paths=["/user"])
    kite = paced(sim_kite, policy=RetryPolicy(attempts=10, base=0.001, cap=0.01))
    for _ in range(30):
        assert kite.margins()["equity"]["enabled"]
    assert sim.sim.faults.injected[Fault.DROP] > 0 and sim.sim.faults.injected[Fault.HTML_502] > 0


def test_exhausted_retries_raise_the_kite_error_after_exactly_the_allowed_attempts(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    faults(sim, network_error_rate=1.0, paths=["/user/profile"])
    kite = paced(sim_kite, policy=RetryPolicy(attempts=3, base=0.001))
    with pytest.raises(kex.NetworkException):
        kite.profile()
    assert sim.sim.requests["GET /user/profile"] == 3


def test_data_exceptions_are_not_retried(sim: SimServer, sim_kite: KiteConnect) -> None:
    faults(sim, data_error_rate=1.0, paths=["/user/profile"])
    with pytest.raises(kex.DataException):
        paced(sim_kite).profile()
    assert sim.sim.requests["GET /user/profile"] == 1


def test_a_post_is_never_retried(sim: SimServer) -> None:
    faults(sim, network_error_rate=1.0, paths=["/session/token"])
    kite = paced(KiteConnect(sim.sim.config.api_key, root=sim.url))
    with pytest.raises(kex.NetworkException):
        kite.generate_session("a" * 32, sim.sim.config.api_secret)
    assert sim.sim.requests["POST /session/token"] == 1


def test_a_dropped_post_is_not_sent_twice(sim: SimServer) -> None:
    faults(sim, drop_rate=1.0, paths=["/session/token"])
    kite = paced(KiteConnect(sim.sim.config.api_key, root=sim.url))
    with pytest.raises(requests.ConnectionError):
        kite.generate_session("a" * 32, sim.sim.config.api_secret)
    assert sim.sim.requests["POST /session/token"] == 1


def test_token_errors_are_not_retried_and_mark_the_session_dead(sim: SimServer, tmp_path: Path) -> None:
    manager = SessionManager(
        sim_settings(sim), SessionStore(tmp_path / "s.json"), clock=sim.sim.clock, retry=FAST
    )
    manager.login_with_totp()
    kite = manager.get_kite()
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5)
    with pytest.raises(SessionExpiredError):
        kite.profile()
    assert sim.sim.requests["GET /user/profile"] == 1
    with pytest.raises(SessionExpiredError):  # the guard now stops it before the network
        kite.margins()
    assert sim.sim.requests["GET /user/margins"] == 0


# -- pacing ------------------------------------------------------------------------------------------------


def test_reservations_are_spaced_by_the_interval_with_a_margin() -> None:
    t = FakeTime()
    pacer = Pacer(rates={EndpointClass.QUOTE: 1.0}, margin=0.02, clock=t.clock, sleep=t.sleep)
    slots = [pacer.reserve("k", EndpointClass.QUOTE) for _ in range(4)]
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert gaps == pytest.approx([1 / 0.98] * 3)
    assert slots[0] == t.now


def test_orders_are_never_queued_behind_quotes(tmp_path: Path) -> None:
    t = FakeTime()
    pacer = Pacer(tmp_path / "p.sqlite3", clock=t.clock, sleep=t.sleep)
    for _ in range(30):
        pacer.reserve("k", EndpointClass.QUOTE)  # half a minute of quote calls queued
    assert pacer.reserve("k", EndpointClass.ORDER) == t.now
    assert pacer.acquire("k", EndpointClass.ORDER) < 0.2


def test_keys_have_separate_budgets(tmp_path: Path) -> None:
    t = FakeTime()
    pacer = Pacer(tmp_path / "p.sqlite3", clock=t.clock, sleep=t.sleep)
    pacer.reserve("a", EndpointClass.QUOTE)
    assert pacer.reserve("b", EndpointClass.QUOTE) == t.now


def test_a_second_pacer_on_the_same_file_shares_the_budget(tmp_path: Path) -> None:
    t = FakeTime()
    first = Pacer(tmp_path / "p.sqlite3", clock=t.clock, sleep=t.sleep)
    second = Pacer(tmp_path / "p.sqlite3", clock=t.clock, sleep=t.sleep)
    a = first.reserve("k", EndpointClass.HISTORICAL)
    b = second.reserve("k", EndpointClass.HISTORICAL)
    assert b - a == pytest.approx(first.interval(EndpointClass.HISTORICAL))


def test_cool_down_pushes_the_next_slot_out() -> None:
    t = FakeTime()
    pacer = Pacer(cooldown=1.5, clock=t.clock, sleep=t.sleep)
    pacer.cool_down("k", EndpointClass.QUOTE)
    assert pacer.reserve("k", EndpointClass.QUOTE) == pytest.approx(t.now + 1.5)


def test_many_threads_through_paced_clients_never_get_429(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    rates = {**DEFAULT_RATES, EndpointClass.QUOTE: 25.0}
    sim.sim.limiter = RateLimiter(rates, sim.sim.config.rate_tolerance)
    pacer = Pacer(tmp_path / "p.sqlite3", rates=rates)
    clients = [paced(KiteConnect(sim_kite.api_key, sim_kite.access_token, root=sim.url), pacer) for _ in range(6)]
    errors: list[Exception] = []

    def hammer(kite: KiteConnect) -> None:
        try:
            for _ in range(10):
                kite.ltp("NSE:INFY", "NSE:TCS")
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer, args=(k,)) for k in clients]
    for th in threads:
        th.start()
    for th in threads:
        th.join(60)
    assert not errors
    assert sim.sim.requests["GET /quote/ltp"] == 60
    assert sim.sim.limiter.rejected == 0


TWIN = """
import os, sys
from pathlib import Path
from kiteconnect import KiteConnect
from kitekit.pacer import Pacer
from kitekit.transport import install_transport
from kitekit.wire.routes import DEFAULT_RATES, EndpointClass
url, db = sys.argv[1], Path(sys.argv[2])
kite = KiteConnect(os.environ["SIM_KEY"], os.environ["SIM_TOKEN"], root=url)
install_transport(kite, pacer=Pacer(db, rates={**DEFAULT_RATES, EndpointClass.QUOTE: 25.0}))
for _ in range(25):
    kite.ltp("NSE:INFY")
"""


def test_two_processes_on_one_key_never_get_429(sim: SimServer, sim_kite: KiteConnect, tmp_path: Path) -> None:
    rates = {**DEFAULT_RATES, EndpointClass.QUOTE: 25.0}
    sim.sim.limiter = RateLimiter(rates, sim.sim.config.rate_tolerance)
    env = {**os.environ, "SIM_KEY": sim_kite.api_key, "SIM_TOKEN": sim_kite.access_token}
    db = tmp_path / "shared.sqlite3"
    procs = [subprocess.Popen([sys.executable, "-c", TWIN, sim.url, str(db)], env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    assert sim.sim.requests["GET /quote/ltp"] == 50
    assert sim.sim.limiter.rejected == 0


def test_a_429_that_gets_through_cools_the_class_down_and_is_retried(
    sim: SimServer, sim_kite: KiteConnect, tmp_path: Path
) -> None:
    unpaced = KiteConnect(sim_kite.api_key, sim_kite.access_token, root=sim.url)
    unpaced.ltp("NSE:INFY")  # another app on the same key spends this second's budget
    pacer = Pacer(tmp_path / "p.sqlite3", cooldown=1.0)
    kite = paced(
        KiteConnect(sim_kite.api_key, sim_kite.access_token, root=sim.url),
        pacer,
        policy=RetryPolicy(attempts=3, base=0.0),
    )
    assert kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] > 0
    assert sim.sim.limiter.rejected == 1  # one 429, then the cooled-down retry passed
    assert sim.sim.requests["GET /quote/ltp"] == 3
