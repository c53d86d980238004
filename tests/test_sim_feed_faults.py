"""Feed faults on demand through the admin API: drop, stall, malformed frame, refusal; every bad request a 400."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from kitekit.errors import TickFrameError
from kitekit.sim.feed import MALFORMED_FRAME
from kitekit.sim.server import SimServer
from kitekit.wire.ticks import decode_ticks

from .conftest import eventually
from .stream_helpers import RELIANCE, next_frame, raw_ticker, send, ticker_url


@pytest.fixture
def token(sim_kite: KiteConnect) -> str:
    """The access token of a fresh login to the simulator."""
    return str(sim_kite.access_token)


def fault(sim: SimServer, body: Any) -> requests.Response:
    return requests.post(f"{sim.url}/__sim/feed/faults", json=body, timeout=5)


def test_drop_cuts_every_open_connection_without_a_closing_handshake(sim: SimServer, token: str) -> None:
    with raw_ticker(sim, token) as first, raw_ticker(sim, token) as second:
        eventually(lambda: len(sim.sim.feed.info()["connections"]) == 2)
        assert fault(sim, {"fault": "drop"}).json()["data"]["connections"] == 2
        for ws in (first, second):
            closed = drain_until_closed(ws)
            assert closed.rcvd is None  # no close frame: a network drop, not a goodbye
    eventually(lambda: sim.sim.feed.info()["connections"] == [])


def drain_until_closed(ws: ClientConnection) -> ConnectionClosedError:
    """Read until the connection breaks; return how."""
    for _ in range(1000):
        try:
            ws.recv(timeout=10)
        except ConnectionClosedError as exc:
            return exc
    raise AssertionError("the connection stayed open")


def test_a_stall_sends_nothing_not_even_heartbeats_until_cleared(sim: SimServer, token: str) -> None:
    with raw_ticker(sim, token) as ws:
        assert ws.recv(timeout=10) == b"\x00"
        assert fault(sim, {"fault": "stall", "seconds": 600}).json()["data"]["connections"] == 1
        with pytest.raises(TimeoutError):
            ws.recv(timeout=2.5)  # heartbeats come every idle second; a stalled link sends none
        assert sim.sim.feed.info()["connections"][0]["stalled_s"] > 500
        requests.delete(f"{sim.url}/__sim/feed/faults", timeout=5).raise_for_status()
        assert ws.recv(timeout=10) == b"\x00"


def test_a_malformed_frame_is_sent_between_good_ones(sim: SimServer, token: str) -> None:
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", [RELIANCE])
        next_frame(ws)
        fault(sim, {"fault": "malformed"}).raise_for_status()
        bad = next_frame(ws)
    assert bad == MALFORMED_FRAME
    with pytest.raises(TickFrameError, match="declares 44 bytes but only 20 remain"):
        decode_ticks(bad)


def test_refuse_answers_503_at_the_upgrade_for_a_while(sim: SimServer, token: str) -> None:
    fault(sim, {"fault": "refuse", "seconds": 600}).raise_for_status()
    with pytest.raises(InvalidStatus) as refused:
        connect(ticker_url(sim, token), open_timeout=10)
    assert refused.value.response.status_code == 503
    assert sim.sim.feed.info()["refusing_s"] > 500
    requests.delete(f"{sim.url}/__sim/feed/faults", timeout=5).raise_for_status()
    with raw_ticker(sim, token) as ws:
        assert ws.recv(timeout=10) == b"\x00"


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ([1, 2], "JSON object"),
        ("drop", "JSON object"),
        ({}, "fault must be one of drop, stall, malformed, refuse"),
        ({"fault": "explode"}, "fault must be one of"),
        ({"fault": "drop", "connections": 1}, "unknown key(s): connections"),
        ({"fault": "drop", "seconds": 5}, "takes no seconds"),
        ({"fault": "malformed", "seconds": 1}, "takes no seconds"),
        ({"fault": "stall"}, "stall needs seconds"),
        ({"fault": "refuse", "seconds": None}, "refuse needs seconds"),
        ({"fault": "stall", "seconds": 0}, "above 0"),
        ({"fault": "stall", "seconds": -3}, "above 0"),
        ({"fault": "stall", "seconds": 86401}, "at most 86400"),
        ({"fault": "stall", "seconds": True}, "finite number"),
        ({"fault": "stall", "seconds": "10"}, "finite number"),
    ],
)
def test_a_bad_fault_request_is_a_400_saying_what_is_allowed(sim: SimServer, body: Any, says: str) -> None:
    answer = fault(sim, body)
    assert answer.status_code == 400, answer.text
    payload = answer.json()
    assert payload["error_type"] == "InputException" and says in payload["message"]
    assert sim.sim.feed.info()["refusing_s"] == 0


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"\xff\xfe",
        b"",
        b"NaN",
        b'{"fault": "stall", "seconds": Infinity}',
        b'{"fault": "refuse", "seconds": NaN}',
    ],
)
def test_a_fault_body_that_is_not_json_or_not_finite_is_a_400(sim: SimServer, raw: bytes) -> None:
    answer = requests.post(f"{sim.url}/__sim/feed/faults", data=raw, timeout=5)
    assert answer.status_code == 400 and answer.json()["error_type"] == "InputException"
    assert sim.sim.feed.info()["connections"] == []


def test_the_feed_admin_routes_are_guarded_like_the_rest_of_the_admin_api(sim: SimServer) -> None:
    answer = requests.post(
        f"{sim.url}/__sim/feed/faults", json={"fault": "drop"}, headers={"Origin": "https://evil.example"}, timeout=5
    )
    assert answer.status_code == 403
    assert requests.get(f"{sim.url}/__sim/feed", timeout=5).json()["data"]["source"] == "market"
