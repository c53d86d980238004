"""The pacer shared through Redis: exact across processes with skewed clocks, closed while Redis is away."""

from __future__ import annotations

import itertools
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis
from requests.adapters import HTTPAdapter

from kitekit.bus.pacer import RedisPacer
from kitekit.bus.server import RedisServer
from kitekit.errors import BusUnavailableError, ConfigError
from kitekit.rest.client import default_pacer, paced_client
from kitekit.rest.pacer import Pacer
from kitekit.sim.server import SimServer
from kitekit.wire.routes import EndpointClass
from tests.conftest import eventually

QUOTE = EndpointClass.QUOTE


def sends(lines: list[str]) -> list[tuple[float, int]]:
    return [(float(t), int(s)) for _, t, s in (line.split() for line in lines if line.startswith("sent "))]


def test_processes_with_skewed_clocks_share_one_limit_exactly(
    sim: SimServer, sim_kite: Any, redis_server: RedisServer
) -> None:
    # Four processes, clocks up to 2 s apart, all on the one api_key, at Kite's quote limit (1 a second, no
    # burst, as the simulator enforces it): any two requests less than 0.9 s apart would be answered 429.
    rate, seconds = 1.0, 8.0
    sim_kite.ltp(["NSE:INFY"])  # the simulator's first quote builds its market's caches, holding up the next
    sim.sim.limiter.reset()
    skews = [-2.0, -0.7, 0.9, 2.0]
    args = [sim.url, sim_kite.api_key, sim_kite.access_token, redis_server.url]
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.pacer_child", *args, str(skew), str(seconds), str(rate)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for skew in skews
    ]
    outputs = [child.communicate(timeout=60)[0].splitlines() for child in children]
    assert [child.returncode for child in children] == [0] * len(skews)
    sent = sorted(sends([line for out in outputs for line in out]))
    permits = sum(int(out[-1].split()[1]) for out in outputs)
    missed = sum(int(out[-1].split()[3]) for out in outputs)
    assert sim.sim.limiter.rejected == 0
    assert min(b - a for (a, _), (b, _) in itertools.pairwise(sent)) > 0.9 / rate
    assert {status for _, status in sent} == {200}
    assert permits == len(sent) + missed  # a permit for every request; a missed slot is given up, never used
    # From the first call to the last the budget was used to the full (one process alone keeps it busy at 1/s).
    # A slot given up by a process woken too late (a loaded machine) counts as used: it was spent.
    used = (len(sent) - 1 + missed) / (sent[-1][0] - sent[0][0]) / rate
    assert used >= 0.95, f"{used:.3f} of the limit ({missed} slots missed)"


