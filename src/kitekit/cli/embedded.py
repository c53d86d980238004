"""Wiring the simulator into the CLI: its clock, its config, its banner, and client settings for it.

With ``cli/library.py`` (``get_kite()`` on a simulator) and ``cli/sim_cmd.py`` (``kitekit sim``), the only place on
the client side allowed to import ``kitekit.sim`` (``tests/test_import_graph.py``); ``--sim`` and ``kitekit sim``
both start the simulator through it, and :class:`~kitekit.cli.context.CliContext` holds what it started.

Only the light parts of the simulator are imported at once (its world's clock, its config, its listening
socket): its server (uvicorn, Starlette, the market model, ~0.5 s) is imported and started by
:class:`EmbeddedSimulator` when the first client connects, so a ``--sim`` command that reads only local
state (a cached dump, a session file) never pays for it (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import logging
import select
import shutil
import socket
import threading
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from rich.console import Console
from rich.panel import Panel

from kitekit.clock import Clock
from kitekit.config import Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from kitekit.sim.config import SimConfig
    from kitekit.sim.server import AppServer, SimServer
    from kitekit.sim.upstox import UpstoxSimConfig

    #: Builds an unstarted simulator server on a bound, listening socket.
    ServerFactory = Callable[[socket.socket], AppServer[Any]]

#: The server an embedded simulator runs: Kite's :class:`SimServer`, or another broker's.
ServerT = TypeVar("ServerT", bound="AppServer[Any]")

__all__ = [
    "BrokerSimulator",
    "EmbeddedSimulator",
    "angel_server",
    "banner",
    "free_port",
    "is_loopback",
    "remote_clock",
    "sim_config",
    "sim_server",
    "sim_settings",
    "start_broker_sim",
    "upstox_server",
    "upstox_sim_config",
    "world_clock",
]

log = logging.getLogger("kitekit.cli")


def sim_config(home: Path) -> SimConfig:
    """Return the configuration of the simulator whose world is kept in ``home``."""
    from kitekit.sim.config import SimConfig

    return SimConfig(state_file=home / "state.json")


def world_clock(
    home: Path,
    wall: Clock,
    *,
    at: datetime | None = None,
    speed: float = 1.0,
    real_time: bool = False,
    fresh: bool = False,
) -> Clock:
    """Return the market clock of the simulated world kept in ``home``, creating the world if there is none.

    Every simulator started on ``home`` (each ``--sim`` command, ``kitekit sim``) shares the world and tells the
    same time: see :class:`kitekit.sim.world.World`. ``fresh`` starts it over, and with it everything the client
    side kept for it (sessions, the paper ledger, the order journal), which would otherwise refer to a world that
    is gone.

    Raises:
        SimWorldError: ``at`` or ``real_time`` contradicts the existing world; the message says to add ``--fresh``.
    """
    from kitekit.sim.world import World

    if fresh:
        for name in ("sessions", "paper", "orders"):
            shutil.rmtree(home / name, ignore_errors=True)
    return World(home, wall).open(at=at, speed=speed, real_time=real_time, fresh=fresh)


def remote_clock(url: str, wall: Clock) -> Clock:
    """Return the market clock of the simulator at ``url``, read once from ``GET /__sim/clock`` (one clock).

    Raises:
        requests.RequestException: nothing answers at ``url``.
        ValueError: something answers, but not a simulator telling its clock.
    """
    import requests

    from kitekit.sessionclock import clock_from_description

    # A simulator on this machine answers at once; one second is plenty to tell that none is there.
    answer = requests.get(f"{url.rstrip('/')}/__sim/clock", timeout=(1.0, 10.0))
    try:
        described = answer.json()["data"]
        return clock_from_description(described, wall)
    except (ValueError, KeyError, TypeError):
        raise ValueError(
            f"{url} answered, but not as a kitekit simulator telling its clock (HTTP {answer.status_code}); "
            "is it an older kitekit sim? Restart it with this version."
        ) from None


def sim_server(
    config: SimConfig, market: Clock, host: str = "127.0.0.1", port: int = 0, sock: socket.socket | None = None
) -> SimServer:
    """Return an unstarted simulator whose market (and token lifetimes) follow ``market``.

    TOTP codes follow the wall clock on both sides, as an authenticator app's do. ``sock``: a listening socket
    bound beforehand (``kitekit sim`` binds before it opens the world).
    """
    from kitekit.sim.server import SimServer

    return SimServer(config, market, host=host, port=port, sock=sock)


def upstox_server(home: Path, market: Clock, webhook_url: str) -> ServerFactory:
    """Return what builds the Upstox simulator of the world kept in ``home`` (its accounts: Kite's simulator's).

    Its v3 token requests are approved at once and POSTed to ``webhook_url``, the notifier URL the client
    listens on: that is the simulator's unattended login, as TOTP is on Kite's (its credentials are public).
    """

    def make(sock: socket.socket) -> AppServer[Any]:
        from kitekit.sim.upstox import UpstoxServer

        return UpstoxServer(upstox_sim_config(home, webhook_url), market, sock=sock)

    return make


def upstox_sim_config(home: Path, webhook_url: str | None) -> UpstoxSimConfig:
    """Return the Upstox simulator's config on the world kept in ``home``: its tokens kept there, requests approved.

    The tokens persist in the world (``upstox-state.json``) as Kite's simulator's do, so a session one command
    saved is accepted by the next command's simulator, and by another running at the same time.
    """
    from kitekit.sim.upstox import UpstoxSimConfig

    return UpstoxSimConfig(
        shared=sim_config(home),
        auto_approve_requests=True,
        notifier_url=webhook_url,
        state_file=home / "upstox-state.json",
    )


def free_port(host: str = "127.0.0.1") -> int:
    """Return a port free on ``host`` now (for a webhook the client listens on while it logs in)."""
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


def angel_server(home: Path, market: Clock) -> ServerFactory:
    """Return what builds the Angel One simulator of the world kept in ``home`` (as ``kitekit sim --broker angel``)."""

    def make(sock: socket.socket) -> AppServer[Any]:
        from kitekit.sim.angel.config import AngelSimConfig
        from kitekit.sim.angel.server import AngelSimServer

        # The Kite world's seed, so Angel's prices are the world's (as start_broker_sim's are).
        config = AngelSimConfig(seed=sim_config(home).seed, state_file=home / "angel-state.json")
        return AngelSimServer(config, market, sock=sock)

    return make


def angel_defaults() -> dict[str, str]:
    """Return the Angel simulator's documented client: api_key, client code, PIN and TOTP secret (public)."""
    from kitekit.sim.angel.config import AngelSimConfig

    config = AngelSimConfig()
    return {
        "api_key": config.api_key,
        "client_code": config.client_code,
        "pin": config.pin,
        "totp_secret": config.totp_secret,
    }


