"""The Angel simulator's settings: its one client (code, PIN, TOTP secret, api_key), token lifetimes, limits.

The defaults are public (docs/simulator.md) so any client can log in to a fresh simulator; they protect
nothing and must never be reused as real credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kitekit.sim.config import DEFAULT_TOTP_SECRET, FaultConfig, OrderFaultConfig, SimConfig

__all__ = ["DEFAULT_CLIENT_CODE", "DEFAULT_PIN", "AngelSimConfig"]

DEFAULT_API_KEY = "kitekit_angel_sim"
DEFAULT_CLIENT_CODE = "K123456"
DEFAULT_PIN = "1234"


@dataclass
class AngelSimConfig:
    """Everything the Angel simulator needs besides its clock."""

    seed: int = 7
    api_key: str = DEFAULT_API_KEY
    client_code: str = DEFAULT_CLIENT_CODE
    name: str = "Kitekit Angel Simulator"
    email: str = "angel-sim@kitekit.invalid"
    pin: str = field(default=DEFAULT_PIN, repr=False)
    totp_secret: str = field(default=DEFAULT_TOTP_SECRET, repr=False)
    #: How long a JWT (and its feed token) lives. Angel: "a fresh token is valid for 24-28 hours".
    jwt_lifetime_s: float = 24 * 3600.0
    #: How long a refresh token can renew a session (SIM: Angel does not say; the upper end of its 24-28 hours,
    #: so a session whose JWT just expired can still be renewed).
    refresh_lifetime_s: float = 28 * 3600.0
    rate_limit_enabled: bool = True
    #: The status of a rate-limited answer: Angel answers 403 mostly, 429 at times.
    rate_limit_status: int = 403
    seed_holdings: bool = True
    exchange_pump_s: float = 0.05
    request_timeout_s: float = 10.0
    #: How often the WebSocket feed looks for a new market second, in seconds of wall time.
    feed_poll_s: float = 0.05
    #: Where its sessions persist, and its accounts beside it (``exchange-<client code>.json``); None keeps them in
    #: memory.
    state_file: Path | None = None
    #: Faults of API requests and of order placement (the Kite simulator's settings; ``/__sim/faults`` and
    #: ``/__sim/order-faults`` change them while it runs).
    faults: FaultConfig = field(default_factory=FaultConfig)
    order_faults: OrderFaultConfig = field(default_factory=OrderFaultConfig)

    def exchange_config(self) -> SimConfig:
        """Return the settings the shared :class:`~kitekit.sim.exchange.SimExchange` reads."""
        return SimConfig(
            seed=self.seed,
            api_key=self.api_key,
            user_id=self.client_code,
            user_name=self.name,
            seed_holdings=self.seed_holdings,
            exchange_pump_s=self.exchange_pump_s,
            request_timeout_s=self.request_timeout_s,
            state_file=self.state_file,
        )
