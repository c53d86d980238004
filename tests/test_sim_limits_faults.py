"""Rate limits, error envelopes, unknown routes and injected faults, as the official SDK sees them."""

from __future__ import annotations

import time

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.sim.config import SimConfig
from kitekit.sim.ratelimit import RateLimiter
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass

TOO_MANY = {"status": "error", "message": "Too many requests", "error_type": "NetworkException"}


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fake_time(sim: SimServer) -> FakeMonotonic:
    tick = FakeMonotonic()
    sim.sim.limiter = RateLimiter(sim.sim.config.rate_limits, sim.sim.config.rate_tolerance, monotonic=tick)
    return tick


def _auth(kite: KiteConnect) -> dict[str, str]:
    return {"Authorization": f"token {kite.api_key}:{kite.access_token}"}


def test_two_quote_calls_within_a_second_get_the_exact_429(
    sim: SimServer, sim_kite: KiteConnect, fake_time: FakeMonotonic
) -> None:
    sim_kite.ltp("NSE:INFY")
    fake_time.now += 0.5
    r = requests.get(f"{sim.url}/quote/ltp", params={"i": "NSE:INFY"}, headers=_auth(sim_kite), timeout=5)
    assert r.status_code == 429 and r.json() == TOO_MANY
    with pytest.raises(kex.NetworkException) as err:
        sim_kite.ltp("NSE:INFY")
    assert err.value.code == 429 and str(err.value) == "Too many requests"


def test_one_quote_call_per_second_is_never_limited(
    sim: SimServer, sim_kite: KiteConnect, fake_time: FakeMonotonic
) -> None:
    for _ in range(20):
        sim_kite.ltp("NSE:INFY")
        fake_time.now += 1.0
    assert sim.sim.limiter.rejected == 0
    # The same limiter is on: half a second after the last call, the next one is refused.
    sim_kite.ltp("NSE:INFY")
    fake_time.now += 0.5
    with pytest.raises(kex.NetworkException):
        sim_kite.ltp("NSE:INFY")


def test_historical_allows_three_a_second(sim_kite: KiteConnect, fake_time: FakeMonotonic) -> None:
    for _ in range(3):
        sim_kite.historical_data(738561, "2026-11-27", "2026-11-27", "day")
    with pytest.raises(kex.NetworkException):
        sim_kite.historical_data(738561, "2026-11-27", "2026-11-27", "day")
    fake_time.now += 0.34
    sim_kite.historical_data(738561, "2026-11-27", "2026-11-27", "day")


def test_other_endpoints_allow_ten_a_second(sim_kite: KiteConnect, fake_time: FakeMonotonic) -> None:
    for _ in range(10):
        sim_kite.profile()
    with pytest.raises(kex.NetworkException):
        sim_kite.profile()


def test_limits_are_per_class(sim: SimServer, sim_kite: KiteConnect, fake_time: FakeMonotonic) -> None:
    sim_kite.ltp("NSE:INFY")
    with pytest.raises(kex.NetworkException):
        sim_kite.ltp("NSE:INFY")  # the quote bucket is spent for this second…
    assert sim_kite.profile()["user_id"]  # …but the other classes have their own buckets
    assert sim_kite.historical_data(738561, "2026-11-27", "2026-11-27", "day")
    assert sim.sim.limiter.rejected == 1


def test_rate_limiter_tolerates_slight_early_arrival() -> None:
    clock = FakeMonotonic()
    limiter = RateLimiter({EndpointClass.QUOTE: 1.0}, tolerance=0.1, monotonic=clock)
    assert limiter.allow("k", EndpointClass.QUOTE)
    clock.now += 0.95
    assert limiter.allow("k", EndpointClass.QUOTE)
    clock.now += 0.5
    assert not limiter.allow("k", EndpointClass.QUOTE)
    assert limiter.allow("other-key", EndpointClass.QUOTE)


def test_unknown_route_and_wrong_method_answer_kite_envelopes(sim: SimServer) -> None:
    r = requests.get(f"{sim.url}/no/such/route", timeout=5)
    assert r.status_code == 404 and r.json()["error_type"] == "GeneralException"
    r = requests.put(f"{sim.url}/user/profile", timeout=5)
    assert r.status_code == 405 and r.json()["error_type"] == "GeneralException"


def _set_faults(sim: SimServer, **settings: object) -> None:
    r = requests.put(f"{sim.url}/__sim/faults", json=settings, timeout=5)
    assert r.status_code == 200, r.text


def test_network_fault_is_a_503_network_exception(sim: SimServer, sim_kite: KiteConnect) -> None:
    _set_faults(sim, network_error_rate=1.0)
    with pytest.raises(kex.NetworkException) as err:
        sim_kite.profile()
    assert err.value.code == 503


def test_data_fault_is_a_502_data_exception(sim: SimServer, sim_kite: KiteConnect) -> None:
    _set_faults(sim, data_error_rate=1.0)
    with pytest.raises(kex.DataException) as err:
        sim_kite.profile()
    assert err.value.code == 502


