"""Pytest fixtures that run the simulator on 127.0.0.1 at a random free port.

Enable with ``pytest_plugins = ["kitekit.sim.pytest_plugin"]`` in a ``conftest.py``. Fixtures:

- ``sim_market``: one :class:`Market` per test session (building it is the slow part; it holds no state
  a test can change).
- ``sim_clock``: a :class:`ManualClock` at :data:`SIM_NOW`, a Friday mid-session; override to move time.
- ``sim_config``: a fresh :class:`SimConfig`; override or mutate it before ``sim`` starts.
- ``sim``: a started :class:`SimServer`, stopped cleanly after the test.
- ``sim_kite``: an official ``KiteConnect`` logged in to ``sim`` through its login redirect.
- ``angel_sim``: a started Angel simulator (:class:`~kitekit.sim.angel.server.AngelSimServer`) on the same
  market and clock as ``sim``; its TOTP codes follow ``sim_clock`` too (``pyotp.TOTP(secret).at(clock.now())``).
- ``upstox_sim``: the Upstox simulator (:class:`~kitekit.sim.upstox.UpstoxServer`) on the same pinned clock,
  market and ``sim_config`` (its ``shared`` settings), started and stopped like ``sim``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from kitekit.clock import IST, ManualClock
from kitekit.sim.angel.server import AngelSimServer
from kitekit.sim.config import LoginMode, SimConfig
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer
from kitekit.sim.upstox import UpstoxServer, UpstoxSimConfig

__all__ = ["SIM_NOW", "login_via_redirect"]

#: A Friday, mid-session: prices move, the market is open.
SIM_NOW = datetime(2026, 11, 27, 11, 0, 0, tzinfo=IST)


def login_via_redirect(server: SimServer, kite: Any, redirect_params: str = "") -> dict[str, Any]:
    """Log ``kite`` in through the simulator's auto-approving login page; return the session payload."""
    previous = server.sim.config.login_mode
    server.sim.config.login_mode = LoginMode.AUTO
    try:
        params = {"api_key": server.sim.config.api_key, "v": "3"}
        if redirect_params:
            params["redirect_params"] = redirect_params
        r = requests.get(f"{server.url}/connect/login", params=params, allow_redirects=False, timeout=10)
        token = parse_qs(urlsplit(r.headers["location"]).query)["request_token"][0]
    finally:
        server.sim.config.login_mode = previous
    session: dict[str, Any] = kite.generate_session(token, server.sim.config.api_secret)
    return session


@pytest.fixture(scope="session")
def sim_market() -> Market:
    """One simulated market for the whole test session, its day's universe and dump already made.

    Made here rather than by a test's first request: on a loaded machine that first request would spend the
    official SDK's 7 s read timeout on building them, and the SDK would send it again.
    """
    market = Market(SimConfig().seed)
    market.universe(SIM_NOW).dump()
    return market


@pytest.fixture
def sim_clock() -> ManualClock:
    """A manual clock at :data:`SIM_NOW`."""
    return ManualClock(SIM_NOW)


@pytest.fixture
def sim_config() -> SimConfig:
    """A default simulator configuration, fresh for each test."""
    return SimConfig()


@pytest.fixture
def sim(sim_config: SimConfig, sim_clock: ManualClock, sim_market: Market) -> Iterator[SimServer]:
    """A running simulator on a random free port; ``sim_clock`` is its market's time (TOTP codes: the wall's)."""
    server = SimServer(sim_config, sim_clock, market=sim_market)
    with server:
        yield server


@pytest.fixture
def sim_kite(sim: SimServer) -> Any:
    """An official KiteConnect client logged in to ``sim``."""
    from kiteconnect import KiteConnect

    kite = KiteConnect(sim.sim.config.api_key, root=sim.url)
    login_via_redirect(sim, kite)
    return kite


@pytest.fixture
def angel_sim(sim_clock: ManualClock, sim_market: Market) -> Iterator[AngelSimServer]:
    """A running Angel simulator on a random free port, at ``sim_clock``'s time (its TOTP codes too)."""
    server = AngelSimServer(clock=sim_clock, market=sim_market, totp_clock=sim_clock)
    with server:
        yield server


@pytest.fixture
def upstox_sim(sim_config: SimConfig, sim_clock: ManualClock, sim_market: Market) -> Iterator[UpstoxServer]:
    """A running Upstox simulator on a random free port, on ``sim_clock`` and the shared market."""
    server = UpstoxServer(UpstoxSimConfig(shared=sim_config), sim_clock, market=sim_market)
    with server:
        yield server
