"""What only Upstox has, on the Upstox simulator: its session file, both login flows, a refused token, the
registry's opener, and the order and login paths under injected transport faults.

The contract suite (``test_contract.py``) covers everything neutral; faults are injected at the client's own
HTTP adapter (the request is dropped before it leaves, or its answer is lost after the simulator acted on it),
since the Upstox simulator injects none itself.
"""

from __future__ import annotations

import json
import random
import stat
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from kitekit.brokers import Endpoint, FeedMode, RateLimit, Tick
from kitekit.brokers.registry import OpenOptions, choose, open_broker
from kitekit.brokers.upstox import UpstoxApp, UpstoxBroker, UpstoxSession
from kitekit.clock import IST
from kitekit.errors import LoginError, SessionExpiredError
from kitekit.orders import OrderRequest, OrderStatus
from kitekit.sim.upstox import UpstoxServer

from ..conftest import eventually
from ..orders_helpers import advancing
from .conftest import Harness, _free_port

INFY = "NSE:INFY"


class Faults(HTTPAdapter):
    """Fail a share of the requests whose path holds ``where``: half dropped unsent, half with the answer lost.

    Args:
        rate: the share of matching requests that fail.
        where: a path fragment (all requests when empty).
        seed: the draw's seed, so a run is repeatable.
    """

    def __init__(self, rate: float, where: str = "", seed: int = 26) -> None:
        super().__init__()
        self.rate = rate
        self.where = where
        self.draw = random.Random(seed)
        self.dropped = 0
        self.lost = 0

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if self.where in (request.url or "") and self.draw.random() < self.rate:
            if self.draw.random() < 0.5:
                self.dropped += 1
                raise requests.ConnectionError("fault: dropped before it left")
            super().send(request, *args, **kwargs)
            self.lost += 1
            raise requests.ReadTimeout("fault: the answer was lost")
        return super().send(request, *args, **kwargs)


def _inject(session: requests.Session, faults: Faults) -> Faults:
    session.mount("http://", faults)
    return faults


@pytest.fixture
def upstox(upstox_harness: Harness) -> Harness:
    """Upstox alone (the tests below exercise its own flows)."""
    return upstox_harness


def test_the_session_file_is_private_and_ends_at_0330_ist(upstox: Harness) -> None:
    logged_in = upstox
    session = logged_in.broker.session
    assert isinstance(session, UpstoxSession)
    session.login_unattended()
    assert stat.S_IMODE(session.path.stat().st_mode) == 0o600
    saved = json.loads(session.path.read_bytes())
    expires = session.next_expiry(logged_in.clock.now())
    assert saved["expires_at"] == expires.isoformat() and expires.astimezone(IST).time() == time(3, 30)
    token = saved["access_token"]
    assert token not in repr(session.saved()) and token not in (session.advice(timedelta(days=2)) or "")


def test_a_browser_login_catches_the_code_on_the_redirect_url_and_a_pasted_code_works_once(
    upstox: Harness, upstox_sim: UpstoxServer, tmp_path: Path
) -> None:
    config = upstox_sim.sim.config
    config.redirect_uri = f"http://127.0.0.1:{_free_port()}/upstox/callback"
    session = upstox.broker.session
    assert isinstance(session, UpstoxSession)
    browser = UpstoxSession(
        UpstoxApp(config.client_id, config.client_secret, config.redirect_uri, base_url=upstox_sim.url),
        tmp_path / "browser.json",
        clock=upstox.clock,
    )
    info = browser.login_with_redirect(timeout=10, open_browser=lambda url: requests.get(url, timeout=10).ok)
    assert info.user_id and browser.valid() == info

    dialog = requests.get(browser.login_url(), allow_redirects=False, timeout=10)
    pasted = dialog.headers["location"]
    assert browser.login_with_paste(pasted).user_id == info.user_id
    with pytest.raises(LoginError):
        browser.login_with_paste(pasted)  # codes are single-use


def test_a_token_upstox_refuses_marks_the_session_dead_and_says_how_to_log_in(
    upstox: Harness, upstox_sim: UpstoxServer
) -> None:
    session = upstox.broker.session
    session.login_unattended()
    upstox_sim.sim.auth.expire_all()
    with pytest.raises(SessionExpiredError, match="kitekit --broker upstox login"):
        upstox.broker.quotes().ltp(INFY)
    saved = session.saved()
    assert saved is not None and saved.dead
    assert "rejected" in (session.advice() or "")


