"""Helpers of the order tests: an official client on the simulator with kitekit's transport, and admin calls."""

from __future__ import annotations

from typing import Any

import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.rest.pacer import Pacer
from kitekit.rest.retry import RetryPolicy
from kitekit.rest.transport import install_transport
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass


def client(sim: SimServer, order_rate: float | None = None, timeout: float = 7.0) -> KiteConnect:
    """Return the official SDK logged in to ``sim``, paced in this process and retrying GETs quickly."""
    kite = KiteConnect(sim.sim.config.api_key, root=sim.url, timeout=timeout)
    login_via_redirect(sim, kite)
    rates = {EndpointClass.ORDER: order_rate} if order_rate is not None else {}
    install_transport(kite, Pacer(None, rates=rates), RetryPolicy(base=0.01, cap=0.05))
    return kite


def order_faults(sim: SimServer, **settings: Any) -> dict[str, Any]:
    """Set the simulator's order faults (``PUT /__sim/order-faults``)."""
    answer = requests.put(f"{sim.url}/__sim/order-faults", json=settings, timeout=5)
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()["data"]
    return data


def accepted(sim: SimServer) -> list[dict[str, Any]]:
    """Return every order the exchange accepted (``GET /__sim/orders``)."""
    data: list[dict[str, Any]] = requests.get(f"{sim.url}/__sim/orders", timeout=5).json()["data"]
    return data


def sent(sim: SimServer, method: str = "POST", prefix: str = "/orders/") -> int:
    """Return how many requests of ``method`` to paths under ``prefix`` the simulator received."""
    return sum(n for route, n in dict(sim.sim.requests).items() if route.startswith(f"{method} {prefix}"))


def advancing(clock: ManualClock) -> Any:
    """Return a ``sleep`` that moves ``clock`` instead of waiting (settle times and budgets pass at once)."""

    def sleep(seconds: float) -> None:
        clock.advance(seconds)

    return sleep