def upstox_defaults() -> dict[str, str]:
    """Return the Upstox simulator's documented app: client id and secret, redirect URI (public)."""
    from kitekit.sim.upstox import UpstoxSimConfig

    config = UpstoxSimConfig()
    return {"api_key": config.client_id, "api_secret": config.client_secret, "redirect_url": config.redirect_uri}


def sim_settings(config: SimConfig, url: str) -> Settings:
    """Return client settings that log in to the simulator at ``url`` with its own documented credentials."""
    given = config.client_credentials(url)
    return Settings(
        api_key=given["api_key"],
        api_secret=given["api_secret"],
        user_id=given["user_id"],
        password=given["password"],
        totp_secret=given["totp_secret"],
        redirect_url=given["redirect_url"],
        login_url=given["login_url"],
        root=given["root"],
    )


def banner(err: Console, where: str) -> None:
    """Say that the data is simulated (on stderr, so piped output stays clean); ``where`` names the simulator."""
    err.print(
        Panel.fit(
            f"[bold]SIMULATED MARKET[/] — kitekit {where}\n"
            "Prices, accounts and orders are simulated; nothing here is real or reaches Zerodha.",
            border_style="yellow",
            highlight=False,
        )
    )


class EmbeddedSimulator(Generic[ServerT]):
    """The embedded simulator of one command: its address at once, its server from the first connection on.

    The socket is bound (and listening) at once, so clients get the URL; importing and starting the server
    waits until one of them connects, however it does (the SDK, the ticker's WebSocket, a plain request):
    it queues in the socket's backlog meanwhile and is served as soon as the server runs.

    Args:
        make: builds the server on the bound socket: Kite's (:meth:`kite`), or another broker's
            (:func:`upstox_server`, :func:`angel_server`).
        host: the loopback address to listen on.
    """

    def __init__(self, make: Callable[[socket.socket], ServerT], host: str = "127.0.0.1") -> None:
        from kitekit.sim.listen import listening_socket

        self._make = make
        self._sock = listening_socket(host, 0)
        self.url = f"http://{host}:{self._sock.getsockname()[1]}"
        self._server: ServerT | None = None
        self._lock = threading.Lock()
        self._closed = False
        # A wake-up line for the watcher: closing a socket another thread selects on is not portable.
        self._wake, self._waker = socket.socketpair()
        self._watcher = threading.Thread(target=self._watch, name="kitekit-sim-lazy", daemon=True)
        self._watcher.start()

    @classmethod
    def kite(cls, config: SimConfig, market: Clock, host: str = "127.0.0.1") -> EmbeddedSimulator[SimServer]:
        """Return Kite's embedded simulator on ``config``, its market following ``market``."""
        return EmbeddedSimulator(lambda sock: sim_server(config, market, sock=sock), host)

    @property
    def server(self) -> ServerT | None:
        """Return the server (running, or starting for its first client), or None while no client has connected."""
        return self._server

    def start(self) -> ServerT:
        """Start the server now if it does not run yet; return it.

        Raises:
            RuntimeError: the simulator is closed, or failed to start.
        """
        with self._lock:
            if self._closed:
                raise RuntimeError("the embedded simulator is closed")
            if self._server is None:
                server = self._make(self._sock)
                # Known before it serves: the first answer can reach its client before start() returns.
                self._server = server
                try:
                    server.start()
                except BaseException:
                    self._server = None
                    raise
            return self._server

    def _watch(self) -> None:
        ready, _, _ = select.select([self._sock, self._wake], [], [])
        if self._sock not in ready:
            return  # closed before any client came
        try:
            self.start()
        except Exception as exc:  # no traceback from a thread: one line, and the waiting client is refused
            log.error("the embedded simulator could not start (%s); run again with -v for details", exc)
            log.info("why the embedded simulator could not start", exc_info=True)
            self._sock.close()

    def stop(self) -> None:
        """Stop the server if it runs (its accounts are saved) and release the port."""
        self._waker.send(b"\0")
        # The watcher either returns at once or is starting the server for a client: that start is awaited,
        # so the server it makes is stopped here rather than left running.
        self._watcher.join()
        with self._lock:
            self._closed = True
            server, self._server = self._server, None
        if server is not None:
            server.stop()  # it owns the socket from its start
        else:
            self._sock.close()
        self._wake.close()
        self._waker.close()


