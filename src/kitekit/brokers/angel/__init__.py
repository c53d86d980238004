"""Angel One SmartAPI behind the neutral interfaces (:mod:`kitekit.brokers`), speaking only :mod:`kitekit.wire.angel`.

``capabilities`` (Angel's limits, read from ``wire/angel``), ``client`` (the paced REST client and its errors),
``session`` (client code + PIN + TOTP, refresh before expiry, the saved session), ``instruments`` (the scrip
master as neutral instruments), ``market`` (quotes and candles), ``feed`` (WebSocket 2.0), ``orders`` (Angel's
order API in the shape kitekit's live broker and its intent journal already drive) and ``broker`` (the whole,
and the registry's opener).
"""

from kitekit.brokers.angel.capabilities import ANGEL_CAPABILITIES, BROKER

__all__ = ["ANGEL_CAPABILITIES", "BROKER"]
