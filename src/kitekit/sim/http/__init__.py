"""The simulator's HTTP edge: the only place that knows Starlette.

``app`` holds :class:`SimApp` (the simulator's state and its ASGI app) with the middleware and the wrapper
that authenticates, rate-limits and envelopes API calls; ``edge`` the helpers every area shares; then one
module per Kite area, each exposing ``routes(sim)`` and its payloads as plain functions: ``login`` (with
the HTML of ``pages``), ``session``, ``user``, ``market`` and the simulator's own ``admin``.
"""

from kitekit.sim.http.app import SimApp

__all__ = ["SimApp"]
