"""Past one process: one feed fanned out over Redis to many consumer processes, and one pacer shared by many.

Run: ``./dev bench scale`` (``--quick``: under a minute, for CI). Everything runs on this machine, each part in
a process of its own, against the simulator (``bench.stream_sim``: every instrument ticks once a market second,
at real speed, in full mode) and a ``redis-server`` started on loopback:

- **feed**: two feed owners (active and hot standby, one connection each), C consumer processes on the bus
  (half started a third of the way in, late) and one direct ticker beside them (the third connection Kite
  allows), on N instruments. The active owner is killed (SIGKILL) K times, each time once the standby's frames
  line up with the stream, and replaced by a fresh standby.
  Each consumer must see every second's frame exactly once and in order (the exchange second goes up by
  exactly one from frame to frame); latency is from the simulator handing a frame to its socket to the
  consumer's callback (p50, p99), beside the direct ticker's. Redis's CPU share, commands and bytes out per
  second are read from its INFO over the run, and each consumer's CPU seconds from the process itself.
- **pacer**: 8 processes with clocks skewed from -2 s to +2 s call ``ltp`` through one Redis pacer at Kite's
  quote limit (1 a second, enforced by the simulator); Redis is killed and restarted mid-run. Counted: 429s,
  the share of the limit used, and requests sent while Redis was down (beyond the one permit each process may
  hold from before).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import redis

from bench.bench_stream import login
from bench.common import BENCH_NOW, Figures
from kitekit.bus.keys import FeedKeys
from kitekit.bus.server import RedisServer
from kitekit.clock import ManualClock
from kitekit.sim import SimConfig, SimServer
from kitekit.sim.config import LoginMode

ROOT = Path(__file__).resolve().parents[1]


def child(*args: str) -> subprocess.Popen[str]:
    """Start ``bench.scale_child`` with ``args``; its input stays open until the parent closes it."""
    return subprocess.Popen([sys.executable, "-m", "bench.scale_child", *args], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)  # fmt: skip


def finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    """Close ``process``'s input and return what it printed."""
    out, _ = process.communicate("", timeout=timeout)
    return out


@dataclass
class FeedResult:
    """One feed scenario's numbers."""

    instruments: int
    consumers: int
    seconds: float
    kills: int
    frames: int
    ticks: int
    ticks_per_s: float
    out_of_order: int
    direct_out_of_order: int
    lost_frames: int
    p50_ms: float
    p99_ms: float
    direct_p50_ms: float
    direct_p99_ms: float
    redis_cpu_pct: float
    redis_ops_per_s: float
    redis_out_mb_per_s: float
    consumer_cpu_s: float
    load: float
    #: Consumer frame pairs that follow a hole the simulator itself left in what it sent (relayed as sent).
    feed_holes: int = 0


def redis_counters(raw: redis.Redis) -> tuple[float, float, float, float]:
    """Return Redis's CPU seconds (user + system), commands processed, bytes sent, and the monotonic time now."""
    info = raw.info("all")
    cpu = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
    return cpu, float(info["total_commands_processed"]), float(info["total_net_output_bytes"]), time.monotonic()


def percentiles(values: list[float]) -> tuple[float, float]:
    arr = np.array(values or [np.nan])
    return float(np.percentile(arr, 50)), float(np.percentile(arr, 99))


