"""The official SDK's WebSocket clients pointed at the Angel simulator (needs ``smartapi-python``).

``SmartWebSocketV2`` and ``SmartWebSocketOrderUpdate`` connect to Angel's fixed hosts; these subclasses take
the simulator's root instead and change nothing else of what goes on the wire, with two repairs that make them
usable in a program that closes and reopens them:

- ``websocket-client`` calls ``on_close`` with the close code and reason, which the SDK's ``_on_close`` does not
  take; the TypeError it raised went to ``_on_error``, which sleeps ten seconds and reconnects a socket the
  caller had just closed.
- ``input_request_dict`` (the subscriptions a reconnect replays) is a class attribute in the SDK, shared by
  every instance; here each instance has its own.

Importing this module imports the SDK, which looks up the machine's public IP over the network as it loads.

Example::

    from kitekit.sim.angel.sdk import SimSmartWebSocketV2

    sws = SimSmartWebSocketV2("ws://127.0.0.1:8001", jwt, api_key, client_code, feed_token)
    sws.on_open = lambda ws: sws.subscribe("c1", 1, [{"exchangeType": 1, "tokens": ["2885"]}])
    sws.on_data = lambda ws, tick: print(tick)
    sws.connect()  # blocks until close_connection()
"""

from __future__ import annotations

from typing import Any

from SmartApi.smartWebSocketOrderUpdate import SmartWebSocketOrderUpdate
from SmartApi.smartWebSocketV2 import SmartWebSocketV2

__all__ = ["SimSmartWebSocketOrderUpdate", "SimSmartWebSocketV2"]


class SimSmartWebSocketV2(SmartWebSocketV2):  # type: ignore[misc]
    """``SmartWebSocketV2`` on the simulator's ``/smart-stream``; ``root`` is ``ws://HOST:PORT``."""

    def __init__(self, root: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ROOT_URI = f"{root.rstrip('/')}/smart-stream"
        self.input_request_dict: dict[Any, Any] = {}

    def _on_close(self, wsapp: Any, *args: Any) -> None:
        self.on_close(wsapp)


class SimSmartWebSocketOrderUpdate(SmartWebSocketOrderUpdate):  # type: ignore[misc]
    """``SmartWebSocketOrderUpdate`` on the simulator's ``/smart-order-update``."""

    MAX_CONNECTION_RETRY_ATTEMPTS = 0  # a closed stream stays closed (the SDK retries after ten seconds)

    def __init__(self, root: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.WEBSOCKET_URI = f"{root.rstrip('/')}/smart-order-update"
