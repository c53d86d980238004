"""One ticker connection's state, and what the client's text messages (§15.2) do to it.

The messages' format is :mod:`kitekit.wire.ticks.messages` (shared with the client); here is what the
simulator makes of them: subscriptions, modes, and Kite's per-connection limit.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from kitekit.errors import TickMessageError
from kitekit.sim.updates import Subscription
from kitekit.wire.ticks import Mode
from kitekit.wire.ticks.messages import Action, error_message, parse_client_message

__all__ = ["FeedLimits", "FeedSession", "handle_message"]


@dataclass
class FeedLimits:
    """The feed's limits and pace; Kite's own capacity by default (§15.1)."""

    #: Instruments one connection may subscribe (DOCS: 3000).
    tokens_per_connection: int = 3000
    #: Connections one api_key may hold at once (DOCS: 3).
    connections_per_api_key: int = 3
    #: Seconds of silence after which a heartbeat is sent (FORUM: about one a second).
    heartbeat_s: float = 1.0
    #: How often the market clock is looked at for a new second.
    poll_s: float = 0.05
    #: Tick frames left queued for a connection that reads slowly; older ones are dropped (counted) when a new
    #: second's frames arrive. The frames of one second (or one catch-up) are never split.
    queue_frames: int = 120
    #: The most ticks (seconds x instruments) sent to catch up after the market clock leaps; beyond it the
    #: feed skips ahead to the latest seconds.
    catch_up_ticks: int = 500_000
    #: A replay starts this long after a connection's first subscription, so the subscribe and mode messages a
    #: client sends together are all in before the first recorded frame is cut to them.
    replay_grace_s: float = 0.25


@dataclass(eq=False)
class FeedSession:
    """One open WebSocket: who it belongs to, its subscriptions, and what waits to be sent.

    Only the event loop thread touches it.
    """

    number: int
    api_key: str
    user_id: str
    limits: FeedLimits
    #: Subscribed tokens and their modes.
    subs: dict[int, Mode] = field(default_factory=dict)
    #: Tokens subscribed or re-moded since the last tick frame: each gets a tick at once.
    fresh: set[int] = field(default_factory=set)
    ticks: deque[bytes] = field(default_factory=deque)
    texts: deque[str] = field(default_factory=deque)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set whenever the writer has emptied the tick queue (a replay waits on it instead of dropping).
    drained: asyncio.Event = field(default_factory=asyncio.Event)
    updates: Subscription | None = None
    #: Monotonic time until which nothing at all is sent (the stall fault).
    stalled_until: float = 0.0
    last_sent: float = 0.0
    frames_sent: int = 0
    heartbeats_sent: int = 0
    bytes_sent: int = 0
    frames_dropped: int = 0

    def queue_ticks(self, frames: list[bytes]) -> None:
        """Queue binary frames; queued frames beyond the limit are dropped first, oldest first, and counted."""
        while self.ticks and len(self.ticks) >= self.limits.queue_frames:
            self.ticks.popleft()
            self.frames_dropped += 1
        self.ticks.extend(frames)
        self.wake.set()

    def queue_text(self, text: str) -> None:
        """Queue a text frame (errors, order updates)."""
        self.texts.append(text)
        self.wake.set()


def handle_message(session: FeedSession, text: str) -> list[str]:
    """Apply one client text message to ``session``; return the error messages to send back.

    ``subscribe`` adds tokens in quote mode (Kite's default) and keeps the mode of tokens already
    subscribed, so the SDK's resubscription is idempotent; tokens past the connection's limit are refused
    with an error message. ``unsubscribe`` removes tokens; ``mode`` changes the mode of subscribed tokens
    (others are ignored). A malformed message is answered with an error message and changes nothing.
    """
    try:
        message = parse_client_message(text)
    except TickMessageError as exc:
        return [error_message(str(exc))]
    tokens = list(message.tokens)
    if message.action is Action.SUBSCRIBE:
        return _subscribe(session, tokens)
    if message.action is Action.UNSUBSCRIBE:
        return _unsubscribe(session, tokens)
    mode = message.mode
    assert mode is not None  # noqa: S101 - every mode message has one
    for token in tokens:
        if token in session.subs and session.subs[token] is not mode:
            session.subs[token] = mode
            session.fresh.add(token)
    return []


def _subscribe(session: FeedSession, tokens: list[int]) -> list[str]:
    room = session.limits.tokens_per_connection - len(session.subs)
    new = [t for t in tokens if t not in session.subs]
    taken, refused = new[: max(room, 0)], new[max(room, 0) :]
    for token in taken:
        session.subs[token] = Mode.QUOTE
    session.fresh.update(taken)
    if not refused:
        return []
    limit = session.limits.tokens_per_connection
    return [
        error_message(
            f"Subscription limit exceeded: a connection takes at most {limit} instruments; {len(refused)} "
            f"not subscribed (first {refused[0]}). Open another connection (at most "
            f"{session.limits.connections_per_api_key} per api_key)."
        )
    ]


def _unsubscribe(session: FeedSession, tokens: list[int]) -> list[str]:
    for token in tokens:
        session.subs.pop(token, None)
        session.fresh.discard(token)
    return []
