"""The ticker's text messages from strings: what the client sends, what the server sends, malformed ones too."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kiteconnect import KiteTicker

from kitekit.errors import TickMessageError
from kitekit.wire.ticks import Mode
from kitekit.wire.ticks.messages import (
    MAX_TOKEN,
    Action,
    ClientMessage,
    OrderUpdate,
    ServerError,
    error_message,
    instrument_token,
    mode_message,
    order_message,
    parse_client_message,
    parse_server_message,
    subscribe_message,
    unsubscribe_message,
)

RELIANCE, INFY = 738561, 408065


class _Socket:
    """Where the SDK's KiteTicker writes its messages: the SDK's own code builds them, we only keep them."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def sendMessage(self, payload: bytes) -> None:  # noqa: N802 - the SDK's name for it
        self.sent.append(payload)


def sdk_ticker() -> tuple[KiteTicker, _Socket]:
    ticker = KiteTicker("key", "token")
    socket = _Socket()
    ticker.ws = socket
    return ticker, socket


# -- the client's messages -------------------------------------------------------------------------------------


def test_the_client_messages_are_the_sdks_to_the_byte() -> None:
    ticker, socket = sdk_ticker()
    ticker.subscribe([RELIANCE, INFY])
    ticker.set_mode(ticker.MODE_FULL, [RELIANCE])
    ticker.unsubscribe([INFY])
    ours = [subscribe_message([RELIANCE, INFY]), mode_message(Mode.FULL, [RELIANCE]), unsubscribe_message([INFY])]
    assert [m.encode() for m in ours] == socket.sent


def test_what_the_client_builds_the_server_reads_back() -> None:
    assert parse_client_message(subscribe_message([RELIANCE, INFY])) == ClientMessage(
        Action.SUBSCRIBE, (RELIANCE, INFY)
    )
    assert parse_client_message(unsubscribe_message([INFY])) == ClientMessage(Action.UNSUBSCRIBE, (INFY,))
    assert parse_client_message(mode_message("ltp", [0, MAX_TOKEN])) == ClientMessage(
        Action.MODE, (0, MAX_TOKEN), Mode.LTP
    )


def test_a_token_given_twice_is_read_once_in_its_first_place() -> None:
    message = parse_client_message(json.dumps({"a": "subscribe", "v": [INFY, RELIANCE, INFY]}))
    assert message.tokens == (INFY, RELIANCE)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("subscribe me", "not JSON"),
        ("", "not JSON"),
        ('{"a": "subscribe", "v": [1', "not JSON"),
        ('{"a": "subscribe", "v": ' + "[" * 100_000 + "]" * 100_000 + "}", "nested too deep"),
        ("[1, 2]", 'expected {"a": action'),
        ('{"v": [1]}', 'expected {"a": action'),
        ('{"a": 1, "v": [1]}', 'expected {"a": action'),
        ('{"a": "resubscribe", "v": []}', "use subscribe, unsubscribe or mode"),
        ('{"a": "subscribe"}', "list of instrument tokens"),
        ('{"a": "subscribe", "v": "738561"}', "list of instrument tokens"),
        ('{"a": "subscribe", "v": [true]}', "list of instrument tokens"),
        ('{"a": "subscribe", "v": [-1]}', "list of instrument tokens"),
        ('{"a": "unsubscribe", "v": [4294967296]}', "list of instrument tokens"),
        ('{"a": "subscribe", "v": [738561.5]}', "list of instrument tokens"),
        ('{"a": "mode", "v": ["fast", [738561]]}', "use ltp, quote or full"),
        ('{"a": "mode", "v": [["full"], [738561]]}', "use ltp, quote or full"),
        ('{"a": "mode", "v": ["full"]}', "[mode, [token, ...]]"),
        ('{"a": "mode", "v": ["full", [1], 2]}', "[mode, [token, ...]]"),
        ('{"a": "mode", "v": ["full", "738561"]}', "list of instrument tokens"),
    ],
)
def test_a_malformed_client_message_is_refused_saying_what_a_valid_one_is(text: str, says: str) -> None:
    with pytest.raises(TickMessageError) as refused:
        parse_client_message(text)
    assert says in str(refused.value)


@pytest.mark.parametrize("bad", [-1, MAX_TOKEN + 1, True, 1.0, "738561", None])
def test_the_builders_refuse_what_the_server_would(bad: Any) -> None:
    with pytest.raises(TickMessageError, match="not an instrument token"):
        instrument_token(bad)
    with pytest.raises(TickMessageError):
        subscribe_message([RELIANCE, bad])
    with pytest.raises(TickMessageError):
        unsubscribe_message([bad])
    with pytest.raises(TickMessageError):
        mode_message(Mode.FULL, [bad])


def test_the_mode_builder_refuses_an_unknown_mode() -> None:
    with pytest.raises(TickMessageError, match="use ltp, quote or full"):
        mode_message("fast", [RELIANCE])


# -- the server's messages -------------------------------------------------------------------------------------


def test_what_the_server_builds_the_client_reads_back() -> None:
    update = {"order_id": "240315000000001", "status": "COMPLETE", "filled_quantity": 1}
    assert parse_server_message(order_message(update)) == OrderUpdate(update)
    assert parse_server_message(error_message("Subscription limit exceeded")) == ServerError(
        "Subscription limit exceeded"
    )


@pytest.mark.parametrize(
    "text",
    [
        json.dumps({"type": "order", "data": {"order_id": "1", "status": "OPEN"}}),
        json.dumps({"type": "order", "data": {}}),
        json.dumps({"type": "order"}),
        json.dumps({"type": "error", "data": "Invalid message"}),
        json.dumps({"type": "message", "data": "hello"}),
        json.dumps({"data": {"order_id": "1"}}),
        "not json",
        "{",
    ],
)
def test_the_client_passes_on_what_the_sdk_passes_on(text: str) -> None:
    ticker, _ = sdk_ticker()
    sdk: list[tuple[str, Any]] = []
    ticker.on_order_update = lambda ws, data: sdk.append(("order", data))
    ticker.on_error = lambda ws, code, reason: sdk.append(("error", reason))
    ticker._parse_text_message(text)
    message = parse_server_message(text)
    ours = (
        [("order", message.data)]
        if isinstance(message, OrderUpdate)
        else [("error", message.text)]
        if isinstance(message, ServerError)
        else []
    )
    assert ours == sdk


@pytest.mark.parametrize("text", ["[1, 2]", '"order"', "null", "[" * 100_000 + "]" * 100_000])
def test_json_that_is_no_message_is_ignored(text: str) -> None:
    assert parse_server_message(text) is None


@pytest.mark.parametrize("data", ['"COMPLETE"', "[1, 2]", "42"])
def test_an_order_update_that_is_not_an_object_is_refused(data: str) -> None:
    with pytest.raises(TickMessageError, match="must be a JSON object"):
        parse_server_message('{"type": "order", "data": ' + data + "}")


def test_an_error_message_that_is_not_text_is_read_as_its_json() -> None:
    assert parse_server_message('{"type": "error", "data": {"code": 1}}') == ServerError('{"code": 1}')