def test_html_502_surfaces_as_unknown_content_type(sim: SimServer, sim_kite: KiteConnect) -> None:
    _set_faults(sim, html_502_rate=1.0)
    with pytest.raises(kex.DataException) as err:
        sim_kite.profile()
    assert "Unknown Content-Type" in str(err.value)


def test_dropped_connection_is_a_transport_error(sim: SimServer, sim_kite: KiteConnect) -> None:
    _set_faults(sim, drop_rate=1.0)
    with pytest.raises(requests.ConnectionError):
        sim_kite.profile()
    requests.delete(f"{sim.url}/__sim/faults", timeout=5)
    assert sim_kite.profile()


def test_faults_can_target_some_paths_only(sim: SimServer, sim_kite: KiteConnect) -> None:
    _set_faults(sim, network_error_rate=1.0, paths=["/quote"])
    assert sim_kite.profile()
    with pytest.raises(kex.NetworkException):
        sim_kite.ltp("NSE:INFY")


def test_a_fault_share_fails_about_that_share(sim: SimServer, sim_kite: KiteConnect) -> None:
    sim.sim.config.rate_limit_enabled = False
    _set_faults(sim, network_error_rate=0.3, seed=1)
    failures = 0
    for _ in range(200):
        try:
            sim_kite.profile()
        except kex.NetworkException:
            failures += 1
    assert 35 <= failures <= 85


def test_added_latency_delays_answers(sim: SimServer, sim_kite: KiteConnect) -> None:
    _set_faults(sim, latency_ms=150)
    started = time.perf_counter()
    sim_kite.profile()
    assert time.perf_counter() - started >= 0.15


@pytest.mark.parametrize(
    "body",
    [
        {"network_error_rate": 2},
        {"nonsense": 1},
        [1, 2],
        {"latency_ms": -5},
        {"latency_ms": 1e9},
        {"latency_ms": "NaN"},
        {"jitter_ms": {"a": 1}},
        {"paths": "/quote"},
        {"seed": "x"},
        {"drop_rate": 0.6, "network_error_rate": 0.6},
        {"drop_rate": 0.5, "latency_ms": -1},  # one bad value: nothing of the change is applied
    ],
)
def test_bad_fault_settings_are_refused_and_change_nothing(sim: SimServer, body: object) -> None:
    before = requests.get(f"{sim.url}/__sim/faults", timeout=5).json()
    r = requests.put(f"{sim.url}/__sim/faults", json=body, timeout=5)
    assert r.status_code == 400 and r.json()["error_type"] == "InputException"
    assert requests.get(f"{sim.url}/__sim/faults", timeout=5).json() == before


def test_a_non_finite_latency_in_raw_json_is_refused(sim: SimServer) -> None:
    r = requests.put(f"{sim.url}/__sim/faults", data=b'{"latency_ms": NaN}', timeout=5)
    assert r.status_code == 400 and "finite" in r.json()["message"]


def test_info_shows_settings_but_never_the_secret(sim: SimServer) -> None:
    info = requests.get(f"{sim.url}/__sim/info", timeout=5).text
    assert sim.sim.config.api_key in info and sim.sim.config.api_secret not in info


def test_two_simulators_run_side_by_side_on_free_ports(sim: SimServer, sim_market) -> None:  # type: ignore[no-untyped-def]
    with SimServer(market=sim_market) as other:
        assert other.port != sim.port
        url = other.url
        assert requests.get(f"{url}/__sim/info", timeout=5).ok
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/__sim/info", timeout=2)


@pytest.fixture
def quick_reaper(sim_config: SimConfig) -> SimConfig:
    """Give each request half a second to arrive whole (10 s by default)."""
    sim_config.request_timeout_s = 0.5
    return sim_config


def test_half_open_connections_are_closed_and_working_ones_kept(
    quick_reaper: SimConfig, sim: SimServer, sim_kite: KiteConnect
) -> None:
    import select
    import socket

    from websockets.sync.client import connect

    from .conftest import eventually
    from .stream_helpers import ticker_url

    partial = [
        b"",  # connects and sends nothing
        b"GET /user/profile HTTP/1.1\r\nHost: 127.0.0.1\r\n",  # headers never finished
        b"POST /session/token HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\napi_key=",  # body cut short
    ]
    idle = []
    for n in range(300):
        conn = socket.create_connection(("127.0.0.1", sim.port), timeout=10)
        conn.sendall(partial[n % 3])
        idle.append(conn)
    with connect(ticker_url(sim, str(sim_kite.access_token)), open_timeout=10) as ticker:

        def closed(conn: socket.socket) -> bool:
            if not select.select([conn], [], [], 0)[0]:
                return False
            try:
                return conn.recv(4096) == b""
            except ConnectionResetError:
                return True

        try:
            eventually(lambda: all(closed(conn) for conn in idle), timeout=20)
        finally:
            for conn in idle:
                conn.close()
        ticker.recv(timeout=10)  # the WebSocket, silent from its side all along, is still served
        assert len(sim.sim.feed.info()["connections"]) == 1
    assert sim_kite.profile()["user_id"]  # and the SDK's kept-alive connection still works