if TYPE_CHECKING:
    #: Kite's embedded simulator (a name for annotations, so the CLI's other modules need not import sim/).
    KiteSimulator = EmbeddedSimulator[SimServer]


def is_loopback(host: str) -> bool:
    """Return True if ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BrokerSimulator:
    """Another broker's simulator (Upstox, Angel One) started for one command, and its client's credentials.

    Attributes:
        name: the broker (``upstox``, ``angel``).
        url: its REST root.
        ws_url: its WebSocket root.
        credentials: its documented client credentials, by the names the broker's credential fields use.
    """

    def __init__(self, name: str, server: Any, credentials: dict[str, str]) -> None:
        self.name = name
        self._server = server
        self.url: str = server.url
        self.ws_url: str = server.ws_url
        self.credentials = credentials

    def stop(self) -> None:
        """Stop it (its accounts are saved in the world)."""
        self._server.stop()


def start_broker_sim(name: str, home: Path, market: Clock, *, webhook_url: str | None = None) -> BrokerSimulator:
    """Start broker ``name``'s simulator on the world kept in ``home`` (the Kite simulator's market and seed).

    As ``kitekit sim --broker NAME`` serves it, on a free loopback port. Upstox's approves v3 token requests at
    once and posts the token to ``webhook_url`` (the unattended login, as a simulator's public login allows);
    Angel's TOTP codes follow ``market``, as the client's do.

    Raises:
        ValueError: ``name`` has no simulator.
    """
    config = sim_config(home)
    if name == "upstox":
        from kitekit.sim.upstox import UpstoxServer

        upstox = upstox_sim_config(home, webhook_url)
        server: Any = UpstoxServer(upstox, market).start()
        return BrokerSimulator(name, server, {
            "api_key": upstox.client_id,
            "api_secret": upstox.client_secret,
            "redirect_url": upstox.redirect_uri,
            "base_url": server.url,
            "dump_url": f"{server.url}/market-quote/instruments/exchange/complete.json.gz",
        })  # fmt: skip
    if name == "angel":
        from kitekit.sim.angel.config import AngelSimConfig
        from kitekit.sim.angel.server import AngelSimServer

        angel = AngelSimConfig(seed=config.seed, state_file=home / "angel-state.json")
        server = AngelSimServer(angel, market, totp_clock=market).start()
        return BrokerSimulator(name, server, {
            "api_key": angel.api_key,
            "client_code": angel.client_code,
            "pin": angel.pin,
            "totp_secret": angel.totp_secret,
            "root": server.url,
            "stream_url": server.stream_url,
            "order_update_url": server.order_update_url,
        })  # fmt: skip
    raise ValueError(f"no embedded simulator of {name!r} (kite's is EmbeddedSimulator)")
