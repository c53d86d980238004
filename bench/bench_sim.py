"""How fast the simulator serves: quote throughput under load, the instruments dump, a 500-instrument quote.

Run: ``./dev bench sim`` (``--quick``: one second per load scenario, fewer repeats, for CI).

1. **Throughput**: four client threads, each an official ``KiteConnect`` on its own kept-alive connection,
   calling ``ltp("NSE:INFY")`` as fast as answers come, against a simulator with its rate limits lifted (as
   ``kitekit sim --no-rate-limits`` runs it). Side by side, the ceiling: the same server (uvicorn, the same
   socket and settings) serving a bare Starlette endpoint that answers a constant Kite envelope, hit by the
   same four SDK clients through the same route. Requests per second and p50/p99 latency for each.
2. **Serving**: ``GET /instruments`` (the full dump, gzip), ``GET /quote`` with 500 instruments, cold and
   warm, and the SDK's own parse of that dump as the baseline the instrument store is measured against.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import requests
from kiteconnect import KiteConnect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bench.common import BENCH_NOW, Figures, bench_sim, timeit
from kitekit.sim import SimConfig, SimServer
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import login_via_redirect

THREADS = 4


def _load(calls: list[Callable[[], object]], seconds: float) -> tuple[float, list[float]]:
    """Run each of ``calls`` in its own thread, back to back, for ``seconds``; return (requests/s, latencies)."""
    latencies: list[list[float]] = [[] for _ in calls]
    ready = threading.Barrier(len(calls) + 1)
    deadline = [0.0]

    def worker(call: Callable[[], object], mine: list[float]) -> None:
        ready.wait()
        while (began := time.perf_counter()) < deadline[0]:
            call()
            mine.append(time.perf_counter() - began)

    workers = [threading.Thread(target=worker, args=pair) for pair in zip(calls, latencies, strict=True)]
    for w in workers:
        w.start()
    began = time.perf_counter()
    deadline[0] = began + seconds
    ready.wait()
    for w in workers:
        w.join()
    flat = [x for mine in latencies for x in mine]
    return len(flat) / (time.perf_counter() - began), flat


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ordered = np.sort(np.array(latencies))
    return float(np.percentile(ordered, 50)), float(np.percentile(ordered, 99))


def _clients(url: str, api_key: str, token: str) -> list[KiteConnect]:
    return [KiteConnect(api_key, token, root=url) for _ in range(THREADS)]


def _serve(args: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start a server process; return it and the URL it printed on its first line."""
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=full_env)
    line = proc.stdout.readline() if proc.stdout is not None else ""
    if "listening on " not in line:
        proc.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    return proc, line.split("listening on ")[1].split()[0]


def _login(url: str) -> KiteConnect:
    """Log in to a ``kitekit sim --auto-login`` at ``url`` with its documented credentials."""
    config = SimConfig()
    r = requests.get(
        f"{url}/connect/login", params={"api_key": config.api_key, "v": "3"}, allow_redirects=False, timeout=10
    )
    token = parse_qs(urlsplit(r.headers["location"]).query)["request_token"][0]
    kite = KiteConnect(config.api_key, root=url)
    kite.generate_session(token, config.api_secret)
    return kite


def _throughput(seconds: float) -> dict[str, tuple[float, float, float]]:
    """Return {scenario: (requests/s, p50 s, p99 s)} for the simulator and the bare ceiling, each its own process.

    Each server runs in a process of its own, as ``kitekit sim`` does, so the clients' work does not share
    its interpreter lock.
    """
    results: dict[str, tuple[float, float, float]] = {}
    kitekit = str(Path(sys.executable).with_name("kitekit"))
    with tempfile.TemporaryDirectory() as home:
        # The server's state goes to a throwaway data dir, not the user's.
        proc, url = _serve(
            [kitekit, "sim", "--port", "0", "--no-rate-limits", "--auto-login"], {"KITEKIT_DATA_DIR": home}
        )
        try:
            kite = _login(url)
            clients = _clients(url, kite.api_key, str(kite.access_token))
            for c in clients:
                c.ltp("NSE:INFY")  # warm: the day's universe built, every connection open
            rps, lat = _load([partial(c.ltp, "NSE:INFY") for c in clients], seconds)
            results["kitekit sim --no-rate-limits: GET /quote/ltp"] = (rps, *_percentiles(lat))
        finally:
            proc.terminate()
            proc.wait(30)
    proc, url = _serve([sys.executable, "-m", "bench.bench_sim", "--ceiling"])
    try:
        plain = _clients(url, "bench", "bench")
        for c in plain:
            c.ltp("NSE:INFY")
        rps, lat = _load([partial(c.ltp, "NSE:INFY") for c in plain], seconds)
        results["ceiling: bare Starlette endpoint, same server"] = (rps, *_percentiles(lat))
    finally:
        proc.terminate()
        proc.wait(30)
    return results


