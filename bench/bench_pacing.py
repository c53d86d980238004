"""Refreshing LTP for 5,000 instruments against the simulator's enforced limits: throughput and 429s.

Run: ``./dev bench pacing [--seconds 60]``. Kite allows one quote call a second per api_key, 1,000
instruments per call. Side by side in one run:

- baseline "hammer": the official SDK in a plain loop (what a first script does);
- baseline "sleep(1)": the same loop with ``time.sleep(1)`` between calls (the usual fix);
- kitekit: ``MarketData.ltp`` on a client from the paced transport;
- kitekit, two processes sharing one key through the machine-wide pacer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kiteconnect import KiteConnect
from kiteconnect.exceptions import NetworkException

from bench.common import BENCH_NOW
from kitekit.clock import ManualClock
from kitekit.quotes import MarketData
from kitekit.sim import SimConfig, SimServer
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.throttle import Pacer
from kitekit.transport import install_transport

COUNT = 5000
BATCH = 1000


def _loop(seconds: float, step: Callable[[], int]) -> tuple[int, int, float]:
    """Run ``step`` (returns requests made) for ``seconds``; count successes and 429s."""
    ok = limited = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            ok += step()
        except NetworkException as exc:
            if exc.code != 429:
                raise
            limited += 1
    return ok, limited, time.monotonic() - started


def _kitekit_step(kite: KiteConnect, keys: list[str]) -> Callable[[], int]:
    data = MarketData(kite)
    calls = -(-len(keys) // BATCH)

    def step() -> int:
        data.ltp(*keys)
        return calls

    return step


def worker(url: str, db: str, seconds: float, keys_file: str) -> None:
    """One process of the shared-key scenario; prints its counts as JSON."""
    keys = json.loads(Path(keys_file).read_text())
    kite = KiteConnect(os.environ["SIM_KEY"], os.environ["SIM_TOKEN"], root=url)
    install_transport(kite, pacer=Pacer(Path(db)))
    ok, limited, elapsed = _loop(seconds, _kitekit_step(kite, keys))
    print(json.dumps({"ok": ok, "limited": limited, "elapsed": elapsed}))


def main(argv: list[str]) -> None:
    """Run the four scenarios and print a table."""
    if argv and argv[0] == "--worker":
        worker(argv[1], argv[2], float(argv[3]), argv[4])
        return
    parser = argparse.ArgumentParser(prog="bench pacing")
    parser.add_argument("--seconds", type=float, default=60.0)
    seconds = parser.parse_args(argv).seconds
    server = SimServer(SimConfig(), ManualClock(BENCH_NOW)).start()  # Kite's limits enforced
    try:
        uni = server.sim.market.universe(BENCH_NOW)
        keys = [f"{uni.exchange[i]}:{uni.symbol[i]}" for i in range(COUNT)]
        base = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, base)
        token = base.access_token
        allowed = server.sim.config.rate_limits[next(c for c in server.sim.config.rate_limits if c == "quote")]
        rows: list[tuple[str, int, int, float]] = []

        def fresh() -> KiteConnect:
            return KiteConnect(base.api_key, token, root=server.url)

        def wait_for_budget() -> None:
            server.sim.limiter.reset()
            time.sleep(1.1)

        naive = fresh()
        batches = [keys[i : i + BATCH] for i in range(0, COUNT, BATCH)]
        turn = iter(range(10**9))

        def hammer() -> int:
            naive.ltp(batches[next(turn) % len(batches)])
            return 1

        rows.append(("SDK plain loop", *_loop(seconds, hammer)))
        wait_for_budget()

        def polite() -> int:
            naive.ltp(batches[next(turn) % len(batches)])
            time.sleep(1.0)
            return 1

        rows.append(("SDK loop with sleep(1)", *_loop(seconds, polite)))
        wait_for_budget()

        with tempfile.TemporaryDirectory() as tmp:
            kite = fresh()
            install_transport(kite, pacer=Pacer(Path(tmp) / "pacing.sqlite3"))
            rows.append(("kitekit MarketData.ltp (paced)", *_loop(seconds, _kitekit_step(kite, keys))))
            wait_for_budget()

            keys_file = Path(tmp) / "keys.json"
            keys_file.write_text(json.dumps(keys))
            env = {**os.environ, "SIM_KEY": base.api_key, "SIM_TOKEN": token}
            db = str(Path(tmp) / "shared.sqlite3")
            cmd = [sys.executable, "-m", "bench", "pacing", "--worker", server.url, db, str(seconds), str(keys_file)]
            procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
            results = [json.loads(p.communicate(timeout=seconds * 3 + 60)[0].strip().splitlines()[-1]) for p in procs]
            rows.append(
                (
                    "kitekit, 2 processes on one key",
                    sum(r["ok"] for r in results),
                    sum(r["limited"] for r in results),
                    max(r["elapsed"] for r in results),
                )
            )
        print(f"{COUNT} instruments, batches of {BATCH}, quote limit {allowed:g}/s, {seconds:g}s per scenario")
        print(f"{'scenario':<34} {'ok calls':>9} {'429s':>7} {'seconds':>8} {'% of allowed':>13}")
        for name, ok, limited, elapsed in rows:
            # In T seconds the limit admits one call at the start and one per second after it.
            most = 1 + int(elapsed * allowed)
            print(f"{name:<34} {ok:>9} {limited:>7} {elapsed:>8.1f} {ok / most * 100:>12.1f}%")
        print(f"simulator counted {server.sim.limiter.rejected} rate-limited requests in all")
    finally:
        server.stop()
