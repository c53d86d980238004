"""Every rejection: synchronous ones as Kite's HTTP errors, RMS ones as REJECTED orders with a status message."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from kitekit.clock import IST
from kitekit.wire.envelope import ErrorType, RejectionError
from tests.engine_helpers import (
    INFY,
    NIFTY_CE,
    NIFTY_FUT,
    NIFTY_INDEX,
    NOW,
    current,
    engine,
    infy,
    order,
    quote,
    statuses,
)

SYNC_CASES: list[tuple[str, str, dict[str, Any], str]] = [
    ("unknown instrument", "regular", {"tradingsymbol": "NOPE"}, "Invalid `tradingsymbol`: NSE:NOPE is not a known"),
    ("an index", "regular", {"tradingsymbol": NIFTY_INDEX.tradingsymbol}, "is an index and cannot be traded"),
    ("delivery on NFO", "regular", {**order(NIFTY_FUT, "BUY", 75, price=24000.0, product="CNC")}, "Product CNC is not"),
    ("NRML in cash", "regular", {"product": "NRML"}, "Product NRML is not allowed for NSE instruments"),
    ("tag over 20", "regular", {"tag": "a" * 21}, "Invalid `tag`. Use up to 20 letters and digits."),
    ("tag not alphanumeric", "regular", {"tag": "my tag"}, "Invalid `tag`"),
    ("price off the tick", "regular", {"price": "1500.03"}, "Tick size for this script is 0.05."),
    (
        "quantity off the lot",
        "regular",
        {**order(NIFTY_FUT, "BUY", 100, price=24000.0)},
        "multiple of the lot size (75)",
    ),
    (
        "above the freeze quantity",
        "regular",
        {**order(NIFTY_FUT, "BUY", 1875, price=24000.0)},
        "Quantity 1875 exceeds the freeze quantity of 1800",
    ),
    (
        "market order without protection",
        "regular",
        {"order_type": "MARKET", "market_protection": "0"},
        "Market orders without market protection are not allowed via API. Please set market protection or use a "
        "Limit order.",
    ),
    ("AMO in market hours", "amo", {}, "After market orders can be placed only when the market is closed."),
    ("iceberg of one leg", "iceberg", {"iceberg_legs": "1", "iceberg_quantity": "10"}, "Invalid `iceberg_legs`."),
    ("TTL without minutes", "regular", {"validity": "TTL"}, "Invalid `validity_ttl`."),
    ("TTL beyond a day", "regular", {"validity": "TTL", "validity_ttl": "1441"}, "Invalid `validity_ttl`."),
    ("unknown variety", "bo", {}, "Invalid `variety` 'bo'."),
    ("unknown order type", "regular", {"order_type": "STOP"}, "Invalid `order_type` 'STOP'."),
    ("zero quantity", "regular", {"quantity": "0"}, "Invalid `quantity`."),
    ("missing field", "regular", {"exchange": ""}, "Missing `exchange`."),
    (
        "SL trigger above its buy limit",
        "regular",
        {"order_type": "SL", "trigger_price": "1505"},
        "Trigger price for stoploss buy orders should be lower than the order price.",
    ),
    (
        "disclosed quantity in derivatives",
        "regular",
        {**order(NIFTY_CE, "BUY", 750, price=100.0), "disclosed_quantity": "150"},
        "Disclosed quantity is not allowed for derivatives.",
    ),
]


@pytest.mark.parametrize(("case", "variety", "change", "message"), SYNC_CASES, ids=[c[0] for c in SYNC_CASES])
def test_a_bad_request_is_refused_with_a_400_input_exception(
    case: str, variety: str, change: dict[str, Any], message: str
) -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    params = {**order(INFY, "BUY", 10, price=1500.0), **change}
    with pytest.raises(RejectionError) as err:
        eng.place_order(variety, params, NOW)
    assert (err.value.error_type, err.value.status) == (ErrorType.INPUT, 400)
    assert message in err.value.message
    assert eng.orders(NOW) == []


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 11, 27, 16, 0, tzinfo=IST),  # after the close
        datetime(2026, 11, 27, 9, 0, tzinfo=IST),  # before the open
        datetime(2026, 11, 24, 11, 0, tzinfo=IST),  # a Tuesday exchange holiday
        datetime(2026, 11, 28, 11, 0, tzinfo=IST),  # Saturday
    ],
    ids=["after close", "before open", "holiday", "weekend"],
)
def test_a_regular_order_outside_market_hours_is_refused_with_kites_message(when: datetime) -> None:
    eng = engine(when)
    with pytest.raises(RejectionError) as err:
        eng.place_order("regular", order(INFY, "BUY", 10, price=1500.0), when)
    assert (err.value.error_type, err.value.status) == (ErrorType.INPUT, 400)
    assert err.value.message == "Markets are closed right now. Use GTT for placing long standing orders instead."


def test_market_orders_without_protection_were_allowed_before_the_2026_rule() -> None:
    march = datetime(2026, 3, 2, 11, 0, tzinfo=IST)
    eng = engine(march)
    eng.on_quotes([infy(when=march)], march)
    params = order(INFY, "BUY", 10, "MARKET", market_protection=0)
    oid = eng.place_order("regular", params, march)["order_id"]
    assert current(eng, oid, march)["status"] == "COMPLETE"


def _rejected(eng: Any, oid: str) -> dict[str, Any]:
    assert statuses(eng, oid) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "REJECTED"]
    last: dict[str, Any] = current(eng, oid)
    assert last["exchange_order_id"] is None and last["pending_quantity"] == 0
    return last


def test_insufficient_funds_leave_a_rejected_order_with_kites_margin_message() -> None:
    eng = engine(equity_funds=10_000)
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 100, price=1500.0), NOW)["order_id"]
    rejected = _rejected(eng, oid)
    # MIS needs 20% of 100 × 1500.
    assert rejected["status_message"] == (
        "Insufficient funds. Required margin is 30000.00 but available margin is 10000.00. "
        "Check the orderbook for open orders."
    )
    assert rejected["status_message_raw"].startswith("RMS:Margin Exceeds,Required:30000.00, Available:10000.00")


def test_margin_blocked_by_an_open_order_is_not_available_to_the_next_until_cancelled() -> None:
    eng = engine(equity_funds=40_000)
    eng.on_quotes([infy()], NOW)
    first = eng.place_order("regular", order(INFY, "BUY", 100, price=1400.0), NOW)["order_id"]  # blocks 28,000
    second = eng.place_order("regular", order(INFY, "BUY", 100, price=1400.0), NOW)["order_id"]
    assert "available margin is 12000.00" in _rejected(eng, second)["status_message"]
    assert eng.margins(NOW, "equity")["utilised"]["exposure"] == pytest.approx(28_000)
    eng.cancel_order("regular", first, NOW)
    third = eng.place_order("regular", order(INFY, "BUY", 100, price=1400.0), NOW)["order_id"]
    assert current(eng, third)["status"] == "OPEN"


def test_closing_a_position_needs_no_new_margin() -> None:
    eng = engine(equity_funds=40_000)
    eng.on_quotes([infy()], NOW)
    eng.place_order("regular", order(INFY, "BUY", 100, price=1500.0), NOW)  # 30,000 now blocked by the position
    oid = eng.place_order("regular", order(INFY, "SELL", 100, price=1600.0), NOW)["order_id"]
    assert current(eng, oid)["status"] == "OPEN"
    opening = eng.place_order("regular", order(INFY, "SELL", 100, price=1600.0), NOW)["order_id"]
    assert current(eng, opening)["status"] == "REJECTED"  # the position is already being closed by the first


@pytest.mark.parametrize(
    ("side", "price", "message"),
    [
        ("BUY", 1700.0, "Your order price is higher than the current upper circuit limit of 1650."),
        ("SELL", 1300.0, "Your order price is lower than the current lower circuit limit of 1350."),
    ],
)
def test_a_price_outside_the_circuit_limits_is_rejected_by_the_rms(side: str, price: float, message: str) -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, side, 10, price=price), NOW)["order_id"]
    assert _rejected(eng, oid)["status_message"] == f"{message} Place an order within the daily range."


def test_a_stop_whose_trigger_the_market_has_already_passed_is_rejected() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, "SL", price=1495.0, trigger_price=1490.0), NOW)
    message = _rejected(eng, oid["order_id"])["status_message"]
    assert message == "Trigger price for stoploss buy orders should be higher than the last traded price."


def test_a_delivery_sell_without_holdings_is_rejected_and_with_them_accepted() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "SELL", 10, price=1600.0, product="CNC"), NOW)["order_id"]
    assert _rejected(eng, oid)["status_message"].startswith("Insufficient holdings.")
    eng.add_holding("NSE", "INFY", 10, 1200.0, NOW)
    again = eng.place_order("regular", order(INFY, "SELL", 10, price=1600.0, product="CNC"), NOW)["order_id"]
    assert current(eng, again)["status"] == "OPEN"


def test_holdings_already_being_sold_by_an_open_order_cannot_be_sold_again() -> None:
    eng = engine()
    eng.add_holding("NSE", "INFY", 10, 1200.0, NOW)
    eng.on_quotes([infy()], NOW)
    eng.place_order("regular", order(INFY, "SELL", 8, price=1600.0, product="CNC"), NOW)
    oid = eng.place_order("regular", order(INFY, "SELL", 5, price=1600.0, product="CNC"), NOW)["order_id"]
    assert "at most 2 of INFY" in _rejected(eng, oid)["status_message"]


def test_an_unknown_order_id_is_an_order_exception_answered_400() -> None:
    eng = engine()
    for call in (
        lambda: eng.order_history("1", NOW),
        lambda: eng.modify_order("regular", "1", {"price": "1"}, NOW),
        lambda: eng.cancel_order("regular", "1", NOW),
    ):
        with pytest.raises(RejectionError) as err:
            call()
        assert (err.value.error_type, err.value.status, err.value.message) == (ErrorType.ORDER, 400, "Order not found")


def test_an_options_buy_has_no_circuit_when_the_quote_has_none() -> None:
    eng = engine()
    eng.on_quotes([quote(NIFTY_CE, 100.0, NOW, asks=[(100.0, 750)])], NOW)
    # 130 is above the last price by more than any circuit would allow a share, within the option's 40% band.
    oid = eng.place_order("regular", order(NIFTY_CE, "BUY", 75, price=130.0, product="NRML"), NOW)["order_id"]
    assert current(eng, oid)["status"] == "COMPLETE"


@pytest.mark.parametrize("bad", ["inf", "-inf", "nan", "1e400", "1e13"])
def test_non_finite_or_absurd_numbers_are_refused_as_input_everywhere(bad: str) -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    calls = (
        lambda: eng.place_order("regular", {**order(INFY, "BUY", 1, price=1500.0), "price": bad}, NOW),
        lambda: eng.place_order("regular", {**order(INFY, "BUY", 1, price=1500.0), "quantity": bad}, NOW),
        lambda: eng.order_margins([{**order(INFY, "BUY", 1, price=1500.0), "price": bad}], NOW),
        lambda: eng.order_charges([{**order(INFY, "BUY", 1), "average_price": bad}], NOW),
        lambda: eng.convert_position({**order(INFY, "BUY", 1), "quantity": bad, "old_product": "MIS"}, NOW),
    )
    for call in calls:
        with pytest.raises(RejectionError) as err:
            call()
        assert (err.value.error_type, err.value.status) == (ErrorType.INPUT, 400)


def test_a_modification_the_rms_refuses_is_a_400_not_a_server_error() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 1, price=1400.0), NOW)["order_id"]
    with pytest.raises(RejectionError) as err:
        eng.modify_order("regular", oid, {"price": "1700"}, NOW)  # above the 1650 upper circuit
    assert (err.value.error_type, err.value.status) == (ErrorType.ORDER, 400)
    assert "upper circuit limit of 1650" in err.value.message
