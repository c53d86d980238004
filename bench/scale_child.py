"""A process of ``bench scale``: a feed owner, a bus consumer, a direct ticker, or a caller under a Redis pacer.

Run by ``bench_scale``:

Each takes the simulator's URL and a session's api_key and access token (one login for all: a new login would
end the others' sessions).

- ``python -m bench.scale_child owner SIM KEY TOKEN REDIS ID N``: a feed owner carrying the first N tokens (full mode)
  on one connection, with a 1 s lease; runs until killed or its input ends. Once its frames line up with the
  stream (a standby that may take over with no gap) it sets ``bench:lined-up:ID`` in Redis.
- ``python -m bench.scale_child consumer|direct SIM KEY TOKEN REDIS LOG N``: a :class:`BusTicker` (or a direct
  :class:`Ticker`) on those tokens in columns; sets ``bench:receiving:LOG`` in Redis at its first ticks; when its
  input ends, writes one row per frame to ``LOG``
  (numpy: first token, exchange second, monotonic ns at the callback, ticks) and prints a JSON summary (frames,
  frames lost, the process's CPU seconds).
- ``python -m bench.scale_child pacer SIM KEY TOKEN REDIS SKEW SECONDS``: calls ``ltp`` for SECONDS through a
  :class:`RedisPacer` whose clock is SKEW seconds off; prints ``sent <unix time> <status>`` per request.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
from typing import Any

import numpy as np
import redis
from requests.adapters import HTTPAdapter

from bench.bench_stream import tradable_tokens
from kitekit.bus.consumer import BusTicker
from kitekit.bus.feed import FeedOwner
from kitekit.bus.pacer import RedisPacer
from kitekit.rest.client import paced_client
from kitekit.ticker import Ticker, ws_root_for
from kitekit.wire.ticks import Mode, TickColumns

#: The simulator's URL, an api_key and its access token.
Session = tuple[str, str, str]


def ticker_for(session: Session, **options: Any) -> Ticker:
    """Return a direct ticker on the simulator's WebSocket."""
    sim, key, token = session
    return Ticker(key, token, root=ws_root_for(sim), **options)


def owner(session: Session, redis_url: str, owner_id: str, n: int) -> None:
    """Publish the first ``n`` tokens until the input ends (or the process is killed)."""
    # What the owner's connection does (closed, reconnecting) is what explains a gap: say it, with the time.
    logging.basicConfig(level=logging.WARNING, format=f"%(asctime)s {owner_id} %(name)s: %(message)s")
    logging.getLogger("kitekit.ticker").setLevel(logging.INFO)
    ticker = ticker_for(session, max_connections=1, columns=True)
    pinned = dict.fromkeys(tradable_tokens(n), Mode.FULL)
    feed = FeedOwner(redis_url, ticker, lease_ttl=1.0, keep=200, pinned=pinned, owner_id=owner_id)

    def stop_at_end_of_input() -> None:
        sys.stdin.read()
        feed.stop()

    class NotingHoles(queue.SimpleQueue[tuple[bytes, int]]):
        """The owner's frame queue, saying when its connection brought a hole (full packets: stamp at byte 64)."""

        last = 0

        def put(self, item: tuple[bytes, int], block: bool = True, timeout: float | None = None) -> None:
            frame = item[0]
            stamp = int.from_bytes(frame[64:68], "big") if len(frame) >= 68 else 0
            if self.last and stamp - self.last > 1:
                logging.warning("%s's connection brought a hole of %d s", owner_id, stamp - self.last)
            self.last = max(self.last, stamp)
            super().put(item, block, timeout)

    feed._frames = NotingHoles()

    def tell_when_lined_up() -> None:
        while not feed.lined_up:
            time.sleep(0.05)
        redis.Redis.from_url(redis_url).set(f"bench:lined-up:{owner_id}", 1)

    threading.Thread(target=stop_at_end_of_input, daemon=True).start()
    threading.Thread(target=tell_when_lined_up, daemon=True).start()
    feed.run()


def consumer(role: str, session: Session, redis_url: str, log: str, n: int) -> None:
    """Receive the first ``n`` tokens until the input ends; save a row per frame and print a summary."""
    rows: list[tuple[int, int, int, int]] = []
    ticker: BusTicker | Ticker
    ticker = BusTicker(redis_url, columns=True) if role == "consumer" else ticker_for(session, columns=True)

    def on_ticks(ticks: TickColumns) -> None:
        now = time.monotonic_ns()
        if not rows:  # the parent starts its clock once every reader has its first ticks
            redis.Redis.from_url(redis_url).set(f"bench:receiving:{log}", 1)
        rows.append(
            (int(ticks.instrument_token[0]), int(ticks.exchange_timestamp[0].astype(np.int64)), now, len(ticks))
        )

    ticker.on_ticks = on_ticks
    ticker.subscribe(tradable_tokens(n), "full")
    ticker.start()
    sys.stdin.read()
    ticker.stop()
    np.save(log, np.array(rows, dtype=np.int64).reshape(-1, 4))
    lost = ticker.lost_frames if isinstance(ticker, BusTicker) else 0
    print(json.dumps({"frames": len(rows), "lost_frames": lost, "cpu_s": time.process_time()}), flush=True)


def pacer(session: Session, redis_url: str, skew: float, seconds: float) -> None:
    """Call ``ltp`` for ``seconds`` through a Redis pacer with a skewed client clock."""
    sim, key, token = session
    shared = RedisPacer(redis_url, clock=lambda: time.time() + skew)
    paced = paced_client(key, sim, token, pacer=shared)
    send = HTTPAdapter.send

    def noted(self: HTTPAdapter, *args: Any, **kwargs: Any) -> Any:
        sent = time.time()  # the moment it leaves, once paced
        response = send(self, *args, **kwargs)
        print(f"sent {sent:.6f} {response.status_code}", flush=True)
        return response

    HTTPAdapter.send = noted  # type: ignore[method-assign]
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        paced.ltp(["NSE:INFY"])
    print(f"permits {shared.permits} missed {shared.missed}", flush=True)


if __name__ == "__main__":
    role, sim, key, token, *rest = sys.argv[1:]
    if role == "owner":
        owner((sim, key, token), rest[0], rest[1], int(rest[2]))
    elif role in ("consumer", "direct"):
        consumer(role, (sim, key, token), rest[0], rest[1], int(rest[2]))
    else:
        pacer((sim, key, token), rest[0], float(rest[1]), float(rest[2]))
