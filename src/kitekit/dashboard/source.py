"""Where the dashboard's market data comes from: Kite's own client, or any broker behind the neutral interfaces.

The pages name instruments by an integer token (the positions' rows, the chart, the stream's ``watch`` list),
and the :class:`~kitekit.dashboard.feed.TickBoard` keeps the newest tick per token. :class:`KiteSource` is
what the dashboard always ran on: Kite's instrument store, its ticker and its history client, tokens Kite's own.
:class:`BrokerSource` reads a broker's neutral feed, instruments and candles (Upstox, Angel One, or Kite through
its neutral face); those brokers name instruments ``EXCHANGE:SYMBOL``, and their own tokens are strings or
per-exchange numbers that may collide, so each key met is given a small number of its own here, the same for
the life of the dashboard.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from kitekit.wire.history import Interval
from kitekit.wire.ticks import Mode

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect import KiteConnect

    from kitekit.brokers.broker import Broker
    from kitekit.brokers.feed import LiveFeed
    from kitekit.brokers.model import Tick
    from kitekit.clock import Clock
    from kitekit.instruments import InstrumentStore
    from kitekit.ticker import Ticker

__all__ = ["BrokerSource", "FeedHooks", "KiteSource", "MarketSource", "Named", "source_for"]


@dataclass(frozen=True)
class Named:
    """One instrument as the chart names it: its ``EXCHANGE:SYMBOL`` key and the dashboard's token for it."""

    key: str
    token: int


@dataclass
class FeedHooks:
    """What the desk wants told by the feed: a batch of tick dicts, an order update, an error."""

    on_ticks: Callable[[Any], None]
    on_order_update: Callable[[Any], None]
    on_error: Callable[[Exception], None]


