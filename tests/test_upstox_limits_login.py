"""The Upstox simulator's v3 token request (webhook), rate limits, and answers to malformed input (never a 500).

Runs at ``SIM_NOW`` (Friday 2026-11-27, 11:00 IST).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests
import upstox_client

from kitekit.sim.upstox import UpstoxServer
from kitekit.sim.upstox.sdk import sim_configuration
from kitekit.wire.upstox.errors import decode_errors
from tests.conftest import eventually
from tests.upstox_helpers import API_VERSION, sdk_login


def test_an_approved_token_request_posts_the_token_to_the_webhook(upstox_sim: UpstoxServer) -> None:
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        config = upstox_sim.sim.config
        config.notifier_url = f"http://127.0.0.1:{hook.server_port}/hook"
        login = upstox_client.LoginApi(upstox_client.ApiClient(sim_configuration(upstox_sim.url)))
        body = upstox_client.IndieUserTokenRequest(client_secret=config.client_secret)
        answer = login.init_token_request_for_indie_user(body, config.client_id)
        assert answer.status == "success" and answer.data.notifier_url == config.notifier_url
        assert received == []  # nothing until the user approves
        assert upstox_sim.sim.approve_token_request()
        eventually(lambda: received)
        token = received[0]["access_token"]
        assert received[0]["message_type"] == "access_token" and received[0]["user_id"] == config.shared.user_id
        client = upstox_client.ApiClient(sim_configuration(upstox_sim.url, token))
        assert upstox_client.UserApi(client).get_profile(API_VERSION).status == "success"
    finally:
        hook.shutdown()
        hook.server_close()


def test_a_wrong_client_secret_is_refused(upstox_sim: UpstoxServer) -> None:
    login = upstox_client.LoginApi(upstox_client.ApiClient(sim_configuration(upstox_sim.url)))
    body = upstox_client.IndieUserTokenRequest(client_secret="wrong")
    with pytest.raises(upstox_client.rest.ApiException) as caught:
        login.init_token_request_for_indie_user(body, upstox_sim.sim.config.client_id)
    assert caught.value.status == 400


def test_over_50_requests_a_second_answer_429_udapi10005(upstox_sim: UpstoxServer) -> None:
    client, _ = sdk_login(upstox_sim)
    headers = {"Authorization": f"Bearer {client.configuration.access_token}", "Api-Version": API_VERSION}
    with requests.Session() as http:
        codes = [
            http.get(f"{upstox_sim.url}/v2/user/profile", headers=headers, timeout=10).status_code for _ in range(60)
        ]
        last = http.get(f"{upstox_sim.url}/v2/user/profile", headers=headers, timeout=10)
    assert 429 in codes or last.status_code == 429
    assert codes[:50] == [200] * 50
    refused = next(c for c in [*codes, last.status_code] if c == 429)
    assert refused == 429
    upstox_sim.sim.limiter.reset()
    r = requests.get(f"{upstox_sim.url}/v2/user/profile", headers=headers, timeout=10)
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v2/order/place", "not json"),
        ("POST", "/v2/order/place", "[]"),
        ("POST", "/v2/order/place", '{"instrument_token": 5}'),
        ("POST", "/v3/order/place", '{"instrument_token": "NSE_EQ|INE00018A016", "quantity": "x"}'),
        (
            "PUT",
            "/v2/order/modify",
            '{"order_id": "nope", "validity": "DAY", "price": 1, "order_type": "LIMIT", "trigger_price": 0}',
        ),
        ("DELETE", "/v3/order/cancel", ""),
        ("POST", "/v2/order/multi/place", '{"a": 1}'),
        ("POST", "/v2/order/multi/place", '[{"correlation_id": "x"}, 7]'),
        ("GET", "/v2/market-quote/quotes?symbol=%FF%FE", ""),
        ("GET", "/v2/market-quote/ohlc?symbol=NSE_FO|1&interval=5d", ""),
        ("GET", "/v3/historical-candle/NSE_FO|1/minutes/0/2026-11-26", ""),
        ("GET", "/v3/historical-candle/NSE_EQ|INE00018A016/days/1/2026-13-01", ""),
        ("GET", "/v2/historical-candle/NSE_EQ|INE00018A016/day/2026-11-01/2026-11-26", ""),
        ("GET", "/v2/user/get-funds-and-margin?segment=XYZ", ""),
        ("GET", "/v2/order/history", ""),
        ("GET", "/v2/nothing-here", ""),
        ("PATCH", "/v2/user/profile", ""),
    ],
)
def test_malformed_requests_get_upstox_errors_never_a_500(
    upstox_sim: UpstoxServer, method: str, path: str, body: str
) -> None:
    client, _ = sdk_login(upstox_sim)
    headers = {
        "Authorization": f"Bearer {client.configuration.access_token}",
        "Api-Version": API_VERSION,
        "Content-Type": "application/json",
    }
    r = requests.request(method, f"{upstox_sim.url}{path}", data=body.encode(), headers=headers, timeout=10)
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["status"] == "error" and decode_errors(r.content)[0].error_code.startswith("UDAPI")
