"""Orders per second through the simulator and on paper: the official SDK over HTTP, in process, the paper broker.

Run: ``./dev bench orders`` (``--quick`` for a small input that finishes in seconds, as CI runs it). The
simulator runs with Kite's rate limits lifted (as ``kitekit sim --no-rate-limits``), on a frozen Friday
mid-session. Three ways of placing the same marketable LIMIT orders (8 NSE stocks, sides alternating so
positions stay flat), each on a fresh account:

* HTTP: ``KiteConnect.place_order`` against the simulator, one request after another, as a strategy would.
* exchange in process: ``SimExchange.run`` with ``Engine.place_order``, the simulator's own path minus HTTP.
* engine alone: an ``Engine`` fed the same market quotes once, the matching engine's own cost.

Then a paper trading day: ``PaperBroker.place`` for 5,000 of those orders on a fresh ledger (every line
fsync'd, as always), priced by the simulator's quotes served in process, to measure the sustained rate and the
cost of one order at the 1,000th and the 4,000th. Beside it, the whole-state ledger paper had before (the
engine's state and the intents rewritten atomically after every order): the same broker and orders, only the
ledger write swapped, timed at the same two points of the day.

Every order must end COMPLETE, or the run fails: a benchmark that stopped filling would measure nothing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures
from kitekit.clock import ManualClock
from kitekit.engine import Engine, EngineConfig, Level, MarketQuote, resolver_of
from kitekit.files import atomic_write
from kitekit.instruments import InstrumentStore
from kitekit.orders import OrderRequest, PaperBroker, Product
from kitekit.sim.config import SimConfig
from kitekit.sim.instruments import market_quotes
from kitekit.sim.market import Market
from kitekit.sim.pytest_plugin import login_via_redirect
from kitekit.sim.server import SimServer

SYMBOLS = ("INFY", "RELIANCE", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT")
#: One market model for every run: building a day's universe is the slow part, and it holds no account state.
_MARKET: list[Market] = []


def bench_sim() -> SimServer:
    """Return a started simulator with a fresh exchange, rate limits lifted, on the frozen benchmark clock."""
    if not _MARKET:
        _MARKET.append(Market(SimConfig().seed))
    return SimServer(SimConfig(rate_limit_enabled=False), ManualClock(BENCH_NOW), market=_MARKET[0]).start()


def _orders(server: SimServer, n: int) -> list[dict[str, Any]]:
    """Return ``n`` crossing LIMIT orders: a rupee through the touch, sides alternating per symbol."""
    server.sim.exchange.specs.moment = BENCH_NOW
    uni = server.sim.exchange.specs.universe()
    tokens = [int(uni.token[uni.by_key[f"NSE:{s}"]]) for s in SYMBOLS]
    quotes = {q.instrument_token: q for q in market_quotes(server.sim.market, uni, tokens, BENCH_NOW)}
    out = []
    for i in range(n):
        k = i % len(SYMBOLS)
        quote = quotes[tokens[k]]
        buy = (i // len(SYMBOLS)) % 2 == 0
        price = quote.asks[0].price + 1 if buy else quote.bids[0].price - 1
        out.append(
            {
                "exchange": "NSE",
                "tradingsymbol": SYMBOLS[k],
                "transaction_type": "BUY" if buy else "SELL",
                "quantity": 1,
                "product": "MIS",
                "order_type": "LIMIT",
                "price": round(price, 2),
            }
        )
    return out


def _check(statuses: list[str], n: int) -> None:
    if len(statuses) != n or set(statuses) != {"COMPLETE"}:
        raise RuntimeError(
            f"{n} orders placed but {statuses.count('COMPLETE')} complete: the benchmark measures nothing"
        )


def over_http(orders: list[dict[str, Any]]) -> float:
    """Place the orders with the official SDK over HTTP; return seconds."""
    server = bench_sim()
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        kite.orders()  # the account exists (and the day's universe is built) before the clock starts
        started = time.perf_counter()
        for params in orders:
            kite.place_order("regular", **params)
        elapsed = time.perf_counter() - started
        _check([o["status"] for o in kite.orders()], len(orders))
    finally:
        server.stop()
    return elapsed


def in_process(orders: list[dict[str, Any]]) -> float:
    """Place the orders through the simulator's exchange without HTTP; return seconds."""
    server = bench_sim()
    try:
        exchange, user = server.sim.exchange, server.sim.config.user_id
        exchange.account(user)
        forms = [({k: str(v) for k, v in o.items()}, [("NSE", o["tradingsymbol"])]) for o in orders]
        started = time.perf_counter()
        for form, instrument in forms:
            exchange.run(user, lambda engine, now, f=form: engine.place_order("regular", f, now), instrument)  # type: ignore[misc]
        elapsed = time.perf_counter() - started
        _check([o["status"] for o in exchange.run(user, lambda e, now: e.orders(now), mutates=False)], len(orders))
    finally:
        server.stop()
    return elapsed


