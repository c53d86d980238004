"""Run the Upstox simulator with uvicorn (:class:`UpstoxServer`), the way :class:`~kitekit.sim.server.SimServer`
runs Kite's: same binding, deadlines and exchange pump."""

from __future__ import annotations

import socket

from kitekit.clock import Clock
from kitekit.sim.market import Market
from kitekit.sim.server import AppServer
from kitekit.sim.upstox.config import UpstoxSimConfig
from kitekit.sim.upstox.http.app import UpstoxSim

__all__ = ["UpstoxServer"]


class UpstoxServer(AppServer[UpstoxSim]):
    """The Upstox simulator on ``host:port`` (port 0 picks a free one); a context manager or start/stop."""

    def __init__(
        self,
        config: UpstoxSimConfig | None = None,
        clock: Clock | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        market: Market | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        super().__init__(UpstoxSim(config, clock, market), host, port, sock)

    def start(self, timeout: float = 30.0) -> UpstoxServer:
        """Serve in a daemon thread; return once the server accepts connections."""
        super().start(timeout)
        return self

    def __enter__(self) -> UpstoxServer:
        return self.start()
