"""A local server that speaks Kite Connect v3 (REST and the login flow) over a deterministic market.

It serves login, session, user, quote, instruments-dump and historical routes (``docs/simulator.md``); no
WebSocket ticker and no order routes yet. The simulator never imports the client side of kitekit; both
share only ``kitekit.wire`` and the foundations.
"""

from kitekit.sim.config import SimConfig
from kitekit.sim.server import SimServer

__all__ = ["SimConfig", "SimServer"]