def test_the_registry_opens_upstox_from_its_credentials(
    upstox_sim: UpstoxServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sim_clock: Any
) -> None:
    monkeypatch.setenv("KITEKIT_DATA_DIR", str(tmp_path / "data"))
    config = upstox_sim.sim.config
    env = {
        "KITEKIT_BROKER": "upstox",
        "UPSTOX_API_KEY": config.client_id,
        "UPSTOX_API_SECRET": config.client_secret,
        "UPSTOX_BASE_URL": upstox_sim.url,
        "UPSTOX_DUMP_URL": f"{upstox_sim.url}/market-quote/instruments/exchange/complete.json.gz",
    }
    (tmp_path / "config.json").write_text("{}")
    options = OpenOptions(env=env, clock=sim_clock, cache_dir=tmp_path / "cache", config_file=tmp_path / "config.json")
    assert choose(options=options).data == "upstox"
    broker = open_broker("upstox", options)
    assert isinstance(broker, UpstoxBroker)
    assert broker.session.path == tmp_path / "data" / "sessions" / "upstox.json"
    assert broker.instruments().sync() is True  # the dump downloaded (no token needed) and cached
    assert broker.instruments().instrument(INFY).broker_key.startswith("NSE_EQ|")


def test_an_order_whose_answer_is_lost_is_found_by_its_tag_and_never_sent_again(
    upstox: Harness, tmp_path: Path
) -> None:
    upstox.broker.session.login_unattended()
    gateway = upstox.broker.orders(paper=False, folder=tmp_path / "live", sleep=advancing(upstox.clock))
    price = _resting_price(upstox)
    faults = Faults(1.0, "/v2/order/place", seed=1)
    faults.draw = _always_lose()
    _inject(upstox.broker.native().session, faults)
    placed = gateway.place(OrderRequest.buy(INFY, 1, price=price), "lost-answer-1")
    assert faults.lost == 1 and placed.recovered
    assert upstox.accepted_tags().count(placed.tag) == 1
    assert gateway.order(placed.order_id).status == OrderStatus.OPEN


def _always_lose() -> random.Random:
    class Lose(random.Random):
        def random(self) -> float:
            return 0.75  # under a rate of 1.0, and in the answer-lost half

    return Lose()


def _resting_price(harness: Harness) -> float:
    last = harness.broker.quotes().ltp(INFY)[INFY].last_price
    tick = harness.broker.instruments().instrument(INFY).tick_size
    return round(round(last * 0.9 / tick) * tick, 2)


def test_cron_logins_under_30_percent_faults_succeed_at_least_99_in_100(upstox: Harness) -> None:
    session = upstox.broker.session
    assert isinstance(session, UpstoxSession)
    faults = _inject(session.http.session, Faults(0.3))
    ok = 0
    for _ in range(100):
        try:
            session.login_unattended()
            ok += 1
        except (LoginError, requests.RequestException):
            pass
    assert faults.dropped + faults.lost > 30  # the faults did happen
    assert ok >= 99


def test_orders_under_30_percent_faults_are_neither_lost_nor_duplicated(upstox: Harness, tmp_path: Path) -> None:
    upstox.broker.session.login_unattended()
    gateway = upstox.broker.orders(paper=False, folder=tmp_path / "live", sleep=advancing(upstox.clock))
    price = _resting_price(upstox)
    faults = _inject(upstox.broker.native().session, Faults(0.3, "/v2/order/place"))
    tags = []
    for n in range(120):
        placed = gateway.place(OrderRequest.buy(INFY, 1, price=price), f"reliability-{n}")
        tags.append(placed.tag)
    accepted = upstox.accepted_tags()
    assert faults.dropped + faults.lost > 20
    assert [accepted.count(t) for t in tags] == [1] * len(tags)  # 0 lost, 0 duplicated


