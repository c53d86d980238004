"""The :class:`Ticker`: Kite's WebSocket feed over asyncio, with callbacks that work from any thread or notebook."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from kitekit import redact
from kitekit.clock import Clock, clock_of
from kitekit.errors import TickerError
from kitekit.ticker.connection import Connection, UpgradeRefusedError
from kitekit.ticker.events import END, TickerEvents
from kitekit.ticker.reconnect import Backoff, Watchdog
from kitekit.ticker.shards import SubscriptionBook
from kitekit.wire.ticks import Mode
from kitekit.wire.ticks.messages import instrument_token

if TYPE_CHECKING:
    from kitekit.instruments import InstrumentStore

__all__ = ["KITE_WS_ROOT", "Ticker", "ws_root_for"]

log = logging.getLogger("kitekit.ticker")

#: Kite's ticker root (§15.1).
KITE_WS_ROOT = "wss://ws.kite.trade"


def ws_root_for(rest_root: str) -> str:
    """Return the ticker root that goes with a REST root: Kite's for Kite's, ``ws://host:port`` for a simulator."""
    parts = urlsplit(rest_root)
    if parts.hostname == "api.kite.trade":
        return KITE_WS_ROOT
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    return urlunsplit((scheme, parts.netloc, "", "", ""))


class Ticker(TickerEvents):
    """Kite's WebSocket ticker, kept alive: reconnects, resubscribes, detects dead links, shards past 3,000.

    Use it from asyncio (``async with ticker: async for ticks in ticker: …``) or from plain code with
    callbacks and :meth:`start` / :meth:`stop` (a thread of its own; fine in a notebook, no ``nest_asyncio``).
    Subscriptions may be changed at any time from any thread and outlive reconnects, token swaps and
    restarts. A 403 at the upgrade means the access token is dead: the ticker runs ``on_token_rejected``
    (from :meth:`from_kite`, the client's session-expiry hook, which marks a saved session dead just as a
    REST 403 does), stops and raises :class:`~kitekit.errors.SessionExpiredError` with the re-login message
    instead of retrying.

    Callbacks (attributes, ``None`` by default; they run on the ticker's event loop, so keep them quick):
    ``on_ticks(ticks)``, ``on_connect(connection)``, ``on_close(connection, code, reason)``,
    ``on_error(error)``, ``on_reconnect(connection, attempt)``, ``on_order_update(order)`` and
    ``on_frame(frame, received_ns)`` (each tick frame's bytes as received, once it decoded: for recorders).

    Args:
        api_key: the Kite app's key.
        access_token: today's access token (swap it with :meth:`set_access_token`).
        root: the ticker root: ``wss://ws.kite.trade``, or ``ws://127.0.0.1:PORT`` for a simulator.
        store: resolves symbols and names (``"NIFTY 50"``, ``"NSE:INFY"``) given to :meth:`subscribe`.
        columns: deliver :class:`~kitekit.wire.ticks.TickColumns` instead of the SDK's tick dicts.
        backoff: reconnect delays.
        stale_after: seconds without any frame (data or heartbeat) after which a link is dead.
        per_connection: instruments per connection (Kite: 3,000).
        max_connections: connections per api_key (Kite: 3).
        login_hint: the command the expiry message tells users to run.
        monotonic: the watchdog's time source.
        clock: the time frames are stamped with as they arrive (``on_frame``, recordings): on a simulator its
            market time (:func:`from_kite` passes the client's, :func:`kitekit.clock.clock_of`); default wall.
        queue_size: tick batches an ``async for`` consumer may fall behind before the oldest are dropped
            (counted in ``stats.dropped_ticks``).
        on_token_rejected: run once when the upgrade is refused with a 403 (it may raise: the ticker's own
            error still stops it).
    """

    def __init__(
        self,
        api_key: str,
        access_token: str,
        *,
        root: str = KITE_WS_ROOT,
        store: InstrumentStore | None = None,
        columns: bool = False,
        backoff: Backoff | None = None,
        stale_after: float = 5.0,
        per_connection: int = 3000,
        max_connections: int = 3,
        login_hint: str = "kitekit login",
        monotonic: Callable[[], float] = time.monotonic,
        queue_size: int = 1000,
        clock: Clock | None = None,
        on_token_rejected: Callable[[], object] | None = None,
    ) -> None:
        parts = urlsplit(root)
        if parts.scheme not in ("ws", "wss") or not parts.hostname:
            raise ValueError(f"the ticker root must be a ws:// or wss:// URL like {KITE_WS_ROOT}, got {root!r}")
        if not stale_after > 0:
            raise ValueError(f"stale_after must be above 0, got {stale_after}")
        redact.install()
        redact.register(access_token)
        self.api_key = api_key
        self._access_token = access_token
        self.root = root.rstrip("/")
        self.store = store
        super().__init__(columns, queue_size, clock)
        self.backoff = backoff or Backoff()
        self.stale_after = stale_after
        self.login_hint = login_hint
        self.monotonic = monotonic
        self.on_token_rejected = on_token_rejected
        self._rejected_token: str | None = None
        self.book = SubscriptionBook(per_connection, max_connections)
        #: The error that stopped the ticker (a dead session), if any.
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._connections: dict[int, Connection] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._done: asyncio.Event | None = None
        self._closer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()

    @classmethod
    def from_kite(cls, kite: Any, store: InstrumentStore | None = None, **options: Any) -> Ticker:
        """Return a ticker for a logged-in ``KiteConnect`` (its api_key, access token and matching root).

        A 403 at the ticker's upgrade runs the client's session-expiry hook, as a 403 on a REST call does:
        for a client from :func:`kitekit.get_kite` it marks the saved session dead, so ``kitekit status``
        and ``login --if-needed`` see it, even when only the ticker ever talks to Kite (a cron ``record``).
        Frames are stamped with the client's clock (:func:`kitekit.clock.clock_of`): a simulator's market time.
        """
        options.setdefault("clock", clock_of(kite))
        options.setdefault("on_token_rejected", getattr(kite, "session_expiry_hook", None))
        return cls(kite.api_key, kite.access_token, root=ws_root_for(kite.root), store=store, **options)

    def __repr__(self) -> str:
        return f"Ticker(api_key={self.api_key!r}, root={self.root!r}, instruments={len(self.book)})"

    # -- subscriptions (any thread) ------------------------------------------------------------------
    def subscribe(self, instruments: Iterable[str | int], mode: Mode | str = Mode.QUOTE) -> list[int]:
        """Subscribe instruments (tokens, ``"NSE:INFY"``, ``"NIFTY 50"``…) in ``mode``; return their tokens.

        Already subscribed instruments switch to ``mode``. Takes effect at once when connected, and after
        every reconnect.

        Raises:
            TickerError: more instruments than Kite's connections carry, or a name without a ``store``.
            UnknownInstrumentError: the store does not know a name.
            TickMessageError: a number that is no instrument token (negative, past 2**32 - 1).
            ValueError: ``mode`` is not ltp, quote or full.
        """
        mode = Mode(mode)
        tokens = [self._token(i) for i in instruments]
        self.book.add(tokens, mode)
        self._changed()
        return tokens

    def unsubscribe(self, instruments: Iterable[str | int]) -> list[int]:
        """Unsubscribe instruments; return the tokens that were subscribed."""
        gone = self.book.remove(self._token(i) for i in instruments)
        self._changed()
        return gone

    def set_mode(self, mode: Mode | str, instruments: Iterable[str | int]) -> None:
        """Change the mode of subscribed instruments.

        Raises:
            TickerError: an instrument is not subscribed.
        """
        self.book.set_mode([self._token(i) for i in instruments], Mode(mode))
        self._changed()

    @property
    def subscriptions(self) -> dict[int, Mode]:
        """Return every subscribed token and its mode."""
        return self.book.modes()

    def set_access_token(self, access_token: str) -> None:
        """Use a fresh access token: open connections reconnect with it at once, subscriptions kept."""
        redact.register(access_token)
        self._access_token = access_token
        self._call_soon(self._reconnect_all)

    def _token(self, instrument: str | int) -> int:
        # Refused here, where the caller sees it, rather than when a connection builds its messages.
        if isinstance(instrument, int) and not isinstance(instrument, bool):
            return instrument_token(instrument)
        text = str(instrument).strip()
        if text.isdigit():
            return instrument_token(int(text))
        if self.store is None:
            raise TickerError(f"cannot resolve {text!r} without an instrument store: pass store= or give the token")
        return self.store.token(text)

    def _changed(self) -> None:
        self._call_soon(self._reconcile)

    def _call_soon(self, fn: Callable[[], None]) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed since the check: it runs again on the next start
                loop.call_soon_threadsafe(fn)

    # -- running under asyncio -------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return True between connecting and closing."""
        return self._loop is not None

    @property
    def connected(self) -> int:
        """Return how many connections are open now."""
        return sum(1 for c in self._connections.values() if c.open)

    async def connect(self) -> None:
        """Start on the running event loop; return once the first connection is open.

        Until then it keeps trying with backoff (each failure reaches ``on_error``); bound the wait with
        ``asyncio.wait_for`` if need be.

        Raises:
            SessionExpiredError: Kite refused the access token (the ticker is stopped).
            RuntimeError: already running on another loop.
        """
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
            self.error = None
            self._done = asyncio.Event()
            self._first_open = asyncio.Event()
            self._reconcile()
        elif self._loop is not asyncio.get_running_loop():
            raise RuntimeError("this ticker runs on another event loop (or thread); stop it there first")
        assert self._first_open is not None and self._done is not None  # noqa: S101 - set just above
        waits = [asyncio.create_task(self._first_open.wait()), asyncio.create_task(self._done.wait())]
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in waits:
            task.cancel()
        if self.error is not None:
            raise self.error

    async def close(self) -> None:
        """Close every connection and stop (the ticker can be started again)."""
        if self._loop is None:
            return
        if self._closer is None:
            self._closer = asyncio.create_task(self._shutdown())
        await asyncio.shield(self._closer)

    async def _shutdown(self) -> None:
        connections = list(self._connections.values())
        await asyncio.gather(*(c.stop() for c in connections), return_exceptions=True)
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._connections.clear()
        self._tasks.clear()
        self._loop = None
        self._closer = None
        if self._done is not None:
            self._done.set()
        for queue in self._consumers:
            queue.put_nowait(END)

    # -- running in a thread ---------------------------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread of its own (scripts, notebooks); callbacks run in that thread.

        Returns at once; errors reach ``on_error``, and :meth:`wait` re-raises the one that stopped it.

        Raises:
            RuntimeError: already running.
        """
        if self._loop is not None or (self._thread is not None and self._thread.is_alive()):
            raise RuntimeError("the ticker is already running; stop() it first")
        started = threading.Event()
        self.error = None

        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._done = asyncio.Event()
            self._first_open = asyncio.Event()
            self._reconcile()
            started.set()
            await self._done.wait()
            await self.close()

        self._thread = threading.Thread(target=asyncio.run, args=(main(),), name="kitekit-ticker", daemon=True)
        self._thread.start()
        started.wait()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread :meth:`start` began, or close a ticker running on another thread's loop."""
        loop = self._loop
        if self._thread is not None:
            if loop is not None and self._done is not None:
                self._call_soon(self._done.set)
            self._thread.join(timeout)
            self._thread = None
            return
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            raise RuntimeError("the ticker runs on this event loop: await ticker.close() instead")
        asyncio.run_coroutine_threadsafe(self.close(), loop).result(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the thread :meth:`start` began ends; re-raise the error that stopped it, if any."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        if self.error is not None:
            raise self.error

    def run_forever(self) -> None:
        """Run in the foreground until :meth:`stop` (from a callback or another thread) or Ctrl-C.

        Raises:
            SessionExpiredError: Kite refused the access token.
        """
        self.start()
        try:
            while self._thread is not None and self._thread.is_alive():
                self._thread.join(0.2)
        except KeyboardInterrupt:
            self.stop()
            raise
        self.wait()

    # -- the loop's side ---------------------------------------------------------------------------
    def _reconcile(self) -> None:
        """Start, sync or stop connections so each shard in use has one carrying its tokens."""
        if self._loop is None:
            return
        wanted = set(self.book.shards())
        for shard in sorted(wanted):
            connection = self._connections.get(shard)
            if connection is None:
                connection = Connection(self, shard, self.backoff, self._watchdog, _HEADERS)
                self._connections[shard] = connection
                self._tasks[shard] = asyncio.create_task(connection.run())
            else:
                self._spawn(connection.sync())
        for shard in set(self._connections) - wanted:
            connection = self._connections.pop(shard)
            self._tasks.pop(shard, None)
            self._spawn(connection.stop())

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        # asyncio keeps only weak references to tasks: hold each until it is done, or it may vanish midway.
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _reconnect_all(self) -> None:
        for connection in self._connections.values():
            self._spawn(connection.reconnect())

    def _watchdog(self) -> Watchdog:
        return Watchdog(self.stale_after, self.monotonic)

    def url(self) -> str:
        """Return the URL with credentials (never logged: it carries the access token)."""
        return f"{self.root}/?{urlencode({'api_key': self.api_key, 'access_token': self._access_token})}"

    def want(self, shard: int) -> dict[int, Mode]:
        """Return what connection ``shard`` should carry."""
        return self.book.want(shard)

    def refused(self, shard: int, refusal: UpgradeRefusedError) -> bool:
        """Handle a refused upgrade: a 403 stops everything with the session error; others are retried."""
        if refusal.status != 403:
            hint = ""
            if refusal.status == 429:
                hint = " (Kite allows 3 ticker connections per api_key: close other tickers)"
            self.failed(shard, TickerError(f"{refusal}{hint}"))
            return False
        from kitekit.errors import SessionExpiredError  # here: it loads the SDK, which a ticker otherwise needs not

        self._token_rejected()
        error = SessionExpiredError(
            "Kite refused the access token at the ticker's upgrade (HTTP 403): it expired or was invalidated. "
            f"Log in again: {self.login_hint}"
        )
        self.error = error
        self._callback(self.on_error, error)
        for connection in self._connections.values():
            self._spawn(connection.stop())
        if self._done is not None:
            self._done.set()
        self._spawn(self.close())
        return True

    def _token_rejected(self) -> None:
        """Run ``on_token_rejected`` once per refused token; what it raises is logged, never propagated."""
        # Each shard's connection may be refused the same token: mark the session dead once.
        if self.on_token_rejected is None or self._rejected_token == self._access_token:
            return
        self._rejected_token = self._access_token
        from kiteconnect.exceptions import TokenException

        try:
            self.on_token_rejected()
        except TokenException:
            pass  # kitekit's hook marks the session dead, then raises the re-login error the ticker raises too
        except Exception as exc:  # a failing hook (a full disk) must not keep the ticker from stopping cleanly
            log.warning("the ticker's token-rejected hook failed: %s: %s", type(exc).__name__, exc)
            log.debug("the token-rejected hook's traceback", exc_info=True)


_HEADERS = {"X-Kite-Version": "3", "User-Agent": "kitekit-ticker"}
