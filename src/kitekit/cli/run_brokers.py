"""The brokers of ``kitekit run`` (``--broker``, ``--data``, ``--orders``) as a BrokerPair, on simulators with --sim.

Kite alone keeps the runner's Kite path (``cli/run_cmd.py``), as before. Any other choice (``--broker upstox``,
``--broker angel``, ``--data angel --orders kite``) runs through the neutral interfaces: with ``--sim`` each broker
other than Kite gets its own simulator started for the command on the world of the embedded Kite simulator
(one market, one clock, as ``kitekit sim --broker NAME`` serves it), logged in with its documented credentials;
without it each is opened from its credentials and its saved session (``kitekit.brokers.registry``).

This lives beside ``cli/context.py`` rather than in it: the context still refuses a broker other than Kite
for the commands not yet ported, and ``run`` handles its brokers itself.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kitekit.cli import embedded

if TYPE_CHECKING:
    from kitekit.brokers.broker import Broker, BrokerPair
    from kitekit.brokers.selection import BrokerChoice
    from kitekit.cli.context import CliContext

__all__ = ["RunBrokers", "choice_of"]


def choice_of(cli: CliContext) -> BrokerChoice:
    """Return the brokers the run uses (flags, ``KITEKIT_BROKER``…, config), each one kitekit can open.

    Raises:
        UnknownBrokerError, BrokerUnavailableError: as :func:`kitekit.brokers.registry.choose`.
    """
    from kitekit.brokers.registry import OpenOptions, choose

    broker, data, orders = cli.broker_flags
    return choose(broker, data, orders, OpenOptions(config_file=cli.config_file))


def _webhook() -> str:
    """Return a loopback URL on a free port for Upstox's token request to post the token to."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/upstox/webhook"


class RunBrokers:
    """The brokers of one run, opened once, and the simulators started for them (stopped by :meth:`close`).

    Args:
        cli: the command's context (its simulator choice, world, clock and data dir).
        choice: the brokers chosen.
    """

    def __init__(self, cli: CliContext, choice: BrokerChoice) -> None:
        self.cli = cli
        self.choice = choice
        self._sims: list[embedded.BrokerSimulator] = []
        self._pair: BrokerPair | None = None

    def pair(self) -> BrokerPair:
        """Return the data broker and the order broker, logged in (on simulators: logged in here)."""
        if self._pair is None:
            from kitekit.brokers.broker import BrokerPair

            opened = {name: self._open(name) for name in self.choice.names}
            self._pair = BrokerPair(opened[self.choice.data], opened[self.choice.orders])
        return self._pair

    def label(self) -> str:
        """Return the brokers in words: ``Upstox``, or ``Angel One SmartAPI data, Kite Connect orders``."""
        pair = self.pair()
        if not pair.mixed:
            return pair.data.capabilities.label
        return f"{pair.data.capabilities.label} data, {pair.order_broker.capabilities.label} orders"

    def _open(self, name: str) -> Broker:
        cli = self.cli
        if name == "kite":
            from kitekit.brokers.kite.broker import KiteBroker

            # The context's Kite parts (the embedded simulator, its session, its store), as every command uses
            # them; its broker check is answered here (see the module docstring).
            cli._brokers = self.choice
            cli.kite()  # logged in now (a simulator's public login), not behind the first order
            return KiteBroker(cli.manager(), cli.store())
        if not cli.sim:
            from kitekit.brokers.registry import OpenOptions, open_broker

            return open_broker(name, OpenOptions(config_file=cli.config_file, clock=cli.clock))
        return self._on_sim(name)

    def _on_sim(self, name: str) -> Broker:
        cli = self.cli
        market = cli.clock  # the world first: the simulator follows its market
        home = cli.data_dir
        # The instrument cache every other command on this simulator keeps (cli/context.py): parsed once a day.
        sessions, cache = home / "sessions", home / "cache" / "instruments" / name
        hint = f"kitekit --sim --broker {name} run"
        if name == "upstox":
            from kitekit.brokers.upstox import UpstoxApp, UpstoxBroker, UpstoxSession

            webhook = _webhook()
            sim = self._start(name, home, market, webhook)
            given = sim.credentials
            app = UpstoxApp(
                api_key=given["api_key"],
                api_secret=given["api_secret"],
                redirect_url=given["redirect_url"],
                webhook_url=webhook,
                base_url=given["base_url"],
                dump_url=given["dump_url"],
            )
            upstox = UpstoxSession(app, sessions / "upstox.json", clock=market, login_hint=hint)
            if upstox.valid() is None:
                upstox.login_unattended()
            return UpstoxBroker(upstox, cache)
        from kitekit.brokers.angel.broker import AngelBroker
        from kitekit.brokers.angel.client import angel_pacer
        from kitekit.brokers.angel.session import AngelCredentials, AngelSession
        from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH

        sim = self._start(name, home, market, None)
        given = sim.credentials
        credentials = AngelCredentials(
            given["api_key"], given["client_code"], given["pin"], given["totp_secret"], given["root"]
        )
        angel = AngelSession(
            credentials,
            sessions / f"angel-{credentials.client_code}.json",
            clock=market,
            totp_clock=market,
            pacer=angel_pacer(),
            login_hint=hint,
        )
        if angel.valid() is None:
            angel.login_unattended()
        return AngelBroker(
            angel,
            cache,
            scrip_url=given["root"] + SCRIP_MASTER_PATH,
            stream_url=given["stream_url"],
            order_update_url=given["order_update_url"],
        )

    def _start(self, name: str, home: Path, market: Any, webhook: str | None) -> embedded.BrokerSimulator:
        sim = embedded.start_broker_sim(name, home, market, webhook_url=webhook)
        self._sims.append(sim)
        return sim

    def close(self) -> None:
        """Stop the simulators started for the run."""
        while self._sims:
            self._sims.pop().stop()
