"""Kite's order rules of 2026, each refused by the simulator as Kite refuses it and pre-empted by kitekit's client.

Market protection on MARKET and SL-M orders, autoslice parents and their limit of 10 slices, the 2026 order
book fields, the exchanges' limit-price bands and the static-IP rule: the unmodified official SDK meets each
refusal (its exception class, status and message, or a REJECTED order's status message), and kitekit's
pre-trade check refuses the same request before sending it, naming the rule and the nearest valid value.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kex

from kitekit.clock import ManualClock
from kitekit.engine.validation import PROTECTION_REQUIRED
from kitekit.errors import OrderValidationError
from kitekit.instruments import InstrumentStore
from kitekit.orders import LiveBroker, LookupPolicy, OrderRequest, PreTradeRules
from kitekit.orders.rules import nearest_tick
from kitekit.rest.pacer import Pacer
from kitekit.rest.transport import install_transport
from kitekit.sim.config import SimConfig
from kitekit.sim.market import ContractKind, Market
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.price_bands import band_range
from tests.conftest import eventually
from tests.exchange_helpers import auth, book, nifty_option, path
from tests.orders_helpers import advancing, client, sent


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(rate_limit_enabled=False)


@pytest.fixture
def live(sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path) -> LiveBroker:
    return LiveBroker(client(sim), sim_instruments, folder=tmp_path / "orders", clock=sim_clock,
                      lookup=LookupPolicy(settle=1.0, looks=2), sleep=advancing(sim_clock))  # fmt: skip


def _refused(call: Any) -> tuple[type, int, str]:
    with pytest.raises(kex.KiteException) as err:
        call()
    return type(err.value), err.value.code, str(err.value)


def _market(kite: KiteConnect, **terms: Any) -> str:
    params: dict[str, Any] = {"quantity": 1, "product": "MIS", "order_type": "MARKET", **terms}
    order_id: str = kite.place_order("regular", "NSE", "INFY", "BUY", **params)
    return order_id


def _future(market: Market, now: datetime, name: str) -> str:
    """Return the tradingsymbol of ``name``'s nearest future on NFO."""
    uni = market.universe(now)
    rows = [
        i
        for i in range(len(uni))
        if uni.exchange[i] == "NFO" and uni.name[i] == name and int(uni.kind[i]) == int(ContractKind.FUT)
    ]
    return str(uni.symbol[min(rows, key=lambda i: uni.expiry[i])])


def _band(kite: KiteConnect, live: LiveBroker, key: str) -> tuple[dict[str, Any], tuple[float, float]]:
    """Return the quote of ``key`` and the band the exchange draws around its average trade price."""
    quote = kite.quote(key)[key]
    edges = band_range(live.validator.spec(key), quote["average_price"] or quote["last_price"])
    assert edges is not None
    return quote, edges


# -- market protection ----------------------------------------------------------------------------------------
def test_a_market_or_sl_m_order_without_protection_is_refused_with_kites_exact_input_exception(
    sim_kite: KiteConnect,
) -> None:
    expected = (kex.InputException, 400, PROTECTION_REQUIRED)
    assert PROTECTION_REQUIRED == (
        "Market orders without market protection are not allowed via API. Please set market protection or use a "
        "Limit order."
    )
    assert _refused(lambda: _market(sim_kite)) == expected  # absent
    assert _refused(lambda: _market(sim_kite, market_protection=0)) == expected
    assert _refused(lambda: _market(sim_kite, order_type="SL-M", trigger_price=9000.0)) == expected
    assert sim_kite.orders() == []


@pytest.mark.parametrize("value", ["abc", "2,5", "1e1", "150", "100.01", "-0.5", "-2"])
def test_a_protection_that_is_not_a_number_or_out_of_range_is_an_input_exception(
    sim_kite: KiteConnect, value: str
) -> None:
    kind, code, message = _refused(lambda: _market(sim_kite, market_protection=value))
    assert (kind, code) == (kex.InputException, 400) and "market_protection" in message


