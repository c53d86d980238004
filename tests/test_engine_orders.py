"""Order types and validities through their life cycle: fills, partial fills, stops, IOC, TTL, modify, cancel."""

from __future__ import annotations

import copy
import math
import pickle
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kitekit.engine import Engine
from kitekit.engine.order import Ids, Order, round6
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.orders import OrderStatus, OrderType, Product, TransactionType, Validity, Variety
from tests.engine_helpers import INFY, NOW, at, current, engine, infy, order, quote, statuses

OPENING = ["PUT ORDER REQ RECEIVED", "VALIDATION PENDING", "OPEN PENDING"]


def test_a_marketable_limit_order_walks_the_depth_and_its_history_has_every_state() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)  # asks 1500.00, 1500.05, … 100 each
    oid = eng.place_order("regular", order(INFY, "BUY", 150, price=1500.05), NOW)["order_id"]
    history = eng.order_history(oid, NOW)
    assert [h["status"] for h in history] == [*OPENING, "OPEN", "COMPLETE"]
    assert oid.isdigit() and len(oid) == 19
    # exchange_order_id and exchange_timestamp appear at the first OPEN (docs/protocol.md §8.4).
    assert [h["exchange_order_id"] is None for h in history] == [True, True, True, False, False]
    assert history[0]["exchange_timestamp"] is None and history[3]["exchange_timestamp"] == "2026-11-27 11:00:00"
    done = history[-1]
    assert (done["filled_quantity"], done["pending_quantity"]) == (150, 0)
    assert done["average_price"] == pytest.approx((100 * 1500.0 + 50 * 1500.05) / 150)
    trades = eng.order_trades(oid, NOW)
    assert [(t["quantity"], t["average_price"]) for t in trades] == [(100, 1500.0), (50, 1500.05)]
    assert trades[0]["order_timestamp"] == "11:00:00" and trades[0]["fill_timestamp"] == "2026-11-27 11:00:00"


def test_a_resting_limit_order_fills_when_a_later_quote_reaches_its_price() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 50, price=1499.0), NOW)["order_id"]
    assert current(eng, oid)["status"] == "OPEN"
    eng.on_quotes([infy(1499.5, at(1))], at(1))  # best ask 1499.50: still above the limit
    assert current(eng, oid, at(1))["status"] == "OPEN"
    eng.on_quotes([infy(1498.9, at(2))], at(2))
    filled = current(eng, oid, at(2))
    assert (filled["status"], filled["average_price"]) == ("COMPLETE", 1498.9)
    assert eng.trades(at(2))[0]["fill_timestamp"] == "2026-11-27 11:02:00"


def test_a_partial_fill_pushes_update_and_leaves_the_rest_open_until_the_next_quote() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    eng.drain_updates()
    oid = eng.place_order("regular", order(INFY, "BUY", 300, price=1500.05), NOW)["order_id"]
    assert [u["status"] for u in eng.drain_updates()] == ["OPEN", "UPDATE"]
    now_open = current(eng, oid)
    assert (now_open["status"], now_open["filled_quantity"], now_open["pending_quantity"]) == ("OPEN", 200, 100)
    eng.on_quotes([infy(1500.0, at(1))], at(1))  # a new quote is a fresh book
    assert current(eng, oid, at(1))["status"] == "COMPLETE"
    assert statuses(eng, oid, at(1)) == [*OPENING, "OPEN", "OPEN", "COMPLETE"]
    assert [u["status"] for u in eng.drain_updates()] == ["COMPLETE"]


def test_depth_taken_by_one_order_is_not_there_for_the_next_order_on_the_same_quote() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    first = eng.place_order("regular", order(INFY, "BUY", 100, "MARKET"), NOW)["order_id"]
    second = eng.place_order("regular", order(INFY, "BUY", 100, "MARKET"), NOW)["order_id"]
    assert current(eng, first)["average_price"] == 1500.0
    assert current(eng, second)["average_price"] == 1500.05


