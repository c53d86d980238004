"""The simulator's WebSocket ticker over a real loopback socket: upgrade, messages, packets, heartbeats, limits."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import pytest
import requests
from kiteconnect import KiteConnect
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from kitekit.clock import IST, ManualClock
from kitekit.sim.server import SimServer
from kitekit.wire.ticks import decode_ticks, is_heartbeat

from .conftest import eventually
from .stream_helpers import (
    BANKNIFTY,
    INFY,
    NIFTY,
    RELIANCE,
    frame_where,
    next_frame,
    next_text,
    packet_lengths,
    raw_ticker,
    send,
    ticker_url,
)

NIFTY_FUT, USDINR_FUT, GOLD_FUT, BSE_RELIANCE = 18200578, 9496579, 59654151, 128083204


@pytest.fixture
def token(sim_kite: KiteConnect) -> str:
    """The access token of a fresh login to the simulator."""
    return str(sim_kite.access_token)


def refusal(sim: SimServer, access_token: str) -> tuple[int, dict[str, Any]]:
    with pytest.raises(InvalidStatus) as caught:
        connect(ticker_url(sim, access_token), open_timeout=10)
    response = caught.value.response
    return response.status_code, json.loads(response.body or b"{}")


def test_a_bad_or_expired_token_is_refused_at_the_upgrade_with_403(sim: SimServer, token: str) -> None:
    status, body = refusal(sim, "not-a-token")
    assert status == 403 and body["error_type"] == "TokenException"
    requests.post(f"{sim.url}/__sim/expire-tokens", timeout=5).raise_for_status()
    assert refusal(sim, token)[0] == 403
    assert sim.sim.feed.info()["connections"] == [] and sim.sim.feed.refused[403] == 2


def test_subscribe_streams_quote_packets_by_default_then_mode_changes_and_unsubscribe_stops(
    sim: SimServer, token: str, sim_clock: ManualClock
) -> None:
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", [RELIANCE, NIFTY])
        assert packet_lengths(next_frame(ws)) == {RELIANCE: 44, NIFTY: 28}
        send(ws, "mode", ["full", [RELIANCE, NIFTY]])
        assert packet_lengths(next_frame(ws)) == {RELIANCE: 184, NIFTY: 32}  # a mode change ticks at once
        send(ws, "mode", ["ltp", [NIFTY]])
        assert packet_lengths(next_frame(ws)) == {NIFTY: 8}  # only what changed gets a tick at once
        send(ws, "unsubscribe", [RELIANCE])
        sim_clock.advance(1)
        assert packet_lengths(next_frame(ws)) == {NIFTY: 8}
        # The SDK's resubscription (subscribe + mode again) changes nothing.
        send(ws, "subscribe", [NIFTY])
        send(ws, "mode", ["ltp", [NIFTY]])
        sim_clock.advance(1)
        assert packet_lengths(next_frame(ws)) == {NIFTY: 8}
        assert sim.sim.feed.info()["connections"][0]["modes"] == {"ltp": 1}


@pytest.mark.parametrize(
    ("mode", "tradable", "index"), [("ltp", 8, 8), ("quote", 44, 28), ("full", 184, 32)], ids=["ltp", "quote", "full"]
)
def test_every_packet_kind_carries_the_rest_prices_in_each_segments_divisor(
    sim: SimServer, sim_kite: KiteConnect, token: str, mode: str, tradable: int, index: int
) -> None:
    tokens = [RELIANCE, BSE_RELIANCE, NIFTY, BANKNIFTY, NIFTY_FUT, USDINR_FUT, GOLD_FUT]
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", tokens)
        send(ws, "mode", [mode, tokens])
        frame = frame_where(ws, {t: index if t in (NIFTY, BANKNIFTY) else tradable for t in tokens})
    ltp = sim_kite.ltp([str(t) for t in tokens])
    ticks = {tick["instrument_token"]: tick for tick in decode_ticks(frame)}
    assert {t: ticks[t]["last_price"] for t in tokens} == {t: ltp[str(t)]["last_price"] for t in tokens}
    assert round(ticks[USDINR_FUT]["last_price"] * 400, 6) % 1 == 0  # a 0.0025 grid, through the 1e7 divisor


def test_full_ticks_agree_with_rest_quotes_at_the_same_clock_time(
    sim: SimServer, sim_kite: KiteConnect, token: str, sim_clock: ManualClock
) -> None:
    tokens = [RELIANCE, INFY, NIFTY, NIFTY_FUT, GOLD_FUT]
    sim_clock.advance(37)
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", tokens)
        send(ws, "mode", ["full", tokens])
        frame = frame_where(ws, {t: 32 if t == NIFTY else 184 for t in tokens})
    ticks = {tick["instrument_token"]: tick for tick in decode_ticks(frame)}
    quotes = sim_kite.quote([str(t) for t in tokens])
    for t in tokens:
        tick, quote = ticks[t], quotes[str(t)]
        assert (tick["last_price"], tick["ohlc"]) == (quote["last_price"], quote["ohlc"])
        assert tick["exchange_timestamp"] == local(quote["timestamp"])
        if t == NIFTY:
            continue
        assert tick["depth"] == quote["depth"]
        assert tick["last_trade_time"] == local(quote["last_trade_time"])
        pairs = {
            "volume_traded": "volume",
            "last_traded_quantity": "last_quantity",
            "average_traded_price": "average_price",
            "total_buy_quantity": "buy_quantity",
            "total_sell_quantity": "sell_quantity",
            "oi": "oi",
            "oi_day_high": "oi_day_high",
            "oi_day_low": "oi_day_low",
        }
        assert {ours: tick[ours] for ours in pairs} == {ours: quote[theirs] for ours, theirs in pairs.items()}


def local(ist_naive: datetime) -> datetime:
    """Return an IST wall time from a quote as the SDK gives tick times: naive local time of this machine."""
    return ist_naive.replace(tzinfo=IST).astimezone().replace(tzinfo=None)


def test_each_new_second_ticks_every_subscription_and_a_leap_is_caught_up_second_by_second(
    sim: SimServer, token: str, sim_clock: ManualClock
) -> None:
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", [RELIANCE, NIFTY])
        send(ws, "mode", ["full", [RELIANCE, NIFTY]])
        frame_where(ws, {RELIANCE: 184, NIFTY: 32})
        start = local(sim_clock.now().astimezone(IST).replace(tzinfo=None))
        sim_clock.advance(30)
        frames = [decode_ticks(next_frame(ws)) for _ in range(30)]
    assert all(len(ticks) == 2 for ticks in frames)
    assert [(ticks[0]["exchange_timestamp"] - start).total_seconds() for ticks in frames] == list(range(1, 31))


def test_an_idle_connection_gets_one_byte_heartbeats_and_nothing_else(sim: SimServer, token: str) -> None:
    with raw_ticker(sim, token) as ws:
        messages = [ws.recv(timeout=10) for _ in range(2)]
    assert messages == [b"\x00", b"\x00"] and all(is_heartbeat(m) for m in messages)  # type: ignore[arg-type]


def test_a_connection_takes_3000_instruments_and_an_api_key_3_connections(
    sim: SimServer, token: str, sim_market: Any
) -> None:
    tokens = sim_market.universe(sim.sim.clock.now()).token[:3005].tolist()
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", tokens)
        error = next_text(ws)
        assert error["type"] == "error" and "at most 3000 instruments; 5 not subscribed" in error["data"]
        assert sim.sim.feed.info()["connections"][0]["instruments"] == 3000
        with raw_ticker(sim, token), raw_ticker(sim, token):
            status, body = refusal(sim, token)
            assert status == 429 and "3 ticker connections" in body["message"]
        with raw_ticker(sim, token):  # a closed connection frees its place
            pass


def test_order_updates_reach_every_connection_of_the_user_as_text_frames(sim: SimServer, token: str) -> None:
    update = {"order_id": "260112000000101", "status": "COMPLETE", "user_id": "KK1234", "filled_quantity": 1}
    with raw_ticker(sim, token) as first, raw_ticker(sim, token) as second:
        eventually(lambda: len(sim.sim.feed.info()["connections"]) == 2)
        sim.sim.order_updates.publish("KK1234", update)
        sim.sim.order_updates.publish("SOMEONE", {"order_id": "1"})
        assert next_text(first) == next_text(second) == {"type": "order", "data": update}


@pytest.mark.parametrize(
    ("message", "says"),
    [
        ("subscribe me", "not JSON"),
        ("[1, 2]", 'expected {"a": action'),
        ('{"a": "subscribe", "v": "738561"}', "list of instrument tokens"),
        ('{"a": "subscribe", "v": [true]}', "list of instrument tokens"),
        ('{"a": "subscribe", "v": [-1]}', "list of instrument tokens"),
        ('{"a": "mode", "v": ["fast", [738561]]}', "use ltp, quote or full"),
        ('{"a": "mode", "v": ["full"]}', "[mode, [token, ...]]"),
        ('{"a": "mode", "v": ["full", "738561"]}', "list of instrument tokens"),
        ('{"a": "resubscribe", "v": []}', "use subscribe, unsubscribe or mode"),
    ],
)
def test_a_malformed_client_message_gets_an_error_frame_and_changes_nothing(
    sim: SimServer, token: str, message: str, says: str
) -> None:
    with raw_ticker(sim, token) as ws:
        ws.send(message)
        error = next_text(ws)
        assert error["type"] == "error" and says in error["data"]
        assert sim.sim.feed.info()["connections"][0]["instruments"] == 0


@pytest.mark.parametrize("depth", [1000, 100_000])
def test_json_nested_too_deep_gets_an_error_frame_and_the_connection_stays_up(
    sim: SimServer, token: str, depth: int
) -> None:
    with raw_ticker(sim, token) as ws:
        ws.send('{"a": "subscribe", "v": ' + "[" * depth + "]" * depth + "}")
        error = next_text(ws)
        assert error["type"] == "error" and "nested too deep" in error["data"]
        send(ws, "subscribe", [RELIANCE])  # the same connection still works
        assert RELIANCE in {tick["instrument_token"] for tick in decode_ticks(next_frame(ws))}


def test_the_access_token_never_reaches_a_log_line_of_the_simulator(
    sim: SimServer, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with raw_ticker(sim, token) as ws:
        send(ws, "subscribe", [RELIANCE])
        next_frame(ws)
    refusal(sim, token + "x")
    server_side = [r for r in caplog.records if r.name.startswith(("uvicorn", "kitekit"))]
    assert any("WebSocket /?api_key=" in r.getMessage() for r in server_side)  # uvicorn logs each upgrade…
    assert not [r.getMessage() for r in server_side if token in r.getMessage()]  # …without the token
