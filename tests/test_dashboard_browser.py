"""The dashboard in headless Chromium against the simulator: its numbers are the engine's, and its controls act.

One simulator, one dashboard and one browser serve every test of the module; the tests run in file order and the
last one ends the session. Each test saves a screenshot of the page it drove under ``.ci/out/screens/``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from kitekit.dashboard.views import money
from kitekit.orders import OrderRequest
from kitekit.runner import Strategy
from kitekit.sim.market import Market
from tests.conftest import eventually
from tests.dashboard_helpers import SCREENS, World, launch_chromium, world

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dash(sim_market: Market, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The simulator and its dashboard, with 10 INFY bought at market (MIS) before the page opens."""
    yield from world(sim_market, tmp_path_factory.mktemp("dashboard"))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium, once for the module."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        yield chromium
        chromium.close()


class Page:
    """A fresh browser context on the dashboard, recording console errors (none are allowed)."""

    def __init__(self, browser: Any, dash: World, name: str) -> None:
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.allowed: tuple[str, ...] = ()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.dash = dash
        self.name = name

    def open(self, hash_: str) -> Any:
        """Open the dashboard's URL (with the token) and go to page ``hash_``; return the Playwright page."""
        page = self.page
        if page.url == "about:blank":
            page.goto(self.dash.server.url)
            assert "token=" not in page.url  # the token left the address bar for a cookie
        page.evaluate(f"location.hash = {hash_!r}")
        page.wait_for_selector(f'#page[data-page="{hash_.split("?")[0][2:]}"][data-ready="1"]')
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def shot(self, name: str) -> None:
        """Save a screenshot of the page as it is now."""
        SCREENS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.shot(self.name)
        errors = [e for e in self.errors if not any(a in e for a in self.allowed)]
        self.context.close()
        assert not errors, f"console errors on the page: {errors}"


@pytest.fixture
def page(browser: Any, dash: World, request: pytest.FixtureRequest) -> Iterator[Page]:
    p = Page(browser, dash, request.node.name.removeprefix("test_"))
    yield p
    p.close()


def _text(page: Any, selector: str) -> str:
    return str(page.locator(selector).inner_text()).strip()


def _position(dash: World, key: str) -> dict[str, Any]:
    net = dash.kite.positions()["net"]
    return next(p for p in net if f"{p['exchange']}:{p['tradingsymbol']}" == key)


def test_positions_and_overview_show_the_engines_numbers_and_a_tick_arrives_within_a_second(
    dash: World, page: Page
) -> None:
    placed = dash.gateway.place(OrderRequest.of("NSE:INFY", "BUY", 10, order_type="MARKET", product="MIS"))
    assert dash.gateway.order(placed.order_id).status == "COMPLETE"
    p = page.open("#/positions")
    row = 'tr[data-id="NSE:INFY|MIS"]'
    p.wait_for_selector(row)

    def shows_engine() -> bool:
        engine = _position(dash, "NSE:INFY")  # the simulator's engine, through GET /portfolio/positions
        return all(
            _text(p, f"{row} td.{cell}") == money(engine[field])
            for cell, field in (
                ("ltp", "last_price"),
                ("pnl", "pnl"),
                ("m2m", "m2m"),
                ("avg", "average_price"),
                ("realised", "realised"),
                ("unrealised", "unrealised"),
            )
        )

    eventually(shows_engine, timeout=10)
    assert _text(p, f"{row} td.qty") == "10"
    # The market moves a second on: its tick must reach the page, marked by the engine's formula, within 1 s.
    before = _text(p, f"{row} td.ltp")
    for _ in range(20):  # a second in which the price does not move would prove nothing: move until it does
        dash.clock.advance(1)
        moved = _position(dash, "NSE:INFY")["last_price"]
        if money(moved) != before:
            break
    started = time.monotonic()
    eventually(lambda: _text(p, f"{row} td.ltp") == money(moved), timeout=1.0)
    latency = time.monotonic() - started
    eventually(shows_engine, timeout=5)
    total = sum(q["pnl"] for q in dash.kite.positions()["net"])
    assert _text(p, "#positions-total td.pnl") == money(total)

    p = page.open("#/overview")
    margins = dash.kite.margins()["equity"]

    def overview_is_engines() -> bool:
        pnl = sum(q["pnl"] for q in dash.kite.positions()["net"])
        return (
            _text(p, '#card-funds dd[data-field="available"]') == money(margins["net"])
            and _text(p, '#card-funds dd[data-field="used"]') == money(margins["utilised"]["debits"])
            and _text(p, '#card-pnl dd[data-field="pnl"]') == money(pnl)
        )

    eventually(overview_is_engines, timeout=10)
    page.shot("overview")
    assert _text(p, '#card-session dd[data-field="state"]') == "active"
    assert int(_text(p, '#card-feed dd[data-field="connections"]')) >= 1
    assert latency < 1.0


