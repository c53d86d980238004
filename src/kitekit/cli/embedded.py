"""Wiring the simulator into the CLI: its clock, its config, its banner, and client settings for it.

With ``cli/library.py`` (``get_kite()`` on a simulator) and ``cli/sim_cmd.py`` (``kitekit sim``), the only place on
the client side allowed to import ``kitekit.sim`` (``tests/test_import_graph.py``); ``--sim`` and ``kitekit sim``
both start the simulator through it, and :class:`~kitekit.cli.context.CliContext` holds what it started.
"""

from __future__ import annotations

import shutil
import socket
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from rich.console import Console
from rich.panel import Panel

from kitekit.clock import Clock
from kitekit.config import Settings

if TYPE_CHECKING:
    from kitekit.sim.config import SimConfig
    from kitekit.sim.server import SimServer

__all__ = [
    "Embedded",
    "banner",
    "is_loopback",
    "remote_clock",
    "sim_config",
    "sim_server",
    "sim_settings",
    "world_clock",
]

#: A simulator started in this process (named here, so the rest of the CLI never imports ``kitekit.sim``).
Embedded: TypeAlias = "SimServer"


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


def banner(err: Console, url: str, embedded: bool) -> None:
    """Say that the data is simulated (on stderr, so piped output stays clean)."""
    where = "embedded simulator" if embedded else "simulator"
    err.print(
        Panel.fit(
            f"[bold]SIMULATED MARKET[/] — kitekit {where} at {url}\n"
            "Prices, accounts and orders are simulated; nothing here is real or reaches Zerodha.",
            border_style="yellow",
        )
    )


def is_loopback(host: str) -> bool:
    """Return True if ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
