"""Order postbacks end to end: the simulator posts each update as Kite does, with faults on demand; kitekit's
receiver verifies, refuses forgeries, sets repeats and late arrivals aside, and fills what was dropped from the
order book, feeding the same OrderEvents as polling and the WebSocket.

Orders go through the official SDK; the simulator's market is the plugin's Friday 2026-11-27, 11:00 IST, moved
on one second per action so an order's updates carry distinct times.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import uvicorn
from kiteconnect import KiteConnect
from starlette.types import ASGIApp

from kitekit.cli import run
from kitekit.clock import ManualClock
from kitekit.orders import Order, OrderEvents, OrderUpdate
from kitekit.orders.postbacks import KiteOrderBook, PostbackInbox, Verdict
from kitekit.sim.config import SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.web.postbacks import postback_app
from kitekit.wire.postbacks import POSTBACK_STATUSES, checksum_ok, postback_checksum
from tests.conftest import eventually
from tests.shapes import POSTBACK, assert_shape

Key = tuple[str, tuple[Any, ...]]


class Served:
    """An ASGI app served by uvicorn on 127.0.0.1 at a free port, in a thread."""

    def __init__(self, app: ASGIApp) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(128)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        eventually(lambda: self._server.started)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._sock.close()


class Receiver:
    """kitekit's receiver on the simulator's app: an inbox over an OrderEvents, and what reached its consumer."""

    def __init__(self, sim: SimServer, kite: KiteConnect) -> None:
        self.book = KiteOrderBook(kite)
        self.events = OrderEvents(self.book)
        self.seen: list[OrderUpdate] = []
        self.events.on_update(self.seen.append)
        self.inbox = PostbackInbox(sim.sim.config.api_secret, self.events, book=self.book)
        self.served = Served(postback_app(self.inbox, "/kite/postback", reconcile_every=None))
        self.url = f"{self.served.url}/kite/postback"


@pytest.fixture
def receiver(sim: SimServer, sim_kite: KiteConnect, unlimited: SimConfig) -> Iterator[Receiver]:
    got = Receiver(sim, sim_kite)
    sim.sim.postbacks.update(url=got.url)
    yield got
    got.served.stop()


def progress(order: Order) -> tuple[Any, ...]:
    """Return what tells one state of an order from the next (as OrderEvents tells them apart)."""
    return (str(order.status), order.filled_quantity, order.quantity, order.price, order.trigger_price)


def market_buy(kite: KiteConnect, symbol: str = "INFY", quantity: int = 1) -> str:
    order_id: str = kite.place_order("regular", "NSE", symbol, "BUY", quantity, "CNC", "MARKET", market_protection=-1)
    return order_id


def settled(sim: SimServer) -> bool:
    return sim.sim.postbacks.pending() == 0


def test_the_checksum_is_the_sha256_of_order_id_timestamp_and_secret() -> None:
    want = hashlib.sha256(b"2203030003089322022-03-03 09:24:25s3cret").hexdigest()
    assert postback_checksum("220303000308932", "2022-03-03 09:24:25", "s3cret") == want
    payload = {"order_id": "220303000308932", "order_timestamp": "2022-03-03 09:24:25", "checksum": want}
    assert checksum_ok(payload, "s3cret")
    assert not checksum_ok(payload, "other")
    assert not checksum_ok({**payload, "order_timestamp": "2022-03-03 09:24:26"}, "s3cret")
    assert not checksum_ok({**payload, "checksum": want.upper()}, "s3cret")
    assert not checksum_ok({**payload, "checksum": "é" * 64}, "s3cret")
    assert not checksum_ok({k: v for k, v in payload.items() if k != "checksum"}, "s3cret")


def test_each_update_kite_posts_arrives_signed_and_reaches_the_order_events(
    sim: SimServer, sim_kite: KiteConnect, receiver: Receiver
) -> None:
    posted: list[dict[str, Any]] = []
    sim.sim.order_updates.taps.append(lambda user, update: posted.append(update))
    order_id = market_buy(sim_kite)
    eventually(lambda: receiver.seen)
    [update] = receiver.seen
    assert (update.order.order_id, update.status, update.source) == (order_id, "COMPLETE", "postback")
    assert [u["status"] for u in posted] == ["OPEN", "COMPLETE"]  # OPEN goes to the WebSocket only
    eventually(lambda: sim.sim.postbacks.counts["sent"] == 1)  # counted once the answer is back
    assert sim.sim.postbacks.counts["offered"] == 1
    raw = dict(update.order.raw)
    assert_shape(raw, POSTBACK)
    assert raw["user_id"] == "KK1234" and raw["unfilled_quantity"] == 0
    assert receiver.inbox.counts == Counter({Verdict.ACCEPTED: 1})


def test_a_forgery_or_a_body_that_is_no_order_is_refused_and_reaches_no_one(
    sim: SimServer, sim_kite: KiteConnect, receiver: Receiver
) -> None:
    posted: list[dict[str, Any]] = []
    sim.sim.order_updates.taps.append(lambda user, update: posted.append(update))
    sim.sim.postbacks.update(url=None)
    market_buy(sim_kite)
    genuine = posted[-1]
    forged = {**genuine, "status": "CANCELLED", "checksum": postback_checksum(genuine["order_id"], "x", "guess")}
    answers = [
        requests.post(receiver.url, data=json.dumps(forged), timeout=5),
        requests.post(receiver.url, data=b"{not json", timeout=5),
        requests.post(receiver.url, data=json.dumps([genuine]), timeout=5),
        requests.post(receiver.url, data=b" " * (70 * 1024), timeout=5),
    ]
    assert [(a.status_code, a.json()["status"]) for a in answers] == [
        (403, "forged"), (400, "malformed"), (400, "malformed"), (400, "malformed")]  # fmt: skip
    assert receiver.seen == []
    first = requests.post(receiver.url, data=json.dumps(genuine), timeout=5)
    again = requests.post(receiver.url, data=json.dumps(genuine), timeout=5)
    assert [(a.status_code, a.json()["status"]) for a in (first, again)] == [(200, "accepted"), (200, "known")]
    assert [u.status for u in receiver.seen] == ["COMPLETE"]


def test_an_update_older_than_one_taken_is_set_aside(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, receiver: Receiver
) -> None:
    posted: list[dict[str, Any]] = []
    sim.sim.order_updates.taps.append(lambda user, update: posted.append(update))
    sim.sim.postbacks.update(url=None)
    price = sim_kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    order_id = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=round(price * 0.9, 1))
    sim_clock.advance(timedelta(seconds=1))
    sim_kite.modify_order("regular", order_id, price=round(price * 0.89, 1))
    sim_clock.advance(timedelta(seconds=1))
    sim_kite.cancel_order("regular", order_id)
    update, cancelled = (p for p in posted if p["status"] in POSTBACK_STATUSES)
    verdicts = [receiver.inbox.receive(json.dumps(p).encode()) for p in (cancelled, update)]
    assert verdicts == [Verdict.ACCEPTED, Verdict.STALE]
    assert [u.status for u in receiver.seen] == ["CANCELLED"]


def test_a_dropped_postback_is_filled_from_the_order_book(
    sim: SimServer, sim_kite: KiteConnect, receiver: Receiver
) -> None:
    sim.sim.postbacks.update(drop_rate=1.0)
    order_id = market_buy(sim_kite)
    eventually(lambda: settled(sim))
    assert receiver.seen == [] and sim.sim.postbacks.counts["dropped"] == 1
    updates = receiver.inbox.reconcile()
    assert [(u.order.order_id, str(u.status), u.source) for u in updates] == [
        (order_id, "OPEN", "reconcile"), (order_id, "COMPLETE", "reconcile")]  # fmt: skip
    assert receiver.inbox.reconcile() == []  # nothing new: the book was read, no history fetched again


def test_the_admin_route_sets_reads_and_clears_postback_faults(sim: SimServer) -> None:
    url = f"{sim.url}/__sim/postbacks"
    bad = requests.put(url, json={"drop_rate": 2}, timeout=5)
    assert bad.status_code == 400 and "between 0 and 1" in bad.json()["message"]
    bad = requests.put(url, json={"url": "ftp://example.com/"}, timeout=5)
    assert bad.status_code == 400 and "http(s) URL" in bad.json()["message"]
    set_ = requests.put(url, json={"url": "http://127.0.0.1:9/p", "forge_rate": 0.5, "jitter_ms": 10}, timeout=5)
    assert set_.status_code == 200 and set_.json()["data"]["forge_rate"] == 0.5
    cleared = requests.delete(url, timeout=5).json()["data"]
    assert cleared["forge_rate"] == 0 and cleared["jitter_ms"] == 0 and cleared["url"] == "http://127.0.0.1:9/p"
    assert requests.get(f"{sim.url}/__sim/info", timeout=5).json()["data"]["postbacks"] == {}


@pytest.mark.slow
def test_a_thousand_transitions_with_every_fault_lose_none_repeat_none_and_take_no_forgery(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, receiver: Receiver
) -> None:
    """Drops, repeats, reordering, delays and forgeries at once, then one reconcile from the order book.

    Lost: an update posted whose state never reached the consumer and that no later state of the same order,
    reported after it, carries on. (A modification dropped or overtaken by the order's cancellation is told by
    the cancellation, which carries the new price: what polling would report too; these are counted apart.)
    Repeated: a state of an order reported twice. Forged: a post not signed with the app's api_secret.
    """
    sender = sim.sim.postbacks
    sender.update(drop_rate=0.1, duplicate_rate=0.15, reorder_rate=0.15, forge_rate=0.15, jitter_ms=20,
                  reorder_hold_ms=150, seed=23)  # fmt: skip
    posted: list[Order] = []
    sim.sim.order_updates.taps.append(
        lambda user, update: posted.append(Order.from_kite(update)) if update["status"] in POSTBACK_STATUSES else None
    )
    price = sim_kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]

    def tick() -> None:
        sim_clock.advance(timedelta(seconds=1))

    while len(posted) < 1000:
        resting = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 1, "CNC", "LIMIT", price=round(price * 0.9))
        tick()
        sim_kite.modify_order("regular", resting, price=round(price * 0.89))  # UPDATE
        tick()
        sim_kite.cancel_order("regular", resting)  # CANCELLED
        market_buy(sim_kite)  # COMPLETE
        sim_kite.place_order("regular", "NSE", "SBIN", "SELL", 1, "CNC", "MARKET", market_protection=-1)  # REJECTED
        tick()
    eventually(lambda: settled(sim), timeout=60)
    receiver.inbox.reconcile()

    reported: Counter[Key] = Counter((u.order.order_id, progress(u.order)) for u in receiver.seen)
    repeated = [key for key, n in reported.items() if n > 1]
    last_reported: dict[str, int] = {}
    order_of_state: dict[Key, int] = {}
    for i, order in enumerate(posted):
        state = order if order.status != "UPDATE" else Order.from_kite({**order.raw, "status": "OPEN"})
        order_of_state[(order.order_id, progress(state))] = i
    for key in reported:
        if key in order_of_state:
            last_reported[key[0]] = max(last_reported.get(key[0], -1), order_of_state[key])
    lost = [key for key, i in order_of_state.items() if key not in reported and last_reported.get(key[0], -1) < i]
    histories = sim.sim.exchange.run(
        "KK1234", lambda engine, now: [engine.order_history(oid, now) for oid in {o.order_id for o in posted}]
    )
    truth = {(o.order_id, progress(o)) for history in histories for o in map(Order.from_kite, history)}
    counts = sender.counts
    assert len(posted) >= 1000 and lost == [] and repeated == []
    assert set(reported) <= truth  # nothing a forger claimed: every state reported is one the order was in
    assert counts["forged"] > 0 and counts["forgeries_refused"] == counts["forged"] and counts["forgeries_taken"] == 0
    assert receiver.inbox.counts[Verdict.FORGED] == counts["forged"]
    for fault in ("dropped", "duplicated", "reordered"):
        assert counts[fault] > 0, fault
    assert receiver.inbox.counts[Verdict.KNOWN] >= counts["duplicated"] and receiver.inbox.counts[Verdict.STALE] > 0
    assert receiver.inbox.counts["reconciled"] > 0
    final = {o.order_id: progress(o) for o in posted}
    assert all((oid, state) in reported for oid, state in final.items())


def test_postbacks_command_needs_listen_and_the_simulator_an_http_postback_url(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["--sim", "postbacks"]) == 2
    assert "--listen" in capsys.readouterr().err
    assert run(["sim", "--port", "0", "--postback-url", "ftp://127.0.0.1/postback"]) == 2
    assert "absolute http(s) URL" in capsys.readouterr().err


def test_the_listener_prints_each_verified_update_and_refuses_forgeries(
    cli_sim: SimServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "KITE_SIM_URL": cli_sim.url, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    listener = subprocess.Popen(
        [sys.executable, "-m", "kitekit.cli", "postbacks", "--listen", "--port", str(port), "--reconcile-every", "600"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert listener.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(listener.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    try:
        eventually(lambda: any("Listening for Kite postbacks" in line for line in lines), timeout=60)
        cli_sim.sim.postbacks.update(url=f"http://127.0.0.1:{port}/postback", forge_rate=1.0)
        kite = KiteConnect(cli_sim.sim.config.api_key, root=cli_sim.url)
        login_via_redirect(cli_sim, kite)
        order_id = market_buy(kite)
        eventually(lambda: any(order_id in line and "COMPLETE" in line for line in lines), timeout=30)
        eventually(lambda: cli_sim.sim.postbacks.counts["forgeries_refused"] == 1)
    finally:
        listener.send_signal(signal.SIGINT)
        listener.wait(20)
        reader.join(10)
        listener.stdout.close()
    text = "".join(lines)
    assert listener.returncode == 130
    assert "(postback)" in text and "1 accepted" in text and "1 forged" in text and "Traceback" not in text
