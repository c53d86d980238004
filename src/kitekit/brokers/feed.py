"""The neutral live feed: the asyncio ticker's API (subscribe, callbacks, ``async for``, start/stop) on any broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from kitekit.brokers.model import Tick

__all__ = ["FeedMode", "LiveFeed"]


class FeedMode(StrEnum):
    """What a subscription delivers, the same on every broker (each maps it to its own modes)."""

    #: The last price only.
    LTP = "ltp"
    #: Last price, volume, OHLC, OI, no depth.
    QUOTE = "quote"
    #: Everything, with five levels of depth a side.
    FULL = "full"


@runtime_checkable
class LiveFeed(Protocol):
    """A broker's live feed, kept alive: reconnects and resubscribes, detects dead links, stops on a dead session.

    Instruments are named as anywhere else (``"NSE:INFY"``, ``"NIFTY 50"``, the broker's key); ticks come as
    :class:`~kitekit.brokers.model.Tick` keyed by the neutral identity. Callbacks are attributes (None by
    default) that run on the feed's event loop: ``on_ticks(ticks)``, ``on_order_update(order)``,
    ``on_error(error)``, ``on_connect(connection)``, ``on_close(connection, code, reason)``,
    ``on_reconnect(connection, attempt)``. Subscriptions may change from any thread and outlive reconnects,
    token swaps and restarts; the broker's connection and per-connection caps are in
    :attr:`BrokerCapabilities.feed`.
    """

    on_ticks: Callable[[list[Tick]], object] | None
    on_order_update: Callable[[dict[str, Any]], object] | None
    on_error: Callable[[Exception], object] | None
    on_connect: Callable[[int], object] | None
    on_close: Callable[[int, int, str], object] | None
    on_reconnect: Callable[[int, int], object] | None

    def subscribe(self, instruments: Iterable[str | int], mode: FeedMode | str = FeedMode.QUOTE) -> list[str]:
        """Subscribe ``instruments`` in ``mode``; return their neutral keys."""
        ...

    def unsubscribe(self, instruments: Iterable[str | int]) -> list[str]:
        """Unsubscribe ``instruments``; return the neutral keys that were subscribed."""
        ...

    def set_mode(self, mode: FeedMode | str, instruments: Iterable[str | int]) -> None:
        """Change the mode of subscribed instruments."""
        ...

    @property
    def subscriptions(self) -> dict[str, FeedMode]:
        """Return every subscribed instrument's neutral key and mode."""
        ...

    def set_access_token(self, access_token: str) -> None:
        """Use a fresh token: connections reconnect with it, subscriptions kept."""
        ...

    @property
    def running(self) -> bool:
        """Return True between connecting and closing."""
        ...

    @property
    def connected(self) -> int:
        """Return how many connections are open now."""
        ...

    async def connect(self) -> None:
        """Start on the running event loop; return once the first connection is open."""
        ...

    async def close(self) -> None:
        """Close every connection (the feed can be started again)."""
        ...

    async def __aenter__(self) -> LiveFeed:
        """Connect (see :meth:`connect`)."""
        ...

    async def __aexit__(self, *exc: object) -> None:
        """Close (see :meth:`close`)."""
        ...

    def __aiter__(self) -> AsyncIterator[list[Tick]]:
        """Yield each frame's ticks until closed; raise the error that stopped the feed."""
        ...

    def start(self) -> None:
        """Run in a background thread of its own; return at once."""
        ...

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread's feed."""
        ...

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background feed to stop (or ``timeout``); raise the error that stopped it."""
        ...
