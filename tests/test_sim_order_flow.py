"""Orders through their life cycles over HTTP: the routes carry the engine's rules, and time alone moves them.

The engine's own tests cover the rules; these prove the simulator's routes and its exchange pump carry them:
each order's history as ``order_history`` returns it, and what happens with no request at all once the clock
moves (fills, stops, TTL expiry, AMO release, GTTs), observed on the order-update hub the WebSocket feed
delivers from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST, ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.sim.updates import Subscription
from tests.conftest import eventually
from tests.exchange_helpers import MONDAY_OPEN, book, nifty_option, path
from tests.shapes import POSTBACK, assert_shape

OPENING = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(rate_limit_enabled=False)


@pytest.fixture
def updates(sim: SimServer) -> Subscription:
    return sim.sim.order_updates.subscribe(sim.sim.config.user_id)


def _infy(sim: SimServer, clock: ManualClock) -> dict[str, Any]:
    return book(sim.sim.market, "NSE:INFY", clock.now())


def _statuses(kite: KiteConnect, order_id: str) -> list[str]:
    return [state["status"] for state in kite.order_history(order_id)]


def _seen_where(updates: Subscription, wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Wait until the hub delivers an update ``wanted`` accepts and return it (no HTTP request is made)."""
    got: list[dict[str, Any]] = []

    def arrived() -> dict[str, Any] | None:
        got.extend(updates.take())
        return next((u for u in got if wanted(u)), None)

    found = eventually(arrived)
    assert found is not None
    return found


def _seen(updates: Subscription, order_id: str, status: str) -> dict[str, Any]:
    """Wait until the hub delivers ``status`` for the order and return that update."""
    return _seen_where(updates, lambda u: u["order_id"] == order_id and u["status"] == status)


def test_a_marketable_limit_order_fills_and_its_history_reads_like_kites(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, updates: Subscription
) -> None:
    ask = _infy(sim, sim_clock)["ask"]
    oid = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 10, "MIS", "LIMIT", price=ask[0])
    assert _statuses(sim_kite, oid) == [*OPENING, "OPEN", "COMPLETE"]
    (trade,) = sim_kite.order_trades(oid)
    assert (trade["quantity"], trade["average_price"], trade["order_timestamp"]) == (10, ask[0], "11:00:00")
    done = _seen(updates, oid, "COMPLETE")
    assert_shape(done, POSTBACK)
    assert done["user_id"] == "KK1234" and done["unfilled_quantity"] == 0


def test_an_order_larger_than_the_best_level_fills_partly_and_rests(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, updates: Subscription
) -> None:
    price, size, _ = _infy(sim, sim_clock)["ask"]
    oid = sim_kite.place_order("regular", "NSE", "INFY", "BUY", size + 50, "MIS", "LIMIT", price=price)
    order = sim_kite.order_history(oid)[-1]
    assert (order["status"], order["filled_quantity"], order["pending_quantity"]) == ("OPEN", size, 50)
    assert _statuses(sim_kite, oid) == [*OPENING, "OPEN", "OPEN"]
    assert _seen(updates, oid, "UPDATE")["filled_quantity"] == size


def test_a_round_trip_leaves_a_flat_position_with_the_spread_as_realised_loss(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    infy = _infy(sim, sim_clock)
    sim_kite.place_order("regular", "NSE", "INFY", "BUY", 10, "MIS", "LIMIT", price=infy["ask"][0])
    sim_kite.place_order("regular", "NSE", "INFY", "SELL", 10, "MIS", "LIMIT", price=infy["bid"][0])
    (pos,) = [p for p in sim_kite.positions()["net"] if p["tradingsymbol"] == "INFY"]
    spread = (infy["bid"][0] - infy["ask"][0]) * 10
    assert pos["quantity"] == 0
    assert pos["realised"] == pytest.approx(spread) and pos["pnl"] == pytest.approx(spread)


def test_a_stop_triggers_and_fills_when_the_market_reaches_it_without_any_request(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, updates: Subscription
) -> None:
    now = sim_clock.now()
    ahead = path(sim.sim.market, "NSE:INFY", now, 600)
    when, high = max(ahead, key=lambda point: point[1])
    assert high > _infy(sim, sim_clock)["ask"][0]
    oid = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 5, "MIS", "SL", price=high + 5, trigger_price=high)
    assert _statuses(sim_kite, oid) == [*OPENING, "TRIGGER PENDING"]
    sim_clock.set(when)
    _seen(updates, oid, "COMPLETE")
    assert _statuses(sim_kite, oid)[-3:] == ["TRIGGER PENDING", "OPEN", "COMPLETE"]


def test_a_modification_appends_kites_modify_states_and_the_26th_is_refused(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    bid = _infy(sim, sim_clock)["bid"][0]
    oid = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 5, "MIS", "LIMIT", price=bid - 10)
    sim_kite.modify_order("regular", oid, price=bid - 9)
    states = sim_kite.order_history(oid)
    assert [s["status"] for s in states] == [
        *OPENING,
        "OPEN",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "OPEN",
    ]
    assert states[-1]["price"] == pytest.approx(bid - 9) and states[-1]["modified"] is True
    for i in range(24):
        sim_kite.modify_order("regular", oid, quantity=6 + i)
    with pytest.raises(kex.InputException) as err:
        sim_kite.modify_order("regular", oid, quantity=40)
    assert err.value.code == 400 and str(err.value) == "Maximum allowed order modifications (25) exceeded."


