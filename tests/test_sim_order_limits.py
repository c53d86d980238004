"""Kite's order limits on the simulator: 10 placements a second, 400 a minute and 5,000 a day per user, each
answered with the exact 429 body; a bad token is a 403 before any of them."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.ratelimit import RateLimiter
from kitekit.sim.server import SimServer
from tests.exchange_helpers import admin, auth

TOO_MANY = {"status": "error", "message": "Too many requests", "error_type": "NetworkException"}
# Refused outright (an unknown symbol): the cheapest placement, and it still counts against the limits.
NOPE = {
    "exchange": "NSE",
    "tradingsymbol": "NOPE",
    "transaction_type": "BUY",
    "quantity": "1",
    "product": "MIS",
    "order_type": "LIMIT",
    "price": "10",
}


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


def _place(sim: SimServer, kite: KiteConnect, **form: str) -> requests.Response:
    return requests.post(f"{sim.url}/orders/regular", data={**NOPE, **form}, headers=auth(kite), timeout=5)


def test_kites_order_limits_are_the_defaults() -> None:
    config = SimConfig()
    assert (config.orders_per_second, config.orders_per_minute, config.orders_per_day) == (10, 400, 5000)


def test_an_eleventh_placement_within_a_calendar_second_of_the_servers_clock_gets_the_exact_429(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, fake_time: FakeMonotonic
) -> None:
    sim_clock.set(sim_clock.now().replace(microsecond=900_000))  # a tenth of a second before the next one
    for _ in range(10):
        fake_time.now += 1.0  # far apart on the wall: only the server's calendar second can refuse
        assert _place(sim, sim_kite).status_code == 400
    r = _place(sim, sim_kite)
    assert r.status_code == 429 and r.json() == TOO_MANY
    sim_clock.advance(0.1)  # the server's next second: ten more
    for _ in range(10):
        fake_time.now += 1.0
        assert _place(sim, sim_kite).status_code == 400
    assert _place(sim, sim_kite).status_code == 429


def test_the_per_second_rate_still_refuses_a_burst_across_two_calendar_seconds(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, fake_time: FakeMonotonic
) -> None:
    for _ in range(10):
        assert _place(sim, sim_kite).status_code == 400
    sim_clock.advance(1)
    r = _place(sim, sim_kite)
    assert r.status_code == 429 and r.json() == TOO_MANY
    fake_time.now += 0.1
    assert _place(sim, sim_kite).status_code == 400


def test_the_401st_placement_in_a_clock_minute_is_refused_until_the_minute_rolls_over(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, fake_time: FakeMonotonic
) -> None:
    for _ in range(400):
        fake_time.now += 0.1  # within 10 a second, so only the minute's cap can refuse
        sim_clock.advance(0.1)
        assert _place(sim, sim_kite).status_code == 400
    fake_time.now += 0.1
    sim_clock.advance(0.1)
    r = _place(sim, sim_kite)
    assert r.status_code == 429 and r.json() == TOO_MANY
    fake_time.now += 0.1
    sim_clock.advance(0.1)
    with pytest.raises(kex.NetworkException) as err:
        sim_kite.place_order("regular", "NSE", "INFY", "BUY", 1, "MIS", "LIMIT", price=2000.0)
    assert err.value.code == 429
    assert sim_kite.orders() == []  # refused before the exchange saw it
    sim_clock.set(sim_clock.now().replace(minute=1))
    fake_time.now += 0.1
    assert _place(sim, sim_kite).status_code == 400


def test_the_day_cap_holds_across_minutes_until_the_next_day(
    sim_config: SimConfig, sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    sim_config.orders_per_day = 4
    sim.sim.order_caps.per_day = 4
    for minute in range(4):
        sim_clock.advance(60)
        assert _place(sim, sim_kite).status_code == 400, minute
    sim_clock.advance(60)
    assert _place(sim, sim_kite).json() == TOO_MANY
    sim_clock.advance(timedelta(days=1))
    login_via_redirect(sim, sim_kite)  # the token expired overnight
    assert _place(sim, sim_kite).status_code == 400


def test_each_iceberg_leg_counts_against_the_caps(sim: SimServer, sim_kite: KiteConnect) -> None:
    sim.sim.order_caps.per_minute = 5
    iceberg = requests.post(
        f"{sim.url}/orders/iceberg",
        data={**NOPE, "iceberg_legs": "4", "iceberg_quantity": "1"},
        headers=auth(sim_kite),
        timeout=5,
    )
    assert iceberg.status_code == 400  # counted as 4
    assert _place(sim, sim_kite).status_code == 400
    assert _place(sim, sim_kite).json() == TOO_MANY


def test_resetting_rate_limits_forgets_the_order_caps_too(sim: SimServer, sim_kite: KiteConnect) -> None:
    sim.sim.order_caps.per_minute = 1
    assert _place(sim, sim_kite).status_code == 400
    assert _place(sim, sim_kite).status_code == 429
    admin(sim, "POST", "/rate-limits/reset")
    assert _place(sim, sim_kite).status_code == 400


@pytest.mark.parametrize(
    ("method", "route", "body"),
    [
        ("POST", "/orders/regular", {"garbage": "\u20b9"}),
        ("POST", "/orders/nonsense", {}),
        ("PUT", "/orders/regular/1", {"price": "nan"}),
        ("DELETE", "/orders/co/1", None),
        ("GET", "/portfolio/positions", None),
        ("POST", "/gtt/triggers", {"type": "single"}),
        ("POST", "/margins/basket", None),
        ("GET", "/mf/holdings", None),
        ("GET", "/instruments/trigger_range/sideways", None),
    ],
)
def test_a_bad_or_expired_token_is_a_403_before_anything_else(
    sim: SimServer, sim_kite: KiteConnect, method: str, route: str, body: dict[str, str] | None
) -> None:
    sim.sim.order_caps.per_minute = 0  # even over every limit, the token is checked first
    for headers in ({}, {"Authorization": f"token {sim_kite.api_key}:wrong"}):
        r = requests.request(method, f"{sim.url}{route}", data=body, headers=headers, timeout=5)
        assert r.status_code == 403 and r.json()["error_type"] == "TokenException", (route, headers)
    sim.sim.auth.expire_all()
    r = requests.request(method, f"{sim.url}{route}", data=body, headers=auth(sim_kite), timeout=5)
    assert r.status_code == 403 and r.json()["error_type"] == "TokenException"
