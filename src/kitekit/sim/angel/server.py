"""Run the Angel simulator with uvicorn, the way :class:`~kitekit.sim.server.SimServer` runs Kite's."""

from __future__ import annotations

import socket

from kitekit.clock import Clock
from kitekit.sim.angel.config import AngelSimConfig
from kitekit.sim.angel.http.app import AngelSim
from kitekit.sim.angel.http.stream_routes import STREAM_PATH, UPDATES_PATH
from kitekit.sim.market import Market
from kitekit.sim.server import AppServer

__all__ = ["AngelSimServer"]


class AngelSimServer(AppServer[AngelSim]):
    """The Angel simulator on ``host:port`` (port 0 picks a free one); a context manager, or start/stop.

    Args:
        config: its settings (the one client it knows, limits).
        clock: the market clock; ``market`` the market model (share a Kite simulator's to share its world).
        totp_clock: the clock TOTP codes follow (the wall by default).
    """

    def __init__(
        self,
        config: AngelSimConfig | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        market: Market | None = None,
        totp_clock: Clock | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(AngelSim(config, clock, market, totp_clock), host, port, sock)
        #: The Angel simulator's state (the same object as ``.sim``).
        self.angel = self.sim

    def start(self, timeout: float = 30.0) -> AngelSimServer:
        """Serve in a daemon thread; return once the server accepts connections."""
        super().start(timeout)
        return self

    def __enter__(self) -> AngelSimServer:
        return self.start()

    @property
    def stream_url(self) -> str:
        """Return WebSocket 2.0's URL, e.g. ``ws://127.0.0.1:54321/smart-stream``."""
        return f"{self.ws_url}{STREAM_PATH}"

    @property
    def order_update_url(self) -> str:
        """Return the order-update stream's URL."""
        return f"{self.ws_url}{UPDATES_PATH}"
