"""Kite's protocol, once: the codecs and tables both the client side and the simulator import.

``envelope`` (success and error bodies, the error types and the SDK's exceptions), ``routes`` (rate-limit
classes, batch sizes, exchanges, secret parameters), ``auth`` (the ``Authorization`` header), ``formats``
(timestamps and dates), ``instruments_csv``, ``dump_columns`` and ``segments`` (the instruments dump),
``history`` and ``candles`` (intervals, spans and candle JSON), ``orders`` (the order vocabulary as
``StrEnum``s), ``order_terms`` and ``order_rules`` (an order's terms, Kite's limits and its rules, once, for
the client's pre-trade checks and the exchange alike), ``price_bands`` (the exchanges' F&O limit-price bands),
``static_ip`` (Kite's static-IP rule: the routes it guards, its refusal), ``ticks/`` (the ticker's binary
and text frames) and ``recording`` (recorded ticks on disk). Pure: it imports nothing of kitekit but the
ground floor (``tests/test_import_graph.py``).
"""
