"""Kite as it books orders in 2026: randomised orders through kitekit meet no exchange rejection and no 429.

Run: ``./dev bench kite2026 [--orders 1000] [--seed 7]`` (``--quick``: 80 orders).

The simulator runs in this process with every 2026 rule on: market protection required on MARKET and SL-M
orders, the exchanges' limit-price bands on F&O, autoslice at most 10 slices, 10 orders per calendar second of
its clock (which runs 0.37 s into each second of the local one) besides 10/s per api_key, 400 a minute and
5,000 a day, and orders only from its static IP 127.0.0.1. A randomised plan goes through
:class:`kitekit.orders.LiveBroker` on the official SDK with kitekit's paced transport, as a program would send
it, rules or no rules:

- MARKET orders with no market protection (kitekit gives them Kite's automatic -1), with protection 0 or out
  of range (refused by kitekit), and with a fraction (2.5);
- LIMIT orders on equities (crossing or resting), and on options and futures inside and outside the price
  band around the quote's average price (those outside refused by kitekit, naming the band's edge);
- stop-loss market orders on equities, resting;
- 30-lot option orders above the freeze quantity (``place_sliced``: kitekit cuts them within it);
- bursts of 30 orders at once from 30 threads;
- orders from a second client whose requests leave from 127.0.0.2, not a registered static IP (refused by
  kitekit before sending).

Then the exchange's own list of every order it accepted (``GET /__sim/orders``) is read: the run passes with 0
orders REJECTED, 0 requests Kite refused and 0 × 429 (the simulator's counters and what the client saw).

The baseline sends the same plan with the plain SDK to a fresh simulator, each request as the program wrote it
(``place_order`` with its fields; the second client's requests from 127.0.0.2), paced as a careful program
paces itself, 10 a second by its own clock (a burst is still a burst): what Kite refuses then is what kitekit's
checks and pacing spared.
"""

from __future__ import annotations

import argparse
import logging
import random
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import requests

from bench.common import BENCH_NOW, Figures

ACCOUNT = "KK1234"
EQUITIES = ("INFY", "RELIANCE", "TCS", "HDFCBANK", "ICICIBANK", "SBIN", "ITC", "LT", "AXISBANK", "WIPRO")
FUTURES = ("NIFTY", "BANKNIFTY", "RELIANCE", "SBIN")
#: The kinds of request in a plan, with their weights.
KINDS = {
    "market_unprotected": 22,
    "market_zero": 8,
    "market_out_of_range": 4,
    "market_fraction": 5,
    "limit_equity": 16,
    "band_inside": 10,
    "band_outside": 15,
    "stop_market": 5,
    "thirty_lots": 5,
    "unlisted_ip": 10,
}
BURST = 30


@dataclass
class Tally:
    """What the run saw, by kind of request."""

    sent: Counter[str] = field(default_factory=Counter)
    refused_by_kitekit: Counter[str] = field(default_factory=Counter)
    refused_by_kite: Counter[str] = field(default_factory=Counter)
    too_many: int = 0
    placements: int = 0


def _options(market: Any, low: float, high: float) -> list[str]:
    """Return NIFTY options of the nearest expiry priced in [low, high] at the start."""
    from kitekit.sim.market import ContractKind

    uni = market.universe(BENCH_NOW)
    rows = [i for i in range(len(uni)) if uni.exchange[i] == "NFO" and uni.name[i] == "NIFTY"]
    rows = [i for i in rows if int(uni.kind[i]) in (int(ContractKind.CE), int(ContractKind.PE))]
    nearest = min(uni.expiry[i] for i in rows)
    rows = [i for i in rows if uni.expiry[i] == nearest]
    snap = market.snapshot(uni, np.array(rows), BENCH_NOW)
    return [f"NFO:{uni.symbol[i]}" for i, p in zip(rows, snap.last_price.tolist(), strict=True) if low <= p <= high]


def _futures(market: Any) -> list[str]:
    from kitekit.sim.market import ContractKind

    uni = market.universe(BENCH_NOW)
    out = []
    for name in FUTURES:
        rows = [i for i in range(len(uni)) if uni.exchange[i] == "NFO" and uni.name[i] == name]
        rows = [i for i in rows if int(uni.kind[i]) == int(ContractKind.FUT)]
        out.append(f"NFO:{uni.symbol[min(rows, key=lambda i: uni.expiry[i])]}")
    return out


