"""The bus consumer: :class:`BusTicker`, the direct ticker's API over the feed owner's Redis stream.

A consumer registers what it wants (the owner subscribes the union), reads the stream from where it stands, and
hands each frame, cut to its own instruments, to the same reporting side as the direct ticker
(:class:`~kitekit.ticker.events.TickerEvents`): ``on_ticks``, ``on_frame``, ``async for``, the SDK's tick
dicts or numpy columns. Nothing is lost silently:

- a consumer joining late (or starting) gets the last tick of each of its instruments at once, read together
  with the sequence number they belong to, then every frame after it;
- each entry's sequence number must follow the last one; entries are read from the stream after the last one
  seen, so a reconnect (Redis or the consumer's own link) resumes exactly where it stopped;
- a consumer so slow that the stream was trimmed past it is told (``on_error`` gets a
  :class:`~kitekit.errors.FellBehindError` with how many frames were lost, ``lost_frames`` counts them) and
  resumes from the oldest frame still kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, cast

import numpy as np

from kitekit.bus.connect import redis_client_async
from kitekit.bus.keys import Entries, FeedKeys, frame_tokens, join_frame, split_frame
from kitekit.clock import Clock
from kitekit.errors import FellBehindError, TickerError
from kitekit.ticker.events import END, TickerEvents
from kitekit.wire.ticks import Mode
from kitekit.wire.ticks.messages import instrument_token

if TYPE_CHECKING:
    import redis.asyncio

    from kitekit.instruments import InstrumentStore

__all__ = ["BusTicker"]

log = logging.getLogger("kitekit.bus.consumer")


class BusTicker(TickerEvents):
    """Ticks from a feed owner through Redis, with the direct :class:`~kitekit.ticker.Ticker`'s API.

    Use it from asyncio (``async with ticker: async for ticks in ticker: …``) or with callbacks and
    :meth:`start` / :meth:`stop`. Callbacks as the direct ticker's: ``on_ticks``, ``on_frame``, ``on_error``
    (a :class:`~kitekit.errors.FellBehindError`, a lost link to Redis), ``on_connect``.

    Args:
        url: the Redis server the feed owner publishes to.
        name: the feed's name (``kitekit feed serve --name``).
        store: resolves symbols and names given to :meth:`subscribe`.
        columns: deliver numpy columns instead of the SDK's tick dicts.
        queue_size: tick batches an ``async for`` consumer may fall behind before the oldest are dropped.
        clock: the time frames are stamped with as they arrive (default: the wall clock).
        consumer_id: this consumer's id among the feed's consumers (default: host, pid and object id).
        refresh: seconds between renewals of this consumer's subscription (it expires after three missed).
    """

    def __init__(
        self,
        url: str,
        *,
        name: str = "default",
        store: InstrumentStore | None = None,
        columns: bool = False,
        queue_size: int = 1000,
        clock: Clock | None = None,
        consumer_id: str | None = None,
        refresh: float = 2.0,
    ) -> None:
        super().__init__(columns, queue_size, clock)
        self.url = url
        self.keys = FeedKeys(name)
        self.store = store
        self.refresh = refresh
        self.consumer_id = consumer_id or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        #: The sequence number of the last frame handed on (None before the first read).
        self.last_seq: int | None = None
        #: Frames lost by falling further behind than the stream keeps (each one reported to ``on_error``).
        self.lost_frames = 0
        #: The error that stopped the ticker, if any.
        self.error: BaseException | None = None
        self._wants: dict[int, Mode] = {}
        self._wanted: np.ndarray | None = None  # the wanted tokens, sorted (None: to be made again)
        self._refused: dict[int, str] = {}
        self._lock = threading.Lock()
        self._changed = True
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._thread: threading.Thread | None = None
        self._ready: asyncio.Event | None = None

    def __repr__(self) -> str:
        return f"BusTicker(feed={self.keys.name!r}, instruments={len(self._wants)})"

    # -- subscriptions (any thread) ------------------------------------------------------------------
    def subscribe(self, instruments: Iterable[str | int], mode: Mode | str = Mode.QUOTE) -> list[int]:
        """Ask the feed owner for instruments in ``mode``; return their tokens.

        The owner subscribes within a second or so; the frames then carry them.

        Raises:
            TickerError: a name without a ``store``.
            UnknownInstrumentError: the store does not know a name.
        """
        mode = Mode(mode)
        tokens = [self._token(i) for i in instruments]
        with self._lock:
            for token in tokens:
                self._wants[token] = mode
            self._changed = True
            self._wanted = None
        return tokens

    def unsubscribe(self, instruments: Iterable[str | int]) -> list[int]:
        """Stop asking for instruments; return the tokens that were subscribed."""
        with self._lock:
            gone = [t for t in (self._token(i) for i in instruments) if self._wants.pop(t, None) is not None]
            self._changed = True
            self._wanted = None
        return gone

    def set_mode(self, mode: Mode | str, instruments: Iterable[str | int]) -> None:
        """Change the mode of subscribed instruments.

        Raises:
            TickerError: an instrument is not subscribed.
        """
        tokens = [self._token(i) for i in instruments]
        missing = [t for t in tokens if t not in self._wants]
        if missing:
            raise TickerError(f"not subscribed: {missing}")
        self.subscribe(tokens, mode)

    @property
    def subscriptions(self) -> dict[int, Mode]:
        """Return every subscribed token and its mode."""
        with self._lock:
            return dict(self._wants)

    @property
    def refused(self) -> dict[int, str]:
        """Return this consumer's instruments the feed owner could not serve, each with the reason."""
        with self._lock:
            return dict(self._refused)

    def _token(self, instrument: str | int) -> int:
        if isinstance(instrument, int) and not isinstance(instrument, bool):
            return instrument_token(instrument)
        text = str(instrument).strip()
        if text.isdigit():
            return instrument_token(int(text))
        if self.store is None:
            raise TickerError(f"cannot resolve {text!r} without an instrument store: pass store= or give the token")
        return self.store.token(text)

    # -- running under asyncio -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return True between connecting and closing."""
        return self._task is not None

    async def connect(self) -> None:
        """Start reading on the running event loop; return once primed with the last ticks.

        Raises:
            RuntimeError: already running on another loop.
        """
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._ready = asyncio.Event()
            self.error = None
            self._task = asyncio.create_task(self._run())
        elif self._loop is not asyncio.get_running_loop():
            raise RuntimeError("this ticker runs on another event loop (or thread); stop it there first")
        assert self._ready is not None  # noqa: S101 - set just above
        task = self._task
        ready = asyncio.create_task(self._ready.wait())
        await asyncio.wait([ready, task], return_when=asyncio.FIRST_COMPLETED)
        ready.cancel()
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        """Stop reading and withdraw this consumer's subscription (it can be started again)."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self._loop = None
        for consumer in self._consumers:
            consumer.put_nowait(END)

    # -- running in a thread ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread of its own; callbacks run in that thread. Returns once primed.

        Raises:
            RuntimeError: already running.
        """
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the ticker is already running; stop() it first")
        started = threading.Event()
        self._stop_requested: asyncio.Event | None = None

        async def main() -> None:
            self._stop_requested = asyncio.Event()
            try:
                await self.connect()
            finally:
                started.set()
            await self._stop_requested.wait()
            await self.close()

        def run() -> None:
            with contextlib.suppress(BaseException):
                asyncio.run(main())
            started.set()

        self._thread = threading.Thread(target=run, name="kitekit-bus-ticker", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread :meth:`start` began."""
        thread, loop, stop = self._thread, self._loop, getattr(self, "_stop_requested", None)
        if thread is None:
            return
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)
        self._thread = None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the thread :meth:`start` began ends; re-raise the error that stopped it, if any."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self.error is not None:
            raise self.error

    # -- the loop's side ---------------------------------------------------------------------------
    async def _run(self) -> None:
        import redis

        client = redis_client_async(self.url, timeout=None)  # reads block on purpose; a dead link errors
        attempt = 0
        renewed = 0.0
        try:
            while True:
                try:
                    if attempt and self.last_seq is not None:
                        await self._check_reset(client)
                    if self.last_seq is None:
                        await self._prime(client)
                    if self._ready is not None and not self._ready.is_set():
                        self.opened(0)  # started again after stop(): it resumes after the last frame it had
                        self._ready.set()
                    while True:
                        if self._changed or time.monotonic() >= renewed:
                            await self._register(client)
                            renewed = time.monotonic() + self.refresh
                        read = await client.xread({self.keys.frames: f"0-{self.last_seq}"}, count=500, block=500)
                        reply = cast(list[tuple[bytes, Entries]], read)
                        attempt = 0
                        for _, entries in reply or []:
                            for entry_id, fields in entries:
                                self._entry(int(entry_id.split(b"-")[1]), fields[b"f"])
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    attempt += 1
                    delay = min(0.05 * 2**attempt, 2.0)
                    self.failed(0, TickerError(f"the bus at {self.keys.prefix} is unreachable ({type(exc).__name__}); "
                                               f"retrying in {delay:.2f}s from frame {self.last_seq}"))  # fmt: skip
                    await asyncio.sleep(delay)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.shield(client.delete(self.keys.sub(self.consumer_id)))
            with contextlib.suppress(Exception):
                await client.aclose()

    async def _check_reset(self, client: redis.asyncio.Redis) -> None:
        """After a lost link: if the feed's sequence went back, Redis restarted empty; start again from its state."""
        now = int(await client.get(self.keys.seq) or 0)
        if self.last_seq is not None and now < self.last_seq:
            error = TickerError(
                f"the bus at {self.keys.prefix} restarted without its data (its sequence went back from "
                f"{self.last_seq} to {now}): frames published meanwhile are unknown; starting again from the last "
                "ticks it holds. Run Redis with persistence to keep the stream across restarts."
            )
            log.warning("%s", error)
            self._callback(self.on_error, error)
            self.last_seq = None

    async def _register(self, client: redis.asyncio.Redis) -> None:
        with self._lock:
            wants = {str(t): str(m) for t, m in self._wants.items()}
            self._changed = False
        ttl = round(self.refresh * 3000)
        pipe = client.pipeline(transaction=False)
        pipe.set(self.keys.sub(self.consumer_id), json.dumps(wants), px=ttl)
        pipe.hgetall(self.keys.refused)
        _, refused = await pipe.execute()
        with self._lock:
            self._refused = {int(t): r.decode() for t, r in refused.items() if int(t) in self._wants}

    async def _prime(self, client: redis.asyncio.Redis) -> None:
        """Read the last tick of each wanted instrument and the sequence number they stand at, together."""
        tokens = sorted(self.subscriptions)
        pipe = client.pipeline(transaction=True)  # MULTI: the owner's script writes both at once
        pipe.get(self.keys.seq)
        if tokens:
            pipe.hmget(self.keys.last, [str(t) for t in tokens])
        results = await pipe.execute()
        self.last_seq = int(results[0] or 0)
        packets = [p for p in (results[1] if tokens else []) if p is not None]
        if packets:
            self.message(0, join_frame(packets))

    def _entry(self, seq: int, frame: bytes) -> None:
        last = self.last_seq or 0
        if seq > last + 1:
            lost = seq - last - 1
            self.lost_frames += lost
            error = FellBehindError(
                f"this consumer fell behind the feed by more than the stream keeps: frames {last + 1} to {seq - 1} "
                f"({lost:,}) were trimmed before it read them; going on from frame {seq}. Read faster, or keep more "
                "(kitekit feed serve --keep).",
                lost,
            )
            log.warning("%s", error)
            self._callback(self.on_error, error)
        elif seq <= last:
            return  # already handed on (a re-read after a reconnect)
        self.last_seq = seq
        with self._lock:
            if self._wanted is None:
                self._wanted = np.array(sorted(self._wants), dtype=np.uint32)
            wanted = self._wanted
        mine = np.isin(frame_tokens(frame), wanted, assume_unique=False)
        if mine.all():
            self.message(0, frame)  # all of it: the very bytes the owner received
        elif mine.any():
            self.message(0, join_frame(p for p, keep in zip(split_frame(frame), mine.tolist(), strict=True) if keep))
