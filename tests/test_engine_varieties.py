"""Varieties through their life cycle: AMO release at the open, iceberg legs, cover orders, autoslice, auction."""

from __future__ import annotations

import dataclasses

import pytest

from kitekit.engine import Engine, EngineConfig, MarketQuote, resolver_of
from kitekit.wire.envelope import ErrorType, RejectionError
from tests.engine_helpers import (
    INFY,
    MONDAY_OPEN,
    NIFTY_FUT,
    NOW,
    at,
    current,
    engine,
    infy,
    order,
    quote,
    statuses,
)

EVENING = NOW.replace(hour=20)


def test_an_amo_waits_in_amo_req_received_and_goes_to_the_exchange_at_the_next_open() -> None:
    eng = engine(EVENING)
    eng.on_quotes([infy(when=NOW.replace(hour=15, minute=29))], EVENING)
    oid = eng.place_order("amo", order(INFY, "BUY", 10, price=1505.0, product="CNC"), EVENING)["order_id"]
    assert statuses(eng, oid, EVENING) == ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "AMO REQ RECEIVED"]
    before_open = MONDAY_OPEN.replace(minute=14)
    assert current(eng, oid, before_open)["status"] == "AMO REQ RECEIVED"
    assert current(eng, oid, MONDAY_OPEN)["status"] == "OPEN"  # no Monday quote yet: Friday's book is stale
    eng.on_quotes([infy(1501.0, at(1, MONDAY_OPEN))], at(1, MONDAY_OPEN))
    assert statuses(eng, oid, at(1, MONDAY_OPEN)) == [
        "PUT ORDER REQ RECEIVED",
        "VALIDATION PENDING",
        "AMO REQ RECEIVED",
        "OPEN PENDING",
        "OPEN",
        "COMPLETE",
    ]
    assert eng.trades(at(1, MONDAY_OPEN))[0]["fill_timestamp"] == "2026-11-30 09:16:00"


def test_an_amo_modified_before_the_open_stays_queued_with_its_new_price() -> None:
    eng = engine(EVENING)
    eng.on_quotes([infy(when=NOW)], EVENING)
    oid = eng.place_order("amo", order(INFY, "BUY", 10, price=1505.0, product="CNC"), EVENING)["order_id"]
    eng.modify_order("amo", oid, {"price": "1495"}, EVENING)
    last = eng.order_history(oid, EVENING)[-1]
    assert (last["status"], last["price"]) == ("AMO REQ RECEIVED", 1495.0)


def test_an_iceberg_places_its_legs_one_after_another_with_meta_iceberg() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    params = order(INFY, "BUY", 300, price=1500.0, iceberg_legs=3, iceberg_quantity=100)
    first = eng.place_order("iceberg", params, NOW)["order_id"]
    legs = eng.orders(NOW)
    assert [(o["quantity"], o["status"]) for o in legs] == [(100, "COMPLETE"), (100, "OPEN")]
    assert legs[0]["order_id"] == first and legs[0]["variety"] == "iceberg"
    for minute in (1, 2):
        eng.on_quotes([infy(1500.0, at(minute))], at(minute))
    legs = eng.orders(at(2))
    assert [o["status"] for o in legs] == ["COMPLETE"] * 3
    assert [o["meta"]["iceberg"] for o in legs] == [
        {"leg": n, "legs": 3, "leg_quantity": 100, "total_quantity": 300, "remaining_quantity": 300 - 100 * n}
        for n in (1, 2, 3)
    ]


def test_cancelling_an_iceberg_leg_places_no_further_legs() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    params = order(INFY, "BUY", 300, price=1400.0, iceberg_legs=3, iceberg_quantity=100)
    first = eng.place_order("iceberg", params, NOW)["order_id"]
    eng.cancel_order("iceberg", first, at(1))
    eng.on_quotes([infy(1390.0, at(2))], at(2))
    assert [o["status"] for o in eng.orders(at(2))] == ["CANCELLED"]


def test_a_cover_order_gets_an_sl_m_stop_leg_once_the_entry_fills_and_the_stop_closes_it() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    entry = eng.place_order("co", order(INFY, "BUY", 10, "MARKET", trigger_price=1490.0), NOW)["order_id"]
    placed, stop = eng.orders(NOW)
    assert (placed["order_id"], placed["product"], placed["status"]) == (entry, "CO", "COMPLETE")
    assert (stop["parent_order_id"], stop["order_type"], stop["transaction_type"]) == (entry, "SL-M", "SELL")
    assert (stop["status"], stop["trigger_price"], stop["variety"]) == ("TRIGGER PENDING", 1490.0, "co")
    eng.on_quotes([infy(1489.0, at(1))], at(1))
    assert current(eng, stop["order_id"], at(1))["status"] == "COMPLETE"
    position = eng.positions(at(1))["net"][0]
    assert (position["product"], position["quantity"]) == ("CO", 0)