def test_no_request_leaves_while_redis_is_down_and_pacing_resumes_when_it_is_back(
    sim: SimServer, sim_kite: Any, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    pacer = RedisPacer(redis_server.url, rates={QUOTE: 4.0}, max_outage=30.0)
    sim.sim.limiter.rates[QUOTE] = 4.0
    kite = paced_client(sim_kite.api_key, sim.url, sim_kite.access_token, pacer=pacer)
    sent: list[float] = []
    send = HTTPAdapter.send

    def noted(self: HTTPAdapter, *args: Any, **kwargs: Any) -> Any:
        sent.append(time.time())  # the moment it leaves: kitekit's transport calls this once paced
        return send(self, *args, **kwargs)

    monkeypatch.setattr(HTTPAdapter, "send", noted)
    stop = threading.Event()

    def call() -> None:
        while not stop.is_set():
            kite.ltp(["NSE:INFY"])

    worker = threading.Thread(target=call)
    worker.start()
    try:
        eventually(lambda: len(sent) >= 4)
        redis_server.kill()
        down = time.time()
        eventually(lambda: pacer.outage_tries >= 3)
        before = len(sent)
        time.sleep(0.5)
        assert len(sent) == before
        redis_server.start()
        up = time.time()
        eventually(lambda: len(sent) >= before + 4)
    finally:
        stop.set()
        worker.join(30)
    # A slot taken before the kill may still come up to `ahead` after it; nothing else leaves while Redis is down.
    assert [t for t in sent if down + pacer.ahead + 0.05 < t < up] == []
    assert sim.sim.limiter.rejected == 0  # the first slot after the restart lies past every slot from before
    assert pacer.permits == len(sent) + pacer.missed


def test_a_429_seen_by_one_process_slows_every_process(redis_server: RedisServer) -> None:
    slept: list[float] = []
    one = RedisPacer(redis_server.url, sleep=slept.append)
    other = RedisPacer(redis_server.url, sleep=slept.append, ahead=10.0)  # takes a slot 5 s out at once
    one.acquire("key", QUOTE)
    one.cool_down("key", QUOTE, 5.0)
    assert other.acquire("key", QUOTE) > 4.0


def test_a_bucket_redis_lost_in_a_restart_starts_past_every_slot_handed_out_before(
    redis_server: RedisServer,
) -> None:
    slept: list[float] = []
    pacer = RedisPacer(redis_server.url, rates={QUOTE: 2.0}, margin=0.0, sleep=slept.append)
    pacer.acquire("key", QUOTE)
    raw = redis.Redis.from_url(redis_server.url)
    seconds, micros = raw.time()
    raw.set("kitekit:pacer:key:quote", (seconds - 5) * 1_000_000 + micros)  # its last permit went 5 s ago
    raw.close()
    assert pacer.acquire("key", QUOTE) == 0.0
    # Slots reach at most `ahead` (1 s) past now: a fresh server cannot know which, so it starts past them all.
    redis_server.kill()
    redis_server.start()
    assert pacer.acquire("key", QUOTE) >= 0.99


def test_no_slot_is_handed_out_further_ahead_than_ahead(redis_server: RedisServer) -> None:
    slept: list[float] = []
    pacer = RedisPacer(redis_server.url, rates={QUOTE: 10.0}, margin=0.0, ahead=0.5, sleep=slept.append)
    waits = [pacer.reserve("key", QUOTE) - pacer.clock() for _ in range(3)]
    assert max(waits) <= 0.5 + 0.01
    assert any(pause < 0.5 for pause in slept)  # the third caller was told to come back, holding nothing


def test_a_slot_missed_by_a_descheduled_process_is_given_up_for_the_next(redis_server: RedisServer) -> None:
    late = [0.08]

    def oversleep(seconds: float) -> None:
        time.sleep(seconds + (late.pop() if late else 0.0))

    pacer = RedisPacer(redis_server.url, rates={QUOTE: 10.0}, sleep=oversleep)
    pacer.acquire("key", QUOTE)  # a fresh bucket's first permit waits an interval: this wait wakes late
    assert pacer.missed >= 1  # more when the machine is loaded enough to oversleep again
    assert pacer.permits == pacer.missed + 1


def test_an_unreachable_redis_refuses_after_max_outage_and_sends_nothing(redis_server: RedisServer) -> None:
    slept: list[float] = []
    pacer = RedisPacer(redis_server.url, max_outage=2.0, sleep=slept.append)
    redis_server.stop()
    with pytest.raises(BusUnavailableError, match="nothing was sent"):
        pacer.acquire("key", QUOTE)
    assert pacer.permits == 0
    assert sum(slept) == pytest.approx(2.0)


def test_permits_are_spaced_on_the_servers_clock_whatever_the_clients_say(redis_server: RedisServer) -> None:
    # Two pacers whose clocks are 2 s apart take turns: their waits follow Redis's clock, not their own.
    ahead = RedisPacer(redis_server.url, rates={QUOTE: 10.0}, margin=0.0, ahead=5, clock=lambda: time.time() + 2)
    behind = RedisPacer(redis_server.url, rates={QUOTE: 10.0}, margin=0.0, ahead=5, clock=lambda: time.time() - 2)
    raw = redis.Redis.from_url(redis_server.url)
    seconds, micros = raw.time()
    raw.set("kitekit:pacer:key:quote", seconds * 1_000_000 + micros)  # a bucket in use, free now
    slots = [pacer.reserve("key", QUOTE) - pacer.clock() for pacer in [ahead, behind] * 5]
    # Each reservation lies one interval after the previous one (less the time the calls take), where a pacer
    # trusting its clients' clocks would be 2 s off at every turn.
    assert all(abs(b - a - 0.1) < 0.09 for a, b in itertools.pairwise(slots)), slots
    assert raw.pttl("kitekit:pacer:key:quote") > 0  # an idle bucket is dropped in time
    raw.close()


def test_kitekit_pacer_chooses_the_backend(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KITEKIT_PACER", raising=False)
    assert isinstance(default_pacer(), Pacer)
    monkeypatch.setenv("KITEKIT_PACER", redis_server.url)
    assert isinstance(default_pacer(), RedisPacer)
    monkeypatch.setenv("KITEKIT_PACER", "memcached://x")
    with pytest.raises(ConfigError, match="KITEKIT_PACER"):
        default_pacer()
