"""Reliability of one journal shared by processes: N workers place the same intents at once, stalled and killed.

Part of ``./dev bench reliability`` (``--shared-orders 500 --workers 4 --shared-kills 5``; ``--quick``: 40 orders).

The simulator runs in this process as for the single-worker run (Kite's order limits on, order faults
injected: accepted then dropped, accepted then a 5xx, 429 without accepting, bursts of acknowledgements
slower than the client's timeout). ``workers`` processes each place the *same* plan of intents, in the same
order, through :class:`kitekit.orders.LiveBroker` on one journal file and one pacing file. Every worker's
``on_step`` hook, called between the steps of each placement (:class:`kitekit.orders.Step`), stalls it now
and then (up to ``--stall`` seconds: a slow disk, a descheduled process) and, rarely, SIGKILLs it right
there; this process also SIGKILLs random workers at random moments (mid-request, mid-write). A killed worker
is started again and goes through the whole plan again.

Then the exchange's own list (``GET /__sim/orders``) is compared with the journal: every placed intent has
exactly one exchange order, carrying its tag, whose id is the intent's; every exchange order's id is known
to the journal; no refused intent has an order; nothing is left unsettled.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class SharedOutcome:
    """What one shared-journal run found."""

    intents: int
    workers: int
    placed: int
    refused: int
    exchange_orders: int
    duplicated: int
    unknown: int
    extra: int
    lost: int
    strays: int
    claims_tried: int
    claims_won: int
    kills_at_steps: dict[str, int]
    stalls_at_steps: dict[str, int]
    external_kills: int
    faults: dict[str, int]
    seconds: float

    @property
    def kills(self) -> int:
        """Every SIGKILL of a worker: at a step by itself, or at a random moment by the bench."""
        return sum(self.kills_at_steps.values()) + self.external_kills


# -- the worker -------------------------------------------------------------------------------------------
def worker(args: argparse.Namespace) -> int:
    """Place the whole plan through LiveBroker on the shared journal, stalling and dying at random steps."""
    import logging

    from kiteconnect.exceptions import KiteException

    from bench.reliability_brokers import gateway
    from kitekit.errors import OrderError, OrderInDoubtError
    from kitekit.orders import Intent, OrderRequest, Step

    logging.getLogger("kitekit").setLevel(logging.CRITICAL)  # the injected faults are expected; the summary counts
    folder = Path(args.folder)
    rng = random.Random(f"{args.seed}/{os.getpid()}")
    events = os.open(folder / "events.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def note(line: str) -> None:
        os.write(events, f"{line}\n".encode())  # one small O_APPEND write: lines from workers never interleave

    def on_step(step: Step, intent: Intent) -> None:
        note(f"step {step}")
        # Waiting polls every few milliseconds: kill there as often per wait, not per poll, as at other steps.
        rate = args.kill_rate / (20 if step is Step.WAITING else 1)
        if rng.random() < rate:
            note(f"kill {step}")
            os.kill(os.getpid(), signal.SIGKILL)
        if rng.random() < args.stall_rate:
            note(f"stall {step}")
            time.sleep(rng.uniform(0, args.stall))

    broker = gateway(args, on_step)
    for step in json.loads((folder / "plan.json").read_text()):
        request = OrderRequest.from_kite(step["order"])
        while True:
            try:
                broker.place(request, step["intent_id"])
            except OrderInDoubtError:
                time.sleep(0.2)  # the book could not be read, or another worker's claim is slow: look again
                continue
            except (KiteException, OrderError):
                pass  # refused by Kite (journaled as such) or given up: the comparison reports it
            break
    return 0


# -- the run ----------------------------------------------------------------------------------------------
def run_shared(
    orders: int,
    workers: int,
    kills: int,
    seed: int,
    folder: Path,
    quiet: bool = False,
    stall: float = 0.3,
    stall_rate: float = 0.1,
    kill_rate: float = 0.002,
) -> SharedOutcome:
    """Run ``workers`` processes over one plan of ``orders`` intents on one journal; compare with the exchange.

    Args:
        orders: intents in the plan (every worker places all of them).
        workers: worker processes at once (at least 2 for a race).
        kills: SIGKILLs of a random worker by this process, at random moments.
        seed: the plan's and the faults' seed.
        folder: an empty folder for the journal, the pacing file and the plan.
        quiet: print nothing.
        stall: the longest stall injected at a step (seconds).
        stall_rate: the share of steps stalled.
        kill_rate: the share of steps at which a worker SIGKILLs itself (a twentieth of that while waiting).
    """
    from bench.bench_reliability import ACCOUNT, RATES, SYMBOLS, faults, plan
    from bench.reliability_brokers import start
    from kitekit.orders import IntentJournal, IntentState

    rng = random.Random(seed + 2)
    procs: dict[int, subprocess.Popen[bytes]] = {}
    with start("kite", folder, SYMBOLS) as side:
        try:
            admin = f"{side.url}/__sim"
            (folder / "plan.json").write_text(json.dumps(plan(orders, side.prices, seed)))
            env = {**os.environ, "KITEKIT_BENCH_TOKEN": side.token, "PYTHONPATH": str(ROOT)}
            argv = [sys.executable, "-m", "bench.reliability_shared", "--worker", "--folder", str(folder),
                    "--url", side.url, *side.args, "--account", ACCOUNT, "--timeout", "1.5", "--settle", "3",
                    "--seed", str(seed), "--stall", str(stall), "--stall-rate", str(stall_rate),
                    "--kill-rate", str(kill_rate)]  # fmt: skip
            script = ["drop", "error", "reject"]
            rng.shuffle(script)
            faults(admin, {**RATES, "ack_delay_ms": 0, "next": script, "error_status": 502, "seed": seed})
            journal = IntentJournal(folder / "orders")
            span = range(max(1, orders // 10), max(2, orders * 9 // 10))
            points = sorted(rng.choices(span, k=kills))
            bursts = sorted(rng.sample(span, min(len(span), max(1, kills))))
            started = time.monotonic()
            procs.update(
                {i: subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL) for i in range(workers)}
            )
            finished: set[int] = set()
            external, slow_until, statuses = 0, -1, 0
            while len(finished) < workers:
                for i, proc in procs.items():
                    if i in finished or proc.poll() is None:
                        continue
                    if proc.returncode == 0:
                        finished.add(i)
                    elif proc.returncode == -signal.SIGKILL:
                        procs[i] = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
                    else:
                        raise RuntimeError(f"worker {i} failed with exit code {proc.returncode}")
                settled = sum(1 for i in journal.intents(ACCOUNT) if i.state.settled)
                if slow_until < 0 and bursts and settled >= bursts[0]:
                    # Every accepted order answers after the clients gave up (1.5 s), for the next few intents.
                    faults(admin, {"ack_delay_ms": 2500, "drop_rate": 0, "error_rate": 0, "reject_rate": 0})
                    slow_until, bursts = settled + 4, bursts[1:]
                elif 0 <= slow_until <= settled:
                    statuses += 1
                    faults(admin, {**RATES, "ack_delay_ms": 0, "error_status": (500, 502, 503, 504)[statuses % 4]})
                    slow_until = -1
                running = [p for i, p in procs.items() if i not in finished and p.poll() is None]
                if points and settled >= points[0] and running:
                    points = points[1:]
                    time.sleep(rng.uniform(0, 0.3))  # a random moment: mid-request, mid-write, mid-lookup, mid-wait
                    victim = rng.choice(running)
                    if victim.poll() is None:
                        victim.send_signal(signal.SIGKILL)
                        external += 1
                        if not quiet:
                            print(f"   killed a worker at {settled} settled intents", flush=True)
                time.sleep(0.05)
            seconds = time.monotonic() - started
            info = requests.get(f"{admin}/info", timeout=5).json()["data"]
            book = requests.get(f"{admin}/orders", timeout=5).json()["data"]
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    intents = journal.intents(ACCOUNT)
    known: dict[str, str] = {}
    for day in {i.day for i in intents}:
        known.update(journal.order_ids(ACCOUNT, day))
    by_tag: dict[str, list[str]] = {}
    for order in book:
        by_tag.setdefault(order.get("tag") or "", []).append(order["order_id"])
    ours = {i.tag for i in intents}
    placed = [i for i in intents if i.state is IntentState.PLACED]
    refused = [i for i in intents if i.state is IntentState.REJECTED]
    lost = sum(1 for i in placed if i.order_id not in by_tag.get(i.tag, []))
    lost += sum(1 for i in intents if i.state not in (IntentState.PLACED, IntentState.REJECTED))
    lost += orders - len(intents)
    events = collections.Counter(
        tuple(line.split(" ", 1)) for line in (folder / "events.log").read_text().splitlines() if " " in line
    )
    by_kind: dict[str, dict[str, int]] = collections.defaultdict(dict)
    for (kind, step), n in events.items():
        by_kind[kind][step] = n
    return SharedOutcome(
        intents=len(intents), workers=workers, placed=len(placed), refused=len(refused), exchange_orders=len(book),
        duplicated=sum(len(by_tag.get(i.tag, [])) > 1 for i in intents) + sum(bool(by_tag.get(i.tag)) for i in refused),
        unknown=sum(1 for o in book if o["order_id"] not in known), extra=len(journal.extra_orders(ACCOUNT)),
        lost=lost, strays=sum(len(ids) for tag, ids in by_tag.items() if tag not in ours),
        claims_tried=by_kind["step"].get("claiming", 0), claims_won=by_kind["step"].get("claimed", 0),
        kills_at_steps=by_kind["kill"], stalls_at_steps=by_kind["stall"], external_kills=external,
        faults={**info["order_faults_injected"], "rate_limited_by_exchange": info["orders_capped"]}, seconds=seconds,
    )  # fmt: skip


def report(out: SharedOutcome) -> dict[str, float]:
    """Print a shared run's summary; return its figures.

    Raises:
        AssertionError: an intent has no order or two, or an exchange order is unknown to the journal.
    """
    print(f"{out.workers} workers placing the same {out.intents} intents on one journal: {out.placed} placed, "
          f"{out.refused} refused by Kite; {out.exchange_orders} orders at the exchange")  # fmt: skip
    print(f"duplicated {out.duplicated}, exchange orders unknown to the journal {out.unknown}, extra orders "
          f"{out.extra}, lost {out.lost}, stray {out.strays}")  # fmt: skip
    print(f"claims (new to sending): {out.claims_tried} tried, {out.claims_won} won; "
          "a worker losing one waits for its answer")  # fmt: skip
    print(f"stalls by step {dict(sorted(out.stalls_at_steps.items()))}")
    print(f"kills: {out.kills} ({out.external_kills} at random moments; by step "
          f"{dict(sorted(out.kills_at_steps.items()))}); faults injected {out.faults}")  # fmt: skip
    print(f"{out.seconds:.1f}s ({out.intents / out.seconds:.1f} intents/s)")
    if out.duplicated or out.unknown or out.extra or out.lost or out.strays:
        raise AssertionError(f"the shared journal and the exchange disagree: {out}")
    return {
        "shared_intents": float(out.intents),
        "shared_workers": float(out.workers),
        "shared_orders_per_intent": out.exchange_orders / max(1, out.placed),
        "shared_unknown_orders": float(out.unknown),
        "shared_kills": float(out.kills),
        "shared_stalls": float(sum(out.stalls_at_steps.values())),
        "shared_seconds": out.seconds,
    }


def main(argv: list[str]) -> int:
    """Be a worker of the shared run (the run itself is started by ``bench.bench_reliability``)."""
    parser = argparse.ArgumentParser(prog="bench reliability (shared-journal worker)")
    parser.add_argument("--worker", action="store_true")
    for name in ("--folder", "--url", "--api-key", "--day", "--account"):
        parser.add_argument(name, required=True)
    for name, default in (("--timeout", 1.5), ("--settle", 3.0), ("--stall", 0.3), ("--stall-rate", 0.1),
                          ("--kill-rate", 0.002)):  # fmt: skip
        parser.add_argument(name, type=float, default=default)
    parser.add_argument("--seed", type=int, default=7)
    parser.set_defaults(broker="kite")  # the shared journal runs on Kite (bench.reliability_brokers.gateway)
    return worker(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
