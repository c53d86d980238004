"""Both brokers are one OrderGateway: GTTs, slices, typed reads; and every Kite error has a meaning for orders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import exceptions as kex

from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore
from kitekit.orders import (
    GttOrder,
    GttRequest,
    LiveBroker,
    OrderGateway,
    OrderRequest,
    PaperBroker,
    TransactionType,
    nearest_tick,
)
from kitekit.orders.outcomes import ON_ERROR, Outcome, outcome_of
from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer
from kitekit.wire.envelope import ErrorType
from kitekit.wire.orders import GttStatus, GttType
from tests.orders_helpers import advancing, client


@pytest.fixture(params=["on_paper", "on_the_simulators_exchange"])
def gateway(
    request: pytest.FixtureRequest, unlimited: SimConfig, sim: SimServer, sim_instruments: InstrumentStore,
    sim_clock: ManualClock, tmp_path: Path,
) -> OrderGateway:  # fmt: skip
    kite = client(sim)
    if request.param == "on_paper":
        return PaperBroker(kite, sim_instruments, folder=tmp_path / "paper", clock=sim_clock)
    return LiveBroker(kite, sim_instruments, folder=tmp_path / "orders", clock=sim_clock, sleep=advancing(sim_clock))


def test_both_brokers_are_order_gateways_and_say_which_they_are(gateway: OrderGateway) -> None:
    assert isinstance(gateway, OrderGateway)
    assert gateway.paper is isinstance(gateway, PaperBroker)
    assert gateway.margins().equity.net > 0 and isinstance(gateway.holdings(), list)


def test_a_gtt_trigger_is_placed_listed_changed_and_deleted(gateway: OrderGateway) -> None:
    price = _last(gateway)
    below = nearest_tick(price * 0.9, 0.05)
    order = GttOrder(TransactionType.BUY, 1, below)
    trigger = GttRequest(GttType.SINGLE, "NSE", "INFY", (below,), price, (order,))
    trigger_id = gateway.place_gtt(trigger)
    [listed] = [g for g in gateway.gtts() if g.id == trigger_id]
    assert (listed.status, listed.trigger_values) == (GttStatus.ACTIVE, (below,))
    lower = nearest_tick(price * 0.85, 0.05)
    moved = GttRequest(GttType.SINGLE, "NSE", "INFY", (lower,), price, (GttOrder(TransactionType.BUY, 1, lower),))
    assert gateway.modify_gtt(trigger_id, moved) == trigger_id
    assert next(g for g in gateway.gtts() if g.id == trigger_id).trigger_values == (lower,)
    assert gateway.delete_gtt(trigger_id) == trigger_id
    assert next(g for g in gateway.gtts() if g.id == trigger_id).status == GttStatus.DELETED


def _last(gateway: OrderGateway) -> float:
    assert isinstance(gateway, LiveBroker | PaperBroker)
    kite = gateway.kite if isinstance(gateway, LiveBroker) else gateway.source
    return float(kite.quote("NSE:INFY")["NSE:INFY"]["last_price"])


def test_an_order_above_the_freeze_quantity_goes_in_slices_once(gateway: OrderGateway) -> None:
    request = OrderRequest.buy("NFO:NIFTY26DECFUT", 65 * 30)
    first = gateway.place_sliced(request, "big")
    assert [p.intent_id for p in first] == ["big-s1", "big-s2"]
    assert [gateway.order(p.order_id).quantity for p in first] == [1755, 195]
    again = gateway.place_sliced(request, "big")
    assert [p.order_id for p in again] == [p.order_id for p in first] and all(p.replayed for p in again)


def test_every_kite_error_type_has_a_meaning_for_an_order_request() -> None:
    assert set(ON_ERROR) == set(ErrorType)
    assert outcome_of(kex.InputException("bad", code=400)) is Outcome.REFUSED
    assert outcome_of(kex.GeneralException("Insufficient funds", code=400)) is Outcome.REFUSED  # MarginException
    assert outcome_of(kex.TokenException("expired", code=403)) is Outcome.NOT_SENT
    assert outcome_of(kex.NetworkException("Too many requests", code=429)) is Outcome.ANSWERED
    assert outcome_of(kex.OrderException("OMS error", code=500)) is Outcome.ANSWERED
    assert outcome_of(kex.DataException("Unknown Content-Type", code=502)) is Outcome.ANSWERED
    assert outcome_of(requests.ReadTimeout()) is Outcome.SILENT
    assert outcome_of(requests.ConnectionError()) is Outcome.SILENT
    assert outcome_of(ValueError()) is None


def test_both_brokers_give_a_fills_charges_and_an_orders_margin_as_kites_calculators_do(
    gateway: OrderGateway,
) -> None:
    assert isinstance(gateway, LiveBroker | PaperBroker)
    # Kite's own calculators on the simulator, to compare with: the client both brokers were given.
    kite: Any = gateway.kite if isinstance(gateway, LiveBroker) else gateway.source
    request = OrderRequest.buy("NSE:INFY", 7)
    placed = gateway.place(request, "costs1")
    order = gateway.order(placed.order_id)
    assert order.filled_quantity == 7 and order.average_price > 0
    [charges] = gateway.charges([order])
    [note] = kite.get_virtual_contract_note([order.contract_note_item()])
    assert charges.total == pytest.approx(note["charges"]["total"]) and charges.total > 0
    parts = charges.brokerage + charges.transaction_tax + charges.exchange_turnover_charge
    parts += charges.sebi_turnover_charge + charges.stamp_duty + charges.gst
    assert charges.transaction_tax_type == "stt" and parts == pytest.approx(charges.total)
    checked = gateway.check(request.replace(quantity=5))
    [block] = kite.order_margins([checked.margin_item()])
    assert gateway.margin_required(checked) == pytest.approx(block["total"]) and block["total"] > 0
    assert gateway.charges([]) == []
