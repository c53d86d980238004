"""How fast the simulator serves the instruments dump and a 500-instrument quote, and the SDK's parse baseline.

Run: ``./dev bench sim``. Cold numbers include building the day's universe and price paths; warm numbers
are the steady state. The SDK's ``instruments()`` parse of the same dump is the baseline the instrument
store (issue 4) must beat by 50x.
"""

from __future__ import annotations

import gzip
import time

import numpy as np
import requests
from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures, bench_sim, timeit
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import login_via_redirect


def main(argv: list[str]) -> Figures:
    """Measure and print a table."""
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
        warm, _ = timeit(dump, repeat=5)
        print(
            f"GET /instruments (gzip {len(wire) / 1e6:.1f} MB, {len(raw) / 1e6:.1f} MB CSV, {rows} rows): "
            f"cold {cold:.3f}s, warm {warm * 1e3:.1f}ms"
        )

        uni = server.sim.market.universe(BENCH_NOW)
        rng = np.random.default_rng(1)
        picks = rng.choice(len(uni), size=500, replace=False)
        keys = [f"{uni.exchange[i]}:{uni.symbol[i]}" for i in picks]
        t0 = time.perf_counter()
        kite.quote(keys)
        cold_q = time.perf_counter() - t0
        warm_q, _ = timeit(lambda: kite.quote(keys), repeat=5)
        print(f"GET /quote with 500 random instruments: cold {cold_q * 1e3:.1f}ms, warm {warm_q * 1e3:.1f}ms")
        equities = [f"NSE:{uni.symbol[i]}" for i in range(len(uni)) if uni.segment[i] == "NSE"][:500]
        warm_eq, _ = timeit(lambda: kite.quote(equities), repeat=5)
        print(f"GET /quote with 500 NSE equities: warm {warm_eq * 1e3:.1f}ms")

        parse, _ = timeit(lambda: kite._parse_instruments(raw), repeat=3)
        full, _ = timeit(kite.instruments, repeat=2, warmup=0)
        print(f"baseline: SDK _parse_instruments on that dump: {parse:.3f}s ({parse / rows * 1e6:.1f} us/row)")
        print(f"baseline: SDK instruments() download + parse: {full:.3f}s")
        t0 = time.perf_counter()
        Market(server.sim.config.seed).universe(BENCH_NOW)
        print(f"simulator universe build (fresh Market): {time.perf_counter() - t0:.3f}s")
    finally:
        server.stop()
    return {"dump_warm_s": warm, "quote_500_warm_s": warm_q, "sdk_parse_s": parse}
