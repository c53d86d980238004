"""What every CLI command shares: settings, the session manager, the consoles, and the simulator choice.

One :class:`CliContext` lives for one command: it resolves settings once, builds one session manager and
one instrument store, and stops the embedded simulator when the command ends. Heavy modules (the SDK,
pandas, the simulator) are imported only by the commands that use them, so ``kitekit --help`` stays fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from kitekit import paths
from kitekit.cli import embedded
from kitekit.cli.reach import simulator_at
from kitekit.clock import Clock, SystemClock
from kitekit.config import Settings, check_url, load_settings
from kitekit.errors import CredentialsRequiredError

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.brokers.broker import BrokerPair
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
    _embedded: embedded.Embedded | None = None
    _manager: SessionManager | None = None
    _store: InstrumentStore | None = None

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
        """Return the settings for this run, starting the embedded simulator if that is what was asked for.

        Raises:
            CredentialsRequiredError: no api_key and no simulator chosen (names both ways out).
        """
        if self._settings is None:
            self.brokers()
            self._settings = self._sim_settings() if self.sim else self._real_settings()
        return self._settings

    def brokers(self) -> BrokerChoice:
        """Return the brokers this run uses (``--broker``/``--data``/``--orders``, ``KITEKIT_BROKER``, config).

        The commands run on Kite; another broker is refused here, before anything starts, until it is built.

        Raises:
            UnknownBrokerError: a broker name kitekit does not know.
            BrokerUnavailableError: a broker kitekit does not offer yet.
        """
        if self._brokers is None:
            from kitekit.brokers.registry import OpenOptions, choose

            broker, data, orders = self.broker_flags
            chosen = choose(broker, data, orders, OpenOptions(config_file=self.config_file))
            from kitekit.brokers.registry import entry
            from kitekit.errors import BrokerUnavailableError

            for name in chosen.names:
                if name != "kite":
                    # Built for Python code, not yet for the commands: running them on Kite instead would
                    # show one broker's data under another's name.
                    label = entry(name).label
                    raise BrokerUnavailableError(
                        f"{label} is not available from kitekit's command line yet: its commands run on Kite "
                        f"Connect. Use {label} from Python (kitekit.brokers.registry.open_pair), or choose "
                        "--broker kite."
                    )
            self._brokers = chosen
        return self._brokers

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
        config = embedded.sim_config(self.data_dir)
        if self.sim_url:
            url = simulator_at(self.sim_url)  # one line, in a second, when no simulator answers there
            self._clock = embedded.remote_clock(url, self.wall)
        else:
            self._clock = embedded.world_clock(
                self.data_dir, self.wall, at=self.sim_at, speed=self.sim_speed, fresh=self.sim_fresh
            )
            server = embedded.sim_server(config, self._clock)
            self._embedded = server.start()
            url = server.url
        embedded.banner(self.err, url, embedded=self._embedded is not None)
        # Real credentials never go to a simulator: it gets its own documented defaults.
        return embedded.sim_settings(config, url)

    @property
    def clock(self) -> Clock:
        """Return the one clock of this run: a simulator's market time on a simulator, IST wall time on Kite.

        Every "now" the command shows or decides by (session expiry, closed candles, order times, monitor
        stamps, file names) comes from it, so nothing mixes a simulated session with the wall clock.
        """
        if not self.sim:
            return self.wall
        self.settings()
        assert self._clock is not None  # noqa: S101 - set by settings() for every simulator
        return self._clock

    # -- sessions ----------------------------------------------------------------------------------
    @property
    def login_hint(self) -> str:
        """Return the command that logs in again for this run's choice of Kite or simulator."""
        return "kitekit --sim login" if self.sim else "kitekit login"

    def session_store(self) -> SessionStore:
        """Return where this run's api_key keeps its saved session (no SDK import: ``status`` stays fast)."""
        from kitekit.session.record import SessionStore

        settings = self.settings()
        settings.require("api_key")
        return SessionStore.for_api_key(settings.api_key or "", self.data_dir / "sessions")

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
        if self.sim and manager.valid() is None:
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

    def broker_pair(self) -> BrokerPair:
        """Return this run's brokers behind the neutral interfaces, on this run's session, store and clock.

        Raises:
            UnknownBrokerError, BrokerUnavailableError: as :meth:`brokers`.
        """
        from kitekit.brokers.broker import BrokerPair
        from kitekit.brokers.kite.broker import KiteBroker

        self.settings()  # every broker chosen is Kite until another is built (brokers() refuses the rest)
        kite = KiteBroker(self.manager(), self.store())
        return BrokerPair(kite, kite)

    def market_data(self) -> MarketData:
        """Return the batched quotes layer on the saved session's client, resolving names with the store."""
        from kitekit.quotes import MarketData

        return MarketData(self.kite(), resolve=self.store().key)

    def close(self) -> None:
        """Stop the embedded simulator, if one runs."""
        if self._embedded is not None:
            self._embedded.stop()
            self._embedded = None
