"""A typed request sent again is judged again wherever its verdict could change.

``Engine.submit`` remembers a request object that passed the place rules (a strategy sends the same few over
and over) and skips re-checking it; these tests send one object again across what the verdict depends on:
the day (a rule that starts on a date), the instrument (a new lot size), the market hours, and a refusal.
Friday 2026-11-27 mid-session (``tests/engine_helpers.py``).
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime

import pytest

from kitekit.clock import IST
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, PlaceRequest
from kitekit.engine.validation import MARKET_CLOSED, PROTECTION_REQUIRED
from kitekit.wire.envelope import RejectionError
from kitekit.wire.order_terms import OrderLimits
from kitekit.wire.orders import OrderType, Product, TransactionType, Variety
from tests.engine_helpers import INFY, MONDAY_OPEN, NOW, engine, infy


def _limit(quantity: int = 10) -> PlaceRequest:
    return PlaceRequest(
        Variety.REGULAR, "NSE", "INFY", TransactionType.BUY, OrderType.LIMIT, Product.MIS, quantity, 1499.0
    )


def test_a_rule_that_starts_on_a_day_meets_a_request_passed_the_day_before() -> None:
    eng = engine(limits=OrderLimits(protection_required_from=date(2026, 11, 30)))
    eng.on_quotes([infy()], NOW)
    unprotected = PlaceRequest(Variety.REGULAR, "NSE", "INFY", TransactionType.BUY, OrderType.MARKET, Product.MIS, 1)
    assert eng.submit(unprotected, NOW)["order_id"]
    with pytest.raises(RejectionError) as refused:
        eng.submit(unprotected, MONDAY_OPEN)
    assert refused.value.message == PROTECTION_REQUIRED


def test_a_new_lot_size_meets_a_request_passed_before() -> None:
    specs: dict[tuple[str, str], InstrumentSpec] = {("NSE", "INFY"): INFY}
    eng = Engine(lambda exchange, symbol: specs.get((exchange, symbol)), NOW, EngineConfig())
    eng.on_quotes([infy()], NOW)
    request = _limit(10)
    assert eng.submit(request, NOW)["order_id"]
    specs[("NSE", "INFY")] = dataclasses.replace(INFY, lot_size=3)
    with pytest.raises(RejectionError, match="multiple of the lot size"):
        eng.submit(request, NOW)


def test_the_market_hours_meet_a_request_passed_while_open() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    request = _limit()
    assert eng.submit(request, NOW)["order_id"]
    with pytest.raises(RejectionError) as refused:
        eng.submit(request, datetime(2026, 11, 27, 16, 0, tzinfo=IST))
    assert refused.value.message == MARKET_CLOSED


def test_a_refused_request_is_refused_every_time() -> None:
    eng = engine()
    off_tick = dataclasses.replace(_limit(), price=1499.01)
    for _ in range(2):
        with pytest.raises(RejectionError, match="Tick size"):
            eng.submit(off_tick, NOW)
    assert eng.orders(NOW) == []


def test_a_request_sent_again_places_an_order_each_time() -> None:
    eng = engine()
    eng.on_quotes([infy()], NOW)
    request = _limit()
    ids = {eng.submit(request, NOW)["order_id"] for _ in range(3)}
    assert len(ids) == 3
    assert [o["quantity"] for o in eng.orders(NOW)] == [10, 10, 10]
