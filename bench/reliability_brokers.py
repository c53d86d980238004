"""The reliability run's broker: its simulator, the login, and the worker's live gateway, for Kite, Upstox or Angel.

Part of ``./dev bench reliability --broker kite|upstox|angel``. The run itself (the plan, the order faults, the
kills, the comparison with the exchange's own list) is the same for every broker: :mod:`bench.bench_reliability`.
Here is only what differs:

- :func:`start` runs the broker's simulator in this process with its own limits on and its market open (Friday
  11:00 IST, in real time), logs in with kitekit's session for that broker, caches the instruments in the run's
  folder and reads the plan's prices. Angel's hourly cap on order requests (1,000) is lifted: a thousand intents
  and their re-sends would take longer than an hour there, and the run is about faults, not that cap.
- :func:`gateway` builds the worker's :class:`~kitekit.orders.live.LiveBroker` over the broker's client, with the
  run's short timeout (so a slow acknowledgement is a fault) and a pacer shared through the folder.
"""

from __future__ import annotations

import argparse
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import BENCH_NOW

__all__ = ["BROKERS", "Side", "add_worker_arguments", "gateway", "start"]

#: The brokers the run takes.
BROKERS = ("kite", "upstox", "angel")


@dataclass
class Side:
    """One broker's simulator as the run drives it.

    Args:
        url: the simulator's root URL (its admin API at ``/__sim``).
        account: the journal's account (the simulator's user).
        token: the session's token for the worker (kept out of argv: it goes in the environment).
        prices: the last price of each symbol, ``{"INFY": 1520.5}``.
        args: the worker's extra arguments.
    """

    url: str
    account: str
    token: str
    prices: dict[str, float]
    args: list[str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def start(broker: str, folder: Path, symbols: tuple[str, ...]) -> Iterator[Side]:
    """Run ``broker``'s simulator, log in and cache what the worker needs in ``folder``; stop it on exit."""
    from kitekit.clock import VirtualClock

    clock = VirtualClock(BENCH_NOW)
    wall = ["--wall-start", repr(time.time())]
    if broker == "kite":
        with _kite(folder, symbols, clock) as side:
            yield side
    elif broker == "upstox":
        with _upstox(folder, symbols, clock) as side:
            side.args += wall
            yield side
    else:
        with _angel(folder, symbols, clock) as side:
            side.args += wall
            yield side


@contextmanager
def _kite(folder: Path, symbols: tuple[str, ...], clock: Any) -> Iterator[Side]:
    from kiteconnect import KiteConnect

    from kitekit.sim import SimConfig, SimServer
    from kitekit.sim.pytest_plugin import login_via_redirect

    server = SimServer(SimConfig(seed_holdings=False), clock).start()
    try:
        kite = KiteConnect(server.sim.config.api_key, root=server.url)
        login_via_redirect(server, kite)
        # The day's universe built here, not on the first quote: seconds on a busy machine, past the SDK's 7 s.
        server.sim.market.universe(clock.now())
        prices = {key[4:]: item["last_price"] for key, item in kite.ltp([f"NSE:{s}" for s in symbols]).items()}
        (folder / "dump.csv").write_bytes(server.sim.market.universe(BENCH_NOW).dump()[0])
        args = ["--api-key", server.sim.config.api_key, "--day", BENCH_NOW.date().isoformat()]
        yield Side(server.url, server.sim.config.user_id, kite.access_token, prices, args)
    finally:
        server.stop()


@contextmanager
def _upstox(folder: Path, symbols: tuple[str, ...], clock: Any) -> Iterator[Side]:
    from kitekit.brokers.upstox import UpstoxApp, UpstoxBroker, UpstoxSession
    from kitekit.sim import SimConfig
    from kitekit.sim.upstox import UpstoxServer
    from kitekit.sim.upstox.config import UpstoxSimConfig

    server = UpstoxServer(UpstoxSimConfig(shared=SimConfig(seed_holdings=False)), clock).start()
    try:
        config = server.sim.config
        config.auto_approve_requests = True
        config.notifier_url = f"http://127.0.0.1:{_free_port()}/upstox/webhook"
        app = UpstoxApp(
            api_key=config.client_id,
            api_secret=config.client_secret,
            redirect_url=config.redirect_uri,
            webhook_url=config.notifier_url,
            base_url=server.url,
            dump_url=f"{server.url}/market-quote/instruments/exchange/complete.json.gz",
        )
        session = UpstoxSession(app, folder / "sessions" / "upstox.json", clock=clock, webhook_timeout=30.0)
        broker = UpstoxBroker(session, folder / "instruments")
        session.login_unattended()
        quotes = broker.quotes().ltp(*[f"NSE:{s}" for s in symbols])
        prices = {str(key)[4:]: quote.last_price for key, quote in quotes.items()}
        args = ["--api-key", config.client_id, "--day", BENCH_NOW.date().isoformat()]
        yield Side(server.url, config.shared.user_id, session.access_token(), prices, args)
    finally:
        server.stop()


@contextmanager
def _angel(folder: Path, symbols: tuple[str, ...], clock: Any) -> Iterator[Side]:
    from kitekit.brokers.angel.broker import AngelBroker
    from kitekit.brokers.angel.session import AngelCredentials, AngelSession
    from kitekit.clock import SystemClock
    from kitekit.sim.angel.config import AngelSimConfig
    from kitekit.sim.angel.server import AngelSimServer
    from kitekit.wire.angel.routes import RATE_LIMITS, RateLimit, Route
    from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH

    server = AngelSimServer(AngelSimConfig(seed_holdings=False), clock).start()
    try:
        orders = RATE_LIMITS[Route.ORDER_PLACE]
        server.angel.limiter.limits[Route.ORDER_PLACE] = RateLimit(orders.per_second, orders.per_minute)
        cfg = server.angel.config
        credentials = AngelCredentials(cfg.api_key, cfg.client_code, cfg.pin, cfg.totp_secret, server.url)
        # TOTP codes follow the wall, on both sides (the simulator's default), not the market's clock.
        session = AngelSession(credentials, folder / "sessions" / "angel.json", clock=clock, totp_clock=SystemClock())
        broker = AngelBroker(session, folder / "instruments", scrip_url=server.url + SCRIP_MASTER_PATH)
        session.login_unattended()
        quotes = broker.quotes().ltp(*[f"NSE:{s}" for s in symbols])
        prices = {str(key)[4:]: quote.last_price for key, quote in quotes.items()}
        saved = session.stored()
        if saved is None:
            raise RuntimeError("the Angel login saved no session")
        args = ["--api-key", cfg.api_key, "--client-code", cfg.client_code]
        yield Side(server.url, cfg.client_code, saved.jwt, prices, args)
    finally:
        server.stop()


def gateway(args: argparse.Namespace, on_step: Any = None) -> Any:
    """Return the worker's live gateway on ``args.broker`` (``KITEKIT_BENCH_TOKEN`` holds the session's token)."""
    from kitekit.clock import VirtualClock
    from kitekit.orders import LiveBroker, LookupPolicy

    folder = Path(args.folder)
    token = os.environ["KITEKIT_BENCH_TOKEN"]
    lookup = LookupPolicy(settle=args.settle, looks=4, max_sends=8)
    options: dict[str, Any] = {"folder": folder / "orders", "account": args.account, "lookup": lookup}
    if on_step is not None:
        options["on_step"] = on_step
    if args.broker == "kite":
        from datetime import date

        from kiteconnect import KiteConnect

        from kitekit.instruments import InstrumentStore
        from kitekit.rest.pacer import Pacer
        from kitekit.rest.transport import install_transport

        store = InstrumentStore.from_bytes((folder / "dump.csv").read_bytes(), date.fromisoformat(args.day))
        kite = KiteConnect(args.api_key, access_token=token, root=args.url, timeout=args.timeout)
        install_transport(kite, Pacer(folder / "pacing.sqlite3"))
        return LiveBroker(kite, store, **options)
    # The simulator's clock started at BENCH_NOW when the run began; this one tells the same time.
    clock = VirtualClock(BENCH_NOW + timedelta(seconds=time.time() - args.wall_start))

    def cached() -> bytes:
        raise RuntimeError("the run cached the instruments before starting the worker")

    if args.broker == "upstox":
        from kitekit.brokers.capabilities import Endpoint
        from kitekit.brokers.upstox.capabilities import UPSTOX_CAPABILITIES
        from kitekit.brokers.upstox.client import UpstoxClient, pacer_for
        from kitekit.brokers.upstox.instruments import UpstoxInstruments
        from kitekit.brokers.upstox.orders import UpstoxOrderClient
        from kitekit.wire.routes import EndpointClass

        pacer = pacer_for(UPSTOX_CAPABILITIES, folder / "pacing.sqlite3")
        # A run's orders and re-sends (some 1,200 for 1,000 intents) stay within Upstox's 2,000 per 30 minutes,
        # so orders are paced at its per-minute cap (500) rather than the half hour's 1.1 a second: a run takes
        # minutes, not twenty. The simulator enforces every window either way.
        minute = min(w.per_second for w in UPSTOX_CAPABILITIES.rates[Endpoint.ORDER] if w.seconds <= 60)
        pacer.rates = {**pacer.rates, EndpointClass.ORDER: minute}
        client = UpstoxClient(args.url, token=lambda: token, api_key=args.api_key, pacer=pacer, timeout=args.timeout)
        keys = UpstoxInstruments(folder / "instruments", cached, clock)
        return LiveBroker(UpstoxOrderClient(client, keys), keys.rule_facts(), clock=clock, **options)
    from kitekit.brokers.angel.client import AngelClient, angel_pacer
    from kitekit.brokers.angel.instruments import AngelInstruments
    from kitekit.brokers.angel.orders import live_broker

    pacer = angel_pacer(folder / "pacing.sqlite3")
    angel = AngelClient(args.api_key, args.client_code, args.url, token, pacer=pacer, timeout=args.timeout)
    return live_broker(angel, AngelInstruments(cached, folder / "instruments", clock), clock=clock, **options)


def add_worker_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the worker's broker arguments (beside the run's own)."""
    parser.add_argument("--account", help=argparse.SUPPRESS)
    parser.add_argument("--client-code", help=argparse.SUPPRESS)
    parser.add_argument("--wall-start", type=float, default=0.0, help=argparse.SUPPRESS)
