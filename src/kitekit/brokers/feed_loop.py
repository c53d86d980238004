"""What every broker's live feed does the same way: the reconnect loop, ``async with`` and ``async for``.

A broker's feed (:mod:`kitekit.brokers.upstox.feed`, :mod:`kitekit.brokers.angel.feed`) keeps its quirks: how a
connection is opened (Upstox's authorize call and single-use URL, Angel's header handshake), what is sent on it
(resubscriptions in its own request format) and how its frames are read. The rest is here, written once:

- :func:`keep_connected` holds one connection up until the feed stops: open, serve, and after a lost link report
  it, wait the backoff (counted from the last link that opened) and open again; a failure the broker calls final
  ends the loop.
- :class:`FeedContext` gives a feed ``async with`` and ``async for``; :class:`QueuedFeed` reads the latter from
  the queue of tick lists the feed fills, ended by :data:`END` (the error that stopped the feed is raised to
  the reader).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Self, TypeVar

from websockets.exceptions import ConnectionClosed, InvalidHandshake

from kitekit.brokers.model import Tick
from kitekit.errors import TickerError
from kitekit.ticker.reconnect import Backoff

__all__ = ["END", "LINK_ERRORS", "FeedContext", "QueuedFeed", "keep_connected"]

L = TypeVar("L")

#: How a connection fails on the network or in its handshake: each broker's feed reconnects after these.
LINK_ERRORS: tuple[type[BaseException], ...] = (OSError, InvalidHandshake, ConnectionClosed, TimeoutError)

#: The queue's end mark: the feed closed (its error, if any, is raised to the reader).
END: Any = object()


async def keep_connected(
    open_link: Callable[[], Awaitable[AbstractAsyncContextManager[L]]],
    serve: Callable[[L], Awaitable[None]],
    *,
    transient: tuple[type[BaseException], ...],
    report: Callable[[BaseException], bool],
    stopping: Callable[[], bool],
    backoff: Backoff,
    lost: Callable[[int], object] = lambda attempt: None,
    cleanup: Callable[[], object] = lambda: None,
) -> None:
    """Keep one connection up until ``stopping()``: open it, serve it, reconnect with backoff when it is lost.

    Args:
        open_link: returns the connection to enter (the broker's handshake: a token, a URL, headers).
        serve: resubscribes and reads the open connection until it is lost.
        transient: the failures of one connection (each is reported, then the loop goes on or ends).
        report: told each such failure; returns False when it is final (a refused session): the loop ends.
        stopping: True once the feed is closing (read after each connection, so a close ends the loop).
        backoff: the delay before each new attempt (the count starts over once a connection opens).
        lost: called with the attempt number before each wait (the broker's ``on_close``/``on_reconnect``).
        cleanup: called after each connection, opened or not (forget the link, what was sent on it).

    Any other exception ends the loop and propagates.
    """
    attempt = 0
    while not stopping():
        try:
            async with await open_link() as link:
                attempt = 0
                await serve(link)
        except transient as exc:
            if not report(exc):
                return
        finally:
            cleanup()
        if stopping():
            return
        attempt += 1
        lost(attempt)
        await asyncio.sleep(backoff.delay(attempt))


class FeedContext:
    """``async with`` (connect, then close) and ``async for`` (the ticks :meth:`_iterate` yields) for a feed.

    :meth:`__init__` sets the neutral callbacks of :class:`~kitekit.brokers.feed.LiveFeed`, none by default.
    """

    def __init__(self) -> None:
        self.on_ticks: Callable[[list[Tick]], object] | None = None
        self.on_order_update: Callable[[dict[str, Any]], object] | None = None
        self.on_error: Callable[[Exception], object] | None = None
        self.on_connect: Callable[[int], object] | None = None
        self.on_close: Callable[[int, int, str], object] | None = None
        self.on_reconnect: Callable[[int, int], object] | None = None

    async def connect(self) -> None:
        """Start on the running loop (the broker's own)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Close every connection (the broker's own)."""
        raise NotImplementedError

    def _iterate(self) -> AsyncIterator[list[Tick]]:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[list[Tick]]:
        return self._iterate()


class QueuedFeed(FeedContext):
    """A feed that queues each frame's ticks and ends the queue with :data:`END`, read by ``async for``.

    A subclass sets ``_queue`` when it connects (None before) and ``_error`` when something stops it, and
    implements :meth:`connect` and :meth:`close`.
    """

    _queue: asyncio.Queue[Any] | None
    _error: BaseException | None

    async def _iterate(self) -> AsyncIterator[list[Tick]]:
        queue = self._queue
        if queue is None:
            raise TickerError("the feed is not connected: use `async with feed:` first")
        while True:
            item = await queue.get()
            if item is END:
                if self._error is not None:
                    raise self._error
                return
            yield item