def test_the_feed_swaps_its_token_by_reconnecting_and_resubscribes_everything(
    upstox: Harness, upstox_sim: UpstoxServer
) -> None:
    session = upstox.broker.session
    session.login_unattended()
    feed = upstox.broker.feed()
    connects: list[int] = []
    seen: list[Tick] = []
    feed.on_connect = connects.append
    feed.on_ticks = seen.extend
    feed.subscribe([INFY], FeedMode.FULL)
    feed.start()
    try:
        eventually(lambda: any(t.key == INFY for t in list(seen)))
        assert isinstance(session, UpstoxSession)
        old = session.access_token()
        session.login_unattended()  # a fresh token; the old one is revoked: a reconnect on it would fail
        upstox_sim.sim.auth.logout(upstox_sim.sim.auth.authenticate(f"Bearer {old}"))
        del seen[:]
        feed.set_access_token(session.access_token())
        eventually(lambda: len(connects) == 2)
        assert feed.subscriptions == {INFY: FeedMode.FULL}
        eventually(lambda: any(t.key == INFY and t.bids for t in list(seen)))
    finally:
        feed.stop()


def test_a_quiet_feed_stays_connected_while_the_link_answers_pings(upstox: Harness, upstox_sim: UpstoxServer) -> None:
    upstox.broker.session.login_unattended()
    upstox_sim.sim.config.feed_interval_s = 3600.0  # no market data after the first snapshot: only pings
    feed = upstox.broker.feed(watchdog=0.2)
    connects: list[int] = []
    errors: list[Exception] = []
    seen: list[Tick] = []
    feed.on_connect = connects.append
    feed.on_error = errors.append
    feed.on_ticks = seen.extend
    feed.subscribe([INFY], FeedMode.LTP)
    feed.start()
    try:
        eventually(lambda: len(seen) >= 1)
        quiet = len(seen)
        eventually(lambda: _pings_answered(feed) >= 5)
        assert errors == [] and connects == [0] and len(seen) == quiet and feed.connected == 1
    finally:
        feed.stop()


def _pings_answered(feed: Any) -> int:
    count: int = feed.pongs
    return count


def test_every_contract_of_upstoxs_dump_meets_kites_listing_on_its_neutral_key(
    upstox_dump: bytes, sim_market: Any
) -> None:
    from kitekit.brokers.upstox.instruments import records_of
    from kitekit.sim.pytest_plugin import SIM_NOW
    from kitekit.wire.upstox.instruments import decode_dump

    records, keys = records_of(decode_dump(upstox_dump))
    universe = sim_market.universe(SIM_NOW)
    kite = {f"{universe.exchange[i]}:{universe.symbol[i]}" for i in range(len(universe))}
    ours = {r.key for r in records}
    assert ours == kite and len(records) == len(keys) == len(universe)  # one-to-one, nothing dropped or doubled
    assert len(set(keys.values())) == len(keys)  # and back: each Upstox key once


def test_paced_quotes_keep_within_upstoxs_limits_without_one_refusal(upstox: Harness, upstox_sim: UpstoxServer) -> None:
    from kitekit.brokers.upstox.client import pacer_for
    from kitekit.wire.upstox.routes import Limit, LimitClass

    upstox.broker.session.login_unattended()
    config = upstox_sim.sim.config
    config.limits = {**config.limits, LimitClass.STANDARD: Limit(5, 300, 9000)}  # 5 a second, every window alike
    config.rate_limit_enabled = True
    upstox_sim.sim.limiter = type(upstox_sim.sim.limiter)(config.limits)
    caps = replace(upstox.broker.capabilities, rates=dict.fromkeys(Endpoint, (RateLimit(5, 1.0),)))
    client = upstox.broker.native()
    client.pacer = pacer_for(caps)
    client.pacer.margin = 0.3  # arrivals on a loaded machine bunch up: the margin absorbs it
    refused: list[int] = []
    client.session.hooks["response"].append(
        lambda r, *a, **k: refused.append(r.status_code) if r.status_code == 429 else None
    )
    quotes = upstox.broker.quotes()
    for _ in range(16):
        quotes.ltp(INFY)
    assert refused == []


def test_a_backfill_keeps_upstoxs_candles_in_the_store_under_the_neutral_series(
    upstox: Harness, tmp_path: Path
) -> None:
    from kitekit.history.store import CandleStore, SeriesKey
    from kitekit.wire.history import Interval

    upstox.broker.session.login_unattended()
    store = CandleStore(tmp_path / "candles.duckdb")
    now = upstox.clock.now()
    [frame] = upstox.broker.history(store).backfill([INFY], "5minute", now - timedelta(days=3), now)
    kept = store.read(SeriesKey("NSE", "INFY", Interval("5minute")), oi=True)
    assert len(kept) == len(frame) > 50
    assert (kept["close"].to_numpy() == frame["close"].to_numpy()).all()