def test_orders_page_modifies_and_cancels_on_the_simulator_and_shows_the_engines_prices_and_charges(
    dash: World, page: Page
) -> None:
    quote = dash.kite.quote("NSE:INFY")["NSE:INFY"]
    far = round(quote["last_price"] * 0.95, 1)
    placed = dash.gateway.place(OrderRequest.of("NSE:INFY", "BUY", 1, order_type="LIMIT", price=far, product="MIS"))
    assert dash.gateway.order(placed.order_id).status == "OPEN"
    p = page.open("#/orders")
    row = f'tr[data-order="{placed.order_id}"]'
    p.wait_for_selector(f"{row} button.modify", timeout=10_000)
    # Modify first: the new price reaches the simulator's order, and the row shows it as the engine has it.
    lower = round(far - 1.0, 1)
    p.click(f"{row} button.modify")
    p.fill('#confirm-fields input[name="price"]', str(lower))
    p.click("#confirm-yes")
    eventually(lambda: dash.kite.order_history(placed.order_id)[-1]["price"] == lower, timeout=10)
    p.wait_for_selector(f'{row} td.price:text("{money(lower)}")', timeout=10_000)
    filled = next(o for o in dash.kite.orders() if o["status"] == "COMPLETE")
    assert _text(p, f'tr[data-order="{filled["order_id"]}"] td.avg') == money(filled["average_price"])
    p.click(f"{row} button.cancel")
    assert placed.order_id in _text(p, "#confirm-body")
    p.click("#confirm-yes")
    eventually(lambda: dash.kite.order_history(placed.order_id)[-1]["status"] == "CANCELLED", timeout=10)
    p.wait_for_selector(f"{row} .status-CANCELLED", timeout=10_000)
    # Each fill's charges are the order's, as the broker (the engine's contract note) reports them.
    filled = [o for o in dash.gateway.orders() if o.filled_quantity]
    for order, cost in zip(filled, dash.gateway.charges(filled), strict=True):
        trade = next(t for t in dash.gateway.trades() if t.order_id == order.order_id)
        assert _text(p, f'tr[data-trade="{trade.trade_id}"] td.charges') == money(cost.total)


def test_square_off_leaves_no_position(dash: World, page: Page) -> None:
    p = page.open("#/positions")
    row = 'tr[data-id="NSE:INFY|MIS"]'
    p.wait_for_selector(f"{row} button.square-off")
    p.click(f"{row} button.square-off")
    assert "SELL 10 NSE:INFY" in _text(p, "#confirm-body")
    p.click("#confirm-yes")
    eventually(lambda: _position(dash, "NSE:INFY")["quantity"] == 0, timeout=10)
    eventually(lambda: _text(p, f"{row} td.qty") == "0", timeout=10)
    page.shot("positions")


