"""One feed fanned out through Redis: owners, standby takeover, late joiners, slow consumers, aggregated wants."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
import requests

from kitekit.bus.consumer import BusTicker
from kitekit.bus.feed import FeedOwner
from kitekit.bus.keys import Entries, FeedKeys, frame_tokens, join_frame, split_frame
from kitekit.bus.server import RedisServer
from kitekit.clock import ManualClock
from kitekit.errors import FellBehindError, TickFrameError
from kitekit.sim import SimServer
from kitekit.ticker import Ticker
from kitekit.ticker.shards import SubscriptionBook
from kitekit.wire.ticks import Mode
from tests.conftest import eventually

INFY, RELIANCE, TCS = 408065, 738561, 2953217
#: Seconds to wait for the first tick of a test (the simulator's first build in a process comes before it).
FIRST_TICK = 60.0


class Owner:
    """A feed owner running in a thread of the test."""

    def __init__(self, url: str, kite: Any, **options: Any) -> None:
        self.owner = FeedOwner(url, Ticker.from_kite(kite), lease_ttl=2.0, **options)
        self.thread = threading.Thread(target=self.owner.run, daemon=True)
        self.thread.start()

    def stop(self, hand_over: bool = True) -> None:
        self.owner.stop(hand_over)
        self.thread.join(15)


@pytest.fixture
def owners(redis_server: RedisServer, sim_kite: Any) -> Iterator[list[Owner]]:
    started: list[Owner] = []
    yield started
    for owner in started:
        owner.stop()


class Seen:
    """What a consumer got: each token's exchange timestamps, and its errors."""

    def __init__(self, consumer: BusTicker) -> None:
        self.ticks: dict[int, list[Any]] = {}
        self.errors: list[Exception] = []
        consumer.on_ticks = self.add
        consumer.on_error = self.errors.append

    def add(self, ticks: list[dict[str, Any]]) -> None:
        for tick in ticks:
            self.ticks.setdefault(tick["instrument_token"], []).append(tick["exchange_timestamp"])

    def count(self, token: int) -> int:
        return len(self.ticks.get(token, []))


def consumer_for(url: str, tokens: list[int], mode: str = "full") -> tuple[BusTicker, Seen]:
    # Its wants renewed every second (they lapse after 3 s): a worker starved past a shorter lapse on a loaded machine
    # made the owner unsubscribe and subscribe again, and the broker answers that with the current second again.
    consumer = BusTicker(url, refresh=1.0)
    seen = Seen(consumer)
    consumer.subscribe(tokens, mode)
    consumer.start()
    return consumer, seen


def test_consumers_get_every_frame_in_order_and_a_late_joiner_starts_from_the_last_ticks(
    redis_server: RedisServer, sim_kite: Any, sim_clock: ManualClock, owners: list[Owner]
) -> None:
    owners.append(Owner(redis_server.url, sim_kite))
    first, seen = consumer_for(redis_server.url, [INFY, RELIANCE])
    # The subscription's own tick: the first ticks a simulator builds in a process make its price paths (seconds,
    # more on a loaded machine): FIRST_TICK waits longer for it than for any tick after.
    eventually(lambda: owners[0].owner.active and seen.count(INFY) >= 1, timeout=FIRST_TICK)
    for _ in range(3):
        before = seen.count(INFY)
        sim_clock.advance(1)
        eventually(lambda: seen.count(INFY) > before)  # noqa: B023 - waited on before the loop moves on
    late, late_seen = consumer_for(redis_server.url, [INFY])
    # Primed at once, before anything new is published: the last tick of its instrument.
    assert late_seen.ticks[INFY] == seen.ticks[INFY][-1:]
    assert late_seen.count(RELIANCE) == 0  # only what it asked for
    sim_clock.advance(1)
    eventually(lambda: late_seen.count(INFY) == 2 and seen.count(INFY) == 5)
    assert late_seen.ticks[INFY][-1] == seen.ticks[INFY][-1]
    stamps = seen.ticks[INFY]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert first.last_seq == late.last_seq == owners[0].owner.stats.published
    first.stop()
    late.stop()


