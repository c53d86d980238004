"""Every order rejection through the official SDK: its exception class, HTTP status, error type and message."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import IST, ManualClock
from kitekit.engine.validation import MARKET_CLOSED
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer
from tests.exchange_helpers import auth, book, nifty_option

TICK = "Tick size for this script is 0.05. Kindly enter price in the multiple of tick size for this script."


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(rate_limit_enabled=False)


def _place(kite: KiteConnect, variety: str = "regular", **changes: Any) -> str:
    params: dict[str, Any] = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "quantity": 1,
        "product": "MIS",
        "order_type": "LIMIT",
        "price": 2200.0,
        **changes,
    }
    order_id: str = kite.place_order(variety, **params)
    return order_id


def _refused(call: Callable[[], Any]) -> tuple[type, int, str]:
    with pytest.raises(kex.KiteException) as err:
        call()
    return type(err.value), err.value.code, str(err.value)


def test_requests_kite_refuses_outright_are_400_input_exceptions_with_kites_messages(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    option = nifty_option(sim.sim.market, sim_clock.now(), 2.0, 60.0)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"variety": "bracket"}, "Invalid `variety` 'bracket'. Use one of regular, amo, co, iceberg, auction."),
        ({"tag": "x" * 21}, "Invalid `tag`. Use up to 20 letters and digits."),
        ({"price": 2200.03}, TICK),
        ({"tradingsymbol": "NOPE"}, "Invalid `tradingsymbol`: NSE:NOPE is not a known instrument."),
        ({"tradingsymbol": "NIFTY 50"}, "Invalid `tradingsymbol`: NSE:NIFTY 50 is an index and cannot be traded."),
        (
            {"order_type": "MARKET", "price": None, "market_protection": 0},
            "Market orders without market protection are not allowed via API. Please set market protection or "
            "use a Limit order.",
        ),
        (
            {"exchange": "NFO", "tradingsymbol": option, "product": "CNC", "quantity": 65, "price": 1.0},
            "Product CNC is not allowed for NFO instruments. Use NRML, MIS.",
        ),
        (
            {"exchange": "NFO", "tradingsymbol": option, "product": "NRML", "quantity": 10, "price": 1.0},
            f"Quantity should be a multiple of the lot size (65) for {option}.",
        ),
        (
            {"exchange": "NFO", "tradingsymbol": option, "product": "NRML", "quantity": 65 * 28, "price": 1.0},
            f"Quantity 1820 exceeds the freeze quantity of 1800 for {option}. Place it with autoslice or in slices "
            "of at most 1800.",
        ),
    ]
    for changes, message in cases:
        variety = changes.pop("variety", "regular")
        refusal = _refused(lambda v=variety, c=changes: _place(sim_kite, v, **c))  # type: ignore[misc]
        assert refusal == (kex.InputException, 400, message)
    assert sim_kite.orders() == []  # nothing refused outright ever became an order


def test_a_regular_order_outside_market_hours_is_refused_as_kite_words_it(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    sim_clock.set(datetime(2026, 11, 27, 15, 45, tzinfo=IST))
    assert _refused(lambda: _place(sim_kite)) == (kex.InputException, 400, MARKET_CLOSED)


def test_an_unknown_order_id_is_a_400_order_exception_on_every_order_route(sim_kite: KiteConnect) -> None:
    for call in (
        lambda: sim_kite.order_history("123"),
        lambda: sim_kite.order_trades("123"),
        lambda: sim_kite.modify_order("regular", "123", price=1),
        lambda: sim_kite.cancel_order("regular", "123"),
    ):
        assert _refused(call) == (kex.OrderException, 400, "Order not found")


def _rejected(kite: KiteConnect, order_id: str) -> str:
    states = kite.order_history(order_id)
    assert [s["status"] for s in states] == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "REJECTED"]
    message: str = states[-1]["status_message"]
    return message


def test_the_rms_rejects_orders_it_accepted_with_kites_status_messages(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    infy = book(sim.sim.market, "NSE:INFY", sim_clock.now())
    funds = _place(sim_kite, quantity=1000, product="CNC", price=infy["ask"][0])
    assert _rejected(sim_kite, funds).startswith("Insufficient funds. Required margin is ")
    above = round(infy["upper"] + 1, 1)
    circuit = _place(sim_kite, price=above)
    assert _rejected(sim_kite, circuit) == (
        f"Your order price is higher than the current upper circuit limit of {infy['upper']:g}. "
        "Place an order within the daily range."
    )
    holdings = _place(sim_kite, transaction_type="SELL", quantity=30, product="CNC", price=infy["bid"][0])
    assert _rejected(sim_kite, holdings) == "Insufficient holdings. You can sell at most 25 of INFY from your holdings."


def test_an_autoslice_whose_every_child_fails_is_a_margin_exception_the_sdk_raises_as_general(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    option = nifty_option(sim.sim.market, sim_clock.now(), 600.0, 5000.0)
    kind, code, message = _refused(
        lambda: sim_kite.place_autoslice_order(
            "regular", "NFO", option, "BUY", 1755 * 2, "NRML", "MARKET", market_protection=-1
        )
    )
    assert (kind, code) == (kex.GeneralException, 400) and message.startswith("Insufficient funds.")
    assert sim_kite.orders() == []


def test_a_gtt_with_the_wrong_number_of_trigger_values_is_refused_by_the_server_too(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    # The SDK checks the count itself, so this goes around it, as another client would.
    leg = {"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": 3000.0}
    form = {
        "type": "single",
        "condition": json.dumps(
            {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": [2000.0, 3000.0], "last_price": 2274.0}
        ),
        "orders": json.dumps([leg]),
    }
    r = requests.post(f"{sim.url}/gtt/triggers", data=form, headers=auth(sim_kite), timeout=5)
    assert r.status_code == 400
    assert r.json() == {
        "status": "error",
        "message": "Invalid `trigger_values`. A single trigger takes exactly 1 trigger value(s).",
        "error_type": "InputException",
        "data": None,
    }
