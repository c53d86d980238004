"""The Angel One SmartAPI simulator: Angel's REST, scrip master, WebSocket 2.0 and order updates over the
Kite simulator's market, world clock and matching engine (:mod:`kitekit.sim.market`, :mod:`kitekit.sim.exchange`).

``config`` (settings), ``catalog`` (the universe as Angel lists it), ``auth`` (logins and tokens), ``limits``
(per-endpoint rate limits), ``market`` and ``orders`` (answers as plain functions), ``packets`` and ``stream``
(the WebSockets), ``http/`` (the Starlette edge: ``state``, ``app``, ``rest``, ``rest_gtt``, ``stream_routes``),
``server`` (:class:`~kitekit.sim.angel.server.AngelSimServer`), ``sdk`` (the official SDK's sockets pointed here).
"""
