"""The dashboard on each broker's data in headless Chromium: Kite, Upstox and Angel One, each on its own simulator.

One body runs on every broker: the desk reads the broker's market data through the neutral interfaces
(:func:`kitekit.dashboard.source.source_for`: Kite's own client on Kite) and its account through the broker's
neutral order gateway, live on the simulator, as ``kitekit dashboard --broker NAME --live`` does. The overview,
positions (with a live price reaching the row), orders and chart pages must show the broker's own numbers; the
option chain, a Kite-only extra, says so on another broker. Screenshots go to ``.ci/out/screens/brokers-*.png``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kitekit.dashboard import DashboardServer, Desk
from kitekit.dashboard.source import source_for
from kitekit.dashboard.views import money
from kitekit.orders import OrderRequest
from tests.brokers.conftest import (  # noqa: F401 - the brokers' harness fixtures, shared with the contract suite
    Harness,
    angel_harness,
    angel_scrip_cache,
    kite_harness,
    upstox_dump,
    upstox_harness,
)
from tests.conftest import eventually
from tests.dashboard_helpers import SCREENS, launch_chromium

pytestmark = pytest.mark.browser

KEY = "NSE:INFY"


@pytest.fixture(params=["kite", "upstox", "angel"])
def broker_harness(request: pytest.FixtureRequest) -> Harness:
    """Each broker on its simulator, logged in."""
    found: Harness = request.getfixturevalue(f"{request.param}_harness")
    found.broker.session.login_unattended()
    return found


@pytest.fixture
def desk(broker_harness: Harness, tmp_path: Path) -> Iterator[tuple[Harness, Any, DashboardServer]]:
    """A live-mode dashboard on the broker's data and account; yields the harness, the gateway and the server."""
    broker, clock = broker_harness.broker, broker_harness.clock
    gateway = broker.orders(paper=False, folder=tmp_path / "orders")
    hint = f"kitekit --sim --broker {broker.name} login"
    session = broker.session.valid()
    desk = Desk(None, gateway, None, clock, mode="live", simulated=True, login_hint=hint, refresh=30.0,
                expires_at=session.expires_at if session is not None else None,
                source=source_for(broker, clock, hint))  # fmt: skip
    with DashboardServer(desk) as server:
        yield broker_harness, gateway, server


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()


def _position(gateway: Any) -> Any:
    return next(p for p in gateway.positions().net if p.key == KEY)


def test_overview_positions_orders_and_chart_show_the_brokers_numbers(
    desk: tuple[Harness, Any, DashboardServer],
) -> None:
    from playwright.sync_api import sync_playwright

    harness, gateway, server = desk
    name = harness.broker.name
    placed = gateway.place(OrderRequest.of(KEY, "BUY", 10, order_type="MARKET", product="MIS"))
    eventually(lambda: gateway.order(placed.order_id).status == "COMPLETE", timeout=10)
    errors: list[str] = []
    with sync_playwright() as pw:
        chromium = launch_chromium(pw)
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))

        def open_(hash_: str) -> None:
            if page.url == "about:blank":
                page.goto(server.url)
            page.evaluate(f"location.hash = {hash_!r}")
            page.wait_for_selector(f'#page[data-page="{hash_.split("?")[0][2:]}"][data-ready="1"]')

        def shot(what: str) -> None:
            SCREENS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENS / f"brokers-{name}-{what}.png"), full_page=True)

        # Overview: the broker's funds and P&L, and the feed reading the broker's own stream.
        open_("#/overview")
        funds = gateway.margins().equity
        eventually(lambda: _text(page, '#card-funds dd[data-field="available"]') == money(funds.net), timeout=10)
        assert _text(page, '#card-feed dd[data-field="source"]') == harness.broker.capabilities.label
        eventually(lambda: _text(page, '#card-feed dd[data-field="connections"]') not in ("0", "—"), timeout=10)
        shot("overview")

        # Positions: the row is the broker's position, and a price move on the market reaches it from the feed.
        open_("#/positions")
        row = f'tr[data-id^="{KEY}|"]'
        page.wait_for_selector(row, timeout=10_000)
        assert _text(page, f"{row} td.qty") == "10"
        assert _text(page, f"{row} td.avg") == money(_position(gateway).average_price)
        before = _text(page, f"{row} td.ltp")
        for _ in range(30):  # a second in which the price does not move would prove nothing: move until it does
            harness.clock.advance(1)
            moved = harness.broker.quotes().ltp(KEY)[KEY].last_price
            if money(moved) != before:
                break
        assert money(moved) != before
        # No broker call refreshes the row (refresh=30 s): only the feed's tick can bring the new price.
        eventually(lambda: _text(page, f"{row} td.ltp") == money(moved), timeout=10)
        eventually(lambda: _text(page, f"{row} td.pnl") == money(_position(gateway).pnl), timeout=10)
        shot("positions")

        # Orders: the fill, its status and its average price as the broker reports them.
        open_("#/orders")
        order = f'tr[data-order="{placed.order_id}"]'
        page.wait_for_selector(f"{order} td.status-COMPLETE", timeout=10_000)
        assert _text(page, f"{order} td.avg") == money(gateway.order(placed.order_id).average_price)
        assert page.locator("#error-banner").is_hidden(), _text(page, "#error-banner")
        shot("orders")

        # Chart: the broker's candles, with the fill marked.
        open_(f"#/chart?symbol={KEY}&interval=minute")
        box = page.locator(f'.chart[data-symbol="{KEY}"]')
        assert page.locator("#error-banner").is_hidden(), _text(page, "#error-banner")
        assert int(box.get_attribute("data-candles") or 0) > 10
        assert box.locator("canvas").count() > 0
        bearer = {"Authorization": f"Bearer {server.access.token}"}
        chart = requests.get(f"{server.base}/api/chart?symbol={KEY}&interval=minute", headers=bearer, timeout=10)
        assert [f["side"] for f in chart.json()["fills"]] == ["BUY"]  # the day's fill, marked on the chart
        shot("chart")

        # The option chain's analytics are Kite's: another broker's page says so instead of failing.
        open_("#/chain?underlying=NIFTY&strikes=3")
        if name == "kite":
            assert page.locator("#chain-body tr").count() == 7
        else:
            assert "Kite Connect only" in _text(page, "#chain-unavailable")
            assert page.locator("#error-banner").is_hidden()
        shot("chain")
        context.close()
        chromium.close()
    assert not errors, f"console errors on the page: {errors}"
