"""The Upstox simulator: Upstox's REST, login and WebSocket edge over the Kite simulator's market and engine.

``config`` (the app it knows, limits), ``catalog`` (instrument keys and the JSON dump over the shared
universe), ``auth`` (codes, tokens, token requests, WebSocket tickets), ``limits`` (Upstox's rate windows),
``shapes`` (engine answers in Upstox's shapes, Upstox requests in the engine's), ``candles`` (any Upstox
interval), ``feed`` (protobuf feed content), ``http/`` (the state, its API wrapper and the routes), ``server``
(:class:`UpstoxServer`), and ``sdk`` (the official SDK pointed at it; needs ``upstox-python-sdk``).
"""

from kitekit.sim.upstox.config import UpstoxSimConfig
from kitekit.sim.upstox.server import UpstoxServer

__all__ = ["UpstoxServer", "UpstoxSimConfig"]