def test_cancelling_appends_cancel_pending_then_cancelled(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    bid = _infy(sim, sim_clock)["bid"][0]
    oid = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 5, "MIS", "LIMIT", price=bid - 10)
    assert sim_kite.cancel_order("regular", oid) == oid
    assert _statuses(sim_kite, oid) == [*OPENING, "OPEN", "CANCEL PENDING", "CANCELLED"]
    assert sim_kite.order_history(oid)[-1]["cancelled_quantity"] == 5


def test_an_ioc_order_that_cannot_fill_is_cancelled_by_the_exchange_at_once(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    bid = _infy(sim, sim_clock)["bid"][0]
    oid = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 5, "MIS", "LIMIT", price=bid - 10, validity="IOC")
    assert _statuses(sim_kite, oid) == [*OPENING, "OPEN", "CANCELLED"]


def test_a_ttl_order_lapses_at_its_deadline_without_any_request(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, updates: Subscription
) -> None:
    bid = _infy(sim, sim_clock)["bid"][0]
    oid = sim_kite.place_order(
        "regular", "NSE", "INFY", "BUY", 5, "MIS", "LIMIT", price=bid - 50, validity="TTL", validity_ttl=1
    )
    sim_clock.advance(61)
    lapsed = _seen(updates, oid, "CANCELLED")
    assert lapsed["exchange_update_timestamp"] == "2026-11-27 11:01:00"


def test_an_amo_waits_and_is_released_and_filled_at_the_next_open(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, updates: Subscription
) -> None:
    sim_clock.set(datetime(2026, 11, 27, 16, 0, tzinfo=IST))
    monday = book(sim.sim.market, "NSE:INFY", MONDAY_OPEN)
    oid = sim_kite.place_order("amo", "NSE", "INFY", "BUY", 5, "CNC", "LIMIT", price=monday["ask"][0] + 1)
    assert _statuses(sim_kite, oid) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "AMO REQ RECEIVED"]
    sim_clock.set(MONDAY_OPEN)
    _seen(updates, oid, "COMPLETE")
    login_via_redirect(sim, sim_kite)  # Friday's token expired at 06:00
    assert _statuses(sim_kite, oid)[2:] == ["AMO REQ RECEIVED", "OPEN PENDING", "OPEN", "COMPLETE"]
    assert sim_kite.order_trades(oid)[0]["average_price"] == monday["ask"][0]


def test_an_iceberg_order_sends_its_legs_one_after_another(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    ask = _infy(sim, sim_clock)["ask"][0]
    first = sim_kite.place_order(
        "iceberg", "NSE", "INFY", "BUY", 30, "MIS", "LIMIT", price=ask, iceberg_legs=3, iceberg_quantity=10
    )
    legs = [o for o in sim_kite.orders() if o["variety"] == "iceberg"]
    assert legs[0]["order_id"] == first
    assert [o["meta"]["iceberg"]["leg"] for o in legs] == [1, 2, 3]
    assert [o["quantity"] for o in legs] == [10, 10, 10] and {o["status"] for o in legs} == {"COMPLETE"}


def test_autoslice_answers_with_its_children_and_one_can_fail_for_margin(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    # One 1,755-unit slice of a ₹300-550 call fits the ₹10 lakh account; the second does not.
    option = nifty_option(sim.sim.market, sim_clock.now(), 300.0, 550.0)
    data = sim_kite.place_autoslice_order("regular", "NFO", option, "BUY", 1755 * 2, "NRML", "MARKET",
                                          market_protection=-1)  # fmt: skip
    placed, failed = data["children"]
    assert placed["order_id"] != data["order_id"]  # the parent's id is its own
    error = failed["error"]
    assert (error["code"], error["error_type"], error["data"]) == (400, "MarginException", None)
    assert error["message"].startswith("Insufficient funds. Required margin is")
    (order,) = sim_kite.orders()
    # Automatic protection (-1) is booked as a LIMIT, the tag naming the percentage it stood for.
    assert order["tags"][:3] == ["autoslice", f"autoslice:{data['order_id']}", "mktp"]
    assert re.fullmatch(r"mktp:[23]\.00", order["tags"][3]) and order["order_type"] == "LIMIT"


def test_a_gtt_fires_a_real_order_when_the_price_reaches_it_without_any_request(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock, updates: Subscription
) -> None:
    now = sim_clock.now()
    ltp = _infy(sim, sim_clock)["ltp"]
    when, high = max(path(sim.sim.market, "NSE:INFY", now, 600), key=lambda point: point[1])
    leg = {"transaction_type": "SELL", "quantity": 3, "order_type": "LIMIT", "product": "CNC", "price": high - 5}
    tid = sim_kite.place_gtt("single", "INFY", "NSE", [high], ltp, [leg])["trigger_id"]
    sim_clock.set(when)
    fired = _seen_where(updates, lambda u: u["transaction_type"] == "SELL" and u["status"] == "COMPLETE")
    assert fired["tradingsymbol"] == "INFY" and fired["quantity"] == 3
    trigger = sim_kite.get_gtt(tid)
    assert trigger["status"] == "triggered"
    result = trigger["orders"][0]["result"]
    assert result["order_result"] == {"status": "success", "order_id": fired["order_id"], "rejection_reason": ""}
