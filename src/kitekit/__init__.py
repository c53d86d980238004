"""kitekit: sessions, instruments and paced market data for Zerodha Kite Connect, plus a Kite simulator.

The public face: the names below load their modules on first use, so ``import kitekit`` stays cheap, and
:func:`get_kite` and :func:`candles` wire the parts together with everything set up. Nothing inside the
package imports this module's own names: the face sits on top of the layers, never inside them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kitekit.lazy import lazy_getattr

if TYPE_CHECKING:
    import pandas as pd
    from kiteconnect import KiteConnect

    from kitekit.config import Settings, load_settings
    from kitekit.history import CandleStore, History
    from kitekit.history.rules import Moment
    from kitekit.instruments import Instrument, InstrumentStore
    from kitekit.monitor import Monitor
    from kitekit.quotes import MarketData, Quotes
    from kitekit.session import SessionManager
    from kitekit.ticker import Ticker
    from kitekit.wire.history import Interval

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


def candles(
    instrument: str | int,
    interval: Interval | str,
    start: Moment,
    end: Moment | None = None,
    *,
    oi: bool = False,
    continuous: bool = False,
    kite: KiteConnect | None = None,
    keep: bool = True,
) -> pd.DataFrame:
    """Return candles with everything set up for you: the saved session, the cached instruments, the store.

    Route: ``GET /instruments/historical/{instrument_token}/{interval}``, once per window fetched (and
    ``GET /instruments`` when the day's dump is not cached yet).

    Args:
        instrument, interval, start, end, oi, continuous: as :meth:`kitekit.History.candles`.
        kite: the client; default :func:`get_kite`.
        keep: keep the candles in the candle store of the data dir, so a repeated call fetches only what is
            missing; False fetches everything and stores nothing.

    Raises:
        As :meth:`kitekit.History.candles`, and :func:`get_kite`'s session errors.
    """
    from kitekit.history import CandleStore, History
    from kitekit.instruments import InstrumentStore
    from kitekit.paths import cache_dir

    client = kite if kite is not None else get_kite()
    instruments = InstrumentStore(cache_dir() / "instruments", client).load()
    history = History(client, instruments, CandleStore() if keep else None)
    return history.candles(instrument, interval, start, end, oi=oi, continuous=continuous)
