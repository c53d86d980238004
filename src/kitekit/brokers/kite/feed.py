"""Kite's asyncio :class:`~kitekit.ticker.Ticker` behind the neutral :class:`~kitekit.brokers.feed.LiveFeed`.

The ticker does all the work (reconnects, resubscription, the watchdog, shards, the token swap, a dead session);
this adapter only names instruments by their neutral keys and turns the SDK's tick dicts into neutral ticks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from typing import TYPE_CHECKING, Any

from kitekit.brokers.feed import FeedMode
from kitekit.brokers.feed_loop import FeedContext
from kitekit.brokers.kite.convert import tick_of
from kitekit.brokers.model import Tick

if TYPE_CHECKING:
    from kitekit.instruments import InstrumentStore
    from kitekit.ticker import Ticker, TickerStats

__all__ = ["KiteFeed"]


def _passed(name: str, doc: str) -> Any:
    """Return a property that reads and sets the ticker's own callback ``name``: handed through as it is."""

    def get(feed: KiteFeed) -> Any:
        return getattr(feed.ticker, name)

    def put(feed: KiteFeed, callback: Any) -> None:
        setattr(feed.ticker, name, callback)

    return property(get, put, doc=doc)


class KiteFeed(FeedContext):
    """A neutral live feed over a :class:`~kitekit.ticker.Ticker` (which must deliver dicts, not columns).

    Args:
        ticker: the ticker (from ``Ticker.from_kite(kite, store)``).
        store: names each tick's token by its neutral key.
    """

    def __init__(self, ticker: Ticker, store: InstrumentStore) -> None:
        if ticker.columns:
            raise ValueError("the neutral feed turns tick dicts into ticks: make the Ticker with columns=False")
        self.ticker = ticker
        self.store = store
        self.on_ticks: Callable[[list[Tick]], object] | None = None
        self._keys: dict[int, str] = {}
        ticker.on_ticks = self._deliver

    on_order_update = _passed("on_order_update", "Called with each order update the feed pushes (Kite's dict).")
    on_error = _passed("on_error", "Called with each error the feed meets (it goes on unless the session died).")
    on_connect = _passed("on_connect", "Called with a connection's number when it opens.")
    on_close = _passed("on_close", "Called with a connection's number, close code and reason when it ends.")
    on_reconnect = _passed("on_reconnect", "Called with a connection's number and attempt as it reconnects.")

    @property
    def stats(self) -> TickerStats:
        """Return the ticker's counters (frames, heartbeats, ticks, reconnects, dropped ticks)."""
        return self.ticker.stats

    # -- subscriptions ------------------------------------------------------------------------------------
    def subscribe(self, instruments: Iterable[str | int], mode: FeedMode | str = FeedMode.QUOTE) -> list[str]:
        """Subscribe ``instruments`` in ``mode``; return their neutral keys.

        Raises:
            TickerError: more instruments than Kite's three connections carry.
            UnknownInstrumentError: the store does not know a name.
        """
        return [self._key(t) for t in self.ticker.subscribe(instruments, FeedMode(mode).value)]

    def unsubscribe(self, instruments: Iterable[str | int]) -> list[str]:
        """Unsubscribe ``instruments``; return the neutral keys that were subscribed."""
        return [self._key(t) for t in self.ticker.unsubscribe(instruments)]

    def set_mode(self, mode: FeedMode | str, instruments: Iterable[str | int]) -> None:
        """Change the mode of subscribed instruments (TickerError if one is not subscribed)."""
        self.ticker.set_mode(FeedMode(mode).value, instruments)

    @property
    def subscriptions(self) -> dict[str, FeedMode]:
        """Return every subscribed instrument's neutral key and mode."""
        return {self._key(t): FeedMode(m.value) for t, m in self.ticker.subscriptions.items()}

    def set_access_token(self, access_token: str) -> None:
        """Use a fresh access token: connections reconnect with it, subscriptions kept."""
        self.ticker.set_access_token(access_token)

    def _key(self, token: int) -> str:
        key = self._keys.get(token)
        if key is None:
            key = self._keys[token] = self.store.key(token)
        return key

    def _ticks(self, ticks: list[dict[str, Any]]) -> list[Tick]:
        return [tick_of(self._key(t["instrument_token"]), t) for t in ticks]

    def _deliver(self, ticks: list[dict[str, Any]]) -> None:
        callback = self.on_ticks
        if callback is not None:
            callback(self._ticks(ticks))

    # -- running ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return True between connecting and closing."""
        return self.ticker.running

    @property
    def connected(self) -> int:
        """Return how many connections are open now."""
        return self.ticker.connected

    async def connect(self) -> None:
        """Start on the running loop; return once connected (SessionExpiredError on a dead token)."""
        await self.ticker.connect()

    async def close(self) -> None:
        """Close every connection."""
        await self.ticker.close()

    async def _iterate(self) -> AsyncIterator[list[Tick]]:
        async for ticks in self.ticker:
            yield self._ticks(ticks)

    def start(self) -> None:
        """Run in a background thread; return at once."""
        self.ticker.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread's feed."""
        self.ticker.stop(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background feed to stop (or ``timeout``); raise the error that stopped it."""
        self.ticker.wait(timeout)
