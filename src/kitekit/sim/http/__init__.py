"""The simulator's HTTP edge: the only place that knows Starlette.

``state`` holds :class:`~kitekit.sim.http.state.SimState` (the simulator's state) and the wrapper that
authenticates, rate-limits and envelopes API calls; ``edge`` the helpers every area shares; then one module
per Kite area, each exposing ``routes(sim)`` and its payloads as plain functions: ``login`` (with the HTML of
``pages``), ``session``, ``user``, ``ticker`` (the WebSocket upgrade), ``market``, ``orders``, ``portfolio``,
``gtt``, ``margins``, ``mf`` and the simulator's own ``admin``; ``app`` assembles them into :class:`SimApp`
(the state and its ASGI app) behind the middleware.
"""

from kitekit.sim.http.app import SimApp

__all__ = ["SimApp"]