def test_chart_marks_the_fills_and_the_chain_lists_strikes(dash: World, page: Page) -> None:
    p = page.open("#/chart?symbol=NSE:INFY&interval=minute")
    box = p.locator('.chart[data-symbol="NSE:INFY"]')
    assert p.locator("#error-banner").is_hidden(), _text(p, "#error-banner")
    assert int(box.get_attribute("data-candles") or 0) > 10
    assert box.locator("canvas").count() > 0
    assert len(dash.api("api/chart?symbol=NSE:INFY&interval=minute")["fills"]) == 2  # the buy and the square-off
    page.shot("chart")


def _cell_number(text: str) -> float | None:
    return None if text.strip() == "—" else float(text.replace(",", ""))


def test_the_chain_shows_oi_and_its_change_as_kitekit_chain_computes_them_without_a_candle_store(
    dash: World, page: Page
) -> None:
    from kitekit.chain import chain, previous_oi
    from kitekit.history import History
    from kitekit.quotes import MarketData

    assert dash.desk.candles is None  # a fresh start: no candle store to read the previous close from
    p = page.open("#/chain?underlying=NIFTY&strikes=5")
    assert p.locator("#chain-body tr").count() == 11
    assert p.locator("#chain-body tr.atm").count() == 1
    data = MarketData(dash.kite, resolve=dash.store.key)
    first = chain(dash.store, data, "NIFTY", clock=dash.clock, strikes=5)
    tokens = [int(t) for side in ("ce_token", "pe_token") for t in first.columns[side].tolist() if t > 0]
    base = previous_oi(History(dash.kite, dash.store, None, clock=dash.clock), tokens, dash.clock.now().date())
    frame = chain(dash.store, data, "NIFTY", clock=dash.clock, strikes=5, previous_oi=base).frame()
    assert frame[["ce_oi_change", "pe_oi_change"]].notna().all().all()  # every contract had a previous close
    assert (frame[["ce_oi_change", "pe_oi_change"]] != 0).any().any()  # and the OI moved since
    columns = ["ce_oi_change", "ce_oi", None, "ce_ltp", "strike", "pe_ltp", None, "pe_oi", "pe_oi_change"]
    for _, row in frame.iterrows():
        cells = p.locator(f'#chain-body tr[data-strike="{row["strike"]:g}"] > *').all_inner_texts()
        assert len(cells) == len(columns)
        for name, text in zip(columns, cells, strict=True):
            if name is None:
                continue  # IV: the same frame's, as a percentage
            digits = 2 if name.endswith("ltp") else 0
            assert _cell_number(text) == round(float(row[name]), digits), (row["strike"], name, text)
    sign = p.locator("#chain-body tr td:first-child.neg, #chain-body tr td:first-child.pos").count()
    assert sign > 0  # the change is coloured by its sign


def test_nothing_is_served_without_the_token_and_no_control_without_the_page(dash: World) -> None:
    base = dash.server.base
    for path in ("/", "/api/overview", "/api/positions", "/api/stream", "/static/app.js"):
        assert requests.get(base + path, timeout=5).status_code == 403, path
        assert requests.get(base + path, cookies={"kitekit_dashboard": "wrong"}, timeout=5).status_code == 403
    cancel = f"{base}/api/orders/1/cancel"
    own = {"Origin": base, "X-Kitekit-Dashboard": "1"}
    assert requests.post(cancel, headers=own, timeout=5).status_code == 403  # no token
    assert requests.post(cancel, headers={**dash.bearer, "Origin": "http://evil.example", "X-Kitekit-Dashboard": "1"},
                         timeout=5).status_code == 403  # fmt: skip
    assert requests.post(cancel, headers={**dash.bearer, "Origin": base}, timeout=5).status_code == 403  # a plain form
    assert requests.post(cancel, headers={**dash.bearer, **own}, timeout=5).status_code != 403


def test_no_secret_reaches_the_page(dash: World) -> None:
    secrets = [dash.kite.access_token, dash.sim.sim.config.api_secret]
    bodies = [requests.get(f"{dash.server.base}/{path}", headers=dash.bearer, timeout=10).text
              for path in ("", "api/meta", "api/overview", "api/positions", "api/orders",
                           "api/chart?symbol=NSE:INFY", "static/app.js")]  # fmt: skip
    for body in bodies:
        assert all(s not in body for s in secrets)
    assert dash.server.access.token not in Path(SCREENS).as_posix()


