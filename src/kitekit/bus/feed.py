"""The feed owner: the one process holding the broker's WebSocket connections, publishing every frame to Redis.

Each owner runs a :class:`~kitekit.ticker.Ticker` (sharded, reconnecting, as a direct one) subscribed to the
union of what the consumers ask for (``keys.FeedKeys.sub``), within the connections it may hold; what it cannot
carry is listed under ``refused`` with the reason. One owner at a time is *active*: it holds the lease and
publishes each frame, in one Lua script that checks the lease, takes the next sequence number, appends the
frame to the stream as entry ``0-<seq>`` (trimmed to about ``keep`` entries) and stores each packet as its
instrument's last tick. A deposed owner's script refuses to publish, so two owners never both write.

Every other owner is a hot *standby*: connected and subscribed like the active one, it keeps the frames it
received and drops each one the stream shows the active owner published (frames are matched by their packets,
so the order of packets inside a frame does not matter). When the lease expires (the active owner died) the
standby takes it, drops what the stream holds by then, publishes the rest in order and goes on live: consumers
see the sequence go on with no hole, and no frame twice. A standby compares its first frames with the last few
entries published before it started (the broker answers a subscription with the current second again), drops
whatever its connection brought before a frame the stream shows, and takes a free lease at once only when its
frames are known to line up with the stream; one that just started waits a moment for a standby that knows.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import logging
import os
import queue
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from kitekit.bus.connect import redis_client, shown_url
from kitekit.bus.keys import MODE_RANK, Entries, FeedKeys, packet_token, split_frame
from kitekit.errors import BusUnavailableError
from kitekit.wire.ticks import Mode

if TYPE_CHECKING:
    import redis

    from kitekit.ticker import Ticker

__all__ = ["FeedOwner", "OwnerStats"]

log = logging.getLogger("kitekit.bus.feed")

# KEYS: lease, seq, frames, last. ARGV: owner id, frame, received ns, keep, then token, packet, token, packet...
# Returns the frame's sequence number, or -1 when this owner does not hold the lease (nothing is written).
_PUBLISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[4], '0-' .. seq, 'f', ARGV[2], 'ns', ARGV[3])
local n = #ARGV
local i = 5
while i <= n do
  local j = math.min(i + 999, n)
  redis.call('HSET', KEYS[4], unpack(ARGV, i, j))
  i = j + 1
end
return seq
"""
# KEYS: lease. ARGV: owner id, ttl ms. Renews the lease if it is ours (1), else 0.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""

#: Put in the frame queue in place of a frame's received time when a connection ended.
_BROKEN = -1
#: Frames a standby keeps while the stream has not shown them published (a minute of one frame a second per shard).
_PENDING = 600
#: Stream entries a starting owner compares its first frames with, back from where the stream stood when it
#: looked: the broker answers a subscription with the current second's ticks, the very frame the active owner
#: may have published just before that look. Unseen, it would stay pending and go out again at a takeover.
_LOOK_BACK = 20


def _canon(frame: bytes) -> bytes:
    """Return a frame's identity: its packets in sorted order, hashed (two connections may order them apart)."""
    return hashlib.blake2b(b"".join(sorted(split_frame(frame))), digest_size=16).digest()


@dataclass
class OwnerStats:
    """What a feed owner has done."""

    published: int = 0
    takeovers: int = 0
    deposed: int = 0
    dropped_as_published: int = 0
    #: Times the bus stopped answering (the owner stood by, keeping frames, until it answered again).
    outages: int = 0
    #: Times a connection of this owner ended (each time it lines up with the stream again before it vouches).
    breaks: int = 0
    refused: dict[int, str] = field(default_factory=dict)


