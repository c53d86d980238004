"""What every CLI command shares: settings, the session manager, the consoles, and the simulator choice.

One :class:`CliContext` lives for one command: it resolves settings once, builds one session manager and
one instrument store, and stops the embedded simulator when the command ends. Heavy modules (the SDK,
pandas, the simulator's server) are imported only by the commands that use them, so ``kitekit --help`` stays
fast. On a simulator, the clock, the api_key and the folders come from the world on disk and its documented
config: a command that reads only local state (``instruments find`` on a warm cache, ``status`` with no
session) starts nothing, and the embedded simulator's server starts on the first request made to it.

The brokers chosen (``--broker``, ``--data``, ``--orders``) are opened here too (:meth:`CliContext.broker`,
:meth:`CliContext.broker_pair`): Kite on the session manager and store above, Upstox and Angel One from their
credentials, or on ``--sim`` on their own embedded simulator over the same world. Commands run Kite's own code
when Kite is the only broker chosen (:attr:`CliContext.on_kite`) and the neutral interfaces otherwise.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from kitekit import paths
from kitekit.cli import embedded
from kitekit.cli.reach import simulator_at
from kitekit.clock import Clock, SystemClock
from kitekit.config import Settings, check_url, load_settings
from kitekit.errors import CredentialsRequiredError

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.brokers.broker import Broker, BrokerPair
    from kitekit.brokers.selection import BrokerChoice
    from kitekit.instruments import InstrumentStore, Progress
    from kitekit.quotes import MarketData
    from kitekit.session.manager import SessionManager
    from kitekit.session.record import SessionStore

__all__ = ["CliContext"]


#: Width for output that goes to a file or a pipe: wide enough for every table's columns to stay whole.
PIPED_WIDTH = 200


def _stdout_console() -> Console:
    """Return the console for results, as wide as the terminal, or :data:`PIPED_WIDTH` when piped."""
    console = Console()
    # Into a file or a cron log there is no screen to fit, and rich's default of 80 columns would cut order
    # ids and symbols to "…"; COLUMNS, when set, still decides.
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(width=PIPED_WIDTH)
    return console


@dataclass
class CliContext:
    """Per-invocation state of the ``kitekit`` command."""

    sim: bool = False
    sim_url: str | None = None
    config_file: Path | None = None
    console: Console = field(default_factory=_stdout_console)
    err: Console = field(default_factory=lambda: Console(stderr=True))
    #: The machine's clock: the one clock against Kite; against a simulator only TOTP codes follow it.
    wall: Clock = field(default_factory=SystemClock)
    #: The embedded simulator's world: where it is kept, the instant a new one starts at, its speed, a fresh start.
    sim_state: Path | None = None
    sim_at: datetime | None = None
    sim_speed: float = 1.0
    sim_fresh: bool = False
    #: ``--broker``, ``--data`` and ``--orders`` as given (None: not given).
    broker_flags: tuple[str | None, str | None, str | None] = (None, None, None)
    _settings: Settings | None = None
    _brokers: BrokerChoice | None = None
    _clock: Clock | None = None
    _embedded: embedded.KiteSimulator | None = None
    _manager: SessionManager | None = None
    _store: InstrumentStore | None = None
    #: Each broker opened by this command, by name; and the embedded simulators of brokers other than Kite.
    _opened: dict[str, Broker] = field(default_factory=dict)
    _other_sims: dict[str, embedded.EmbeddedSimulator[Any]] = field(default_factory=dict)

    @classmethod
    def from_env(
        cls,
        sim: bool | None,
        sim_url: str | None,
        config_file: Path | None,
        *,
        sim_state: Path | None = None,
        sim_at: datetime | None = None,
        sim_fresh: bool = False,
    ) -> CliContext:
        """Build the context from flags, falling back to ``KITE_SIM``, ``KITE_SIM_URL``, ``KITE_SIM_STATE``,
        ``KITE_SIM_AT`` and ``KITE_CONFIG``.

        Raises:
            ConfigError: a malformed simulator URL.
            ValueError: a ``KITE_SIM_AT`` that is not an instant.
        """
        url = sim_url or os.environ.get("KITE_SIM_URL") or None
        if url is not None:
            check_url(url, "simulator URL (--sim-url or KITE_SIM_URL)")
        use_sim = bool(sim) or bool(url) or (sim is None and paths.env_sim()[0])
        state = sim_state or (Path(os.environ["KITE_SIM_STATE"]) if os.environ.get("KITE_SIM_STATE") else None)
        at = sim_at
        if at is None and os.environ.get("KITE_SIM_AT"):
            from kitekit.cli.options import parse_instant

            at = parse_instant(os.environ["KITE_SIM_AT"])
        return cls(sim=use_sim, sim_url=url, config_file=config_file, sim_state=state, sim_at=at, sim_fresh=sim_fresh)

    @property
    def data_dir(self) -> Path:
        """Return where this run keeps its sessions: per simulator, so simulators never spoil each other's.

        The embedded simulator's folder is also its world (``--sim-state``, default under the data dir).
        """
        return paths.sim_home(self.sim_url, self.sim_state) if self.sim else paths.base_data_dir()

    # -- settings ----------------------------------------------------------------------------------
    def settings(self) -> Settings:
        """Return the settings for this run; on the embedded simulator, its URL (it starts on the first request).

        Raises:
            CredentialsRequiredError: no api_key and no simulator chosen (names both ways out).
        """
        if self._settings is None:
            self.brokers()
            self._settings = self._sim_settings() if self.sim else self._real_settings()
        return self._settings

    def brokers(self) -> BrokerChoice:
        """Return the brokers this run uses (``--broker``/``--data``/``--orders``, ``KITEKIT_BROKER``, config).

        Raises:
            UnknownBrokerError: a broker name kitekit does not know.
            BrokerUnavailableError: a broker kitekit does not offer yet.
        """
        if self._brokers is None:
            from kitekit.brokers.registry import OpenOptions, choose

            broker, data, orders = self.broker_flags
            self._brokers = choose(broker, data, orders, OpenOptions(config_file=self.config_file))
        return self._brokers

    @property
    def on_kite(self) -> bool:
        """Return True when every broker chosen is Kite: the commands then run on Kite's own packages, as always."""
        return self.brokers().names == ("kite",)

    def require_kite(self, what: str, role: str = "both") -> None:
        """Refuse an extra only Kite offers (GTTs, alerts...) when another broker is chosen for ``role``.

        Args:
            what: the extra, as the message names it (``"GTT orders"``).
            role: whose broker must be Kite: ``"data"``, ``"orders"`` or ``"both"``.

        Raises:
            BrokerFeatureError: another broker was chosen (exit 2); the message names it and the way out.
        """
        from kitekit.brokers.registry import entry
        from kitekit.errors import BrokerFeatureError

        chosen = self.brokers()
        roles = {"data": ("data_broker",), "orders": ("order_broker",)}.get(role, ("data_broker", "order_broker"))
        for setting in roles:
            name = chosen.data if setting == "data_broker" else chosen.orders
            if name != "kite":
                source = chosen.sources.get(setting, "the configuration")
                raise BrokerFeatureError(
                    f"{what} is offered on Kite Connect only, and this run uses {entry(name).label} (from {source}). "
                    "Run it with --broker kite."
                )

    def _real_settings(self) -> Settings:
        settings = load_settings(config_file=self.config_file)
        if not settings.api_key:
            raise CredentialsRequiredError(
                "No Kite credentials found. Either:\n"
                "  • give your Kite Connect app's credentials: set KITE_API_KEY and KITE_API_SECRET (environment "
                'or a .env file), or put {"api_key": "...", "api_secret": "..."} in config.json; or\n'
                "  • run against the built-in simulator: add --sim (or set KITE_SIM=1). Simulated data is "
                "clearly marked and never real."
            )
        return settings

    def _sim_settings(self) -> Settings:
        market = self.clock  # the world first: a fresh one is made before anything reads or serves it
        config = embedded.sim_config(self.data_dir)
        if self.sim_url:
            url = self.sim_url  # found answering by the clock's first reading
        else:
            self._embedded = embedded.EmbeddedSimulator.kite(config, market)
            url = self._embedded.url
        # Real credentials never go to a simulator: it gets its own documented defaults.
        return embedded.sim_settings(config, url)

    @property
    def clock(self) -> Clock:
        """Return the one clock of this run: a simulator's market time on a simulator, IST wall time on Kite.

        Every "now" the command shows or decides by (session expiry, closed candles, order times, monitor
        stamps, file names) comes from it, so nothing mixes a simulated session with the wall clock. The
        embedded simulator's is its world's, read from disk (the server, when it starts, follows the same one);
        a running simulator's is asked once.
        """
        if not self.sim:
            return self.wall
        if self._clock is None:
            if self.sim_url:
                url = simulator_at(self.sim_url)  # one line, in a second, when no simulator answers there
                self._clock = embedded.remote_clock(url, self.wall)
                where = f"simulator at {url}"
            else:
                self._clock = embedded.world_clock(
                    self.data_dir, self.wall, at=self.sim_at, speed=self.sim_speed, fresh=self.sim_fresh
                )
                where = f"embedded simulator, its world in {self.data_dir}"
            embedded.banner(self.err, where)
        return self._clock

    def api_key(self) -> str:
        """Return this run's api_key; a simulator's documented one needs neither settings nor a running server.

        Raises:
            CredentialsRequiredError: no api_key and no simulator chosen (names both ways out).
        """
        if not self.sim:
            settings = self.settings()
            settings.require("api_key")
            return settings.api_key or ""
        self.clock  # noqa: B018 - the world first: a fresh one has removed the sessions this key opens
        return embedded.sim_config(self.data_dir).api_key

    # -- sessions ----------------------------------------------------------------------------------
    @property
    def login_hint(self) -> str:
        """Return the command that logs in again for this run's choice of Kite or simulator."""
        return "kitekit --sim login" if self.sim else "kitekit login"

    def login_hint_for(self, name: str) -> str:
        """Return the command that logs in again to broker ``name`` (Kite's is :attr:`login_hint`)."""
        if name == "kite":
            return self.login_hint
        return f"kitekit {'--sim ' if self.sim else ''}--broker {name} login"

    def session_store(self) -> SessionStore:
        """Return where this run's api_key keeps its saved session (no SDK import: ``status`` stays fast)."""
        from kitekit.session.record import SessionStore

        return SessionStore.for_api_key(self.api_key(), self.data_dir / "sessions")

    def manager(self) -> SessionManager:
        """Return this command's session manager (built once)."""
        if self._manager is None:
            from kitekit.session.manager import SessionManager

            store = self.session_store()
            self._manager = SessionManager(
                self.settings(), store, clock=self.clock, login_hint=self.login_hint, totp_clock=self.wall
            )
        return self._manager

    def kite(self, verify: bool | None = None) -> KiteConnect:
        """Return a verified ``KiteConnect`` for the saved session.

        On a simulator, whose credentials are public, a missing, expired or rejected session is renewed by itself.
        """
        manager = self.manager()
        if self._embedded is not None:
            # A client is handed out to make requests: its server starts now rather than behind the first one,
            # which would wait out its timeout under load (an order POST, above all, is never sent twice).
            self._embedded.start()
        if self.sim and manager.valid() is None:
            # Two commands started at once on a fresh world (a run and the dashboard) would both log in, the
            # second ending the first's session mid-start: whoever holds the session file's lock logs in, and the
            # other finds that session when it gets the lock.
            with manager.store.locked():
                if manager.valid() is None:
                    self.sim_login()
        if not self.sim:
            return manager.get_kite(verify=verify)
        from kitekit.errors import SessionExpiredError

        try:
            return manager.get_kite(verify=verify)
        except SessionExpiredError:  # the simulator ended it (a new day, a reset): its login is public
            self.sim_login()
            return manager.get_kite(verify=verify)

    def sim_login(self) -> None:
        """Log in to the simulator with its documented credentials (its TOTP login needs no browser)."""
        self.err.print("Logging in to the simulator with its documented credentials…")
        self.manager().login_with_totp()

    def store(self, show_progress: bool = True) -> InstrumentStore:
        """Return the instrument store; it downloads (with a progress bar) only when today's dump is missing."""
        if self._store is None:
            from kitekit.instruments import InstrumentStore

            self._store = InstrumentStore(
                self.instruments_dir, self._download if show_progress else self._download_quietly, clock=self.clock
            )
        return self._store

    @property
    def instruments_dir(self) -> Path:
        """Return where this run's instrument dumps are cached."""
        # A simulator's dumps live in its world: another world (a --seed, another day) lists other ones.
        return (self.data_dir / "cache" if self.sim else paths.base_cache_dir()) / "instruments"

    def _download(self, exchange: str | None, progress: Progress | None) -> bytes:
        from kitekit.cli.progress import DownloadBar
        from kitekit.instruments import fetch_dump

        kite = self.kite()  # logged in (or failed, in one line) before the bar is drawn
        with DownloadBar(self.err, f"instruments {exchange or 'all exchanges'}") as bar:
            return fetch_dump(kite, exchange, bar.update)

    def _download_quietly(self, exchange: str | None, progress: Progress | None) -> bytes:
        from kitekit.instruments import fetch_dump

        return fetch_dump(self.kite(), exchange, progress)

    def broker(self, name: str) -> Broker:
        """Return broker ``name`` behind the neutral interfaces, opened once for this command, not logged in.

        Kite is this run's session manager and instrument store. Another broker is opened from its credentials
        (:mod:`kitekit.brokers.registry`), or, on a simulator, on its embedded simulator over this run's world:
        the same market clock and accounts, its public credentials, its files in the world's folder.

        Raises:
            CredentialsRequiredError: a required credential is missing (the message names it).
            BrokerFeatureError: ``--sim-url`` with a broker other than Kite.
        """
        if name not in self._opened:
            if name == "kite":
                from kitekit.brokers.kite.broker import KiteBroker

                self.settings()
                self._opened[name] = KiteBroker(self.manager(), self.store())
            elif self.sim:
                self._opened[name] = self._open_on_sim(name)
            else:
                from kitekit.brokers.registry import OpenOptions, open_broker

                options = OpenOptions(
                    config_file=self.config_file, clock=self.wall, login_hint=self.login_hint_for(name)
                )
                self._opened[name] = open_broker(name, options)
        return self._opened[name]

    def _open_on_sim(self, name: str) -> Broker:
        from kitekit.brokers.registry import entry
        from kitekit.errors import BrokerFeatureError

        if self.sim_url:
            raise BrokerFeatureError(
                f"--sim-url (KITE_SIM_URL) reaches a running Kite simulator; {entry(name).label} runs on the "
                f"embedded one here: drop --sim-url and use --sim with --broker {name}."
            )
        market, home = self.clock, self.data_dir
        cache = home / "cache" / "instruments" / name
        if name == "upstox":
            from kitekit.brokers.upstox import UpstoxApp, UpstoxBroker, UpstoxSession

            webhook = f"http://127.0.0.1:{embedded.free_port()}/upstox/webhook"
            server = embedded.EmbeddedSimulator(embedded.upstox_server(home, market, webhook))
            self._other_sims[name] = server
            given = embedded.upstox_defaults()
            app = UpstoxApp(
                api_key=given["api_key"],
                api_secret=given["api_secret"],
                redirect_url=given["redirect_url"],
                webhook_url=webhook,
                base_url=server.url,
                dump_url=f"{server.url}/market-quote/instruments/exchange/complete.json.gz",
            )
            session = UpstoxSession(
                app, home / "sessions" / "upstox.json", clock=market, login_hint=self.login_hint_for(name)
            )
            return UpstoxBroker(session, cache)
        from kitekit.brokers.angel.broker import AngelBroker
        from kitekit.brokers.angel.client import angel_pacer
        from kitekit.brokers.angel.session import AngelCredentials, AngelSession
        from kitekit.rest.client import pacer_path
        from kitekit.wire.angel.scrip import SCRIP_MASTER_PATH

        server = embedded.EmbeddedSimulator(embedded.angel_server(home, market))
        self._other_sims[name] = server
        given = embedded.angel_defaults()
        creds = AngelCredentials(given["api_key"], given["client_code"], given["pin"], given["totp_secret"], server.url)
        angel = AngelSession(
            creds,
            home / "sessions" / f"angel-{creds.client_code}.json",
            clock=market,
            totp_clock=self.wall,
            pacer=angel_pacer(pacer_path()),
            login_hint=self.login_hint_for(name),
        )
        ws = server.url.replace("http", "ws", 1)
        return AngelBroker(
            angel,
            cache,
            scrip_url=server.url + SCRIP_MASTER_PATH,
            stream_url=f"{ws}/smart-stream",
            order_update_url=f"{ws}/smart-order-update",
        )

    def online(self, name: str, login: bool = True) -> Broker:
        """Return broker ``name`` ready for requests: on a simulator, its server started and a session opened.

        A simulator's credentials are public: a missing or ended session is renewed by its unattended login
        (unless ``login`` is False: a public download, or the login command itself).
        """
        broker = self.broker(name)
        if name == "kite":
            if login:
                self.kite()
            return broker
        server = self._other_sims.get(name)
        if server is not None:
            server.start()  # now, rather than behind the first request's timeout (an order POST is never resent)
            if login:
                from kitekit.brokers.session import keep_or_login

                # Its world keeps the sessions an earlier command (or one running beside it) saved, as Kite's does;
                # one it no longer accepts is made again, once, under the session's lock.
                label = broker.capabilities.label
                keep_or_login(
                    broker.session,
                    lambda: self.err.print(f"Logging in to the {label} simulator with its documented credentials…"),
                )
        return broker

    def broker_pair(self) -> BrokerPair:
        """Return this run's data and order brokers behind the neutral interfaces, ready for requests.

        Raises:
            UnknownBrokerError, BrokerUnavailableError: as :meth:`brokers`.
        """
        from kitekit.brokers.broker import BrokerPair

        chosen = self.brokers()
        data = self.online(chosen.data)
        return BrokerPair(data, data if chosen.orders == chosen.data else self.online(chosen.orders))

    def orders_folder(self, name: str, live: bool) -> Path:
        """Return where broker ``name``'s paper ledger (or, ``live``, its order journal) is kept on this run.

        Kite's are where they always were; another broker's beside them in a folder of its own.
        """
        folder = self.data_dir / ("orders" if live else "paper")
        return folder if name == "kite" else folder / name

    def market_data(self) -> MarketData:
        """Return the batched quotes layer on the saved session's client, resolving names with the store."""
        from kitekit.quotes import MarketData

        return MarketData(self.kite(), resolve=self.store().key)

    def close(self) -> None:
        """Stop the embedded simulator, if one was set up (a server never started has nothing to wait for)."""
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
        while self._other_sims:
            self._other_sims.popitem()[1].stop()
