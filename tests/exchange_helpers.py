"""Shortcuts for the simulator exchange's tests: the market model's future, instruments that fit, admin calls."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import requests

from kitekit.sim.market import Market
from kitekit.sim.server import SimServer

#: Friday 2026-11-27 11:00 IST is SIM_NOW; the next session opens on Monday.
MONDAY_OPEN = datetime.fromisoformat("2026-11-30T09:15:00+05:30")


def book(market: Market, key: str, now: datetime) -> dict[str, Any]:
    """Return an instrument's last price, best bid and ask (price, quantity) and circuits at ``now``."""
    uni = market.universe(now)
    row = uni.resolve(key)
    assert row is not None, key
    snap = market.snapshot(uni, np.array([row]), now)
    bids, asks = snap.book().levels(0)
    return {
        "ltp": float(snap.last_price[0]),
        "bid": bids[0],
        "ask": asks[0],
        "lower": float(snap.lower_circuit[0]),
        "upper": float(snap.upper_circuit[0]),
        "tick": float(snap.tick[0]),
    }


def path(market: Market, key: str, start: datetime, seconds: int, step: int = 1) -> list[tuple[datetime, float]]:
    """Return ``(moment, last price)`` every ``step`` seconds for ``seconds`` from ``start``."""
    return [
        (start + timedelta(seconds=s), book(market, key, start + timedelta(seconds=s))["ltp"])
        for s in range(step, seconds + 1, step)
    ]


def nifty_option(market: Market, now: datetime, low: float, high: float) -> str:
    """Return the tradingsymbol of a NIFTY call of the nearest expiry whose last price is in [low, high]."""
    uni = market.universe(now)
    rows = [
        i
        for i in range(len(uni))
        if uni.exchange[i] == "NFO" and uni.name[i] == "NIFTY" and uni.symbol[i].endswith("CE")
    ]
    nearest = min(uni.expiry[i] for i in rows)
    rows = [i for i in rows if uni.expiry[i] == nearest]
    snap = market.snapshot(uni, np.array(rows), now)
    for i, ltp in zip(rows, snap.last_price.tolist(), strict=True):
        if low <= ltp <= high:
            return uni.symbol[i]
    raise AssertionError(f"no NIFTY call between {low} and {high}")


def admin(server: SimServer, method: str, route: str, body: Any = None) -> Any:
    """Call the simulator's admin API and return its ``data`` (raising on an error answer)."""
    r = requests.request(method, f"{server.url}/__sim{route}", json=body, timeout=10)
    assert r.ok, r.text
    return r.json()["data"]


def exchange_orders(server: SimServer) -> list[dict[str, Any]]:
    """Return ``GET /__sim/orders``: the exchange's own list of every order it accepted."""
    result: list[dict[str, Any]] = admin(server, "GET", "/orders")
    return result


def auth(kite: Any) -> dict[str, str]:
    """Return the Authorization header of a logged-in SDK client, for raw requests."""
    return {"Authorization": f"token {kite.api_key}:{kite.access_token}"}
