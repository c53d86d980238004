"""Refreshing LTP for 5,000 instruments against the simulator's enforced limits: throughput and 429s.

Run: ``python -m bench pacing [--seconds 60]``. Kite allows one quote call a second per api_key and 1,000
instruments per ``ltp`` call, so 5,000 instruments take five calls. Every scenario runs the same user loop,
``kite.ltp(batch)`` over the five batches again and again for the given time, on the official SDK:

- baseline: the plain SDK (what a first script does), and the same loop with ``time.sleep(1)`` after each
  call (the usual fix);
- kitekit: the same loop on a client with the paced transport installed;
- kitekit, two processes running the loop on one api_key, sharing the pacer's database.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kiteconnect import KiteConnect
from kiteconnect.exceptions import NetworkException

from bench.common import BENCH_NOW, Figures, bench_sim
from kitekit.rest.pacer import Pacer
from kitekit.rest.transport import install_transport
from kitekit.sim import SimConfig, SimServer
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.wire.routes import EndpointClass

COUNT = 5000
BATCH = 1000


@dataclass
class Run:
    """What one scenario achieved."""

    name: str
    ok: int  # ltp calls answered with data
    limited: int  # 429s the client saw
    sim_limited: int  # 429s the simulator sent
    seconds: float


def _loop(seconds: float, call: Callable[[], None], pause: float = 0.0) -> tuple[int, int, float]:
    """Run ``call`` for ``seconds``; return (successes, 429s, elapsed)."""
    ok = limited = 0
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        try:
            call()
            ok += 1
        except NetworkException as exc:
            if exc.code != 429:
                raise
            limited += 1
        if pause:
            time.sleep(pause)
    return ok, limited, time.monotonic() - started


def _refresher(kite: KiteConnect, keys: list[str]) -> Callable[[], None]:
    """Return one step of the user loop: LTP of the next batch of 1,000."""
    turns = itertools.cycle([keys[i : i + BATCH] for i in range(0, len(keys), BATCH)])

    def step() -> None:
        kite.ltp(next(turns))

    return step


def worker(url: str, db: str, seconds: float, keys_file: str) -> None:
    """One process of the shared-key scenario: wait for "go" on stdin, loop, print counts as JSON."""
    keys = json.loads(Path(keys_file).read_text())
    kite = KiteConnect(os.environ["SIM_KEY"], os.environ["SIM_TOKEN"], root=url)
    install_transport(kite, pacer=Pacer(Path(db)))
    print("ready", flush=True)
    sys.stdin.readline()
    ok, limited, elapsed = _loop(seconds, _refresher(kite, keys))
    print(json.dumps({"ok": ok, "limited": limited, "elapsed": elapsed}), flush=True)


def _two_processes(server: SimServer, token: str, keys: list[str], seconds: float, tmp: Path) -> Run:
    keys_file = tmp / "keys.json"
    keys_file.write_text(json.dumps(keys))
    env = {**os.environ, "SIM_KEY": server.sim.config.api_key, "SIM_TOKEN": token}
    db = str(tmp / "shared.sqlite3")
    cmd = [sys.executable, "-m", "bench.bench_pacing", "--worker", server.url, db, str(seconds), str(keys_file)]
    procs = [subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:  # start both loops together, once both have imported and logged in
        line = proc.stdout.readline() if proc.stdout is not None else ""
        if line.strip() != "ready":
            for other in procs:  # never wait on a worker blocked on its stdin
                other.kill()
            raise RuntimeError(f"a worker failed to start: it said {line.strip()!r}")
    for proc in procs:
        if proc.stdin is not None:
            proc.stdin.write("go\n")
            proc.stdin.flush()
    rejected = server.sim.limiter.rejected
    results = [json.loads(p.communicate(timeout=seconds * 2 + 60)[0].strip().splitlines()[-1]) for p in procs]
    return Run(
        "kitekit, 2 processes on one key",
        sum(r["ok"] for r in results),
        sum(r["limited"] for r in results),
        server.sim.limiter.rejected - rejected,
        max(r["elapsed"] for r in results),
    )


def main(argv: list[str]) -> Figures:
    """Run the scenarios one after the other and print them side by side."""
    parser = argparse.ArgumentParser(prog="bench pacing")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each scenario (default 60)")
    parser.add_argument("--quick", action="store_true", help="3 s per scenario, for CI")
    args = parser.parse_args(argv)
    seconds = 3.0 if args.quick else args.seconds
    server = bench_sim(SimConfig())  # Kite's limits enforced
    try:
        uni = server.sim.market.universe(BENCH_NOW)
        keys = [f"{uni.exchange[i]}:{uni.symbol[i]}" for i in range(COUNT)]
        login = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, login)
        token = str(login.access_token)
        allowed = server.sim.config.rate_limits[EndpointClass.QUOTE]
        runs: list[Run] = []

        def scenario(name: str, kite: KiteConnect, pause: float = 0.0) -> None:
            server.sim.limiter.reset()
            time.sleep(1.1)  # let the previous scenario's last call age out of the window
            rejected = server.sim.limiter.rejected
            ok, limited, elapsed = _loop(seconds, _refresher(kite, keys), pause)
            runs.append(Run(name, ok, limited, server.sim.limiter.rejected - rejected, elapsed))

        def client() -> KiteConnect:
            return KiteConnect(server.sim.config.api_key, token, root=server.url)

        scenario("baseline: SDK plain loop", client())
        scenario("baseline: SDK loop + sleep(1)", client(), pause=1.0)
        with tempfile.TemporaryDirectory() as tmp:
            paced = client()
            install_transport(paced, pacer=Pacer(Path(tmp) / "pacing.sqlite3"))
            scenario("kitekit: paced transport", paced)
            server.sim.limiter.reset()
            time.sleep(1.1)
            runs.append(_two_processes(server, token, keys, seconds, Path(tmp)))
        _print(runs, allowed, seconds)
    finally:
        server.stop()
    return {f"{run.name}: ok calls per second": run.ok / run.seconds for run in runs}


def _print(runs: list[Run], allowed: float, seconds: float) -> None:
    print(
        f"LTP of {COUNT} instruments in calls of {BATCH}, quote limit {allowed:g} call/s per api_key, "
        f"{seconds:g} s per scenario"
    )
    header = f"{'scenario':<34} {'ok calls':>8} {'seconds':>8} {'ok/s':>6} {'% of allowed':>13} {'429s':>6}"
    print(header)
    print("-" * len(header))
    for run in runs:
        # In T seconds the limit admits one call at the start and one per interval after it.
        most = 1 + int(run.seconds * allowed)
        print(
            f"{run.name:<34} {run.ok:>8} {run.seconds:>8.1f} {run.ok / run.seconds:>6.3f} "
            f"{run.ok / most * 100:>12.1f}% {run.sim_limited:>6}"
        )
    mismatched = [run.name for run in runs if run.limited != run.sim_limited]
    if mismatched:
        print(f"note: the clients and the simulator counted different 429s in: {', '.join(mismatched)}")


if __name__ == "__main__":  # a worker process of the two-process scenario
    if sys.argv[1:2] != ["--worker"]:
        raise SystemExit("usage: python -m bench.bench_pacing --worker URL DB SECONDS KEYS_FILE")
    worker(sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5])
