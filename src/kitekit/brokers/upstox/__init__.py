"""Upstox behind the neutral interfaces, speaking the protocol of ``kitekit.wire.upstox`` (never the simulator).

The parts: ``capabilities`` (Upstox's limits, read from ``wire/upstox``), ``client`` (paced REST calls and
Upstox's error envelope), ``catcher`` (the local listener for the login redirect and the token webhook),
``session`` (both login flows, the saved session, 03:30 IST expiry), ``instruments`` (the JSON dump under the
neutral identity), ``market`` (quotes and candles), ``feed`` (the protobuf market feed), ``orders`` (Upstox's
order API in the gateway's shape) and ``broker`` (:class:`UpstoxBroker` and the registry's opener).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.brokers.upstox.broker import UpstoxBroker, open_upstox
    from kitekit.brokers.upstox.capabilities import UPSTOX_CAPABILITIES
    from kitekit.brokers.upstox.session import UpstoxApp, UpstoxSession

__all__ = ["UPSTOX_CAPABILITIES", "UpstoxApp", "UpstoxBroker", "UpstoxSession", "open_upstox"]

_LAZY = {
    "UPSTOX_CAPABILITIES": "kitekit.brokers.upstox.capabilities",
    "UpstoxApp": "kitekit.brokers.upstox.session",
    "UpstoxBroker": "kitekit.brokers.upstox.broker",
    "UpstoxSession": "kitekit.brokers.upstox.session",
    "open_upstox": "kitekit.brokers.upstox.broker",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
