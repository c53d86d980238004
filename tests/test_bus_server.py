"""The throwaway redis-server the bus tests stand on: it starts, answers, keeps nothing, and restarts on its port."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from kitekit.bus.server import RedisServer
from kitekit.errors import BusUnavailableError


def test_the_fixture_server_answers_on_loopback_and_persists_nothing(redis_server: RedisServer) -> None:
    client = redis.Redis.from_url(redis_server.url)
    client.set("kitekit:probe", b"1")
    assert client.get("kitekit:probe") == b"1"
    assert client.config_get("save") == {"save": ""}
    assert client.config_get("appendonly") == {"appendonly": "no"}
    client.close()


def test_a_stopped_server_starts_again_on_the_same_port_empty(redis_server: RedisServer) -> None:
    port = redis_server.port
    redis.Redis.from_url(redis_server.url).set("k", b"v")
    redis_server.stop()
    assert not redis_server.running
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(redis_server.url, socket_connect_timeout=0.5).ping()
    redis_server.start()
    assert redis_server.port == port
    assert redis.Redis.from_url(redis_server.url).get("k") is None


def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BusUnavailableError, match="redis-server"):
        RedisServer(tmp_path, binary=str(tmp_path / "no-such-redis-server")).start()


def test_a_picked_port_another_server_took_first_is_not_mistaken_for_this_servers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    # Parallel workers each pick a free port; two can pick the same one. The loser must not take the winner's
    # server for its own (its tests would then read another test's data): it picks another port.
    redis.Redis.from_url(redis_server.url).set("whose", "the first")
    second = RedisServer(tmp_path / "second")
    second.port = redis_server.port  # as if the pick raced with the first server's
    with second:
        assert second.port != redis_server.port
        assert redis.Redis.from_url(second.url).get("whose") is None


def test_a_port_given_by_the_caller_that_is_taken_is_a_clear_error(redis_server: RedisServer, tmp_path: Path) -> None:
    with pytest.raises(BusUnavailableError, match=f"did not start on 127.0.0.1:{redis_server.port}"):
        RedisServer(tmp_path / "second", port=redis_server.port).start(timeout=5)
