"""The ticker's pure parts: backoff, the silence watchdog, the subscription book's sharding, the ws root."""

from __future__ import annotations

import random

import pytest

from kitekit.errors import TickerError, TickMessageError
from kitekit.ticker import Backoff, SubscriptionBook, Ticker, Watchdog, ws_root_for
from kitekit.ticker.events import TickerEvents
from kitekit.wire.ticks import Mode


def test_backoff_grows_exponentially_within_its_jitter_and_stops_at_the_cap() -> None:
    backoff = Backoff(first=0.5, factor=2.0, cap=30.0, jitter=0.25)
    rng = random.Random(7)
    for attempt, base in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (7, 30.0), (50, 30.0)]:
        delays = [backoff.delay(attempt, rng) for _ in range(200)]
        assert min(delays) >= base * 0.75 and max(delays) <= min(base * 1.25, 30.0)
        assert len(set(delays)) > 50  # jittered: clients that lost one server come back spread out


@pytest.mark.parametrize("bad", [{"first": 0}, {"factor": 0.5}, {"cap": 0.1}, {"jitter": 1.0}])
def test_backoff_refuses_settings_that_would_spin_or_never_retry(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="backoff needs"):
        Backoff(**bad)


def test_the_watchdog_declares_a_link_dead_only_after_its_timeout_of_silence() -> None:
    now = [100.0]
    dog = Watchdog(5.0, lambda: now[0])
    now[0] += 4.9
    assert not dog.dead()
    dog.feed()  # a heartbeat
    now[0] += 5.0
    assert not dog.dead() and dog.silent_for() == 5.0
    now[0] += 0.01
    assert dog.dead()
    with pytest.raises(ValueError, match="above 0"):
        Watchdog(0)


def test_the_book_fills_connections_in_order_and_never_moves_a_token() -> None:
    book = SubscriptionBook(per_connection=3, max_connections=3)
    assert book.add([1, 2], Mode.QUOTE) == [1, 2]
    assert book.shards() == [0]
    book.add([3, 4, 5], Mode.FULL)
    assert book.want(0) == {1: Mode.QUOTE, 2: Mode.QUOTE, 3: Mode.FULL} and book.want(1) == {4: Mode.FULL, 5: Mode.FULL}
    book.remove([2])
    book.add([6], Mode.LTP)  # the first connection with room takes it; 4 and 5 stay where they are
    assert book.want(0) == {1: Mode.QUOTE, 3: Mode.FULL, 6: Mode.LTP} and set(book.want(1)) == {4, 5}
    book.add([1], Mode.FULL)  # already subscribed: a mode change, not a new token
    assert book.modes()[1] is Mode.FULL and len(book) == 5


def test_the_book_refuses_past_kites_capacity_and_changes_nothing() -> None:
    book = SubscriptionBook(per_connection=2, max_connections=2)
    book.add([1, 2, 3], Mode.QUOTE)
    with pytest.raises(TickerError, match=r"2 more instruments do not fit.*\(4 in all\); 3 are subscribed, so 1 more"):
        book.add([4, 5], Mode.QUOTE)
    assert len(book) == 3 and book.shards() == [0, 1]
    with pytest.raises(TickerError, match="not subscribed"):
        book.set_mode([1, 9], Mode.LTP)
    assert book.modes()[1] is Mode.QUOTE


def test_the_ws_root_follows_the_rest_root() -> None:
    assert ws_root_for("https://api.kite.trade") == "wss://ws.kite.trade"
    assert ws_root_for("http://127.0.0.1:8000") == "ws://127.0.0.1:8000"
    assert ws_root_for("https://kite.example:8443/api/") == "wss://kite.example:8443"


@pytest.mark.parametrize("root", ["http://127.0.0.1:1", "127.0.0.1:1", "ws://"])
def test_a_ticker_refuses_a_root_that_is_no_websocket_url(root: str) -> None:
    with pytest.raises(ValueError, match="ws:// or wss://"):
        Ticker("key", "token", root=root)


def test_a_ticker_never_shows_its_access_token() -> None:
    ticker = Ticker("key", "s3cret-access-token", root="ws://127.0.0.1:1")
    assert "s3cret" not in repr(ticker) and "s3cret" not in str(vars(ticker).get("api_key"))


@pytest.mark.parametrize("bad", [-1, 2**32, "4294967296"])
def test_a_number_that_is_no_instrument_token_is_refused_when_subscribed_not_when_sent(bad: int | str) -> None:
    ticker = Ticker("key", "token", root="ws://127.0.0.1:1")
    with pytest.raises(TickMessageError, match="not an instrument token"):
        ticker.subscribe([408065, bad])
    assert ticker.subscriptions == {}


def test_a_malformed_order_update_is_counted_and_reported_not_passed_on() -> None:
    events = TickerEvents(columns=False, queue_size=10)
    orders: list[object] = []
    errors: list[Exception] = []
    events.on_order_update, events.on_error = orders.append, errors.append
    events.message(0, '{"type": "order", "data": "COMPLETE"}')
    events.message(0, '{"type": "order", "data": {"order_id": "1"}}')
    events.message(0, "not json")  # ignored, as the SDK ignores it
    assert orders == [{"order_id": "1"}]
    assert [type(e) for e in errors] == [TickMessageError] and events.stats.bad_frames == 1
