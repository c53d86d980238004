"""The Upstox simulator's WebSockets through the SDK's own streamers (pointed at it by kitekit.sim.upstox.sdk).

Runs at ``SIM_NOW`` (Friday 2026-11-27, 11:00 IST, mid-session). Waiting is on conditions, never on sleeps.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
import upstox_client
import websocket

from kitekit.sim.upstox import UpstoxServer
from kitekit.sim.upstox.sdk import SimMarketDataStreamerV3, SimPortfolioDataStreamer
from kitekit.wire.upstox.feed import decode_feed
from kitekit.wire.upstox.stream import Method, Mode, build_request
from tests.conftest import eventually
from tests.upstox_helpers import API_VERSION, sdk_login

NIFTY = "NSE_INDEX|Nifty 50"


def _binary(frame: str | bytes) -> bytes:
    assert isinstance(frame, bytes), "the market feed sends binary frames"
    return frame


def _reliance(server: UpstoxServer) -> str:
    listing = server.sim.listing()
    return listing.keys[listing.universe.resolve("NSE:RELIANCE") or 0]


def test_market_streamer_gets_market_info_then_protobuf_feeds(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    upstox_sim.sim.config.feed_interval_s = 0.1
    reliance = _reliance(upstox_sim)
    messages: list[dict[str, Any]] = []
    streamer = SimMarketDataStreamerV3(client, [NIFTY], "ltpc", ws_root=upstox_sim.ws_url)
    streamer.on("message", messages.append)
    opened = threading.Event()
    streamer.on("open", opened.set)
    streamer.connect()
    try:
        assert opened.wait(10)
        streamer.subscribe([reliance], "full")
        eventually(lambda: any(reliance in m.get("feeds", {}) and m.get("type") == "live_feed" for m in messages))
        assert messages[0]["type"] == "market_info"
        assert messages[0]["marketInfo"]["segmentStatus"]["NSE_EQ"] == "NORMAL_OPEN"
        live = next(m for m in messages if m.get("type") == "live_feed" and reliance in m["feeds"])
        full = live["feeds"][reliance]["fullFeed"]["marketFF"]
        assert len(full["marketLevel"]["bidAskQuote"]) == 5 and full["ltpc"]["ltp"] > 0
        assert live["feeds"][NIFTY]["ltpc"]["ltp"] > 0
    finally:
        streamer.disconnect()


def test_market_feed_authorize_gives_a_single_use_url(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    answer = upstox_client.WebsocketApi(client).get_market_data_feed_authorize_v3()
    url = answer.data.authorized_redirect_uri
    ws = websocket.create_connection(url, timeout=10)
    try:
        first = decode_feed(_binary(ws.recv()))
        assert first["type"] == "market_info"
        ws.send(build_request("g1", Method.SUB, [NIFTY], Mode.LTPC), opcode=websocket.ABNF.OPCODE_BINARY)
        initial = decode_feed(_binary(ws.recv()))
        assert initial["type"] == "initial_feed" and initial["feeds"][NIFTY]["ltpc"]["ltp"] > 0
    finally:
        ws.close()
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(url, timeout=10)
    assert refused.value.status_code == 401


def test_a_subscription_over_the_key_limit_closes_the_connection(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    url = upstox_client.WebsocketApi(client).get_market_data_feed_authorize_v3().data.authorized_redirect_uri
    ws = websocket.create_connection(url, timeout=10)
    try:
        ws.recv()
        keys = [f"NSE_FO|{n}" for n in range(2001)]  # full mode alone: 2,000 keys at most
        ws.send(build_request("g2", Method.SUB, keys, Mode.FULL), opcode=websocket.ABNF.OPCODE_BINARY)
        frame = ws.recv_data_frame(True)[1]
        assert frame.opcode == websocket.ABNF.OPCODE_CLOSE
        assert int.from_bytes(frame.data[:2], "big") == 1008
    finally:
        ws.shutdown()  # type: ignore[no-untyped-call]  # the server closed first: drop the socket, no handshake


def test_portfolio_streamer_gets_order_updates(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    messages: list[str] = []
    streamer = SimPortfolioDataStreamer(client, ws_root=upstox_sim.ws_url, order_update=True)
    streamer.on("message", messages.append)
    opened = threading.Event()
    streamer.on("open", opened.set)
    streamer.connect()
    try:
        assert opened.wait(10)
        body = upstox_client.PlaceOrderRequest(
            quantity=1,
            product="I",
            validity="DAY",
            price=0.0,
            instrument_token=_reliance(upstox_sim),
            order_type="MARKET",
            transaction_type="BUY",
            disclosed_quantity=0,
            trigger_price=0.0,
            is_amo=False,
        )
        order_id = upstox_client.OrderApi(client).place_order(body, API_VERSION).data.order_id
        eventually(lambda: any(order_id in m and '"complete"' in m for m in messages))
        assert '"update_type":"order"' in messages[-1].replace(" ", "")
    finally:
        streamer.disconnect()


def test_the_portfolio_authorize_route_names_the_update_types(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    token = client.configuration.access_token
    r = requests.get(
        f"{upstox_sim.url}/v2/feed/portfolio-stream-feed/authorize",
        params={"update_types": "order,position"},
        headers={"Authorization": f"Bearer {token}", "Api-Version": API_VERSION},
        timeout=10,
    )
    assert r.json()["data"]["authorizedRedirectUri"].endswith("update_types=order,position")
