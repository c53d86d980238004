"""The feed: admits connections, reads their messages, ticks them from the market (or a recording), injects faults."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

from kitekit.clock import Clock
from kitekit.sim.auth import AuthState
from kitekit.sim.feed.faults import MALFORMED_FRAME, FeedFault, FeedFaultKind
from kitekit.sim.feed.market_ticks import Want, build_frames
from kitekit.sim.feed.replay import Recording
from kitekit.sim.feed.session import FeedLimits, FeedSession, handle_message
from kitekit.sim.market import Market, SessionPoint
from kitekit.sim.updates import OrderUpdates
from kitekit.wire.envelope import ErrorType, RejectionError
from kitekit.wire.ticks import HEARTBEAT
from kitekit.wire.ticks.messages import order_message

__all__ = ["Channel", "Feed"]

log = logging.getLogger("kitekit.sim.feed")


class Channel(Protocol):
    """One accepted WebSocket as the feed sees it; the HTTP edge adapts its framework's socket to this."""

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""

    async def send_text(self, data: str) -> None:
        """Send a text message."""

    async def receive(self) -> str | bytes | None:
        """Return the next message, or None once the client is gone."""

    def abort(self) -> None:
        """Cut the connection at once, with no closing handshake (a network drop)."""


class Feed:
    """The simulator's WebSocket ticker: every connection, the ticking, order updates and feed faults.

    Connections are served on the server's event loop; the numeric work of a second's ticks runs in a
    worker thread. Ticks follow the market clock: a tick of every subscribed instrument each new session
    second (caught up second by second when the clock leaps), and one at once for each new subscription.

    Args:
        market: the simulated market (ticks are cut from the snapshots REST quotes use).
        clock: the market clock.
        auth: the login state, which authenticates the upgrade.
        updates: the order-update hub the exchange publishes to.
        limits: capacity and pace (Kite's by default).
    """

    def __init__(
        self,
        market: Market,
        clock: Clock,
        auth: AuthState,
        updates: OrderUpdates,
        limits: FeedLimits | None = None,
    ) -> None:
        self.market = market
        self.clock = clock
        self.auth = auth
        self.updates = updates
        self.limits = limits or FeedLimits()
        #: Called with (connection number, message) for every binary message sent (tests, benchmarks).
        self.tap: Callable[[int, bytes], None] | None = None
        #: Upgrades refused, by HTTP status.
        self.refused: Counter[int] = Counter()
        self._sessions: dict[int, FeedSession] = {}
        self._channels: dict[int, Channel] = {}
        self._replays: dict[int, asyncio.Task[None]] = {}
        self._numbers = itertools.count(1)
        self._refuse_until = 0.0
        self._hub: asyncio.Task[None] | None = None
        self._recording: Recording | None = None
        self._speed = 1.0

    # -- replay ------------------------------------------------------------------------------------
    def replay(self, recording: Recording, speed: float = 1.0) -> None:
        """Serve ``recording`` instead of the market model, at ``speed`` times the recorded pace."""
        if not speed > 0:
            raise ValueError(f"speed must be above 0, got {speed}")
        self._recording, self._speed = recording, speed

    # -- connections -------------------------------------------------------------------------------
    def admit(self, api_key: str, access_token: str) -> FeedSession:
        """Check an upgrade's credentials and capacity; return the new connection's session.

        Raises:
            RejectionError: 503 while refusing (a fault), 403 for a bad or expired token (§15.1), 429 past
                the connections an api_key may hold.
        """
        if time.monotonic() < self._refuse_until:
            raise self._refuse(503, ErrorType.NETWORK, "The ticker is not accepting connections now. Retry shortly.")
        try:
            grant = self.auth.grant_of(api_key, access_token)
        except RejectionError:
            raise self._refuse(403, ErrorType.TOKEN, "Invalid `api_key` or `access_token`.") from None
        held = sum(1 for s in self._sessions.values() if s.api_key == grant.api_key)
        if held >= self.limits.connections_per_api_key:
            raise self._refuse(
                429,
                ErrorType.NETWORK,
                f"Too many connections: an api_key may hold {self.limits.connections_per_api_key} ticker "
                "connections at once. Close one first.",
            )
        # Registered at once, so a burst of upgrades cannot slip past the limit before any is served.
        session = FeedSession(next(self._numbers), grant.api_key, grant.user_id, self.limits)
        self._sessions[session.number] = session
        return session

    def _refuse(self, status: int, error_type: ErrorType, message: str) -> RejectionError:
        self.refused[status] += 1
        return RejectionError(error_type, message, status)

    def leave(self, session: FeedSession) -> None:
        """Forget a connection (idempotent)."""
        self._sessions.pop(session.number, None)
        self._channels.pop(session.number, None)
        replay = self._replays.pop(session.number, None)
        if replay is not None:
            replay.cancel()
        if session.updates is not None:
            self.updates.unsubscribe(session.updates)
            session.updates = None

    def listen(self, session: FeedSession) -> None:
        """Start queueing the user's order updates for a connection, from the running event loop.

        Called before the upgrade is accepted: an update published once the client holds an open connection
        must reach it, as on Kite, so the queue has to exist before the client can see the connection.
        """
        if session.updates is not None:
            return
        loop = asyncio.get_running_loop()

        def wake() -> None:  # runs on the publishing thread
            with contextlib.suppress(RuntimeError):  # the loop is closed: the server is gone
                loop.call_soon_threadsafe(session.wake.set)

        session.updates = self.updates.subscribe(session.user_id, wake)

    async def serve(self, session: FeedSession, channel: Channel) -> None:
        """Serve an accepted connection until either side closes it."""
        session.last_sent = time.monotonic()
        self.listen(session)
        self._channels[session.number] = channel
        log.info("ticker connection %d opened for %s", session.number, session.user_id)
        if self._recording is None and (self._hub is None or self._hub.done()):
            self._hub = asyncio.create_task(self._tick_loop())
        tasks = [asyncio.create_task(self._read(session, channel)), asyncio.create_task(self._write(session, channel))]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.leave(session)
            log.info("ticker connection %d closed", session.number)

    async def _read(self, session: FeedSession, channel: Channel) -> None:
        while True:
            message = await channel.receive()
            if message is None:
                return
            if isinstance(message, bytes):
                continue  # clients send only text frames (§15.2)
            for error in handle_message(session, message):
                session.queue_text(error)
            if self._recording is not None and session.subs and session.number not in self._replays:
                self._replays[session.number] = asyncio.create_task(self._replay(session, self._recording))

    async def _write(self, session: FeedSession, channel: Channel) -> None:
        beat = self.limits.heartbeat_s
        while True:
            session.wake.clear()
            now = time.monotonic()
            if now < session.stalled_until:
                # A stalled link: everything meant for it is lost, as on a dead network path.
                session.ticks.clear()
                session.texts.clear()
                if session.updates is not None:
                    session.updates.take()
                wait = session.stalled_until - now
            else:
                await self._drain(session, channel)
                if time.monotonic() - session.last_sent >= beat:
                    await channel.send_bytes(HEARTBEAT)
                    session.heartbeats_sent += 1
                    session.last_sent = time.monotonic()
                wait = session.last_sent + beat - time.monotonic()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(session.wake.wait(), timeout=max(wait, 0.001))

    async def _drain(self, session: FeedSession, channel: Channel) -> None:
        if session.updates is not None:
            for update in session.updates.take():
                session.texts.append(order_message(update))
        while session.texts:
            await channel.send_text(session.texts.popleft())
            session.last_sent = time.monotonic()
        while session.ticks:
            data = session.ticks.popleft()
            await channel.send_bytes(data)
            session.last_sent = time.monotonic()
            session.frames_sent += 1
            session.bytes_sent += len(data)
            if self.tap is not None:
                self.tap(session.number, data)
        session.drained.set()

    # -- ticking -----------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        last: tuple[int, int] | None = None
        while self._sessions:
            try:
                last = await self._tick(last)
            except Exception:  # a bug in one second's ticks must not end the feed for every connection
                log.exception("the simulator feed failed to build ticks")
            await asyncio.sleep(self.limits.poll_s)

    async def _tick(self, last: tuple[int, int] | None) -> tuple[int, int]:
        now = self.clock.now()
        point = self.market.point(now)
        key = (point.n, point.s)
        sessions = list(self._sessions.values())
        moments = self._moments(last, point, now, sessions) if last is not None and key != last else []
        # A new second ticks every subscription, fresh ones included; otherwise fresh ones get a tick now.
        regular: list[tuple[FeedSession, Want]] = [(s, dict(s.subs)) for s in sessions if s.subs] if moments else []
        fresh: list[tuple[FeedSession, Want]] = []
        if not moments:
            fresh = [(s, {t: s.subs[t] for t in s.fresh if t in s.subs}) for s in sessions if s.fresh]
        for s in sessions:
            s.fresh.clear()
        if regular or fresh:
            built = await asyncio.to_thread(self._build, moments, regular, now, fresh)
            for session, frames in built:
                if session.number in self._sessions and frames:
                    session.queue_ticks(frames)
        return key

    def _moments(
        self, last: tuple[int, int], point: SessionPoint, now: datetime, sessions: list[FeedSession]
    ) -> list[datetime]:
        """Return the clock times to tick for, one per session second since ``last``, ``now`` last."""
        if point.n != last[0] or point.s <= last[1]:
            return [now]  # a new day, or the clock went back: no catching up
        subscribed = max(1, sum(len(s.subs) for s in sessions))
        seconds = list(range(last[1] + 1, point.s + 1))[-max(1, self.limits.catch_up_ticks // subscribed) :]
        opens = self.market.calendar.session_open(point.day)
        return [opens + timedelta(seconds=s) for s in seconds[:-1]] + [now]

    def _build(
        self,
        moments: list[datetime],
        regular: list[tuple[FeedSession, Want]],
        now: datetime,
        fresh: list[tuple[FeedSession, Want]],
    ) -> list[tuple[FeedSession, list[bytes]]]:
        out: list[tuple[FeedSession, list[bytes]]] = []
        for group, when in ((regular, moments), (fresh, [now])):
            if group:
                frames = build_frames(self.market, when, [want for _, want in group])
                out.extend(zip([s for s, _ in group], frames, strict=True))
        return out

    async def _replay(self, session: FeedSession, recording: Recording) -> None:
        await asyncio.sleep(self.limits.replay_grace_s)
        start = time.monotonic()
        for i in range(len(recording)):
            delay = start + recording.delay_s(i, self._speed) - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # A replay never drops: it waits for a slow reader instead.
            while len(session.ticks) >= self.limits.queue_frames // 2:
                session.drained.clear()
                await session.drained.wait()
            frame = recording.frame_for(i, session.subs)
            if frame is not None:
                session.queue_ticks([frame])

    # -- faults and counters -----------------------------------------------------------------------
    def inject(self, fault: FeedFault) -> int:
        """Inject ``fault``; return how many open connections it hit (a refusal hits none)."""
        sessions = list(self._sessions.values())
        if fault.kind is FeedFaultKind.DROP:
            for channel in list(self._channels.values()):
                channel.abort()
        elif fault.kind is FeedFaultKind.STALL:
            until = time.monotonic() + fault.seconds
            for session in sessions:
                session.stalled_until = until
        elif fault.kind is FeedFaultKind.MALFORMED:
            for session in sessions:
                session.queue_ticks([MALFORMED_FRAME])
        else:
            self._refuse_until = time.monotonic() + fault.seconds
            return 0
        log.info("feed fault %s on %d connection(s)", fault.kind.value, len(sessions))
        return len(sessions)

    def clear(self) -> None:
        """End every stall and refusal now."""
        self._refuse_until = 0.0
        for session in self._sessions.values():
            session.stalled_until = 0.0
            session.wake.set()

    def info(self) -> dict[str, Any]:
        """Return the feed's state for ``GET /__sim/feed``: connections, counters, faults (never a token)."""
        now = time.monotonic()
        replay = self._recording
        return {
            "source": "market" if replay is None else "replay",
            "replay": None
            if replay is None
            else {"folder": replay.source, "frames": len(replay), "speed": self._speed},
            "refusing_s": round(max(0.0, self._refuse_until - now), 3),
            "refused": {str(status): n for status, n in sorted(self.refused.items())},
            "connections": [
                {
                    "number": s.number,
                    "user_id": s.user_id,
                    "api_key": s.api_key,
                    "instruments": len(s.subs),
                    "modes": dict(Counter(str(mode) for mode in s.subs.values())),
                    "frames_sent": s.frames_sent,
                    "heartbeats_sent": s.heartbeats_sent,
                    "bytes_sent": s.bytes_sent,
                    "frames_dropped": s.frames_dropped,
                    "stalled_s": round(max(0.0, s.stalled_until - now), 3),
                }
                for s in self._sessions.values()
            ],
        }
