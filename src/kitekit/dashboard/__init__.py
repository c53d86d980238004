"""The browser dashboard (``kitekit dashboard``): positions, P&L, orders, charts, option chains and strategies, live.

Layers, each a small module:

- :mod:`.desk`: what the pages read and control, through kitekit's client APIs (a broker, the client, a ticker);
- :mod:`.feed`: the newest tick per instrument, coalesced, and the feed's health;
- :mod:`.views`: the numbers each page shows (positions marked with the engine's own P&L formula);
- :mod:`.market`: the chart's candles and fills, the option chain's rows;
- :mod:`.push`: the live stream (server-sent events, batched);
- :mod:`.auth`: the per-start token, its cookie, the Origin check of controls;
- :mod:`.app` and :mod:`.server`: the Starlette app and uvicorn, on 127.0.0.1 by default.

The page's files (``static/``) ship in the package: no Node build and no CDN.
"""

from __future__ import annotations

from kitekit.dashboard.auth import Access
from kitekit.dashboard.desk import ControlError, Desk
from kitekit.dashboard.feed import TickBoard
from kitekit.dashboard.server import DashboardServer

__all__ = ["Access", "ControlError", "DashboardServer", "Desk", "TickBoard"]