def test_a_protected_market_order_is_booked_as_a_limit_at_its_protection_price_and_rests_the_rest_there() -> None:
    eng = engine()
    thin = quote(INFY, 1500.0, NOW, bids=[(1499.95, 100)], asks=[(1500.0, 100), (1520.0, 100)], close=1490)
    eng.on_quotes([thin], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 200, "MARKET", market_protection=1), NOW)["order_id"]
    resting = current(eng, oid)
    # 1% over 1500 caps the price at 1515: the 1520 level is out of reach. Kite books it as a LIMIT there.
    assert (resting["status"], resting["filled_quantity"], resting["order_type"]) == ("OPEN", 100, "LIMIT")
    assert (resting["price"], resting["market_protection"]) == (1515, 0)
    assert resting["tags"] == ["mktp", "mktp:1.00"]
    assert all(state["order_type"] == "LIMIT" for state in eng.order_history(oid, NOW))
    eng.on_quotes([quote(INFY, 1510.0, at(1), asks=[(1514.0, 50), (1516.0, 500)])], at(1))
    later = current(eng, oid, at(1))
    assert (later["filled_quantity"], later["status"]) == (150, "OPEN")  # 1516 is beyond the band
    eng.on_quotes([quote(INFY, 1512.0, at(2), asks=[(1515.0, 500)])], at(2))
    assert current(eng, oid, at(2))["status"] == "COMPLETE"


def test_an_sl_buy_waits_in_trigger_pending_until_the_last_price_reaches_its_trigger() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    params = order(INFY, "BUY", 10, "SL", price=1512.0, trigger_price=1510.0)
    oid = eng.place_order("regular", params, NOW)["order_id"]
    assert current(eng, oid)["status"] == "TRIGGER PENDING"
    eng.on_quotes([infy(1509.0, at(1))], at(1))
    assert current(eng, oid, at(1))["status"] == "TRIGGER PENDING"
    eng.on_quotes([infy(1511.0, at(2))], at(2))
    done = current(eng, oid, at(2))
    assert (done["status"], done["average_price"]) == ("COMPLETE", 1511.0)
    assert statuses(eng, oid, at(2)) == [*OPENING, "TRIGGER PENDING", "OPEN", "COMPLETE"]


def test_an_sl_limit_that_triggers_into_an_empty_price_range_rests_at_its_limit() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, "SL", price=1510.0, trigger_price=1505.0), NOW)
    eng.on_quotes([infy(1520.0, at(1))], at(1))  # gapped over the limit: triggered, but asks are above 1510
    assert current(eng, oid["order_id"], at(1))["status"] == "OPEN"


def test_a_protected_sl_m_sell_is_booked_as_an_sl_priced_from_its_trigger_and_fills_when_it_fires() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    eng.place_order("regular", order(INFY, "BUY", 20, "MARKET"), NOW)
    oid = eng.place_order("regular", order(INFY, "SELL", 20, "SL-M", trigger_price=1490.0), NOW)["order_id"]
    waiting = current(eng, oid)
    # Automatic protection of a share above 500 is 0.5%: the SL's price is 0.5% under the trigger, on the tick.
    assert (waiting["status"], waiting["order_type"], waiting["price"]) == ("TRIGGER PENDING", "SL", 1482.55)
    assert (waiting["market_protection"], waiting["tags"]) == (0, ["mktp", "mktp:0.50"])
    eng.on_quotes([infy(1489.0, at(1))], at(1))
    done = current(eng, oid, at(1))
    assert (done["status"], done["trigger_price"]) == ("COMPLETE", 1490)
    assert done["average_price"] == 1488.95  # the best bid under 1489


def test_an_ioc_order_takes_what_is_there_and_the_rest_is_cancelled_at_once() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 250, price=1500.05, validity="IOC"), NOW)["order_id"]
    done = current(eng, oid)
    assert (done["status"], done["filled_quantity"], done["cancelled_quantity"]) == ("CANCELLED", 200, 50)
    assert statuses(eng, oid)[-2:] == ["OPEN", "CANCELLED"]


def test_a_ttl_order_is_cancelled_when_its_minutes_run_out() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    params = order(INFY, "BUY", 10, price=1400.0, validity="TTL", validity_ttl=5)
    oid = eng.place_order("regular", params, NOW)["order_id"]
    assert current(eng, oid)["validity_ttl"] == 5
    eng.advance(at(4.9))
    assert current(eng, oid, at(4.9))["status"] == "OPEN"
    eng.advance(at(7))
    done = eng.order_history(oid, at(7))[-1]
    assert (done["status"], done["cancelled_quantity"]) == ("CANCELLED", 10)
    assert done["exchange_update_timestamp"] == "2026-11-27 11:05:00"  # at the deadline, not when noticed


def test_cancelling_appends_cancel_pending_then_cancelled() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0), NOW)["order_id"]
    assert eng.cancel_order("regular", oid, at(1)) == {"order_id": oid}
    assert statuses(eng, oid, at(1)) == [*OPENING, "OPEN", "CANCEL PENDING", "CANCELLED"]
    done = current(eng, oid, at(1))
    assert (done["pending_quantity"], done["cancelled_quantity"]) == (0, 10)
    with pytest.raises(RejectionError) as err:
        eng.cancel_order("regular", oid, at(2))
    assert err.value.error_type is ErrorType.INPUT and "cancelled" in err.value.message