def test_a_bus_consumer_runs_under_asyncio_as_the_direct_ticker_does(
    redis_server: RedisServer, sim_kite: Any, sim_clock: ManualClock, owners: list[Owner]
) -> None:
    owners.append(Owner(redis_server.url, sim_kite, pinned={INFY: Mode.FULL}))
    # INFY's tick on subscribing: a last tick to start from.
    eventually(lambda: owners[0].owner.stats.published >= 1, timeout=FIRST_TICK)

    async def consume() -> list[Any]:
        got: list[Any] = []
        ticker = BusTicker(redis_server.url, refresh=0.2)
        ticker.subscribe([INFY], "full")
        async with ticker:
            # The market moves once the loop waits on the iteration (the last tick it was primed with went out
            # before anything iterated, as with the direct ticker).
            asyncio.get_running_loop().call_soon(sim_clock.advance, 1)
            async for ticks in ticker:
                got.append(ticks)
                if len(got) == 2:
                    break
                asyncio.get_running_loop().call_soon(sim_clock.advance, 1)
        assert not ticker.running
        return got

    got = asyncio.run(consume())
    stamps = [ticks[0]["exchange_timestamp"] for ticks in got]
    assert [ticks[0]["instrument_token"] for ticks in got] == [INFY, INFY] and stamps[1] > stamps[0]


def test_a_standby_takes_over_from_a_dead_owner_with_no_gap_and_no_duplicate(
    redis_server: RedisServer, sim_kite: Any, sim_clock: ManualClock, owners: list[Owner]
) -> None:
    owners.append(Owner(redis_server.url, sim_kite, owner_id="one"))
    eventually(lambda: owners[0].owner.active)
    owners.append(Owner(redis_server.url, sim_kite, owner_id="two"))
    consumer, seen = consumer_for(redis_server.url, [INFY, RELIANCE])
    eventually(lambda: seen.count(INFY) >= 1 and len(owners[1].owner.ticker.subscriptions) == 2, timeout=FIRST_TICK)
    for _ in range(3):
        sim_clock.advance(1)
        eventually(lambda: owners[1].owner._frames.empty() and seen.count(RELIANCE) >= 1)
    eventually(lambda: seen.count(INFY) == 4)
    owners[0].stop(hand_over=False)  # dies holding the lease
    for _ in range(3):  # the market goes on while nobody publishes: the standby keeps these
        sim_clock.advance(1)
    eventually(lambda: owners[1].owner.active, timeout=10)
    sim_clock.advance(1)
    eventually(lambda: seen.count(INFY) >= 8)
    for token in (INFY, RELIANCE):
        stamps = seen.ticks[token]
        assert len(stamps) == len(set(stamps)) == 8, stamps  # each second once: 1 on subscribing, then 7
        assert stamps == sorted(stamps)
    assert seen.errors == []
    assert owners[1].owner.stats.takeovers == 1
    consumer.stop()


