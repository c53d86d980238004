"""The Upstox simulator's settings: the app it knows (client id and secret, redirect URI, webhook) and limits.

The user, the market seed, the accounts' folder and the exchange's pump come from the shared
:class:`~kitekit.sim.config.SimConfig` (``shared``), so an Upstox simulator and a Kite one over one folder
trade the same accounts on the same market. The defaults are public (docs/simulator.md): they protect nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from pathlib import Path

from kitekit.sim.config import SimConfig
from kitekit.wire.upstox.routes import LIMITS, Limit, LimitClass

__all__ = ["DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "UpstoxSimConfig"]

DEFAULT_CLIENT_ID = "kitekit-upstox-sim"
DEFAULT_CLIENT_SECRET = "kitekit-upstox-sim-secret"  # noqa: S105 - a documented simulator default


@dataclass
class UpstoxSimConfig:
    """Everything the Upstox simulator needs besides its clock and market."""

    shared: SimConfig = field(default_factory=SimConfig)
    client_id: str = DEFAULT_CLIENT_ID
    client_secret: str = field(default=DEFAULT_CLIENT_SECRET, repr=False)
    #: The app's registered redirect URI: the dialog sends the browser here with ``?code=…``.
    redirect_uri: str = "http://127.0.0.1:5055/callback"
    #: Approve the authorization dialog at once (tests); otherwise it shows a login form.
    auto_approve: bool = True
    #: The v3 token request's webhook (the app's "notifier URL"); None: the token is only kept for the admin API.
    notifier_url: str | None = None
    #: Approve v3 token requests at once (as if the user tapped "approve" in the app).
    auto_approve_requests: bool = False
    code_ttl_s: float = 600.0
    #: Where its access tokens persist, shared by every simulator process on the world; None keeps them in memory.
    state_file: Path | None = None
    #: Access tokens expire at this time of day (IST), the first one after they are issued.
    token_expiry: time = time(3, 30)
    rate_limit_enabled: bool = True
    limits: dict[LimitClass, Limit] = field(default_factory=lambda: dict(LIMITS))
    #: The funds service's nightly window (IST) in which ``get-funds-and-margin`` answers UDAPI100072.
    funds_closed: tuple[time, time] = (time(0, 0), time(5, 30))
    #: Ping an idle WebSocket this often (seconds of wall time).
    ping_interval_s: float = 10.0
    #: Push a market-feed update this often (seconds of wall time).
    feed_interval_s: float = 1.0
