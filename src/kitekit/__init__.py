"""kitekit: sessions, instruments and paced market data for Zerodha Kite Connect, plus a Kite simulator.

The names below load their modules on first use, so ``import kitekit`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    from kiteconnect import KiteConnect

    from kitekit.config import Settings, load_settings
    from kitekit.history import CandleStore, History, candles
    from kitekit.instruments import Instrument, InstrumentStore
    from kitekit.monitor import Monitor
    from kitekit.quotes import MarketData, Quotes
    from kitekit.session import SessionManager
    from kitekit.ticker import Ticker

__all__ = [
    "CandleStore",
    "History",
    "Instrument",
    "InstrumentStore",
    "MarketData",
    "Monitor",
    "Quotes",
    "SessionManager",
    "Settings",
    "Ticker",
    "candles",
    "get_kite",
    "load_settings",
]

_LAZY = {
    "CandleStore": "kitekit.history",
    "History": "kitekit.history",
    "candles": "kitekit.history",
    "Instrument": "kitekit.instruments",
    "InstrumentStore": "kitekit.instruments",
    "MarketData": "kitekit.quotes",
    "Monitor": "kitekit.monitor",
    "Quotes": "kitekit.quotes",
    "SessionManager": "kitekit.session",
    "Settings": "kitekit.config",
    "Ticker": "kitekit.ticker",
    "load_settings": "kitekit.config",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


def get_kite(verify: bool | None = None) -> KiteConnect:
    """Return a ready ``kiteconnect.KiteConnect`` for the saved session of the configured api_key.

    Credentials come from the environment, ``.env`` or ``config.json`` (see README). The client is paced
    under Kite's rate limits and retries network failures of GET requests. Route: ``GET /user/profile``
    (verification, at most once every five minutes).

    With ``KITE_SIM=1`` (the embedded simulator) or ``KITE_SIM_URL`` (a running ``kitekit sim``) it is a client
    of that simulator instead, logged in by itself with the CLI's session for it, and everything built on it
    tells the simulator's time (:func:`kitekit.clock.clock_of`).

    Raises:
        kitekit.errors.CredentialsRequiredError: no api_key configured.
        kitekit.errors.NoSessionError: never logged in: run ``kitekit login``.
        kitekit.errors.SessionExpiredError: the session expired or Kite rejected it; the message says what to run.
    """
    from kitekit.paths import env_sim

    if env_sim()[0]:
        from kitekit.cli.library import sim_kite  # the one place a simulator is wired in for the library

        return sim_kite(verify=verify)
    from kitekit.config import load_settings
    from kitekit.session import SessionManager

    return SessionManager(load_settings()).get_kite(verify=verify)