def test_a_live_order_is_modified_and_its_change_shows_in_the_book(upstox: Harness, tmp_path: Path) -> None:
    from kitekit.orders import OrderChange

    upstox.broker.session.login_unattended()
    gateway = upstox.broker.orders(paper=False, folder=tmp_path / "live", sleep=advancing(upstox.clock))
    price = _resting_price(upstox)
    placed = gateway.place(OrderRequest.buy(INFY, 2, price=price), "modify-1")
    lower = round(price - 1.0, 2)
    gateway.modify(placed.order_id, OrderChange(price=lower, quantity=3))
    order = gateway.order(placed.order_id)
    assert (order.price, order.quantity, order.status) == (lower, 3, OrderStatus.OPEN)
    assert [o.order_id for o in gateway.orders()] == [placed.order_id]


_PLACER = """
import random, sys
from pathlib import Path
import requests
from kitekit.brokers.upstox import UPSTOX_CAPABILITIES, UpstoxApp, UpstoxBroker, UpstoxSession
from kitekit.brokers.upstox.client import pacer_for
from kitekit.clock import ManualClock
from kitekit.orders import OrderRequest
from kitekit.rest.retry import RetryPolicy
from kitekit.sim.pytest_plugin import SIM_NOW

url, secret_file, folder, count, price, seed = sys.argv[1:7]
key, secret = Path(secret_file).read_text().split()
clock = ManualClock(SIM_NOW)
app = UpstoxApp(key, secret, base_url=url)
pacer = pacer_for(UPSTOX_CAPABILITIES)
pacer.rates = dict.fromkeys(pacer.rates, 1000.0)  # the simulator's limits are off, as in the harness
retry = RetryPolicy(base=0.01, cap=0.05)
session = UpstoxSession(app, Path(folder) / "session.json", clock=clock, retry=retry, pacer=pacer)
broker = UpstoxBroker(session, Path(folder) / "cache")
sys.path.insert(0, str(Path(folder)))
from faults import Faults
broker.native().session.mount("http://", Faults(0.3, "/v2/order/place", seed=int(seed)))
gateway = broker.orders(paper=False, folder=Path(folder) / "journal", sleep=clock.advance)
for n in range(int(count)):
    gateway.place(OrderRequest.buy("NSE:INFY", 1, price=float(price)), f"kill-{n}")
print("done")
"""


def test_orders_survive_client_kills_and_faults_neither_lost_nor_duplicated(
    upstox: Harness, upstox_sim: UpstoxServer, tmp_path: Path
) -> None:
    import inspect
    import shutil
    import signal
    import subprocess
    import sys

    session = upstox.broker.session
    assert isinstance(session, UpstoxSession)
    session.login_unattended()
    price = _resting_price(upstox)
    folder = tmp_path / "client"
    (folder / "cache").mkdir(parents=True)
    shutil.copy(session.path, folder / "session.json")
    for cached in (tmp_path / "cache" / "instruments").iterdir():
        shutil.copy(cached, folder / "cache" / cached.name)
    config = upstox_sim.sim.config
    (folder / "secret").write_text(f"{config.client_id} {config.client_secret}")
    (folder / "faults.py").write_text(
        "import random\nimport requests\nfrom typing import Any\nfrom requests.adapters import HTTPAdapter\n\n\n"
        + inspect.getsource(Faults)
    )
    count = 40

    def run(seed: int) -> int:
        argv = [sys.executable, "-c", _PLACER, upstox_sim.url, str(folder / "secret"), str(folder), str(count)]
        with (folder / f"run-{seed}.err").open("wb") as err:
            child = subprocess.Popen([*argv, str(price), str(seed)], stdout=subprocess.DEVNULL, stderr=err)
            if seed < 3:  # killed after 8, 16 and 24 orders reached the exchange
                eventually(lambda: len(upstox.accepted_tags()) >= 8 * (seed + 1) or child.poll() is not None, 60)
                child.send_signal(signal.SIGKILL)
            return child.wait(timeout=90)

    for kill in range(3):
        assert run(kill) == -signal.SIGKILL, (folder / f"run-{kill}.err").read_text()[-2000:]
    assert run(99) == 0, (folder / "run-99.err").read_text()[-2000:]
    accepted = upstox.accepted_tags()
    assert len(accepted) == count and len(set(accepted)) == count  # 0 lost, 0 duplicated across kills
