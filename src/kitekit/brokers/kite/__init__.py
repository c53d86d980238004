"""Kite Connect behind the neutral interfaces: adapters over kitekit's Kite packages, which stay as they are.

The parts: ``capabilities`` (Kite's limits, read from ``wire/``), ``convert`` (Kite's records, quote items and
tick dicts to the neutral types), ``session`` (over ``SessionManager``), ``instruments`` (over
``InstrumentStore``), ``market`` (over ``MarketData`` and ``History``), ``feed`` (over ``Ticker``) and ``broker``
(:class:`KiteBroker`, the whole, and the registry's opener). Names load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.brokers.kite.broker import KiteBroker, open_kite
    from kitekit.brokers.kite.capabilities import KITE_CAPABILITIES
    from kitekit.brokers.kite.feed import KiteFeed
    from kitekit.brokers.kite.instruments import KiteInstruments
    from kitekit.brokers.kite.market import KiteHistory, KiteQuotes
    from kitekit.brokers.kite.session import KiteSession

__all__ = [
    "KITE_CAPABILITIES",
    "KiteBroker",
    "KiteFeed",
    "KiteHistory",
    "KiteInstruments",
    "KiteQuotes",
    "KiteSession",
    "open_kite",
]

_LAZY = {
    "KITE_CAPABILITIES": "kitekit.brokers.kite.capabilities",
    "KiteBroker": "kitekit.brokers.kite.broker",
    "KiteFeed": "kitekit.brokers.kite.feed",
    "KiteHistory": "kitekit.brokers.kite.market",
    "KiteInstruments": "kitekit.brokers.kite.instruments",
    "KiteQuotes": "kitekit.brokers.kite.market",
    "KiteSession": "kitekit.brokers.kite.session",
    "open_kite": "kitekit.brokers.kite.broker",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
