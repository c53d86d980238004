"""A local server that speaks Kite Connect v3 (REST, login, WebSocket) over a deterministic market.

The simulator never imports the client side of kitekit; both share only ``kitekit.wire`` and foundations.
"""

from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer

__all__ = ["SimConfig", "SimServer"]
