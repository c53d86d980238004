"""Orders per second through the simulator: the official SDK over HTTP, beside the same orders in process.

Run: ``./dev bench orders`` (``--quick`` for a small input that finishes in seconds, as CI runs it). The
simulator runs with Kite's rate limits lifted (as ``kitekit sim --no-rate-limits``), on a frozen Friday
mid-session. Three ways of placing the same marketable LIMIT orders (8 NSE stocks, sides alternating so
positions stay flat), each on a fresh account:

* HTTP: ``KiteConnect.place_order`` against the simulator, one request after another, as a strategy would.
* exchange in process: ``SimExchange.run`` with ``Engine.place_order``, the simulator's own path minus HTTP.
* engine alone: an ``Engine`` fed the same market quotes once, the matching engine's own cost.

Every order must end COMPLETE, or the run fails: a benchmark that stopped filling would measure nothing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from kiteconnect import KiteConnect

from bench.common import BENCH_NOW, Figures
from kitekit.clock import ManualClock
from kitekit.engine import Engine, EngineConfig, resolver_of
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


def _best(fn: Callable[[], float], repeat: int) -> float:
    return min(fn() for _ in range(repeat))


def main(argv: list[str]) -> Figures:
    """Measure and print orders per second three ways."""
    parser = argparse.ArgumentParser(prog="bench orders")
    parser.add_argument("--quick", action="store_true", help="a small input that runs in seconds")
    args = parser.parse_args(argv)
    n, repeat = (200, 1) if args.quick else (2_000, 3)
    server = bench_sim()
    try:
        orders = _orders(server, n)
    finally:
        server.stop()
    http = _best(lambda: over_http(orders), repeat)
    local = _best(lambda: in_process(orders), repeat)
    alone = _best(lambda: engine_alone(orders), repeat)
    print(f"official SDK over HTTP, one after another:  {n / http:>9,.0f} orders/s  ({n} in {http:.3f}s)")
    print(f"simulator exchange in process (no HTTP):    {n / local:>9,.0f} orders/s  ({n} in {local:.3f}s)")
    print(f"matching engine alone:                      {n / alone:>9,.0f} orders/s  ({n} in {alone:.3f}s)")
    print(f"HTTP + SDK share of each order over HTTP:   {(http - local) / http:>9.0%}")
    return {"http_orders_per_s": n / http, "exchange_orders_per_s": n / local, "engine_orders_per_s": n / alone}
