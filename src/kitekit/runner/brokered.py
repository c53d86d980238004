"""The runner on any broker: the neutral interfaces (``kitekit.brokers``) in the shapes the run loop reads.

The run loop, the paper broker and the engine were written against Kite's shapes: instruments with an
``instrument_token``, ticks and ``/quote`` items as Kite's dicts, an option chain with ``ce_token`` and
``ce_symbol``. Strategies read the same shapes (``tick["instrument_token"]``, ``instruments.option_chain``), and
they must run unchanged on every broker. So the broker's neutral parts are met here, at the runner's edge, once:

    RunInstruments   the order broker's instruments with the store's lookups (``key``, ``token``, a Kite-shaped
                     chain); tokens are the order broker's, so the engine, the rules and the book speak one set
    FeedTicker       a broker's LiveFeed as the ticker the live driver reads (neutral ticks back to Kite's dicts)
    BrokerMarket     a BrokerPair's quotes, candles, feed and order gateway for :func:`kitekit.runner.trade`
    EstimatedCharges a live gateway whose broker has no charges estimate, its trades charged by the engine's
                     schedule (the one paper and backtests use), so every run's report itemises its costs

In the mixed mode (data from one broker, orders on another) every neutral key is met on the order broker's
instruments: the data broker's ticks and quotes reach the run under the order broker's tokens.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from kitekit.brokers.broker import Broker, BrokerPair
    from kitekit.brokers.feed import LiveFeed
    from kitekit.brokers.instruments import BrokerInstruments, RuleFacts
    from kitekit.brokers.market import HistoryService
    from kitekit.brokers.model import Tick
    from kitekit.clock import Clock
    from kitekit.history.store import CandleStore
    from kitekit.orders.model import Charges, Order
    from kitekit.wire.instruments_csv import Instrument

__all__ = ["BrokerMarket", "EstimatedCharges", "FeedTicker", "RunInstruments", "kite_tick", "pair_of"]

#: A Kite-shaped option chain's columns (``InstrumentStore.option_chain``): what strategies read.
KITE_CHAIN_COLUMNS = ("strike", "ce_token", "ce_symbol", "pe_token", "pe_symbol", "lot_size", "expiry")


class RunInstruments:
    """A broker's instruments with the lookups the runner and strategies use on Kite's store.

    Args:
        neutral: the broker's neutral instrument store (the order broker's, in the mixed mode).
    """

    def __init__(self, neutral: BrokerInstruments) -> None:
        self.neutral = neutral
        self.broker = neutral.broker
        self._keys: dict[str | int, str] = {}

    @property
    def facts(self) -> RuleFacts:
        """Return the broker's records as the rules read them (asked each time: a run may outlive the day's list)."""
        return self.neutral.rule_facts()

    def instrument(self, query: str | int) -> Instrument:
        """Return the record of a key, symbol, token or the broker's own key (the rules' and the engine's).

        Raises:
            UnknownInstrumentError: the broker does not list it.
        """
        if isinstance(query, str) and query.isdigit():
            query = int(query)
        return self.facts.instrument(query)

    def key(self, query: str | int) -> str:
        """Return the neutral ``EXCHANGE:SYMBOL`` of ``query``."""
        found = self._keys.get(query)
        if found is None:
            found = self._keys[query] = self.instrument(query).key
        return found

    def token(self, query: str | int) -> int:
        """Return the instrument token the run knows ``query`` by (the order broker's)."""
        return int(self.instrument(query).instrument_token)

    def option_chain(
        self, underlying: str, expiry: date | str | None = None, exchange: str | None = None
    ) -> pd.DataFrame:
        """Return one expiry's chain as Kite's store shapes it (``ce_token``, ``ce_symbol``, ``pe_…``).

        Raises:
            UnknownInstrumentError: the broker lists no options of ``underlying``.
        """
        import pandas as pd

        chain = self.neutral.option_chain(underlying, expiry, exchange)
        rows = []
        for row in chain.to_dict("records"):
            out = {"strike": row["strike"], "lot_size": row["lot_size"], "expiry": row["expiry"]}
            for side in ("ce", "pe"):
                key = row.get(f"{side}_key")
                out[f"{side}_token"] = self.token(key) if key else None
                out[f"{side}_symbol"] = str(key).split(":", 1)[1] if key else None
            rows.append(out)
        return pd.DataFrame(rows, columns=list(KITE_CHAIN_COLUMNS))

    def __getattr__(self, name: str) -> Any:
        # The rest of the store's API (futures, expiries, search) is the neutral one's.
        return getattr(self.neutral, name)


def kite_tick(tick: Tick, token: int) -> dict[str, Any]:
    """Return a neutral tick as the Kite tick dict the run loop, the paper broker and strategies read."""
    out: dict[str, Any] = {
        "instrument_token": token,
        "tradable": True,
        "mode": tick.mode,
        "last_price": tick.last_price,
        "last_traded_quantity": tick.last_quantity,
        "average_traded_price": tick.average_price,
        "volume_traded": tick.volume,
        "oi": tick.oi,
        "exchange_timestamp": tick.timestamp,
        "last_trade_time": tick.timestamp,
    }
    if tick.ohlc is not None:
        o = tick.ohlc
        out["ohlc"] = {"open": o.open, "high": o.high, "low": o.low, "close": o.close}
        out["change"] = (tick.last_price - o.close) / o.close * 100 if o.close else 0.0
    if tick.bids or tick.asks:
        out["depth"] = {
            "buy": [{"price": lv.price, "quantity": lv.quantity, "orders": lv.orders} for lv in tick.bids],
            "sell": [{"price": lv.price, "quantity": lv.quantity, "orders": lv.orders} for lv in tick.asks],
        }
    return out


class FeedTicker:
    """A broker's :class:`~kitekit.brokers.feed.LiveFeed` as the ticker :func:`~kitekit.runner.drivers.run_live` reads.

    Instruments are subscribed by the run's tokens and ticks come back as Kite's dicts under them; ticks of
    instruments the run does not know are dropped.

    Args:
        feed: the data broker's feed (not started).
        instruments: the run's instruments (the order broker's).
        order_updates: pass the feed's order updates on (only when the feed's broker is the order broker).
    """

    def __init__(self, feed: LiveFeed, instruments: RunInstruments, *, order_updates: bool = False) -> None:
        self.feed = feed
        self.instruments = instruments
        self.order_updates = order_updates
        self.on_ticks: Callable[[list[dict[str, Any]]], object] | None = None
        self.on_order_update: Callable[[dict[str, Any]], object] | None = None
        self._tokens: dict[str, int | None] = {}
        feed.on_ticks = self._ticks

    def _token(self, key: str) -> int | None:
        if key not in self._tokens:
            from kitekit.errors import UnknownInstrumentError

            try:
                self._tokens[key] = self.instruments.token(key)
            except UnknownInstrumentError:
                self._tokens[key] = None
        return self._tokens[key]

    def _ticks(self, ticks: list[Tick]) -> None:
        out = []
        for tick in ticks:
            token = self._token(tick.key)
            if token is not None:
                out.append(kite_tick(tick, token))
        if out and self.on_ticks is not None:
            self.on_ticks(out)

    def _order(self, payload: dict[str, Any]) -> None:
        if self.on_order_update is not None:
            self.on_order_update(payload)

    def subscribe(self, tokens: Iterable[int | str], mode: str = "full") -> None:
        """Subscribe instruments named by the run's tokens (or keys) on the feed."""
        tokens = list(tokens)
        keys = [self.instruments.key(t) for t in tokens]
        for key, token in zip(keys, tokens, strict=True):
            if isinstance(token, int):
                self._tokens[key] = token
        self.feed.subscribe(keys, mode)

    def start(self) -> None:
        """Start the feed in its own thread."""
        if self.order_updates:
            self.feed.on_order_update = self._order
        self.feed.start()

    def stop(self) -> None:
        """Stop the feed."""
        self.feed.stop()

    @property
    def error(self) -> BaseException | None:
        """Return the error that stopped the feed, None while it runs (or stopped cleanly)."""
        try:
            self.feed.wait(0)
        except Exception as exc:
            return exc
        return None


class BrokerMarket:
    """A :class:`~kitekit.brokers.broker.BrokerPair` as a paper or live run needs it.

    Args:
        pair: the data broker and the order broker (one broker for both: the pair of it with itself).
        store: where candles are kept (brokers that keep them); None: fetched as needed.
    """

    def __init__(self, pair: BrokerPair, store: CandleStore | None = None) -> None:
        from kitekit.brokers.paper_quotes import NeutralQuoteSource

        self.pair = pair
        self.instruments = RunInstruments(pair.instruments())
        self.history: HistoryService = pair.history(store)
        #: ``quote(*tokens)`` with Kite's items, from the data broker (paper fills, quotes before a tick).
        self.quotes = NeutralQuoteSource(pair.quotes(), self.instruments)

    @property
    def clock(self) -> Clock:
        """Return the order broker's time (a simulator's market clock on one)."""
        return self.pair.order_broker.clock

    @property
    def name(self) -> str:
        """Return the order broker's name, and the data broker's when it is another (``kite+angel``)."""
        orders, data = self.pair.order_broker.name, self.pair.data.name
        return orders if orders == data else f"{orders}+{data}"

    @property
    def tag_length(self) -> int:
        """Return the longest order tag the order broker takes."""
        return self.pair.order_broker.capabilities.tag.max_length

    def ticker(self, live: bool) -> FeedTicker:
        """Return the data broker's feed as the run's ticker (order updates too when it is the order broker's)."""
        return FeedTicker(self.pair.feed(), self.instruments, order_updates=live and not self.pair.mixed)

    def gateway(self, quotes: Any, *, live: bool, base: Path, clock: Clock, capital: float) -> Any:
        """Return the order gateway of the run: the order broker's live one, or a paper broker priced by ``quotes``.

        Each broker keeps its own paper ledger and order journal (Kite's where they always were).
        """
        name = self.pair.order_broker.name
        if live:
            gateway = self.pair.order_broker.orders(paper=False, folder=_folder(base / "orders", name))
            return EstimatedCharges(gateway, self.instruments, clock)
        from kitekit.orders import PaperBroker

        folder = _folder(base / "paper", name)
        return PaperBroker(quotes, self.instruments, folder=folder, clock=clock, funds=capital, candles=False)


class EstimatedCharges:
    """A live gateway as it is, but for ``charges``: where the broker offers no estimate, the engine's schedule.

    Kite answers ``POST /charges/orders``; Upstox and Angel have no such call in kitekit. Their trades are then
    charged as the engine charges paper and backtest fills (Kite's rates), rather than left out of the report.

    Args:
        gateway: the order broker's live gateway.
        instruments: the run's instruments (the facts the schedule reads: exchange, segment, lot multiplier).
        clock: the day an order without a time was made on.
    """

    def __init__(self, gateway: Any, instruments: RunInstruments, clock: Clock) -> None:
        self.gateway = gateway
        self.instruments = instruments
        self.clock = clock

    def charges(self, orders: Sequence[Order]) -> list[Charges]:
        """Return the broker's charges of ``orders``, or the engine's estimate when the broker has none."""
        from kitekit.errors import BrokerFeatureError

        try:
            found: list[Charges] = self.gateway.charges(orders)
        except BrokerFeatureError:
            return [self._estimate(o) for o in orders]
        return found

    def _estimate(self, order: Order) -> Charges:
        from kitekit.clock import IST
        from kitekit.engine.charges import order_charges
        from kitekit.orders.model import Charges
        from kitekit.orders.validator import Validator
        from kitekit.wire.orders import Product

        spec = Validator(self.instruments.instrument).spec(order.key)
        stamp = order.order_timestamp or self.clock.now()
        day = stamp.astimezone(IST).date()
        note = order_charges(spec, Product(order.product), order.transaction_type == "BUY", order.filled_quantity,
                             order.average_price, day)  # fmt: skip
        return Charges.from_kite(note)

    def __getattr__(self, name: str) -> Any:
        # Everything else is the gateway's own: placing, the journal, the books.
        return getattr(self.gateway, name)


def _folder(base: Path, broker: str) -> Path:
    return base if broker == "kite" else base / broker


def pair_of(brokers: Broker | BrokerPair) -> BrokerPair:
    """Return ``brokers`` as a pair (one broker: data and orders from it)."""
    from kitekit.brokers.broker import BrokerPair

    return brokers if isinstance(brokers, BrokerPair) else BrokerPair(brokers, brokers)
