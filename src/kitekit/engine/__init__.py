"""The pure matching engine shared by the simulator and the paper broker: no I/O, no clock, Kite's shapes.

Layers, each a module with one job::

    engine.Engine            the facade: one account's order, portfolio, GTT and calculator routes
    ├── desk                 place / modify / cancel / exit with each variety's steps (amo, co, iceberg, autoslice)
    ├── flow                 the order state machine and matching against quotes
    │   ├── validation       synchronous rejections (HTTP errors)   risk  RMS rejections (REJECTED orders)
    │   └── matching         depth walking, consumed liquidity, stops, market protection
    ├── daycycle             TTL expiry, square-off, close, next session (settlement, AMO release)
    ├── account              the persisted books and the sums over them
    │   ├── order  positions  holdings  funds  gtt
    ├── margins  charges  rates  calculators
    └── codec                state to and from JSON-able values
"""

from kitekit.engine.engine import STATE_VERSION, Engine, EngineConfig
from kitekit.engine.matching import Liquidity
from kitekit.engine.quote import Level, MarketQuote
from kitekit.engine.spec import AssetClass, InstrumentResolver, InstrumentSpec, resolver_of
from kitekit.engine.validation import Rules

__all__ = [
    "STATE_VERSION",
    "AssetClass",
    "Engine",
    "EngineConfig",
    "InstrumentResolver",
    "InstrumentSpec",
    "Level",
    "Liquidity",
    "MarketQuote",
    "Rules",
    "resolver_of",
]