async def _constant(request: Request) -> JSONResponse:
    return JSONResponse({"status": "success", "data": {"NSE:INFY": {"instrument_token": 408065, "last_price": 1.0}}})


def _ceiling() -> None:
    """Serve a bare Starlette endpoint on the simulator's own server stack (uvicorn, socket, settings)."""
    server = SimServer(SimConfig(rate_limit_enabled=False))
    server.sim.asgi = Starlette(routes=[Route("/quote/ltp", _constant)])
    server.bind()
    print(f"ceiling listening on {server.url}", flush=True)
    server.serve_forever()


def main(argv: list[str]) -> Figures:
    """Measure and print; return the headline figures."""
    parser = argparse.ArgumentParser(prog="bench sim")
    parser.add_argument("--quick", action="store_true", help="one second per load scenario, for CI")
    quick = parser.parse_args(argv).quick
    figures: Figures = {}

    seconds = 1.0 if quick else 10.0
    print(f"{THREADS} threads of the official SDK, each on its own kept-alive connection, {seconds:g} s each:")
    for name, (rps, p50, p99) in _throughput(seconds).items():
        print(f"  {name:<50} {rps:>8,.0f} req/s   p50 {p50 * 1e3:6.2f} ms   p99 {p99 * 1e3:6.2f} ms")
        key = "ceiling" if name.startswith("ceiling") else "sim"
        figures.update({f"{key}_rps": rps, f"{key}_p50_ms": p50 * 1e3, f"{key}_p99_ms": p99 * 1e3})
    verdict = "yes" if figures["sim_rps"] >= 1000 else "NO"
    print(f"  target (issue 10): >= 1,000 req/s from 4 threads: {figures['sim_rps']:,.0f}  {verdict}")

    started = time.perf_counter()
    server = bench_sim()
    print(f"simulator start: {time.perf_counter() - started:.3f}s")
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        headers = {"Authorization": f"token {kite.api_key}:{kite.access_token}", "Accept-Encoding": "gzip"}

        def dump() -> bytes:
            r = requests.get(f"{server.url}/instruments", headers=headers, timeout=120, stream=True)
            return bytes(r.raw.read())

        t0 = time.perf_counter()
        wire = dump()
        cold = time.perf_counter() - t0
        raw = gzip.decompress(wire)
        rows = raw.count(b"\n") - 1
        warm, _ = timeit(dump, repeat=2 if quick else 5)
        print(
            f"GET /instruments (gzip {len(wire) / 1e6:.1f} MB, {len(raw) / 1e6:.1f} MB CSV, {rows} rows): "
            f"cold {cold:.3f}s, warm {warm * 1e3:.1f}ms"
        )
        uni = server.sim.market.universe(BENCH_NOW)
        rng = np.random.default_rng(1)
        keys = [f"{uni.exchange[i]}:{uni.symbol[i]}" for i in rng.choice(len(uni), size=500, replace=False)]
        t0 = time.perf_counter()
        kite.quote(keys)
        cold_q = time.perf_counter() - t0
        warm_q, _ = timeit(lambda: kite.quote(keys), repeat=2 if quick else 5)
        print(f"GET /quote with 500 random instruments: cold {cold_q * 1e3:.1f}ms, warm {warm_q * 1e3:.1f}ms")
        parse, _ = timeit(lambda: kite._parse_instruments(raw), repeat=1 if quick else 3, warmup=0 if quick else 1)
        print(f"baseline: SDK _parse_instruments on that dump: {parse:.3f}s ({parse / rows * 1e6:.1f} us/row)")
        t0 = time.perf_counter()
        Market(server.sim.config.seed).universe(BENCH_NOW)
        print(f"simulator universe build (fresh Market): {time.perf_counter() - t0:.3f}s")
    finally:
        server.stop()
    figures.update(dump_warm_s=warm, quote_500_warm_s=warm_q, sdk_parse_s=parse)
    return figures


if __name__ == "__main__" and sys.argv[1:] == ["--ceiling"]:
    _ceiling()
