"""Angel One SmartAPI's protocol, once, for the Angel simulator and kitekit's Angel client alike.

``routes`` (REST paths, hosts, client headers, per-endpoint rate limits), ``envelope`` (the success body and
both error dialects), ``orders`` (varieties, order and product types, string-or-number fields), ``history``
(candle intervals and their day caps), ``scrip`` (the scrip master's fields), ``stream`` (WebSocket 2.0's
binary packets, encoder and decoder), ``stream_messages`` (its JSON requests, errors and heartbeat) and
``order_updates`` (the order-update stream). Facts are checked against ``smartapi-python`` 1.5.5; those it
cannot confirm are marked SIM where they are used. Pure: the ground floor only.
"""
