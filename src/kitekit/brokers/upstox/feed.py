"""Upstox's v3 market-data WebSocket behind the neutral :class:`~kitekit.brokers.LiveFeed`.

Each connection starts with ``GET /v3/feed/market-data-feed/authorize`` on the session's token, which answers a
single-use WebSocket URL; requests go as JSON in binary frames (:func:`~kitekit.wire.upstox.stream.build_request`)
and updates come as protobuf ``FeedResponse`` messages, read by :func:`~kitekit.wire.upstox.feed.decode_feed`
(no SDK, no protobuf package). Upstox allows one connection per user, so the feed keeps one.

Kept alive as Kite's ticker is: after ``watchdog`` silent seconds the link is pinged, and a pong counts as life
(an idle Upstox feed sends pings, not data); no pong within ``pong_timeout`` and the link is dead;
a lost link reconnects with backoff through a fresh authorize call and resubscribes everything; a token Upstox
refuses stops the feed with :class:`~kitekit.errors.SessionExpiredError`; :meth:`set_access_token` swaps the
token and reconnects, subscriptions kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kitekit.brokers.capabilities import BrokerCapabilities, Endpoint
from kitekit.brokers.feed import FeedMode
from kitekit.brokers.feed_loop import END, LINK_ERRORS, QueuedFeed, keep_connected
from kitekit.brokers.model import Level, Ohlc, Tick
from kitekit.brokers.upstox.capabilities import FEED_MODES
from kitekit.brokers.upstox.client import UpstoxApiError, UpstoxClient
from kitekit.brokers.upstox.instruments import UpstoxInstruments
from kitekit.clock import IST
from kitekit.errors import TickerError
from kitekit.ticker.reconnect import Backoff
from kitekit.wire.upstox.feed import decode_feed
from kitekit.wire.upstox.proto import ProtoError
from kitekit.wire.upstox.routes import Route
from kitekit.wire.upstox.stream import Method, build_request

__all__ = ["UpstoxFeed", "tick_of"]

log = logging.getLogger("kitekit.brokers.upstox.feed")


def _moment(millis: Any) -> datetime | None:
    return datetime.fromtimestamp(int(millis) / 1000, IST) if millis else None


def tick_of(key: str, mode: FeedMode, feed: Mapping[str, Any]) -> Tick | None:
    """Return one ``Feed`` of a ``FeedResponse`` as a neutral tick; None when it carries no price."""
    full = feed.get("fullFeed") or {}
    market = full.get("marketFF") or full.get("indexFF") or feed.get("firstLevelWithGreeks") or {}
    ltpc = feed.get("ltpc") or market.get("ltpc") or {}
    if "ltp" not in ltpc:
        return None
    levels = (market.get("marketLevel") or {}).get("bidAskQuote") or []
    if market.get("firstDepth"):
        levels = [market["firstDepth"]]
    bids = tuple(Level(float(q["bidP"]), int(q["bidQ"]), 0) for q in levels if q.get("bidP") and q.get("bidQ"))
    asks = tuple(Level(float(q["askP"]), int(q["askQ"]), 0) for q in levels if q.get("askP") and q.get("askQ"))
    day = next((c for c in (market.get("marketOHLC") or {}).get("ohlc") or [] if c.get("interval") == "1d"), None)
    ohlc = Ohlc(float(day["open"]), float(day["high"]), float(day["low"]), float(ltpc.get("cp", 0.0))) if day else None
    return Tick(
        key=key,
        last_price=float(ltpc["ltp"]),
        mode=mode.value,
        timestamp=_moment(ltpc.get("ltt")),
        volume=int(market.get("vtt") or 0),
        last_quantity=int(ltpc.get("ltq") or 0),
        average_price=float(market.get("atp") or 0.0),
        oi=float(market.get("oi") or 0.0),
        ohlc=ohlc if mode is not FeedMode.LTP else None,
        bids=bids if mode is FeedMode.FULL else (),
        asks=asks if mode is FeedMode.FULL else (),
        raw=feed,
    )


class UpstoxFeed(QueuedFeed):
    """The neutral live feed on Upstox's market-data WebSocket.

    Args:
        client: the REST client on the session (the authorize call; its token is the feed's).
        instruments: names to Upstox's keys and back.
        capabilities: the feed's key limits.
        watchdog: seconds of silence before the link is pinged.
        pong_timeout: seconds a ping may go unanswered before the link is taken as dead (and reconnected).
        backoff: the reconnect delays.
        login_hint: the command to log in again, named when the token is refused.
    """

    def __init__(
        self,
        client: UpstoxClient,
        instruments: UpstoxInstruments,
        capabilities: BrokerCapabilities,
        *,
        watchdog: float = 15.0,
        pong_timeout: float = 10.0,
        backoff: Backoff | None = None,
        login_hint: str = "kitekit --broker upstox login",
    ) -> None:
        self.client = client
        self.instruments = instruments
        self.capabilities = capabilities
        self.watchdog_timeout = watchdog
        self.pong_timeout = pong_timeout
        self.backoff = backoff or Backoff()
        self.login_hint = login_hint
        super().__init__()
        self._subs: dict[str, FeedMode] = {}  # neutral key -> mode
        self._upstox: dict[str, str] = {}  # neutral key -> Upstox key
        self._neutral: dict[str, str] = {}  # Upstox key -> neutral key
        self._lock = threading.Lock()
        self._token: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._ws: ClientConnection | None = None
        self._queue: asyncio.Queue[Any] | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._pending: set[asyncio.Future[None]] = set()
        #: Pings the watchdog sent a quiet link that were answered (each counted as life).
        self.pongs = 0

    # -- subscriptions (any thread) -------------------------------------------------------------------------
    def _resolve(self, instruments: Iterable[str | int]) -> list[str]:
        keys = []
        for name in instruments:
            found = self.instruments.instrument(name)
            self._upstox[found.key] = found.broker_key
            self._neutral[found.broker_key] = found.key
            keys.append(found.key)
        return list(dict.fromkeys(keys))

    def subscribe(self, instruments: Iterable[str | int], mode: FeedMode | str = FeedMode.QUOTE) -> list[str]:
        """Subscribe ``instruments`` in ``mode``; return their neutral keys.

        Raises:
            TickerError: more instruments than Upstox's one connection carries in that mode.
            UnknownInstrumentError: a name nothing matches.
        """
        mode = FeedMode(mode)
        keys = self._resolve(instruments)
        with self._lock:
            trial = {**self._subs, **dict.fromkeys(keys, mode)}
            for m in set(trial.values()):
                self.capabilities.feed_shards([k for k, v in trial.items() if v is m], m.value)
            self._subs = trial
        self._send(Method.SUB, keys, mode)
        return keys

    def unsubscribe(self, instruments: Iterable[str | int]) -> list[str]:
        """Unsubscribe ``instruments``; return the neutral keys that were subscribed."""
        keys = self._resolve(instruments)
        with self._lock:
            gone = [k for k in keys if self._subs.pop(k, None) is not None]
        if gone:
            self._send(Method.UNSUB, gone, None)
        return gone

    def set_mode(self, mode: FeedMode | str, instruments: Iterable[str | int]) -> None:
        """Change the mode of subscribed instruments (TickerError if one is not subscribed)."""
        mode = FeedMode(mode)
        keys = self._resolve(instruments)
        with self._lock:
            missing = [k for k in keys if k not in self._subs]
            if missing:
                raise TickerError(f"not subscribed: {', '.join(missing)}")
            self._subs.update(dict.fromkeys(keys, mode))
        self._send(Method.CHANGE_MODE, keys, mode)

    @property
    def subscriptions(self) -> dict[str, FeedMode]:
        """Return every subscribed instrument's neutral key and mode."""
        with self._lock:
            return dict(self._subs)

    def set_access_token(self, access_token: str) -> None:
        """Use a fresh token: the connection reconnects with it, subscriptions kept."""
        self._token = access_token
        ws, loop = self._ws, self._loop
        if ws is not None and loop is not None:
            asyncio.run_coroutine_threadsafe(ws.close(1000, "access token swapped"), loop)

    def _send(self, method: Method, keys: list[str], mode: FeedMode | None) -> None:
        ws, loop = self._ws, self._loop
        if ws is None or loop is None or not keys:
            return  # sent on (re)connect with everything subscribed
        payload = build_request(
            uuid.uuid4().hex, method, [self._upstox[k] for k in keys], None if mode is None else FEED_MODES[mode.value]
        )

        async def send() -> None:
            with contextlib.suppress(ConnectionClosed):
                await ws.send(payload)

        if _on_loop(loop):
            task = asyncio.ensure_future(send())
            self._pending.add(task)  # a reference kept until it is done (the loop keeps only weak ones)
            task.add_done_callback(self._pending.discard)
        else:
            asyncio.run_coroutine_threadsafe(send(), loop)

    # -- running ------------------------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Return True between connecting and closing."""
        return self._task is not None and not self._task.done()

    @property
    def connected(self) -> int:
        """Return how many connections are open now (0 or 1: Upstox allows one per user)."""
        return 1 if self._ws is not None else 0

    async def connect(self) -> None:
        """Start on the running loop; return once connected (SessionExpiredError on a refused token)."""
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        self._error = None
        self._stopping = False
        opened: asyncio.Future[None] = self._loop.create_future()
        self._task = asyncio.create_task(self._run(opened))
        await opened

    async def close(self) -> None:
        """Close the connection (the feed can be started again)."""
        self._stopping = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._ws = None

    async def _authorize(self) -> str:
        token = self._token

        def call() -> Any:
            return self.client.call("GET", Route.FEED_AUTHORIZE_V3, Endpoint.OTHER, token=token)

        answer = await asyncio.to_thread(call)
        return str(answer["authorizedRedirectUri"])

    async def _run(self, opened: asyncio.Future[None]) -> None:
        async def open_link() -> Any:
            return connect(await self._authorize(), ping_interval=None, max_size=2**24)

        async def serve(ws: ClientConnection) -> None:
            self._ws = ws
            await self._resubscribe(ws)
            if not opened.done():
                opened.set_result(None)
            if self.on_connect is not None:
                self.on_connect(0)
            await self._read(ws)

        def lost(attempt: int) -> None:
            if self.on_close is not None:
                self.on_close(0, 1006, "connection lost")
            if self.on_reconnect is not None:
                self.on_reconnect(0, attempt)

        def forget() -> None:
            self._ws = None

        try:
            await keep_connected(
                open_link,
                serve,
                # UpstoxApiError: not a refused token (the client raises SessionExpiredError for that).
                transient=(UpstoxApiError, ProtoError, *LINK_ERRORS),
                report=self._report,
                stopping=self._stop_requested,
                backoff=self.backoff,
                lost=lost,
                cleanup=forget,
            )
        except asyncio.CancelledError:
            pass
        except Exception as exc:
            self._error = exc
            if not opened.done():
                opened.set_exception(exc)
            if self.on_error is not None:
                self.on_error(exc)
        finally:
            if not opened.done():
                opened.set_exception(TickerError("the feed closed before it connected"))
            if self._queue is not None:
                self._queue.put_nowait(END)

    def _stop_requested(self) -> bool:
        # A method, not the attribute: close() may set it while this task awaits.
        return self._stopping

    def _report(self, exc: BaseException) -> bool:
        log.info("Upstox feed: %s; reconnecting", exc)
        if self.on_error is not None and isinstance(exc, Exception):
            self.on_error(exc)
        return True

    async def _resubscribe(self, ws: ClientConnection) -> None:
        by_mode: dict[FeedMode, list[str]] = {}
        for key, mode in self.subscriptions.items():
            by_mode.setdefault(mode, []).append(self._upstox[key])
        for mode, keys in by_mode.items():
            await ws.send(build_request(uuid.uuid4().hex, Method.SUB, keys, FEED_MODES[mode.value]))

    async def _read(self, ws: ClientConnection) -> None:
        # Asked each frame, not only left to close()'s cancel: on Python 3.11 asyncio.wait_for loses a cancel
        # that lands as recv() completes (gh-86296), and with ticks arriving every few ms that happens: the
        # command that closed the feed then waited forever (seen as `ticks`/`record` hanging at their end).
        while not self._stopping:
            try:
                frame = await asyncio.wait_for(ws.recv(), timeout=self.watchdog_timeout)
            except TimeoutError:
                # Silent: a ping answered in time counts as life (an idle feed sends none of its own data).
                pong = await ws.ping()
                await asyncio.wait_for(pong, timeout=self.pong_timeout)
                self.pongs += 1
                continue
            if isinstance(frame, str):
                continue
            ticks = self._ticks(decode_feed(frame))
            if ticks:
                if self._queue is not None:
                    self._queue.put_nowait(ticks)
                if self.on_ticks is not None:
                    self.on_ticks(ticks)

    def _ticks(self, message: Mapping[str, Any]) -> list[Tick]:
        subs = self.subscriptions
        out = []
        for upstox, feed in (message.get("feeds") or {}).items():
            key = self._neutral.get(upstox)
            mode = subs.get(key) if key is not None else None
            if key is None or mode is None:
                continue  # an update for an instrument unsubscribed meanwhile
            tick = tick_of(key, mode, feed)
            if tick is not None:
                out.append(tick)
        return out

    # -- a background thread ----------------------------------------------------------------------------------
    def start(self) -> None:
        """Run in a background thread of its own; return at once."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._error = None

        def run() -> None:
            async def main() -> None:
                try:
                    await self.connect()
                except Exception:
                    return
                if self._task is not None:
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task

            asyncio.run(main())

        self._thread = threading.Thread(target=run, name="upstox-feed", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the background thread's feed."""
        self._stopping = True
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        if self._thread is not None:
            self._thread.join(timeout)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for the background feed to stop (or ``timeout``); raise the error that stopped it."""
        if self._thread is not None:
            self._thread.join(timeout)
        if self._error is not None:
            raise self._error


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
