"""A local server that speaks Kite Connect v3 (REST, the login flow and the WebSocket ticker) over a simulated market.

It serves every route the official SDK calls (``docs/simulator.md``): login and session, user, quotes, the
instruments dump, historical candles, orders, portfolio, GTT, margins and mutual funds, with orders filled on
the matching engine and their updates pushed to the ticker's connections. The parts: ``market/`` (the market
model), ``exchange`` (accounts and order flow on :mod:`kitekit.engine`), ``http/`` (the only Starlette code),
``feed/`` (the ticker), ``auth`` (logins and tokens), ``world`` (the simulated clock kept on disk),
``server`` (:class:`SimServer`). The simulator never imports the client side of kitekit; both share only
:mod:`kitekit.wire`, :mod:`kitekit.engine` and the ground floor (``tests/test_import_graph.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.sim.config import SimConfig
    from kitekit.sim.server import SimServer

__all__ = ["SimConfig", "SimServer"]

# Names load their modules on first use: a command that only reads the world's clock (``kitekit.sim.world``)
# or the simulator's public credentials (``kitekit.sim.config``) must not pay for uvicorn, Starlette and the
# market model, which importing ``kitekit.sim.server`` costs (~0.4 s).
_LAZY = {"SimConfig": "kitekit.sim.config", "SimServer": "kitekit.sim.server"}

__getattr__ = lazy_getattr(__name__, _LAZY)