def test_a_modification_appends_the_modify_states_with_the_new_terms_and_pushes_update() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0), NOW)["order_id"]
    eng.drain_updates()
    eng.modify_order("regular", oid, {"price": "1401.5", "quantity": "20"}, at(3))
    history = eng.order_history(oid, at(3))
    assert [h["status"] for h in history] == [
        *OPENING,
        "OPEN",
        "MODIFY VALIDATION PENDING",
        "MODIFY PENDING",
        "MODIFIED",
        "OPEN",
    ]
    last = history[-1]
    assert (last["price"], last["quantity"], last["modified"]) == (1401.5, 20, True)
    assert history[4]["price"] == 1400.0  # the old terms until the exchange takes the change
    assert last["order_timestamp"] == "2026-11-27 11:03:00"
    assert [u["status"] for u in eng.drain_updates()] == ["UPDATE"]


def test_a_modification_that_crosses_the_market_fills_at_once() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0), NOW)["order_id"]
    eng.modify_order("regular", oid, {"price": "1500"}, NOW)
    assert current(eng, oid)["status"] == "COMPLETE"


def test_the_twenty_sixth_modification_is_refused() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0), NOW)["order_id"]
    for i in range(25):
        eng.modify_order("regular", oid, {"price": str(1400.0 + (i + 1) * 0.05)}, NOW)
    with pytest.raises(RejectionError) as err:
        eng.modify_order("regular", oid, {"price": "1300"}, NOW)
    assert (err.value.error_type, err.value.status) == (ErrorType.INPUT, 400)
    assert "Maximum allowed order modifications" in err.value.message


def test_a_resting_order_with_disclosed_quantity_fills_at_most_that_much_per_quote() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    params = order(INFY, "BUY", 100, price=1499.0, product="CNC", disclosed_quantity=20)
    oid = eng.place_order("regular", params, NOW)["order_id"]
    eng.on_quotes([infy(1498.5, at(1), size=500)], at(1))
    assert current(eng, oid, at(1))["filled_quantity"] == 20
    eng.on_quotes([infy(1498.6, at(2), size=500)], at(2))
    assert current(eng, oid, at(2))["filled_quantity"] == 40


def test_a_quote_received_in_an_earlier_session_never_fills_an_order() -> None:
    thursday = at(-24 * 60)
    eng = engine(thursday)
    eng.on_quotes([infy(when=thursday)], thursday)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0, product="CNC"), NOW)["order_id"]
    eng.modify_order("regular", oid, {"price": "1600"}, NOW)  # crosses Thursday's book, which is gone
    assert current(eng, oid)["status"] == "OPEN"
    eng.on_quotes([infy(when=thursday)], at(1))  # the same numbers, received now: a live book
    assert current(eng, oid, at(1))["status"] == "COMPLETE"


def test_orders_still_open_at_the_close_are_cancelled() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    oid = eng.place_order("regular", order(INFY, "BUY", 10, price=1400.0, product="CNC"), NOW)["order_id"]
    close = NOW.replace(hour=15, minute=30)
    assert current(eng, oid, close.replace(minute=29))["status"] == "OPEN"
    assert current(eng, oid, close)["status"] == "CANCELLED"
    assert eng.order_history(oid, close)[-1]["exchange_update_timestamp"] == "2026-11-27 15:30:00"


def test_intraday_positions_and_orders_are_squared_off_at_the_cut_off() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    eng.place_order("regular", order(INFY, "BUY", 30, "MARKET"), NOW)
    pending = eng.place_order("regular", order(INFY, "SELL", 30, price=1600.0), NOW)["order_id"]
    eng.on_quotes([infy(1510.0, at(60))], at(60))
    cutoff = NOW.replace(hour=15, minute=20)
    net = eng.positions(cutoff)["net"][0]
    assert (net["quantity"], net["realised"]) == (0, pytest.approx(30 * 10.0))
    assert current(eng, pending, cutoff)["status"] == "CANCELLED"
    squareoff = eng.orders(cutoff)[-1]
    assert (squareoff["transaction_type"], squareoff["status"]) == ("SELL", "COMPLETE")
    assert squareoff["average_price"] == 1510.0


