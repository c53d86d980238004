"""How many orders per second the matching engine accepts and matches in process (no HTTP, no simulator).

Run: ``./dev bench engine`` (``--quick`` for a small input that finishes in a few seconds, as CI runs it).
Scenarios, each on a fresh account at a frozen mid-session moment, each order taken through the whole
accept → checks → RMS margin → open → fill → position → charges path, by two doors into the same code:

* form: ``Engine.place_order`` with Kite's form fields as the SDK sends them (text), parsed on every order.
* typed: ``Engine.submit`` with a :class:`~kitekit.engine.PlaceRequest` built afresh for every order with a tag
  of its own, inside the timed loop, as the runner's backtest broker (``runner/simbroker.py``) sends its terms
  (issue 24's fast path). No request object is ever sent twice: a saving that only a reused object earns is
  one no backtest sees. The collector runs as in any process; the same orders are timed again with the heap
  made before the loop frozen, as the runner's backtest runs (``runner.run.frozen_heap``), and printed apart:
  the target is judged on the first figure.

* marketable: LIMIT orders that cross the book and fill on arrival, sides alternating over 8 stocks, the
  quote refreshed every 50 orders.
* open positions: the same orders while 8, 32 or 128 other stocks hold open positions (1×, 4×, 16×): the
  cost of an order must not grow with the book (before issue 24 every order re-margined every position).
* the day's orders: the cost of an order among the day's first 2,000 and after 18,000 more.
* resting then swept: LIMIT orders away from the market that rest, then one quote that fills them all.
* place and cancel: orders that rest and are cancelled, the modify/cancel part of the state machine.

The machine the figures come from is shared, so times are the CPU time of this process (``process_time``:
single-threaded work with no I/O, which is what wall time is on an idle machine; wall time on a busy one also
counts other people's work), every figure is the median of several runs, each run starts from a collected
heap, and the form and typed runs are interleaved so that load falls on both alike.

``--against REV`` also times the typed marketable scenario as the engine stood at git revision ``REV`` (its
``src/`` unpacked to a temporary directory and driven by this tree's ``bench/``, so both trees do the same
work), in fresh processes interleaved with this tree's, so that a change is measured before and after in one
run, under the same load.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from bench.common import BENCH_NOW, Figures
from kitekit.engine import Engine, EngineConfig, InstrumentSpec, Level, MarketQuote, PlaceRequest, resolver_of
from kitekit.wire.orders import OrderType, Product, TransactionType, Variety

SPECS = [InstrumentSpec(token * 256 + 1, "NSE", f"STOCK{token}", "NSE", "EQ", 0.05, 1) for token in range(1, 9)]
#: Stocks that only hold open positions while the 8 above trade (up to 16 × 8).
HELD = [InstrumentSpec(90_000 + i, "NSE", f"HELD{i}", "NSE", "EQ", 0.05, 1) for i in range(128)]
BUY_PRICE, SELL_PRICE = 1000.2, 999.8


def _quote(spec: InstrumentSpec, step: int, depth: int = 5, size: int = 10_000) -> MarketQuote:
    ltp = 1000.0
    when = BENCH_NOW + timedelta(milliseconds=step)
    bids = tuple(Level(round(ltp - 0.05 * (i + 1), 2), size) for i in range(depth))
    asks = tuple(Level(round(ltp + 0.05 * i, 2), size) for i in range(depth))
    return MarketQuote(spec.instrument_token, ltp, when, bids, asks, 900.0, 1100.0, 995.0)


def _engine(held: int = 0) -> Engine:
    """Return an account with quotes for the 8 traded stocks and an open position in each of ``held`` others."""
    eng = Engine(resolver_of([*SPECS, *HELD]), BENCH_NOW, EngineConfig(equity_funds=1e12))
    eng.on_quotes([_quote(s, 0) for s in (*SPECS, *HELD[:held])], BENCH_NOW)
    for spec in HELD[:held]:
        eng.place_order("regular", _params(spec, "BUY", BUY_PRICE), BENCH_NOW)
    if sum(1 for p in eng.positions(BENCH_NOW)["net"] if p["quantity"]) != held:
        raise RuntimeError("the held positions did not open; the benchmark measures nothing")
    return eng


def _params(spec: InstrumentSpec, side: str, price: float, quantity: int = 10) -> dict[str, str]:
    return {
        "exchange": spec.exchange,
        "tradingsymbol": spec.tradingsymbol,
        "transaction_type": side,
        "quantity": str(quantity),
        "product": "MIS",
        "order_type": "LIMIT",
        "price": f"{price:.2f}",
    }


def _request(spec: InstrumentSpec, side: TransactionType, price: float, tag: str, quantity: int = 10) -> PlaceRequest:
    # Built for each order, tagged as the runner tags its terms ("bt" and 18 letters or digits): a fresh object.
    return PlaceRequest(
        Variety.REGULAR,
        spec.exchange,
        spec.tradingsymbol,
        side,
        OrderType.LIMIT,
        Product.MIS,
        quantity,
        price,
        tag=tag,
    )


def _check_filled(eng: Engine, now: datetime) -> None:
    # A benchmark that silently stopped filling would measure the wrong thing.
    unfilled = [o["order_id"] for o in eng.orders(now) if o["status"] != "COMPLETE"]
    if unfilled:
        raise RuntimeError(f"{len(unfilled)} orders did not fill; the benchmark measures nothing")


def marketable(n: int, typed: bool, held: int = 0, marks: Sequence[int] = (), frozen: bool = False) -> list[float]:
    """Place ``n`` crossing orders; return the seconds they took (and the seconds at each of ``marks``).

    ``frozen``: with the heap made before the loop frozen, as a backtest runs (``kitekit.runner.run.frozen_heap``:
    imports, the account and its quotes out of the collector's full passes; the collector still runs).
    """
    eng = _engine(held)
    forms = {(s.instrument_token, True): _params(s, "BUY", BUY_PRICE) for s in SPECS}
    forms |= {(s.instrument_token, False): _params(s, "SELL", SELL_PRICE) for s in SPECS}
    buy, sell = TransactionType.BUY, TransactionType.SELL
    specs = {s.instrument_token: s for s in SPECS}
    sent = 0

    def place(key: tuple[int, bool]) -> None:
        nonlocal sent
        if typed:
            sent += 1
            spec, buying = specs[key[0]], key[1]
            request = _request(spec, buy if buying else sell, BUY_PRICE if buying else SELL_PRICE, f"bt{sent:018x}")
            eng.submit(request, BENCH_NOW)
        else:
            eng.place_order("regular", forms[key], BENCH_NOW)

    stops = set(marks)
    seconds: list[float] = []
    gc.collect()
    if frozen:
        gc.freeze()  # as frozen_heap does (not imported here: the runner's imports would grow the heap walked)
    started = time.process_time()
    for i in range(n):
        if i in stops:
            seconds.append(time.process_time() - started)
        spec = SPECS[i % len(SPECS)]
        if i % 50 == 0:
            eng.on_quotes([_quote(s, i) for s in SPECS], BENCH_NOW)
        place((spec.instrument_token, (i // len(SPECS)) % 2 == 0))
    elapsed = time.process_time() - started
    if frozen:
        gc.unfreeze()
    _check_filled(eng, BENCH_NOW)
    return [elapsed, *seconds]


def resting_then_swept(n: int) -> tuple[float, float]:
    """Rest ``n`` orders below the market, then sweep them with one quote; return (place s, sweep s)."""
    eng = _engine()
    gc.collect()
    started = time.process_time()
    for i in range(n):
        eng.place_order("regular", _params(SPECS[i % len(SPECS)], "BUY", 990.0), BENCH_NOW)
    placed = time.process_time() - started
    sweep = [
        MarketQuote(s.instrument_token, 989.0, BENCH_NOW + timedelta(seconds=1), (), (Level(989.0, 10**9),))
        for s in SPECS
    ]
    started = time.process_time()
    eng.on_quotes(sweep, BENCH_NOW + timedelta(seconds=1))
    swept = time.process_time() - started
    _check_filled(eng, BENCH_NOW + timedelta(seconds=1))
    return placed, swept


def place_and_cancel(n: int) -> float:
    """Place and cancel ``n`` resting orders; return seconds."""
    eng = _engine()
    gc.collect()
    started = time.process_time()
    for i in range(n):
        oid = eng.place_order("regular", _params(SPECS[i % len(SPECS)], "BUY", 990.0), BENCH_NOW)["order_id"]
        eng.cancel_order("regular", oid, BENCH_NOW)
    return time.process_time() - started


def _median(runs: Callable[[], float], repeat: int) -> float:
    return statistics.median(runs() for _ in range(repeat))


def _cost(count: int, typed: bool, held: int, repeat: int) -> float:
    """Return µs an order of :func:`marketable` with ``held`` other open positions, median of ``repeat``."""
    return _median(lambda: marketable(count, typed, held)[0], repeat) / count * 1e6


# One typed marketable run in a fresh process: this tree's bench (the same work for both trees), then the
# engine of the tree given (its src first on the path).
_CHILD = (
    "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2] + '/src']; from bench import bench_engine as b; "
    "b.marketable(2000, True); print(b.marketable(int(sys.argv[3]), True)[0])"
)


def against(rev: str, n: int, repeat: int) -> dict[str, list[float]]:
    """Time ``n`` typed marketable orders in this tree and at git revision ``rev``, ``repeat`` times each,
    interleaved in fresh processes; return the seconds of each run by tree ("here" and ``rev``).

    Raises:
        RuntimeError: the revision cannot be unpacked or its engine cannot run the scenario.
    """
    root = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory(prefix="kitekit-bench-") as tmp:
        unpacked = subprocess.run(["git", "-C", str(root), "archive", rev, "src"], capture_output=True)
        if unpacked.returncode:
            raise RuntimeError(f"git archive {rev}: {unpacked.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", tmp], input=unpacked.stdout, check=True)
        trees = {"here": str(root), rev: tmp}
        runs: dict[str, list[float]] = {name: [] for name in trees}
        for _ in range(repeat):
            for name, tree in trees.items():
                # Run from the temporary directory: neither tree is on the path by being the working directory.
                done = subprocess.run(
                    [sys.executable, "-c", _CHILD, str(root), tree, str(n)], capture_output=True, text=True, cwd=tmp
                )
                if done.returncode:
                    raise RuntimeError(f"the typed scenario failed on {name}: {done.stderr.strip()[-500:]}")
                runs[name].append(float(done.stdout.split()[-1]))
    return runs


def main(argv: list[str]) -> Figures:
    """Measure and print orders per second and the cost of an order as the book grows."""
    parser = argparse.ArgumentParser(prog="bench engine")
    parser.add_argument("--quick", action="store_true", help="a small input that runs in a few seconds")
    parser.add_argument("--against", metavar="REV", help="also time the typed path at this git revision")
    args = parser.parse_args(argv)
    n, day, repeat = (2_000, 4_000, 1) if args.quick else (20_000, 20_000, 5)
    figures: Figures = {}

    if args.against:
        trees = against(args.against, n, repeat)
        print(f"typed marketable LIMIT orders ({n:,}), this tree and {args.against}, interleaved processes:")
        for name, seconds in trees.items():
            mid = statistics.median(seconds)
            each = ", ".join(f"{n / s:,.0f}" for s in seconds)
            print(f"  {name:>12}: {n / mid:>10,.0f} orders/s  {mid / n * 1e6:6.1f} µs  (median of {repeat}: {each})")
        here, there = (statistics.median(v) for v in trees.values())
        print(f"  {there / here:.2f}× the orders/s of {args.against}")
        figures |= {"typed_orders_per_s_here": n / here, "typed_orders_per_s_against": n / there}

    form_runs, typed_runs, frozen_runs = [], [], []
    for _ in range(repeat):  # interleaved: the machine's load falls on all alike
        form_runs.append(marketable(n, typed=False)[0])
        typed_runs.append(marketable(n, typed=True)[0])
        frozen_runs.append(marketable(n, typed=True, frozen=True)[0])
    form, typed, frozen = (statistics.median(runs) for runs in (form_runs, typed_runs, frozen_runs))
    verdict = "yes" if n / typed >= 25_000 else "NO"
    print(f"marketable LIMIT orders, accepted and filled ({n:,}, median of {repeat}):")
    print(f"  by form (place_order, Kite's text fields):   {n / form:>10,.0f} orders/s  {form / n * 1e6:6.1f} µs")
    print(f"  typed (submit, a fresh tagged PlaceRequest): {n / typed:>10,.0f} orders/s  {typed / n * 1e6:6.1f} µs"
          f"  (target >= 25,000: {verdict})")  # fmt: skip
    # Not the target's figure: the heap made before the loop frozen, as the runner's backtest runs.
    print(f"  typed, heap frozen as a backtest runs:       {n / frozen:>10,.0f} orders/s  {frozen / n * 1e6:6.1f} µs")
    figures |= {"marketable_orders_per_s": n / form, "typed_orders_per_s": n / typed}
    figures |= {"typed_frozen_orders_per_s": n / frozen}

    per_book = max(n // 4, 1_000)
    print(f"the same orders while other stocks hold open positions, µs an order ({per_book:,}, median of {repeat}):")
    base: dict[bool, float] = {}
    for held, scale in ((8, 1), (32, 4), (128, 16)):
        cost = {typed: _cost(per_book, typed, held, repeat) for typed in (False, True)}
        base = base or cost
        print(
            f"  {held:>3} open positions ({scale:>2}×):   form {cost[False]:6.1f} µs ({cost[False] / base[False]:.2f}×)"
            f"   typed {cost[True]:6.1f} µs ({cost[True] / base[True]:.2f}×)"
        )
        figures[f"typed_us_at_{held}_positions"] = cost[True]
        figures[f"form_us_at_{held}_positions"] = cost[False]

    first = min(2_000, day // 4)
    later = day - first
    spans = [marketable(day, True, marks=(first, later)) for _ in range(repeat)]
    early = statistics.median(s[1] for s in spans) / first * 1e6
    late = statistics.median(s[0] - s[2] for s in spans) / (day - later) * 1e6
    print(f"typed, µs an order among the day's first {first:,}: {early:6.1f};  after {later:,} more: {late:6.1f}")
    figures |= {"typed_us_first_orders": early, "typed_us_later_orders": late}

    runs = [resting_then_swept(n) for _ in range(repeat)]
    placed, swept = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
    print(f"resting LIMIT orders, accepted (form):        {n / placed:>10,.0f} orders/s  ({n} in {placed:.3f}s)")
    print(f"  then filled by one quote per instrument:    {n / swept:>10,.0f} orders/s  ({n} in {swept:.3f}s)")
    cycle = _median(lambda: place_and_cancel(n), repeat)
    print(f"place + cancel (form):                        {n / cycle:>10,.0f} orders/s  ({n} in {cycle:.3f}s)")
    return figures | {
        "resting_orders_per_s": n / placed,
        "swept_orders_per_s": n / swept,
        "place_cancel_per_s": n / cycle,
    }
