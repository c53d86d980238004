"""kitekit's web edge on the client side: Starlette routes a user's own app can mount, and their servers.

    postbacks   the route Kite's order postbacks are POSTed to, usable alone or inside an app

Starlette lives here and in ``sim/http/`` only; the logic beneath is plain classes (e.g.
:class:`kitekit.orders.postbacks.PostbackInbox`) callable without a server.
"""
