"""The official SDK, unmodified, calls every method of ``KiteConnect`` against the simulator and gets Kite's shapes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.sim.config import SimConfig
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer
from tests.exchange_helpers import MONDAY_OPEN, auth, book, nifty_option
from tests.shapes import (
    AUCTION,
    CHARGES,
    CONTRACT_NOTE,
    GTT,
    GTT_ORDER,
    HOLDING,
    MARGIN,
    MARGIN_SEGMENT,
    MF_HOLDING,
    MF_INSTRUMENT,
    MF_ORDER,
    MF_SIP,
    MF_SIP_INFO,
    ORDER,
    POSITION,
    PROFILE,
    QUOTE,
    TRADE,
    TRIGGER_RANGE,
    as_parsed,
    assert_shape,
)

SDK_ORDER = as_parsed(ORDER)
SDK_TRADE = as_parsed(TRADE, keep=frozenset({"order_timestamp"}))  # HH:MM:SS stays a string


class Recorder:
    """The SDK client, remembering which of its methods were used."""

    def __init__(self, kite: KiteConnect) -> None:
        self.kite = kite
        self.called: set[str] = set()

    def __getattr__(self, name: str) -> Any:
        self.called.add(name)
        return getattr(self.kite, name)


@pytest.fixture
def sim_config() -> SimConfig:
    return SimConfig(rate_limit_enabled=False, refresh_tokens=True)


def _market(sim: SimServer, clock: ManualClock) -> dict[str, Any]:
    return book(sim.sim.market, "NSE:INFY", clock.now())


def _orders(k: Recorder, sim: SimServer, clock: ManualClock) -> None:
    infy = _market(sim, clock)
    filled = k.place_order("regular", "NSE", "INFY", "BUY", 10, "MIS", "LIMIT", price=infy["ask"][0], tag="sdk1")
    assert isinstance(filled, str) and filled.isdigit()
    resting = k.place_order("regular", "NSE", "INFY", "BUY", 5, "MIS", "LIMIT", price=infy["bid"][0] - 5)
    assert k.modify_order("regular", resting, price=infy["bid"][0] - 6) == resting
    assert k.cancel_order("regular", resting) == resting
    for order in k.orders():
        assert_shape(order, SDK_ORDER)
    states = k.order_history(filled)
    assert [s["status"] for s in states][-1] == "COMPLETE" and states[-1]["tags"] == ["sdk1"]
    for state in states:
        assert_shape(state, SDK_ORDER)
    (trade,) = k.order_trades(filled)
    assert_shape(trade, SDK_TRADE)
    assert [t["trade_id"] for t in k.trades()] == [trade["trade_id"]]

    # A cover order: the entry fills, its stop-loss leg waits, and exit_order sends it at market.
    entry = k.place_order(
        "co", "NSE", "INFY", "BUY", 2, "MIS", "LIMIT", price=infy["ask"][0], trigger_price=infy["bid"][0] - 10
    )
    leg = next(o for o in k.orders() if o["parent_order_id"] == entry)
    assert leg["status"] == "TRIGGER PENDING" and leg["product"] == "CO"
    assert k.exit_order("co", leg["order_id"], parent_order_id=entry) == leg["order_id"]
    assert next(o for o in k.orders() if o["order_id"] == leg["order_id"])["status"] == "COMPLETE"

    # Autoslice: a NIFTY call above NSE's 1800-unit freeze limit goes in whole-lot slices of 1755.
    option = nifty_option(sim.sim.market, clock.now(), 2.0, 60.0)
    sliced = k.place_autoslice_order("regular", "NFO", option, "BUY", 65 * 30, "NRML", "MARKET", market_protection=-1)
    assert set(sliced) == {"order_id", "children"} and len(sliced["children"]) == 2
    assert all(set(child) == {"order_id"} for child in sliced["children"])


def _portfolio(k: Recorder) -> None:
    positions = k.positions()
    assert set(positions) == {"net", "day"}
    for item in positions["net"] + positions["day"]:
        assert_shape(item, POSITION)
    holdings = k.holdings()
    assert {h["tradingsymbol"] for h in holdings} >= {"RELIANCE", "INFY"}
    for item in holdings:
        assert_shape(item, HOLDING)
    for item in k.get_auction_instruments():
        assert_shape(item, AUCTION)
    assert k.convert_position("NSE", "INFY", "BUY", "day", 10, "MIS", "CNC") is True
    assert any(p["product"] == "CNC" and p["quantity"] == 10 for p in k.positions()["net"])
    margins = k.margins()
    assert_shape(margins, {"equity": MARGIN_SEGMENT, "commodity": MARGIN_SEGMENT})
    assert margins["equity"]["utilised"]["delivery"] > 0  # the CNC position now blocks its value
    assert_shape(k.margins("commodity"), MARGIN_SEGMENT)


def _gtt(k: Recorder, ltp: float) -> None:
    above = round(ltp * 1.2, 1)
    leg = {"transaction_type": "SELL", "quantity": 1, "order_type": "LIMIT", "product": "CNC", "price": above}
    placed = k.place_gtt("single", "INFY", "NSE", [above], ltp, [leg])
    tid = placed["trigger_id"]
    assert isinstance(tid, int)
    below = round(ltp * 0.8, 1)
    legs = [{**leg, "price": below}, {**leg, "price": above}]
    assert k.modify_gtt(tid, "two-leg", "INFY", "NSE", [below, above], ltp, legs) == {"trigger_id": tid}
    trigger = k.get_gtt(tid)
    assert_shape(trigger, GTT)
    for order in trigger["orders"]:
        assert_shape(order, GTT_ORDER)
    assert [g["id"] for g in k.get_gtts()] == [tid]
    assert k.delete_gtt(tid) == {"trigger_id": tid}
    assert k.get_gtt(tid)["status"] == "deleted"


def _calculators(k: Recorder, ask: float) -> None:
    item = {
        "exchange": "NSE",
        "tradingsymbol": "INFY",
        "transaction_type": "BUY",
        "variety": "regular",
        "product": "MIS",
        "order_type": "LIMIT",
        "quantity": 10,
        "price": ask,
        "trigger_price": 0,
    }
    (block,) = k.order_margins([item])
    assert_shape(block, MARGIN)
    basket = k.basket_order_margins([item, {**item, "transaction_type": "SELL"}])
    assert_shape(basket, {"initial": MARGIN, "final": MARGIN, "orders": [MARGIN, MARGIN], "charges": CHARGES})
    compact = k.basket_order_margins([item], consider_positions=False, mode="compact")
    assert set(compact) == {"initial", "final", "orders", "charges"} and set(compact["initial"]) == {"total"}
    (note,) = k.get_virtual_contract_note([{**item, "order_id": "1", "average_price": ask}])
    assert_shape(note, CONTRACT_NOTE)


def _market_data(k: Recorder) -> None:
    assert_shape(k.profile(), PROFILE)
    assert_shape(k.quote("NSE:INFY")["NSE:INFY"], as_parsed(QUOTE))
    assert set(k.ohlc("NSE:INFY")["NSE:INFY"]) == {"instrument_token", "last_price", "ohlc"}
    assert set(k.ltp("NSE:INFY")["NSE:INFY"]) == {"instrument_token", "last_price"}
    rows = k.instruments("CDS")
    assert rows and all(row["exchange"] == "CDS" for row in rows)
    candles = k.historical_data(408065, "2026-11-27", "2026-11-27", "day")
    assert set(candles[0]) == {"date", "open", "high", "low", "close", "volume"}
    ranges = k.trigger_range("BUY", "NSE:INFY", "NSE:RELIANCE")
    assert set(ranges) == {"NSE:INFY", "NSE:RELIANCE"}
    for item in ranges.values():
        assert_shape(item, TRIGGER_RANGE)
        assert item["lower"] < item["upper"]


def _mutual_funds(k: Recorder, sim: SimServer, clock: ManualClock) -> None:
    funds = k.mf_instruments()
    for row in funds:
        assert_shape(row, MF_INSTRUMENT)
    fund = funds[0]["tradingsymbol"]
    bought = k.place_mf_order(fund, "BUY", amount=5000, tag="mf1")["order_id"]
    dropped = k.place_mf_order(fund, "BUY", amount=1000)["order_id"]
    assert k.cancel_mf_order(dropped) == {"order_id": dropped}
    assert_shape(k.mf_orders(bought), as_parsed(MF_ORDER))
    for order in k.mf_orders():
        assert_shape(order, as_parsed(MF_ORDER))
    sip = k.place_mf_sip(fund, 1000, 12, "monthly", initial_amount=2000, instalment_day=5, tag="sip1")["sip_id"]
    assert k.modify_mf_sip(sip, amount=1500, instalments=24) == {"sip_id": sip}
    assert_shape(k.mf_sips(sip), as_parsed(MF_SIP_INFO))
    for item in k.mf_sips():
        assert_shape(item, as_parsed(MF_SIP))
    assert k.cancel_mf_sip(sip) == {"sip_id": sip}
    assert k.mf_holdings() == []
    # Allotment comes at the next session's open, at the previous trading day's NAV.
    clock.set(MONDAY_OPEN + dt.timedelta(minutes=1))
    login_via_redirect(sim, k.kite)  # the Friday token expired at 06:00
    (holding,) = k.mf_holdings()
    assert_shape(holding, MF_HOLDING)
    assert holding["tradingsymbol"] == fund and holding["quantity"] > 0
    assert k.mf_orders(bought)["status"] == "COMPLETE"


def _sessions(k: Recorder, sim: SimServer, session: dict[str, Any]) -> None:
    renewed = k.renew_access_token(session["refresh_token"], sim.sim.config.api_secret)
    assert renewed["access_token"] == k.kite.access_token
    assert k.invalidate_refresh_token(session["refresh_token"]) is True
    assert k.invalidate_access_token() is True
    r = requests.get(f"{sim.url}/orders", headers=auth(k.kite), timeout=5)
    assert r.status_code == 403 and r.json()["error_type"] == "TokenException"


def test_the_official_sdk_calls_every_method_of_kiteconnect_and_gets_kites_shapes(
    sim: SimServer, sim_clock: ManualClock
) -> None:
    k = Recorder(KiteConnect(sim.sim.config.api_key, root=sim.url))
    session = login_via_redirect(sim, k)
    k.set_session_expiry_hook(lambda: None)
    assert k.login_url().startswith("https://kite.zerodha.com/connect/login")
    infy = _market(sim, sim_clock)
    _market_data(k)
    _orders(k, sim, sim_clock)
    _portfolio(k)
    _gtt(k, infy["ltp"])
    _calculators(k, infy["ask"][0])
    _mutual_funds(k, sim, sim_clock)
    assert session["refresh_token"]
    _sessions(k, sim, login_via_redirect(sim, k.kite))
    k.set_access_token("")
    methods = {n for n in dir(KiteConnect) if not n.startswith("_") and callable(getattr(KiteConnect, n))}
    assert methods - k.called == set()


@pytest.mark.parametrize("route", sorted(set(KiteConnect._routes.values())))
def test_every_route_of_the_sdks_table_is_served(sim: SimServer, sim_kite: KiteConnect, route: str) -> None:
    path = route.format(
        segment="equity",
        order_id="1",
        variety="regular",
        sip_id="1",
        exchange="NSE",
        instrument_token="408065",
        interval="day",
        transaction_type="buy",
        trigger_id="1",
    )
    methods = ("GET", "POST", "PUT", "DELETE")
    answers = [requests.request(m, f"{sim.url}{path}", headers=auth(sim_kite), timeout=30) for m in methods]
    # Every route answers at least one method with something other than "Route not found" / "Method not allowed".
    assert any(r.status_code not in (404, 405) for r in answers), route
    assert all(r.status_code < 500 or r.status_code == 502 for r in answers), route
