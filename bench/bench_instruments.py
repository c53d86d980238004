"""The instrument store against the official SDK's ``instruments()`` parse, on the simulator's full dump.

Run: ``./dev bench instruments`` (``--quick``: fewer repeats and process runs, same code paths, for CI).
Side by side in one run, on the same bytes:

1. **dump bytes → full typed table**, equal work: all twelve columns typed (ints, floats, ``expiry`` as
   ``datetime.date``): kitekit's ``typed_table`` against ``KiteConnect._parse_instruments`` (a list of dicts);
2. **dump bytes → queryable index** (``InstrumentStore.from_bytes`` + one lookup): only three columns
   (token, symbol, exchange) are indexed, labelled as such; it is not a table. Held to 50x the SDK's parse.
   1 and 2 are timed in interleaved rounds (one SDK parse, three of each kitekit build), medians compared,
   wall time and, beside it, CPU time (which other work on the machine does not inflate); then the index
   build step by step, with the exchange codes also made the way they were before issue 22;
3. **lookups** over every key of the dump (115k, more than the store's 65,536-entry memo): a cold pass (each
   key the first time) and a warm one (the same keys again), against a dict built over the SDK's list;
4. **whole processes, what a user waits for**: ``kitekit --help``, ``kitekit status`` with no session (against
   Kite, and ``--sim``), ``kitekit --sim instruments find RELIANCE`` on a warm cache (synced once by
   ``kitekit --sim instruments sync``), and a script resolving one symbol from the cache,
   each next to the SDK doing the same (a script that parses the dump saved on disk and finds the symbol).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures, bench_sim, report, timeit, whole_processes
from kitekit.clock import ManualClock
from kitekit.instruments import InstrumentStore, fetch_dump
from kitekit.instruments.index import InstrumentIndex, _codes
from kitekit.instruments.model import typed_table
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.wire.dump_columns import DumpColumns

OURS_RESOLVE = """
import sys
from pathlib import Path
from kitekit.instruments import InstrumentStore
store = InstrumentStore(Path(sys.argv[1]), None).load()
print(store.instrument("NSE:RELIANCE").instrument_token)
"""
SDK_RESOLVE = """
import sys
import numpy as np
from kiteconnect import KiteConnect
rows = KiteConnect._parse_instruments(None, open(sys.argv[1], "rb").read())
print(next(r for r in rows if r["exchange"] == "NSE" and r["tradingsymbol"] == "RELIANCE")["instrument_token"])
"""
SDK_FIND = """
import sys
import numpy as np
from kiteconnect import KiteConnect
rows = KiteConnect._parse_instruments(None, open(sys.argv[1], "rb").read())
hits = [r for r in rows if "RELIANCE" in r["tradingsymbol"].upper() or "RELIANCE" in r["name"].upper()]
print(len(hits))
"""


def interleaved(
    work: dict[str, tuple[Callable[[], object], int]], rounds: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Return each job's median wall seconds and median CPU seconds (this process, all threads).

    Every round runs each job its given number of times, in turn: the SDK's 2 s parse and kitekit's 30 ms
    builds share every round, so load that comes and goes on a shared machine hits both sides of a ratio
    alike. One untimed run of each first. CPU time is what load does not inflate: on a machine running
    other work, wall time also counts the time the process waited for a core.
    """
    for job, _ in work.values():
        job()
    wall: dict[str, list[float]] = {name: [] for name in work}
    cpu: dict[str, list[float]] = {name: [] for name in work}
    for _ in range(rounds):
        for name, (job, runs) in work.items():
            for _ in range(runs):
                started, started_cpu = time.perf_counter(), time.process_time()
                job()
                wall[name].append(time.perf_counter() - started)
                cpu[name].append(time.process_time() - started_cpu)
    return (
        {name: statistics.median(t) for name, t in wall.items()},
        {name: statistics.median(t) for name, t in cpu.items()},
    )


