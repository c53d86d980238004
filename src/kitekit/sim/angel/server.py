"""Run the Angel simulator with uvicorn, with the Kite simulator's server lifecycle (:class:`SimServer`)."""

from __future__ import annotations

import socket

from kitekit.clock import Clock
from kitekit.sim.angel.config import AngelSimConfig
from kitekit.sim.angel.http.app import AngelSim
from kitekit.sim.angel.http.stream_routes import STREAM_PATH, UPDATES_PATH
from kitekit.sim.market import Market
from kitekit.sim.server import SimServer

__all__ = ["AngelSimServer"]


class AngelSimServer(SimServer):
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
        #: The Angel simulator's state (``.sim`` is the same object, typed for the Kite simulator's lifecycle).
        self.angel = AngelSim(config, clock, market, totp_clock)
        super().__init__(host=host, port=port, sock=sock, app=self.angel)

    @property
    def stream_url(self) -> str:
        """Return WebSocket 2.0's URL, e.g. ``ws://127.0.0.1:54321/smart-stream``."""
        return f"{self.ws_url}{STREAM_PATH}"

    @property
    def order_update_url(self) -> str:
        """Return the order-update stream's URL."""
        return f"{self.ws_url}{UPDATES_PATH}"