def test_a_frame_the_standby_receives_after_the_stream_showed_it_published_is_not_sent_again(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    # The standby's connection lags the active one's: the stream shows a frame before the standby has it.
    frames = [join_frame([bytes([0, 0, 1, i]) + bytes(40)]) for i in range(1, 5)]
    one = FeedOwner(redis_server.url, Ticker.from_kite(sim_kite), owner_id="one")
    two = FeedOwner(redis_server.url, Ticker.from_kite(sim_kite), owner_id="two")
    one._hold_lease()
    assert one.active
    two._handle(frames[0], 1)
    receive(frames[:3], one)  # published: 1, 2, 3
    two._align()  # the stream shows 1 (matched), 2 and 3 (not received yet)
    two._handle(frames[1], 2)  # arrive late: already out
    raw = redis.Redis.from_url(redis_server.url)
    raw.delete(FeedKeys().lease)  # the active owner died
    two._hold_lease()
    assert two.active
    two._handle(frames[2], 3)
    two._handle(frames[3], 4)  # new: published by the new owner
    stream = cast(Entries, raw.xrange(FeedKeys().frames))
    assert [fields[b"f"] for _, fields in stream] == frames
    raw.close()


def receive(frames: list[bytes], *owners: FeedOwner, first: int = 0) -> None:
    """Hand ``frames`` to each of ``owners`` in turn, frame by frame, as their connections would bring them."""
    for i, frame in enumerate(frames, first):
        for owner in owners:
            owner._handle(frame, i)


def lined_up(owner: FeedOwner) -> bool:
    """Return whether ``owner`` is lined up now (read afresh: it changes as frames are handled)."""
    return owner.lined_up


def fake_frames(n: int) -> list[bytes]:
    """Return ``n`` distinct one-packet frames, as a connection would get one a second."""
    return [join_frame([bytes([0, 0, 1, i]) + bytes(40)]) for i in range(1, n + 1)]


def stream_frames(url: str) -> list[bytes]:
    raw = redis.Redis.from_url(url)
    stream = cast(Entries, raw.xrange(FeedKeys().frames))
    raw.close()
    return [fields[b"f"] for _, fields in stream]


def owner_dies(url: str) -> None:
    raw = redis.Redis.from_url(url)
    raw.delete(FeedKeys().lease)  # the active owner died (its lease ran out)
    raw.close()


def owner_at(url: str, kite: Any, owner_id: str, **options: Any) -> FeedOwner:
    """Return a feed owner driven step by step by the test, placed in the stream as ``run()`` places it."""
    owner = FeedOwner(url, Ticker.from_kite(kite), owner_id=owner_id, **options)
    owner._begin()
    return owner


def active_owner(url: str, kite: Any) -> FeedOwner:
    """Return owner "one", holding the lease."""
    one = owner_at(url, kite, "one")
    one._hold_lease()
    return one


def test_a_standby_does_not_publish_again_the_snapshot_its_subscription_brought(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    # The broker answers a subscription with the current second's ticks: the very frame the active owner published
    # just before the standby looked where the stream stood (the bench's order breaks at 1,000 x 8: a second twice).
    frames = fake_frames(5)
    one = active_owner(redis_server.url, sim_kite)
    receive(frames[:3], one)  # published: 1, 2, 3
    two = FeedOwner(redis_server.url, Ticker.from_kite(sim_kite), owner_id="two")
    two._begin()  # as run() does before its ticker connects
    two._handle(frames[2], 3)  # its subscription's snapshot: frame 3 again, byte for byte
    two._handle(frames[3], 4)  # one dies before publishing this one
    owner_dies(redis_server.url)
    two._align()
    two._hold_lease()
    assert two.active
    two._handle(frames[4], 5)
    assert stream_frames(redis_server.url) == frames


def test_frames_a_standby_got_before_one_the_stream_shows_are_never_published(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    frames = fake_frames(4)
    snapshot = join_frame([bytes([0, 0, 1, 9]) + bytes(20)])  # e.g. its subscription's ticks in quote mode
    one = active_owner(redis_server.url, sim_kite)
    receive(frames[:3], one)
    two = owner_at(redis_server.url, sim_kite, "two")
    two._align()  # 1, 2, 3 published, none received yet
    two._handle(snapshot, 3)  # never published: the active owner's connection had no such frame
    two._handle(frames[2], 4)  # published already: so is (or is too late) everything before it
    owner_dies(redis_server.url)
    two._align()
    two._hold_lease()
    assert two.active
    two._handle(frames[3], 5)
    assert stream_frames(redis_server.url) == frames


def test_a_free_lease_goes_to_the_standby_whose_frames_line_up_with_the_stream(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    frames = fake_frames(5)
    one = active_owner(redis_server.url, sim_kite)
    two = owner_at(redis_server.url, sim_kite, "two")
    receive(frames[:3], one, two)
    two._handle(frames[3], 3)  # one dies before publishing it
    two._align()  # 1, 2, 3 matched: two's frames line up with the stream
    two._hold_lease()  # the lease is one's: two only says it is lined up
    # A standby just started (its connection brought nothing yet): it would publish from wherever its connection
    # starts, losing what two holds; so it leaves a free lease to two, however long two takes (starved of CPU).
    now = [0.0]
    three = owner_at(redis_server.url, sim_kite, "three", monotonic=lambda: now[0])
    three._align()
    owner_dies(redis_server.url)
    for _ in range(3):
        three._hold_lease()
        now[0] += 10.0
    assert not three.active
    two._align()
    two._hold_lease()
    assert two.active
    three._handle(frames[4], 4)
    two._handle(frames[4], 4)
    assert stream_frames(redis_server.url) == frames
    # With no owner lined up (two died: its word ran out), one that is not takes a free lease after a wait:
    # better a gap than no feed.
    owner_dies(redis_server.url)
    raw = redis.Redis.from_url(redis_server.url)
    raw.delete(FeedKeys().owner("two"))
    raw.close()
    three._hold_lease()
    assert not three.active  # not at once: one lined up may be about to
    now[0] += 1.0
    three._hold_lease()
    assert three.active


def test_frames_still_queued_at_a_takeover_that_the_stream_showed_are_not_published_again(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    # A starved standby: its connection's frames wait in its queue while it matches the stream (which shows them
    # already), then the lease is free and it takes over before handling them (the repeat seen at 3,000 x 20).
    frames = fake_frames(5)
    one = active_owner(redis_server.url, sim_kite)
    two = owner_at(redis_server.url, sim_kite, "two")
    receive(frames[:4], one)  # published: 1, 2, 3, 4
    two._handle(frames[0], 0)
    two._align()  # 1 matched (lined up); 2, 3, 4 shown but not received yet
    for i, frame in enumerate(frames[1:], 1):
        two._frames.put((frame, i))  # received meanwhile, still queued: 2, 3, 4 and the new 5
    owner_dies(redis_server.url)
    two._hold_lease()
    assert two.active
    assert stream_frames(redis_server.url) == frames


def test_an_owner_whose_connection_ended_lines_up_again_before_it_vouches_for_its_frames(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    # The broker does not replay what a connection missed while it was away: frames after a break may have a hole.
    frames = fake_frames(8)
    now = [0.0]
    one = active_owner(redis_server.url, sim_kite)
    two = owner_at(redis_server.url, sim_kite, "two", monotonic=lambda: now[0])
    one._handle(frames[0], 0)
    two._handle(frames[0], 0)
    two._align()
    assert two.lined_up
    two._frames.put((b"", -1))  # its connection ended (on_close) and came back three seconds later
    two._handle(*two._frames.get())
    two._handle(frames[4], 4)
    receive(frames[1:3], one, first=1)  # the active owner has no hole: 2, 3 published, then it dies before 4
    two._align()
    assert not lined_up(two)  # what it holds (5) does not follow the stream's last (3)
    owner_dies(redis_server.url)
    two._hold_lease()
    assert not two.active  # it leaves the lease a moment to an owner that lines up
    # A standby that lined up with the stream has every frame after its last: it takes over, no gap.
    three = owner_at(redis_server.url, sim_kite, "three")
    receive(frames[2:6], three, first=2)
    three._align()
    three._hold_lease()
    assert three.active
    two._align()
    two._handle(frames[6], 6)  # matches what three published: lined up again
    assert lined_up(two)
    assert stream_frames(redis_server.url) == frames[:6]


def test_a_standby_whose_connection_ended_while_its_frames_waited_leaves_the_lease_to_one_lined_up(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    frames = fake_frames(4)
    one = active_owner(redis_server.url, sim_kite)
    two = owner_at(redis_server.url, sim_kite, "two")
    three = owner_at(redis_server.url, sim_kite, "three")
    receive(frames[:2], one, two, three)
    for owner in (two, three):
        owner._align()
        owner._hold_lease()  # each says it is lined up
    two._frames.put((b"", -1))  # starved: its connection ended and came back while nothing was handled
    two._frames.put((frames[3], 3))  # a hole: 3 never came on it
    three._handle(frames[2], 2)
    owner_dies(redis_server.url)
    two._hold_lease()  # takes the free lease, then finds the break among its queued frames
    assert not two.active
    three._hold_lease()
    assert three.active
    three._handle(frames[3], 3)
    assert stream_frames(redis_server.url) == frames


def test_an_active_owner_whose_connection_ended_hands_the_lease_to_a_standby_lined_up(
    redis_server: RedisServer, sim_kite: Any
) -> None:
    frames = fake_frames(4)
    one = active_owner(redis_server.url, sim_kite)
    two = owner_at(redis_server.url, sim_kite, "two")
    receive(frames[:2], one, two)
    two._align()
    two._hold_lease()  # says it is lined up
    one._handle(b"", -1)  # one's connection ends: the broker will not replay the seconds it misses
    assert not one.active
    two._handle(frames[2], 2)
    two._hold_lease()
    assert two.active
    two._handle(frames[3], 3)
    one._handle(frames[3], 3)  # back, after a hole
    one._align()
    assert stream_frames(redis_server.url) == frames
    assert one.stats.breaks == 1 and not one.active


def test_a_dropped_broker_connection_is_seen_by_its_owner_and_the_feed_goes_on_after_the_reconnect(
    redis_server: RedisServer, sim: SimServer, sim_kite: Any, sim_clock: ManualClock, owners: list[Owner]
) -> None:
    owners.append(Owner(redis_server.url, sim_kite, pinned={INFY: Mode.FULL}))
    consumer, seen = consumer_for(redis_server.url, [INFY])
    eventually(lambda: owners[0].owner.active and seen.count(INFY) >= 1, timeout=FIRST_TICK)
    requests.post(f"{sim.url}/__sim/feed/faults", json={"fault": "drop"}, timeout=5).raise_for_status()
    # The ticker's close reaches the owner: it no longer vouches for its frames lining up with the stream.
    eventually(lambda: owners[0].owner.stats.breaks == 1 and owners[0].owner.ticker.stats.connects == 2)
    before = seen.count(INFY)
    sim_clock.advance(1)
    eventually(lambda: seen.count(INFY) > before)  # alone, it keeps the lease and publishes on
    assert owners[0].owner.active
    consumer.stop()


def test_a_consumer_that_fell_behind_the_stream_is_told_how_much_it_lost_and_goes_on(
    redis_server: RedisServer, sim_kite: Any, sim_clock: ManualClock, owners: list[Owner]
) -> None:
    owners.append(Owner(redis_server.url, sim_kite, pinned={INFY: Mode.FULL}))  # served with no consumer
    consumer, seen = consumer_for(redis_server.url, [INFY])
    eventually(lambda: seen.count(INFY) >= 1, timeout=FIRST_TICK)
    consumer.stop()  # away (a long pause): it keeps its place
    stood = consumer.last_seq
    for _ in range(4):
        before = owners[0].owner.stats.published
        sim_clock.advance(1)
        eventually(lambda: owners[0].owner.stats.published > before)  # noqa: B023 - waited on at once
    raw = redis.Redis.from_url(redis_server.url)
    raw.xtrim(
        FeedKeys().frames, maxlen=1, approximate=False
    )  # what trimming by size does to a consumer that far behind
    raw.close()
    consumer.start()
    eventually(lambda: consumer.lost_frames == 3)
    assert [type(e) for e in seen.errors] == [FellBehindError]
    assert isinstance(seen.errors[0], FellBehindError) and seen.errors[0].lost == 3
    assert consumer.last_seq == (stood or 0) + 4
    consumer.stop()


def test_a_redis_restarted_empty_is_reported_and_owner_and_consumer_go_on_from_its_new_state(
    redis_server: RedisServer, sim_kite: Any, sim_clock: ManualClock, owners: list[Owner]
) -> None:
    owners.append(Owner(redis_server.url, sim_kite))
    consumer, seen = consumer_for(redis_server.url, [INFY])
    for _ in range(3):
        before = seen.count(INFY)
        sim_clock.advance(1)
        eventually(lambda: seen.count(INFY) > before)  # noqa: B023 - waited on at once
    redis_server.kill()
    eventually(lambda: owners[0].owner.stats.outages == 1)  # the owner stands by while the bus is away
    redis_server.start()  # no persistence: the stream, its sequence and the lease are gone
    eventually(lambda: any("restarted without its data" in str(e) for e in seen.errors), timeout=20)
    eventually(lambda: owners[0].owner.active, timeout=20)
    before = seen.count(INFY)
    sim_clock.advance(1)
    eventually(lambda: seen.count(INFY) > before, timeout=20)
    stamps = seen.ticks[INFY]
    assert stamps[-1] > stamps[-2] and len(stamps) == len(set(stamps))
    consumer.stop()


def test_the_owner_subscribes_the_union_within_its_capacity_and_says_what_it_refused(
    redis_server: RedisServer, sim_kite: Any, owners: list[Owner]
) -> None:
    owner = Owner(redis_server.url, sim_kite)
    owner.owner.ticker.book = SubscriptionBook(per_connection=2, max_connections=1)
    owners.append(owner)
    one, _ = consumer_for(redis_server.url, [INFY, RELIANCE], "ltp")
    two, _ = consumer_for(redis_server.url, [RELIANCE, TCS], "full")
    eventually(lambda: two.refused != {})
    assert owner.owner.ticker.subscriptions == {INFY: "ltp", RELIANCE: "full"}  # the larger mode wins
    assert list(two.refused) == [TCS] and "carries 2 instruments" in two.refused[TCS]
    assert one.refused == {}
    one.stop()
    eventually(lambda: INFY not in owner.owner.ticker.subscriptions and TCS in owner.owner.ticker.subscriptions)
    two.stop()


def test_a_frames_tokens_are_read_alike_whether_its_packets_share_one_size_or_not() -> None:
    alike = [bytes([0, 0, 1, i]) + bytes(40) for i in range(1, 5)]
    mixed = [bytes([0, 0, 2, i]) + bytes(4 * i) for i in range(1, 5)]
    assert frame_tokens(join_frame(alike)).tolist() == [257, 258, 259, 260]
    assert frame_tokens(join_frame(mixed)).tolist() == [513, 514, 515, 516]
    assert frame_tokens(join_frame(alike)).dtype == frame_tokens(join_frame(mixed)).dtype
    with pytest.raises(TickFrameError):
        frame_tokens(join_frame(alike)[:-1])


def test_frames_split_into_packets_and_join_back_byte_for_byte() -> None:
    packets = [bytes([0, 0, 1, i]) + b"x" * i for i in range(1, 5)]
    frame = join_frame(packets)
    assert split_frame(frame) == packets and join_frame(split_frame(frame)) == frame
    for cut in itertools.chain(range(0, 2), range(3, len(frame) - 1)):
        if cut in (2,):
            continue
        with pytest.raises(TickFrameError):
            split_frame(frame[:cut])
