"""The simulator's alerts API (``/alerts``): Kite's shapes, its refusals, and alerts fired by the market.

The official Python SDK has no alerts methods, so these tests send the routes as the Go SDK does, with the
official client's session (its api_key and access_token). The day is the plugin's: Friday 2026-11-27, 11:00 IST.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import requests
from kiteconnect import KiteConnect

from kitekit.clock import ManualClock
from kitekit.engine.path import MINUTE, Candle
from kitekit.sim.config import SimConfig
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import SIM_NOW, login_via_redirect
from kitekit.sim.server import SimServer
from kitekit.wire.alerts import FIRED_REASON, MAX_ALERTS
from kitekit.wire.auth import authorization
from kitekit.wire.history import Interval
from tests.shapes import NUM, Maybe, assert_shape

#: kiteconnect-mocks' alerts_get_one.json, key for key and type for type (``basket`` on ato alerts only).
ALERT = {
    "type": str,
    "user_id": str,
    "uuid": str,
    "name": str,
    "status": str,
    "disabled_reason": str,
    "lhs_attribute": str,
    "lhs_exchange": str,
    "lhs_tradingsymbol": str,
    "operator": str,
    "rhs_type": str,
    "rhs_attribute": str,
    "rhs_exchange": str,
    "rhs_tradingsymbol": str,
    "rhs_constant": NUM,
    "alert_count": int,
    "created_at": str,
    "updated_at": str,
    "basket": Maybe(dict),
}
#: The Go SDK's AlertHistoryMeta.
META = {
    "instrument_token": int,
    "tradingsymbol": str,
    "timestamp": str,
    "last_price": NUM,
    "ohlc": {"open": NUM, "high": NUM, "low": NUM, "close": NUM},
    "net_change": NUM,
    "exchange": str,
    "last_trade_time": str,
    "last_quantity": int,
    "buy_quantity": int,
    "sell_quantity": int,
    "volume": int,
    "volume_tick": int,
    "average_price": NUM,
    "oi": int,
    "oi_day_high": int,
    "oi_day_low": int,
    "lower_circuit_limit": NUM,
    "upper_circuit_limit": NUM,
}


class Api:
    """Kite's alerts routes sent with an official client's session, answers as JSON."""

    def __init__(self, server: SimServer, kite: KiteConnect) -> None:
        self.url = server.url
        self.headers = {"X-Kite-Version": "3", "Authorization": authorization(kite.api_key, kite.access_token)}

    def __call__(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        answer = requests.request(method, self.url + path, headers=self.headers, timeout=10, **kwargs)
        return answer.status_code, answer.json()

    def create(self, **form: Any) -> dict[str, Any]:
        status, body = self("POST", "/alerts", data=form)
        assert status == 200, body
        data: dict[str, Any] = body["data"]
        return data

    def get(self, uuid: str) -> dict[str, Any]:
        status, body = self("GET", f"/alerts/{uuid}")
        assert status == 200, body
        data: dict[str, Any] = body["data"]
        return data


def ltp_form(key: str, operator: str, level: float, **extra: Any) -> dict[str, Any]:
    exchange, symbol = key.split(":", 1)
    return {
        "name": f"{symbol} {operator} {level}",
        "type": "simple",
        "lhs_exchange": exchange,
        "lhs_tradingsymbol": symbol,
        "lhs_attribute": "LastTradedPrice",
        "operator": operator,
        "rhs_type": "constant",
        "rhs_constant": str(level),
        **extra,
    }


def basket(*items: tuple[str, str, int]) -> str:
    """Return an ATO basket (JSON text) of MARKET CNC orders: (``EXCHANGE:SYMBOL``, side, quantity) each."""
    orders = []
    for key, side, quantity in items:
        exchange, symbol = key.split(":", 1)
        params = {"transaction_type": side, "product": "CNC", "order_type": "MARKET", "validity": "DAY",
                  "quantity": quantity, "price": 0, "trigger_price": 0, "variety": "regular"}  # fmt: skip
        orders.append({"type": "insert", "tradingsymbol": symbol, "exchange": exchange, "weight": 0, "params": params})
    return json.dumps({"name": "alerts-basket", "type": "alert", "tags": [], "items": orders})


@pytest.fixture
def api(sim: SimServer, sim_kite: KiteConnect, unlimited: SimConfig) -> Api:
    return Api(sim, sim_kite)


def step(sim: SimServer, clock: ManualClock, seconds: float = 1.0) -> None:
    """Move the market on and let the exchange catch up with it at once (what its pump does in the background)."""
    clock.advance(timedelta(seconds=seconds))
    sim.sim.exchange.tick()


def test_a_simple_alert_has_the_shape_of_kites_mock_and_reads_back_the_same(api: Api, sim_kite: KiteConnect) -> None:
    made = api.create(**ltp_form("INDICES:NIFTY 50", ">=", 27000))
    assert_shape(made, ALERT)
    assert made["rhs_constant"] == 27000 and type(made["rhs_constant"]) is int  # 27000 as the mock writes it
    assert (made["type"], made["status"], made["alert_count"], made["disabled_reason"]) == ("simple", "enabled", 0, "")
    assert (made["user_id"], made["created_at"]) == ("KK1234", "2026-11-27 11:00:00")
    assert api.get(made["uuid"]) == made
    status, body = api("GET", "/alerts")
    assert status == 200 and body["data"] == [made]


def test_modify_replaces_the_whole_alert_and_delete_takes_several_at_once(api: Api) -> None:
    first = api.create(**ltp_form("NSE:INFY", "<=", 1000.5))
    second = api.create(**ltp_form("NSE:TCS", ">=", 9000))
    status, body = api("PUT", f"/alerts/{first['uuid']}", data=ltp_form("NSE:INFY", "<", 999, name="changed"))
    assert status == 200, body
    changed = body["data"]
    assert (changed["uuid"], changed["name"], changed["operator"], changed["rhs_constant"]) == (
        first["uuid"], "changed", "<", 999)  # fmt: skip
    status, body = api("GET", "/alerts")
    assert [a["uuid"] for a in body["data"]] == [second["uuid"], first["uuid"]]  # newest first
    status, body = api("DELETE", "/alerts", params=[("uuid", first["uuid"]), ("uuid", second["uuid"])])
    assert (status, body) == (200, {"status": "success", "data": None})
    status, body = api("GET", f"/alerts/{first['uuid']}")
    assert status == 400 and body["error_type"] == "InputException" and "not found" in body["message"]
    assert api("GET", "/alerts")[1]["data"] == []


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"lhs_tradingsymbol": "NOSUCHSTOCK"}, "NSE:NOSUCHSTOCK is not a known instrument"),
        ({"operator": "!="}, "Invalid `operator`"),
        ({"lhs_attribute": "Momentum"}, "Invalid `lhs_attribute`"),
        ({"rhs_constant": "1e3"}, "Invalid `rhs_constant`"),
        ({"rhs_constant": ""}, "Missing `rhs_constant`"),
        ({"type": "ato"}, "Missing `basket`"),
        ({"basket": '{"items": []}'}, "a simple alert takes no basket"),
        ({"lhs_exchange": "NYSE"}, "Invalid `lhs_exchange`"),
        ({"name": ""}, "Missing `name`"),
        ({"rhs_type": "instrument"}, "Missing `rhs_exchange`"),
    ],
)
def test_a_malformed_alert_is_refused_with_an_input_exception_naming_the_field(
    api: Api, change: dict[str, str], words: str
) -> None:
    status, body = api("POST", "/alerts", data={**ltp_form("NSE:INFY", ">=", 2000), **change})
    assert status == 400 and body["error_type"] == "InputException", body
    assert words in body["message"]
    assert api("GET", "/alerts")[1]["data"] == []


def test_an_ato_basket_is_checked_item_by_item(api: Api) -> None:
    bad = json.loads(basket(("NSE:INFY", "BUY", 1)))
    bad["items"][0]["params"]["quantity"] = 0
    form = ltp_form("NSE:INFY", ">=", 2000, type="ato", basket=json.dumps(bad))
    status, body = api("POST", "/alerts", data=form)
    assert status == 400 and "`quantity` must be a whole number above 0" in body["message"]
    form["basket"] = basket(("NSE:NOSUCHSTOCK", "BUY", 1))
    status, body = api("POST", "/alerts", data=form)
    assert status == 400 and "NSE:NOSUCHSTOCK is not a known instrument" in body["message"]


def test_a_user_holds_at_most_200_alerts_disabled_ones_included(api: Api) -> None:
    for i in range(MAX_ALERTS):
        api.create(**ltp_form("NSE:INFY", ">=", 5000 + i))
    status, body = api("POST", "/alerts", data=ltp_form("NSE:INFY", ">=", 9999))
    assert status == 400 and body["error_type"] == "InputException" and "at most 200 alerts" in body["message"]
    uuid = api("GET", "/alerts")[1]["data"][0]["uuid"]
    api("DELETE", "/alerts", params={"uuid": uuid})
    api.create(**ltp_form("NSE:INFY", ">=", 9999))


def test_an_alert_fires_once_when_the_market_meets_it_and_records_the_market(
    api: Api, sim: SimServer, sim_clock: ManualClock, sim_kite: KiteConnect
) -> None:
    ltp = sim_kite.ltp("NSE:NIFTY 50")["NSE:NIFTY 50"]["last_price"]
    met = api.create(**ltp_form("INDICES:NIFTY 50", "<=", round(ltp * 1.5)))
    unmet = api.create(**ltp_form("INDICES:NIFTY 50", ">=", round(ltp * 1.5)))
    step(sim, sim_clock)
    fired = api.get(met["uuid"])
    assert (fired["status"], fired["disabled_reason"], fired["alert_count"]) == ("disabled", FIRED_REASON, 1)
    assert fired["updated_at"] == "2026-11-27 11:00:01"
    assert api.get(unmet["uuid"])["status"] == "enabled"
    status, body = api("GET", f"/alerts/{met['uuid']}/history")
    assert status == 200 and len(body["data"]) == 1
    entry = body["data"][0]
    assert entry["condition"] == f'LastTradedPrice("INDICES:NIFTY 50") <= {round(ltp * 1.5)}'
    assert (entry["uuid"], entry["type"], entry["created_at"], entry["order_meta"]) == (
        met["uuid"], "simple", "2026-11-27 11:00:01", None)  # fmt: skip
    assert_shape(entry["meta"][0], META)
    assert entry["meta"][0]["instrument_token"] == 256265 and entry["meta"][0]["exchange"] == "INDICES"
    step(sim, sim_clock)
    assert api.get(met["uuid"])["alert_count"] == 1  # once: it waits to be enabled again
    assert api("GET", "/alerts", params={"status": "enabled"})[1]["data"] == [api.get(unmet["uuid"])]
    api("PUT", f"/alerts/{met['uuid']}", data=ltp_form("INDICES:NIFTY 50", "<=", round(ltp * 1.5)))
    step(sim, sim_clock)
    assert api.get(met["uuid"])["alert_count"] == 2


def test_an_alert_compares_two_instruments_and_any_listed_attribute(
    api: Api, sim: SimServer, sim_clock: ManualClock
) -> None:
    def pair(operator: str) -> dict[str, Any]:
        return api.create(
            name=f"high {operator} low", type="simple", lhs_exchange="NSE", lhs_tradingsymbol="INFY",
            lhs_attribute="HighPrice", operator=operator, rhs_type="instrument", rhs_exchange="NSE",
            rhs_tradingsymbol="INFY", rhs_attribute="LowPrice",
        )  # fmt: skip

    holds, never = pair(">="), pair("<")
    assert never["rhs_constant"] == 0 and never["rhs_tradingsymbol"] == "INFY"
    step(sim, sim_clock)
    assert api.get(holds["uuid"])["status"] == "disabled" and api.get(never["uuid"])["status"] == "enabled"
    entry = api("GET", f"/alerts/{holds['uuid']}/history")[1]["data"][0]
    assert entry["condition"] == 'HighPrice("NSE:INFY") >= LowPrice("NSE:INFY")' and len(entry["meta"]) == 2


def test_an_ato_alert_places_its_basket_through_the_exchange_when_it_fires(
    api: Api, sim: SimServer, sim_clock: ManualClock, sim_kite: KiteConnect
) -> None:
    ltp = sim_kite.ltp("NSE:INFY")["NSE:INFY"]["last_price"]
    form = ltp_form("NSE:INFY", "<=", round(ltp * 2), type="ato", basket=basket(("NSE:INFY", "BUY", 3)))
    made = api.create(**form)
    assert_shape(made, ALERT)
    assert made["basket"]["items"][0]["tradingsymbol"] == "INFY"
    assert sim_kite.orders() == []
    step(sim, sim_clock)
    entry = api("GET", f"/alerts/{made['uuid']}/history")[1]["data"][0]
    [placed] = entry["order_meta"]
    assert placed["status"] == "success" and placed["tradingsymbol"] == "INFY"
    [order] = sim_kite.orders()
    assert (order["order_id"], order["status"], order["filled_quantity"]) == (placed["order_id"], "COMPLETE", 3)


def test_a_basket_order_the_exchange_refuses_is_recorded_and_the_others_still_go(
    api: Api, sim: SimServer, sim_clock: ManualClock, sim_kite: KiteConnect
) -> None:
    orders = json.loads(basket(("NSE:INFY", "BUY", 1), ("NSE:INFY", "BUY", 1)))
    orders["items"][0]["params"].update(order_type="LIMIT", price=0)  # a LIMIT without a price: refused
    made = api.create(**ltp_form("NSE:INFY", ">=", 1, type="ato", basket=json.dumps(orders)))
    step(sim, sim_clock)
    refused, placed = api("GET", f"/alerts/{made['uuid']}/history")[1]["data"][0]["order_meta"]
    assert refused["status"] == "failed" and refused["error"]["error_type"] == "InputException"
    assert placed["status"] == "success" and [o["order_id"] for o in sim_kite.orders()] == [placed["order_id"]]


def test_a_price_crossed_while_nothing_ran_fires_on_the_markets_path(
    api: Api, sim: SimServer, sim_clock: ManualClock, sim_market: Market
) -> None:
    """Across a gap, a level the market reached and left again fires the alert, at the minute it was reached."""
    gap = timedelta(minutes=40)
    uni = sim_market.universe(SIM_NOW)
    row = uni.by_key["NSE:INFY"]
    start = float(sim_market.last_prices(uni, np.array([row]), SIM_NOW)[0])
    final = float(sim_market.last_prices(uni, np.array([row]), SIM_NOW + gap)[0])
    candles = [Candle.from_kite(c) for c in sim_market.candles(uni, row, Interval.MINUTE, SIM_NOW, SIM_NOW + gap,
                                                                 SIM_NOW + gap)]  # fmt: skip
    peak = max(c.high for c in candles[1:])
    assert peak > final + 1, "the seed's path must rise above where it ends"
    level = round((peak + final) / 2, 2)
    # The first minute that reached the level (the first one only from where the gap began).
    reached = next(c for i, c in enumerate(candles) if (max(start, c.close) if i == 0 else c.high) >= level)
    made = api.create(**ltp_form("NSE:INFY", ">=", level))
    step(sim, sim_clock, gap.total_seconds())
    fired = api.get(made["uuid"])
    assert fired["status"] == "disabled", f"the path reached {peak} before {SIM_NOW + gap}, above {level}"
    entry = api("GET", f"/alerts/{made['uuid']}/history")[1]["data"][0]
    assert entry["created_at"] == (reached.start + MINUTE - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    assert entry["meta"][0]["last_price"] == level


def test_alerts_are_kept_with_the_account_and_a_restart_after_hours_fires_none(
    tmp_path: Path, sim_clock: ManualClock, sim_market: Market
) -> None:
    """The simulator restarted at 16:00 judges nothing on the closing price: alerts wait for the next session."""
    config = SimConfig(rate_limit_enabled=False, state_file=tmp_path / "state.json")
    sim_clock.set(SIM_NOW.replace(hour=16))
    with SimServer(config, sim_clock, market=sim_market) as first:
        kite = KiteConnect(config.api_key, root=first.url)
        login_via_redirect(first, kite)
        made = Api(first, kite).create(**ltp_form("NSE:INFY", ">=", 1))
    assert "alerts" in json.loads((tmp_path / "exchange-KK1234.json").read_text())
    with SimServer(config, sim_clock, market=sim_market) as second:
        step(second, sim_clock, 60)
        assert Api(second, kite).get(made["uuid"]) == made
        sim_clock.set(SIM_NOW.replace(day=30, hour=9, minute=15, second=1))  # Monday's open (the token has expired)
        second.sim.exchange.tick()
        alert = second.sim.exchange.run_alerts("KK1234", lambda book, now: book.get(made["uuid"]), mutates=False)
        assert alert["status"] == "disabled"
