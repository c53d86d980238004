"""The instrument store against the official SDK's ``instruments()`` parse, on the simulator's full dump.

Run: ``./dev bench instruments``. Side by side in one run:

1. dump bytes -> something you can query: the SDK's ``KiteConnect._parse_instruments`` (a list of dicts)
   versus ``InstrumentStore.from_bytes`` (indexed by key and token);
2. a warm cache opened in a fresh process plus one resolve, beyond interpreter and import time;
3. one lookup in a loaded store (first time for that symbol, and repeated).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, bench_sim, report, timeit
from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore, fetch_dump
from kitekit.sim.pytest_plugin import login_via_redirect

FRESH = """
import json, sys, time
t0 = time.perf_counter()
from datetime import datetime
from pathlib import Path
from kitekit.clock import IST, ManualClock
from kitekit.instruments import InstrumentStore
t1 = time.perf_counter()
if sys.argv[2] == "open":
    store = InstrumentStore(Path(sys.argv[1]), None, clock=ManualClock(datetime(2026, 11, 27, 11, tzinfo=IST)))
    token = store.load().token("NSE:RELIANCE")
t2 = time.perf_counter()
print(json.dumps({"imports": t1 - t0, "work": t2 - t1}))
"""


def _fresh(cache: Path, mode: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", FRESH, str(cache), mode], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout)
    return result


def main(argv: list[str]) -> None:
    """Measure and print the comparison."""
    server = bench_sim()
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        raw = fetch_dump(kite)
    finally:
        server.stop()
    rows = raw.count(b"\n") - 1
    print(f"dump: {rows} rows, {len(raw) / 1e6:.1f} MB")

    sdk, _ = timeit(lambda: KiteConnect._parse_instruments(kite, raw), repeat=3)
    ours, _ = timeit(lambda: InstrumentStore.from_bytes(raw, clock=ManualClock(BENCH_NOW)), repeat=10)
    report("dump bytes -> queryable (SDK list vs kitekit store)", ours, sdk)
    table, _ = timeit(lambda: InstrumentStore.from_bytes(raw).frame(), repeat=3)
    report("dump bytes -> full typed table (pandas frame)", table, sdk)

    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "instruments"
        InstrumentStore(cache, lambda exchange, progress: raw, clock=ManualClock(BENCH_NOW)).load()
        runs = [_fresh(cache, "open") for _ in range(7)]
        bare = [_fresh(cache, "imports") for _ in range(7)]
        work = sorted(r["work"] for r in runs)[len(runs) // 2]
        extra_wall = sorted(r["wall"] for r in runs)[3] - sorted(b["wall"] for b in bare)[3]
        print(
            f"fresh process, warm cache: open + resolve one symbol {work * 1e3:.1f} ms "
            f"(whole process {extra_wall * 1e3:+.1f} ms against one that only imports)"
        )

    store = InstrumentStore.from_bytes(raw, clock=ManualClock(BENCH_NOW))
    keys = [store.key(t) for t in store._current.index.tokens[:20000:7].tolist()]  # type: ignore[union-attr]
    find = type(store)._find.__wrapped__
    started = time.perf_counter()
    for key in keys:
        find(store, key)
    first = (time.perf_counter() - started) / len(keys)
    started = time.perf_counter()
    for _ in range(20):
        for key in keys:
            store.token(key)
    repeat = (time.perf_counter() - started) / (20 * len(keys))
    dicts = KiteConnect._parse_instruments(kite, raw)
    by_key = {f"{r['exchange']}:{r['tradingsymbol']}": r for r in dicts}
    started = time.perf_counter()
    for _ in range(20):
        for key in keys:
            by_key[key]["instrument_token"]
    plain = (time.perf_counter() - started) / (20 * len(keys))
    print(
        f"lookup in a loaded store: {first * 1e6:.2f} us first time, {repeat * 1e6:.2f} us repeated "
        f"(a hand-built dict over the SDK's list: {plain * 1e6:.2f} us, after {sdk:.1f} s to build)"
    )
