"""Orders without surprises: pre-trade checks, never a duplicate, paper trading by default.

The parts, each with one job::

    factory      broker(): a paper broker unless paper=False
    gateway      OrderGateway, the interface both brokers implement (and what they need: Instruments)
    ├── live     LiveBroker: the official KiteConnect, validated, journaled, looked up by tag after any doubt
    │   ├── placement   placing an intent exactly once; reconciling the journal at start; order budgets
    │   ├── journal     the intent journal (SQLite, WAL, fsync'd before every send), claims, intent ids, tags
    │   ├── owners      which journals are still open (a lock file each), so a claim's owner is known alive
    │   ├── outcomes    what each failure of an order request means (one explicit table)
    │   └── static_ip   Kite's static-IP rule checked before an order request leaves
    ├── paper    PaperBroker: the simulator's matching engine fed by any quote source
    │   ├── catchup     resting orders judged on the market's path: minute candles, quotes, ticks
    │   ├── ledger      the paper account on disk (a log of changes and snapshots, under a file lock)
    │   └── quotes      quote sources: Kite's or the simulator's quote() and candles, recorded, replayed
    ├── validator    pre-trade validation against the instrument store (the rules in rules)
    ├── model    OrderRequest, OrderChange, Placement, Order, Trade, Charges (StrEnums with Kite's wire values)
    ├── portfolio    Position(s), Holding, Funds, GTT requests and triggers
    ├── events   OrderEvents: status changes as callbacks and an async iterator (polls, pushes, replays)
    └── postbacks   PostbackInbox: Kite's postbacks verified, de-duplicated, put in order, gaps reconciled

Names load their modules on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kitekit.orders.events import OrderEvents, OrderUpdate
    from kitekit.orders.factory import broker
    from kitekit.orders.gateway import OrderGateway
    from kitekit.orders.journal import ExtraOrder, Intent, IntentJournal, IntentState, new_intent_id
    from kitekit.orders.live import LiveBroker
    from kitekit.orders.model import Charges, Order, OrderChange, OrderRequest, Placement, Trade
    from kitekit.orders.paper import PaperBroker
    from kitekit.orders.placement import Budget, LookupPolicy, Reconciliation, Step
    from kitekit.orders.portfolio import Funds, Gtt, GttOrder, GttRequest, Holding, Position, Positions
    from kitekit.orders.quotes import QuoteRecorder, QuoteSource, RecordedQuotes
    from kitekit.orders.rules import PreTradeRules, Rule, nearest_tick
    from kitekit.orders.validator import Validator
    from kitekit.wire.order_terms import OrderLimits
    from kitekit.wire.orders import Exchange, OrderStatus, OrderType, Product, TransactionType, Validity, Variety

__all__ = [
    "Budget",
    "Charges",
    "Exchange",
    "ExtraOrder",
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
    "OrderLimits",
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
    "Step",
    "Trade",
    "TransactionType",
    "Validator",
    "Validity",
    "Variety",
    "broker",
    "nearest_tick",
    "new_intent_id",
]

_LAZY = {
    "OrderEvents": "kitekit.orders.events",
    "OrderUpdate": "kitekit.orders.events",
    "OrderGateway": "kitekit.orders.gateway",
    "broker": "kitekit.orders.factory",
    "ExtraOrder": "kitekit.orders.journal",
    "Intent": "kitekit.orders.journal",
    "IntentJournal": "kitekit.orders.journal",
    "IntentState": "kitekit.orders.journal",
    "new_intent_id": "kitekit.orders.journal",
    "LiveBroker": "kitekit.orders.live",
    "Charges": "kitekit.orders.model",
    "Order": "kitekit.orders.model",
    "OrderChange": "kitekit.orders.model",
    "OrderRequest": "kitekit.orders.model",
    "Placement": "kitekit.orders.model",
    "Trade": "kitekit.orders.model",
    "PaperBroker": "kitekit.orders.paper",
    "Budget": "kitekit.orders.placement",
    "LookupPolicy": "kitekit.orders.placement",
    "Reconciliation": "kitekit.orders.placement",
    "Step": "kitekit.orders.placement",
    "Funds": "kitekit.orders.portfolio",
    "Gtt": "kitekit.orders.portfolio",
    "GttOrder": "kitekit.orders.portfolio",
    "GttRequest": "kitekit.orders.portfolio",
    "Holding": "kitekit.orders.portfolio",
    "Position": "kitekit.orders.portfolio",
    "Positions": "kitekit.orders.portfolio",
    "QuoteRecorder": "kitekit.orders.quotes",
    "QuoteSource": "kitekit.orders.quotes",
    "RecordedQuotes": "kitekit.orders.quotes",
    "PreTradeRules": "kitekit.orders.rules",
    "Rule": "kitekit.orders.rules",
    "nearest_tick": "kitekit.orders.rules",
    "Validator": "kitekit.orders.validator",
    "OrderLimits": "kitekit.wire.order_terms",
    "Exchange": "kitekit.wire.orders",
    "OrderStatus": "kitekit.wire.orders",
    "OrderType": "kitekit.wire.orders",
    "Product": "kitekit.wire.orders",
    "TransactionType": "kitekit.wire.orders",
    "Validity": "kitekit.wire.orders",
    "Variety": "kitekit.wire.orders",
}


__getattr__ = lazy_getattr(__name__, _LAZY)