class FeedOwner:
    """Run one feed owner (active or standby) until :meth:`stop`.

    Args:
        url: the Redis server (``redis://host:port/db``).
        ticker: a direct ticker for the account (not started); its subscriptions are managed here.
        name: the feed's name (one per account).
        lease_ttl: seconds the lease lasts unrenewed: how soon a standby takes over from a dead owner.
        keep: about how many frames the stream keeps (older ones are trimmed): how far a consumer may fall behind.
        pinned: instruments always subscribed, whatever the consumers ask ({token: mode}).
        owner_id: this owner's id in the lease (default: host, pid and a counter).
        client: a Redis client to use instead of one opened from ``url``.
        monotonic: the clock the lease's timing runs on (seconds; default :func:`time.monotonic`).
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        url: str,
        ticker: Ticker,
        *,
        name: str = "default",
        lease_ttl: float = 3.0,
        keep: int = 1000,
        pinned: Mapping[int, Mode] | None = None,
        owner_id: str | None = None,
        client: redis.Redis | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if not lease_ttl > 0 or keep < 1:
            raise ValueError(f"lease_ttl must be above 0 and keep at least 1, got {lease_ttl} and {keep}")
        self.url = url
        self.ticker = ticker
        self.keys = FeedKeys(name)
        self.lease_ttl = lease_ttl
        self.keep = keep
        self.pinned = {token: Mode(mode) for token, mode in (pinned or {}).items()}
        self.owner_id = owner_id or f"{socket.gethostname()}:{os.getpid()}:{next(self._ids)}"
        self.stats = OwnerStats()
        self._monotonic = monotonic
        self._redis = client if client is not None else redis_client(url)
        self._publish = self._redis.register_script(_PUBLISH)
        self._renew = self._redis.register_script(_RENEW)
        self._frames: queue.SimpleQueue[tuple[bytes, int]] = queue.SimpleQueue()
        # (frame, received ns, identity, the connection epoch it came in)
        self._pending: deque[tuple[bytes, int, bytes, int]] = deque(maxlen=_PENDING)
        self._epoch = 0  # goes up each time a connection of this owner ends
        self._seen = 0  # the last stream entry a standby has matched against its pending frames
        # Frames the stream shows published that this owner has not received yet (by identity, with counts).
        self._unmatched: dict[bytes, int] = {}
        self._unmatched_order: deque[bytes] = deque()
        self._forget_at = 0.0
        # True once this owner's frames are known to line up with the stream: a pending frame matched one the
        # stream shows, or this owner published. Only then does what it holds follow the stream's last frame.
        self._anchored = False
        self._free_since: float | None = None  # when an owner not anchored first saw the lease free
        self._union_of: tuple[bytes, ...] | None = None  # the consumers' wants (raw) the union below was made of
        self._union: dict[int, Mode] = {}
        self._active = False
        self._stop = threading.Event()
        self._hand_over = True

    @property
    def active(self) -> bool:
        """Return True while this owner holds the lease and publishes."""
        return self._active

    @property
    def lined_up(self) -> bool:
        """Return True once this owner's frames are known to line up with the stream (it may take over with no gap)."""
        return self._anchored

    def stop(self, hand_over: bool = True) -> None:
        """Ask :meth:`run` to return (from any thread).

        Args:
            hand_over: release the lease on the way out, so a standby takes over at once; False leaves it to
                expire, as a crashed owner does (tests and benchmarks).
        """
        self._hand_over = hand_over
        self._stop.set()

    def run(self) -> None:
        """Hold the feed until :meth:`stop`: keep the lease (or stand by), follow the consumers, publish frames.

        Raises:
            SessionExpiredError: the broker refused the access token (from the ticker).
            BusUnavailableError: the bus could not be reached at the start.
            redis.RedisError: the bus failed (the ticker is stopped first).
        """
        import redis

        try:
            self._begin()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            # Nothing started yet: say so at once (a running owner that loses the bus waits for it instead).
            raise BusUnavailableError(
                f"the bus at {shown_url(self.url)} cannot be reached ({type(exc).__name__}): start Redis there, or "
                "give --bus the address of the one the consumers use."
            ) from None
        self.ticker.on_frame = lambda frame, ns: self._frames.put((frame, ns))
        # In the same queue as the frames, so a break is seen exactly between the frames before and after it.
        self.ticker.on_close = lambda shard, code, reason: self._frames.put((b"", _BROKEN))
        self._follow_consumers()
        self.ticker.start()

        housekeeping = 0.0
        down: float | None = None
        try:
            while not self._stop.is_set():
                if self.ticker.error is not None:
                    raise self.ticker.error
                try:
                    if self._monotonic() >= housekeeping:
                        if not self._active:
                            self._align()  # first: whether it may take a free lease depends on it
                        self._hold_lease()
                        self._follow_consumers()
                        if self._active and self._unmatched and self._monotonic() > self._forget_at:
                            # Long enough after the takeover: what the old owner sent and this one never got
                            # will not come any more.
                            self._unmatched.clear()
                            self._unmatched_order.clear()
                        housekeeping = self._monotonic() + self.lease_ttl / 6
                    with contextlib.suppress(queue.Empty):
                        frame, ns = self._frames.get(timeout=0.05)
                        self._handle(frame, ns)
                    if down is not None:
                        log.warning(
                            "feed %s: the bus answers again after %.1fs", self.keys.name, time.monotonic() - down
                        )
                        down = None
                except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                    # Without the bus the lease cannot be known: stand by, keeping frames, until it answers.
                    if down is None:
                        down = time.monotonic()
                        self.stats.outages += 1
                        log.warning("feed %s: the bus is unreachable (%s); keeping frames until it answers",
                                    self.keys.name, type(exc).__name__)  # fmt: skip
                    self._active = False
                    housekeeping = 0.0
                    self._stop.wait(0.2)
        finally:
            self.ticker.stop()
            with contextlib.suppress(Exception):
                self._redis.delete(self.keys.owner(self.owner_id))
            if self._active and self._hand_over:
                # A clean stop hands over at once instead of making the standby wait out the lease.
                with contextlib.suppress(Exception):
                    self._release_lease()
            self._active = False

    def _begin(self) -> None:
        """Take the place in the stream this owner's frames are compared from (a little before where it stands)."""
        self._seen = max(0, int(self._redis.get(self.keys.seq) or 0) - _LOOK_BACK)

    # -- the lease -------------------------------------------------------------------------------------
    def _hold_lease(self) -> None:
        ttl = round(self.lease_ttl * 1000)
        if self._active:
            if not self._renew(keys=[self.keys.lease], args=[self.owner_id, ttl]):
                self._deposed()
            return
        if self._anchored:
            # Said for the owners that are not: while one that is lives, they leave a free lease to it.
            self._redis.set(self.keys.owner(self.owner_id), 1, px=3 * ttl)
        elif self._seen:
            # Frames were published, but none this owner holds is known to be among them: where its frames stand
            # against the stream is unknown (it has just started or connected), and taking over from here could
            # skip what the last owner had not sent. An owner that knows takes a free lease within two of its
            # rounds (lease_ttl / 6 each), or, starved of CPU, when it wakes: wait for it while its word lasts
            # (3 leases), then take the lease anyway (better a gap than no feed).
            if self._redis.get(self.keys.lease) is not None or self._others_lined_up():
                self._free_since = None
                return
            now = self._monotonic()
            self._free_since = self._free_since if self._free_since is not None else now
            if now - self._free_since < self.lease_ttl / 3:
                return
        if self._redis.set(self.keys.lease, self.owner_id, nx=True, px=ttl):
            self._free_since = None
            self._take_over()

    def _others_lined_up(self) -> bool:
        mine = self.keys.owner(self.owner_id).encode()
        return any(key != mine for key in self._redis.scan_iter(match=self.keys.owners_pattern, count=100))

    def _take_over(self) -> None:
        # Every frame received so far joins the pending ones before matching: one still queued here may well
        # have been published by the owner that just died.
        # Each one is checked as a frame handled on time would be: the stream may have shown it already (matched
        # while it waited in the queue), and a break queued among them ends what this owner may vouch for.
        was_lined_up = self._anchored
        with contextlib.suppress(queue.Empty):
            while True:
                frame, ns = self._frames.get_nowait()
                if ns == _BROKEN:
                    self._broken()
                    continue
                canon = _canon(frame)
                if not self._published_already(canon):
                    self._pending.append((frame, ns, canon, self._epoch))
        self._align()
        if was_lined_up and not self._anchored and self._others_lined_up():
            # Its connection ended while these frames waited: what it holds may have a hole that a standby lined
            # up does not. Leave the lease to that one.
            self._release_lease()
            log.warning("feed %s: %s's connection ended before it took over; leaving the lease to a standby lined up",
                        self.keys.name, self.owner_id)  # fmt: skip
            return
        backlog = list(self._pending)
        self._pending.clear()
        self._active = True
        self.stats.takeovers += 1
        log.warning(
            "feed %s: %s is now the active owner (%d frames to publish)", self.keys.name, self.owner_id, len(backlog)
        )
        self._anchored = True  # from here on the stream follows this owner's connection
        for i, (frame, ns, _, _) in enumerate(backlog):
            self._send(frame, ns)
            if not self._active:  # deposed already (starved past the lease): the rest wait, in order, as standby
                self._pending.extend(backlog[i + 1 :])
                break
        self._forget_at = self._monotonic() + 5 * self.lease_ttl

    def _release_lease(self) -> None:
        self._redis.eval(
            "if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end",
            1,
            self.keys.lease,
            self.owner_id,
        )

    def _deposed(self) -> None:
        self._active = False
        self.stats.deposed += 1
        log.warning("feed %s: %s lost the lease; standing by", self.keys.name, self.owner_id)

    # -- frames ----------------------------------------------------------------------------------------
    def _handle(self, frame: bytes, ns: int) -> None:
        if ns == _BROKEN:
            self._broken()
            return
        canon = _canon(frame) if self._unmatched or not self._active else b""
        if canon and self._published_already(canon):
            return
        if self._active:
            try:
                self._send(frame, ns)
            except BaseException:
                self._pending.append((frame, ns, _canon(frame), self._epoch))  # kept for when the bus answers again
                raise
        else:
            self._pending.append((frame, ns, canon, self._epoch))

    def _published_already(self, canon: bytes) -> bool:
        """Drop a frame the stream showed published before this connection brought it (and all pending before it)."""
        if not self._unmatched.get(canon):
            return False
        # Published by the other owner before this connection brought it here (it lags a little): drop it.
        self._unmatched[canon] -= 1
        if not self._unmatched[canon]:
            del self._unmatched[canon]
        # What this connection brought before it is older than a published frame: out already, or missed
        # by the active owner's connection; either way too late to publish (it would go out of order).
        self.stats.dropped_as_published += 1 + len(self._pending)
        self._pending.clear()
        self._line_up_if(self._epoch)
        return True

    def _line_up_if(self, epoch: int) -> None:
        # A frame matched the stream: what this owner holds follows it, unless the frame came before a break in
        # this owner's connection (what came after the break may have a hole the stream does not).
        if epoch == self._epoch:
            self._anchored = True

    def _broken(self) -> None:
        """A connection of this owner ended: what it brings from now on may miss the seconds it was away."""
        self.stats.breaks += 1
        self._epoch += 1
        was_lined_up, self._anchored = self._anchored, False
        self._redis.delete(self.keys.owner(self.owner_id))  # no owner waits for this one to take over now
        if self._active and self._others_lined_up():
            # The stream would have a hole here (the broker does not replay what a connection missed); a standby
            # lined up holds those seconds: hand the lease to it and stand by.
            self._release_lease()
            self._deposed()
            log.warning("feed %s: %s's connection ended; a standby lined up takes over", self.keys.name, self.owner_id)
        elif was_lined_up and not self._active:
            log.warning("feed %s: %s's connection ended; it lines up with the stream again", self.keys.name,
                        self.owner_id)  # fmt: skip

    def _send(self, frame: bytes, ns: int) -> None:
        args: list[bytes | int | str] = [self.owner_id, frame, ns, self.keep]
        for packet in split_frame(frame):
            args += [packet_token(packet), packet]
        seq = int(self._publish(keys=[self.keys.lease, self.keys.seq, self.keys.frames, self.keys.last], args=args))
        if seq < 0:
            self._deposed()
            self._pending.append((frame, ns, _canon(frame), self._epoch))
            return
        self._seen = seq
        self.stats.published += 1

    def _align(self) -> None:
        """Drop the pending frames the stream shows published (up to the last one matched)."""
        entries = cast(Entries, self._redis.xrange(self.keys.frames, min=f"(0-{self._seen}", max="+"))
        for entry_id, fields in entries:
            self._seen = int(entry_id.split(b"-")[1])
            canon = _canon(fields[b"f"])
            for i, (_, _, pending, epoch) in enumerate(self._pending):
                if pending == canon:
                    for _ in range(i + 1):
                        self._pending.popleft()
                    self.stats.dropped_as_published += i + 1
                    self._line_up_if(epoch)
                    break
            else:
                # Not here yet: this connection may bring it a moment later, and then it must not go out again.
                self._unmatched[canon] = self._unmatched.get(canon, 0) + 1
                self._unmatched_order.append(canon)
                while len(self._unmatched_order) > _PENDING:
                    old = self._unmatched_order.popleft()
                    if self._unmatched.get(old, 0) > 0:
                        self._unmatched[old] -= 1
                    if not self._unmatched.get(old):
                        self._unmatched.pop(old, None)

    # -- subscriptions -----------------------------------------------------------------------------------
    def wants(self) -> dict[int, Mode]:
        """Return the union of every live consumer's wants and the pinned ones (the larger mode wins)."""
        keys = list(self._redis.scan_iter(match=self.keys.subs_pattern, count=500))
        found = cast(list[bytes | None], self._redis.mget(keys) if keys else [])
        raws = tuple(sorted(raw for raw in found if raw is not None))
        if raws == self._union_of:
            # Consumers renew their wants every couple of seconds, mostly unchanged: parsing 20 consumers'
            # 3,000 instruments each, six times a second, starved the owner of the CPU its lease needs.
            return dict(self._union)
        union: dict[int, Mode] = dict(self.pinned)
        for raw in raws:
            try:
                wanted: dict[str, str] = json.loads(raw)
                for token, mode in wanted.items():
                    have = union.get(int(token))
                    union[int(token)] = Mode(mode) if have is None or MODE_RANK[Mode(mode)] > MODE_RANK[have] else have
            except (ValueError, TypeError, AttributeError) as exc:
                log.warning("feed %s: a consumer's subscription is unreadable (%s); ignoring it", self.keys.name, exc)
        self._union_of, self._union = raws, union
        return dict(union)

    def _follow_consumers(self) -> None:
        union = self.wants()
        capacity = self.ticker.book.capacity
        tokens = sorted(union)
        served, refused = tokens[:capacity], tokens[capacity:]
        current = self.ticker.subscriptions
        gone = [t for t in current if t not in union or t in refused]
        if gone:
            self.ticker.unsubscribe(gone)
        for mode in Mode:
            # Sorted, so every owner subscribes in one order and the broker sends them alike-built frames.
            changed = [t for t in served if union[t] is mode and current.get(t) is not mode]
            if changed:
                self.ticker.subscribe(changed, mode)
        reasons = {
            t: f"the feed owner carries {capacity} instruments ({self.ticker.book.per_connection} on each of "
            f"{self.ticker.book.max_connections} connections); this one is past them"
            for t in refused
        }
        if reasons != self.stats.refused:
            self.stats.refused = reasons
            pipe = self._redis.pipeline()
            pipe.delete(self.keys.refused)
            if reasons:
                pipe.hset(self.keys.refused, mapping={str(t): r for t, r in reasons.items()})
            pipe.execute()
            if refused:
                log.warning(
                    "feed %s: %d instruments asked for are past the connections' capacity", self.keys.name, len(refused)
                )

    def info(self) -> dict[str, Any]:
        """Return this owner's state (for ``kitekit feed serve`` to print)."""
        return {
            "owner": self.owner_id,
            "active": self._active,
            "instruments": len(self.ticker.subscriptions),
            "published": self.stats.published,
            "takeovers": self.stats.takeovers,
            "refused": len(self.stats.refused),
        }
