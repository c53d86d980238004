"""The broker-neutral interfaces the runner, the dashboard, the CLI and user code program against.

The parts, each with one job::

    model          neutral values: InstrumentId (EXCHANGE:SYMBOL), BrokerInstrument, Quote, QuoteSet, Tick, Candle
    capabilities   BrokerCapabilities: rate limits, batch sizes, candle spans, feed capacity, tags, expiry, extras
    session        BrokerSession: login flows, the saved session, expiry, advice to log in again
    instruments    BrokerInstruments: lookups, futures, option chains; the facts the pre-trade rules read
    market         QuoteService (paced batches) and HistoryService (candles of any span)
    feed           LiveFeed: the asyncio ticker's API, ticks as neutral Ticks
    orders         BrokerOrders: the OrderGateway (rules, intent journal, paper) without Kite's extras
    paper_quotes   any broker's quotes as the paper broker's source (the mixed mode's paper fills)
    recording      FeedRecorder: a broker's feed in the tick recordings' files, and read back as Ticks
    broker         Broker, the whole; BrokerPair, data from one broker and orders on another
    credentials    each broker's credentials in the usual layers (arguments, env, .env, config.json)
    selection      which broker(s) a run uses: --broker / --data / --orders, KITEKIT_BROKER, config
    registry       where a broker plugs in; open_broker(), open_pair()
    kite/          Kite Connect, the first implementation, over kitekit's Kite packages (unchanged)

Names load their modules on first use. Nothing below this package imports it: it sits above the Kite packages,
beside the CLI (``tests/test_import_graph.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.brokers.broker import Broker, BrokerPair
    from kitekit.brokers.capabilities import (
        BrokerCapabilities,
        Endpoint,
        Extra,
        FeedLimits,
        HistorySpan,
        LoginMethod,
        RateLimit,
        TagRule,
    )
    from kitekit.brokers.credentials import BrokerCredentials, CredentialField
    from kitekit.brokers.feed import FeedMode, LiveFeed
    from kitekit.brokers.instruments import CHAIN_COLUMNS, BrokerInstruments
    from kitekit.brokers.market import HistoryService, QuoteService
    from kitekit.brokers.model import (
        CANDLE_COLUMNS,
        BrokerInstrument,
        Candle,
        InstrumentId,
        InstrumentKind,
        Ohlc,
        Quote,
        QuoteSet,
        Tick,
        derivative_symbol,
    )
    from kitekit.brokers.orders import BrokerOrders, OrderEvent
    from kitekit.brokers.registry import BrokerEntry, OpenOptions, choose, open_broker, open_pair
    from kitekit.brokers.selection import BrokerChoice
    from kitekit.brokers.session import BrokerSession, SessionInfo

__all__ = [
    "CANDLE_COLUMNS",
    "CHAIN_COLUMNS",
    "Broker",
    "BrokerCapabilities",
    "BrokerChoice",
    "BrokerCredentials",
    "BrokerEntry",
    "BrokerInstrument",
    "BrokerInstruments",
    "BrokerOrders",
    "BrokerPair",
    "BrokerSession",
    "Candle",
    "CredentialField",
    "Endpoint",
    "Extra",
    "FeedLimits",
    "FeedMode",
    "HistoryService",
    "HistorySpan",
    "InstrumentId",
    "InstrumentKind",
    "LiveFeed",
    "LoginMethod",
    "Ohlc",
    "OpenOptions",
    "OrderEvent",
    "Quote",
    "QuoteService",
    "QuoteSet",
    "RateLimit",
    "SessionInfo",
    "TagRule",
    "Tick",
    "choose",
    "derivative_symbol",
    "open_broker",
    "open_pair",
]

_LAZY = {
    "Broker": "kitekit.brokers.broker",
    "BrokerPair": "kitekit.brokers.broker",
    "BrokerCapabilities": "kitekit.brokers.capabilities",
    "Endpoint": "kitekit.brokers.capabilities",
    "Extra": "kitekit.brokers.capabilities",
    "FeedLimits": "kitekit.brokers.capabilities",
    "HistorySpan": "kitekit.brokers.capabilities",
    "LoginMethod": "kitekit.brokers.capabilities",
    "RateLimit": "kitekit.brokers.capabilities",
    "TagRule": "kitekit.brokers.capabilities",
    "BrokerCredentials": "kitekit.brokers.credentials",
    "CredentialField": "kitekit.brokers.credentials",
    "FeedMode": "kitekit.brokers.feed",
    "LiveFeed": "kitekit.brokers.feed",
    "CHAIN_COLUMNS": "kitekit.brokers.instruments",
    "BrokerInstruments": "kitekit.brokers.instruments",
    "HistoryService": "kitekit.brokers.market",
    "QuoteService": "kitekit.brokers.market",
    "CANDLE_COLUMNS": "kitekit.brokers.model",
    "BrokerInstrument": "kitekit.brokers.model",
    "Candle": "kitekit.brokers.model",
    "InstrumentId": "kitekit.brokers.model",
    "InstrumentKind": "kitekit.brokers.model",
    "Ohlc": "kitekit.brokers.model",
    "Quote": "kitekit.brokers.model",
    "QuoteSet": "kitekit.brokers.model",
    "Tick": "kitekit.brokers.model",
    "derivative_symbol": "kitekit.brokers.model",
    "BrokerOrders": "kitekit.brokers.orders",
    "OrderEvent": "kitekit.brokers.orders",
    "BrokerEntry": "kitekit.brokers.registry",
    "OpenOptions": "kitekit.brokers.registry",
    "choose": "kitekit.brokers.registry",
    "open_broker": "kitekit.brokers.registry",
    "open_pair": "kitekit.brokers.registry",
    "BrokerChoice": "kitekit.brokers.selection",
    "BrokerSession": "kitekit.brokers.session",
    "SessionInfo": "kitekit.brokers.session",
}

__getattr__ = lazy_getattr(__name__, _LAZY)