class MarketSource(Protocol):
    """The market data side of the dashboard: the feed, the instruments' tokens, and candles."""

    #: The data broker's name as a person reads it (``Kite Connect``, ``Upstox``).
    label: str
    #: True when the positions' own ``instrument_token`` is this source's token (Kite's); else the desk maps keys.
    native_tokens: bool

    def start(self, hooks: FeedHooks, watch: list[int], mode: Mode) -> None:
        """Start the feed (its own thread), subscribed to ``watch`` in ``mode``."""
        ...

    def stop(self) -> None:
        """Stop the feed, if started."""
        ...

    @property
    def started(self) -> bool:
        """Return True once the feed was started."""
        ...

    def subscribe(self, tokens: list[int], mode: Mode) -> None:
        """Subscribe ``tokens`` (already known to be new) in ``mode``."""
        ...

    def subscriptions(self) -> set[int]:
        """Return the tokens subscribed now."""
        ...

    def connections(self) -> tuple[int, int]:
        """Return the feed's connections open now and its reconnects so far."""
        ...

    def token(self, key: str) -> int:
        """Return the dashboard's token of ``EXCHANGE:SYMBOL``."""
        ...

    def instrument(self, symbol: str) -> Named:
        """Return the instrument ``symbol`` names (a key, a bare symbol, as the broker's store resolves it).

        Raises:
            UnknownInstrumentError: nothing matches ``symbol``.
        """
        ...

    def candles(self, named: Named, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the candles of ``named`` (indexed by start, ``open``…``close`` columns), oldest first."""
        ...


class KiteSource:
    """Kite's own client: the instrument store, the asyncio ticker, the history client (kept in a candle store).

    Args:
        kite: the logged-in client.
        store: the instrument store (loaded).
        clock: the market's clock.
        login_hint: the command that logs in again (the ticker names it on a dead session).
        candles: a candle store for the chart (None: fetched each time, kept nowhere).
    """

    label = "Kite Connect"
    native_tokens = True

    def __init__(
        self, kite: KiteConnect, store: InstrumentStore, clock: Clock, login_hint: str, candles: Any = None
    ) -> None:
        self.kite = kite
        self.store = store
        self.clock = clock
        self.login_hint = login_hint
        self.candle_path = candles
        self.ticker: Ticker | None = None

    def start(self, hooks: FeedHooks, watch: list[int], mode: Mode) -> None:
        """Start Kite's ticker in columns mode, feeding ``hooks``."""
        from kitekit.ticker import Ticker

        t = Ticker.from_kite(self.kite, self.store, columns=True, clock=self.clock, login_hint=self.login_hint)
        t.on_ticks = hooks.on_ticks
        t.on_order_update = hooks.on_order_update
        t.on_error = hooks.on_error
        self.ticker = t
        if watch:
            t.subscribe(watch, mode)
        t.start()

    def stop(self) -> None:
        """Stop the ticker."""
        if self.ticker is not None:
            self.ticker.stop()

    @property
    def started(self) -> bool:
        """Return True once the ticker was started."""
        return self.ticker is not None

    def subscribe(self, tokens: list[int], mode: Mode) -> None:
        """Subscribe instrument tokens on the ticker."""
        if self.ticker is not None:
            self.ticker.subscribe(tokens, mode)

    def subscriptions(self) -> set[int]:
        """Return the ticker's subscribed tokens."""
        return set(self.ticker.subscriptions) if self.ticker is not None else set()

    def connections(self) -> tuple[int, int]:
        """Return the ticker's open connections and reconnects."""
        t = self.ticker
        return (t.connected, t.stats.reconnects) if t is not None else (0, 0)

    def token(self, key: str) -> int:
        """Return Kite's instrument token of ``key``."""
        return self.store.token(key)

    def instrument(self, symbol: str) -> Named:
        """Return the instrument the store finds for ``symbol``."""
        found = self.store.instrument(symbol)
        return Named(f"{found.exchange}:{found.tradingsymbol}", found.instrument_token)

    def candles(self, named: Named, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return candles through kitekit's history client (``GET /instruments/historical/…``)."""
        frame: pd.DataFrame = self.history().candles(named.token, Interval(interval), start, end)
        return frame

    def history(self) -> Any:
        """Return kitekit's history client on this client, kept in the candle store when there is one."""
        from kitekit.history import History

        store = None
        if self.candle_path is not None:
            from kitekit.history import CandleStore

            store = CandleStore(self.candle_path)
        return History(self.kite, self.store, store, clock=self.clock)


class BrokerSource:
    """A broker's neutral feed, instruments and candles (the data broker of ``--broker``/``--data``).

    Args:
        broker: the data broker, logged in.
        candles: a candle store path for the chart (None: fetched each time, kept nowhere).
        feed_options: passed to the broker's feed (reconnects, the watchdog).
    """

    native_tokens = False

    def __init__(self, broker: Broker, candles: Any = None, **feed_options: Any) -> None:
        self.broker = broker
        self.label = broker.capabilities.label
        self.candle_path = candles
        self.feed_options = feed_options
        self.feed: LiveFeed | None = None
        self._lock = threading.Lock()
        self._tokens: dict[str, int] = {}
        self._keys: dict[int, str] = {}
        self._reconnects = 0
        self._hooks: FeedHooks | None = None

    # -- tokens ------------------------------------------------------------------------------------
    def token(self, key: str) -> int:
        """Return the dashboard's number for ``key`` (given on first sight, kept for the dashboard's life)."""
        with self._lock:
            found = self._tokens.get(key)
            if found is None:
                found = self._tokens[key] = len(self._tokens) + 1
                self._keys[found] = key
            return found

    def instrument(self, symbol: str) -> Named:
        """Return the instrument the broker's store finds for ``symbol``, under its neutral key."""
        found = self.broker.instruments().instrument(symbol)
        return Named(found.key, self.token(found.key))

    def candles(self, named: Named, interval: str, start: datetime, end: datetime) -> pd.DataFrame:
        """Return the broker's candles through its neutral history (kept in the candle store when there is one)."""
        store = None
        if self.candle_path is not None:
            from kitekit.history import CandleStore

            store = CandleStore(self.candle_path)
        return self.broker.history(store).candles(named.key, interval, start, end)

    # -- the feed ----------------------------------------------------------------------------------
    def start(self, hooks: FeedHooks, watch: list[int], mode: Mode) -> None:
        """Start the broker's live feed on its own thread, its ticks handed on as tick dicts under our tokens."""
        feed = self.broker.feed(**self.feed_options)
        self._hooks = hooks
        feed.on_ticks = self._ticks
        feed.on_order_update = hooks.on_order_update
        feed.on_error = hooks.on_error
        feed.on_reconnect = self._reconnected
        self.feed = feed
        if watch:
            self.subscribe(watch, mode)
        feed.start()

    def stop(self) -> None:
        """Stop the feed."""
        if self.feed is not None:
            self.feed.stop()

    @property
    def started(self) -> bool:
        """Return True once the feed was started."""
        return self.feed is not None

    def subscribe(self, tokens: list[int], mode: Mode) -> None:
        """Subscribe the keys behind ``tokens`` (one the broker does not list is left out, as Kite's ticker does)."""
        if self.feed is None:
            return
        keys = [k for t in tokens if (k := self._keys.get(t)) is not None]
        if keys:
            self.feed.subscribe(keys, str(mode))

    def subscriptions(self) -> set[int]:
        """Return the tokens of the keys subscribed now."""
        if self.feed is None:
            return set()
        return {t for key in self.feed.subscriptions if (t := self._tokens.get(key)) is not None}

    def connections(self) -> tuple[int, int]:
        """Return the feed's open connections and reconnects."""
        return (self.feed.connected if self.feed is not None else 0), self._reconnects

    def _reconnected(self, attempt: int, delay: int) -> None:
        self._reconnects += 1

    def _ticks(self, ticks: Iterable[Tick]) -> None:
        if self._hooks is not None:
            self._hooks.on_ticks([self._tick(t) for t in ticks if t.key in self._tokens])

    def _tick(self, tick: Tick) -> dict[str, Any]:
        # The board reads the SDK's tick dict: the price, OI, volume and the exchange's time.
        return {
            "instrument_token": self._tokens[tick.key],
            "last_price": tick.last_price,
            "oi": tick.oi,
            "volume_traded": tick.volume,
            "exchange_timestamp": tick.timestamp,
        }


def source_for(broker: Broker, clock: Clock, login_hint: str, candles: Any = None) -> MarketSource:
    """Return the market data source of data broker ``broker``: Kite's own client when it is Kite.

    Kite chosen as the data broker beside another order broker (``--data kite --orders upstox``) keeps Kite's
    ticker, tokens and the option chain's analytics, as the dashboard always had them.
    """
    from kitekit.brokers.kite.broker import KiteBroker

    if isinstance(broker, KiteBroker):
        return KiteSource(broker.native(), broker.store().load(), clock, login_hint, candles)
    return BrokerSource(broker, candles)
