"""Reliability of LiveBroker: randomised orders under every order fault and client kills, checked order by order.

Run: ``./dev bench reliability [--broker kite|upstox|angel] [--orders 1000] [--kills 5] [--seed 7]``
(``--quick``: 40 orders, 2 kills).

The broker's simulator runs in this process with its limits on (Kite: 10 order requests a second, 400 a minute,
5,000 a day; Upstox: 50 a second, 500 a minute; Angel: 20 a second, 500 a minute) and its market open (a Friday
from 11:00 IST, in real time). A worker process places a randomised plan of orders through
:class:`kitekit.orders.LiveBroker` on that broker's client (Kite's official SDK with kitekit's paced transport;
kitekit's Upstox and Angel clients, :mod:`bench.reliability_brokers`); the plan's intent ids make every order one
intent. While it runs, this process

- injects every order fault of ``/__sim/order-faults`` (every simulator has it, each answering in its own
  dialect): accepted then dropped, accepted then a 5xx (500, 502, 503, 504 in turn), the broker's rate-limit
  refusal without accepting, and bursts of slow acknowledgements past the client's timeout;
- kills the worker (SIGKILL, at random moments: mid-request, mid-journal write, mid-lookup) and starts it
  again; the new worker reconciles the journal and replays the whole plan, which places only what is missing.

Then the journal is compared with the exchange's own list (``GET /__sim/orders``): every placed intent must
have exactly one exchange order with its tag, every refused one none, and no other order may carry a tag.

A second part (:mod:`bench.reliability_shared`) has ``--workers`` processes (4) place the same
``--shared-orders`` intents (500; ``--quick``: 40) at once through one journal, with stalls and SIGKILLs at
every step of placement (on Kite); ``--part single`` or ``--part shared`` runs one part only. With ``--broker
upstox`` or ``angel`` only the single-worker part runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench.common import Figures
from bench.reliability_brokers import BROKERS, add_worker_arguments

ROOT = Path(__file__).resolve().parents[1]
ACCOUNT = "KK1234"
SYMBOLS = ("INFY", "RELIANCE", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "WIPRO")
#: The fault mix while no slow acknowledgements are injected (shares of placements).
RATES = {"drop_rate": 0.04, "error_rate": 0.04, "reject_rate": 0.04}


@dataclass
class Outcome:
    """What one run found."""

    intents: int
    placed: int
    refused: int
    exchange_orders: int
    lost: int
    duplicated: int
    strays: int
    recovered: int
    resends: int
    kills: int
    faults: dict[str, int]
    seconds: float


def faults(admin: str, settings: dict[str, Any]) -> None:
    """Change the simulator's order faults (``PUT /__sim/order-faults``)."""
    requests.put(f"{admin}/order-faults", json=settings, timeout=5).raise_for_status()


