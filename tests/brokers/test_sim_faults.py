"""Faults inside every broker's simulator, switched on through the same admin routes, answered in each dialect.

Kite's, Upstox's and Angel's simulators take the same ``/__sim/faults`` (failed or dropped requests, latency),
``/__sim/order-faults`` (an order refused before the exchange saw it, or accepted and then dropped, failed
with a 5xx or acknowledged late) and ``/__sim/feed/faults`` (every WebSocket cut). Each says it failed in its own
words: Kite's envelope, Upstox's UDAPI codes, Angel's OMS and gateway dialects and its plain-text 403.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from kitekit.brokers import FeedMode, Tick
from kitekit.orders import OrderRequest
from kitekit.orders.placement import LookupPolicy

from ..conftest import eventually
from ..orders_helpers import advancing
from .conftest import Harness

INFY = "NSE:INFY"


def _kite(status: int, body: Any) -> bool:
    return (
        bool(body["status"] == "error")
        and body["error_type"] == {503: "NetworkException", 502: "DataException"}[status]
    )


def _upstox(status: int, body: Any) -> bool:
    error = body["errors"][0]
    return bool(body["status"] == "error" and error["errorCode"] == error["error_code"] == "UDAPI100500")


def _angel(status: int, body: Any) -> bool:
    if status == 503:  # the OMS dialect
        return body["status"] is False and body["errorcode"] == "AB1004"
    return body["success"] is False and body["errorCode"] == "AB2001"  # the gateway's


#: How each broker says a request failed (503: the network fault, 502: the data fault).
DIALECTS: dict[str, Callable[[int, Any], bool]] = {"kite": _kite, "upstox": _upstox, "angel": _angel}


def _put(harness: Harness, what: str, settings: dict[str, Any]) -> dict[str, Any]:
    answer = requests.put(f"{harness.admin}/{what}", json=settings, timeout=5)
    answer.raise_for_status()
    data: dict[str, Any] = answer.json()["data"]
    return data


@pytest.mark.parametrize("harness", ["kite", "upstox", "angel"], indirect=True)
def test_failed_requests_answer_in_the_brokers_dialect_and_clear(
    harness: Harness, request: pytest.FixtureRequest
) -> None:
    name = request.node.callspec.params["harness"]
    root = harness.admin.removesuffix("/__sim")
    for rate, status in (("network_error_rate", 503), ("data_error_rate", 502)):
        _put(harness, "faults", {rate: 1.0, "paths": ["/faulty"]})
        answer = requests.get(f"{root}/faulty/route", timeout=5)
        assert answer.status_code == status and DIALECTS[name](status, answer.json()), answer.text
        _put(harness, "faults", {rate: 0.0})
    _put(harness, "faults", {"drop_rate": 1.0, "paths": ["/faulty"]})
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{root}/faulty/route", timeout=5)
    assert requests.get(f"{harness.admin}/info", timeout=5).json()["data"]["faults_injected"]["drop"] == 1
    assert requests.delete(f"{harness.admin}/faults", timeout=5).json()["data"]["drop_rate"] == 0
    assert requests.get(f"{root}/faulty/route", timeout=5).status_code == 404


@pytest.mark.parametrize("harness", ["kite", "upstox", "angel"], indirect=True)
def test_every_order_fault_leaves_each_intent_with_one_order_at_the_exchange(harness: Harness, tmp_path: Path) -> None:
    harness.broker.session.login_unattended()
    last = harness.broker.quotes().ltp(INFY)[INFY].last_price
    price = round(round(last * 0.9 / 0.05) * 0.05, 2)
    gateway = harness.broker.orders(
        paper=False,
        folder=tmp_path / "journal",
        lookup=LookupPolicy(settle=0.05, looks=3, max_sends=4),
        sleep=advancing(harness.clock),
    )
    _put(harness, "order-faults", {"next": ["reject", "drop", "error"], "error_status": 503})
    placed = [gateway.place(OrderRequest.buy(INFY, 1, price=price), f"fault-{i}").tag for i in range(4)]
    faults = requests.get(f"{harness.admin}/order-faults", timeout=5).json()["data"]
    assert faults["next"] == [] and {k: faults["injected"][k] for k in ("reject", "drop", "error")} == dict.fromkeys(
        ("reject", "drop", "error"), 1
    )
    tags = Counter(harness.accepted_tags())
    assert all(tags[tag] == 1 for tag in placed) and sum(tags.values()) == 4
    book = requests.get(f"{harness.admin}/orders", timeout=5).json()["data"]
    assert sorted(str(o.get("tag")) for o in book) == sorted(placed)


@pytest.mark.parametrize("harness", ["kite", "upstox", "angel"], indirect=True)
def test_a_dropped_stream_comes_back_on_its_own_with_its_subscriptions(harness: Harness) -> None:
    harness.broker.session.login_unattended()
    feed = harness.broker.feed()
    seen: list[Tick] = []
    reconnects: list[int] = []
    feed.on_ticks = seen.extend
    feed.on_reconnect = lambda connection, attempt: reconnects.append(attempt)
    feed.subscribe([INFY], FeedMode.QUOTE)
    feed.start()
    try:
        eventually(lambda: any(t.key == INFY for t in list(seen)))
        answer = requests.post(f"{harness.admin}/feed/faults", json={"fault": "drop"}, timeout=5)
        assert answer.status_code == 200 and answer.json()["data"]["connections"] >= 1
        eventually(lambda: bool(reconnects))
        seen.clear()
        eventually(lambda: any(t.key == INFY for t in list(seen)))
        assert feed.subscriptions == {INFY: FeedMode.QUOTE}
    finally:
        feed.stop()
