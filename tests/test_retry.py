"""Retries: the policy table, the backoff, and what the transport does with each failure the simulator injects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.quotes import MarketData
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import GATEWAY_STATUSES, POLICY, Action, RetryPolicy, action_for
from kitekit.rest.transport import install_transport
from kitekit.sim.config import SimConfig
from kitekit.sim.faults import Fault
from kitekit.sim.ratelimit import RateLimiter
from kitekit.sim.server import SimServer
from kitekit.wire.envelope import ErrorType
from kitekit.wire.routes import EndpointClass


class Sleeps:
    """Records pauses instead of taking them, so retry tests run instantly."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


class CountingPacer(Pacer):
    """A real pacer that counts the slots it hands out."""

    acquired = 0

    def acquire(self, api_key: str, cls: EndpointClass) -> float:
        self.acquired += 1
        return super().acquire(api_key, cls)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def policy(sleeps: Sleeps, attempts: int = 8, base: float = 0.01) -> RetryPolicy:
    """A policy that always draws the top of the jitter range and never really sleeps."""
    return RetryPolicy(attempts=attempts, base=base, cap=1.0, sleep=sleeps, random=lambda: 1.0)


def faults(sim: SimServer, **settings: Any) -> None:
    requests.put(f"{sim.url}/__sim/faults", json=settings, timeout=5).raise_for_status()


def faults_injected(sim: SimServer) -> int:
    info = requests.get(f"{sim.url}/__sim/info", timeout=5).json()["data"]
    return sum(info["faults_injected"].values())


def retrying(sim: SimServer, kite: KiteConnect, retry: RetryPolicy, **options: Any) -> KiteConnect:
    """Return a fresh official client on ``kite``'s session (or none) with the transport installed."""
    client = KiteConnect(kite.api_key, kite.access_token, root=sim.url)
    install_transport(client, policy=retry, **options)
    return client


# -- the table ----------------------------------------------------------------------------------------------


def test_every_kite_error_type_is_in_the_policy_table() -> None:
    assert set(POLICY) == set(ErrorType)


def test_the_table_says_what_happens_to_each_kind_of_kite_error() -> None:
    assert POLICY[ErrorType.TOKEN] is Action.RELOGIN
    assert POLICY[ErrorType.NETWORK] is Action.RETRY
    assert POLICY[ErrorType.DATA] is Action.REPORT_MISSING
    for name in (ErrorType.INPUT, ErrorType.PERMISSION, ErrorType.GENERAL, ErrorType.ORDER, ErrorType.MARGIN):
        assert POLICY[name] is Action.RAISE


def test_proxy_pages_and_bare_429s_count_as_network_side_and_successes_as_nothing() -> None:
    for status in (*GATEWAY_STATUSES, 429):
        assert action_for(status, None) is Action.RETRY
    assert action_for(502, ErrorType.DATA) is Action.REPORT_MISSING  # Kite's own 502 says what it is
    assert action_for(500, None) is Action.RAISE
    assert action_for(200, None) is None


def test_backoff_doubles_with_full_jitter_up_to_the_cap() -> None:
    top = RetryPolicy(base=0.5, cap=3.0, random=lambda: 1.0)
    assert [top.delay(n) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert RetryPolicy(base=0.5, random=lambda: 0.25).delay(2) == 0.5
    assert RetryPolicy(random=lambda: 0.0).delay(3) == 0.0


@pytest.mark.parametrize("settings", [{"attempts": 0}, {"base": -1.0}, {"cap": -1.0}, {"rate_limit_pause": -1.0}])
def test_nonsense_retry_settings_are_refused(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**settings)


# -- idempotent GETs are retried ----------------------------------------------------------------------------


def test_network_errors_on_gets_are_retried_until_they_pass(
    unlimited: SimConfig, sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps
) -> None:
    faults(sim, network_error_rate=0.3, seed=3, paths=["/quote"])
    kite = retrying(sim, sim_kite, policy(sleeps))
    for _ in range(40):
        assert kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] > 0
    assert faults_injected(sim) == len(sleeps.taken) > 5


def test_dropped_connections_and_proxy_502_pages_on_gets_are_retried(
    unlimited: SimConfig, sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps
) -> None:
    faults(sim, drop_rate=0.2, html_502_rate=0.2, seed=5, paths=["/user"])
    kite = retrying(sim, sim_kite, policy(sleeps))
    for _ in range(30):
        assert kite.margins()["equity"]["enabled"]
    assert sim.sim.faults.injected[Fault.DROP] > 0 and sim.sim.faults.injected[Fault.HTML_502] > 0
    assert faults_injected(sim) == len(sleeps.taken)


def test_each_try_is_paced_again_and_backs_off_exponentially_until_the_attempts_run_out(
    sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps, tmp_path: Path
) -> None:
    faults(sim, network_error_rate=1.0, paths=["/user/profile"])
    pacer = CountingPacer(tmp_path)
    kite = retrying(sim, sim_kite, policy(sleeps, attempts=4), pacer=pacer)
    with pytest.raises(kex.NetworkException) as failure:
        kite.profile()
    assert failure.value.code == 503
    assert sim.sim.requests["GET /user/profile"] == 4
    assert pacer.acquired == 4
    assert sleeps.taken == [0.01, 0.02, 0.04]


