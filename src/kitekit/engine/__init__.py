"""The pure matching engine shared by the simulator and the paper broker: no I/O, no clock, Kite's shapes.

Layers, each a module with one job::

    engine.Engine            the facade: one account's order, portfolio, GTT and calculator routes
    ├── desk                 place / modify / cancel / exit with each variety's steps (amo, co, iceberg, autoslice)
    ├── flow                 the order state machine and matching against quotes
    │   ├── validation       synchronous rejections (HTTP errors)   risk  RMS rejections (REJECTED orders),
    │   │                    both the exchange's words for kitekit.wire.order_rules
    │   └── matching         depth walking, consumed liquidity, stops, market protection
    ├── daycycle             TTL expiry, square-off, close, next session (settlement, AMO release)
    ├── account              the persisted books and the sums over them
    │   ├── order  positions  holdings  funds  gtt
    ├── margins  charges  rates  calculators
    ├── path                 the price path through minute candles (and between ticks) as quotes
    ├── changes              the state in increments: what changed since the last write, folded back
    └── codec                state to and from JSON-able values
"""

from kitekit.engine.changes import apply_changes
from kitekit.engine.engine import STATE_VERSION, Engine, EngineConfig
from kitekit.engine.matching import Liquidity
from kitekit.engine.path import Candle, PathPoint
from kitekit.engine.quote import Level, MarketQuote
from kitekit.engine.spec import AssetClass, InstrumentResolver, InstrumentSpec, resolver_of
from kitekit.wire.order_terms import PlaceRequest

__all__ = [
    "STATE_VERSION",
    "AssetClass",
    "Candle",
    "Engine",
    "EngineConfig",
    "InstrumentResolver",
    "InstrumentSpec",
    "Level",
    "Liquidity",
    "MarketQuote",
    "PathPoint",
    "PlaceRequest",
    "apply_changes",
    "resolver_of",
]
