"""Decoding full-mode tick frames: the official SDK's parser against kitekit's dicts and columns, same frames.

Run: ``./dev bench ticks`` (``--quick`` for a run of a couple of seconds). Side by side in one run, on the
same bytes, each decoded to its full output and handed to the same callback (the list of last prices):

- baseline: ``KiteTicker._parse_binary`` (kiteconnect 5.2.2), a list of dicts per frame;
- ``decode_ticks``: the same dicts (checked equal here), per frame;
- ``decode_columns``: numpy arrays for every field, per frame; and ``decode_columns_batch`` for many
  frames in one call, as a recorder or a replay reads them.

Frames hold 1 to 3,000 full packets (3,000 instruments is one connection's limit) across NSE, NFO, MCX and
CDS tokens, with realistic prices, quantities and two timestamps a frame. The encoder's speed, which the
simulator's feed depends on, is printed last.

Every comparison is made twice, each side under the same rule:

- **GC on**: Python's automatic cyclic garbage collector runs as it does in a ticker process, on both
  sides; what the SDK's parser makes it do (collections over the frame's live dicts) is part of its cost,
  and so is any collection ``decode_ticks`` defers (it runs in the callback, inside the timing).
- **GC off**: ``gc.disable()`` on both sides for the whole timed pass: each decoder's own work, with the
  cyclic collector's work left out of both. Reference counting still frees every frame's ticks.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
from kiteconnect import KiteTicker

from bench.common import Figures, timeit
from kitekit.wire.segments import Segment
from kitekit.wire.ticks import (
    PacketKind,
    TickColumns,
    decode_columns,
    decode_columns_batch,
    decode_ticks,
    encode_columns,
)

SEGMENTS = (Segment.NSE, Segment.NSE, Segment.NFO, Segment.NFO, Segment.MCX, Segment.CDS)
EPOCH = 1_764_228_600  # 2025-11-27 13:00 IST


def full_columns(n: int, rng: np.random.Generator) -> TickColumns:
    """Return ``n`` full-mode ticks of plausible values (prices on each segment's grid)."""
    segments = rng.choice(np.array(SEGMENTS, dtype=np.int64), n)
    tokens = (rng.integers(1, 2**20, n) << 8) | segments  # exchange token, then the segment byte
    div = np.where(segments == Segment.CDS, 1e7, 100.0)
    # A CDS price near 83.12 has 7 decimals on the wire; the others near 1,500.00 in paise.
    base = np.where(segments == Segment.CDS, 831_234_567, 150_000) + rng.integers(0, 5_000, n)

    def prices(*shape: int) -> np.ndarray:
        ticks = base.reshape(-1, *([1] * (len(shape) - 1))) + rng.integers(-500, 500, (n, *shape[1:]))
        return ticks / div.reshape(-1, *([1] * (len(shape) - 1)))

    def quantities(*shape: int, top: int = 2_000_000) -> np.ndarray:
        return rng.integers(0, top, shape)

    times = EPOCH + rng.integers(-1, 1, n)
    return TickColumns.new(
        PacketKind.FULL,
        tokens,
        last_price=prices(n),
        last_traded_quantity=quantities(n, top=500),
        average_traded_price=prices(n),
        volume_traded=quantities(n),
        total_buy_quantity=quantities(n),
        total_sell_quantity=quantities(n),
        open=prices(n),
        high=prices(n),
        low=prices(n),
        close=prices(n),
        last_trade_time=times - 1,
        oi=quantities(n),
        oi_day_high=quantities(n),
        oi_day_low=quantities(n),
        exchange_timestamp=times,
        depth_buy_quantity=quantities(n, 5, top=5_000),
        depth_buy_price=prices(n, 5),
        depth_buy_orders=quantities(n, 5, top=60),
        depth_sell_quantity=quantities(n, 5, top=5_000),
        depth_sell_price=prices(n, 5),
        depth_sell_orders=quantities(n, 5, top=60),
    )


class GcTimer:
    """Add up the time Python's cyclic garbage collector runs, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.total = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total += time.perf_counter() - self._started


def side_by_side(
    decoders: Mapping[str, Callable[[], object]], ticks: int, repeat: int, collect: bool = True
) -> tuple[dict[str, float], dict[str, float]]:
    """Return each decoder's median seconds per tick, and of that the median spent in cyclic GC.

    Rounds are interleaved (one run of each per round), so drift on a shared machine hits every side
    alike. Each run decodes its frames back to back: throughput in a steady state, as in a long-running
    ticker process. ``collect=False`` turns automatic collection off (``gc.disable()``) for the warm-up
    and every timed run, on every side, and back on afterwards.
    """
    runs: dict[str, list[float]] = {name: [] for name in decoders}
    collecting: dict[str, list[float]] = {name: [] for name in decoders}
    timer = GcTimer()
    gc.collect()  # every side then shares one heap; collecting between runs would leave the caches cold
    was_on = gc.isenabled()
    if not collect:
        gc.disable()
    try:
        for decode in decoders.values():
            decode()  # warm up
        gc.callbacks.append(timer)
        try:
            for _ in range(repeat):
                for name, decode in decoders.items():
                    timer.total = 0.0
                    started = time.perf_counter()
                    decode()
                    runs[name].append(time.perf_counter() - started)
                    collecting[name].append(timer.total)
        finally:
            gc.callbacks.remove(timer)
    finally:
        if was_on:
            gc.enable()
    median = {name: statistics.median(times) / ticks for name, times in runs.items()}
    return median, {name: statistics.median(times) / ticks for name, times in collecting.items()}


def each(decode: Callable[[bytes], Any], frames: list[bytes]) -> Callable[[], None]:
    """Return a run that decodes every frame and hands each result to a callback reading every last price.

    The callback holds all of the frame's ticks while it allocates (the list of prices), as a strategy's
    callback would: a collection the decoder deferred starts right there, so it is paid inside the timing.
    Dicts and columns give the callback the same list.
    """

    def run() -> None:
        for frame in frames:
            ticks = decode(frame)
            _ = ticks.last_price.tolist() if isinstance(ticks, TickColumns) else [tick["last_price"] for tick in ticks]

    return run


def requirements(results: Mapping[str, float], sizes: tuple[int, ...]) -> list[tuple[str, float, float]]:
    """Return (requirement, measured, target): dicts at every frame size, columns on a subscription's frame.

    Judged with GC on, as a ticker process runs. Columns are held to 100x on frames of 1,000 packets and
    more (3,000 is one full connection, the frame of issue 13's loopback case). On small frames 100x is out
    of any decoder's reach: the SDK spends about 15 us a tick, so a 10-packet frame would have to become
    some 25 arrays in 1.5 us, less than numpy takes to make them; those sizes are in the table above, not
    held to the target. The GC-off ratios are printed beside them, not judged.
    """
    dicts = min(results[f"dicts, frames of {size} packets"] for size in sizes)
    rows = [("dicts, every frame size (the smallest ratio), GC on", dicts, 3.0)]
    rows += [
        (f"columns, frames of {size:,} packets, GC on", results[f"columns, frames of {size} packets"], 100.0)
        for size in sizes
        if size >= 1000
    ]
    return rows


def main(argv: list[str]) -> Figures:
    """Measure and print the comparison."""
    parser = argparse.ArgumentParser(prog="bench ticks")
    parser.add_argument("--quick", action="store_true", help="a couple of seconds, for CI")
    quick = parser.parse_args(argv).quick
    sizes = (1, 10, 100, 1000) if quick else (1, 10, 100, 1000, 3000)
    budget = 2_000 if quick else 30_000  # ticks decoded per timed run
    repeat = 5 if quick else 9
    sdk = KiteTicker("bench", "bench")  # never connected: only its parser is used
    rng = np.random.default_rng(13)
    started = time.perf_counter()

    print(f"{'':>13} {' GC on (both sides) ':-^46}   {' GC off (both sides) ':-^30}")
    print(
        f"{'packets/frame':>13} {'SDK us/tick':>12} {'GC us: SDK, dicts':>17} {'dicts':>6} {'columns':>8}"
        f"   {'SDK us/tick':>12} {'dicts':>7} {'columns':>9}"
    )
    results: dict[str, float] = {}
    for size in sizes:
        frames = [encode_columns(full_columns(size, rng)) for _ in range(max(1, budget // size))]
        if decode_ticks(frames[0]) != sdk._parse_binary(frames[0]):
            raise AssertionError("decode_ticks differs from the SDK's parser")  # never compare unequal work
        decoders = {
            "sdk": each(sdk._parse_binary, frames),
            "dicts": each(decode_ticks, frames),
            "columns": each(decode_columns, frames),
        }
        t, collecting = side_by_side(decoders, size * len(frames), repeat)
        off, _ = side_by_side(decoders, size * len(frames), repeat, collect=False)
        results[f"dicts, frames of {size} packets"] = t["sdk"] / t["dicts"]
        results[f"columns, frames of {size} packets"] = t["sdk"] / t["columns"]
        results[f"dicts, frames of {size} packets, GC off"] = off["sdk"] / off["dicts"]
        results[f"columns, frames of {size} packets, GC off"] = off["sdk"] / off["columns"]
        print(
            f"{size:>13} {t['sdk'] * 1e6:>12.2f} {collecting['sdk'] * 1e6:>9.2f},{collecting['dicts'] * 1e6:>7.2f} "
            f"{t['sdk'] / t['dicts']:>5.1f}x {t['sdk'] / t['columns']:>7.1f}x   "
            f"{off['sdk'] * 1e6:>12.2f} {off['sdk'] / off['dicts']:>6.1f}x {off['sdk'] / off['columns']:>8.1f}x"
        )

    for count in (100, 1000) if not quick else (100,):
        frames = [encode_columns(full_columns(10, rng)) for _ in range(count)]

        def batch(frames: list[bytes] = frames) -> None:
            _ = decode_columns_batch(frames).last_price.tolist()

        t, _ = side_by_side({"sdk": each(sdk._parse_binary, frames), "batch": batch}, 10 * count, repeat)
        label = f"columns, {count} frames of 10 in one batch call"
        results[label] = t["sdk"] / t["batch"]
        print(f"{label}: SDK {t['sdk'] * 1e6:.2f} us/tick, batch {t['batch'] * 1e9:.0f} ns/tick, {results[label]:.0f}x")

    columns_3k = full_columns(3000, rng)
    encode, _ = timeit(lambda: encode_columns(columns_3k), repeat=repeat)
    print(f"encode_columns, 3,000 full packets a frame: {3000 / encode:,.0f} packets/s")

    print()
    print(f"{'requirement (issue 13)':<60} {'measured':>10} {'target':>8}  ok")
    for label, ratio, target in requirements(results, sizes):
        # Two frames of 1,000 are too few for the steady state a ticker runs in (the SDK's GC cost builds up
        # over many frames, and every buffer is cold), so a quick run shows the figures without judging them.
        verdict = "not judged (quick run)" if quick else "yes" if ratio >= target else "NO"
        print(f"{label:<60} {ratio:>9.1f}x {target:>7.0f}x  {verdict}")
    for size in sizes:
        if size >= 1000:
            gc_off = results[f"columns, frames of {size} packets, GC off"]
            print(f"{'  the same, GC off on both sides (not judged)':<60} {gc_off:>9.1f}x")
    print(f"(ran in {time.perf_counter() - started:.1f} s)")
    return {**results, "encode_packets_per_s": 3000 / encode}
