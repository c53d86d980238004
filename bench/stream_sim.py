"""The streaming benchmark's simulator, in a process of its own: it prints its URL and logs when each frame left.

Run by ``bench_stream``: ``python -m bench.stream_sim LOG [N]`` (N: build the first ticks of that many instruments
before serving). It serves a virtual session from 11:00 IST at real
speed (a new market second each second), and on end of input writes, for every tick frame it sent, the first
packet's token and exchange timestamp, the monotonic time the frame was handed to the socket, its tick
count and the connection's number, to ``LOG`` (numpy ``.npy``). Monotonic time is one clock for every process
of a Linux machine, so the benchmark can match it with the time its callbacks ran.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
from pathlib import Path

import numpy as np

from bench.bench_stream import tradable_tokens
from bench.common import BENCH_NOW
from kitekit.clock import VirtualClock
from kitekit.sim import SimConfig, SimServer
from kitekit.sim.config import LoginMode
from kitekit.sim.feed.market_ticks import build_frames
from kitekit.wire.ticks import Mode


def main(argv: list[str]) -> None:
    log = Path(argv[0])
    sent: list[tuple[int, int, int, int, int]] = []

    def tap(connection: int, frame: bytes) -> None:
        # Full packets of tradable instruments: token at byte 4, exchange timestamp at byte 4 + 60.
        sent.append((int.from_bytes(frame[4:8], "big"), int.from_bytes(frame[64:68], "big"), time.monotonic_ns(),
                     frame[0] << 8 | frame[1], connection))  # fmt: skip

    config = SimConfig(rate_limit_enabled=False, login_mode=LoginMode.AUTO)
    clock = VirtualClock(BENCH_NOW)
    server = SimServer(config, clock)
    if len(argv) > 1:
        # The day's first ticks of N instruments build their universe and price paths: seconds, and a minute on a
        # loaded machine, past which the feed skips ahead rather than catch up (a hole in the first connection's
        # seconds that would be the simulator's, not the reader's). Built before anyone connects.
        build_frames(server.sim.market, [clock.now()], [dict.fromkeys(tradable_tokens(int(argv[1])), Mode.FULL)])
    server.sim.feed.tap = tap
    server.start()
    print(server.url, flush=True)  # the parent reads it
    dropped: dict[int, int] = {}
    done = threading.Event()

    def note_dropped() -> None:
        # Frames the simulator dropped for a connection that read too slowly (as a broker may): a hole that
        # is the connection's, not the bus's. Read while the connections are open (they go with their counters).
        while not done.wait(0.5):
            with contextlib.suppress(RuntimeError):  # read from another thread: the loop may change the dict
                for connection in server.sim.feed.info()["connections"]:
                    dropped[connection["number"]] = connection["frames_dropped"]

    watcher = threading.Thread(target=note_dropped, daemon=True)
    watcher.start()
    sys.stdin.read()
    done.set()
    watcher.join()
    server.stop()
    log.with_suffix(".dropped.json").write_text(json.dumps({n: d for n, d in dropped.items() if d}))
    np.save(log, np.array(sent, dtype=np.int64).reshape(-1, 5))


if __name__ == "__main__":
    main(sys.argv[1:])
