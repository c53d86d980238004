"""What the ticker reports: frames decoded to ticks, callbacks, ``async for`` queues, counters."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Self

from kitekit import redact
from kitekit.clock import Clock, SystemClock, wall_shift
from kitekit.errors import TickerError, TickFrameError, TickMessageError
from kitekit.wire.ticks import decode_columns, decode_ticks, is_heartbeat
from kitekit.wire.ticks.messages import OrderUpdate, ServerError, parse_server_message

__all__ = ["END", "TickerEvents", "TickerStats", "arrival_stamp"]

log = logging.getLogger("kitekit.ticker")

#: Put on a consumer's queue when the ticker stops.
END = object()


def _ns(clock: Clock) -> int:
    moment = clock.now()
    return int(moment.timestamp()) * 1_000_000_000 + moment.microsecond * 1000


def arrival_stamp(clock: Clock | None = None) -> Callable[[], int]:
    """Return what stamps a frame's arrival, UTC epoch ns, by ``clock`` (a simulator's market time) or the wall."""
    # The wall clock's stamp is the cheap one; any other clock (a simulator's market time) is asked.
    if clock is None or (isinstance(clock, SystemClock) and not wall_shift()):
        return time.time_ns
    return lambda: _ns(clock)


@dataclass
class TickerStats:
    """What the ticker has seen since it was made."""

    frames: int = 0
    heartbeats: int = 0
    ticks: int = 0
    bad_frames: int = 0
    connects: int = 0
    reconnects: int = 0
    #: Ticks an ``async for`` consumer lost by falling more than ``queue_size`` batches behind.
    dropped_ticks: int = 0


class TickerEvents:
    """The ticker's reporting side: its callbacks, counters and ``async for`` consumers (on the event loop).

    Callbacks are attributes, ``None`` by default; they run on the ticker's event loop, so keep them quick, and
    one that raises is logged and never takes the feed down. A ticker built on it (the direct one, the bus
    consumer) gives :meth:`connect`, :meth:`close` and :attr:`running`; ``async with`` and ``async for`` come
    from here.
    """

    #: The error that stopped the ticker, if any.
    error: BaseException | None = None

    def __init__(self, columns: bool, queue_size: int, clock: Clock | None = None) -> None:
        self.columns = columns
        self._stamp: Callable[[], int] = arrival_stamp(clock)
        self.queue_size = queue_size
        self.stats = TickerStats()
        self.on_ticks: Callable[[Any], object] | None = None
        self.on_connect: Callable[[int], object] | None = None
        self.on_close: Callable[[int, int, str], object] | None = None
        self.on_error: Callable[[Exception], object] | None = None
        self.on_reconnect: Callable[[int, int], object] | None = None
        self.on_order_update: Callable[[dict[str, Any]], object] | None = None
        self.on_frame: Callable[[bytes, int], object] | None = None
        self._consumers: list[asyncio.Queue[Any]] = []
        self._first_open: asyncio.Event | None = None

    # -- what a ticker built on this gives -------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return True between connecting and closing."""
        raise NotImplementedError

    async def connect(self) -> None:
        """Start on the running event loop; return once ticks can flow."""
        raise NotImplementedError

    async def close(self) -> None:
        """Stop (the ticker can be started again)."""
        raise NotImplementedError

    # -- asyncio's ways in -----------------------------------------------------------------------------
    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[Any]:
        """Yield each frame's ticks (dicts, or columns) until closed; raise the error that stopped it."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._consumers.append(queue)
        try:
            if not self.running:
                await self.connect()
            while True:
                item = await queue.get()
                if item is END:
                    if self.error is not None:
                        raise self.error
                    return
                yield item
        finally:
            self._consumers.remove(queue)

    # -- reporting ---------------------------------------------------------------------------------------
    def opened(self, shard: int) -> None:
        """Note an open connection."""
        self.stats.connects += 1
        log.info("ticker connection %d open", shard)
        if self._first_open is not None:
            self._first_open.set()
        self._callback(self.on_connect, shard)

    def closed(self, shard: int, code: int, reason: str) -> None:
        """Note a connection that ended."""
        log.info("ticker connection %d closed (%d %s)", shard, code, reason)
        self._callback(self.on_close, shard, code, reason)

    def failed(self, shard: int, error: Exception) -> None:
        """Report a failed attempt or a dead link."""
        log.warning("ticker connection %d: %s", shard, redact.redact(f"{type(error).__name__}: {error}"))
        self._callback(self.on_error, error)

    def reconnecting(self, shard: int, attempt: int, delay: float) -> None:
        """Report a reconnect attempt to come."""
        self.stats.reconnects += 1
        log.info("ticker connection %d: reconnect attempt %d in %.2f s", shard, attempt, delay)
        self._callback(self.on_reconnect, shard, attempt)

    def message(self, shard: int, data: bytes | str) -> None:
        """Handle one message: a heartbeat, a tick frame, or a text frame."""
        if isinstance(data, str):
            self._text(shard, data)
            return
        stats = self.stats
        stats.frames += 1
        if is_heartbeat(data):
            stats.heartbeats += 1
            return
        received = self._stamp()
        try:
            ticks: Any = decode_columns(data) if self.columns else decode_ticks(data)
        except TickFrameError as exc:
            stats.bad_frames += 1
            self.failed(shard, exc)
            return
        if self.on_frame is not None:
            self._callback(self.on_frame, data, received)
        if not len(ticks):
            return
        stats.ticks += len(ticks)
        self._callback(self.on_ticks, ticks)
        for queue in self._consumers:
            if queue.qsize() >= self.queue_size:
                stats.dropped_ticks += len(queue.get_nowait())
                log.warning("a ticker consumer is %d batches behind; its oldest ticks are dropped", self.queue_size)
            queue.put_nowait(ticks)

    def _text(self, shard: int, text: str) -> None:
        try:
            message = parse_server_message(text)  # None for what the SDK ignores too (§15.8)
        except TickMessageError as exc:
            self.stats.bad_frames += 1
            self.failed(shard, exc)
            return
        if isinstance(message, OrderUpdate) and shard == 0:
            # Every connection of the user gets each update: the first connection alone passes them on.
            self._callback(self.on_order_update, message.data)
        elif isinstance(message, ServerError):
            self._callback(self.on_error, TickerError(f"the ticker reported: {message.text}"))

    def _callback(self, fn: Callable[..., Any] | None, *args: Any) -> None:
        if fn is None:
            return
        try:
            fn(*args)
        except Exception:  # a failing callback must not take the feed down with it
            log.exception("a ticker callback (%s) raised", getattr(fn, "__name__", fn))