class BuyOnce(Strategy):
    """Buys 5 INFY (MIS) on its first tick, then waits."""

    symbols = ("NSE:INFY",)
    ticks = True

    def on_tick(self, ticks: list[dict[str, Any]]) -> None:
        if not getattr(self, "bought", False):
            self.bought = True
            self.buy("NSE:INFY", 5, product="MIS")


def test_kill_and_flatten_from_the_strategies_page_stops_a_paper_run_and_leaves_no_position(
    dash: World, page: Page
) -> None:
    from kitekit.orders import PaperBroker
    from kitekit.runner import RunFolder, trade
    from kitekit.runner.state import JsonLines

    ended: list[BaseException | None] = []

    def run() -> None:
        try:
            trade(BuyOnce(), kite=dash.kite, instruments=dash.store, name="buyer", data=dash.data,
                  root=dash.data / "runs", clock=dash.clock, html=False, poll_every=0.2)  # fmt: skip
            ended.append(None)
        except BaseException as exc:  # the run's own account of how it ended, checked below
            ended.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    folder = RunFolder(dash.data / "runs" / "buyer")
    eventually(lambda: folder.file("trades.jsonl").is_file() and folder.file("trades.jsonl").read_text(), timeout=30)
    paper = PaperBroker(dash.kite, dash.store, folder=dash.data / "paper", clock=dash.clock)
    assert sum(p.quantity for p in paper.positions().net if p.key == "NSE:INFY") == 5
    p = page.open("#/strategies?run=buyer")
    row = 'tr[data-run="buyer"]'
    p.wait_for_selector(f"{row} button.kill-flatten", timeout=10_000)
    assert _text(p, f"{row} td.risk") == "active"
    page.shot("strategies")
    p.click(f"{row} button.kill-flatten")
    assert "Kill and flatten run buyer" in _text(p, "#confirm-body")
    p.click("#confirm-yes")
    runner.join(30)
    assert not runner.is_alive() and ended
    # The runner's own state says it was killed, and its paper account holds nothing.
    assert folder.meta()["status"] == "killed", folder.meta()
    state = folder.load_state()
    assert state is not None and state.killed
    eventually(lambda: sum(p.quantity for p in paper.positions().net if p.key == "NSE:INFY") == 0, timeout=10)
    p.wait_for_selector(f'{row} td.risk:text("killed")', timeout=10_000)
    # The recent events are the run's own record (events.jsonl), newest first: its order, its fill, the kill, the stop.
    record = JsonLines(folder.file("events.jsonl")).load()
    kinds = [e["kind"] for e in record]
    for kind in ("order", "fill", "kill", "stop"):
        assert kind in kinds, record
    assert kinds.index("order") < kinds.index("fill") < kinds.index("kill") < kinds.index("stop")
    last = record[-1]["text"]
    p.wait_for_selector(f'#run-events tbody tr:first-child:has-text("{last}")', timeout=10_000)
    shown = p.locator("#run-events tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.kind, r.cells[2].innerText])"
    )
    assert shown == [[e["kind"], e["text"]] for e in record[::-1][: len(shown)]]
    assert any(text.startswith("placed") for _, text in shown) and any("KILLED" in text for _, text in shown)
    page.shot("strategies-events")


def test_an_expired_session_shows_the_relogin_banner(dash: World, page: Page) -> None:
    p = page.open("#/positions")
    requests.post(f"{dash.sim.url}/__sim/expire-tokens", timeout=5).raise_for_status()
    page.allowed = ("401",)  # the refused calls that tell the page the session ended
    p.evaluate("location.hash = '#/overview'")
    p.wait_for_selector("#session-banner:not([hidden])", timeout=10_000)
    assert "kitekit --sim login" in _text(p, "#session-banner")
