"""Orders without surprises: pre-trade checks, never a duplicate, paper trading by default.

The parts, each with one job::

    gateway      OrderGateway (the interface both brokers implement) and broker(), paper unless paper=False
    ├── live     LiveBroker: the official KiteConnect, validated, journaled, looked up by tag after any doubt
    │   ├── placement   placing an intent exactly once; reconciling the journal at start; order budgets
    │   ├── journal     the intent journal (SQLite, WAL, fsync'd before every send) and derived tags
    │   └── outcomes    what each failure of an order request means (one explicit table)
    ├── paper    PaperBroker: the simulator's matching engine fed by any quote source
    │   ├── ledger      the paper account on disk (atomic JSON under a file lock)
    │   └── quotes      quote sources: Kite's or the simulator's quote(), recorded, replayed
    ├── validator    pre-trade validation against the instrument store (the rules in rules)
    ├── model    OrderRequest, OrderChange, Placement, Order, Trade (StrEnums with Kite's wire values)
    ├── portfolio    Position(s), Holding, Funds, GTT requests and triggers
    └── events   OrderEvents: status changes as callbacks and an async iterator (polling now, pushes later)

Names load their modules on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kitekit.orders.events import OrderEvents, OrderUpdate
    from kitekit.orders.gateway import OrderGateway, broker, market_time
    from kitekit.orders.journal import Intent, IntentJournal, IntentState
    from kitekit.orders.live import LiveBroker, new_intent_id
    from kitekit.orders.model import Order, OrderChange, OrderRequest, Placement, Trade
    from kitekit.orders.paper import PaperBroker
    from kitekit.orders.placement import Budget, LookupPolicy, Reconciliation
    from kitekit.orders.portfolio import Funds, Gtt, GttOrder, GttRequest, Holding, Position, Positions
    from kitekit.orders.quotes import QuoteRecorder, QuoteSource, RecordedQuotes
    from kitekit.orders.rules import PreTradeRules, Rule, nearest_tick
    from kitekit.orders.validator import Validator
    from kitekit.wire.orders import Exchange, OrderStatus, OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "Budget",
    "Exchange",
    "Funds",
    "Gtt",
    "GttOrder",
    "GttRequest",
    "Holding",
    "Intent",
    "IntentJournal",
    "IntentState",
    "LiveBroker",
    "LookupPolicy",
    "Order",
    "OrderChange",
    "OrderEvents",
    "OrderGateway",
    "OrderRequest",
    "OrderStatus",
    "OrderType",
    "OrderUpdate",
    "PaperBroker",
    "Placement",
    "Position",
    "Positions",
    "PreTradeRules",
    "Product",
    "QuoteRecorder",
    "QuoteSource",
    "Reconciliation",
    "RecordedQuotes",
    "Rule",
    "Trade",
    "TransactionType",
    "Validator",
    "Validity",
    "Variety",
    "broker",
    "market_time",
    "nearest_tick",
    "new_intent_id",
]

_LAZY = {
    "OrderEvents": "events",
    "OrderUpdate": "events",
    "OrderGateway": "gateway",
    "broker": "gateway",
    "market_time": "gateway",
    "Intent": "journal",
    "IntentJournal": "journal",
    "IntentState": "journal",
    "LiveBroker": "live",
    "new_intent_id": "live",
    "Order": "model",
    "OrderChange": "model",
    "OrderRequest": "model",
    "Placement": "model",
    "Trade": "model",
    "PaperBroker": "paper",
    "Budget": "placement",
    "LookupPolicy": "placement",
    "Reconciliation": "placement",
    "Funds": "portfolio",
    "Gtt": "portfolio",
    "GttOrder": "portfolio",
    "GttRequest": "portfolio",
    "Holding": "portfolio",
    "Position": "portfolio",
    "Positions": "portfolio",
    "QuoteRecorder": "quotes",
    "QuoteSource": "quotes",
    "RecordedQuotes": "quotes",
    "PreTradeRules": "rules",
    "Rule": "rules",
    "nearest_tick": "rules",
    "Validator": "validator",
}
_WIRE = ("Exchange", "OrderStatus", "OrderType", "Product", "TransactionType", "Validity", "Variety")


def __getattr__(name: str) -> Any:
    if name in _WIRE:
        return getattr(importlib.import_module("kitekit.wire.orders"), name)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kitekit.orders' has no attribute {name!r}")
    return getattr(importlib.import_module(f"kitekit.orders.{module}"), name)
