"""The Angel simulator's WebSocket 2.0 and order-update stream, with the official SDK's sockets (a subclass
pointing them here: ``kitekit.sim.angel.sdk``) and a plain WebSocket client for what the SDK cannot send."""

from __future__ import annotations

import contextlib
import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kitekit.clock import ManualClock
from kitekit.sim.angel.server import AngelSimServer
from kitekit.wire.angel.stream import PACKET_SIZE, StreamMode, decode
from kitekit.wire.angel.stream_messages import request_text
from tests.angel_helpers import SDK_WARNINGS, smart_connect
from tests.conftest import eventually
from tests.test_angel_wire_stream import same_as_sdk

pytestmark = SDK_WARNINGS

RELIANCE, INFY = "2885", "1594"


@pytest.fixture
def login(smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock) -> dict[str, str]:
    angel_sim.angel.config.rate_limit_enabled = False
    client, session = smart_connect(smartapi, angel_sim, sim_clock)
    data = session["data"]
    return {
        "auth_token": data["jwtToken"],
        "api_key": angel_sim.angel.config.api_key,
        "client_code": data["clientcode"],
        "feed_token": data["feedToken"],
        "client": client,
    }


def headers(login: dict[str, Any], **changes: str) -> dict[str, str]:
    given = {
        "Authorization": login["auth_token"],
        "x-api-key": login["api_key"],
        "x-client-code": login["client_code"],
        "x-feed-token": login["feed_token"],
    }
    return given | changes


def run_in_thread(target: Any) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_every_packet_the_simulator_sends_decodes_alike_in_the_sdk_and_in_kitekit(
    smartapi: dict[str, Any], angel_sim: AngelSimServer, sim_clock: ManualClock, login: dict[str, Any]
) -> None:
    from kitekit.sim.angel.sdk import SimSmartWebSocketV2

    sent: list[bytes] = []
    angel_sim.angel.stream.tap = sent.append
    parsed: list[dict[str, Any]] = []
    creds = {k: login[k] for k in ("auth_token", "api_key", "client_code", "feed_token")}
    sws = SimSmartWebSocketV2(angel_sim.ws_url, **creds, max_retry_attempt=0)

    def on_open(wsapp: Any) -> None:
        for mode in (1, 2, 3, 4):
            sws.subscribe(f"c{mode}", mode, [{"exchangeType": 1, "tokens": [RELIANCE, INFY, "99926000"]}])
        sws.subscribe("fo", 3, [{"exchangeType": 3, "tokens": ["500325"]}])

    sws.on_open = on_open
    sws.on_data = lambda wsapp, data: parsed.append(data)
    thread = run_in_thread(sws.connect)
    try:
        eventually(lambda: len(parsed) >= 13)
        for _ in range(3):  # three more market seconds: a packet of every subscription each
            sim_clock.advance(timedelta(seconds=1))
            want = len(parsed) + 13
            eventually(lambda want=want: len(parsed) >= want)  # type: ignore[misc]
    finally:
        sws.close_connection()
        # The SDK's connect() returns up to one ping interval (10 s) after close_connection(): websocket-client's
        # dispatcher waits out its select() timeout; the simulator has closed its side by then.
        thread.join(30)
    assert not thread.is_alive()
    assert len(sent) == len(parsed) >= 52
    modes = {StreamMode(p[0]) for p in sent}
    assert modes == set(StreamMode)
    for data, sdk_dict in zip(sent, parsed, strict=True):
        assert len(data) == PACKET_SIZE[StreamMode(data[0])]
        same_as_sdk(decode(data), sdk_dict)
    snap = next(decode(p) for p in sent if p[0] == 3 and decode(p).token == RELIANCE)
    assert len(snap.best_five_buy) == len(snap.best_five_sell) == 5
    assert snap.best_five_buy[0].price < snap.best_five_sell[0].price


