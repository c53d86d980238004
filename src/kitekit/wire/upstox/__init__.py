"""Upstox's protocol, once, for kitekit's Upstox client and the Upstox simulator alike.

``routes`` (hosts, paths, the ``Api-Version`` and order-host rules, rate limits, batch sizes), ``errors``
(the error envelope with both key spellings, UDAPI codes), ``keys`` (instrument keys, segments, ISINs),
``instruments`` (the JSON dump), ``orders`` (the order vocabulary and status names), ``history`` (intervals
and span caps, v2 and v3), ``proto`` and ``feed`` (the protobuf ``FeedResponse``, without the SDK) and
``stream`` (the WebSocket's JSON requests, modes and key limits). Pure: the ground floor only.
"""
