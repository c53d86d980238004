"""The Angel simulator's REST side, driven by the unmodified official ``smartapi-python`` SDK (``root=``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
import requests

from kitekit.clock import ManualClock
from kitekit.sim.angel.server import AngelSimServer
from kitekit.wire.angel.envelope import AngelFailure, Dialect, read_body
from kitekit.wire.angel.routes import CLIENT_HEADERS, RATE_LIMITED_TEXT, Route
from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH, strike_of, tick_of
from tests.angel_helpers import SDK_WARNINGS, smart_connect, totp_now

pytestmark = SDK_WARNINGS

RELIANCE = {"exchange": "NSE", "tradingsymbol": "RELIANCE-EQ"}


def token_of(server: AngelSimServer, exchange: str, symbol: str) -> str:
    master = json.loads(requests.get(server.url + SCRIP_MASTER_PATH, timeout=30).content)
    return str(next(r["token"] for r in master if r["exch_seg"] == exchange and r["symbol"] == symbol))


@pytest.fixture
def angel(smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock) -> Any:
    angel_sim.angel.config.rate_limit_enabled = False
    client, _ = smart_connect(smartapi, angel_sim, sim_clock)
    return client


def test_login_by_pin_and_totp_gives_three_tokens_and_the_profile(
    smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock
) -> None:
    client, session = smart_connect(smartapi, angel_sim, sim_clock)
    data = session["data"]
    assert session["status"] is True
    assert data["clientcode"] == angel_sim.angel.config.client_code
    assert data["jwtToken"].startswith("Bearer ey")
    assert data["refreshToken"] and data["feedToken"]
    assert client.getfeedToken() == data["feedToken"]
    assert client.getProfile(data["refreshToken"])["data"]["exchanges"]


def test_a_wrong_pin_or_totp_is_refused_in_the_oms_dialect(
    smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock
) -> None:
    cfg = angel_sim.angel.config
    cfg.rate_limit_enabled = False  # three logins in a second: past Angel's 1/s
    client = smartapi["connect"].SmartConnect(api_key=cfg.api_key, root=angel_sim.url)
    wrong_pin = client.generateSession(cfg.client_code, "0000", totp_now(angel_sim, sim_clock))
    assert (wrong_pin["status"], wrong_pin["errorcode"]) == (False, "AB1000")
    wrong_totp = client.generateSession(cfg.client_code, cfg.pin, "000000")
    assert (wrong_totp["status"], wrong_totp["errorcode"]) == (False, "AB1050")


def test_the_jwt_expires_after_its_lifetime_and_generate_token_renews_it(
    smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock
) -> None:
    angel_sim.angel.config.rate_limit_enabled = False
    client, session = smart_connect(smartapi, angel_sim, sim_clock)
    sim_clock.advance(timedelta(seconds=angel_sim.angel.config.jwt_lifetime_s - 60))
    assert client.rmsLimit()["status"] is True
    sim_clock.advance(timedelta(seconds=120))
    expired = client.rmsLimit()
    assert (expired["success"], expired["errorCode"]) == (False, "AG8002")  # the gateway's dialect
    fresh = client.generateToken(session["data"]["refreshToken"])
    assert fresh["status"] is True
    assert client.rmsLimit()["status"] is True


def test_no_token_and_a_forged_token_are_refused_by_the_gateway(angel_sim: AngelSimServer) -> None:
    headers = {h: "x" for h in CLIENT_HEADERS}
    url = angel_sim.url + Route.RMS
    missing = requests.get(url, headers=headers, timeout=10)
    forged = requests.get(url, headers={**headers, "Authorization": "Bearer eyJ.forged.token"}, timeout=10)
    for answer, code in ((missing, "AG8003"), (forged, "AG8001")):
        failure = read_body(answer.status_code, answer.text)
        assert isinstance(failure, AngelFailure)
        assert (failure.dialect, failure.code, answer.status_code) == (Dialect.GATEWAY, code, 401)


def test_a_missing_client_header_is_refused(angel_sim: AngelSimServer) -> None:
    headers = {h: "x" for h in CLIENT_HEADERS if h != "X-PrivateKey"}
    answer = requests.post(angel_sim.url + Route.LOGIN, headers=headers, json={}, timeout=10)
    assert answer.status_code == 400
    assert "X-PrivateKey" in answer.json()["message"]


def test_the_scrip_master_writes_strikes_times_100_ticks_in_paise_and_indices_as_amxidx(
    angel_sim: AngelSimServer,
) -> None:
    master = json.loads(requests.get(angel_sim.url + SCRIP_MASTER_PATH, timeout=30).content)
    nifty = next(r for r in master if r["token"] == "99926000")
    assert (nifty["symbol"], nifty["instrumenttype"], nifty["exch_seg"]) == ("Nifty 50", "AMXIDX", "NSE")
    option = next(r for r in master if r["exch_seg"] == "NFO" and r["instrumenttype"] == "OPTIDX")
    strike = strike_of(option["strike"])
    assert strike is not None and option["symbol"].endswith(f"{int(strike)}{option['symbol'][-2:]}")
    equity = next(r for r in master if r["symbol"] == "RELIANCE-EQ")
    assert tick_of(equity["tick_size"]) == pytest.approx(0.05)
    assert all(isinstance(v, str) for v in equity.values())


def test_ltp_quote_and_candles_agree_and_unknown_tokens_come_back_unfetched(
    angel: Any, angel_sim: AngelSimServer
) -> None:
    token = token_of(angel_sim, "NSE", "RELIANCE-EQ")
    ltp = angel.ltpData("NSE", "RELIANCE-EQ", token)["data"]
    full = angel.getMarketData("FULL", {"NSE": [token, "424242"]})["data"]
    assert [f["symbolToken"] for f in full["fetched"]] == [token]
    assert full["unfetched"][0]["symbolToken"] == "424242"
    row = full["fetched"][0]
    assert row["ltp"] == ltp["ltp"] and len(row["depth"]["buy"]) == 5
    candles = angel.getCandleData(
        {
            "exchange": "NSE",
            "symboltoken": token,
            "interval": "ONE_MINUTE",
            "fromdate": "2026-11-27 09:15",
            "todate": "2026-11-27 10:59",
        }
    )["data"]
    assert candles[0][0] == "2026-11-27T09:15:00+05:30" and len(candles) == 105


def test_candles_past_the_intervals_day_cap_and_quotes_past_50_tokens_are_refused(
    angel: Any, angel_sim: AngelSimServer
) -> None:
    token = token_of(angel_sim, "NSE", "RELIANCE-EQ")
    span = {"exchange": "NSE", "symboltoken": token, "fromdate": "2026-10-01 09:15", "todate": "2026-11-27 10:00"}
    assert angel.getCandleData({**span, "interval": "ONE_MINUTE"})["status"] is False  # 57 days > 30
    assert angel.getCandleData({**span, "interval": "THREE_MINUTE"})["status"] is True  # within 60
    many = angel.getMarketData("LTP", {"NSE": [str(n) for n in range(1000, 1051)]})
    assert many["status"] is False


def test_rate_limits_answer_403_with_plain_text_which_the_sdk_cannot_parse(
    smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock
) -> None:
    client, _ = smart_connect(smartapi, angel_sim, sim_clock)
    client.orderBook()  # the order book allows one a second
    with pytest.raises(smartapi["connect"].ex.DataException, match="Couldn't parse"):
        client.orderBook()
    headers = {h: "x" for h in CLIENT_HEADERS} | {"Authorization": f"Bearer {client.access_token}"}
    answer = requests.get(angel_sim.url + Route.TRADE_BOOK, headers=headers, timeout=10)
    answer = requests.get(angel_sim.url + Route.TRADE_BOOK, headers=headers, timeout=10)
    assert (answer.status_code, answer.text) == (403, RATE_LIMITED_TEXT)


def test_orders_place_modify_cancel_and_show_in_the_books(angel: Any, angel_sim: AngelSimServer) -> None:
    token = token_of(angel_sim, "NSE", "RELIANCE-EQ")
    ltp = angel.ltpData("NSE", "RELIANCE-EQ", token)["data"]["ltp"]
    base = {
        "variety": "NORMAL",
        "tradingsymbol": "RELIANCE-EQ",
        "symboltoken": token,
        "transactiontype": "BUY",
        "exchange": "NSE",
        "producttype": "DELIVERY",
        "duration": "DAY",
    }
    resting = angel.placeOrder(
        {**base, "ordertype": "LIMIT", "price": str(round(ltp * 0.95, 1)), "quantity": "2", "ordertag": "t1"}
    )
    filled = angel.placeOrderFullResponse({**base, "ordertype": "MARKET", "price": 0, "quantity": 1})
    assert filled["data"]["uniqueorderid"] and resting.isdigit()
    modified = angel.modifyOrder(
        {**base, "orderid": resting, "ordertype": "LIMIT", "price": round(ltp * 0.93, 1), "quantity": "3"}
    )
    assert modified["status"] is True
    book = {o["orderid"]: o for o in angel.orderBook()["data"]}
    assert book[resting]["status"] == "open" and book[resting]["quantity"] == "3" and book[resting]["ordertag"] == "t1"
    assert book[filled["data"]["orderid"]]["status"] == "complete"
    assert angel.cancelOrder(resting, "NORMAL")["status"] is True
    assert {o["orderid"]: o for o in angel.orderBook()["data"]}[resting]["status"] == "cancelled"
    trades = angel.tradeBook()["data"]
    assert [t["orderid"] for t in trades] == [filled["data"]["orderid"]]
    positions = angel.position()["data"]
    assert positions[0]["tradingsymbol"] == "RELIANCE-EQ" and positions[0]["netqty"] == "1"


def test_order_refusals_name_angels_codes(angel: Any, angel_sim: AngelSimServer) -> None:
    token = token_of(angel_sim, "NSE", "RELIANCE-EQ")
    order = {
        "variety": "NORMAL",
        "tradingsymbol": "RELIANCE-EQ",
        "symboltoken": token,
        "transactiontype": "BUY",
        "exchange": "NSE",
        "ordertype": "MARKET",
        "producttype": "DELIVERY",
        "duration": "DAY",
        "quantity": "1",
    }
    cases = {
        "AB1008": {**order, "variety": "WEEKLY"},
        "AB1012": {**order, "producttype": "LEVERAGE"},
        "AB2002": {**order, "variety": "ROBO"},
        "AB1009": {**order, "symboltoken": "999999999"},
        "AB4008": {**order, "ordertag": "x" * 25},
    }
    for code, params in cases.items():
        answer = angel.placeOrderFullResponse(params)
        assert (answer["status"], answer["errorcode"]) == (False, code), code
    assert angel.cancelOrder("1234", "NORMAL")["errorcode"] == "AB1013"


def test_holdings_rms_and_gtt_rules(angel: Any, angel_sim: AngelSimServer) -> None:
    holdings = angel.holding()["data"]
    assert {h["tradingsymbol"] for h in holdings} >= {"RELIANCE-EQ", "INFY-EQ"}
    assert angel.allholding()["data"]["totalholding"]["totalinvvalue"] > 0
    assert float(angel.rmsLimit()["data"]["net"]) > 0
    token = token_of(angel_sim, "NSE", "INFY-EQ")
    ltp = angel.ltpData("NSE", "INFY-EQ", token)["data"]["ltp"]
    rule = {
        "tradingsymbol": "INFY-EQ",
        "symboltoken": token,
        "exchange": "NSE",
        "transactiontype": "BUY",
        "producttype": "DELIVERY",
        "price": round(ltp * 0.8, 1),
        "qty": 1,
        "triggerprice": round(ltp * 0.8, 1),
        "disclosedqty": 0,
        "timeperiod": 365,
    }
    rule_id = angel.gttCreateRule(rule)
    assert angel.gttDetails(rule_id)["data"]["status"] == "NEW"
    assert angel.gttModifyRule({"id": rule_id, "symboltoken": token, "exchange": "NSE", "qty": 2}) == rule_id
    assert [r["id"] for r in angel.gttLists(["NEW"], 1, 10)["data"]] == [rule_id]
    angel.gttCancelRule({"id": rule_id, "symboltoken": token, "exchange": "NSE"})
    assert angel.gttDetails(rule_id)["data"]["status"] == "CANCELLED"


def test_logout_ends_the_session(angel: Any, angel_sim: AngelSimServer) -> None:
    assert angel.terminateSession(angel_sim.angel.config.client_code)["status"] is True
    assert angel.rmsLimit()["errorCode"] == "AG8001"


def test_no_client_input_gets_a_500(angel_sim: AngelSimServer, angel: Any) -> None:
    headers = {h: "x" for h in CLIENT_HEADERS} | {"Authorization": f"Bearer {angel.access_token}"}
    bodies = [b"", b"[]", b"{", b'{"exchange": 5, "symboltoken": null}', b'{"mode": "FULL", "exchangeTokens": 3}']
    for route in Route:
        if "{" in route.value:
            continue
        for body in bodies:
            answer = requests.post(angel_sim.url + route, headers=headers, data=body, timeout=10)
            assert answer.status_code < 500, (route, body, answer.text)
