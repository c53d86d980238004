"""The v3 market-data WebSocket's requests and limits, and the portfolio stream's update types.

The SDK's ``MarketDataFeederV3.build_request`` sends, as a *binary* frame, the UTF-8 JSON
``{"guid": "<uuid4>", "method": "sub"|"change_mode"|"unsub", "data": {"instrumentKeys": [...], "mode": "..."}}``
(``mode`` absent on ``unsub``). It connects to ``wss://api.upstox.com/v3/feed/market-data-feed`` with the
``Authorization: Bearer`` header and follows the redirect Upstox answers to a single-use URL (what
``GET /v3/feed/market-data-feed/authorize`` returns as ``authorizedRedirectUri``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = [
    "KEY_LIMITS",
    "Method",
    "Mode",
    "StreamRequest",
    "UpdateType",
    "build_request",
    "parse_request",
    "proto_mode",
]


class Mode(StrEnum):
    """Subscription modes (the JSON request's ``data.mode``)."""

    LTPC = "ltpc"
    FULL = "full"
    OPTION_GREEKS = "option_greeks"
    FULL_D30 = "full_d30"


def proto_mode(mode: Mode) -> str:
    """Return the ``RequestMode`` enum name the feed tags a mode's messages with (``full`` is ``full_d5``)."""
    return "full_d5" if mode is Mode.FULL else mode.value


class Method(StrEnum):
    """The JSON request's ``method``."""

    SUB = "sub"
    CHANGE_MODE = "change_mode"
    UNSUB = "unsub"


#: Keys one connection may hold per mode: (when it is the only mode, when modes are mixed).
#: SIM: ``full_d30`` is Upstox Plus only and its limit is not in the summary; the simulator allows 50.
KEY_LIMITS: dict[Mode, tuple[int, int]] = {
    Mode.LTPC: (5000, 2000),
    Mode.OPTION_GREEKS: (3000, 2000),
    Mode.FULL: (2000, 1500),
    Mode.FULL_D30: (50, 50),
}


class UpdateType(StrEnum):
    """The portfolio stream's ``update_types`` (a comma-separated query parameter)."""

    ORDER = "order"
    POSITION = "position"
    HOLDING = "holding"
    GTT_ORDER = "gtt_order"


@dataclass(frozen=True)
class StreamRequest:
    """A parsed market-feed request."""

    guid: str
    method: Method
    keys: tuple[str, ...]
    mode: Mode | None


def build_request(guid: str, method: Method, keys: list[str], mode: Mode | None = None) -> bytes:
    """Return the binary frame's payload of a request, as the SDK builds it."""
    data: dict[str, Any] = {"instrumentKeys": keys}
    if mode is not None:
        data["mode"] = mode.value
    return json.dumps({"guid": guid, "method": method.value, "data": data}).encode()


def parse_request(payload: bytes | str) -> StreamRequest:
    """Return the request in a frame's payload.

    Raises:
        ValueError: not JSON, an unknown method or mode, keys that are not a list of strings, or ``sub`` or
            ``change_mode`` without a mode.
    """
    try:
        raw = json.loads(payload)
    except (ValueError, RecursionError):
        raise ValueError("the request is not JSON") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("data"), dict):
        raise ValueError("the request must be an object with a `data` object")
    try:
        method = Method(str(raw.get("method")))
    except ValueError:
        raise ValueError(f"unknown method {raw.get('method')!r}") from None
    keys = raw["data"].get("instrumentKeys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise ValueError("`instrumentKeys` must be a list of instrument keys")
    mode_text = raw["data"].get("mode")
    mode = None
    if method is not Method.UNSUB:
        try:
            mode = Mode(mode_text)
        except ValueError:
            raise ValueError(f"unknown mode {mode_text!r}") from None
    return StreamRequest(str(raw.get("guid", "")), method, tuple(dict.fromkeys(keys)), mode)
