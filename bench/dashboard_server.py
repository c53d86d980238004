"""The dashboard benchmark's server, in a process of its own so its CPU is its own (``bench.dashboard_server``).

Arguments: the simulator's URL, the number of instruments to subscribe in full mode, and ``dashboard`` (a
dashboard on the simulator's account, with a position in each of the first ``POSITIONS`` instruments) or
``bare`` (the baseline: the same ticker on the same instruments in columns, into a tick board, and nothing else).
It prints the dashboard's URL (or ``bare``) once ready; a line on its input starts the measured window, and the
end of its input ends it: it prints its own CPU seconds (every thread) and the window's wall seconds, and exits.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.bench_stream import login, tradable_tokens
from kitekit.cli.embedded import remote_clock
from kitekit.clock import SystemClock
from kitekit.dashboard import DashboardServer, Desk, TickBoard
from kitekit.instruments import InstrumentStore, fetch_dump
from kitekit.orders import LiveBroker, OrderRequest
from kitekit.ticker import Ticker
from kitekit.wire.ticks import Mode

#: Open positions the dashboard's positions page marks at every tick.
POSITIONS = 20


def main(argv: list[str]) -> None:
    url, count, kind = argv[0], int(argv[1]), argv[2]
    kite = login(url)
    clock = remote_clock(url, SystemClock())
    tokens = tradable_tokens(count)
    if kind == "bare":
        board = TickBoard(clock=clock)
        ticker = Ticker.from_kite(kite, columns=True, clock=clock)
        ticker.on_ticks = board.on_ticks
        ticker.subscribe(tokens, Mode.FULL)
        ticker.start()
        print("bare", flush=True)
        sys.stdin.readline()
        cpu, wall = time.process_time(), time.monotonic()
        sys.stdin.read()
        print(time.process_time() - cpu, time.monotonic() - wall, flush=True)
        ticker.stop()
        return
    store = InstrumentStore.from_bytes(fetch_dump(kite), clock.now().date(), clock=clock)
    with tempfile.TemporaryDirectory() as tmp:
        gateway = LiveBroker(kite, store, folder=Path(tmp), clock=clock)
        for token in tokens[:POSITIONS]:
            key = store.instrument(token).key
            gateway.place(OrderRequest.of(key, "BUY", 1, order_type="MARKET", product="MIS"))
        desk = Desk(kite, gateway, store, clock, mode="live", simulated=True, watch=tokens, watch_mode=Mode.FULL)
        server = DashboardServer(desk).start()
        print(server.url, flush=True)
        sys.stdin.readline()
        cpu, wall = time.process_time(), time.monotonic()
        sys.stdin.read()
        print(time.process_time() - cpu, time.monotonic() - wall, flush=True)
        server.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
