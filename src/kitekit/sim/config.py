"""Simulator settings: the one app and user it knows, limits, login behaviour, faults.

The defaults are public and documented (docs/simulator.md) so any client can log in to a fresh simulator;
they protect nothing and must never be reused as real credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from enum import StrEnum
from pathlib import Path

from kitekit.wire.routes import DEFAULT_RATES, EndpointClass

__all__ = [
    "DEFAULT_API_KEY",
    "DEFAULT_API_SECRET",
    "FaultConfig",
    "LoginMode",
    "OrderFaultConfig",
    "PostbackConfig",
    "SimConfig",
]

DEFAULT_API_KEY = "kitekit_sim"
DEFAULT_API_SECRET = "kitekit_sim_secret"  # noqa: S105 - a documented simulator default, not a credential
DEFAULT_PASSWORD = "sim-password"  # noqa: S105 - same
DEFAULT_TOTP_SECRET = "KITEKITSIMULATORTOTPSECRETBASE32"  # noqa: S105 - same (base32)


class LoginMode(StrEnum):
    """How ``GET /connect/login`` behaves."""

    FORM = "form"  # a login page (user id + password, then TOTP), as Kite shows
    AUTO = "auto"  # approve at once and redirect, for unattended tests


@dataclass
class FaultConfig:
    """Faults injected into API routes (never into ``/__sim/`` admin routes); rates are shares 0..1."""

    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    network_error_rate: float = 0.0  # 503 NetworkException
    data_error_rate: float = 0.0  # 502 DataException
    html_502_rate: float = 0.0  # 502 with an HTML body, as a proxy in front of Kite sends
    drop_rate: float = 0.0  # the connection is closed without any response
    #: Path prefixes the faults apply to; empty means every API route.
    paths: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class OrderFaultConfig:
    """Faults of order placement (``POST /orders/{variety}``) that leave the client unsure what happened.

    Each placement rolls the dice once: ``drop_rate`` accepts the order and closes the connection without an
    answer, ``error_rate`` accepts it and answers ``error_status``, ``reject_rate`` answers 429 without
    accepting it. ``next`` scripts the coming placements first, one entry each (``drop``, ``error``,
    ``reject`` or ``none``). ``ack_delay_ms`` delays every accepted order's answer.
    """

    drop_rate: float = 0.0
    error_rate: float = 0.0
    reject_rate: float = 0.0
    ack_delay_ms: float = 0.0
    #: 500 GeneralException, 502 DataException, 503 or 504 NetworkException.
    error_status: int = 504
    next: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class PostbackConfig:
    """Where order postbacks go (None: nowhere) and what goes wrong on the way; rates are shares 0..1.

    Each update rolls the dice once per fault: ``drop_rate`` never sends it, ``duplicate_rate`` sends it twice,
    ``reorder_rate`` holds it back ``reorder_hold_ms`` so later updates overtake it, ``forge_rate`` also sends a
    forged copy (another status, a checksum signed with the wrong secret). Every post waits ``delay_ms`` plus
    up to ``jitter_ms``.
    """

    url: str | None = None
    drop_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0
    forge_rate: float = 0.0
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    reorder_hold_ms: float = 200.0
    #: How long one post may take before it counts as failed (Kite does not retry a postback).
    timeout_s: float = 5.0
    seed: int | None = None


@dataclass
class SimConfig:
    """Everything the simulator needs besides its clock."""

    seed: int = 7
    api_key: str = DEFAULT_API_KEY
    api_secret: str = field(default=DEFAULT_API_SECRET, repr=False)
    user_id: str = "KK1234"
    user_name: str = "Kitekit Simulator"
    email: str = "sim@kitekit.invalid"
    password: str = field(default=DEFAULT_PASSWORD, repr=False)
    totp_secret: str = field(default=DEFAULT_TOTP_SECRET, repr=False)
    #: The app's registered redirect URL; ``/connect/login`` sends the browser here with a request_token.
    redirect_url: str = "http://127.0.0.1:5055/callback"
    login_mode: LoginMode = LoginMode.FORM
    request_token_ttl_s: float = 300.0
    #: Daily access-token flush (``docs/protocol.md`` §16): tokens die at the first such time after login.
    token_flush: time = time(6, 0)
    #: A new login invalidates the user's older access tokens, as on Kite.
    single_session: bool = True
    #: Issue refresh tokens (Kite does so only for approved platforms).
    refresh_tokens: bool = False
    rate_limits: dict[EndpointClass, float] = field(default_factory=lambda: dict(DEFAULT_RATES))
    rate_limit_enabled: bool = True
    #: Share of one request interval a request may arrive early (network jitter) without a 429.
    rate_tolerance: float = 0.1
    faults: FaultConfig = field(default_factory=FaultConfig)
    order_faults: OrderFaultConfig = field(default_factory=OrderFaultConfig)
    #: Order postbacks: the URL each order update is POSTed to (``kitekit sim --postback-url``), and faults.
    postbacks: PostbackConfig = field(default_factory=PostbackConfig)
    #: Order placements a user may make per calendar second, clock minute and trading day of the simulator's
    #: clock (429 beyond; docs/protocol.md §14).
    orders_per_second: int = 10
    orders_per_minute: int = 400
    orders_per_day: int = 5000
    #: The static IP addresses registered for the app: order placement, modification and cancellation from
    #: any other address are refused (``IP (<ip>) is not allowed``); empty takes them from anywhere.
    allowed_ips: tuple[str, ...] = ()
    #: Give a new account the simulator's starting holdings (docs/simulator.md).
    seed_holdings: bool = True
    #: How often the exchange catches up with the clock on its own (fills, stops, GTTs, expiry), in seconds.
    exchange_pump_s: float = 0.05
    #: Seconds a connection has to deliver a whole request (headers and body) before it is closed: a client
    #: that connects and sends nothing, or half a request, must not hold a socket forever.
    request_timeout_s: float = 10.0
    #: Where access tokens persist between runs (the CLI's embedded simulator); None keeps them in memory.
    #: The exchange keeps each user's account next to it (``exchange-<user_id>.json``), and a simulated world
    #: its clock (``world.json``, :mod:`kitekit.sim.world`): the folder is the world.
    state_file: Path | None = None
    #: Where the per-process admin token is written (0600) for other local tools; None keeps it in memory.
    admin_token_file: Path | None = None
    #: Refuse admin requests without the token (``X-Kitekit-Admin``) even from this machine. Set it when
    #: the simulator listens beyond loopback; on loopback a Host and Origin check keeps web pages out.
    admin_token_required: bool = False

    def client_credentials(self, url: str) -> dict[str, str]:
        """Return what a client needs to log in to this simulator at ``url``, by kitekit setting name.

        The simulator knows nothing of the client's ``Settings``; the CLI turns this into them.
        """
        url = url.rstrip("/")
        return {
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "user_id": self.user_id,
            "password": self.password,
            "totp_secret": self.totp_secret,
            "redirect_url": self.redirect_url,
            "login_url": f"{url}/connect/login",
            "root": url,
        }
