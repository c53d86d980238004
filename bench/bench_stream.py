"""The ticker over loopback: 3,000 instruments in full mode on one connection, and 9,000 over three.

Run: ``./dev bench stream`` (``--quick``: a few seconds a scenario, for CI). The simulator runs in a process of
its own (``bench.stream_sim``) ticking every instrument once a market second, at real speed; this process runs
kitekit's :class:`~kitekit.ticker.Ticker` and measures, over a window after warm-up:

- ticks delivered against the ticks the window's seconds hold (every instrument, every second): none lost;
- latency from the simulator handing a frame to its socket to the ``on_ticks`` callback here (p50, p99), for
  the SDK's tick dicts and for columns;
- this process's CPU (all its threads) as a share of one core.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np
import requests
from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures
from kitekit.sim.config import DEFAULT_API_KEY, DEFAULT_API_SECRET
from kitekit.sim.market import Market
from kitekit.ticker import Ticker
from kitekit.wire.segments import Segment
from kitekit.wire.ticks import TickColumns

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Result:
    """One scenario's numbers."""

    label: str
    instruments: int
    connections: int
    seconds: int
    expected: int
    delivered: int
    p50_ms: float
    p99_ms: float
    cpu_pct: float


def login(url: str) -> KiteConnect:
    """Log in to a simulator that approves logins by itself."""
    kite = KiteConnect(DEFAULT_API_KEY, root=url)
    answer = requests.get(f"{url}/connect/login", params={"api_key": DEFAULT_API_KEY, "v": "3"}, allow_redirects=False,
                          timeout=30)  # fmt: skip
    kite.generate_session(parse_qs(urlsplit(answer.headers["location"]).query)["request_token"][0], DEFAULT_API_SECRET)
    return kite


def tradable_tokens(n: int) -> list[int]:
    """Return ``n`` tokens of tradable instruments (full packets of 184 bytes), equities first."""
    uni = Market(7).universe(BENCH_NOW)
    tokens = uni.token[(uni.token & 0xFF) != Segment.INDICES]
    return sorted(tokens.tolist(), key=lambda t: (t & 0xFF) != Segment.NSE)[:n]


def run(kite: KiteConnect, tokens: list[int], seconds: float, columns: bool) -> tuple[list[tuple[int, ...]], float]:
    """Stream ``tokens`` in full mode; return (first token, exchange second, callback ns, ticks) per frame, CPU %."""
    received: list[tuple[int, ...]] = []
    window = [False]

    def on_ticks(ticks: Any) -> None:
        now = time.monotonic_ns()
        if not window[0]:
            return
        if isinstance(ticks, TickColumns):
            first, stamp = int(ticks.instrument_token[0]), int(ticks.exchange_timestamp[0].astype(np.int64))
        else:  # the SDK's naive local time: timestamp() reads it back as local, the epoch it came from
            first, stamp = ticks[0]["instrument_token"], int(ticks[0]["exchange_timestamp"].timestamp())
        received.append((first, stamp, now, len(ticks)))

    ticker = Ticker.from_kite(kite, columns=columns)
    ticker.on_ticks = on_ticks
    ticker.subscribe(tokens, "full")
    ticker.start()
    try:
        deadline = time.monotonic() + 60
        while ticker.stats.ticks < 2 * len(tokens) and time.monotonic() < deadline:  # warm-up: two seconds' ticks
            time.sleep(0.05)
        window[0] = True
        cpu, wall = time.process_time(), time.monotonic()
        time.sleep(seconds)
        window[0] = False
        cpu_pct = (time.process_time() - cpu) / (time.monotonic() - wall) * 100
    finally:
        ticker.stop()
    return received, cpu_pct


def summarise(label: str, tokens: list[int], frames: list[tuple[int, ...]], sent: np.ndarray, cpu: float) -> Result:
    """Match the frames received with those sent; count the ticks the window's whole seconds should hold.

    Each connection's frames are told apart by their first token. The window cuts the first and last second
    of each connection, so only the seconds between count; a second missing among them counts as lost.
    """
    sent_at = {(int(f), int(s)): int(ns) for f, s, ns, *_ in sent}
    firsts = sorted({first for first, *_ in frames})
    expected = delivered = 0
    latencies: list[float] = []
    spans: list[int] = []
    for first in firsts:
        mine = [frame for frame in frames if frame[0] == first]
        stamps = sorted({frame[1] for frame in mine})
        if len(stamps) < 3:
            continue
        inner = set(stamps[1:-1])
        spans.append(stamps[-2] - stamps[1] + 1)
        expected += spans[-1] * next(count for _, stamp, _, count in mine if stamp == stamps[1])
        for f, stamp, at, count in mine:
            if stamp in inner:
                delivered += count
                latencies.append((at - sent_at[(f, stamp)]) / 1e6)
    lat = np.array(latencies or [np.nan])
    return Result(
        label, len(tokens), len(firsts), min(spans or [0]), expected, delivered,
        float(np.percentile(lat, 50)), float(np.percentile(lat, 99)), cpu,
    )  # fmt: skip


def main(argv: list[str]) -> Figures:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="bench stream")
    parser.add_argument("--quick", action="store_true", help="a few seconds a scenario, for CI")
    parser.add_argument("--seconds", type=float, default=None, help="the measured window of each scenario")
    args = parser.parse_args(argv)
    seconds = args.seconds or (4.0 if args.quick else 30.0)
    tokens = tradable_tokens(9000)
    scenarios = [("3000", "3,000 full, dicts", 3000, False), ("9000", "9,000 full, dicts", 9000, False)]
    if not args.quick:
        scenarios += [
            ("3000_columns", "3,000 full, columns", 3000, True),
            ("9000_columns", "9,000 full, columns", 9000, True),
        ]
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "sent.npy"
        sim = subprocess.Popen([sys.executable, "-m", "bench.stream_sim", str(log)], cwd=ROOT, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)  # fmt: skip
        if sim.stdout is None or sim.stdin is None:
            raise RuntimeError("the simulator process has no pipes")
        try:
            kite = login(sim.stdout.readline().strip())
            runs = [
                (key, label, tokens[:n], *run(kite, tokens[:n], seconds, columns))
                for key, label, n, columns in scenarios
            ]
        finally:
            sim.stdin.close()
            sim.wait(60)
        sent = np.load(log)
    results = [(key, summarise(label, toks, frames, sent, cpu)) for key, label, toks, frames, cpu in runs]
    print(f"loopback, simulator in its own process, {seconds:g} s measured per scenario after warm-up")
    print(f"{'scenario':<22} {'conns':>5} {'s':>3} {'ticks delivered':>20} {'lost':>5} {'p50 ms':>7} {'p99 ms':>7} "
          f"{'CPU %':>6}")  # fmt: skip
    figures: Figures = {}
    for key, r in results:
        print(f"{r.label:<22} {r.connections:>5} {r.seconds:>3} {r.delivered:>10,}/{r.expected:<9,} "
              f"{r.expected - r.delivered:>5} {r.p50_ms:>7.1f} {r.p99_ms:>7.1f} {r.cpu_pct:>6.1f}")  # fmt: skip
        figures.update({
            f"delivered_share_{key}": r.delivered / r.expected if r.expected else 0.0,
            f"p50_ms_{key}": r.p50_ms,
            f"p99_ms_{key}": r.p99_ms,
            f"cpu_pct_{key}": r.cpu_pct,
        })  # fmt: skip
    return figures
