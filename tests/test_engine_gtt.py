"""GTT triggers: placing, firing real orders on price moves, one-cancels-other, expiry, modify, delete."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from kitekit.wire.envelope import ErrorType, RejectionError
from tests.engine_helpers import INFY, NOW, at, engine, infy


def _gtt(kind: str, values: list[float], orders: list[dict[str, Any]], last: float = 1500.0) -> dict[str, Any]:
    # The SDK sends condition and orders as JSON text.
    condition = {"exchange": "NSE", "tradingsymbol": "INFY", "trigger_values": values, "last_price": last}
    return {"type": kind, "condition": json.dumps(condition), "orders": json.dumps(orders)}


def _leg(side: str, price: float, qty: int = 5, product: str = "CNC") -> dict[str, Any]:
    return {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": side,
        "quantity": qty,
        "order_type": "LIMIT",
        "product": product,
        "price": price,
    }


def test_a_single_trigger_fires_a_real_order_when_the_price_reaches_it_and_records_the_result() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    trigger_id = eng.place_gtt(_gtt("single", [1450.0], [_leg("BUY", 1451.0)]), NOW)["trigger_id"]
    assert isinstance(trigger_id, int)
    eng.on_quotes([infy(1460.0, at(1))], at(1))
    assert eng.gtt(trigger_id, at(1))["status"] == "active"
    eng.on_quotes([infy(1449.0, at(2))], at(2))
    fired = eng.gtt(trigger_id, at(2))
    assert fired["status"] == "triggered"
    result = fired["orders"][0]["result"]
    assert (result["triggered_at"], result["timestamp"]) == (1449.0, "2026-11-27 11:02:00")
    order_id = result["order_result"]["order_id"]
    assert result["order_result"] == {"status": "success", "order_id": order_id, "rejection_reason": ""}
    (placed,) = eng.orders(at(2))
    assert (placed["order_id"], placed["price"], placed["status"]) == (order_id, 1451.0, "COMPLETE")


def test_a_two_leg_trigger_fires_only_the_leg_the_price_reaches() -> None:
    eng = engine()
    eng.add_holding("NSE", "INFY", 5, 1200.0, NOW)
    eng.on_quotes([infy()], NOW)
    params = _gtt("two-leg", [1400.0, 1600.0], [_leg("SELL", 1399.0), _leg("SELL", 1601.0)])
    trigger_id = eng.place_gtt(params, NOW)["trigger_id"]
    eng.on_quotes([infy(1605.0, at(1))], at(1))
    stop_loss, target = eng.gtt(trigger_id, at(1))["orders"]
    assert stop_loss["result"] is None
    assert target["result"]["triggered_at"] == 1605.0
    eng.on_quotes([infy(1390.0, at(2))], at(2))  # the other leg is gone with the first
    assert len(eng.orders(at(2))) == 1


def test_a_gtt_ignores_prices_outside_market_hours() -> None:
    evening = NOW.replace(hour=18)
    eng = engine()
    eng.on_quotes([infy()], NOW)
    trigger_id = eng.place_gtt(_gtt("single", [1450.0], [_leg("BUY", 1451.0)]), NOW)["trigger_id"]
    eng.on_quotes([infy(1440.0, evening)], evening)
    assert eng.gtt(trigger_id, evening)["status"] == "active"


def test_a_gtt_whose_order_is_refused_records_the_reason() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    trigger_id = eng.place_gtt(_gtt("single", [1450.0], [_leg("BUY", 1451.03)]), NOW)["trigger_id"]
    eng.on_quotes([infy(1449.0, at(1))], at(1))
    fired = eng.gtt(trigger_id, at(1))
    assert fired["status"] == "rejected"
    outcome = fired["orders"][0]["result"]["order_result"]
    assert outcome["status"] == "failed" and "Tick size" in outcome["rejection_reason"]


def test_a_gtt_expires_a_year_after_it_was_placed() -> None:
    eng = engine()
    trigger_id = eng.place_gtt(_gtt("single", [1450.0], [_leg("BUY", 1451.0)]), NOW)["trigger_id"]
    placed = eng.gtt(trigger_id, NOW)
    assert (placed["created_at"], placed["expires_at"]) == ("2026-11-27 11:00:00", "2027-11-27 11:00:00")
    later = NOW + timedelta(days=366)
    assert eng.gtt(trigger_id, later)["status"] == "expired"


def test_a_gtt_can_be_modified_and_deleted_while_active_but_not_after() -> None:
    eng = engine()
    trigger_id = eng.place_gtt(_gtt("single", [1450.0], [_leg("BUY", 1451.0)]), NOW)["trigger_id"]
    eng.modify_gtt(trigger_id, _gtt("single", [1440.0], [_leg("BUY", 1441.0, qty=7)]), at(1))
    changed = eng.gtt(trigger_id, at(1))
    assert changed["condition"]["trigger_values"] == [1440.0] and changed["orders"][0]["quantity"] == 7
    assert changed["created_at"] == "2026-11-27 11:00:00" and changed["updated_at"] == "2026-11-27 11:01:00"
    assert eng.delete_gtt(trigger_id, at(2)) == {"trigger_id": trigger_id}
    assert eng.gtts(at(2))[0]["status"] == "deleted"
    with pytest.raises(RejectionError, match="deleted"):
        eng.modify_gtt(trigger_id, _gtt("single", [1440.0], [_leg("BUY", 1441.0)]), at(3))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (_gtt("single", [1450.0, 1460.0], [_leg("BUY", 1451.0)]), "exactly 1 trigger value"),
        (_gtt("two-leg", [1450.0], [_leg("BUY", 1451.0)]), "exactly 2 trigger value"),
        (_gtt("two-leg", [1550.0, 1600.0], [_leg("SELL", 1.0), _leg("SELL", 2.0)]), "lower value below"),
        (_gtt("single", [1450.0], [_leg("BUY", 1451.0), _leg("BUY", 1452.0)]), "exactly 1 order"),
        ({**_gtt("single", [1450.0], [_leg("BUY", 1451.0)]), "type": "oco"}, "Invalid `type`"),
        ({**_gtt("single", [1450.0], []), "orders": "not json"}, "must be JSON"),
    ],
)
def test_a_malformed_gtt_is_a_400_input_exception(params: dict[str, Any], message: str) -> None:
    eng = engine()
    with pytest.raises(RejectionError) as err:
        eng.place_gtt(params, NOW)
    assert (err.value.error_type, err.value.status) == (ErrorType.INPUT, 400)
    assert message in err.value.message


def test_a_gtt_object_has_kites_shape() -> None:
    eng = engine()
    trigger_id = eng.place_gtt(_gtt("single", [1450.0], [_leg("BUY", 1451.0)]), NOW)["trigger_id"]
    gtt = eng.gtt(trigger_id, NOW)
    assert set(gtt) == {
        "id",
        "user_id",
        "parent_trigger",
        "type",
        "created_at",
        "updated_at",
        "expires_at",
        "status",
        "condition",
        "orders",
        "meta",
    }
    assert gtt["condition"]["instrument_token"] == INFY.instrument_token
    assert len(gtt["updated_at"]) == 19 and isinstance(gtt["id"], int)
