"""Point the unmodified ``upstox-python-sdk`` at the Upstox simulator.

REST: set ``host`` and ``order_host`` on the ``Configuration`` after constructing it (:func:`sim_configuration`);
its metaclass copies the first instance's values into every later ``Configuration()``, so set them each time.
The streamers hard-code ``wss://api.upstox.com``; :class:`SimMarketDataStreamerV3` and
:class:`SimPortfolioDataStreamer` are the SDK's classes with that one address replaced by the simulator's::

    from kitekit.sim.upstox.sdk import SimMarketDataStreamerV3, sim_configuration
    import upstox_client

    client = upstox_client.ApiClient(sim_configuration("http://127.0.0.1:8765", access_token))
    streamer = SimMarketDataStreamerV3(client, ["NSE_INDEX|Nifty 50"], "ltpc", ws_root="ws://127.0.0.1:8765")
    streamer.on("message", print)
    streamer.connect()

Imported only where the SDK is installed (it is a development extra of kitekit, not a dependency).
"""

from __future__ import annotations

from typing import Any

import upstox_client
from upstox_client.feeder.market_data_feeder_v3 import MarketDataFeederV3
from upstox_client.feeder.portfolio_data_feeder import PortfolioDataFeeder

__all__ = ["SimMarketDataStreamerV3", "SimPortfolioDataStreamer", "sim_configuration"]

_UPSTOX_WS = "wss://api.upstox.com"


def sim_configuration(url: str, access_token: str = "") -> Any:
    """Return an SDK ``Configuration`` whose REST calls (orders too) go to the simulator at ``url``."""
    config = upstox_client.Configuration()
    config.host = url.rstrip("/")
    config.order_host = url.rstrip("/")
    config.access_token = access_token
    return config


class _MarketFeeder(MarketDataFeederV3):  # type: ignore[misc]
    ws_root = _UPSTOX_WS
    ws: Any

    def connect(self) -> None:
        # The SDK's connect() with its one hard-coded address swapped: everything else is its own code.
        import threading

        import websocket

        if self.ws is not None and self.ws.sock:
            return
        url = f"{self.ws_root}/v3/feed/market-data-feed"
        headers = {"Authorization": self.api_client.configuration.auth_settings().get("OAUTH2")["value"]}
        self.ws = websocket.WebSocketApp(
            url,
            header=headers,
            on_open=self.on_open,
            on_message=self.on_message,
            on_error=self.on_error,
            on_close=self.on_close,
        )
        threading.Thread(target=self.ws.run_forever, daemon=True).start()


class _PortfolioFeeder(PortfolioDataFeeder):  # type: ignore[misc]
    ws_root = _UPSTOX_WS
    ws: Any

    def get_websocket_url(self) -> str:
        return str(super().get_websocket_url()).replace(_UPSTOX_WS, self.ws_root, 1)

    def connect(self) -> None:
        import threading

        import websocket

        if self.ws and self.ws.sock:
            return
        headers = {"Authorization": self.api_client.configuration.auth_settings().get("OAUTH2")["value"]}
        self.ws = websocket.WebSocketApp(
            self.get_websocket_url(),
            header=headers,
            on_open=self.on_open,
            on_message=self.on_message,
            on_error=self.on_error,
            on_close=self.on_close,
        )
        threading.Thread(target=self.ws.run_forever, daemon=True).start()


class SimMarketDataStreamerV3(upstox_client.MarketDataStreamerV3):  # type: ignore[misc]
    """The SDK's ``MarketDataStreamerV3``, connecting to ``ws_root`` (the simulator's ``ws://host:port``)."""

    def __init__(
        self,
        api_client: Any = None,
        instrument_keys: list[str] | None = None,
        mode: str = "ltpc",
        *,
        ws_root: str,
    ) -> None:
        super().__init__(api_client, instrument_keys or [], mode)
        self.ws_root = ws_root.rstrip("/")

    def connect(self) -> None:
        """Connect as the SDK does, to the simulator."""
        feeder = _MarketFeeder(
            api_client=self.api_client,
            instrumentKeys=self.instrumentKeys,
            mode=self.mode,
            on_open=self.handle_open,
            on_message=self.handle_message,
            on_error=self.handle_error,
            on_close=self.handle_close,
        )
        feeder.ws_root = self.ws_root
        self.feeder = feeder
        feeder.connect()


class SimPortfolioDataStreamer(upstox_client.PortfolioDataStreamer):  # type: ignore[misc]
    """The SDK's ``PortfolioDataStreamer``, connecting to ``ws_root`` (the simulator's ``ws://host:port``)."""

    def __init__(self, api_client: Any = None, *, ws_root: str, **updates: bool) -> None:
        super().__init__(api_client, **updates)
        self.ws_root = ws_root.rstrip("/")

    def connect(self) -> None:
        """Connect as the SDK does, to the simulator."""
        feeder = _PortfolioFeeder(
            api_client=self.api_client,
            on_open=self.handle_open,
            on_message=self.handle_message,
            on_error=self.handle_error,
            on_close=self.handle_close,
            order_update=self.order_update,
            position_update=self.position_update,
            holding_update=self.holding_update,
            gtt_update=self.gtt_update,
        )
        feeder.ws_root = self.ws_root
        self.feeder = feeder
        feeder.connect()