def test_exiting_a_cover_order_sends_its_stop_leg_at_market() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    entry = eng.place_order("co", order(INFY, "BUY", 10, "MARKET", trigger_price=1490.0), NOW)["order_id"]
    stop = eng.orders(NOW)[1]["order_id"]
    assert eng.exit_order("co", stop, at(1), parent_order_id=entry) == {"order_id": stop}
    done = current(eng, stop, at(1))
    # Sent at market with automatic protection, it is booked as a LIMIT at its protection price.
    assert (done["status"], done["order_type"], done["average_price"]) == ("COMPLETE", "LIMIT", 1499.95)
    assert done["tags"] == ["mktp", "mktp:0.50"]


def test_a_cover_order_with_its_stop_on_the_wrong_side_is_rejected() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("co", order(INFY, "BUY", 10, "LIMIT", price=1500.0, trigger_price=1501.0), NOW)
    rejected = current(eng, oid["order_id"])
    assert rejected["status"] == "REJECTED" and "below" in rejected["status_message"]


def _nifty(ltp: float = 24000.0) -> list[MarketQuote]:
    return [quote(NIFTY_FUT, ltp, NOW, bids=[(ltp - 0.1, 100_000)], asks=[(ltp, 100_000)], close=23900.0)]


def test_autoslice_splits_above_the_freeze_quantity_into_tagged_children_under_a_parent_id_of_its_own() -> None:
    eng = engine(equity_funds=20_000_000)
    eng.on_quotes(_nifty(), NOW)
    data = eng.place_order("regular", order(NIFTY_FUT, "BUY", 3750, price=24000.0, autoslice="true"), NOW)
    parent = data["order_id"]
    children = [c["order_id"] for c in data["children"]]
    assert parent not in children and len(set(children)) == 3
    assert parent not in {o["order_id"] for o in eng.orders(NOW)}
    book = eng.orders(NOW)
    assert [o["quantity"] for o in book] == [1800, 1800, 150]
    assert all(o["tags"] == ["autoslice", f"autoslice:{parent}"] for o in book)
    assert all(o["status"] == "COMPLETE" for o in book)


def test_autoslice_slices_whole_lots_when_the_freeze_limit_is_not_a_lot_multiple() -> None:
    # NSE publishes NIFTY's limit as 1800 units while a lot is 65: the largest slice is 27 lots, 1755.
    spec = dataclasses.replace(NIFTY_FUT, lot_size=65)
    eng = Engine(resolver_of([spec]), NOW, EngineConfig(equity_funds=50_000_000))
    eng.on_quotes([quote(spec, 24000.0, NOW, asks=[(24000.0, 65 * 100)])], NOW)
    data = eng.place_order("regular", order(spec, "BUY", 65 * 60, price=24000.0, autoslice="true"), NOW)
    assert len(data["children"]) == 3
    assert [o["quantity"] for o in eng.orders(NOW)] == [1755, 1755, 390]


def test_an_autoslice_child_can_fail_for_margin_while_the_call_succeeds() -> None:
    # Each 1,800 slice needs 43.2M × 11% = 4,752,000; the third (150) needs 396,000 and finds too little.
    eng = engine(equity_funds=9_600_000)
    eng.on_quotes(_nifty(), NOW)
    data = eng.place_order("regular", order(NIFTY_FUT, "BUY", 3750, price=24000.0, autoslice="true"), NOW)
    first, second, third = data["children"]
    assert "order_id" in first and "order_id" in second
    error = third["error"]
    assert (error["code"], error["error_type"], error["data"]) == (400, "MarginException", None)
    assert error["message"].startswith("Insufficient funds. Required margin is 396000.00")
    assert len(eng.orders(NOW)) == 2


def test_an_autoslice_call_whose_every_child_fails_is_an_error() -> None:
    eng = engine(equity_funds=300_000)
    eng.on_quotes(_nifty(), NOW)
    with pytest.raises(RejectionError) as err:
        eng.place_order("regular", order(NIFTY_FUT, "BUY", 3750, price=24000.0, autoslice="true"), NOW)
    assert (err.value.error_type, err.value.status) == (ErrorType.MARGIN, 400)
    assert eng.orders(NOW) == []


def test_an_auction_order_needs_its_auction_number_and_shows_it() -> None:
    eng = engine()
    eng.add_holding("NSE", "INFY", 60, 1200.0, NOW)
    eng.on_quotes([infy()], NOW)
    with pytest.raises(RejectionError, match="auction_number"):
        eng.place_order("auction", order(INFY, "SELL", 60, price=1600.0, product="CNC"), NOW)
    params = order(INFY, "SELL", 60, price=1600.0, product="CNC", auction_number=22)
    placed = current(eng, eng.place_order("auction", params, NOW)["order_id"])
    assert (placed["variety"], placed["auction_number"], placed["status"]) == ("auction", "22", "OPEN")