def plan(n: int, seed: int) -> list[str]:
    """Return ``n`` kinds of request in a random order, with a burst of 30 about every 150."""
    rng = random.Random(seed)
    kinds = rng.choices(list(KINDS), weights=list(KINDS.values()), k=n)
    for _ in range(len(kinds) // 150 + 1):
        spot = rng.randrange(len(kinds))
        kinds[spot : spot + BURST] = ["burst"] * min(BURST, len(kinds) - spot)
    return kinds[:n]


def run(
    orders: int, seed: int, folder: Path, quiet: bool = False, plain: bool = False
) -> tuple[Tally, dict[str, Any], float]:
    """Send a plan of ``orders`` requests to a simulator with the 2026 rules on, through kitekit (or the plain SDK)."""
    from kiteconnect import KiteConnect
    from kiteconnect.exceptions import KiteException

    from kitekit.clock import VirtualClock
    from kitekit.errors import OrderValidationError
    from kitekit.instruments import InstrumentStore
    from kitekit.orders import LiveBroker, LookupPolicy, OrderRequest, PreTradeRules
    from kitekit.orders.rules import nearest_tick
    from kitekit.rest.pacer import Pacer
    from kitekit.rest.transport import KiteTransport, install_transport
    from kitekit.sim import SimConfig, SimServer
    from kitekit.sim.pytest_plugin import login_via_redirect
    from kitekit.wire.price_bands import band_range

    logging.getLogger("kitekit").setLevel(logging.ERROR)
    rng = random.Random(seed + 1)
    clock = VirtualClock(BENCH_NOW + timedelta(seconds=0.37))
    server = SimServer(SimConfig(seed_holdings=False, allowed_ips=("127.0.0.1",)), clock).start()
    tally = Tally()
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        far = KiteConnect(server.sim.config.api_key, access_token=kite.access_token, root=server.url)
        if plain:
            # The plain SDK; the second client only leaves from another address (a transport that never paces).
            far.reqsession.mount("http://", KiteTransport(None, source_address="127.0.0.2"))
        else:
            install_transport(kite, Pacer(None))
            install_transport(far, Pacer(None), source_address="127.0.0.2")  # another address of this machine
        store = InstrumentStore.from_bytes(server.sim.market.universe(BENCH_NOW).dump()[0], BENCH_NOW.date())
        rules = PreTradeRules(static_ips=("127.0.0.1",))
        lookup = LookupPolicy(settle=2.0, looks=3)
        live = LiveBroker(kite, store, folder=folder / "orders", account=ACCOUNT, clock=clock, rules=rules,
                          lookup=lookup)  # fmt: skip
        elsewhere = LiveBroker(far, store, folder=folder / "far", account=ACCOUNT, clock=clock, rules=rules,
                               lookup=lookup)  # fmt: skip
        cheap = _options(server.sim.market, 0.5, 5.0)[:4]
        options = _options(server.sim.market, 5.0, 40.0)[:4] + _options(server.sim.market, 80.0, 300.0)[:4]
        futures = _futures(server.sim.market)
        keys = [f"NSE:{s}" for s in EQUITIES] + cheap + options + futures
        quotes: dict[str, Any] = {}
        fetched = -1.0

        def quote(key: str) -> dict[str, Any]:
            nonlocal quotes, fetched
            if time.monotonic() - fetched > 2.0:  # one /quote call for every instrument now and then
                quotes, fetched = kite.quote(keys), time.monotonic()
            item: dict[str, Any] = quotes[key]
            return item

        def band(key: str) -> tuple[float, float]:
            item = quote(key)
            edges = band_range(live.validator.spec(key), item["average_price"] or item["last_price"])
            if edges is None:
                raise RuntimeError(f"{key} has no price band")
            return edges

        def request(kind: str) -> tuple[LiveBroker, OrderRequest, str]:
            """Return the broker to send through, the request, and its instrument."""
            equity = f"NSE:{rng.choice(EQUITIES)}"
            side = rng.choice(("BUY", "SELL"))
            last = float(quote(equity)["last_price"])
            if kind in ("market_unprotected", "burst"):
                return live, OrderRequest.of(equity, side, rng.randint(1, 3), product="MIS"), equity
            if kind == "market_zero":
                return live, OrderRequest.of(equity, side, 1, product="MIS", market_protection=0), equity
            if kind == "market_out_of_range":
                value = rng.choice((150.0, -0.5, 100.5))
                return live, OrderRequest.of(equity, side, 1, product="MIS", market_protection=value), equity
            if kind == "market_fraction":
                return live, OrderRequest.of(equity, side, 1, product="MIS", market_protection=2.5), equity
            if kind == "unlisted_ip":
                return elsewhere, OrderRequest.of(equity, side, 1, product="MIS"), equity
            if kind == "limit_equity":
                away = rng.choice((0.004, 0.004, -0.03))  # mostly crossing, some resting
                price = last * (1 + away) if side == "BUY" else last * (1 - away)
                return live, OrderRequest.of(equity, side, 1, product="MIS", price=nearest_tick(price, 0.05)), equity
            if kind == "stop_market":
                trigger = nearest_tick(last * (1.03 if side == "BUY" else 0.97), 0.05)
                return live, OrderRequest.of(equity, side, 1, product="MIS", trigger_price=trigger), equity
            if kind == "thirty_lots":
                key = rng.choice(cheap)
                return live, OrderRequest.buy(key, 65 * 30, product="NRML"), key
            if kind == "band_inside":
                key = rng.choice(options)
                low, high = band(key)
                ask = float(quote(key)["last_price"]) + 0.1
                return live, OrderRequest.buy(key, 65, product="NRML", price=nearest_tick(min(ask, high), 0.05)), key
            key = rng.choice(options + futures)  # band_outside
            low, high = band(key)
            tick = live.validator.spec(key).tick_size
            price = high + tick * rng.randint(1, 20) if side == "BUY" or low <= tick else low - tick * rng.randint(1, 5)
            lot = live.validator.spec(key).lot_size
            return live, OrderRequest.of(key, side, lot, product="NRML", price=nearest_tick(price, tick)), key

        def send(number: int, kind: str) -> None:
            broker, req, key = request(kind)
            tally.sent[kind] += 1
            intent = f"k{seed}n{number:05d}"
            try:
                if plain:
                    broker.kite.place_order(**req.to_kite())
                    tally.placements += 1
                elif kind == "thirty_lots":
                    tally.placements += len(broker.place_sliced(req, intent))
                else:
                    broker.place(req, intent, quote=quote(key))
                    tally.placements += 1
            except OrderValidationError as exc:
                tally.refused_by_kitekit[exc.rule] += 1
            except KiteException as exc:
                code = getattr(exc, "code", 0)
                tally.refused_by_kite[f"{type(exc).__name__} {code}"] += 1
                tally.too_many += code == 429

        kinds = plan(orders, seed)
        started = time.monotonic()
        i = 0
        while i < len(kinds):
            if kinds[i] == "burst":
                end = i
                while end < len(kinds) and kinds[end] == "burst":
                    end += 1
                with ThreadPoolExecutor(end - i) as pool:
                    list(pool.map(lambda n: send(n, "burst"), range(i, end)))
                i = end
                continue
            send(i, kinds[i])
            i += 1
            if plain:
                time.sleep(0.1)  # 10 a second, by the program's own clock
            if not quiet and i % 100 == 0:
                print(f"   {i} requests, {time.monotonic() - started:.0f}s", flush=True)
        seconds = time.monotonic() - started
        admin = f"{server.url}/__sim"
        info = requests.get(f"{admin}/info", timeout=5).json()["data"]
        book = requests.get(f"{admin}/orders", timeout=5).json()["data"]
    finally:
        server.stop()
    result = {
        "exchange_orders": len(book),
        "rejected": sum(1 for o in book if o["status"] == "REJECTED"),
        "statuses": Counter(o["status"] for o in book),
        "rate_limited": info["rate_limited"] + info["orders_capped"],
    }
    return tally, result, seconds


def main(argv: list[str]) -> Figures:
    """Run the 2026 rules benchmark; return its figures."""
    parser = argparse.ArgumentParser(prog="bench kite2026")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="80 requests (CI)")
    args = parser.parse_args(argv)
    orders = 80 if args.quick else args.orders
    print(f"-- {orders} randomised order requests through kitekit, every 2026 rule on", flush=True)
    with tempfile.TemporaryDirectory(prefix="kitekit-bench-kite2026-") as tmp:
        tally, result, seconds = run(orders, args.seed, Path(tmp), quiet=args.quick)
    print("-- baseline: the same plan with the plain SDK", flush=True)
    with tempfile.TemporaryDirectory(prefix="kitekit-bench-kite2026-plain-") as tmp:
        base, base_result, base_seconds = run(orders, args.seed, Path(tmp), quiet=True, plain=True)
    print(f"plain SDK: {base_result['rejected']} REJECTED orders at the exchange, "
          f"{sum(base.refused_by_kite.values())} requests Kite refused {dict(sorted(base.refused_by_kite.items()))} "
          f"({base_result['rate_limited']} × 429 at the simulator); {base_seconds:.1f}s")  # fmt: skip
    refused = sum(tally.refused_by_kitekit.values())
    print(f"requests by kind: {dict(sorted(tally.sent.items()))}")
    print(f"refused by kitekit before sending, by rule: {dict(sorted(tally.refused_by_kitekit.items()))} ({refused})")
    print(f"placed: {tally.placements} orders; at the exchange: {result['exchange_orders']} "
          f"{dict(sorted(result['statuses'].items()))}")  # fmt: skip
    kite_refused = sum(tally.refused_by_kite.values())
    print(f"exchange rejections: {result['rejected']} REJECTED orders, {kite_refused} requests Kite refused "
          f"{dict(tally.refused_by_kite) or ''}")  # fmt: skip
    print(f"429s: {result['rate_limited']} at the simulator, {tally.too_many} seen by the client; "
          f"{seconds:.1f}s ({tally.placements / seconds:.1f} orders/s placed)")  # fmt: skip
    ok = result["rejected"] == 0 and kite_refused == 0 and result["rate_limited"] == 0 and tally.too_many == 0
    print(f"0 exchange rejections and 0 × 429: {'yes' if ok else 'NO'}")
    return {
        "requests": float(orders),
        "placed": float(tally.placements),
        "refused_by_kitekit": float(refused),
        "exchange_rejections": float(result["rejected"] + kite_refused),
        "rate_limited": float(result["rate_limited"] + tally.too_many),
        "seconds": seconds,
        "plain_sdk_exchange_rejections": float(base_result["rejected"] + sum(base.refused_by_kite.values())),
        "plain_sdk_rate_limited": float(base_result["rate_limited"]),
    }