def engine_alone(orders: list[dict[str, Any]]) -> float:
    """Place the orders on a bare engine fed the same quotes once; return seconds."""
    server = bench_sim()
    try:
        book = server.sim.exchange.specs
        book.moment = BENCH_NOW
        specs = [book.resolve("NSE", s) for s in SYMBOLS]
        engine = Engine(resolver_of([s for s in specs if s]), BENCH_NOW, EngineConfig())
        tokens = [s.instrument_token for s in specs if s]
        engine.on_quotes(market_quotes(server.sim.market, book.universe(), tokens, BENCH_NOW), BENCH_NOW)
        forms = [{k: str(v) for k, v in o.items()} for o in orders]
        started = time.perf_counter()
        for form in forms:
            engine.place_order("regular", form, BENCH_NOW)
        elapsed = time.perf_counter() - started
        _check([o["status"] for o in engine.orders(BENCH_NOW)], len(orders))
    finally:
        server.stop()
    return elapsed


class _MarketInProcess:
    """The simulator's quotes of the bench's stocks, served in process with a book no run can empty."""

    def __init__(self, quotes: Mapping[str, MarketQuote]) -> None:
        self.items = {}
        for key, q in quotes.items():
            deep = MarketQuote(
                q.instrument_token, q.last_price, q.timestamp,
                tuple(Level(lv.price, 10**9, 1) for lv in q.bids), tuple(Level(lv.price, 10**9, 1) for lv in q.asks),
                q.lower_circuit_limit, q.upper_circuit_limit, q.close,
            )  # fmt: skip
            self.items[key] = deep.as_kite()
            self.items[str(q.instrument_token)] = deep.as_kite()

    def quote(self, *keys: Any) -> Mapping[Any, Mapping[str, Any]]:
        """Return ``/quote`` items of ``keys``."""
        return {key: self.items[str(key)] for key in keys}


def _paper_setup(server: SimServer) -> tuple[_MarketInProcess, InstrumentStore]:
    book = server.sim.exchange.specs
    book.moment = BENCH_NOW
    uni = book.universe()
    store = InstrumentStore.from_bytes(uni.dump()[0], BENCH_NOW.date(), clock=ManualClock(BENCH_NOW))
    tokens = {f"NSE:{s}": int(uni.token[uni.by_key[f"NSE:{s}"]]) for s in SYMBOLS}
    quotes = {q.instrument_token: q for q in market_quotes(server.sim.market, uni, tokens.values(), BENCH_NOW)}
    return _MarketInProcess({key: quotes[token] for key, token in tokens.items()}), store


def _requests(orders: list[dict[str, Any]]) -> list[OrderRequest]:
    out = []
    for o in orders:
        side = OrderRequest.buy if o["transaction_type"] == "BUY" else OrderRequest.sell
        out.append(side(f"NSE:{o['tradingsymbol']}", 1, price=o["price"], product=Product.MIS))
    return out


def _whole_state_save(paper: PaperBroker, path: Path) -> Callable[[], None]:
    """Return the ledger write paper made before: the whole engine state and every intent, atomically."""

    def save() -> None:
        engine = paper._engine
        assert engine is not None  # noqa: S101
        data = {"account": paper.account, "engine": engine.to_state(), "intents": paper._intents, "version": 1}
        atomic_write(path, json.dumps(data, separators=(",", ":")).encode())

    return save


