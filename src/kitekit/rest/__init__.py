"""The request path: every REST call kitekit makes to Kite (or a simulator) is paced, retried and guarded here.

The parts, in the order a request meets them::

    client      paced_client(): the one place kitekit builds a ``KiteConnect``, with the transport mounted
    transport   KiteTransport, the requests adapter on the client's session: guard, pace, send, retry
    ├── pacer   Pacer: send times per (api_key, endpoint class) under Kite's limits, shared by every process
    │   └── serverclock   the server's clock, from its answers' Date: orders go inside Kite's seconds
    └── retry   what each kind of failure leads to (one explicit table) and the backoff between tries
    raw         kite_get(): the one request beside the SDK, for bytes it would parse (instruments, candles);
                kite_call(): routes the SDK lacks (alerts)

Nothing else paces or retries a call. Kite's protocol itself (routes and their classes, limits, envelopes,
the ``Authorization`` header) is :mod:`kitekit.wire`'s; the session a client carries is :mod:`kitekit.session`'s.
"""
