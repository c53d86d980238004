"""WebSocket 2.0 and the order-update stream in the simulator: admission, subscriptions, packets, heartbeats.

Angel's rules: a client code holds at most three connections; a connection subscribes at most 1,000 tokens
(every mode counted); depth (mode 4) takes NSE cash tokens only, at most 50 per client code. A request past a
limit or malformed is answered with an error text and changes nothing; unsubscribing what is not subscribed is
ignored. Every subscription gets a packet at once, then one each new market second. The text ``ping`` is
answered ``pong``. The feed knows no framework: the routes (:mod:`.http.stream_routes`) adapt sockets to
:class:`Channel`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from kitekit.clock import Clock
from kitekit.sim.angel.auth import AngelAuth
from kitekit.sim.angel.catalog import angel_catalog
from kitekit.sim.angel.errors import AngelError
from kitekit.sim.angel.orders import angel_order
from kitekit.sim.angel.packets import Want, build_packets
from kitekit.sim.market import Market
from kitekit.sim.updates import OrderUpdates
from kitekit.wire.angel.order_updates import update_message
from kitekit.wire.angel.stream import MAX_CONNECTIONS, MAX_DEPTH_TOKENS, MAX_TOKENS, ExchangeType, StreamMode
from kitekit.wire.angel.stream_messages import PING, PONG, StreamError, error_message, parse_request

__all__ = ["Channel", "Refused", "StreamConnection", "StreamFeed"]

log = logging.getLogger("kitekit.sim.angel")


class Channel(Protocol):
    """One accepted WebSocket as the feed sees it."""

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""

    async def send_text(self, data: str) -> None:
        """Send a text message."""

    async def receive(self) -> str | bytes | None:
        """Return the next message, or None once the client is gone."""


class Refused(Exception):  # noqa: N818 - a handshake outcome the routes answer, not an error of the feed
    """A handshake refused: HTTP ``status`` with ``reason`` in the ``x-error-message`` header."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(eq=False)
class StreamConnection:
    """One WebSocket 2.0 connection: whose it is and what it subscribed, by (mode, exchange type, token)."""

    number: int
    client_code: str
    subs: set[Want] = field(default_factory=set)
    fresh: set[Want] = field(default_factory=set)
    outbox: asyncio.Queue[str | bytes] = field(default_factory=asyncio.Queue)