def plan(n: int, prices: dict[str, float], seed: int) -> list[dict[str, Any]]:
    """Return ``n`` randomised orders (``place_order`` fields) with their intent ids."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        symbol = rng.choice(SYMBOLS)
        last = prices[symbol]
        side = rng.choice(("BUY", "SELL"))
        order: dict[str, Any] = {"exchange": "NSE", "tradingsymbol": symbol, "transaction_type": side,
                                 "quantity": rng.randint(1, 5), "product": "MIS"}  # fmt: skip
        kind = rng.random()
        if kind < 0.5:
            order["order_type"] = "MARKET"
        else:
            # Half the limit orders cross the spread (they fill), half rest below or above the market.
            away = 0.01 if kind < 0.75 else -0.03
            price = last * (1 + away) if side == "BUY" else last * (1 - away)
            order.update(order_type="LIMIT", price=round(round(price / 0.05) * 0.05, 2))
        out.append({"intent_id": f"r{seed}n{i:05d}", "order": order})
    return out


# -- the worker -------------------------------------------------------------------------------------------
def worker(args: argparse.Namespace) -> int:
    """Place the whole plan through LiveBroker (what is already placed comes back from the journal)."""
    from kiteconnect.exceptions import KiteException

    from bench.reliability_brokers import gateway
    from kitekit.errors import OrderError, OrderInDoubtError
    from kitekit.orders import OrderRequest

    # The transport's warnings (a 429 pauses the class) are the injected faults themselves: the summary counts them.
    logging.getLogger("kitekit").setLevel(logging.ERROR)
    broker = gateway(args)
    for step in json.loads((Path(args.folder) / "plan.json").read_text()):
        request = OrderRequest.from_kite(step["order"])
        while True:
            try:
                broker.place(request, step["intent_id"])
            except OrderInDoubtError:
                time.sleep(0.2)  # the order book could not be read: look again before anything else
                continue
            except (KiteException, OrderError):
                pass  # refused by the broker (journaled as such) or given up: the comparison reports it
            break
    return 0


# -- the run ----------------------------------------------------------------------------------------------
def run(orders: int, kills: int, seed: int, folder: Path, quiet: bool = False, broker: str = "kite") -> Outcome:
    """Run the worker over a plan of ``orders`` under faults, killing it ``kills`` times; compare the books."""
    from bench.reliability_brokers import start
    from kitekit.orders import IntentJournal, IntentState
    from kitekit.orders.placement import FOUND

    rng = random.Random(seed + 1)
    with start(broker, folder, SYMBOLS) as side:
        admin = f"{side.url}/__sim"
        account = side.account
        (folder / "plan.json").write_text(json.dumps(plan(orders, side.prices, seed)))
        env = {**os.environ, "KITEKIT_BENCH_TOKEN": side.token, "PYTHONPATH": str(ROOT)}
        argv = [sys.executable, "-m", "bench.bench_reliability", "--worker", "--broker", broker,
                "--folder", str(folder), "--url", side.url, "--account", account, *side.args,
                "--timeout", "1.5", "--settle", "3"]  # fmt: skip
        journal = IntentJournal(folder / "orders")
        # Kill points and bursts of slow acknowledgements, each at a random count of settled intents.
        span = range(max(2, orders // 10), max(3, orders * 9 // 10))
        points = sorted(rng.sample(span, kills))
        bursts = sorted(rng.sample(span, max(1, kills)))
        started = time.monotonic()
        done_kills, slow_until = 0, -1
        while True:
            # Each (re)start begins with one fault of each kind, then the random mix (or the slow burst going on).
            script = ["drop", "error", "reject"]
            rng.shuffle(script)
            slow = (
                {"ack_delay_ms": 2500, **dict.fromkeys(RATES, 0)} if slow_until >= 0 else {**RATES, "ack_delay_ms": 0}
            )
            faults(admin, {**slow, "next": script, "error_status": (500, 502, 503, 504)[done_kills % 4],
                           "seed": seed + done_kills})  # fmt: skip
            proc = subprocess.Popen(argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
            target = points[done_kills] if done_kills < len(points) else None
            while proc.poll() is None:
                settled = sum(1 for i in journal.intents(account) if i.state.settled)
                if slow_until < 0 and bursts and settled >= bursts[0]:
                    # Every accepted order answers after the client gave up (1.5 s) for the next few intents.
                    faults(admin, {"ack_delay_ms": 2500, "drop_rate": 0, "error_rate": 0, "reject_rate": 0})
                    slow_until, bursts = settled + 6, bursts[1:]
                elif 0 <= slow_until <= settled:
                    faults(admin, {**RATES, "ack_delay_ms": 0})
                    slow_until = -1
                if target is not None and settled >= target:
                    time.sleep(rng.uniform(0, 0.3))  # a random moment: mid-request, mid-write, mid-lookup
                    proc.send_signal(signal.SIGKILL)
                    proc.wait()
                    done_kills += 1
                    if not quiet:
                        print(f"   killed the client at {settled} settled intents ({done_kills}/{kills})", flush=True)
                    break
                time.sleep(0.05)
            else:
                if proc.returncode != 0:
                    raise RuntimeError(f"the worker failed with exit code {proc.returncode}")
                break  # the whole plan is settled
        seconds = time.monotonic() - started
        info = requests.get(f"{admin}/info", timeout=5).json()["data"]
        book = requests.get(f"{admin}/orders", timeout=5).json()["data"]
    intents = journal.intents(account)
    by_tag: dict[str, list[str]] = {}
    for order in book:
        by_tag.setdefault(order.get("tag") or "", []).append(order["order_id"])
    ours = {i.tag for i in intents}
    placed = [i for i in intents if i.state is IntentState.PLACED]
    refused = [i for i in intents if i.state is IntentState.REJECTED]
    lost = sum(1 for i in placed if by_tag.get(i.tag) != [i.order_id])
    lost += sum(1 for i in intents if i.state not in (IntentState.PLACED, IntentState.REJECTED))
    lost += orders - len(intents)
    duplicated = sum(1 for i in intents if len(by_tag.get(i.tag, [])) > 1)
    duplicated += sum(1 for i in refused if by_tag.get(i.tag))
    strays = sum(len(ids) for tag, ids in by_tag.items() if tag not in ours)
    # Kite's simulator counts its order caps apart; Upstox's and Angel's count every refusal by their limits.
    capped = info.get("orders_capped", info.get("rate_limited", 0))
    return Outcome(
        intents=len(intents), placed=len(placed), refused=len(refused), exchange_orders=len(book), lost=lost,
        duplicated=duplicated, strays=strays, recovered=sum(1 for i in placed if i.message == FOUND),
        resends=sum(i.sends - 1 for i in intents if i.sends > 1), kills=done_kills,
        faults={**info["order_faults_injected"], "rate_limited_by_exchange": capped},
        seconds=seconds,
    )  # fmt: skip


def main(argv: list[str]) -> Figures:
    """Run the reliability benchmark (or, with ``--worker``, be its worker); return the figures."""
    parser = argparse.ArgumentParser(prog="bench reliability")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="40 orders and 2 kills in each part (CI)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--broker", choices=BROKERS, default="kite", help="the broker whose simulator and client run")
    for name in ("--folder", "--url", "--api-key", "--day"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    add_worker_arguments(parser)
    parser.add_argument("--timeout", type=float, default=1.5, help=argparse.SUPPRESS)
    parser.add_argument("--settle", type=float, default=3.0, help=argparse.SUPPRESS)
    parser.add_argument("--part", choices=("single", "shared", "all"), default="all")
    parser.add_argument("--shared-orders", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--shared-kills", type=int, default=5)
    args = parser.parse_args(argv)
    if args.worker:
        sys.exit(worker(args))
    figures: Figures = {}
    if args.part in ("single", "all"):
        figures.update(single(args))
    if args.part in ("shared", "all") and args.broker == "kite":
        import tempfile

        from bench.reliability_shared import report, run_shared

        orders, kills = (40, 2) if args.quick else (args.shared_orders, args.shared_kills)
        print(f"-- shared journal: {args.workers} workers, the same {orders} intents", flush=True)
        with tempfile.TemporaryDirectory(prefix="kitekit-bench-shared-journal-") as tmp:
            figures.update(report(run_shared(orders, args.workers, kills, args.seed, Path(tmp))))
    return figures


def single(args: argparse.Namespace) -> Figures:
    """Run the single-worker part; print its summary and return its figures."""
    orders, kills = (40, 2) if args.quick else (args.orders, args.kills)
    import tempfile

    print(f"-- one worker on {args.broker}, {orders} intents", flush=True)
    with tempfile.TemporaryDirectory(prefix="kitekit-bench-reliability-") as tmp:
        out = run(orders, kills, args.seed, Path(tmp), broker=args.broker)
    print(f"{out.intents} intents: {out.placed} placed, {out.refused} refused by {args.broker}; "
          f"{out.exchange_orders} orders at the exchange")  # fmt: skip
    print(f"lost {out.lost}, duplicated {out.duplicated}, stray orders {out.strays}; "
          f"{out.recovered} found by their tag after an unclear answer, {out.resends} re-sends after a confirmed "
          "absence")  # fmt: skip
    print(f"client killed {out.kills} times; faults injected {out.faults}; {out.seconds:.1f}s "
          f"({out.intents / out.seconds:.1f} intents/s)")  # fmt: skip
    if out.lost or out.duplicated or out.strays:
        raise AssertionError(f"the journal and the exchange disagree: {out}")
    return {
        "intents": float(out.intents),
        "exchange_orders": float(out.exchange_orders),
        "orders_per_intent": out.exchange_orders / max(1, out.placed),
        "kills": float(out.kills),
        "faults_injected": float(sum(out.faults.values())),
        "seconds": out.seconds,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
