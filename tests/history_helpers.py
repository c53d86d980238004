"""Shortcuts shared by the historical candle tests: clients on the simulator, recorded requests, counts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from kiteconnect import KiteConnect

from kitekit.clock import IST
from kitekit.pacer import Pacer
from kitekit.retry import RetryPolicy
from kitekit.sim.server import SimServer
from kitekit.transport import install_transport
from kitekit.wire.routes import EndpointClass

HISTORICAL = "GET /instruments/historical/"
RELIANCE = 738561


@dataclass(frozen=True)
class Sent:
    """One historical request as it went on the wire."""

    token: int
    interval: str
    start: datetime
    end: datetime
    oi: bool
    continuous: bool


def pace(kite: KiteConnect, tmp_path: Path, *, paced: bool = True) -> KiteConnect:
    """Mount kitekit's transport on ``kite``: Kite's limits (or none), retries without real pauses."""
    rates = None if paced else {EndpointClass.HISTORICAL: 0.0}
    install_transport(kite, Pacer(tmp_path / "pacing.sqlite3", rates=rates), RetryPolicy(sleep=lambda _: None))
    return kite


def record(kite: KiteConnect) -> list[Sent]:
    """Return a list that fills with every historical request ``kite`` sends (a response hook, no patching)."""
    sent: list[Sent] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        url = urlsplit(response.request.url or "")
        if not url.path.startswith("/instruments/historical/"):
            return
        _, _, _, token, interval = url.path.split("/")
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        sent.append(
            Sent(
                int(token),
                interval,
                datetime.fromisoformat(q["from"]).replace(tzinfo=IST),
                datetime.fromisoformat(q["to"]).replace(tzinfo=IST),
                q["oi"] == "1",
                q["continuous"] == "1",
            )
        )

    kite.reqsession.hooks["response"].append(hook)
    return sent


def historical_requests(sim: SimServer) -> int:
    """Return how many historical requests the simulator has received, all instruments and intervals."""
    return sum(n for route, n in sim.sim.requests.items() if route.startswith(HISTORICAL))


def set_faults(sim: SimServer, **settings: Any) -> None:
    """Configure the simulator's fault injection through its admin route."""
    r = requests.put(f"{sim.url}/__sim/faults", json=settings, timeout=10)
    assert r.status_code == 200, r.text
