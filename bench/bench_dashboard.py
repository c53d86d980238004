"""The dashboard under a full feed: 3,000 instruments in full mode, the positions page open in headless Chromium.

Run: ``./dev bench dashboard`` (``--quick``: a shorter window, for CI, well under a minute). Three processes: the
simulator (``bench.stream_sim``, ticking every instrument each market second at real speed), the dashboard
(``bench.dashboard_server``: 3,000 instruments subscribed in full mode, 20 open positions marked at each tick)
and this one, which drives Chromium on the positions page and measures over a window after warm-up:

- how old the newest tick is when a batch carrying it reaches the page (p50, p99, max): how far the page is
  behind the feed; and the age of the newest tick sampled on the page (it saws up to a second between the
  feed's seconds);
- the dashboard process's CPU (all its threads) as a share of one core, against the baseline doing equal feed
  work: the same ticker on the same 3,000 instruments into a tick board, with no dashboard (the ratio).

Then the wall time a user waits on a fresh start for the example strategy's first position on the page
(:mod:`bench.first_position`: the README's two terminals in an empty data dir); the full run also times the
baseline, the same example waiting for a bar to close before it acts (the ratio). ``--no-fresh`` skips it.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import Figures

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-quic"]  # fmt: skip


def _child(url: str, count: int, kind: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.dashboard_server", url, str(count), kind], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert proc.stdout is not None  # noqa: S101 - piped above
    return proc, proc.stdout.readline().strip()


def _finish(proc: subprocess.Popen[str]) -> float:
    """End the child's window; return its CPU share of one core over the window, in percent."""
    assert proc.stdin is not None and proc.stdout is not None  # noqa: S101 - piped above
    proc.stdin.close()
    cpu, wall = (float(x) for x in proc.stdout.readline().split())
    proc.wait(60)
    return cpu / wall * 100


def _start(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None  # noqa: S101 - piped above
    proc.stdin.write("start\n")
    proc.stdin.flush()


def bare(url: str, count: int, warmup: float, seconds: float) -> float:
    """Return the baseline's CPU share: the ticker alone on the same instruments."""
    proc, _ = _child(url, count, "bare")
    time.sleep(warmup)
    _start(proc)
    time.sleep(seconds)
    return _finish(proc)


def dashboard(url: str, count: int, warmup: float, seconds: float) -> tuple[float, list[float], list[float]]:
    """Return the dashboard's CPU share, the arrival ages (ms) and the sampled ages (s) on the positions page."""
    from playwright.sync_api import sync_playwright

    proc, page_url = _child(url, count, "dashboard")
    sampled: list[float] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page: Any = browser.new_page()
            page.goto(page_url + "#/positions")
            page.wait_for_selector('#page[data-page="positions"][data-ready="1"]')
            page.wait_for_selector("#positions-body tr[data-id]")
            time.sleep(warmup)
            page.evaluate("window.kitekitDashboard.arrivals.length = 0")
            _start(proc)
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline:
                age = page.evaluate("window.kitekitDashboard.tickAge()")
                if age is not None:
                    sampled.append(float(age))
                time.sleep(0.2)
            cpu = _finish(proc)
            arrivals = [float(a) for a in page.evaluate("Array.from(window.kitekitDashboard.arrivals)")]
            browser.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    return cpu, arrivals, sampled


def fresh_start(quick: bool) -> dict[str, float]:
    """Time a fresh start to the first position on the page (and, unless quick, the baseline); print the lines."""
    from bench.first_position import measure

    # Ten minutes, not the default five: when both commands log in to a fresh world at once, the run's warm-up
    # can lose its session to the dashboard's login and the run then waits for its bars (minutes at 1x); the
    # figure then says so (NO) instead of going missing.
    warm = measure(limit=600.0)
    print(f"fresh start to the example's first position: filled after {warm['fill_s']:.1f} s, "
          f"on the Positions page after {warm['page_s']:.1f} s ({warm['reloads']:.0f} reloads)")  # fmt: skip
    figures = {"fresh_fill_s": warm["fill_s"], "fresh_page_s": warm["page_s"]}
    if not quick:
        waiting = measure(waiting=True)
        print(f"baseline (the example waiting for a bar to close): filled after {waiting['fill_s']:.1f} s, on the "
              f"page after {waiting['page_s']:.1f} s ({waiting['reloads']:.0f} reloads); "
              f"ratio {waiting['page_s'] / warm['page_s']:.2f}x")  # fmt: skip
        figures.update(baseline_page_s=waiting["page_s"], fresh_ratio=waiting["page_s"] / warm["page_s"])
    print(f"target: the first position on the page within a minute of a fresh start: "
          f"{'yes' if warm['page_s'] < 60 else 'NO'}")  # fmt: skip
    return figures


def main(argv: list[str]) -> Figures:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="bench dashboard")
    parser.add_argument("--quick", action="store_true", help="a short window, for CI")
    parser.add_argument("--instruments", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=None, help="the measured window of each run")
    parser.add_argument("--no-fresh", action="store_true", help="skip the fresh start to first position")
    args = parser.parse_args(argv)
    seconds = args.seconds or (6.0 if args.quick else 30.0)
    warmup = 2.0 if args.quick else 5.0
    with tempfile.TemporaryDirectory() as tmp:
        sim = subprocess.Popen([sys.executable, "-m", "bench.stream_sim", str(Path(tmp) / "sent.npy")], cwd=ROOT,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
        if sim.stdout is None or sim.stdin is None:
            raise RuntimeError("the simulator process has no pipes")
        try:
            url = sim.stdout.readline().strip()
            base_cpu = bare(url, args.instruments, warmup, seconds)
            cpu, arrivals, sampled = dashboard(url, args.instruments, warmup, seconds)
        finally:
            sim.stdin.close()
            sim.wait(60)
    arr = np.array(arrivals or [np.nan])
    age = np.array(sampled or [np.nan])
    print(f"{args.instruments:,} instruments in full mode, positions page with 20 rows in headless Chromium, "
          f"{seconds:g} s measured after {warmup:g} s warm-up")  # fmt: skip
    print(
        f"newest tick's age on reaching the page: p50 {np.nanpercentile(arr, 50):.0f} ms, "
        f"p99 {np.nanpercentile(arr, 99):.0f} ms, max {np.nanmax(arr):.0f} ms ({len(arrivals)} batches with news)"
    )
    print(f"newest tick's age sampled on the page: median {np.nanmedian(age):.2f} s, max {np.nanmax(age):.2f} s")
    print(
        f"CPU, share of one core: dashboard {cpu:.1f}%, baseline (the ticker alone) {base_cpu:.1f}%, "
        f"ratio {cpu / base_cpu if base_cpu else float('nan'):.2f}x"
    )
    p99, share = float(np.nanpercentile(arr, 99)), cpu
    print(f"target: the page under a second behind the feed (arrival p99 < 1,000 ms): {'yes' if p99 < 1000 else 'NO'}")
    print(f"target: the dashboard's process under 25% of one core: {'yes' if share < 25 else 'NO'}")
    figures = fresh_start(args.quick) if not args.no_fresh else {}
    return {
        **figures,
        "arrival_age_p50_ms": float(np.nanpercentile(arr, 50)),
        "arrival_age_p99_ms": float(np.nanpercentile(arr, 99)),
        "arrival_age_max_ms": float(np.nanmax(arr)),
        "sampled_age_max_s": float(np.nanmax(age)),
        "cpu_pct_dashboard": cpu,
        "cpu_pct_baseline": base_cpu,
        "cpu_ratio": cpu / base_cpu if base_cpu else 0.0,
    }