def test_a_protected_market_order_is_booked_as_a_limit_at_its_protection_price_with_kites_tags(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    infy = book(sim.sim.market, "NSE:INFY", sim_clock.now())
    order_id = _market(sim_kite, quantity=2, market_protection=2.5)  # fractions are fine
    order = sim_kite.order_history(order_id)[-1]
    cap = min(nearest_tick(infy["ltp"] * 1.025 - 0.025, 0.05), infy["upper"])  # 2.5% over, rounded down
    assert (order["order_type"], order["market_protection"]) == ("LIMIT", 0)
    assert order["price"] == pytest.approx(cap) and order["tags"] == ["mktp", "mktp:2.50"]
    assert order["status"] == "COMPLETE"
    automatic = sim_kite.order_history(_market(sim_kite, market_protection=-1))[-1]
    assert automatic["tags"] == ["mktp", "mktp:0.50"]  # a share above 500: Kite's automatic 0.5%


def test_kitekit_completes_market_protection_and_refuses_what_kite_would_naming_the_nearest_value(
    live: LiveBroker, sim: SimServer
) -> None:
    assert live.check(OrderRequest.buy("NSE:INFY", 1)).market_protection == -1  # the default
    assert live.check(OrderRequest.buy("NSE:INFY", 1, market_protection=2.5)).market_protection == 2.5
    for value, nearest in ((0, -1), (150, 100), (-0.5, -1)):
        with pytest.raises(OrderValidationError) as err:
            live.place(OrderRequest.buy("NSE:INFY", 1, market_protection=value), f"mp{nearest}")
        refusal = (err.value.rule, err.value.field, err.value.nearest)
        assert refusal == ("market_protection", "market_protection", nearest)
    with pytest.raises(ValueError, match="could not convert"):
        OrderRequest.from_kite({"exchange": "NSE", "tradingsymbol": "INFY", "transaction_type": "BUY",
                                "quantity": 1, "market_protection": "abc"})  # fmt: skip
    assert sent(sim) == 0


# -- autoslice --------------------------------------------------------------------------------------------------
def test_an_autoslice_answers_with_a_parent_id_of_its_own_and_tags_every_slice_with_it(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    option = nifty_option(sim.sim.market, sim_clock.now(), 2.0, 40.0)
    data = sim_kite.place_autoslice_order(
        "regular", "NFO", option, "BUY", 65 * 30, "NRML", "MARKET", market_protection=-1, algo_id="ALGO42"
    )
    children = [child["order_id"] for child in data["children"]]
    assert len(children) == 2 and data["order_id"] not in children
    book_ = {o["order_id"]: o for o in sim_kite.orders()}
    assert set(book_) == set(children)
    for child in children:
        assert book_[child]["tags"][:2] == ["autoslice", f"autoslice:{data['order_id']}"]
        assert book_[child]["algo_id"] == "ALGO42"
    with pytest.raises(kex.OrderException):
        sim_kite.order_history(data["order_id"])  # the parent is no order of the book


def test_an_autoslice_of_more_than_ten_slices_is_refused(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    option = nifty_option(sim.sim.market, sim_clock.now(), 0.5, 5.0)
    ten = 1755 * 10
    kind, code, message = _refused(
        lambda: sim_kite.place_autoslice_order("regular", "NFO", option, "BUY", ten + 65, "NRML", "LIMIT", price=1.0)
    )
    assert (kind, code) == (kex.InputException, 400) and "more than 10 slices" in message
    assert len(sim_kite.place_autoslice_order("regular", "NFO", option, "BUY", ten, "NRML", "LIMIT", price=0.05)[
        "children"]) == 10  # fmt: skip


def test_kitekit_slices_a_thirty_lot_order_itself_within_the_freeze_quantity(
    live: LiveBroker, sim: SimServer, sim_clock: ManualClock
) -> None:
    option = nifty_option(sim.sim.market, sim_clock.now(), 2.0, 40.0)
    placed = live.place_sliced(OrderRequest.buy(f"NFO:{option}", 65 * 30), "thirtylots")
    quantities = [live.order(p.order_id).quantity for p in placed]
    assert quantities == [1755, 195] and sent(sim) == 2


# -- the 2026 order book --------------------------------------------------------------------------------------
def test_order_objects_carry_the_2026_fields_and_whole_prices_are_json_integers(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    price = float(int(book(sim.sim.market, "NSE:INFY", sim_clock.now())["ltp"] * 0.95))
    order_id = sim_kite.place_order("regular", "NSE", "INFY", "BUY", 3, "MIS", "LIMIT", price=price)
    raw = requests.get(f"{sim.url}/orders", headers=auth(sim_kite), timeout=5).text
    (order,) = json.loads(raw)["data"]
    assert order["order_id"] == order_id
    assert (order["account_id"], order["placed_by"]) == (sim.sim.config.user_id, sim.sim.config.user_id)
    assert isinstance(order["terminal_id"], str) and order["meta_raw"] == ""
    # As Kite's mocks write them: quantities and whole prices without a fraction, others with theirs.
    for name in ("quantity", "price", "trigger_price", "average_price", "market_protection", "pending_quantity"):
        assert type(order[name]) is int, name
    assert re.search(rf'"price":{int(price)},', raw) and '"trigger_price":0,' in raw


# -- price bands ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("underlying", ["NIFTY", "RELIANCE"])
def test_a_limit_outside_a_futures_price_band_is_rejected_and_kitekit_refuses_it_first(
    sim: SimServer, live: LiveBroker, sim_clock: ManualClock, underlying: str
) -> None:
    sim_kite = live.kite  # the official client kitekit's broker uses (one login: a second ends the first)
    key = f"NFO:{_future(sim.sim.market, sim_clock.now(), underlying)}"
    quote, (_, high) = _band(sim_kite, live, key)
    lot = live.validator.spec(key).lot_size
    beyond = nearest_tick(high * 1.004 + 0.05, 0.05)  # above the band, below the circuit
    assert beyond < quote["upper_circuit_limit"]
    order_id = sim_kite.place_order("regular", "NFO", key[4:], "BUY", lot, "NRML", "LIMIT", price=beyond)
    rejected = sim_kite.order_history(order_id)[-1]
    assert rejected["status"] == "REJECTED"
    assert rejected["status_message"] == (
        f"Your order price {beyond:g} is outside the exchange's limit price protection range. Place an order "
        "closer to the market price."
    )
    with pytest.raises(OrderValidationError) as err:
        live.place(OrderRequest.buy(key, lot, price=beyond), f"band{underlying}", quote=quote)
    assert (err.value.rule, err.value.field, err.value.nearest) == ("price_band", "price", pytest.approx(high))
    assert "outside the exchange's price band" in str(err.value)
    inside = live.place(OrderRequest.buy(key, lot, price=high), f"edge{underlying}", quote=quote)
    assert live.order(inside.order_id).status != "REJECTED"


def test_an_options_band_is_twenty_rupees_up_to_fifty_and_forty_percent_above(
    sim: SimServer, live: LiveBroker, sim_clock: ManualClock
) -> None:
    sim_kite = live.kite
    cheap = f"NFO:{nifty_option(sim.sim.market, sim_clock.now(), 5.0, 30.0)}"
    dear = f"NFO:{nifty_option(sim.sim.market, sim_clock.now(), 200.0, 400.0)}"
    for key, width in ((cheap, lambda ref: 20.0), (dear, lambda ref: ref * 0.4)):
        quote, (_, high) = _band(sim_kite, live, key)
        reference = quote["average_price"] or quote["last_price"]
        assert high == pytest.approx(reference + width(reference), abs=0.05)
        order_id = sim_kite.place_order("regular", "NFO", key[4:], "BUY", 65, "NRML", "LIMIT", price=high + 0.05)
        assert sim_kite.order_history(order_id)[-1]["status"] == "REJECTED"


def test_a_stop_loss_limit_is_judged_against_the_band_when_its_stop_triggers(
    sim: SimServer, sim_kite: KiteConnect, sim_clock: ManualClock
) -> None:
    key = f"NFO:{_future(sim.sim.market, sim_clock.now(), 'NIFTY')}"
    now = sim_clock.now()
    ltp = book(sim.sim.market, key, now)["ltp"]
    when, high = max(path(sim.sim.market, key, now, 900, step=5), key=lambda point: point[1])
    assert high > ltp + 1
    trigger = nearest_tick(ltp + (high - ltp) / 2, 0.05)
    # 5% above its trigger: inside the circuit, outside the 2% band at any moment near the trigger.
    price = nearest_tick(trigger * 1.05, 0.05)
    order_id = sim_kite.place_order(
        "regular", "NFO", key[4:], "BUY", 65, "NRML", "SL", price=price, trigger_price=trigger
    )
    assert sim_kite.order_history(order_id)[-1]["status"] == "TRIGGER PENDING"  # not judged yet
    sim_clock.set(when)
    rejected = eventually(lambda: [s for s in sim_kite.order_history(order_id) if s["status"] == "REJECTED"])
    assert "outside the exchange's limit price protection range at its trigger" in rejected[-1]["status_message"]


# -- static IP --------------------------------------------------------------------------------------------------
def test_orders_from_an_address_not_registered_are_refused_while_other_routes_work(
    sim: SimServer, sim_kite: KiteConnect
) -> None:
    sim.sim.config.allowed_ips = ("203.0.113.7",)
    refusal = (kex.PermissionException, 403, "IP (127.0.0.1) is not allowed")
    assert _refused(lambda: _market(sim_kite, market_protection=-1)) == refusal
    assert _refused(lambda: sim_kite.modify_order("regular", "123", price=1)) == refusal
    assert _refused(lambda: sim_kite.cancel_order("regular", "123")) == refusal
    assert sim_kite.orders() == [] and sim_kite.profile()["user_id"] == sim.sim.config.user_id
    assert sim_kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"] > 0
    sim.sim.config.allowed_ips = ("203.0.113.7", "127.0.0.1")
    assert sim_kite.order_history(_market(sim_kite, market_protection=-1))[-1]["status"] == "COMPLETE"


def test_kitekit_refuses_an_order_that_would_leave_from_an_unregistered_address_before_sending(
    sim: SimServer, sim_instruments: InstrumentStore, sim_clock: ManualClock, tmp_path: Path
) -> None:
    sim.sim.config.allowed_ips = ("127.0.0.1",)
    kite = KiteConnect(sim.sim.config.api_key, root=sim.url)
    login_via_redirect(sim, kite)
    install_transport(kite, Pacer(None), source_address="127.0.0.2")  # a second address of this machine
    assert _refused(lambda: _market(kite, market_protection=-1)) == (
        kex.PermissionException, 403, "IP (127.0.0.2) is not allowed"
    )  # fmt: skip
    before = sent(sim)
    live = LiveBroker(kite, sim_instruments, folder=tmp_path / "o", clock=sim_clock,
                      rules=PreTradeRules(static_ips=("127.0.0.1",)))  # fmt: skip
    with pytest.raises(OrderValidationError) as err:
        live.place(OrderRequest.buy("NSE:INFY", 1), "elsewhere")
    assert (err.value.rule, err.value.field, err.value.nearest) == ("static_ip", "ip", "127.0.0.1")
    assert "leave this machine from 127.0.0.2" in str(err.value) and sent(sim) == before


def test_kitekit_learns_an_address_kite_refused_and_sends_nothing_more_from_it(
    sim: SimServer, live: LiveBroker
) -> None:
    sim.sim.config.allowed_ips = ("203.0.113.7",)
    with pytest.raises(kex.PermissionException):
        live.place(OrderRequest.buy("NSE:INFY", 1), "first")
    with pytest.raises(OrderValidationError) as err:
        live.place(OrderRequest.buy("NSE:INFY", 1), "second")
    assert err.value.rule == "static_ip" and "IP (127.0.0.1) is not allowed" in str(err.value)
    assert sent(sim) == 1
