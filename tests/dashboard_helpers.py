"""Helpers of the dashboard tests: one simulator with a live-mode dashboard on it, and headless Chromium.

Chromium is Debian's (``/usr/bin/chromium``), never one Playwright downloads: ``./dev test`` installs it when
missing (as root), ``.ci/run`` always does, and without it the browser tests fail saying how to install it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from kitekit.clock import ManualClock
from kitekit.dashboard import DashboardServer, Desk
from kitekit.dashboard.runs import Runs
from kitekit.instruments import InstrumentStore
from kitekit.orders import LiveBroker
from kitekit.session.record import next_token_expiry
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW
from kitekit.sim.server import SimServer
from tests.orders_helpers import client

CHROMIUM = Path("/usr/bin/chromium")
#: What Chromium needs on a machine with no network and no GPU (see the machine notes in the README).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Where each page's screenshot goes (gitignored; CI keeps it as an artefact).
SCREENS = Path(__file__).resolve().parents[1] / ".ci" / "out" / "screens"


@dataclass
class World:
    """A simulator frozen at SIM_NOW, an SDK client on it, and a dashboard showing its account (live mode)."""

    sim: SimServer
    clock: ManualClock
    kite: Any
    store: InstrumentStore
    gateway: LiveBroker
    desk: Desk
    server: DashboardServer
    #: Where the runner's runs and paper ledger live (the Strategies page reads ``runs/`` under it).
    data: Path

    def api(self, path: str) -> Any:
        """Return the dashboard's JSON at ``path``, asked with the token."""
        r = requests.get(f"{self.server.base}/{path}", headers=self.bearer, timeout=10)
        r.raise_for_status()
        return r.json()

    @property
    def bearer(self) -> dict[str, str]:
        """Return the header that carries the token (for requests made outside the browser)."""
        return {"Authorization": f"Bearer {self.server.access.token}"}


def world(market: Market, folder: Path) -> Iterator[World]:
    """Yield a :class:`World`; everything stops after."""
    clock = ManualClock(SIM_NOW)
    with SimServer(SimConfig(), clock, market=market) as sim:
        kite = client(sim)
        store = InstrumentStore.from_bytes(market.universe(SIM_NOW).dump()[0], SIM_NOW.date(), clock=clock)
        gateway = LiveBroker(kite, store, folder=folder / "orders", clock=clock)
        desk = Desk(kite, gateway, store, clock, mode="live", simulated=True, login_hint="kitekit --sim login",
                    expires_at=next_token_expiry(SIM_NOW), refresh=30.0)  # fmt: skip
        runs = Runs(folder / "runs", clock)
        with DashboardServer(desk, runs=runs) as server:
            yield World(sim, clock, kite, store, gateway, desk, server, folder)


def launch_chromium(playwright: Any) -> Any:
    """Return headless Debian Chromium, or fail (not skip) saying how to install it."""
    if not CHROMIUM.exists():
        pytest.fail(
            "The dashboard's browser tests need Debian's chromium at /usr/bin/chromium: run "
            "'sudo apt-get install -y chromium' (./dev test does it when run as root; .ci/run always does).",
            pytrace=False,
        )
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