def test_quote_packets_carry_the_rest_quotes_numbers(angel_sim: AngelSimServer, login: dict[str, Any]) -> None:
    full = login["client"].getMarketData("FULL", {"NSE": [RELIANCE]})["data"]["fetched"][0]
    with connect(angel_sim.stream_url, additional_headers=headers(login)) as ws:
        ws.send(request_text(1, 3, [{"exchangeType": 1, "tokens": [RELIANCE]}], "q1"))
        tick = decode(ws.recv(timeout=10))  # type: ignore[arg-type]
    assert tick.last_traded_price == round(full["ltp"] * 100)
    assert tick.volume == full["tradeVolume"]
    assert tick.week52_high == round(full["52WeekHigh"] * 100)
    assert [lvl.price for lvl in tick.best_five_buy] == [round(d["price"] * 100) for d in full["depth"]["buy"]]


def test_ping_is_answered_pong_and_bad_requests_get_angels_error_text(
    angel_sim: AngelSimServer, login: dict[str, Any]
) -> None:
    with connect(angel_sim.stream_url, additional_headers=headers(login)) as ws:
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"
        ws.send("{not json")
        assert json.loads(ws.recv(timeout=10))["errorCode"] == "E1001"
        ws.send(request_text(1, 4, [{"exchangeType": 2, "tokens": ["35001"]}], "depthfo"))
        refused = json.loads(ws.recv(timeout=10))
        assert (refused["correlationID"], refused["errorCode"]) == ("depthfo", "E1001")
        ws.send(request_text(1, 1, [{"exchangeType": 1, "tokens": [str(n) for n in range(1001)]}], "many"))
        assert json.loads(ws.recv(timeout=10))["errorCode"] == "E1002"
        ws.send(request_text(0, 1, [{"exchangeType": 1, "tokens": ["99"]}], "none"))  # ignored, no answer
        ws.send("ping")
        assert ws.recv(timeout=10) == "pong"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"x-feed-token": "wrong"}, "Invalid Feed Token"),
        ({"Authorization": "Bearer eyJ.x.y"}, "Invalid Auth token"),
        ({"x-client-code": ""}, "Invalid Client Code"),
    ],
)
def test_a_bad_handshake_header_is_refused_with_401_and_the_reason(
    angel_sim: AngelSimServer, login: dict[str, Any], change: dict[str, str], reason: str
) -> None:
    with pytest.raises(InvalidStatus) as refused:
        connect(angel_sim.stream_url, additional_headers=headers(login, **change))
    assert refused.value.response.status_code == 401
    assert refused.value.response.headers["x-error-message"] == reason


def test_a_client_code_holds_three_connections_at_most(angel_sim: AngelSimServer, login: dict[str, Any]) -> None:
    with contextlib.ExitStack() as held:
        for _ in range(3):
            held.enter_context(connect(angel_sim.stream_url, additional_headers=headers(login)))
        with pytest.raises(InvalidStatus) as refused:
            connect(angel_sim.stream_url, additional_headers=headers(login))
        assert refused.value.response.status_code == 429


def test_the_order_update_stream_greets_then_reports_each_order(
    smartapi: dict[str, Any], angel_sim: AngelSimServer, login: dict[str, Any]
) -> None:
    from kitekit.sim.angel.sdk import SimSmartWebSocketOrderUpdate

    got: list[dict[str, Any]] = []
    creds = {k: login[k] for k in ("auth_token", "api_key", "client_code", "feed_token")}
    stream = SimSmartWebSocketOrderUpdate(angel_sim.ws_url, **creds)
    stream.on_message = lambda wsapp, message: got.append(json.loads(message))
    thread = run_in_thread(stream.connect)
    try:
        eventually(lambda: got)
        order = {
            "variety": "NORMAL",
            "tradingsymbol": "INFY-EQ",
            "symboltoken": INFY,
            "transactiontype": "BUY",
            "exchange": "NSE",
            "ordertype": "MARKET",
            "producttype": "INTRADAY",
            "duration": "DAY",
            "quantity": "1",
        }
        order_id = login["client"].placeOrder(order)
        eventually(lambda: any(m["orderData"].get("status") == "complete" for m in got))
    finally:
        stream.close_connection()
        thread.join(30)
    assert got[0]["order-status"] == "AB00"
    done = next(m for m in got if m["orderData"].get("status") == "complete")
    assert (done["order-status"], done["orderData"]["orderid"]) == ("AB05", order_id)
