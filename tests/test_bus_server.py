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