def feed(n: int, consumers: int, seconds: float, kills: int, tmp: Path) -> FeedResult:
    """Run one feed scenario and check every consumer's frames."""
    sim_log = tmp / f"sent-{n}-{consumers}.npy"
    sim = subprocess.Popen([sys.executable, "-m", "bench.stream_sim", str(sim_log), str(n)], cwd=ROOT,
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert sim.stdout is not None  # noqa: S101
    url = sim.stdout.readline().strip()
    kite = login(url)
    session = (url, kite.api_key, kite.access_token)
    server = RedisServer(tmp / f"redis-{n}-{consumers}").start()
    raw = redis.Redis.from_url(server.url)
    lease = FeedKeys().lease
    owners: dict[str, subprocess.Popen[str]] = {}
    serial = iter(range(1000))

    def new_owner() -> None:
        name = f"owner{next(serial)}"
        owners[name] = child("owner", *session, server.url, name, str(n))

    readers: list[tuple[str, Path, subprocess.Popen[str]]] = []
    try:
        new_owner()
        deadline = time.monotonic() + 120
        while raw.get(lease) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        new_owner()
        direct = tmp / "direct.npy"
        readers.append(("direct", direct, child("direct", *session, server.url, str(direct), str(n))))

        def receiving() -> None:
            # Starting a process takes seconds on a loaded machine: wait for each reader's first ticks.
            deadline = time.monotonic() + 120
            while not all(raw.exists(f"bench:receiving:{log}") for _, log, _ in readers):
                if time.monotonic() > deadline:
                    raise RuntimeError("the readers did not all receive ticks within 120 s")
                time.sleep(0.05)

        for i in range(consumers):
            if i == (consumers + 1) // 2:
                receiving()
                time.sleep(seconds / 3)  # the rest join late
            log = tmp / f"consumer{i}.npy"
            readers.append(("consumer", log, child("consumer", *session, server.url, str(log), str(n))))
        receiving()
        start = time.monotonic()
        before = redis_counters(raw)
        for k in range(kills):
            time.sleep(max(0.0, start + (k + 1) * seconds * 2 / 3 / (kills + 1) - time.monotonic()))
            holder = raw.get(lease)
            active = holder.decode() if isinstance(holder, bytes) else str(holder or "")
            # "Killed with a standby": a fresh owner's connection must line up with the stream before it can
            # take over with no gap (on a loaded machine starting one takes seconds).
            deadline = time.monotonic() + 60
            while not any(raw.exists(f"bench:lined-up:{o}") for o in owners if o != active):
                if time.monotonic() > deadline:
                    raise RuntimeError("no standby lined up with the stream within 60 s")
                time.sleep(0.05)
            if active in owners:
                owners.pop(active).kill()  # a crash: the lease is left to expire
                new_owner()
        killed = time.monotonic()
        time.sleep(max(0.0, start + seconds * 2 / 3 - time.monotonic(), killed + 3 - time.monotonic()))
        after = redis_counters(raw)
        load = os.getloadavg()[0]
        summaries = [(role, log, json.loads(finish(p).strip().splitlines()[-1])) for role, log, p in readers]
    finally:
        for process in [p for _, _, p in readers] + list(owners.values()):
            if process.poll() is None:
                with contextlib.suppress(Exception):
                    finish(process, 30)
                if process.poll() is None:
                    process.kill()
        raw.close()
        server.stop()
        assert sim.stdin is not None  # noqa: S101
        sim.stdin.close()
        sim.wait(60)
    wall = time.time() - time.monotonic()  # monotonic ns to wall-clock seconds (for the owners' log lines)
    sent = np.load(sim_log)
    sent_at: dict[tuple[int, int], int] = {}
    by_connection: dict[int, list[tuple[int, int]]] = {}
    for first, stamp, ns, _, connection in sent.tolist():
        sent_at[(first, stamp)] = min(ns, sent_at.get((first, stamp), ns))
        by_connection.setdefault(connection, []).append((stamp, ns))
    dropped = json.loads(sim_log.with_suffix(".dropped.json").read_text())
    if dropped:
        print(f"  the simulator dropped frames for connections that read too slowly: {dropped}", flush=True)
    feed_holes: set[tuple[int, int]] = set()  # (second before, second after) of the simulator's own holes
    for connection, stamped in sorted(by_connection.items()):
        # Whether the simulator itself sent a connection every second: a hole here is not the bus's.
        holes = [(b[0] - a[0], b[1]) for a, b in itertools.pairwise(stamped) if b[0] - a[0] > 1]
        feed_holes |= {(a[0], b[0]) for a, b in itertools.pairwise(stamped) if b[0] - a[0] > 1}
        if holes:
            print(
                f"  the simulator's connection {connection}: {len(stamped)} frames, holes (seconds): "
                f"{[h for h, _ in holes[:12]]} at "
                f"{[time.strftime('%H:%M:%S', time.localtime(ns / 1e9 + wall)) for _, ns in holes[:12]]}",
                flush=True,
            )
    bus_lat: list[float] = []
    direct_lat: list[float] = []
    frames = ticks = out_of_order = lost = direct_errors = from_feed = 0
    rate = 0.0
    cpu: list[float] = []
    for role, log, summary in summaries:
        rows = np.load(log).tolist()
        lost += summary["lost_frames"]
        stamps = [row[1] for row in rows]
        # Every frame the next second: none lost, none twice, none out of order (direct tickers included).
        broker = [(a, b) for a, b in itertools.pairwise(stamps) if (a, b) in feed_holes]
        if role == "consumer":
            from_feed += len(broker)
        # A hole the simulator made in the connection the frames came from is relayed as it was sent: not the bus's.
        odd = [i for i, (a, b) in enumerate(itertools.pairwise(stamps)) if b - a != 1 and (a, b) not in feed_holes]
        breaks = [stamps[i + 1] - stamps[i] for i in odd]
        at = [time.strftime("%H:%M:%S", time.localtime(rows[i + 1][2] / 1e9 + wall)) for i in odd]
        errors = len(breaks)
        if breaks:
            print(f"  {role} {log.name}: {len(stamps)} frames, breaks (seconds from one frame to the next): "
                  f"{breaks[:12]} at {at[:12]}", flush=True)  # fmt: skip
        if role == "consumer":
            out_of_order += errors
        else:
            direct_errors += errors
        target = bus_lat if role == "consumer" else direct_lat
        for first, stamp, at, _count in rows[1:]:  # the first is a late joiner's last-tick frame
            if (first, stamp) in sent_at:
                target.append((at - sent_at[(first, stamp)]) / 1e6)
        if role == "consumer":
            frames += len(rows)
            ticks += sum(row[3] for row in rows)
            if len(rows) > 1:  # ticks a second over the time this consumer received
                rate += sum(row[3] for row in rows[1:]) / ((rows[-1][2] - rows[0][2]) / 1e9)
            cpu.append(summary["cpu_s"])
    p50, p99 = percentiles(bus_lat)
    d50, d99 = percentiles(direct_lat)
    span = after[3] - before[3]
    return FeedResult(
        n, consumers, seconds, kills, frames, ticks, rate, out_of_order, direct_errors, lost, p50, p99, d50, d99,
        redis_cpu_pct=100 * (after[0] - before[0]) / span, redis_ops_per_s=(after[1] - before[1]) / span,
        redis_out_mb_per_s=(after[2] - before[2]) / span / 1e6, consumer_cpu_s=float(np.mean(cpu or [np.nan])),
        load=load, feed_holes=from_feed,
    )  # fmt: skip


def pacer(processes: int, seconds: float, tmp: Path) -> dict[str, float]:
    """Run the shared-pacer scenario; return its figures."""
    config = SimConfig(login_mode=LoginMode.AUTO)
    sim = SimServer(config, ManualClock(BENCH_NOW)).start()
    server = RedisServer(tmp / "redis-pacer").start()
    try:
        kite = login(sim.url)
        kite.ltp(["NSE:INFY"])  # the simulator's first quote builds its caches: not part of the run
        sim.sim.limiter.reset()
        skews = [-2 + 4 * i / max(1, processes - 1) for i in range(processes)]
        session = (sim.url, kite.api_key, kite.access_token)
        callers = [child("pacer", *session, server.url, f"{skew:.2f}", str(seconds)) for skew in skews]
        raw = redis.Redis.from_url(server.url)
        deadline = time.monotonic() + 120
        while not raw.exists(f"kitekit:pacer:{kite.api_key}:quote") and time.monotonic() < deadline:
            time.sleep(0.05)  # the callers are still starting (8 interpreters on this machine's cores)
        raw.close()
        time.sleep(seconds / 3)
        server.kill()
        down = time.time()
        time.sleep(4.0)  # longer than `ahead` (2 s at 1/s): slots from before the kill have all come by then
        server.start()
        up = time.time()
        outputs = [finish(p).splitlines() for p in callers]
    finally:
        server.stop()
        sim.stop()
    sent = sorted(
        (float(t), int(s)) for out in outputs for _, t, s in (ln.split() for ln in out if ln.startswith("sent"))
    )
    missed = sum(int(out[-1].split()[3]) for out in outputs if out)
    # The share of the limit used on either side of the outage (a slot missed counts as used: it was spent).
    before, after = [t for t, _ in sent if t < down], [t for t, _ in sent if t > up]
    spans = [side[-1] - side[0] for side in (before, after) if len(side) > 1]
    used = (len(before) + len(after) - 2 + missed) / sum(spans) if spans else 0.0
    while_down = [t for t, _ in sent if down + 2.1 < t < up]  # slots reach 2.04 s (`ahead`) past the kill
    print(f"pacer: {processes} processes, clocks -2..+2 s, {seconds:g} s, Redis down {up - down:.1f} s mid-run")
    print(f"  requests {len(sent)}, 429s {sim.sim.limiter.rejected}, share of the 1/s limit used (outage excluded) "
          f"{used:.3f}, sent while Redis was down {len(while_down)}, slots missed {missed}")  # fmt: skip
    return {
        "pacer_429s": float(sim.sim.limiter.rejected),
        "pacer_share_used": used,
        "pacer_sent_while_down": float(len(while_down)),
    }


def main(argv: list[str]) -> Figures:
    """Measure and print the tables."""
    parser = argparse.ArgumentParser(prog="bench scale")
    parser.add_argument("--quick", action="store_true", help="one small scenario of each kind, for CI")
    parser.add_argument("--seconds", type=float, default=None, help="seconds of each feed scenario")
    parser.add_argument("--only", type=int, default=None, help="run only the feed scenario with this many instruments")
    args = parser.parse_args(argv)
    if args.quick:
        scenarios, seconds, pacer_seconds = [(200, 2, 1)], args.seconds or 12.0, 8.0
    else:
        # 1x, 2x and 4x the consumers and instruments; 4x is the 3,000 instruments x 20 consumers x 5 kills.
        scenarios, seconds, pacer_seconds = [(750, 5, 5), (1500, 10, 5), (3000, 20, 5)], args.seconds or 45.0, 30.0
    figures: Figures = {}
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        chosen = [s for s in scenarios if args.only in (None, s[0])]
        results = [feed(n, c, seconds, kills, tmp) for n, c, kills in chosen]
        print("feed: owners active + standby (the active one SIGKILLed K times), C bus consumers (half late), "
              "1 direct ticker; full mode, columns")  # fmt: skip
        print(f"{'instruments':>11} {'consumers':>9} {'kills':>5} {'frames':>7} {'ticks/s':>9} "
              f"{'order errs bus/direct':>21} "
              f"{'lost':>5} {'bus p50/p99 ms':>15} {'direct p50/p99 ms':>18} {'redis cpu%':>10} {'ops/s':>7} "
              f"{'MB/s out':>8} {'cpu s/consumer':>14} {'load':>5}")  # fmt: skip
        for r in results:
            rate = r.ticks_per_s
            print(f"{r.instruments:>11,} {r.consumers:>9} {r.kills:>5} {r.frames:>7,} {rate:>9,.0f} "
                  f"{r.out_of_order:>14}/{r.direct_out_of_order:<6} {r.lost_frames:>5} "
                  f"{r.p50_ms:>7.1f}/{r.p99_ms:<7.1f} "
                  f"{r.direct_p50_ms:>9.1f}/{r.direct_p99_ms:<8.1f} {r.redis_cpu_pct:>10.1f} "
                  f"{r.redis_ops_per_s:>7,.0f} {r.redis_out_mb_per_s:>8.2f} {r.consumer_cpu_s:>14.2f} "
                  f"{r.load:>5.1f}")  # fmt: skip
            if r.feed_holes:
                print(f"{'':>11}   and {r.feed_holes} consumer frame(s) after a hole the simulator left in what it "
                      "sent the publishing connection (relayed as sent; not counted above)")  # fmt: skip
            key = f"{r.instruments}x{r.consumers}"
            figures.update({
                f"feed_order_errors_{key}": float(r.out_of_order),
                f"direct_order_errors_{key}": float(r.direct_out_of_order),
                f"feed_lost_frames_{key}": float(r.lost_frames),
                f"feed_ticks_per_s_{key}": rate,
                f"feed_p50_ms_{key}": r.p50_ms,
                f"feed_p99_ms_{key}": r.p99_ms,
                f"direct_p50_ms_{key}": r.direct_p50_ms,
                f"direct_p99_ms_{key}": r.direct_p99_ms,
                f"redis_cpu_pct_{key}": r.redis_cpu_pct,
                f"redis_ops_per_s_{key}": r.redis_ops_per_s,
            })  # fmt: skip
        figures.update(pacer(8, pacer_seconds, tmp))
    return figures
