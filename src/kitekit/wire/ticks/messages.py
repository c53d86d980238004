"""The ticker's JSON text messages (docs/protocol.md §15.2, §15.8): built and read here, for both sides.

Ticks travel as binary frames; everything else on the ticker's WebSocket is a JSON text message:

- the client sends ``{"a": "subscribe", "v": [tokens]}``, ``{"a": "unsubscribe", "v": [tokens]}`` and
  ``{"a": "mode", "v": [mode, [tokens]]}``: built by :func:`subscribe_message`, :func:`unsubscribe_message`
  and :func:`mode_message`, read by :func:`parse_client_message`;
- the server sends ``{"type": "order", "data": {…}}`` (an order update) and ``{"type": "error", "data":
  "…"}``: built by :func:`order_message` and :func:`error_message`, read by :func:`parse_server_message`.

An instrument token is a JSON number from 0 to 2**32 - 1 (a packet carries it as a ``uint32``), never
``true`` or ``false``. The builders refuse what the reader would, so a client cannot send what a server
refuses. A malformed client message raises :class:`~kitekit.errors.TickMessageError` whose text says what a
valid one looks like (the simulator sends it back as an error message). From the server, text that is not
JSON or has another ``type`` is ignored, as the official SDK ignores it; an order update whose ``data`` is
not an object is refused, since no caller could use it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kitekit.errors import TickMessageError
from kitekit.wire.ticks.layout import Mode

__all__ = [
    "MAX_TOKEN",
    "Action",
    "ClientMessage",
    "OrderUpdate",
    "ServerError",
    "error_message",
    "instrument_token",
    "mode_message",
    "order_message",
    "parse_client_message",
    "parse_server_message",
    "subscribe_message",
    "unsubscribe_message",
]

#: The largest instrument token: packets carry it as an unsigned 32-bit integer.
MAX_TOKEN = 0xFFFFFFFF
_MODES = frozenset(mode.value for mode in Mode)
_SUBSCRIBE_HINT = 'Send {"a": "subscribe", "v": [token, ...]}.'


class Action(StrEnum):
    """What a client's message asks for; the value is the wire's ``a``."""

    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    MODE = "mode"


@dataclass(frozen=True)
class ClientMessage:
    """A client's message: subscribe or unsubscribe ``tokens``, or set ``mode`` for them.

    ``tokens`` keeps the order they were given in, each token once.
    """

    action: Action
    tokens: tuple[int, ...]
    mode: Mode | None = None


@dataclass(frozen=True)
class OrderUpdate:
    """An order update from the server: the order object of §8.2 plus postback fields."""

    data: dict[str, Any]


@dataclass(frozen=True)
class ServerError:
    """An error the server reports in a text message (the SDK passes it to ``on_error`` with code 0)."""

    text: str


# -- the client's messages -------------------------------------------------------------------------------------


def instrument_token(value: object) -> int:
    """Return ``value`` as an instrument token.

    Raises:
        TickMessageError: not a whole number from 0 to 2**32 - 1 (a bool is not one).
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_TOKEN:
        return value
    raise TickMessageError(f"{value!r} is not an instrument token: a whole number from 0 to {MAX_TOKEN}")


def subscribe_message(tokens: Iterable[int]) -> str:
    """Return the message that subscribes ``tokens`` (in quote mode, Kite's default).

    Raises:
        TickMessageError: a value is not an instrument token.
    """
    return json.dumps({"a": Action.SUBSCRIBE.value, "v": [instrument_token(t) for t in tokens]})


def unsubscribe_message(tokens: Iterable[int]) -> str:
    """Return the message that unsubscribes ``tokens``.

    Raises:
        TickMessageError: a value is not an instrument token.
    """
    return json.dumps({"a": Action.UNSUBSCRIBE.value, "v": [instrument_token(t) for t in tokens]})


def mode_message(mode: Mode | str, tokens: Iterable[int]) -> str:
    """Return the message that sets ``mode`` (ltp, quote or full) for subscribed ``tokens``.

    Raises:
        TickMessageError: an unknown mode, or a value that is not an instrument token.
    """
    return json.dumps({"a": Action.MODE.value, "v": [_mode(mode).value, [instrument_token(t) for t in tokens]]})


def parse_client_message(text: str) -> ClientMessage:
    """Read a client's text message.

    Raises:
        TickMessageError: not JSON, not an object with a known ``a``, or a ``v`` of the wrong shape; the
            message says what a valid one looks like.
    """
    try:
        message = json.loads(text)
    except ValueError:
        raise TickMessageError(f"Invalid message: not JSON. {_SUBSCRIBE_HINT}") from None
    except RecursionError:  # [[[…]]] a thousand deep: Python's parser gives up (it is no Kite message anyway)
        raise TickMessageError(f"Invalid message: JSON nested too deep. {_SUBSCRIBE_HINT}") from None
    if not isinstance(message, dict) or not isinstance(message.get("a"), str):
        raise TickMessageError('Invalid message: expected {"a": action, "v": value}.')
    try:
        action = Action(message["a"])
    except ValueError:
        raise TickMessageError(f"Invalid action {message['a']!r}: use subscribe, unsubscribe or mode.") from None
    value = message.get("v")
    if action is not Action.MODE:
        return ClientMessage(action, _tokens(value, f"Invalid {action.value}: v must be a list"))
    if not isinstance(value, list) or len(value) != 2:
        raise TickMessageError('Invalid mode: v must be [mode, [token, ...]], e.g. ["full", [408065]].')
    mode = _mode(value[0])
    return ClientMessage(action, _tokens(value[1], "Invalid mode: the tokens must be a list"), mode)


def _mode(value: object) -> Mode:
    if isinstance(value, str) and value in _MODES:
        return Mode(value)
    raise TickMessageError(f"Invalid mode {value!r}: use ltp, quote or full.")


def _tokens(value: object, refusal: str) -> tuple[int, ...]:
    if not isinstance(value, list):
        raise TickMessageError(f"{refusal} of instrument tokens (numbers).")
    try:
        return tuple(dict.fromkeys(instrument_token(t) for t in value))
    except TickMessageError as exc:
        raise TickMessageError(f"{refusal} of instrument tokens (numbers): {exc}.") from None


# -- the server's messages -------------------------------------------------------------------------------------


def order_message(update: Mapping[str, Any]) -> str:
    """Return the message that carries an order update (the SDK calls ``on_order_update(ws, data)``)."""
    return json.dumps({"type": "order", "data": dict(update)})


def error_message(text: str) -> str:
    """Return the message that reports an error (the SDK calls ``on_error(ws, 0, text)``)."""
    return json.dumps({"type": "error", "data": text})


def parse_server_message(text: str) -> OrderUpdate | ServerError | None:
    """Read a server's text message; None for one the SDK would pass to no callback.

    Ignored, as the SDK ignores them: text that is not JSON, JSON that is not an object, another ``type``
    (``"message"``), and an order update with empty ``data``.

    Raises:
        TickMessageError: an order update whose ``data`` is not a JSON object.
    """
    try:
        message = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(message, dict):
        return None
    kind, data = message.get("type"), message.get("data")
    if kind == "error":
        return ServerError(data if isinstance(data, str) else json.dumps(data))
    if kind != "order" or not data:
        return None
    if not isinstance(data, dict):
        raise TickMessageError(f"an order update's data must be a JSON object, got {text[:200]!r}")
    return OrderUpdate(data)