def test_a_get_that_keeps_dropping_raises_the_connection_error_after_all_attempts(
    sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps
) -> None:
    faults(sim, drop_rate=1.0, paths=["/user/profile"])
    with pytest.raises(requests.ConnectionError):
        retrying(sim, sim_kite, policy(sleeps, attempts=3)).profile()
    assert sim.sim.requests["GET /user/profile"] == 3


def test_a_429_without_a_pacer_waits_at_least_the_rate_limit_pause_before_the_retry(
    sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps
) -> None:
    # A frozen limiter clock keeps the quote bucket spent for good, so every try after the first is a 429.
    sim.sim.limiter = RateLimiter(sim.sim.config.rate_limits, monotonic=lambda: 1000.0)
    kite = retrying(sim, sim_kite, policy(sleeps, attempts=2))
    kite.ltp("NSE:INFY")
    with pytest.raises(kex.NetworkException) as failure:
        kite.ltp("NSE:INFY")
    assert failure.value.code == 429
    assert sleeps.taken == [1.0]
    assert sim.sim.requests["GET /quote/ltp"] == 3


# -- everything else is not retried -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "raised"),
    [
        ("network_error_rate", kex.NetworkException),
        ("drop_rate", requests.ConnectionError),
        ("html_502_rate", kex.DataException),
    ],
)
def test_a_post_that_fails_is_sent_once_and_never_retried(
    sim: SimServer, sleeps: Sleeps, fault: str, raised: type[Exception]
) -> None:
    faults(sim, **{fault: 1.0}, paths=["/session/token"])
    kite = KiteConnect(sim.sim.config.api_key, root=sim.url)
    install_transport(kite, policy=policy(sleeps))
    with pytest.raises(raised):
        kite.generate_session("a" * 32, sim.sim.config.api_secret)
    assert sim.sim.requests["POST /session/token"] == 1
    assert faults_injected(sim) == 1
    assert sleeps.taken == []


def test_a_delete_that_fails_is_never_retried(sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps) -> None:
    faults(sim, network_error_rate=1.0, paths=["/session/token"])
    with pytest.raises(kex.NetworkException):
        retrying(sim, sim_kite, policy(sleeps)).invalidate_access_token()
    assert sim.sim.requests["DELETE /session/token"] == 1


def test_a_429_on_a_post_is_not_retried_but_cools_its_class_down(
    sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps, tmp_path: Path
) -> None:
    sim.sim.limiter = RateLimiter(sim.sim.config.rate_limits, monotonic=lambda: 1000.0)
    for _ in range(10):
        sim_kite.profile()  # spends the whole "other" bucket (10 a second) of this api_key
    sent = sim.sim.requests["POST /session/token"]  # the fixture's own login
    now = 1_800_000_000.0
    pacer = Pacer(tmp_path, cooldown=1.5, clock=lambda: now, sleep=sleeps)
    stranger = KiteConnect(sim_kite.api_key, root=sim.url)
    install_transport(stranger, pacer=pacer, policy=policy(sleeps))
    with pytest.raises(kex.NetworkException) as failure:
        stranger.generate_session("a" * 32, sim.sim.config.api_secret)
    assert failure.value.code == 429
    assert sim.sim.requests["POST /session/token"] == sent + 1
    assert pacer.reserve(sim_kite.api_key, EndpointClass.OTHER) == pytest.approx(now + 1.5)


def test_a_token_error_calls_back_once_and_is_not_retried(
    sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps
) -> None:
    dead: list[bool] = []
    kite = retrying(sim, sim_kite, policy(sleeps), on_token_error=lambda: dead.append(True))
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5).raise_for_status()
    with pytest.raises(kex.TokenException) as failure:
        kite.profile()
    assert failure.value.code == 403
    assert dead == [True]
    assert sim.sim.requests["GET /user/profile"] == 1
    assert sleeps.taken == []


def test_a_refused_login_exchange_is_not_reported_as_a_dead_session(sim: SimServer, sleeps: Sleeps) -> None:
    dead: list[bool] = []
    kite = KiteConnect(sim.sim.config.api_key, root=sim.url)
    install_transport(kite, policy=policy(sleeps), on_token_error=lambda: dead.append(True))
    with pytest.raises(kex.TokenException):
        kite.generate_session("a" * 32, "not the secret")
    assert dead == []


def test_data_exceptions_are_not_retried_and_the_instrument_is_reported_missing(
    unlimited: SimConfig, sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps
) -> None:
    faults(sim, data_error_rate=1.0, paths=["/quote"])
    kite = retrying(sim, sim_kite, policy(sleeps))
    with pytest.raises(kex.DataException):
        kite.ltp("NSE:INFY")
    assert sim.sim.requests["GET /quote/ltp"] == 1
    quotes = MarketData(kite).ltp("NSE:INFY", strict=False)
    assert dict(quotes) == {}
    assert "DataException" in quotes.missing["NSE:INFY"]
    assert sleeps.taken == []


def test_input_exceptions_are_raised_at_once(sim: SimServer, sim_kite: KiteConnect, sleeps: Sleeps) -> None:
    kite = retrying(sim, sim_kite, policy(sleeps))
    with pytest.raises(kex.InputException):
        kite.historical_data(408065, "2026-11-27", "2026-11-27", "fortnight")
    assert sim.sim.requests["GET /instruments/historical/408065/fortnight"] == 1
    assert sleeps.taken == []
