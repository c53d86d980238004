"""WebSocket 2.0's text side: the connection headers, subscribe/unsubscribe requests, errors and the heartbeat.

A client sends JSON requests ``{"correlationID", "action": 1|0, "params": {"mode": 1-4, "tokenList":
[{"exchangeType": 1, "tokens": ["2885"]}]}}`` and the text ``ping`` (the server answers ``pong``); the server
answers a bad request with ``{"correlationID", "errorCode", "errorMessage"}``. A refused handshake is HTTP 401
with the reason in the ``x-error-message`` header (SIM: as Angel's docs describe it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kitekit.wire.angel.stream import ExchangeType, StreamMode

__all__ = [
    "ERROR_HEADER",
    "HANDSHAKE_HEADERS",
    "PING",
    "PONG",
    "StreamError",
    "StreamRequest",
    "error_message",
    "parse_request",
    "request_text",
]

#: The headers of the handshake: the JWT, the api_key, the client code and the feed token.
HANDSHAKE_HEADERS = ("Authorization", "x-api-key", "x-client-code", "x-feed-token")
ERROR_HEADER = "x-error-message"
PING = "ping"
PONG = "pong"
SUBSCRIBE = 1
UNSUBSCRIBE = 0


class StreamError(ValueError):
    """A request the server refuses: ``code`` is Angel's (E1001 bad payload, E1002 over a limit)."""

    def __init__(self, code: str, message: str, correlation_id: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.correlation_id = correlation_id


@dataclass(frozen=True)
class StreamRequest:
    """A checked subscribe (``action`` 1) or unsubscribe (0) request."""

    correlation_id: str
    action: int
    mode: StreamMode
    tokens: tuple[tuple[ExchangeType, str], ...]


def request_text(action: int, mode: int, token_list: list[dict[str, Any]], correlation_id: str = "") -> str:
    """Return the JSON text of a request, as the SDK writes it."""
    return json.dumps(
        {"correlationID": correlation_id, "action": action, "params": {"mode": mode, "tokenList": token_list}}
    )


def parse_request(text: str) -> StreamRequest:
    """Return the request a client's text message carries.

    Raises:
        StreamError: E1001 for anything but a well-formed request (not JSON, unknown action, mode or
            exchange type, tokens that are not strings).
    """
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise StreamError("E1001", "Invalid Request Payload.") from None
    if not isinstance(body, dict):
        raise StreamError("E1001", "Invalid Request Payload.")
    correlation = body.get("correlationID")
    correlation_id = correlation if isinstance(correlation, str) else ""
    action, params = body.get("action"), body.get("params")
    try:
        if action not in (SUBSCRIBE, UNSUBSCRIBE) or isinstance(action, bool) or not isinstance(params, dict):
            raise ValueError
        mode = params.get("mode")
        if isinstance(mode, bool) or not isinstance(mode, int):
            raise ValueError
        token_list = params.get("tokenList")
        if not isinstance(token_list, list):
            raise ValueError
        tokens: list[tuple[ExchangeType, str]] = []
        for entry in token_list:
            if not isinstance(entry, dict):
                raise ValueError
            # SIM: Angel takes the exchange type as a number; forum examples send "1" too, and it works.
            exchange_type = ExchangeType(int(entry.get("exchangeType")))  # type: ignore[arg-type]
            listed = entry.get("tokens")
            if not isinstance(listed, list) or not all(isinstance(t, str) and t for t in listed):
                raise ValueError
            tokens.extend((exchange_type, t) for t in listed)
        return StreamRequest(correlation_id, int(action), StreamMode(mode), tuple(tokens))
    except (ValueError, TypeError):
        raise StreamError("E1001", "Invalid Request Payload.", correlation_id) from None


def error_message(error: StreamError) -> str:
    """Return the server's JSON answer to a refused request."""
    return json.dumps(
        {"correlationID": error.correlation_id, "errorCode": error.code, "errorMessage": str(error)},
        separators=(",", ":"),
    )