def test_every_order_of_an_account_gets_its_own_guid_in_kites_shape_and_the_same_one_again() -> None:
    ids = Ids(seed=7)
    order_ids = [ids.order_id(NOW) for _ in range(20_000)]
    guids = [ids.guid(oid) for oid in order_ids]
    assert len(set(guids)) == len(guids)
    assert all(re.fullmatch(r"\d{5}X[0-9a-f]{10}", g) for g in guids)
    assert [Ids(seed=7).guid(oid) for oid in order_ids[:100]] == guids[:100]
    assert Ids(seed=8).guid(order_ids[0]) != guids[0]  # accounts of one simulator differ


def _new_order() -> Order:
    return Order("2611270000000000001", Variety.REGULAR, "NSE", "INFY", 408065, TransactionType.BUY, OrderType.LIMIT,
                 Product.MIS, Validity.DAY, 5, 1500.0, 0.0, NOW, tag="t1", tags=("t1",), meta={"a": 1})  # fmt: skip


def test_states_noted_as_a_status_alone_read_as_full_states_each_its_own_dict_whichever_is_read_first() -> None:
    noted, full = _new_order(), _new_order()
    noted.enter(OrderStatus.PUT_ORDER_REQ_RECEIVED, NOW)
    noted.pass_to(OrderStatus.VALIDATION_PENDING)
    noted.pass_to(OrderStatus.OPEN_PENDING)
    for status in (OrderStatus.PUT_ORDER_REQ_RECEIVED, OrderStatus.VALIDATION_PENDING, OrderStatus.OPEN_PENDING):
        full.enter(status, NOW)
    for each in (noted, full):
        each.exchange_order_id = "1000000000000001"
        each.enter(OrderStatus.OPEN, NOW)
    assert noted.status is OrderStatus.OPEN and len(noted.history) == 4
    assert noted.history[2] == full.history[2]  # a later state read first builds the ones before it too
    assert list(noted.history) == list(full.history)
    assert [h["status"] for h in noted.history] == [*OPENING, "OPEN"]
    assert noted.history[1]["meta"] is not noted.history[0]["meta"]  # nothing mutable shared between states
    assert noted.history[1]["tags"] is not noted.history[0]["tags"]


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(-(10**15), 10**15).map(lambda n: n / 1e6),
        st.tuples(st.integers(1, 10**6), st.integers(1, 5000), st.integers(1, 10**6), st.integers(0, 5000)).map(
            lambda t: (t[0] * 0.05 * t[1] + t[2] * 0.05 * t[3]) / (t[1] + t[3])
        ),
    )
)
def test_round6_is_round_to_six_decimals_exactly(value: float) -> None:
    # A fill's average price goes through round6, a faster round(value, 6): it must be the very same float.
    expected = round(value, 6)
    got = round6(value)
    assert got == expected or (math.isnan(got) and math.isnan(expected))
    assert math.copysign(1.0, got) == math.copysign(1.0, expected)


def test_an_orders_guid_is_its_ids_guid_whether_read_first_as_a_field_a_dict_or_a_saved_state() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    oids = [eng.place_order("regular", order(INFY, "BUY", 5, "LIMIT", 1500.0), NOW)["order_id"] for _ in range(3)]
    expected = {oid: Ids(seed=eng._flow.account.ids.seed).guid(oid) for oid in oids}
    assert len(set(expected.values())) == 3
    flow = eng._flow
    assert flow.get(oids[0]).guid == expected[oids[0]]  # each read first another way: a field,
    assert eng.order_history(oids[1], NOW)[0]["guid"] == expected[oids[1]]  # a state as Kite's dict,
    state = eng.to_state()  # a saved state
    assert {oid: state["account"]["orders"][oid]["guid"] for oid in oids} == expected
    assert {o["order_id"]: o["guid"] for o in eng.orders(NOW)} == expected
    again = Engine.from_state(state, flow.resolve)
    assert {oid: again._flow.get(oid).guid for oid in oids} == expected
    assert again.to_state() == state


def test_an_order_copied_or_pickled_keeps_its_states_and_guid_read_or_not() -> None:
    eng = engine()
    eng.on_quotes([infy(1500.0)], NOW)
    placed = [eng.place_order("regular", order(INFY, "BUY", 5, "LIMIT", 1500.0), NOW) for _ in range(2)]
    read, unread = (p["order_id"] for p in placed)
    assert eng.order_history(read, NOW)[-1]["status"] == "COMPLETE"  # built into dicts, its guid made
    for oid in (read, unread):
        original = eng._flow.get(oid)
        for copied in (copy.copy(original), copy.deepcopy(original), pickle.loads(pickle.dumps(original))):  # noqa: S301 # our own bytes
            assert copied == original
            assert copied.guid == Ids(seed=eng._flow.account.ids.seed).guid(oid)
            assert list(copied.history) == list(original.history)