def build_steps(raw: bytes, repeat: int) -> None:
    """Print where ``InstrumentStore.from_bytes`` spends its time, step by step (median wall time of each).

    Beside the exchange codes as built, the way they were built before issue 22: ``np.unique`` with
    ``return_inverse=True`` over the column as 64-bit words, which argsorts every row.
    """
    cols = DumpColumns(raw)
    exchange = cols.text("exchange")

    def unique_inverse() -> object:
        words = np.zeros(len(exchange), dtype="S8")
        words[:] = exchange
        return np.unique(words.view(np.uint64), return_inverse=True)

    steps: dict[str, Callable[[], object]] = {
        "split the dump into cells (DumpColumns)": lambda: DumpColumns(raw),
        "  instrument_token column": lambda: cols.ints("instrument_token"),
        "  tradingsymbol column": lambda: cols.text("tradingsymbol"),
        "  exchange column": lambda: cols.text("exchange"),
        "  exchange codes, from the column's runs": lambda: _codes(exchange),
        "  (before: exchange codes by np.unique(return_inverse))": unique_inverse,
        "index the split dump (the columns above, codes, sorts)": lambda: InstrumentIndex.build(cols),
    }
    print("where the index build goes (median wall time of each step):")
    for label, step in steps.items():
        median, _ = timeit(step, repeat=repeat)
        print(f"  {label:<58} {median * 1e3:7.2f} ms")


def _files(folder: Path) -> set[tuple[str, int]]:
    return {(p.name, p.stat().st_mtime_ns) for p in folder.iterdir()}


def _dumps(folder: Path) -> set[tuple[str, int]]:
    """Return the dump files under ``folder`` with their modification times (a download adds or rewrites one)."""
    return {(str(p), p.stat().st_mtime_ns) for p in folder.rglob("*.kkdump")}


def _per_call(fn: Callable[[str], object], keys: list[str]) -> float:
    started = time.perf_counter()
    for key in keys:
        fn(key)
    return (time.perf_counter() - started) / len(keys)