def paper_day(
    source: _MarketInProcess, store: InstrumentStore, orders: list[dict[str, Any]], points: tuple[int, int]
) -> dict[str, float]:
    """Place a day of paper orders; return the sustained rate and the per-order cost at ``points`` both ways."""
    requests = _requests(orders)
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        paper = PaperBroker(source, store, folder=Path(folder) / "log", clock=ManualClock(BENCH_NOW))
        times = []
        for i, request in enumerate(requests):
            started = time.perf_counter()
            paper.place(request, f"b{i}")
            times.append(time.perf_counter() - started)
        _check([str(o.status) for o in paper.orders()], len(requests))
        out["paper_orders_per_s"] = len(times) / sum(times)
        for n in points:
            out[f"log_ms_at_{n}"] = statistics.median(times[n : n + 100]) * 1e3
        out["paper_slowest_ms"] = max(times) * 1e3
        out["snapshots"] = float(paper.ledger.generation)
        out["ledger_mb"] = (paper.ledger.path.stat().st_size + paper.ledger.log_path.stat().st_size) / 1e6

        # The whole-state ledger, on a day built up to the same points: only the write after each order differs.
        paper = PaperBroker(source, store, folder=Path(folder) / "whole", clock=ManualClock(BENCH_NOW))
        log_save, whole_save = paper._save, _whole_state_save(paper, Path(folder) / "whole.json")
        i = 0
        for n in points:
            while i < n:
                paper.place(requests[i % len(requests)], f"w{i}")
                i += 1
            paper._save = whole_save  # type: ignore[method-assign]
            samples = []
            for _ in range(7):
                started = time.perf_counter()
                paper.place(requests[i % len(requests)], f"w{i}")
                samples.append(time.perf_counter() - started)
                i += 1
            paper._save = log_save  # type: ignore[method-assign]
            out[f"whole_ms_at_{n}"] = statistics.median(samples) * 1e3
    return out


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main(argv: list[str]) -> Figures:
    """Measure and print orders per second three ways."""
    parser = argparse.ArgumentParser(prog="bench orders")
    parser.add_argument("--quick", action="store_true", help="a small input that runs in seconds")
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (2_000, 3)
    day, points = (500, (100, 400)) if args.quick else (5_000, (1_000, 4_000))
    server = bench_sim()
    try:
        orders = _orders(server, n)
        paper_orders = _orders(server, day)
        source, store = _paper_setup(server)
    finally:
        server.stop()  # no server threads beside the paper day: it runs in this process alone
    paper = paper_day(source, store, paper_orders, points)
    http = _best(lambda: over_http(orders), repeat)
    local = _best(lambda: in_process(orders), repeat)
    alone = _best(lambda: engine_alone(orders), repeat)
    print(f"official SDK over HTTP, one after another:  {n / http:>9,.0f} orders/s  ({n} in {http:.3f}s)")
    print(f"simulator exchange in process (no HTTP):    {n / local:>9,.0f} orders/s  ({n} in {local:.3f}s)")
    print(f"matching engine alone:                      {n / alone:>9,.0f} orders/s  ({n} in {alone:.3f}s)")
    print(f"HTTP + SDK share of each order over HTTP:   {(http - local) / http:>9.0%}")
    rate, slowest = paper["paper_orders_per_s"], paper["paper_slowest_ms"]
    verdict = "yes" if rate >= 500 else "NO"
    print(f"paper, a {day:,}-order day, ledger fsync'd:  {rate:>9,.0f} orders/s sustained  (target >= 500: {verdict})")
    print(f"  slowest order (a snapshot written):       {slowest:>9,.0f} ms")
    print(f"  snapshots written, ledger on disk:        {paper['snapshots']:>9.0f}, {paper['ledger_mb']:.1f} MB")
    a, b = points
    log_a, log_b = paper[f"log_ms_at_{a}"], paper[f"log_ms_at_{b}"]
    whole_a, whole_b = paper[f"whole_ms_at_{a}"], paper[f"whole_ms_at_{b}"]
    print(f"one paper order, median, at order {a:,} / {b:,}:")
    print(f"  change log + snapshots:  {log_a:>8.2f} ms / {log_b:>8.2f} ms  (x{log_b / log_a:.2f})")
    print(f"  whole state rewritten:   {whole_a:>8.2f} ms / {whole_b:>8.2f} ms  (x{whole_b / whole_a:.2f})")
    print(f"  whole state vs log at order {b:,}:        {whole_b / log_b:>9,.0f}x")
    return {
        "http_orders_per_s": n / http,
        "exchange_orders_per_s": n / local,
        "engine_orders_per_s": n / alone,
        **paper,
    }
