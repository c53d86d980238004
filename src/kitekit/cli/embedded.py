"""Wiring the simulator into the CLI: its clock, its config, its banner, and client settings for it.

This is the one place on the client side allowed to import ``kitekit.sim`` (the brief's exception for the
embedded default); ``--sim`` and ``kitekit sim`` both start the simulator through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from rich.console import Console
from rich.panel import Panel

from kitekit.clock import Clock, SystemClock, VirtualClock
from kitekit.config import Settings

if TYPE_CHECKING:
    from kitekit.sim.config import SimConfig
    from kitekit.sim.server import SimServer

__all__ = ["banner", "is_loopback", "market_clock", "sim_home", "sim_server", "sim_settings"]


def market_clock(wall: Clock, speed: float = 1.0, real_time: bool = False) -> Clock:
    """Return the simulated market's clock: the last session replayed from 09:15 IST at ``speed``, or ``wall``.

    A virtual session keeps prices moving at any hour; ``real_time`` follows the wall clock instead (prices
    frozen outside market hours).
    """
    if real_time:
        return wall
    from kitekit.markethours import TradingCalendar  # imported here: numpy, which most commands never need

    return VirtualClock(TradingCalendar().last_session_start(wall.now()), speed=speed)


def sim_server(
    config: SimConfig, market: Clock, wall: Clock | None = None, host: str = "127.0.0.1", port: int = 0
) -> SimServer:
    """Return an unstarted simulator whose market follows ``market`` and whose logins follow ``wall``.

    Logins (TOTP codes, token expiry) always follow the wall clock, so codes made by an authenticator app and
    sessions saved by other commands stay valid while the market replays a virtual session.
    """
    from kitekit.sim.server import SimServer

    return SimServer(config, market, host=host, port=port, auth_clock=wall or SystemClock())


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


def sim_home(data_dir: Path, url: str | None) -> Path:
    """Return the folder a simulator's sessions and state live in under the kitekit data dir.

    Each simulator gets its own: the embedded one (``url`` None) and each running ``kitekit sim`` by host and
    port. A login on one then never ends, overwrites or invalidates a session saved for another.
    """
    if url is None:
        return data_dir / "sim" / "embedded"
    parts = urlsplit(url)
    port = parts.port if parts.port is not None else 80
    return data_dir / "sim" / f"{parts.hostname or 'localhost'}_{port}"


def is_loopback(host: str) -> bool:
    """Return True if ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
