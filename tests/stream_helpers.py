"""Helpers for the streaming tests: a raw WebSocket client of the simulator's ticker, and frame readers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlencode

from websockets.sync.client import ClientConnection, connect

from kitekit.sim.server import SimServer

#: Tokens the simulator lists at their real values (README): NSE equities and indices.
RELIANCE, INFY, NIFTY, BANKNIFTY = 738561, 408065, 256265, 260105


def ticker_url(server: SimServer, access_token: str, api_key: str | None = None) -> str:
    """Return the simulator's ticker URL with credentials, as KiteTicker builds it."""
    key = api_key if api_key is not None else server.sim.config.api_key
    return f"{server.ws_url}?{urlencode({'api_key': key, 'access_token': access_token})}"


@contextmanager
def raw_ticker(server: SimServer, access_token: str) -> Iterator[ClientConnection]:
    """Open a plain WebSocket to the simulator's ticker."""
    with connect(ticker_url(server, access_token), max_size=2**24, open_timeout=10) as ws:
        yield ws


def send(ws: ClientConnection, action: str, value: Any) -> None:
    """Send a client message ``{"a": action, "v": value}``."""
    ws.send(json.dumps({"a": action, "v": value}))


def next_frame(ws: ClientConnection, timeout: float = 10.0) -> bytes:
    """Return the next binary message that is not a heartbeat."""
    while True:
        message = ws.recv(timeout=timeout)
        if isinstance(message, bytes) and len(message) > 1:
            return message


def frame_where(ws: ClientConnection, lengths: dict[int, int], tries: int = 5) -> bytes:
    """Return the first frame whose packets have exactly ``lengths`` (token -> length).

    A subscribe and a mode message may be ticked once each or together, depending on when the feed looks.
    """
    for _ in range(tries):
        frame = next_frame(ws)
        if packet_lengths(frame) == lengths:
            return frame
    raise AssertionError(f"no frame with packets {lengths} in {tries} frames")


def next_text(ws: ClientConnection, timeout: float = 10.0) -> dict[str, Any]:
    """Return the next text message, parsed, within ``timeout`` seconds (heartbeats do not extend it)."""
    deadline = time.monotonic() + timeout
    while True:
        message = ws.recv(timeout=max(0.0, deadline - time.monotonic()))
        if isinstance(message, str):
            parsed: dict[str, Any] = json.loads(message)
            return parsed


def packet_lengths(frame: bytes) -> dict[int, int]:
    """Return each packet's length by its token, walking the frame's headers."""
    count = int.from_bytes(frame[:2], "big")
    out: dict[int, int] = {}
    pos = 2
    for _ in range(count):
        length = int.from_bytes(frame[pos : pos + 2], "big")
        out[int.from_bytes(frame[pos + 2 : pos + 6], "big")] = length
        pos += 2 + length
    assert pos == len(frame)
    return out