def main(argv: list[str]) -> Figures:
    """Measure and print the comparison; return the headline figures."""
    parser = argparse.ArgumentParser(prog="bench instruments")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for CI")
    quick = parser.parse_args(argv).quick
    server = bench_sim()
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        raw = fetch_dump(kite)
    finally:
        server.stop()
    rows = raw.count(b"\n") - 1
    print(f"dump: {rows:,} rows, {len(raw) / 1e6:.1f} MB")
    clock = ManualClock(BENCH_NOW)
    figures: Figures = {}

    medians, cpu = interleaved(
        {
            "sdk": (lambda: KiteConnect._parse_instruments(kite, raw), 1),
            "table": (lambda: typed_table(raw), 3),
            "index": (lambda: InstrumentStore.from_bytes(raw, clock=clock).token("NSE:RELIANCE"), 3),
        },
        rounds=1 if quick else 3,
    )
    sdk, table, index = medians["sdk"], medians["table"], medians["index"]
    figures["typed_table_ratio"] = report("dump bytes -> full typed table (12 columns)", table, sdk)
    figures["index_ratio"] = report("dump bytes -> 3-column index + one lookup", index, sdk)
    figures["index_cpu_ratio"] = cpu["sdk"] / cpu["index"]
    print(
        f"  CPU time, this process: SDK {cpu['sdk']:.3f} s, typed table {cpu['table'] * 1e3:.1f} ms (pyarrow's "
        f"threads included), index {cpu['index'] * 1e3:.1f} ms: index {figures['index_cpu_ratio']:.1f}x"
    )
    build_steps(raw, repeat=3 if quick else 9)

    store = InstrumentStore.from_bytes(raw, clock=clock)
    dump = store._today_dump()
    keys = [dump.index.key_of(r) for r in range(len(dump.index))]
    cold = _per_call(store.token, keys)  # every key the first time (the memo holds 65,536 at most)
    warm = _per_call(store.token, keys)  # again: whatever the memo kept, the rest looked up anew
    by_key = {f"{r['exchange']}:{r['tradingsymbol']}": r for r in KiteConnect._parse_instruments(kite, raw)}
    plain = _per_call(lambda k: by_key[k]["instrument_token"], keys)
    print(
        f"lookups over {len(keys):,} keys (more than the 65,536-entry memo): cold {cold * 1e6:.2f} us, "
        f"warm {warm * 1e6:.2f} us; a dict over the SDK's list {plain * 1e6:.2f} us (after {sdk:.1f} s to build it)"
    )
    figures.update(lookup_cold_us=cold * 1e6, lookup_warm_us=warm * 1e6)

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = {
            "KITEKIT_DATA_DIR": str(home / "data"),
            "KITEKIT_CONFIG_DIR": str(home / "config"),
            "KITEKIT_CACHE_DIR": str(home / "cache"),
            "KITE_API_KEY": "bench_key",
        }
        cache = home / "cache" / "instruments"
        warm_store = InstrumentStore(cache, lambda exchange, progress: raw)
        warm_store.sync()
        before = _files(cache)
        saved_csv = home / "instruments.csv"
        saved_csv.write_bytes(raw)  # the SDK's "warm cache": the dump a script saved, parsed again
        kitekit = str(Path(sys.executable).with_name("kitekit"))
        # A `--sim` command keeps its dumps in the embedded world (dated by the world's clock): warm that cache
        # the way a user does, once, so the timed `find` runs read it and download nothing.
        subprocess.run(
            [kitekit, "--sim", "instruments", "sync"], env={**os.environ, **env}, capture_output=True, check=True
        )
        synced = _dumps(home / "data")
        no_world = str(home / "empty-world")  # `--sim status` with no session: local state only
        runs = 3 if quick else 15
        spreads = whole_processes(
            {
                "python -c pass": [sys.executable, "-c", "pass"],
                "import kiteconnect": [sys.executable, "-c", "import kiteconnect"],
                "kitekit --help": [kitekit, "--help"],
                "kitekit status (no session)": [kitekit, "status"],
                "kitekit --sim status (no session)": [kitekit, "--sim", "--sim-state", no_world, "status"],
                "kitekit instruments find RELIANCE": [kitekit, "--sim", "instruments", "find", "RELIANCE"],
                "SDK: parse saved dump + find RELIANCE": [sys.executable, "-c", SDK_FIND, str(saved_csv)],
                "kitekit: open cache + resolve one symbol": [sys.executable, "-c", OURS_RESOLVE, str(cache)],
                "SDK: parse saved dump + resolve one symbol": [sys.executable, "-c", SDK_RESOLVE, str(saved_csv)],
            },
            runs,
            env=env,
            # 3: not logged in, the documented exit code
            expect={"kitekit status (no session)": 3, "kitekit --sim status (no session)": 3},
        )
        if _files(cache) != before or _dumps(home / "data") != synced:
            # A `find` that downloaded the dump again measured a download, not a warm cache.
            raise RuntimeError("kitekit --sim did not read the bench's cache: fix where the bench puts it")
    print("whole process, wall time (median, range):")
    for name, spread in spreads.items():
        print(f"  {name:<46} {spread}")
    figures["help_s"] = spreads["kitekit --help"].median
    figures["status_s"] = spreads["kitekit status (no session)"].median
    figures["sim_status_s"] = spreads["kitekit --sim status (no session)"].median
    figures["find_s"] = spreads["kitekit instruments find RELIANCE"].median
    figures["find_ratio"] = spreads["SDK: parse saved dump + find RELIANCE"].median / figures["find_s"]
    resolve = spreads["kitekit: open cache + resolve one symbol"].median
    figures["resolve_ratio"] = spreads["SDK: parse saved dump + resolve one symbol"].median / resolve

    print()
    print(f"{'target (issue 10)':<58} {'measured':>12} {'target':>10}  ok")
    checks = [
        ("kitekit --help, whole process", f"{figures['help_s'] * 1e3:.0f} ms", "< 250 ms", figures["help_s"] < 0.25),
        (
            "kitekit status (no session), whole process",
            f"{figures['status_s'] * 1e3:.0f} ms",
            "< 250 ms",
            figures["status_s"] < 0.25,
        ),
        (
            "kitekit --sim status (no session), whole process",
            f"{figures['sim_status_s'] * 1e3:.0f} ms",
            "< 250 ms",
            figures["sim_status_s"] < 0.25,
        ),
        (
            "kitekit instruments find RELIANCE, warm cache",
            f"{figures['find_s'] * 1e3:.0f} ms",
            "< 400 ms",
            figures["find_s"] < 0.4,
        ),
        ("resolve one symbol in a fresh process", f"{resolve * 1e3:.0f} ms", "< 400 ms", resolve < 0.4),
        (
            "dump bytes -> full typed table, over the SDK",
            f"{figures['typed_table_ratio']:.0f}x",
            ">= 20x",
            figures["typed_table_ratio"] >= 20,
        ),
        (
            "dump bytes -> 3-column index, over the SDK (issue 22)",
            f"{figures['index_ratio']:.0f}x",
            ">= 50x",
            figures["index_ratio"] >= 50,
        ),
    ]
    for label, measured, target, ok in checks:
        print(f"{label:<58} {measured:>12} {target:>10}  {'yes' if ok else 'NO'}")
    return figures