class StreamFeed:
    """Every WebSocket 2.0 connection and its ticking, plus the order-update stream's connections."""

    def __init__(
        self, market: Market, clock: Clock, auth: AngelAuth, updates: OrderUpdates, poll_s: float = 0.05
    ) -> None:
        self.market = market
        self.clock = clock
        self.auth = auth
        self.updates = updates
        self.poll_s = poll_s
        self.connections: dict[int, StreamConnection] = {}
        #: Called with every binary packet sent (tests compare decoders on exactly what went out).
        self.tap: Callable[[bytes], None] | None = None
        self._numbers = itertools.count(1)
        self._hub: asyncio.Task[None] | None = None

    # -- admission ---------------------------------------------------------------------------------
    def admit(self, jwt: str, api_key: str, client_code: str, feed_token: str) -> StreamConnection:
        """Check a handshake's headers and the client's connection count; return the new connection.

        Raises:
            Refused: 401 for a missing or wrong header (the reason names which), 429 past three connections.
        """
        if not api_key:
            raise Refused(401, "Invalid API Key")
        if not client_code:
            raise Refused(401, "Invalid Client Code")
        try:
            session = self.auth.session_of(jwt)
        except AngelError:
            raise Refused(401, "Invalid Auth token") from None
        if client_code != session.client_code:
            raise Refused(401, "Invalid Client Code")
        if self.auth.stream_session(jwt, client_code, feed_token) is None:
            raise Refused(401, "Invalid Feed Token")
        held = sum(1 for c in self.connections.values() if c.client_code == session.client_code)
        if held >= MAX_CONNECTIONS:
            # SIM: what Angel does with a fourth connection is not documented; refused here.
            raise Refused(429, f"Connection limit exceeded: {MAX_CONNECTIONS} per client code")
        conn = StreamConnection(next(self._numbers), session.client_code)
        self.connections[conn.number] = conn
        return conn

    # -- serving -----------------------------------------------------------------------------------
    async def serve(self, conn: StreamConnection, channel: Channel) -> None:
        """Serve an accepted connection until either side closes it."""
        if self._hub is None or self._hub.done():
            self._hub = asyncio.create_task(self._tick_loop())
        tasks = [asyncio.create_task(self._read(conn, channel)), asyncio.create_task(self._write(conn, channel))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.connections.pop(conn.number, None)

    async def _read(self, conn: StreamConnection, channel: Channel) -> None:
        while True:
            message = await channel.receive()
            if message is None:
                return
            if isinstance(message, bytes):
                continue  # clients send text only
            if message == PING:
                conn.outbox.put_nowait(PONG)
                continue
            try:
                self.apply(conn, message)
            except StreamError as err:
                conn.outbox.put_nowait(error_message(err))

    async def _write(self, conn: StreamConnection, channel: Channel) -> None:
        while True:
            item = await conn.outbox.get()
            if isinstance(item, bytes):
                await channel.send_bytes(item)
                if self.tap is not None:
                    self.tap(item)
            else:
                await channel.send_text(item)

    def apply(self, conn: StreamConnection, text: str) -> None:
        """Apply a subscribe or unsubscribe request to ``conn``.

        Raises:
            StreamError: E1001 for a malformed request or depth outside NSE cash, E1002 past a limit.
        """
        request = parse_request(text)
        wants = {(request.mode, int(kind), token) for kind, token in request.tokens}
        if request.action == 0:
            conn.subs -= wants
            conn.fresh -= wants
            return
        new = wants - conn.subs
        if request.mode is StreamMode.DEPTH:
            if any(kind != ExchangeType.NSE_CM for _, kind, _ in new):
                raise StreamError(
                    "E1001", "Invalid Request. Depth is for exchange type 1 only.", request.correlation_id
                )
            depth = sum(
                1 for c in self.connections.values() if c.client_code == conn.client_code for w in c.subs if w[0] == 4
            )
            if depth + len(new) > MAX_DEPTH_TOKENS:
                raise StreamError("E1002", "Invalid Request. Subscription Limit Exceeded.", request.correlation_id)
        if len({(k, t) for _, k, t in conn.subs | new}) > MAX_TOKENS:
            raise StreamError("E1002", "Invalid Request. Subscription Limit Exceeded.", request.correlation_id)
        conn.subs |= new
        conn.fresh |= new

    # -- ticking -----------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        last: tuple[int, int] | None = None
        while self.connections:
            try:
                last = await self._tick(last)
            except Exception:  # one bad second must not end the feed for every connection
                log.exception("the Angel simulator's feed failed to build packets")
            await asyncio.sleep(self.poll_s)

    async def _tick(self, last: tuple[int, int] | None) -> tuple[int, int]:
        now = self.clock.now()
        point = self.market.point(now)
        key = (point.n, point.s)
        conns = list(self.connections.values())
        plan = [(c, sorted(c.subs if key != last else c.fresh)) for c in conns]
        for c in conns:
            c.fresh.clear()
        plan = [(c, wants) for c, wants in plan if wants]
        if plan:
            flat = [w for _, wants in plan for w in wants]
            packets = await asyncio.to_thread(build_packets, self.market, now, flat)
            at = 0
            for conn, wants in plan:
                for packet in packets[at : at + len(wants)]:
                    if packet is not None:
                        conn.outbox.put_nowait(packet)
                at += len(wants)
        return key

    # -- order updates -----------------------------------------------------------------------------
    async def serve_updates(self, client_code: str, channel: Channel) -> None:
        """Send ``client_code``'s order updates (order-book rows) as they happen, after the greeting."""
        loop = asyncio.get_running_loop()
        woken = asyncio.Event()

        def wake() -> None:  # runs on the exchange's thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                loop.call_soon_threadsafe(woken.set)

        sub = self.updates.subscribe(client_code, wake)
        reader = asyncio.create_task(self._drain_pings(channel))
        try:
            await channel.send_text(update_message(client_code, None))
            while not reader.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(woken.wait(), timeout=0.5)
                woken.clear()
                updates = sub.take()
                if updates:
                    catalog = angel_catalog(self.market, self.market.universe(self.clock.now()))
                    for update in updates:
                        await channel.send_text(update_message(client_code, angel_order(catalog, update)))
        finally:
            self.updates.unsubscribe(sub)
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _drain_pings(self, channel: Channel) -> None:
        while True:
            message = await channel.receive()
            if message is None:
                return
            if message == PING:
                await channel.send_text(PONG)
